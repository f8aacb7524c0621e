//! Replaying kernel traces through the library: what a trace cannot show (a start mid-run,
//! lost events, missing flags), options, levels, and the reports' trace lines.

use std::path::Path;

use dmacheck::report::{Format, Report};
use dmacheck::rules::Level;
use dmacheck::trace::{self, TraceError, TraceOptions, TraceReplay};

const DEV: &str = "0000:00:03.0";

/// A trace line of `event` on CPU `cpu` with flags `flags`.
fn ev(cpu: u32, flags: &str, event: &str, body: &str) -> String {
    format!("          task-1     [{cpu:03}] {flags}    17.000000: {event}: {DEV} {body}")
}

fn map(cpu: u32, addr: u64, size: u64) -> String {
    ev(
        cpu,
        ".....",
        "dma_map_page",
        &format!("dir=FROM_DEVICE dma_addr={addr:x} size={size} phys_addr={addr:x} attrs="),
    )
}

fn unmap(cpu: u32, addr: u64, size: u64) -> String {
    ev(
        cpu,
        ".....",
        "dma_unmap_page",
        &format!("dir=FROM_DEVICE dma_addr={addr:x} size={size} attrs="),
    )
}

fn replay(lines: &[String], options: TraceOptions) -> TraceReplay {
    trace::replay_bytes((lines.join("\n") + "\n").as_bytes(), options).unwrap()
}

fn from_start() -> TraceOptions {
    TraceOptions {
        from_start: true,
        ..TraceOptions::named("t")
    }
}

fn found(r: &TraceReplay) -> Vec<(&'static str, u64)> {
    r.violations()
        .iter()
        .map(|v| (v.rule.id, v.site.trace().unwrap().line))
        .collect()
}

#[test]
fn a_finding_before_the_lost_window_is_still_reported() {
    let lines = vec![
        "# entries-in-buffer/entries-written: 6/6   #P:2".to_string(),
        map(0, 0x1000, 64),             // 2
        unmap(0, 0x1000, 32),           // 3: wrong size, held while CPU 1 has not passed line 3
        map(1, 0x9000, 64),             // 4: CPU 1 passes it
        "CPU:1 [LOST 5 EVENTS]".into(), // 5: CPU 1's window is lines 4..5
        unmap(1, 0x9000, 64),           // 6: forgotten at the marker: unknown
    ];
    let r = replay(&lines, from_start());
    assert_eq!(found(&r), [("unmap-size-mismatch", 3)]);
    assert_eq!(r.summary.forgotten, 1);
    assert_eq!(r.summary.uncertain.per_rule.get("unmap-unknown"), Some(&1));
}

#[test]
fn a_held_finding_inside_the_lost_window_is_set_aside() {
    let lines = vec![
        "# entries-in-buffer/entries-written: 6/6   #P:2".to_string(),
        map(1, 0x9000, 64),   // 2: CPU 1's last event before its loss
        map(0, 0x1000, 64),   // 3
        unmap(0, 0x1000, 32), // 4: wrong size, but CPU 1 may have lost an unmap and a new map
        "CPU:1 [LOST 5 EVENTS]".into(),
    ];
    let r = replay(&lines, from_start());
    assert!(found(&r).is_empty(), "{}", r.text(false));
    assert_eq!(
        r.summary.uncertain.per_rule.get("unmap-size-mismatch"),
        Some(&1)
    );
    assert_eq!(r.summary.uncertain.examples[0].line, 4);
}

#[test]
fn a_held_finding_is_reported_at_the_end_when_no_loss_explains_it() {
    // CPU 1 is declared but never records anything: findings wait for the end of the trace.
    let lines = vec![
        "# entries-in-buffer/entries-written: 3/3   #P:2".to_string(),
        map(0, 0x1000, 64),
        unmap(0, 0x1000, 32),
    ];
    let r = replay(&lines, from_start());
    assert_eq!(found(&r), [("unmap-size-mismatch", 3)]);
}

#[test]
fn a_buffer_that_started_late_makes_everything_before_uncertain() {
    // With the header naming the CPUs (the `trace` file), and without it (`trace_pipe`, where
    // a CPU not seen yet may still turn up).
    for header in ["# entries-in-buffer/entries-written: 5/9   #P:2", "#"] {
        let lines = vec![
            header.to_string(),
            map(0, 0x1000, 64),
            unmap(0, 0x1000, 64),
            unmap(0, 0x1000, 64), // 4: a double unmap, unless CPU 1's lost events re-mapped it
            "##### CPU 1 buffer started ####".into(),
            map(1, 0x2000, 64),
            unmap(1, 0x2000, 60), // 7: after the start: certain
        ];
        let r = replay(&lines, from_start());
        assert_eq!(found(&r), [("unmap-size-mismatch", 7)], "{header}");
        assert!(r.summary.losses[0].buffer_started);
        assert_eq!(r.summary.uncertain.per_rule.get("double-unmap"), Some(&1));
    }
}

