//! How violations are reported: the text format, sites and stacks, tracing events, JSON,
//! counters, and configuration from the builder and `DMACHECK` syntax.

use common::quiet;
use dmacheck::rules::{LEAK, UNMAP_SIZE_MISMATCH, UNMAP_UNCHECKED};
use dmacheck::*;

use crate::common;

/// Map 256 bytes, check the mapping, and unmap with a wrong size; returns the line of the unmap.
fn unmap_with_wrong_size(checker: &Checker, dev: &Device) -> u32 {
    let buf = kmalloc(checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(dev, dma), 0);
    let line = line!() + 1;
    dma_unmap_single(dev, dma, 128, Direction::ToDevice);
    kfree(checker, buf);
    line
}

#[test]
fn text_report_has_a_summary_line_with_fields_then_both_sites() {
    let checker = quiet().build();
    let dev = checker.device("eth0").driver("e1000").build();
    let line = unmap_with_wrong_size(&checker, &dev);
    let v = &checker.violations()[0];
    let text = v.to_string();
    let mut lines = text.lines();
    let summary = lines.next().unwrap();
    assert!(
        summary
            .starts_with("dmacheck warn[unmap-size-mismatch]: dma_unmap_single on eth0 (e1000): "),
        "{summary}"
    );
    assert!(summary.contains("size=128 mapped_size=256"), "{summary}");
    assert!(
        summary.contains(&format!(
            "dma_addr={:#x}",
            v.detail_u64("dma_addr").unwrap()
        )),
        "{summary}"
    );
    let at = lines.next().unwrap();
    assert_eq!(at.trim(), format!("at tests/reports/reports.rs:{line}:5"));
    let mapped = lines.next().unwrap();
    assert!(
        mapped
            .trim()
            .starts_with("mapped by dma_map_single at tests/reports/reports.rs:"),
        "{mapped}"
    );
}

#[test]
fn stacks_when_enabled_resolve_to_the_callers_frames() {
    let checker = quiet().stacks(16).build();
    let dev = checker.device("eth0").build();
    unmap_with_wrong_size(&checker, &dev);
    let v = &checker.violations()[0];
    let frames = v.site.stack().expect("stack captured").resolve();
    assert!(
        frames[0].function.contains("unmap_with_wrong_size"),
        "first frame is the caller, not dmacheck: {:?}",
        &frames[..frames.len().min(4)]
    );
    let mapped = v.mapped_at.as_ref().unwrap().stack().unwrap().resolve();
    assert!(mapped[0].function.contains("unmap_with_wrong_size"));
    assert!(v.to_string().contains("unmap_with_wrong_size"));
}

