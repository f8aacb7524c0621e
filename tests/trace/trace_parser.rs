//! The trace parser and the replay on random and malformed input: never a panic, every line
//! accounted for; and random correct traces replay clean while an injected bug is found. (The
//! same parser runs under cargo-fuzz in `fuzz/`; this keeps CI exercising it without it.)

use proptest::prelude::*;

use dmacheck::trace::{self, Line, Parsed, TraceOptions, parse_event, parse_line};

/// Lines of every kind the parser reads, to mutate.
const SEEDS: &[&str] = &[
    "              ip-410     [000] .N...    17.340409: dma_map_page: 0000:00:03.0 dir=FROM_DEVICE dma_addr=77378c0 size=1522 phys_addr=77378c0 attrs=",
    "     ksoftirqd/0-17      [000] ..s..    17.400070: dma_unmap_page: 0000:00:03.0 dir=TO_DEVICE dma_addr=7689802 size=90 attrs=",
    "          insmod-443     [000] .....    31.653945: dma_alloc: 0000:00:05.0 dir=BIDIRECTIONAL dma_addr=1f7a000 size=6726 virt_addr=00000000bf374757 flags=GFP_KERNEL|__GFP_ZERO|__GFP_NOWARN attrs=NO_WARN",
    "           rmmod-467     [000] d....    41.209175: dma_free: 0000:00:05.0 dma_addr=1f7a000 size=6726 virt_addr=00000000bf374757 attrs=",
    "    kworker/1:1H-95      [001] .....    10.002740: dma_map_sg: 0000:01:00.0 dir=TO_DEVICE nents=3/3 ents=1/1 dma_addrs={0xffff0000} sizes={0x3000} phys_addrs={0x4100000,0x4101000,0x4102000} attrs=",
    "  irq/30-nvme0q1-150     [001] d.h1.    10.003014: dma_unmap_sg: 0000:01:00.0 dir=TO_DEVICE phys_addrs={0x4100000,0x4101000,0x4102000} attrs=",
    "  irq/30-nvme0q1-150     [001] d.h1.    10.003288: dma_sync_sg_for_cpu: 0000:01:00.0 dir=FROM_DEVICE dma_addrs={0xfffe0000,0xfffd0000} sizes={0x1000,0x200}",
    "              ip-450     [000] .l...    32.291606: dma_sync_single_for_device: 0000:00:05.0 dir=FROM_DEVICE dma_addr=3ac41000 size=4096",
    "    kworker/u8:2-88      [000] .....    10.1: dma_map_sg_err: 0000:00:1f.2 dir=FROM_DEVICE dma_addrs={0x3200000,0x3201000} err=-12 attrs=",
    "    kworker/1:1H-95      [000] .....    10.003562: dma_alloc_pages: 0000:01:00.0 dir=FROM_DEVICE dma_addr=fff00000 size=16384 virt_addr=00000000c0ffee00 flags=GFP_KERNEL attrs=",
    "              ip-450   [000]    10.000137: dma_map_phys:         0000:00:05.0 dir=FROM_DEVICE dma_addr=3ac41000 size=4096 phys_addr=77bd000 attrs=",
    "CPU:1 [LOST 37 EVENTS]",
    "CPU:0 [12 EVENTS DROPPED]",
    "##### CPU 2 buffer started ####",
    "# entries-in-buffer/entries-written: 5900/6000   #P:2",
    "cpus=2",
    "          <idle>-0       [001] d.h1.    17.4: irq_handler_entry: irq=11 name=eth0",
    "",
];

/// Bytes that matter to the parser, to insert.
const SPECIAL: &[u8] = b":=[]{},|/ \t.-0123456789abcdefxX#\r";

fn mutate(line: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    for &(at, what, byte) in edits {
        let at = if b.is_empty() { 0 } else { at % (b.len() + 1) };
        match what % 4 {
            0 if at < b.len() => b[at] = byte,
            1 => b.insert(at, SPECIAL[byte as usize % SPECIAL.len()]),
            2 if at < b.len() => {
                b.remove(at);
            }
            _ => b.truncate(at),
        }
    }
    // One line stays one line.
    b.iter()
        .map(|&c| if c == b'\n' { b' ' } else { c })
        .collect()
}