#[test]
fn an_overwritten_buffer_means_the_trace_starts_mid_run_whatever_the_options() {
    let lines = vec![
        "# entries-in-buffer/entries-written: 2/900   #P:1".to_string(),
        unmap(0, 0x5000, 64),
    ];
    let r = replay(&lines, from_start());
    assert!(found(&r).is_empty());
    assert_eq!(r.summary.overwritten, Some(898));
    assert_eq!(r.summary.unknown_to_trace.total, 1);
    assert!(!r.summary.from_start);
}

#[test]
fn from_start_turns_what_is_unknown_to_the_trace_into_violations() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces/v6.12-mid-run.trace");
    let text = std::fs::read(&path).unwrap();
    let quiet = trace::replay_bytes(&text, TraceOptions::named("mid")).unwrap();
    assert!(quiet.violations().is_empty());
    let unknown: Vec<u64> = quiet
        .summary
        .unknown_to_trace
        .examples
        .iter()
        .map(|e| e.line)
        .collect();
    assert_eq!(unknown.len(), 4);
    let strict = trace::replay_bytes(&text, from_start()).unwrap();
    let lines: Vec<u64> = found(&strict).iter().map(|&(_, l)| l).collect();
    assert_eq!(lines, unknown);
    let rules: Vec<&str> = found(&strict).iter().map(|&(r, _)| r).collect();
    assert!(rules.contains(&"sync-unknown") && rules.contains(&"unmap-unknown"));
}

#[test]
fn irq_state_comes_from_the_flags_column() {
    let alloc = |flags: &str| {
        ev(
            0,
            flags,
            "dma_alloc",
            "dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 flags=GFP_ATOMIC attrs=",
        )
    };
    let free = |flags: &str| {
        ev(
            0,
            flags,
            "dma_free",
            "dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 attrs=",
        )
    };
    for (flags, fires) in [
        ("d.h1.", true),
        ("D..1.", true),
        ("b....", false),
        ("..s1.", false),
        (".....", false),
    ] {
        let r = replay(&[alloc("....."), free(flags)], from_start());
        let expected: &[(&str, u64)] = if fires {
            &[("free-coherent-irqs-disabled", 2)]
        } else {
            &[]
        };
        assert_eq!(found(&r), expected, "flags {flags}");
    }
    // Without a flags column (trace-cmd report) nothing is known of the IRQ state.
    let bare = "          task-1   [000]    17.000000: dma_free: 0000:00:03.0 dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 attrs=";
    let r = replay(&[alloc("....."), bare.to_string()], from_start());
    assert!(found(&r).is_empty());
    assert_eq!(r.summary.without_flags, 1);
}

#[test]
fn a_sleeping_allocation_is_judged_by_flags_and_gfp() {
    let alloc = |flags: &str, gfp: &str| {
        ev(
            0,
            flags,
            "dma_alloc",
            &format!("dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 flags={gfp} attrs="),
        )
    };
    let free = ev(
        0,
        ".....",
        "dma_free",
        "dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 attrs=",
    );
    for (flags, gfp, fires) in [
        ("..s..", "GFP_KERNEL", true),
        ("...1.", "GFP_KERNEL|__GFP_ZERO", true),
        ("b....", "GFP_NOIO", true),
        ("..s..", "GFP_ATOMIC", false),
        ("d....", "GFP_NOWAIT|__GFP_ZERO", false),
        (".....", "GFP_KERNEL", false),
    ] {
        let r = replay(&[alloc(flags, gfp), free.clone()], from_start());
        let expected: &[(&str, u64)] = if fires {
            &[("sleeping-alloc-in-atomic", 1)]
        } else {
            &[]
        };
        assert_eq!(found(&r), expected, "{flags} {gfp}");
    }
}

#[test]
fn hashed_cpu_addresses_are_compared_at_free_only_when_readable() {
    let alloc = |virt: &str| {
        ev(
            0,
            ".....",
            "dma_alloc",
            &format!("dma_addr=7149000 size=4096 virt_addr={virt} flags=GFP_KERNEL attrs="),
        )
    };
    let free = |virt: &str| {
        ev(
            0,
            ".....",
            "dma_free",
            &format!("dma_addr=7149000 size=4096 virt_addr={virt} attrs="),
        )
    };
    let r = replay(
        &[alloc("00000000fa9c77d7"), free("00000000283c6e81")],
        from_start(),
    );
    assert_eq!(found(&r), [("free-cpu-address-mismatch", 2)]);
    // Printed before the kernel could hash pointers: nothing to compare.
    let r = replay(
        &[alloc("(____ptrval____)"), free("(____ptrval____)")],
        from_start(),
    );
    assert!(found(&r).is_empty());
    // A NULL allocation failed: nothing was made.
    let r = replay(
        &[ev(
            0,
            ".....",
            "dma_alloc",
            "dma_addr=0 size=4096 virt_addr=0000000000000000 flags=GFP_KERNEL attrs=",
        )],
        from_start(),
    );
    assert_eq!((r.summary.failed, r.checker.stats().live_entries), (1, 0));
}