/// Map one buffer from one line, called from two different functions; the leaked entries' sites.
fn map_from_two_callers(checker: &Checker) -> (Site, Site) {
    #[inline(never)]
    fn map_one(checker: &Checker, dev: &Device) {
        let buf = kmalloc(checker, 64, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, 64, Direction::ToDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
    }
    #[inline(never)]
    fn first_caller(checker: &Checker, dev: &Device) {
        map_one(checker, dev);
    }
    #[inline(never)]
    fn second_caller(checker: &Checker, dev: &Device) {
        map_one(checker, dev);
    }
    let dev = checker.device("eth0").build();
    first_caller(checker, &dev);
    second_caller(checker, &dev);
    let live = checker.live_entries();
    assert_eq!(live.len(), 2);
    (live[0].site(), live[1].site())
}

fn names(site: Site) -> Vec<String> {
    let stack = site.stack().expect("a stack was captured");
    stack.resolve().into_iter().map(|f| f.function).collect()
}

#[test]
fn stacks_are_exact_with_frame_pointers_and_else_say_they_are_reused() {
    let checker = quiet().stacks(16).build();
    let (a, b) = map_from_two_callers(&checker);
    let exact = a.stack().unwrap().is_exact();
    if exact {
        // A frame-pointer build: each call has its own stack.
        assert_ne!(a, b);
        assert!(
            names(a).iter().any(|f| f.contains("first_caller")),
            "{:?}",
            names(a)
        );
        assert!(
            names(b).iter().any(|f| f.contains("second_caller")),
            "{:?}",
            names(b)
        );
    } else {
        // The call site's first stack, reused, and the report says so.
        assert_eq!(a, b);
        assert!(
            names(a).iter().any(|f| f.contains("first_caller")),
            "{:?}",
            names(a)
        );
        let text = checker.report().leaks.to_string();
        assert!(text.contains("first seen at this call site"), "{text}");
    }
    checker.take_violations();
}

#[test]
fn exact_stacks_unwind_every_call() {
    let checker = quiet().stacks(16).exact_stacks(true).build();
    let (a, b) = map_from_two_callers(&checker);
    assert!(a.stack().unwrap().is_exact() && b.stack().unwrap().is_exact());
    assert_ne!(a, b);
    assert!(
        names(b).iter().any(|f| f.contains("second_caller")),
        "{:?}",
        names(b)
    );
    let text = checker.report().leaks.to_string();
    assert!(!text.contains("first seen at this call site"), "{text}");
}

#[test]
fn without_stacks_only_the_location_is_kept() {
    let checker = quiet().build();
    let dev = checker.device("eth0").build();
    unmap_with_wrong_size(&checker, &dev);
    assert!(checker.violations()[0].site.stack().is_none());
}

#[test]
fn violations_serialize_to_json_with_rule_id_fields_and_sites() {
    let checker = quiet().build();
    let dev = checker.device("eth0").driver("e1000").build();
    let line = unmap_with_wrong_size(&checker, &dev);
    let json = serde_json::to_value(&checker.violations()[0]).unwrap();
    assert_eq!(json["rule"], "unmap-size-mismatch");
    assert_eq!(json["level"], "warn");
    assert_eq!(json["device"], "eth0");
    assert_eq!(json["site"]["line"], line);
    let details = json["details"].as_array().unwrap();
    let size = details.iter().find(|d| d["key"] == "mapped_size").unwrap();
    assert_eq!(size["value"], 256);
    let addr = details.iter().find(|d| d["key"] == "dma_addr").unwrap();
    assert!(
        addr["value"].as_str().unwrap().starts_with("0x"),
        "addresses are hex strings"
    );
}

#[test]
fn stats_count_errors_per_rule_and_peak_entries() {
    let checker = quiet().build();
    let dev = checker.device("eth0").build();
    let bufs: Vec<_> = (0..3).map(|_| kmalloc(&checker, 64, Gfp::KERNEL)).collect();
    let dmas: Vec<_> = bufs
        .iter()
        .map(|&b| dma_map_single(&dev, b, 64, Direction::ToDevice))
        .collect();
    assert_eq!(checker.stats().live_entries, 3);
    for dma in &dmas {
        dma_unmap_single(&dev, *dma, 64, Direction::ToDevice);
    }
    let stats = checker.stats();
    assert_eq!(stats.errors, 3);
    assert_eq!(stats.live_entries, 0);
    assert_eq!(stats.peak_entries, 3);
    assert_eq!(stats.per_rule, vec![("unmap-unchecked", 3)]);
    assert_eq!(checker.count(&UNMAP_UNCHECKED), 3);
    assert_eq!(checker.error_count(), 3);
}

#[test]
fn keep_limits_the_kept_list_but_not_the_counts() {
    let checker = quiet().keep(2).build();
    let dev = checker.device("eth0").build();
    for _ in 0..5 {
        dma_unmap_single(&dev, 0x1234_0000, 64, Direction::ToDevice);
    }
    assert_eq!(checker.violations().len(), 2);
    assert_eq!(checker.error_count(), 5);
    assert_eq!(checker.take_violations().len(), 2);
    assert!(checker.violations().is_empty());
}

#[test]
fn spec_sets_levels_like_the_environment_variable_and_the_builder_wins() {
    let checker = quiet()
        .spec("allow,unmap-size-mismatch=deny")
        .unwrap()
        .level(&UNMAP_SIZE_MISMATCH, Level::Warn)
        .build();
    assert_eq!(checker.config().level(&UNMAP_SIZE_MISMATCH), Level::Warn);
    assert_eq!(checker.config().level(&LEAK), Level::Allow);
    let dev = checker.device("eth0").build();
    unmap_with_wrong_size(&checker, &dev);
    let ids: Vec<_> = checker.violations().iter().map(|v| v.rule.id).collect();
    assert_eq!(ids, ["unmap-size-mismatch"]);
    assert!(quiet().spec("sync=loud").is_err());
}

#[test]
fn assert_clean_lists_violations_and_leaks() {
    let checker = quiet().build();
    let dev = checker.device("eth0").build();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 64, Direction::ToDevice);
    let msg = *std::panic::catch_unwind(|| checker.assert_clean())
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    assert!(msg.contains("1 violation(s)"), "{msg}");
    assert!(msg.contains("sync-direction-mismatch"), "{msg}");
    assert!(msg.contains("1 DMA entries still live"), "{msg}");
    assert!(
        msg.contains("mapped by dma_map_single at tests/reports/reports.rs:"),
        "{msg}"
    );
    dma_unmap_single(&dev, dma, 64, Direction::FromDevice);
    checker.assert_no_leaks();
}

#[test]
fn the_global_checker_is_one_shared_context() {
    let a = Checker::global();
    let b = Checker::global();
    let dev = a.device("global0").build();
    let buf = kmalloc(b, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert!(
        b.live_entries()
            .iter()
            .any(|e| e.dma_addr() == dma && e.device() == dev.id())
    );
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
    kfree(a, buf);
}
