//! Replay speed of kernel `dma:*` traces: events per second, parsing and checking, on one core.
//!
//! The trace is generated: four NICs, each with a descriptor ring (`dma_alloc`, freed at the
//! end), a receive ring of 256 buffers recycled (sync for the CPU, unmap, map a new one, sync
//! for the device) and transmit buffers mapped and unmapped, in the Linux 6.18 format with a
//! flags column, interleaved on two CPUs. It is correct: every replay must report no violation
//! and no leak.
//!
//! - `trace_replay_in_memory`: 1M events (about 150 MB) held in memory, `replay_bytes`, the
//!   parser alone over the same bytes, and the floor, `wc_l_floor`: counting the newlines of the
//!   same bytes as `wc -l` does (and `wc -l` itself, timed once and printed), measured in the
//!   same run so the ratio holds on a loaded machine;
//! - `trace_replay_gzip`: the same trace gzip-compressed, replayed with `replay_reader`, and
//!   only decompressed (its floor);
//! - `trace_replay_streamed`: 10M events (about 1.5 GB of text) generated on the fly by a
//!   `Read` implementation and replayed with `replay_reader`, so memory stays small; and the
//!   generator alone, whose cost the replay figure includes.
//!
//! The in-memory rows and gzip's decompression are measured in the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a shared machine wall time counts the time
//! other processes held the core, and one core's work is what the targets are about. Gzip
//! replay is wall time: it decompresses on a second thread, whose time the replaying thread's
//! CPU time would leave out. The streamed rows are wall time, and the
//! streamed replay prints the process's peak resident memory, which must stay small (memory
//! bounded by the live mappings, not the trace's length).
//!
//! `--test` (`cargo bench -- --test`): 100k events for all. Target: at least 5M events/s in
//! memory on one core, gzip at the speed of decompression.
//! `cargo bench --bench trace_replay`

use std::hint::black_box;
use std::io::{self, Read, Write as _};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use dmacheck::trace::{self, TraceOptions};

const DEVICES: u64 = 4;
const RING: u64 = 256;
/// Events per steady round: six per receive slot and device.
const ROUND_EVENTS: u64 = 6 * RING * DEVICES;
/// Events outside the steady rounds: per device, the descriptor ring's alloc and free, and
/// the first map and the last unmap of each receive slot.
const EDGE_EVENTS: u64 = DEVICES * (2 + 2 * RING);

enum Phase {
    Header,
    Fill { slot: u64 },
    Steady { round: u64, slot: u64 },
    Drain { slot: u64 },
    Done,
}

/// A correct trace, generated as it is read.
struct GeneratedTrace {
    rounds: u64,
    phase: Phase,
    /// Microseconds since boot.
    now_us: u64,
    text: Vec<u8>,
    read: usize,
}

impl GeneratedTrace {
    /// A trace of at least `events` dma events.
    fn new(events: u64) -> GeneratedTrace {
        GeneratedTrace {
            rounds: events.saturating_sub(EDGE_EVENTS).div_ceil(ROUND_EVENTS),
            phase: Phase::Header,
            now_us: 30_000_000,
            text: Vec::with_capacity(1 << 17),
            read: 0,
        }
    }

    /// How many dma events the trace holds.
    fn events(&self) -> u64 {
        EDGE_EVENTS + self.rounds * ROUND_EVENTS
    }

    fn line(&mut self, dev: u64, cpu: u64, flags: &str, event: &str, body: std::fmt::Arguments) {
        self.now_us += 3;
        let (s, us) = (self.now_us / 1_000_000, self.now_us % 1_000_000);
        let _ = writeln!(
            self.text,
            "              ip-450     [{cpu:03}] {flags} {s:>5}.{us:06}: {event}: 0000:00:{:02x}.0 {body}",
            5 + dev
        );
    }

    fn rx_dma(dev: u64, slot: u64, round: u64) -> u64 {
        0x3ac0_0000 + dev * 0x0040_0000 + ((round % 4) * RING + slot) * 0x1000
    }

    /// Each device's receive buffers lie in a 16 MiB region of their own, so no two live
    /// device-writable buffers share a cache line.
    fn rx_phys(dev: u64, slot: u64, round: u64) -> u64 {
        0x0700_0000 + dev * 0x0100_0000 + ((round * 7 + slot * 13) % 4096) * 0x1000
    }

    fn map_rx(&mut self, dev: u64, flags: &str, dma: u64, phys: u64) {
        self.line(
            dev,
            dev % 2,
            flags,
            "dma_map_phys",
            format_args!(
                "dir=FROM_DEVICE dma_addr={dma:x} size=4096 phys_addr={phys:x} attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
            ),
        );
    }

    fn unmap_rx(&mut self, dev: u64, flags: &str, dma: u64) {
        self.line(
            dev,
            dev % 2,
            flags,
            "dma_unmap_phys",
            format_args!(
                "dir=FROM_DEVICE dma_addr={dma:x} size=4096 attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
            ),
        );
    }