#[test]
fn the_device_filter_replays_one_device() {
    let other = |body: &str| {
        format!("          task-1     [000] .....    17.0: dma_unmap_page: 0000:00:1f.2 {body}")
    };
    let lines = vec![
        map(0, 0x1000, 64),
        other("dir=TO_DEVICE dma_addr=7777 size=1 attrs="),
        unmap(0, 0x1000, 60),
    ];
    let options = TraceOptions {
        device: Some(DEV.into()),
        ..from_start()
    };
    let r = replay(&lines, options);
    assert_eq!(found(&r), [("unmap-size-mismatch", 3)]);
    assert_eq!(r.summary.filtered_events, 1);
    assert_eq!(r.summary.devices.len(), 1);
    let all = replay(&lines, from_start());
    assert_eq!(all.summary.devices.len(), 2);
    assert_eq!(
        found(&all),
        [("unmap-size-mismatch", 3), ("unmap-unknown", 2)]
    );
}

#[test]
fn leaks_are_grouped_by_device_and_size_and_can_be_left_out() {
    let lines: Vec<String> = (0..5u64)
        .map(|i| map(0, 0x10000 + i * 0x1000, if i < 3 { 1522 } else { 256 }))
        .collect();
    let r = replay(&lines, from_start());
    let groups: Vec<(u64, u64, u64)> = r
        .summary
        .leaks
        .iter()
        .map(|g| (g.size, g.entries, g.first_line))
        .collect();
    assert_eq!(groups, [(1522, 3, 1), (256, 2, 4)]);
    assert_eq!(r.summary.leaks[0].lines, [1, 2, 3]);
    assert!(
        r.summary
            .to_text()
            .contains("2 page x 256 bytes, made at lines 4, 5\n")
    );
    let many: Vec<String> = (0..20u64)
        .map(|i| map(0, 0x40000 + i * 0x1000, 64))
        .collect();
    let twenty = replay(&many, from_start());
    assert_eq!(twenty.summary.leaks[0].lines, (1..=8).collect::<Vec<u64>>());
    let summary = twenty.summary.to_text();
    assert!(
        summary.contains("made at lines 1, 2, 3, 4, 5, 6, 7, 8 and 12 more"),
        "{summary}"
    );
    let report = r.report();
    assert_eq!(report.leaks.entries, 5);
    assert_eq!(report.leaks.sites[0].site.line, 1);
    assert_eq!(report.leaks.sites[0].site.file, "t");
    assert_eq!(report.findings_at_least(Level::Warn), 5);
    let text = r.text(false);
    assert!(
        text.contains("may end while the driver is running"),
        "{text}"
    );
    let quiet = replay(
        &lines,
        TraceOptions {
            leaks: false,
            ..from_start()
        },
    );
    assert_eq!(quiet.report().findings_at_least(Level::Warn), 0);
    assert!(quiet.summary.leaks.is_empty());
    assert_eq!(quiet.summary.devices[0].live_at_end, 5);
}

#[test]
fn deny_levels_mark_findings_without_stopping_the_replay() {
    let lines = vec![
        map(0, 0x1000, 64),
        unmap(0, 0x1000, 32),
        map(0, 0x2000, 64),
        unmap(0, 0x2000, 32),
    ];
    let options = TraceOptions {
        spec: Some("deny".into()),
        ..from_start()
    };
    let r = replay(&lines, options);
    assert_eq!(found(&r).len(), 2, "the replay went on after the first");
    assert!(r.violations().iter().all(|v| v.level == Level::Deny));
    let report = r.report();
    assert_eq!((report.counters.deny, report.counters.warn), (2, 0));
    assert_eq!(report.findings_at_least(Level::Deny), 2);
    assert_eq!(
        report.sources[0].config.levels["unmap-size-mismatch"],
        Level::Deny
    );
    // Traces never show dma_mapping_error: that rule stays allowed.
    assert_eq!(
        report.sources[0].config.levels["unmap-unchecked"],
        Level::Allow
    );
    let bad = trace::replay_bytes(
        b"",
        TraceOptions {
            spec: Some("nonsense=1".into()),
            ..from_start()
        },
    );
    assert!(matches!(bad, Err(TraceError::Config(_))));
}

