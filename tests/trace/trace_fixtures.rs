//! Every fixture trace in `tests/fixtures/traces/` is replayed and must give exactly what its
//! `# dmacheck-*` lines say (see the README there): each bug found at its lines, nothing in the
//! clean ones. The two real captures in `fixtures/traces/real/` must replay clean.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use dmacheck::trace::{self, TraceOptions, TraceReplay, TraceSummary};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces")
}

fn fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("the fixtures directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace" || e == "txt"))
        .collect();
    all.sort();
    all
}

/// What a fixture says a replay must find.
#[derive(Debug, Default)]
struct Expected {
    from_start: bool,
    violations: Vec<(String, u64, Option<u64>, Option<u64>)>,
    leaks: Vec<(String, String, u64, u64, u64)>,
    malformed: Vec<u64>,
    unknown_dma: BTreeMap<String, u64>,
    counts: Vec<(String, u64)>,
}

fn field(words: &[&str], key: &str) -> Option<u64> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.parse().expect("a number"))
}

fn expected(text: &str) -> Expected {
    let mut e = Expected::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# dmacheck-") else {
            continue;
        };
        let (kind, args) = rest.split_once(':').expect("`# dmacheck-KIND: ...`");
        let words: Vec<&str> = args.split_whitespace().collect();
        match kind {
            "fixture" => {}
            "options" => e.from_start = words.contains(&"from-start"),
            "expect" => e.violations.push((
                words[0].to_string(),
                field(&words, "line").expect("line="),
                field(&words, "mapped"),
                field(&words, "related"),
            )),
            "expect-leak" => e.leaks.push((
                words[0].to_string(),
                words[1].to_string(),
                words[2].parse().unwrap(),
                words[3].strip_prefix('x').unwrap().parse().unwrap(),
                field(&words, "line").expect("line="),
            )),
            "expect-malformed" => e.malformed.push(field(&words, "line").unwrap()),
            "expect-unknown-dma" => {
                for w in words {
                    let (name, n) = w.split_once('=').unwrap();
                    e.unknown_dma.insert(name.into(), n.parse().unwrap());
                }
            }
            "count" => {
                for w in words {
                    let (key, n) = w.split_once('=').unwrap();
                    e.counts.push((key.into(), n.parse().unwrap()));
                }
            }
            other => panic!("unknown fixture directive `{other}`"),
        }
    }
    e
}

fn count(s: &TraceSummary, key: &str) -> u64 {
    match key {
        "unknown_to_trace" => s.unknown_to_trace.total,
        "uncertain" => s.uncertain.total,
        "malformed" => s.malformed,
        "other_events" => s.other_events,
        "failed" => s.failed,
        "losses" => s.lost_markers,
        "lost_events" => s.lost_events,
        "forgotten" => s.forgotten,
        "truncated_sg" => s.truncated_sg,
        "dma_events" => s.dma_events,
        "null_frees" => s.null_frees,
        "retired" => s.unmaps_skipped.iter().map(|u| u.retired).sum(),
        "never_unmapped" => s.unmaps_skipped.iter().map(|u| u.live_at_end).sum(),
        other => panic!("no summary count `{other}`"),
    }
}

fn options(path: &Path, e: &Expected) -> TraceOptions {
    TraceOptions {
        from_start: e.from_start,
        ..TraceOptions::named(path.file_name().unwrap().to_str().unwrap())
    }
}

/// Compare a replay with what the fixture says; the differences, one per line.
fn check(path: &Path, replay: &TraceReplay, e: &Expected) -> Vec<String> {
    let name = path.file_name().unwrap().to_str().unwrap();
    let mut problems = Vec::new();
    let line = |s: &dmacheck::Site| s.trace().map(|t| t.line);
    let mut found: Vec<_> = replay
        .violations()
        .iter()
        .map(|v| {
            assert_eq!(
                v.site.trace().map(|t| t.file),
                Some(name),
                "sites name the trace"
            );
            (
                v.rule.id.to_string(),
                line(&v.site).unwrap_or(0),
                v.mapped_at.as_ref().and_then(line),
                v.related.as_ref().and_then(|r| line(&r.site)),
            )
        })
        .collect();
    let mut want = e.violations.clone();
    found.sort();
    want.sort();
    if found != want {
        problems.push(format!(
            "{name}: violations {found:?}, expected {want:?}\n{}",
            replay.text(false)
        ));
    }
    let s = &replay.summary;
    let mut leaks: Vec<_> = s
        .leaks
        .iter()
        .map(|g| {
            (
                g.device.clone(),
                g.kind.clone(),
                g.size,
                g.entries,
                g.first_line,
            )
        })
        .collect();
    let mut want_leaks = e.leaks.clone();
    leaks.sort();
    want_leaks.sort();
    if leaks != want_leaks {
        problems.push(format!("{name}: leaks {leaks:?}, expected {want_leaks:?}"));
    }
    let malformed: Vec<u64> = s.malformed_lines.iter().map(|m| m.line).collect();
    if malformed != e.malformed {
        problems.push(format!(
            "{name}: malformed lines {malformed:?}, expected {:?} ({:?})",
            e.malformed, s.malformed_lines
        ));
    }
    if s.unknown_dma_events != e.unknown_dma {
        problems.push(format!(
            "{name}: unknown dma events {:?}, expected {:?}",
            s.unknown_dma_events, e.unknown_dma
        ));
    }
    for (key, n) in &e.counts {
        if count(s, key) != *n {
            problems.push(format!(
                "{name}: {key} = {}, expected {n}\n{}",
                count(s, key),
                s.to_text()
            ));
        }
    }
    problems
}