fn parse_fully(line: &[u8]) -> bool {
    match parse_line(line) {
        Ok(Line::Event(e)) => parse_event(e.name, e.body).is_ok(),
        Ok(_) => true,
        Err(_) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_fully(&bytes);
        let replay = trace::replay_bytes(&bytes, TraceOptions::default()).unwrap();
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let lines = newlines + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
        prop_assert_eq!(replay.summary.lines, lines);
    }

    #[test]
    fn mutated_trace_lines_never_panic_and_malformed_ones_are_listed(
        picks in proptest::collection::vec(
            (0..SEEDS.len(), proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4)),
            1..40,
        )
    ) {
        let lines: Vec<Vec<u8>> = picks.iter().map(|(i, edits)| mutate(SEEDS[*i], edits)).collect();
        let mut text = Vec::new();
        for l in &lines {
            // A mutation may insert a newline-free `\r`; lines are joined with `\n`.
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        let replay = trace::replay_bytes(&text, TraceOptions {
            from_start: true,
            ..TraceOptions::default()
        }).unwrap();
        let s = &replay.summary;
        prop_assert_eq!(s.lines, lines.len() as u64);
        // Every line the parser refuses is listed as malformed, at its number.
        let listed: Vec<u64> = s.malformed_lines.iter().map(|m| m.line).collect();
        for (i, l) in lines.iter().enumerate() {
            if !parse_fully(l) {
                prop_assert!(listed.contains(&(i as u64 + 1)), "line {} ({:?}) not listed", i + 1, String::from_utf8_lossy(l));
            }
        }
        prop_assert!(listed.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(listed.iter().all(|&n| n >= 1 && n <= s.lines));
        // Reports render whatever was found.
        let report = replay.report();
        let _ = dmacheck::report::Format::Sarif.render(&report, false);
        let _ = replay.text(false);
    }
}

/// A random correct driver: mappings of two devices made, synced and released with their own
/// parameters, on two CPUs, in any interleaving; the trace ends with everything released.
#[derive(Clone, Debug)]
enum Step {
    Map {
        slot: usize,
        sg: bool,
        from_device: bool,
    },
    Sync {
        slot: usize,
    },
    Release {
        slot: usize,
    },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            (0..16usize, any::<bool>(), any::<bool>()).prop_map(|(slot, sg, from_device)| {
                Step::Map {
                    slot,
                    sg,
                    from_device,
                }
            }),
            (0..16usize).prop_map(|slot| Step::Sync { slot }),
            (0..16usize).prop_map(|slot| Step::Release { slot }),
        ],
        1..80,
    )
}

struct Live {
    sg: bool,
    dir: &'static str,
    size: u64,
}

