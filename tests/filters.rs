//! Filters and switches like the kernel's dma-debug: off entirely, one driver only, a print limit.

mod common;

use common::{is_child, quiet, run_test_as_child};
use dmacheck::*;

/// A few mistakes on `dev`: a wrong-size unmap of an unchecked mapping and a stale unmap.
fn make_mistakes(checker: &Checker, dev: &Device) {
    let buf = kmalloc(checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(dev, buf, 256, Direction::ToDevice);
    dma_unmap_single(dev, dma, 128, Direction::ToDevice);
    dma_unmap_single(dev, dma, 128, Direction::ToDevice);
    kfree(checker, buf);
}

#[test]
fn checking_switched_off_records_and_reports_nothing_but_still_maps() {
    let checker = quiet().enabled(false).build();
    let dev = checker.device("eth0").iommu().build();
    make_mistakes(&checker, &dev);
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0, "the backend still maps");
    assert_eq!(checker.stats().live_entries, 0, "nothing is recorded");
    let phys = dev.backend().dma_to_phys(&dev.params(), dma).unwrap();
    assert_eq!(checker.memory().phys_of(buf, 64).unwrap(), phys);
    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
    assert!(
        dev.backend().dma_to_phys(&dev.params(), dma).is_none(),
        "and unmaps"
    );
    let mut sgl = sg_init_one(buf, 64);
    assert_eq!(dma_map_sg(&dev, &mut sgl, 1, Direction::ToDevice), 1);
    dma_unmap_sg(&dev, &mut sgl, 1, Direction::ToDevice);
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());
    dma_free_coherent(&dev, 4096, ring, handle);
    kfree(&checker, buf);
    assert_eq!(checker.error_count(), 0);
}

#[test]
fn off_directive_switches_checking_off() {
    let checker = quiet().spec("off").unwrap().build();
    assert!(!checker.config().enabled);
    let dev = checker.device("eth0").build();
    make_mistakes(&checker, &dev);
    assert_eq!(checker.error_count(), 0);
}

#[test]
fn a_driver_filter_reports_only_that_drivers_devices() {
    let checker = quiet().only_driver("e1000").build();
    let nic = checker.device("eth0").driver("e1000").build();
    let disk = checker.device("sda").driver("ahci").build();
    make_mistakes(&checker, &disk);
    assert_eq!(checker.error_count(), 0, "ahci is filtered out");
    make_mistakes(&checker, &nic);
    let drivers: Vec<_> = checker
        .violations()
        .iter()
        .map(|v| v.driver.clone())
        .collect();
    assert!(!drivers.is_empty());
    assert!(drivers.iter().all(|d| d == "e1000"), "{drivers:?}");
    let spec = quiet().spec("driver=ahci").unwrap().build();
    assert_eq!(spec.config().only_driver.as_deref(), Some("ahci"));
}

#[test]
fn a_print_limit_still_counts_and_keeps_every_violation() {
    let checker = quiet().print(true).print_first(1).build();
    assert_eq!(checker.config().print_first, 1);
    let dev = checker.device("eth0").build();
    make_mistakes(&checker, &dev);
    assert_eq!(checker.error_count(), 3);
    assert_eq!(
        common::rule_ids(&checker),
        ["unmap-size-mismatch", "unmap-unchecked", "double-unmap"]
    );
    assert_eq!(
        quiet()
            .spec("print_first=7")
            .unwrap()
            .build()
            .config()
            .print_first,
        7
    );
}

const PRINT_CHILD: &str = "DMACHECK_TEST_PRINT_FIRST_CHILD";

/// In the child only: make the three mistakes with `print_first` from the environment, check
/// that all three are counted whatever is printed, and list them on stdout for the parent.
#[test]
fn print_first_child() {
    if !is_child(PRINT_CHILD) {
        return;
    }
    let limit: u64 = std::env::var("PRINT_FIRST").unwrap().parse().unwrap();
    let checker = quiet().print(true).print_first(limit).build();
    let dev = checker.device("eth0").build();
    make_mistakes(&checker, &dev);
    assert_eq!(checker.error_count(), 3);
    println!("reported: {:?}", common::rule_ids(&checker));
    checker.take_violations();
}

#[test]
fn print_first_prints_exactly_that_many_violations_in_order() {
    let all = ["unmap-size-mismatch", "unmap-unchecked", "double-unmap"];
    for limit in [0, 1, 2, 3, 4] {
        let out = run_test_as_child(
            "print_first_child",
            PRINT_CHILD,
            &[("PRINT_FIRST", &limit.to_string())],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let printed: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("dmacheck warn["))
            .filter_map(|l| l.split(']').next())
            .collect();
        assert_eq!(
            printed,
            all[..limit.min(3)],
            "print_first={limit}:\n{stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("reported: {all:?}")), "{stdout}");
    }
}

const QUIET_CHILD: &str = "DMACHECK_TEST_QUIET_CHILD";

/// In the child only: the three mistakes on a checker that neither prints nor reads the
/// environment; what it kept goes to stdout for the parent.
#[test]
fn quiet_child() {
    if !is_child(QUIET_CHILD) {
        return;
    }
    let checker = quiet().build();
    let dev = checker.device("eth0").build();
    make_mistakes(&checker, &dev);
    println!("reported: {:?}", common::rule_ids(&checker));
    checker.take_violations();
}

#[test]
fn a_checker_told_not_to_print_or_read_the_environment_does_neither() {
    // DMACHECK=allow would silence every rule, were it read.
    let out = run_test_as_child("quiet_child", QUIET_CHILD, &[("DMACHECK", "allow")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("dmacheck warn["), "printed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = ["unmap-size-mismatch", "unmap-unchecked", "double-unmap"];
    assert!(stdout.contains(&format!("reported: {all:?}")), "{stdout}");
}