    fn descriptor_ring(&mut self, dev: u64, event: &str, flags: &str) {
        let dma = 0x1f00_0000 + dev * 0x1_0000;
        self.line(
            dev,
            dev % 2,
            ".....",
            event,
            format_args!(
                "dir=BIDIRECTIONAL dma_addr={dma:x} size=4096 virt_addr=00000000bf37{dev:04x}{flags} attrs="
            ),
        );
    }

    /// Append the next piece of the trace to `text`.
    fn generate(&mut self) {
        match self.phase {
            Phase::Header => {
                self.text.extend_from_slice(
                    b"# tracer: nop\n#\n# entries-in-buffer/entries-written: 0/0   #P:2\n#\n",
                );
                for dev in 0..DEVICES {
                    self.descriptor_ring(dev, "dma_alloc", " flags=GFP_KERNEL|__GFP_ZERO");
                }
                self.phase = Phase::Fill { slot: 0 };
            }
            Phase::Fill { slot } => {
                for dev in 0..DEVICES {
                    let (dma, phys) = (Self::rx_dma(dev, slot, 0), Self::rx_phys(dev, slot, 0));
                    self.map_rx(dev, ".....", dma, phys);
                }
                self.phase = match slot + 1 {
                    RING if self.rounds == 0 => Phase::Drain { slot: 0 },
                    RING => Phase::Steady { round: 0, slot: 0 },
                    next => Phase::Fill { slot: next },
                };
            }
            Phase::Steady { round, slot } => {
                for dev in 0..DEVICES {
                    let (rx, next) = (
                        Self::rx_dma(dev, slot, round),
                        Self::rx_dma(dev, slot, round + 1),
                    );
                    let cpu = dev % 2;
                    self.line(
                        dev,
                        cpu,
                        "..s1.",
                        "dma_sync_single_for_cpu",
                        format_args!("dir=FROM_DEVICE dma_addr={rx:x} size=1514"),
                    );
                    self.unmap_rx(dev, "..s1.", rx);
                    self.map_rx(dev, "..s1.", next, Self::rx_phys(dev, slot, round + 1));
                    self.line(
                        dev,
                        cpu,
                        "..s1.",
                        "dma_sync_single_for_device",
                        format_args!("dir=FROM_DEVICE dma_addr={next:x} size=4096"),
                    );
                    let tx = 0x3e60_0000 + dev * 0x2_0000 + (slot % 64) * 0x800 + 0x42;
                    self.line(
                        dev,
                        1 - cpu,
                        "b..1.",
                        "dma_map_phys",
                        format_args!(
                            "dir=TO_DEVICE dma_addr={tx:x} size=98 phys_addr={:x} attrs=",
                            tx + 0x0100_0000
                        ),
                    );
                    self.line(
                        dev,
                        1 - cpu,
                        "..s2.",
                        "dma_unmap_phys",
                        format_args!("dir=TO_DEVICE dma_addr={tx:x} size=98 attrs="),
                    );
                }
                self.phase = match (slot + 1, round + 1) {
                    (RING, rounds) if rounds == self.rounds => Phase::Drain { slot: 0 },
                    (RING, next) => Phase::Steady {
                        round: next,
                        slot: 0,
                    },
                    (next, _) => Phase::Steady { round, slot: next },
                };
            }
            Phase::Drain { slot } => {
                for dev in 0..DEVICES {
                    self.unmap_rx(dev, ".....", Self::rx_dma(dev, slot, self.rounds));
                }
                self.phase = if slot + 1 == RING {
                    for dev in 0..DEVICES {
                        self.descriptor_ring(dev, "dma_free", "");
                    }
                    Phase::Done
                } else {
                    Phase::Drain { slot: slot + 1 }
                };
            }
            Phase::Done => {}
        }
    }
}

