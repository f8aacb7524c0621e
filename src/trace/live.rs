//! Live mode: tracefs set up for the `dma` events, `trace_pipe` replayed as it streams, and
//! tracefs restored exactly as it was found.
//!
//! [`Tracefs::prepare`] saves, then sets, what a replay needs: the `dma` events on (every
//! `events/dma/*/enable`, restored one by one), the `irq-info` option (the flags column, for
//! the context rules), `tracing_on`, and the per-CPU buffer size ([`Buffer`]). Dropping the [`Tracefs`]
//! (also on an error or a panic) or [`Tracefs::restore`] writes back what was read.
//! [`replay_live`] reads `trace_pipe` on a thread of its own, so a stop request, a deadline or
//! the end of the stream ends it even while the pipe is quiet.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{LineReader, Replayer, TraceError, TraceOptions, TraceReplay};
use crate::report::Violation;

/// Where tracefs is usually mounted: its own mount, then under debugfs (older systems).
pub const TRACEFS_PLACES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// How long the pipe may be quiet before the replay takes the stream as caught up.
const QUIET: Duration = Duration::from_millis(100);

/// The first place of [`TRACEFS_PLACES`] that has a `trace_pipe`.
pub fn find_tracefs() -> Option<PathBuf> {
    TRACEFS_PLACES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("trace_pipe").exists())
}

/// How to size the per-CPU trace buffer for a live replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// Leave it as it is.
    Keep,
    /// At least this many KiB: a busy device overflows the default (about 1.4 MiB).
    AtLeast(u64),
    /// Exactly this many KiB.
    Exactly(u64),
}

/// The per-CPU buffer a live replay asks for unless told otherwise, in KiB.
pub const BUFFER_KB: u64 = 8192;

/// A tracefs directory set up for a live replay; restores what it changed when dropped.
pub struct Tracefs {
    root: PathBuf,
    /// Each file changed, with its content before, in the order to restore them.
    saved: Vec<(PathBuf, String)>,
    restored: bool,
}

impl Tracefs {
    /// Save the settings of the tracefs at `root`, then turn the `dma` events, the `irq-info`
    /// option and tracing on, and size the per-CPU buffer as `buffer` says. On an error, what
    /// was already changed is restored.
    pub fn prepare(root: &Path, buffer: Buffer) -> io::Result<Tracefs> {
        let dma = root.join("events/dma");
        if !root.join("trace_pipe").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no trace_pipe: not a tracefs directory", root.display()),
            ));
        }
        if !dma.join("enable").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: this kernel has no dma events (they came with Linux 6.12)",
                    dma.display()
                ),
            ));
        }
        let mut t = Tracefs {
            root: root.to_path_buf(),
            saved: Vec::new(),
            restored: false,
        };
        // Everything is read before anything is written, so a failed write restores all.
        t.save("events/dma/enable")?;
        let mut events: Vec<PathBuf> = std::fs::read_dir(&dma)?
            .filter_map(|e| e.ok().map(|e| e.path().join("enable")))
            .filter(|p| p.is_file())
            .collect();
        events.sort();
        for e in events {
            let rel = e.strip_prefix(root).map(Path::to_path_buf).unwrap_or(e);
            t.save(&rel.to_string_lossy())?;
        }
        let irq_info = root.join("options/irq-info").exists();
        if irq_info {
            t.save("options/irq-info")?;
        }
        let buffer_kb = match buffer {
            Buffer::Keep => None,
            Buffer::Exactly(kb) => Some(kb),
            Buffer::AtLeast(kb) => {
                let now = std::fs::read_to_string(root.join("buffer_size_kb"))
                    .ok()
                    .and_then(|text| restorable(Path::new("buffer_size_kb"), &text))
                    .and_then(|n| n.parse::<u64>().ok());
                now.is_some_and(|now| now < kb).then_some(kb)
            }
        };
        if buffer_kb.is_some() {
            t.save("buffer_size_kb")?;
        }
        t.save("tracing_on")?;
        t.write("events/dma/enable", "1")?;
        if irq_info {
            t.write("options/irq-info", "1")?;
        }
        if let Some(kb) = buffer_kb {
            t.write("buffer_size_kb", &kb.to_string())?;
        }
        t.write("tracing_on", "1")?;
        Ok(t)
    }

    fn save(&mut self, rel: &str) -> io::Result<()> {
        let path = self.root.join(rel);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        self.saved.push((path, text));
        Ok(())
    }

    fn write(&self, rel: &str, value: &str) -> io::Result<()> {
        let path = self.root.join(rel);
        std::fs::write(&path, value)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its `trace_pipe`.
    pub fn pipe(&self) -> PathBuf {
        self.root.join("trace_pipe")
    }

    /// How many CPUs have a buffer (`per_cpu/cpuN`), when tracefs says.
    pub fn cpus(&self) -> Option<u32> {
        let n = std::fs::read_dir(self.root.join("per_cpu"))
            .ok()?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("cpu"))
            .count();
        u32::try_from(n).ok().filter(|&n| n > 0)
    }

    /// Write back every setting as it was found. Every file is tried; the first error is
    /// returned.
    pub fn restore(&mut self) -> io::Result<()> {
        self.restored = true;
        let mut first_error = None;
        for (path, before) in &self.saved {
            let Some(value) = restorable(path, before) else {
                continue;
            };
            if let Err(e) = std::fs::write(path, value) {
                first_error.get_or_insert(io::Error::new(
                    e.kind(),
                    format!("restoring {}: {e}", path.display()),
                ));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if !self.restored {
            let _ = self.restore();
        }
    }
}

/// What to write to restore `path`, which read `before`. The group's `enable` reads `X` when
/// its events differ: then each event's own `enable` (restored after it) says. A buffer size
/// reads `7 (expanded: 1408)` before first use: 1408 is the size set.
fn restorable(path: &Path, before: &str) -> Option<String> {
    let before = before.trim();
    if path.ends_with("buffer_size_kb") {
        if let Some(i) = before.find("expanded:") {
            return Some(
                before[i + 9..]
                    .trim()
                    .trim_end_matches(')')
                    .trim()
                    .to_string(),
            );
        }
        return before.split_whitespace().next().map(str::to_string);
    }
    // `0`, `1`, or `0*`/`1*` (soft-disabled): the digit.
    before
        .chars()
        .next()
        .filter(|c| *c == '0' || *c == '1')
        .map(String::from)
}

/// When a live replay stops (besides the end of the stream).
pub struct Stop<'a> {
    /// Set (by a signal handler) to stop.
    pub requested: &'a AtomicBool,
    /// A deadline.
    pub at: Option<Instant>,
}

