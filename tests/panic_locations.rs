//! Deny-level panics and the `assert_*` panics point at the caller's line, and a deny panic's
//! unwinding does not report every live entry again as a leak.
//!
//! The `child_*` tests act only when this binary runs them again as a child (with
//! `DMACHECK_PANIC_CHILD` set); each panics, and the parent reads where.

use dmacheck::*;

mod common;
use common::{stdout_of, this_binary_as_child};

const CHILD: &str = "DMACHECK_PANIC_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn deny_checker() -> Checker {
    Checker::builder()
        .env(false)
        .print(false)
        .all_levels(Level::Deny)
        .build()
}

/// Each child's panicking call is on the line marked `// panics here`.
macro_rules! child {
    ($name:ident, |$checker:ident, $dev:ident| $body:block) => {
        #[test]
        fn $name() {
            if !is_child() {
                return;
            }
            let $checker = deny_checker();
            let $dev = $checker.device("eth0").driver("e1000").build();
            $body
        }
    };
}

child!(child_unmap_size_mismatch, |checker, dev| {
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, 256, Direction::ToDevice); // panics here
});

child!(child_sync_unknown, |checker, dev| {
    let _ = &checker;
    dma_sync_single_for_cpu(&dev, 0x1234_0000, 64, Direction::FromDevice); // panics here
});

child!(child_map_sg_twice, |checker, dev| {
    let buf = kmalloc(&checker, 4096, Gfp::KERNEL);
    let mut sg = SgTable::new(1);
    sg_set_buf(&mut sg, 0, buf, 4096);
    assert_eq!(dma_map_sg(&dev, &mut sg, 1, Direction::ToDevice), 1);
    dma_map_sg(&dev, &mut sg, 1, Direction::ToDevice); // panics here
});

child!(child_device_read_unmapped, |checker, dev| {
    let _ = &checker;
    let mut out = [0u8; 4];
    let _ = dev.dma_read(0x2000_0000, &mut out); // panics here
});

child!(child_coherent_free_wrong_size, |checker, dev| {
    let _ = &checker;
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::KERNEL);
    dma_free_coherent(&dev, 2048, cpu, handle); // panics here
});

child!(child_assert_clean, |checker, dev| {
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    checker.assert_clean(); // panics here
});

child!(child_assert_no_leaks, |checker, dev| {
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    checker.assert_no_leaks(); // panics here
});

child!(child_release_with_a_live_mapping, |checker, dev| {
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dev.release(); // panics here
});

child!(child_check_leaks, |checker, dev| {
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    checker.check_leaks(); // panics here
});

child!(child_kfree_twice, |checker, dev| {
    let _ = &dev;
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    kfree(&checker, buf);
    kfree(&checker, buf); // panics here
});

child!(child_pool_double_free, |checker, dev| {
    let pool = dma_pool_create("rx", &dev, 64, 8, 0).unwrap();
    let mut handle = 0;
    let block = dma_pool_alloc(&pool, Gfp::KERNEL, &mut handle);
    dma_pool_free(&pool, block, handle);
    let _ = &checker;
    dma_pool_free(&pool, block, handle); // panics here
});

child!(child_cpu_write_device_owned, |checker, dev| {
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    checker.cpu_write(buf, &[1, 2, 3]); // panics here
});

#[test]
fn child_deny_panic_with_live_mappings() {
    if !is_child() {
        return;
    }
    let checker = Checker::builder()
        .env(false)
        .all_levels(Level::Deny)
        .build();
    let dev = checker.device("eth0").driver("e1000").build();
    for _ in 0..3 {
        let buf = kmalloc(&checker, 512, Gfp::KERNEL);
        let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
    }
    dma_unmap_single(&dev, 0x7777_0000, 512, Direction::ToDevice);
}

#[test]
fn unwinding_from_a_deny_panic_does_not_report_live_entries_as_leaks() {
    let text = run("child_deny_panic_with_live_mappings");
    assert_eq!(
        text.matches("deny[unmap-unknown]").count(),
        2,
        "printed, then the panic:\n{text}"
    );
    assert!(!text.contains("[leak]"), "{text}");
    assert!(!text.contains("SUMMARY"), "{text}");
}

/// The line of `child`'s call marked `// panics here`.
fn marked_line(child: &str) -> usize {
    let source = include_str!("panic_locations.rs");
    let start = source.find(&format!("child!({child},")).unwrap();
    let offset = source[start..].find("// panics here").unwrap();
    source[..start + offset].lines().count()
}

fn run(child: &str) -> String {
    let out = this_binary_as_child(child, CHILD)
        .args(["--exact", "--test-threads=1"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{child} must panic");
    stdout_of(&out)
}

#[test]
fn deny_panics_and_assertions_point_at_the_callers_line() {
    for child in [
        "child_unmap_size_mismatch",
        "child_sync_unknown",
        "child_map_sg_twice",
        "child_device_read_unmapped",
        "child_coherent_free_wrong_size",
        "child_assert_clean",
        "child_assert_no_leaks",
        "child_release_with_a_live_mapping",
        "child_check_leaks",
        "child_kfree_twice",
        "child_pool_double_free",
        "child_cpu_write_device_owned",
    ] {
        let text = run(child);
        let at = format!(
            "panicked at tests/panic_locations.rs:{}:",
            marked_line(child)
        );
        assert!(text.contains(&at), "{child}: expected `{at}` in\n{text}");
    }
}