impl Read for GeneratedTrace {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.read == self.text.len() {
            self.text.clear();
            self.read = 0;
            while self.text.len() < 1 << 16 && !matches!(self.phase, Phase::Done) {
                self.generate();
            }
        }
        let n = out.len().min(self.text.len() - self.read);
        out[..n].copy_from_slice(&self.text[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

/// Panic unless the replay found what a correct trace of `events` events gives.
fn assert_correct(replay: &trace::TraceReplay, events: u64) {
    assert!(replay.violations().is_empty(), "{}", replay.text(false));
    assert_eq!(replay.summary.dma_events, events);
    assert!(replay.summary.leaks.is_empty());
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to; the clock exists on Linux.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    assert!(ok, "CLOCK_THREAD_CPUTIME_ID");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Run `f` `iters` times; the thread CPU time it took.
fn cpu_timed<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu_time() - start
}

fn in_memory(c: &mut Criterion, events: u64) {
    let mut text = Vec::new();
    let mut trace = GeneratedTrace::new(events);
    let events = trace.events();
    trace.read_to_end(&mut text).unwrap();
    // Check once that the generated trace is what it claims: correct, and all of it replayed.
    assert_correct(
        &trace::replay_bytes(&text, TraceOptions::default()).unwrap(),
        events,
    );
    println!(
        "trace_replay_in_memory: {events} events, {:.0} MB",
        text.len() as f64 / 1e6
    );

    let mut group = c.benchmark_group("trace_replay_in_memory");
    group.throughput(Throughput::Elements(events));
    // A replay takes about a second: the same iteration count per sample, the fewest samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(BenchmarkId::new("replay_bytes", events), |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                trace::replay_bytes(black_box(&text), TraceOptions::default()).unwrap()
            })
        })
    });
    // The floor: what `wc -l` does (count newlines, with memchr), over the same bytes in the
    // same run, so the ratio holds on a loaded machine too.
    group.bench_function(BenchmarkId::new("wc_l_floor", events), |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                memchr::memchr_iter(b'\n', black_box(&text[..])).count()
            })
        })
    });
    group.bench_function(BenchmarkId::new("parse_only", events), |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                let mut dma = 0u64;
                let text = black_box(&text[..]);
                let mut start = 0;
                for end in memchr::memchr_iter(b'\n', text) {
                    let l = &text[start..end];
                    start = end + 1;
                    if let Ok(trace::Line::Event(e)) = trace::parse_line(l) {
                        dma += u64::from(matches!(
                            trace::parse_event(e.name, e.body),
                            Ok(trace::Parsed::Dma(_))
                        ));
                    }
                }
                dma
            })
        })
    });
    group.finish();
    wc_l_process(&text);
    gzip(c, &text, events);
}

/// `wc -l` itself on the trace in a file, timed once, for the record.
fn wc_l_process(text: &[u8]) {
    let path = std::env::temp_dir().join(format!("dmacheck-bench-{}.trace", std::process::id()));
    if std::fs::write(&path, text).is_err() {
        return;
    }
    let start = Instant::now();
    let ran = std::process::Command::new("wc")
        .arg("-l")
        .arg(&path)
        .output();
    let took = start.elapsed();
    let _ = std::fs::remove_file(&path);
    if ran.is_ok_and(|o| o.status.success()) {
        println!(
            "wc -l (the process, page cache warm): {:.1} ms, {:.1} M lines/s",
            took.as_secs_f64() * 1e3,
            text.iter().filter(|&&b| b == b'\n').count() as f64 / took.as_secs_f64() / 1e6
        );
    }
}

/// The same trace gzip-compressed: replayed, and only decompressed (the floor).
fn gzip(c: &mut Criterion, text: &[u8], events: u64) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text).unwrap();
    let gz = gz.finish().unwrap();
    let mut group = c.benchmark_group("trace_replay_gzip");
    group.throughput(Throughput::Elements(events));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    // Wall time: the decoder runs on a second thread, which the thread's CPU time would leave
    // out, and overlapping the two is what this row measures.
    group.bench_function(BenchmarkId::new("replay_reader", events), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(
                    trace::replay_reader(black_box(&gz[..]), TraceOptions::default(), |_| {})
                        .unwrap(),
                );
            }
            start.elapsed()
        })
    });
    group.bench_function(BenchmarkId::new("decompress_only", events), |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                let mut d = flate2::read::MultiGzDecoder::new(black_box(&gz[..]));
                io::copy(&mut d, &mut io::sink()).unwrap()
            })
        })
    });
    group.finish();
}

/// Start measuring the process's peak resident memory afresh (Linux: `clear_refs` 5 resets
/// `VmHWM`), so the in-memory rows' 150 MB trace does not count.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since [`reset_peak_rss`], in KiB (0 if unknown).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn streamed(c: &mut Criterion, events: u64) {
    let events = GeneratedTrace::new(events).events();
    let mut group = c.benchmark_group("trace_replay_streamed");
    group.throughput(Throughput::Elements(events));
    // As above; a replay takes about ten seconds.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(BenchmarkId::new("replay_reader", events), |b| {
        b.iter_custom(|iters| {
            let mut time = Duration::ZERO;
            reset_peak_rss();
            for _ in 0..iters {
                let start = Instant::now();
                let replay = trace::replay_reader(
                    GeneratedTrace::new(events),
                    TraceOptions::default(),
                    |_| {},
                )
                .unwrap();
                time += start.elapsed();
                assert_correct(&replay, events);
            }
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                println!(
                    "{events} events streamed: peak resident memory {} MB",
                    peak_rss_kb() / 1024
                )
            });
            time
        })
    });
    group.bench_function(BenchmarkId::new("generate_only", events), |b| {
        b.iter(|| io::copy(&mut GeneratedTrace::new(events), &mut io::sink()).unwrap())
    });
    group.finish();
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();
    in_memory(&mut c, if test_mode { 100_000 } else { 1_000_000 });
    streamed(&mut c, if test_mode { 100_000 } else { 10_000_000 });
    c.final_summary();
}