/// Replay a stream as it comes: `open` (run on a reader thread of its own, since opening a
/// FIFO blocks until a writer comes) gives the stream, read until it ends, `stop` asks, or an
/// error. `cpus` is the number of CPUs when known. Each violation is passed to `on_violation`
/// as soon as it is final: at once for most, and for those lost events could explain, when the
/// stream has been quiet for a moment (caught up: no marker can come for what was read).
///
/// A reader still blocked in a quiet pipe when the replay stops is left to the end of the
/// process.
pub fn replay_live<R: Read + 'static>(
    open: impl FnOnce() -> io::Result<R> + Send + 'static,
    options: TraceOptions,
    cpus: Option<u32>,
    stop: &Stop<'_>,
    mut on_violation: impl FnMut(&Violation),
) -> Result<TraceReplay, TraceError> {
    let mut replay = Replayer::new(options)?;
    if let Some(n) = cpus {
        replay.declare_cpus(n);
    }
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(64);
    std::thread::Builder::new()
        .name("dmacheck-trace-pipe".into())
        .spawn(move || {
            let mut input = match open() {
                Ok(input) => input,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = vec![0u8; 1 << 16];
                match input.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })
        .map_err(TraceError::Io)?;
    let mut lines = LineReader::new(replay.max_line());
    let mut shown = 0usize;
    let mut reported = 0u64;
    let mut show_new = |replay: &Replayer| {
        let now = replay.violations_reported();
        if now == reported {
            return;
        }
        reported = now;
        let kept = replay.violations();
        for v in kept.iter().skip(shown) {
            on_violation(v);
        }
        shown = kept.len();
    };
    loop {
        if stop.requested.load(Ordering::Relaxed) || stop.at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        let wait = stop.at.map_or(QUIET, |t| {
            QUIET.min(t.saturating_duration_since(Instant::now()))
        });
        match rx.recv_timeout(wait) {
            Ok(Ok(chunk)) => {
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let (used, _) = lines.feed(rest, &mut replay);
                    rest = &rest[used..];
                }
            }
            Ok(Err(error)) => {
                lines.finish(&mut replay);
                replay.caught_up();
                show_new(&replay);
                if replay.lines() == 0 {
                    return Err(TraceError::Io(error));
                }
                return Err(TraceError::Incomplete {
                    replay: Box::new(replay.finish()),
                    error,
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => replay.caught_up(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        show_new(&replay);
    }
    lines.finish(&mut replay);
    replay.caught_up();
    show_new(&replay);
    Ok(replay.finish())
}
