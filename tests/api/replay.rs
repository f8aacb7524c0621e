//! Rules judge recorded events, so events from any source (a kernel trace, a model) go through
//! the same checks as live calls, with no backend involved.

use std::panic::Location;

use dmacheck::*;

fn event(
    dev: &Device,
    op: Op,
    call: &'static str,
    kind: MapKind,
    addr: DmaAddr,
    size: u64,
    dir: Direction,
) -> Event {
    let mut ev = Event::new(op, call, kind, dev.id(), Site::at(Location::caller()));
    (ev.dma_addr, ev.size, ev.dir) = (addr, size, dir);
    ev
}

#[test]
fn replayed_events_are_judged_like_live_calls() {
    let checker = Checker::builder().env(false).print(false).build();
    let dev = checker.device("0000:00:03.0").driver("e1000").build();
    // A trace-like sequence: a page mapping whose map was tested, a sync, an unmap of the wrong size.
    let map = event(
        &dev,
        Op::Map,
        "dma_map_page",
        MapKind::Page,
        0x0773_78c0,
        1522,
        Direction::FromDevice,
    );
    checker.record(&map);
    checker.record(&event(
        &dev,
        Op::MappingErrorCheck,
        "dma_mapping_error",
        MapKind::Page,
        0x0773_78c0,
        0,
        Direction::FromDevice,
    ));
    checker.record(&event(
        &dev,
        Op::SyncForCpu,
        "dma_sync_single_for_cpu",
        MapKind::Page,
        0x0773_78c0,
        1522,
        Direction::FromDevice,
    ));
    assert!(checker.violations().is_empty());
    assert_eq!(checker.stats().live_entries, 1);

    let ended = checker.record(&event(
        &dev,
        Op::Unmap,
        "dma_unmap_page",
        MapKind::Page,
        0x0773_78c0,
        1500,
        Direction::FromDevice,
    ));
    assert_eq!(
        ended.map(|e| e.size()),
        Some(1522),
        "the release returns the entry it ended"
    );
    let v = checker.violations();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule.id, "unmap-size-mismatch");
    assert_eq!(v[0].detail_u64("mapped_size"), Some(1522));
    assert_eq!(
        v[0].mapped_at.as_ref().unwrap().location(),
        map.site.location()
    );

    checker.record(&event(
        &dev,
        Op::Unmap,
        "dma_unmap_page",
        MapKind::Page,
        0x0773_78c0,
        1522,
        Direction::FromDevice,
    ));
    assert_eq!(checker.violations()[1].rule.id, "double-unmap");
}

#[test]
fn a_replayed_release_reports_what_is_still_mapped() {
    let checker = Checker::builder().env(false).print(false).build();
    let dev = checker.device("0000:00:05.0").driver("virtio-pci").build();
    let mut alloc = event(
        &dev,
        Op::Map,
        "dma_alloc_coherent",
        MapKind::Coherent,
        0x0714_9000,
        4096,
        Direction::Bidirectional,
    );
    alloc.cpu_addr = Some(0xffff_8880_0714_9000);
    checker.record(&alloc);
    checker.record(&event(
        &dev,
        Op::Release,
        "device_release",
        MapKind::Coherent,
        0,
        0,
        Direction::Bidirectional,
    ));
    let v = checker.violations();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule.id, "leak");
    assert_eq!(v[0].detail_u64("dma_addr"), Some(0x0714_9000));
    assert_eq!(checker.stats().live_entries, 0);
}

#[test]
fn a_replayed_map_with_bad_arguments_is_reported_and_not_recorded() {
    let checker = Checker::builder().env(false).print(false).build();
    let dev = checker.device("0000:00:03.0").build();
    checker.record(&event(
        &dev,
        Op::Map,
        "dma_map_page",
        MapKind::Page,
        0x1000,
        64,
        Direction::None,
    ));
    checker.record(&event(
        &dev,
        Op::Map,
        "dma_map_page",
        MapKind::Page,
        0x2000,
        0,
        Direction::ToDevice,
    ));
    let ids: Vec<_> = checker.violations().iter().map(|v| v.rule.id).collect();
    assert_eq!(ids, ["direction-none", "map-zero-size"]);
    assert_eq!(checker.stats().live_entries, 0);
}