/// The trace of `steps`, with `bug` (0: none) injected at the first release: 1 a wrong size,
/// 2 a second release, 3 a wrong direction.
fn render(steps: &[Step], bug: u8) -> (String, Option<(&'static str, u64)>) {
    let mut live: Vec<Option<Live>> = (0..16).map(|_| None).collect();
    let mut lines = vec![
        "# tracer: nop".to_string(),
        "# entries-in-buffer/entries-written: 1/1   #P:2".into(),
    ];
    let mut injected = None;
    let mut ts = 1.0f64;
    let dev = |slot: usize| {
        if slot % 2 == 0 {
            "0000:00:03.0"
        } else {
            "0000:00:1f.2"
        }
    };
    // Each slot owns a disjoint page of DMA addresses, cache-line aligned.
    let addr = |slot: usize| 0x1000_0000u64 + slot as u64 * 0x10000;
    let mut push = |cpu: usize, event: &str, body: String, lines: &mut Vec<String>| {
        ts += 0.001;
        lines.push(format!(
            "          task-{cpu}     [{cpu:03}] ..... {ts:12.6}: {event}: {body}"
        ));
        lines.len() as u64
    };
    let mut all: Vec<Step> = steps.to_vec();
    all.extend((0..16).map(|slot| Step::Release { slot }));
    for (i, step) in all.iter().enumerate() {
        let cpu = i % 2;
        match *step {
            Step::Map {
                slot,
                sg,
                from_device,
            } if live[slot].is_none() => {
                let dir = if from_device {
                    "FROM_DEVICE"
                } else {
                    "TO_DEVICE"
                };
                let size = 0x40 * (1 + (slot as u64 % 7));
                let a = addr(slot);
                let body = if sg {
                    format!(
                        "{} dir={dir} nents=2/2 ents=2/2 dma_addrs={{{a:#x},{:#x}}} sizes={{{size:#x},{size:#x}}} phys_addrs={{{a:#x},{:#x}}} attrs=",
                        dev(slot),
                        a + 0x1000,
                        a + 0x1000
                    )
                } else {
                    format!(
                        "{} dir={dir} dma_addr={a:x} size={size} phys_addr={a:x} attrs=",
                        dev(slot)
                    )
                };
                push(
                    cpu,
                    if sg { "dma_map_sg" } else { "dma_map_phys" },
                    body,
                    &mut lines,
                );
                live[slot] = Some(Live { sg, dir, size });
            }
            Step::Sync { slot } => {
                if let Some(l) = &live[slot] {
                    let a = addr(slot);
                    if l.sg {
                        let body = format!(
                            "{} dir={} dma_addrs={{{a:#x},{:#x}}} sizes={{{:#x},{:#x}}}",
                            dev(slot),
                            l.dir,
                            a + 0x1000,
                            l.size,
                            l.size
                        );
                        push(cpu, "dma_sync_sg_for_cpu", body, &mut lines);
                    } else {
                        let body =
                            format!("{} dir={} dma_addr={a:x} size={}", dev(slot), l.dir, l.size);
                        push(cpu, "dma_sync_single_for_cpu", body, &mut lines);
                    }
                }
            }
            Step::Release { slot } => {
                if let Some(l) = live[slot].take() {
                    let a = addr(slot);
                    let inject = bug != 0 && injected.is_none();
                    let (dir, size) = match (inject, bug) {
                        (true, 1) if !l.sg => (l.dir, l.size - 1),
                        (true, 3) => (
                            if l.dir == "TO_DEVICE" {
                                "FROM_DEVICE"
                            } else {
                                "TO_DEVICE"
                            },
                            l.size,
                        ),
                        _ => (l.dir, l.size),
                    };
                    let body = if l.sg {
                        format!(
                            "{} dir={dir} phys_addrs={{{a:#x},{:#x}}} attrs=",
                            dev(slot),
                            a + 0x1000
                        )
                    } else {
                        format!("{} dir={dir} dma_addr={a:x} size={size} attrs=", dev(slot))
                    };
                    let event = if l.sg {
                        "dma_unmap_sg"
                    } else {
                        "dma_unmap_phys"
                    };
                    let n = push(cpu, event, body.clone(), &mut lines);
                    if inject {
                        injected = match bug {
                            1 if !l.sg => Some(("unmap-size-mismatch", n)),
                            2 => Some(("double-unmap", push(cpu, event, body, &mut lines))),
                            3 => Some(("unmap-direction-mismatch", n)),
                            _ => None,
                        };
                    }
                }
            }
            Step::Map { .. } => {}
        }
    }
    (lines.join("\n") + "\n", injected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_correct_traces_replay_clean_and_an_injected_bug_is_found(steps in steps(), bug in 0u8..4) {
        let (clean, _) = render(&steps, 0);
        let replay = trace::replay_bytes(clean.as_bytes(), TraceOptions { from_start: true, ..TraceOptions::default() }).unwrap();
        prop_assert!(replay.violations().is_empty(), "{}\n{}", clean, replay.text(false));
        prop_assert!(replay.summary.leaks.is_empty());
        prop_assert_eq!(replay.summary.malformed, 0);
        let (buggy, injected) = render(&steps, bug);
        if let Some((rule, line)) = injected {
            let replay = trace::replay_bytes(buggy.as_bytes(), TraceOptions { from_start: true, ..TraceOptions::default() }).unwrap();
            let found: Vec<(&str, u64)> = replay
                .violations()
                .iter()
                .map(|v| (v.rule.id, v.site.trace().unwrap().line))
                .collect();
            prop_assert_eq!(found, vec![(rule, line)], "{}", buggy);
        }
    }
}

#[test]
fn every_seed_line_parses_as_intended() {
    for seed in SEEDS {
        assert!(parse_fully(seed.as_bytes()), "{seed}");
    }
    let Ok(Line::Event(e)) = parse_line(SEEDS[0].as_bytes()) else {
        panic!("an event");
    };
    assert!(matches!(parse_event(e.name, e.body), Ok(Parsed::Dma(_))));
}
