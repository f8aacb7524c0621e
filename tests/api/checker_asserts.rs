//! The checker's own assertions and its debug form: what a test ends with must fail when it
//! should, and say why.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{checker, device, quiet};
use dmacheck::*;

/// The panic message of `f`, which must panic.
#[track_caller]
fn panic_text(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion fails");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a text panic message")
}

#[test]
fn assert_no_violations_fails_listing_them_and_passes_once_they_are_taken() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    checker.assert_no_violations();

    dma_unmap_single(&dev, 0x0123_4000, 64, Direction::ToDevice);

    let text = panic_text(|| checker.assert_no_violations());
    assert!(
        text.starts_with("dmacheck: 1 violation(s) reported\n"),
        "{text}"
    );
    assert!(text.contains("unmap-unknown"), "{text}");
    assert!(!text.contains("not kept"), "all are kept: {text}");
    checker.take_violations();
    checker.assert_no_violations();
    checker.assert_clean();
}

#[test]
fn violations_beyond_the_kept_ones_are_counted_in_the_failure() {
    let checker = quiet().keep(1).build();
    let dev = device(&checker, "eth0");
    for _ in 0..3 {
        dma_unmap_single(&dev, 0x0123_4000, 64, Direction::ToDevice);
    }

    let text = panic_text(|| checker.assert_no_violations());
    assert!(
        text.starts_with("dmacheck: 3 violation(s) reported\n"),
        "{text}"
    );
    assert_eq!(text.matches("unmap-unknown").count(), 1, "{text}");
    assert!(text.contains("(2 more not kept)"), "{text}");
}

#[test]
fn assert_no_leaks_fails_listing_live_entries_and_passes_once_released() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = common::map_checked(&dev, 128, Direction::FromDevice);

    let text = panic_text(|| checker.assert_no_leaks());
    assert!(
        text.starts_with("dmacheck: 1 DMA entries still live\n"),
        "{text}"
    );
    assert!(text.contains(&format!("{dma:#x}")), "{text}");
    let text = panic_text(|| checker.assert_clean());
    assert!(text.contains("still live"), "{text}");

    common::unmap_and_free(&dev, buf, dma, 128, Direction::FromDevice);
    checker.assert_no_leaks();
    checker.assert_clean();
}

#[test]
fn the_debug_form_names_the_backend_and_the_counts() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    dma_unmap_single(&dev, 0x0123_4000, 64, Direction::ToDevice);
    let text = format!("{checker:?}");
    assert!(text.starts_with("Checker {"), "{text}");
    assert!(text.contains("backend: \"direct\""), "{text}");
    assert!(text.contains("errors: 1"), "{text}");
}