#[test]
fn every_fixture_gives_exactly_what_it_expects() {
    let mut problems = Vec::new();
    for path in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let e = expected(&text);
        let replay = trace::replay_bytes(text.as_bytes(), options(&path, &e)).unwrap();
        problems.extend(check(&path, &replay, &e));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fixtures_cover_both_formats_clean_and_with_bugs() {
    let names: Vec<String> = fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    for format in ["v6.12-", "v6.18-"] {
        let of: Vec<&String> = names.iter().filter(|n| n.starts_with(format)).collect();
        assert!(of.iter().any(|n| n.contains("clean")), "{format} clean");
        let buggy = of
            .iter()
            .filter(|n| {
                let text = std::fs::read_to_string(fixtures_dir().join(n)).unwrap();
                expected(&text).violations.len() == 1
            })
            .count();
        assert!(buggy >= 8, "{format}: {buggy} fixtures with one bug");
    }
    // The clean ones expect nothing, so the test above checks they find nothing.
    for n in names.iter().filter(|n| n.contains("clean")) {
        let e = expected(&std::fs::read_to_string(fixtures_dir().join(n)).unwrap());
        assert!(e.violations.is_empty() && e.leaks.is_empty() && e.malformed.is_empty());
    }
}

#[test]
fn gzip_and_streamed_input_replay_like_the_file() {
    for path in fixtures() {
        let text = std::fs::read(&path).unwrap();
        let e = expected(std::str::from_utf8(&text).unwrap());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        // A reader that hands out a few bytes at a time, as a pipe may.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for input in [&gz[..], &text[..]] {
            let replay = trace::replay_reader(Trickle(input), options(&path, &e), |_| {}).unwrap();
            let problems = check(&path, &replay, &e);
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
    }
}

#[test]
fn a_fixture_file_on_disk_replays_through_replay_path() {
    let path = fixtures_dir().join("v6.12-double-unmap.trace");
    let e = expected(&std::fs::read_to_string(&path).unwrap());
    let mut calls = 0;
    let replay = trace::replay_path(&path, options(&path, &e), |_, _| calls += 1).unwrap();
    assert!(check(&path, &replay, &e).is_empty());
    assert_eq!(calls, 0, "no progress for a small trace");
    assert!(
        trace::replay_path(
            Path::new("/nonexistent/x.trace"),
            options(&path, &e),
            |_, _| {}
        )
        .is_err()
    );
}

/// Two real captures of stock Debian kernels under QEMU (gzip-compressed in
/// `tests/fixtures/traces/real/`): correct drivers, so no violation and nothing left mapped,
/// with or without `--from-start`.
#[test]
fn the_real_kernel_traces_replay_clean() {
    for name in [
        "linux-6.12-e1000.trace",
        "linux-7.3-swiotlb-virtio-net.trace",
    ] {
        let file = fixtures_dir().join("real").join(format!("{name}.gz"));
        let text = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for from_start in [false, true] {
            let options = TraceOptions {
                from_start,
                ..TraceOptions::named(name)
            };
            let replay = trace::replay_reader(&text[..], options, |_| {}).unwrap();
            let s = &replay.summary;
            assert!(replay.violations().is_empty(), "{}", replay.text(false));
            assert!(s.leaks.is_empty(), "{}", s.to_text());
            assert_eq!(
                (s.malformed, s.unknown_to_trace.total, s.uncertain.total),
                (0, 0, 0),
                "{}",
                s.to_text()
            );
            assert!(s.dma_events > 5000, "{name}: {} dma events", s.dma_events);
            let d = &s.devices[0];
            assert_eq!(d.maps, d.releases, "{name}: every mapping ended");
        }
    }
}