#[test]
fn reports_in_every_format_name_the_trace_lines() {
    let lines = vec![
        map(0, 0x1000, 64),
        unmap(0, 0x1000, 64),
        unmap(0, 0x1000, 64),
    ];
    let r = replay(
        &lines,
        TraceOptions {
            from_start: true,
            ..TraceOptions::named("capture.trace")
        },
    );
    let report = r.report();
    let back = Report::from_json(&report.to_json()).unwrap();
    let v = &back.violations[0];
    assert_eq!(v.rule, "double-unmap");
    assert_eq!((v.site.file.as_str(), v.site.line), ("capture.trace", 3));
    assert_eq!(v.mapped_at.as_ref().map(|s| s.line), Some(1));
    assert_eq!(v.related.as_ref().map(|r| r.site.line), Some(2));
    let sarif = Format::Sarif.render(&report, false);
    assert!(
        sarif.contains("\"startLine\": 3") && sarif.contains("capture.trace"),
        "{sarif}"
    );
    let text = r.text(false);
    assert!(
        text.contains("at capture.trace:3") && text.contains("first released at capture.trace:2"),
        "{text}"
    );
    let junit = Format::Junit.render(&report, false);
    assert!(junit.contains("double-unmap"));
    // The replay's checker stands for no test: the rules' suite only, and no test in the header.
    assert!(report.sources.iter().all(|s| s.test.is_none()));
    assert!(!junit.contains("dmacheck tests"), "{junit}");
    assert!(!text.lines().next().unwrap().contains(", test "), "{text}");
}

#[test]
fn a_trace_with_no_dma_events_is_empty_not_an_error() {
    let r = trace::replay_bytes(b"# tracer: nop\n#\n", TraceOptions::default()).unwrap();
    assert_eq!((r.summary.lines, r.summary.dma_events), (2, 0));
    assert!(r.violations().is_empty());
    let r = trace::replay_bytes(b"", TraceOptions::default()).unwrap();
    assert_eq!(r.summary.lines, 0);
}

#[test]
fn a_null_free_ends_nothing_but_irqs_off_is_still_the_kernels_warning() {
    let null = "dma_addr=0 size=0 virt_addr=0000000000000000 attrs=";
    let quiet = replay(&[ev(0, ".....", "dma_free", null)], from_start());
    assert!(found(&quiet).is_empty(), "{}", quiet.text(false));
    assert_eq!(quiet.summary.null_frees, 1);
    // dma_free_attrs() warns about disabled IRQs before it returns for NULL.
    let irqs_off = replay(&[ev(0, "d....", "dma_free", null)], from_start());
    assert_eq!(found(&irqs_off), [("free-coherent-irqs-disabled", 1)]);
}

#[test]
fn calls_are_named_as_the_trace_names_them() {
    let resource = |event: &str, size: u64| {
        ev(
            0,
            ".....",
            event,
            &format!("dir=BIDIRECTIONAL dma_addr=febf0000 size={size} phys_addr=febf0000 attrs="),
        )
    };
    let lines = vec![
        map(0, 0x1000, 64),                   // 1: dma_map_page, never unmapped
        resource("dma_map_resource", 4096),   // 2
        resource("dma_unmap_resource", 2048), // 3: the wrong size
        resource("dma_map_resource", 4096),   // 4: never unmapped
    ];
    let r = replay(&lines, from_start());
    let v = r.violations();
    assert_eq!(found(&r), [("unmap-size-mismatch", 3)]);
    assert_eq!(v[0].mapped_by, Some("dma_map_resource"));
    let report = r.report();
    let mut leaks: Vec<(&str, u32)> = report
        .leaks
        .sites
        .iter()
        .map(|s| (s.call.as_str(), s.site.line))
        .collect();
    leaks.sort();
    assert_eq!(leaks, [("dma_map_page", 1), ("dma_map_resource", 4)]);
}

/// What a replay keeps grows with the live mappings, not with the trace: markers, names and
/// devices a corrupt trace may repeat without end are counted past a bound, not stored.
#[test]
fn what_a_replay_keeps_is_bounded() {
    let mut lines = Vec::new();
    for i in 0..5000u32 {
        lines.push(format!("CPU:{} [LOST 1 EVENTS]", i % 2));
        lines.push(format!(
            "          task-1     [000] .....    17.000000: dma_newfangled_{i}: {DEV} x=1"
        ));
        lines.push(format!(
            "          task-1     [000] .....    17.000000: dma_map_page: dev{i} dir=TO_DEVICE dma_addr=1000 size=64 phys_addr=1000 attrs="
        ));
    }
    let r = replay(&lines, TraceOptions::named("t"));
    let s = &r.summary;
    assert_eq!(s.lost_markers, 5000);
    assert!(s.losses.len() <= 20);
    assert!(s.unknown_dma_events.len() <= 33);
    assert_eq!(s.unknown_dma_events.values().sum::<u64>(), 5000);
    assert_eq!(s.devices.len(), 4096);
    assert_eq!(s.malformed, 5000 - 4096);
}
