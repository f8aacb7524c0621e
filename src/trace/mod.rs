//! Checking real kernel traces: Linux `dma:*` tracepoint logs replayed through the rules.
//!
//! Since Linux 6.12 the kernel can trace every DMA API call (`include/trace/events/dma.h`) on
//! a production kernel, without `CONFIG_DMA_API_DEBUG`. This module reads such a trace and
//! replays it into a [`Checker`] of its own, through the same engine and rules as live calls:
//! a checker for real drivers on real machines.
//!
//! **Input.** The text of `/sys/kernel/tracing/trace` or `trace_pipe`, or the output of
//! `trace-cmd report` (with or without `-l`) or `perf script`, plain or gzip-compressed, from a
//! file or any reader. Kernels 6.12 to current: `dma_map_page` or `dma_map_phys` (6.18), `dir` on
//! allocations or not (6.12), sg events with or without `nents=`/`ents=` counts.
//!
//! **Robustness.** Nothing in a trace is fatal. Malformed lines are counted and listed with
//! their line numbers; events of other subsystems are skipped and counted; unknown `dma_*`
//! events are counted. A trace that starts mid-run releases mappings it never saw made: such
//! findings are *unknown to the trace*, a quiet category, not violations (unless
//! [`TraceOptions::from_start`] says the trace covers the driver from its load).
//! `CPU:N [LOST M EVENTS]` markers make the state uncertain: live mappings are forgotten, and
//! findings the lost events could explain are set aside as *uncertain* (see the `state`
//! module's documentation for the exact rule). Kernel traces do not show
//! `dma_mapping_error`, so `unmap-unchecked` is allowed in replays.
//!
//! **Output.** Each event's [`Site`](crate::Site) is its trace line
//! ([`Site::in_trace`](crate::Site::in_trace), [`TraceLine`]), so every report format — text,
//! JSON, SARIF, JUnit — names the trace's lines: a violation at the line of the faulty event,
//! the line of the map that made the entry ("mapped at"), and any related line (the first
//! unmap of a double unmap). [`TraceReplay::report`] is the usual [`Report`], violations
//! ordered by device and line, with the mappings live at the end grouped by device, kind and
//! size; [`TraceSummary`] says what was skipped, set aside or not decidable, per device.
//!
//! ```
//! use dmacheck::trace::{self, TraceOptions};
//!
//! let text = "\
//! # tracer: nop
//!       ip-410 [000] .....  17.3: dma_alloc: 0000:00:03.0 dir=BIDIRECTIONAL dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 flags=GFP_KERNEL attrs=
//!       ip-410 [000] d....  17.4: dma_free: 0000:00:03.0 dir=BIDIRECTIONAL dma_addr=7149000 size=4096 virt_addr=00000000fa9c77d7 attrs=
//! ";
//! let replay = trace::replay_bytes(text.as_bytes(), TraceOptions::named("e1000.trace")).unwrap();
//! let v = replay.violations();
//! assert_eq!(v[0].rule.id, "free-coherent-irqs-disabled");
//! assert_eq!(v[0].site.to_string(), "e1000.trace:3");
//! assert_eq!(replay.summary.dma_events, 2);
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::checker::Checker;
use crate::config::ConfigError;
use crate::report::{LeakKind, LeakReport, LeakSite, Report, ReportSite, Violation};
use crate::rules::{self, Level};
use crate::sync::process::Mutex;

pub mod live;
mod parse;
mod replay;
mod state;
mod summary;
pub mod sysfs;

pub use crate::site::TraceLine;
pub use parse::{
    Array, DmaCall, DmaEvent, Header, Line, ParseError, Parsed, RawEvent, parse_dma, parse_event,
    parse_line,
};
pub use replay::Replayer;
pub use summary::{
    Category, DeviceSummary, Example, LeakGroup, Loss, MalformedLine, SkippedUnmaps, TraceSummary,
};

/// How to replay a trace.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// The trace's name in reports (its path; `-` for standard input).
    pub name: String,
    /// The trace covers the driver from its start (tracing was on before it was loaded): a
    /// release or sync of an address the trace never saw mapped is a violation
    /// (`unmap-unknown`, `sync-unknown`), not "unknown to the trace". Ignored when the header
    /// shows the ring buffer overwrote the trace's beginning.
    pub from_start: bool,
    /// Replay only the events of this device.
    pub device: Option<String>,
    /// Report the mappings live at the end of the trace as leaks (default true).
    pub leaks: bool,
    /// Take rule levels from `DMACHECK` (default false; the `dmacheck` command sets it).
    pub read_env: bool,
    /// More `DMACHECK` directives, applied last (`cacheline-overlap=allow`).
    pub spec: Option<String>,
    /// The drivers of devices, by device name (`--driver 0000:00:03.0=e1000`); they come
    /// before [`TraceOptions::sysfs`].
    pub drivers: Vec<(String, String)>,
    /// A `/sys/bus` tree (or a copy of one) to read the drivers of devices from (see
    /// [`sysfs::driver_of`]). Drivers named nowhere are `unknown`.
    pub sysfs: Option<std::path::PathBuf>,
    /// The longest line read, in bytes (default 1 MiB): a longer line is malformed, and only
    /// its beginning is kept, so a file without newlines cannot fill the memory.
    pub max_line: usize,
}

/// The default [`TraceOptions::max_line`].
pub const MAX_LINE: usize = 1 << 20;

/// How to capture a trace dmacheck reads, for messages.
pub const CAPTURE_HINT: &str = "capture one with `echo 1 > /sys/kernel/tracing/events/dma/enable` \
then `cat /sys/kernel/tracing/trace`, or `trace-cmd record -e dma` then `trace-cmd report`";

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            name: "-".into(),
            from_start: false,
            device: None,
            leaks: true,
            read_env: false,
            spec: None,
            drivers: Vec::new(),
            sysfs: None,
            max_line: MAX_LINE,
        }
    }
}

impl TraceOptions {
    /// The default options, for a trace named `name`.
    pub fn named(name: &str) -> TraceOptions {
        TraceOptions {
            name: name.into(),
            ..TraceOptions::default()
        }
    }
}

/// Why a trace could not be replayed, or not to its end: it could not be read, the options are
/// wrong, or it is no trace of the `dma` events.
pub enum TraceError {
    /// Reading failed before anything was read.
    Io(io::Error),
    /// Reading failed part way (a truncated or corrupt gzip file, an I/O error): what was read
    /// before is replayed.
    Incomplete {
        /// The replay of what could be read.
        replay: Box<TraceReplay>,
        /// Why reading stopped.
        error: io::Error,
    },
    /// The input has no `dma` event at all: empty, binary, or a trace of other events (see
    /// [`TraceReplay::is_dma_trace`]).
    NotADmaTrace(Box<TraceReplay>),
    /// [`TraceOptions::spec`] is not valid `DMACHECK` syntax.
    Config(ConfigError),
}

impl fmt::Debug for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceError({self})")
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "{e}"),
            TraceError::Incomplete { replay, error } => write!(
                f,
                "{}: reading stopped after {} lines: {error}; the report covers only those",
                replay.summary.source, replay.summary.lines
            ),
            TraceError::NotADmaTrace(replay) => f.write_str(&replay.not_a_dma_trace()),
            TraceError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<io::Error> for TraceError {
    fn from(e: io::Error) -> Self {
        TraceError::Io(e)
    }
}

impl From<ConfigError> for TraceError {
    fn from(e: ConfigError) -> Self {
        TraceError::Config(e)
    }
}

/// The result of a replay: the checker the events went into, and what the replay saw.
pub struct TraceReplay {
    /// The replay's checker: its violations, live entries and counters.
    pub checker: Checker,
    /// What the replay saw, skipped and could not know.
    pub summary: TraceSummary,
    leaks: bool,
    calls: replay::MapCalls,
    file: &'static str,
}

impl TraceReplay {
    fn new(
        checker: Checker,
        mut summary: TraceSummary,
        skipping: &[crate::types::DeviceId],
        leaks: bool,
        calls: replay::MapCalls,
        file: &'static str,
    ) -> TraceReplay {
        if leaks {
            summary.leaks = leak_groups(&checker, skipping);
        }
        TraceReplay {
            checker,
            summary,
            leaks,
            calls,
            file,
        }
    }

    /// The violations reported, ordered by device and trace line, at the level each rule has.
    pub fn violations(&self) -> Vec<Violation> {
        let mut v = self.checker.violations();
        for x in &mut v {
            dress(x, &self.calls);
        }
        v.sort_by(|a, b| {
            let line = |v: &Violation| v.site.trace().map_or(0, |t| t.line);
            a.device.cmp(&b.device).then(line(a).cmp(&line(b)))
        });
        v
    }

    /// Whether the input was a trace of the `dma` events: it had at least one (of any device,
    /// before the device filter). An empty file, binary data, a file of only malformed lines or
    /// a trace of other events is not, and must not pass as a clean trace.
    pub fn is_dma_trace(&self) -> bool {
        self.summary.dma_events + self.summary.filtered_events > 0
    }

    /// What was read, for a message saying the input is no trace of the `dma` events.
    pub fn not_a_dma_trace(&self) -> String {
        let s = &self.summary;
        let mut what = vec![format!("{} lines", s.lines)];
        if s.malformed > 0 {
            what.push(format!("{} not trace lines", s.malformed));
        }
        if s.other_events > 0 {
            let names: Vec<&str> = s.other_names.keys().map(String::as_str).take(5).collect();
            what.push(format!(
                "{} events of other subsystems ({})",
                s.other_events,
                names.join(", ")
            ));
        }
        if !s.unknown_dma_events.is_empty() {
            let names: Vec<&str> = s.unknown_dma_events.keys().map(String::as_str).collect();
            what.push(format!("unknown dma events ({})", names.join(", ")));
        }
        let first = s
            .malformed_lines
            .first()
            .map(|m| format!("; line {}: {}: {}", m.line, m.reason, m.text))
            .unwrap_or_default();
        format!(
            "{}: not a trace of the dma:* events: read {}, no dma event{first}; {CAPTURE_HINT}",
            s.source,
            what.join(", ")
        )
    }

    /// `Ok(self)` for a trace of the `dma` events, [`TraceError::NotADmaTrace`] otherwise.
    pub fn require_dma_events(self) -> Result<TraceReplay, TraceError> {
        if self.is_dma_trace() {
            Ok(self)
        } else {
            Err(TraceError::NotADmaTrace(Box::new(self)))
        }
    }

    /// The ids of the rules that fired, in the order of [`TraceReplay::violations`].
    pub fn rule_ids(&self) -> Vec<&'static str> {
        self.violations().iter().map(|v| v.rule.id).collect()
    }

    /// Everything found, as a [`Report`] in any format: violations ordered by device and line,
    /// mappings live at the end grouped by device, kind and size (unless leaks are off), levels
    /// as configured.
    pub fn report(&self) -> Report {
        let mut r = self.checker.report();
        // The replay's checker is the command's, not a test's: no test case stands for it.
        for source in &mut r.sources {
            source.test = None;
        }
        r.violations = self
            .violations()
            .iter()
            .map(crate::report::ReportViolation::from)
            .collect();
        r.leaks = if self.leaks {
            self.leak_report()
        } else {
            LeakReport::default()
        };
        r
    }

    /// The mappings live at the end, grouped by device, kind and size, each group at the line
    /// of its oldest entry.
    fn leak_report(&self) -> LeakReport {
        let level = self.checker.config().level(&rules::LEAK);
        if level == Level::Allow {
            return LeakReport::default();
        }
        LeakReport::from_sites(self.summary.leaks.iter().map(|g| {
            let call = self.calls.name_for(g.map_kind, g.mmio);
            LeakSite {
                site: ReportSite {
                    file: self.file.to_string(),
                    line: u32::try_from(g.first_line).unwrap_or(u32::MAX),
                    column: 0,
                    stack: Vec::new(),
                    first_user_frame: None,
                    stack_is_exact: true,
                },
                call: call.to_string(),
                level,
                entries: g.entries,
                bytes: g.entries * g.size,
                live_entries: g.entries,
                kinds: vec![LeakKind {
                    kind: g.kind.clone(),
                    entries: g.entries,
                    bytes: g.entries * g.size,
                }],
                devices: vec![g.device.clone()],
            }
        }))
    }

    /// The report as text, then the summary: what `dmacheck trace` prints.
    pub fn text(&self, color: bool) -> String {
        let mut s = crate::report::Format::Text.render(&self.report(), color);
        s.push('\n');
        s.push_str(&self.summary.to_text());
        s
    }
}

/// A violation of the replay's checker as the trace shows it: the mapping call named as the
/// trace names it.
fn dress(v: &mut Violation, calls: &replay::MapCalls) {
    v.mapped_by = v.mapped_by.map(|call| calls.rename(call));
}

/// Group the live entries by device, kind and size; the single mappings of devices that skip
/// their unmaps (`skipping`) are no leaks.
fn leak_groups(checker: &Checker, skipping: &[crate::types::DeviceId]) -> Vec<LeakGroup> {
    let mut groups: Vec<LeakGroup> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for e in checker.live_entries() {
        if skipping.contains(&e.device) && replay::skipped_unmap(&e) {
            continue;
        }
        let line = e.site.trace().map_or(0, |t| t.line);
        let mmio = e.attrs.contains(crate::DmaAttrs::MMIO);
        let key = (e.device, e.kind.to_string(), e.size, mmio);
        match index.get(&key) {
            Some(&i) => {
                let g: &mut LeakGroup = &mut groups[i];
                g.entries += 1;
                g.first_line = g.first_line.min(line);
                // Keep the oldest few lines, in order.
                let at = g.lines.partition_point(|&l| l < line);
                if at < summary::LEAK_LINES {
                    g.lines.insert(at, line);
                    g.lines.truncate(summary::LEAK_LINES);
                }
            }
            None => {
                index.insert(key, groups.len());
                groups.push(LeakGroup {
                    device: checker.device_name(e.device).to_string(),
                    map_kind: e.kind,
                    mmio,
                    kind: e.kind.to_string(),
                    size: e.size,
                    entries: 1,
                    first_line: line,
                    lines: vec![line],
                });
            }
        }
    }
    groups.sort_by(|a, b| {
        a.device
            .cmp(&b.device)
            .then((b.entries * b.size).cmp(&(a.entries * a.size)))
            .then(a.first_line.cmp(&b.first_line))
    });
    groups
}

/// The trace's name, kept for the life of the process: sites name their trace with a
/// `&'static str`, and a process replays few traces, so each distinct name is stored once.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock();
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(n);
    n
}

/// Replay a trace held in memory.
pub fn replay_bytes(trace: &[u8], options: TraceOptions) -> Result<TraceReplay, TraceError> {
    let mut replay = Replayer::new(options)?;
    // One search over the whole text: a search per line would pay memchr's setup each time.
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', trace) {
        replay.line(&trace[start..end]);
        start = end + 1;
    }
    if start < trace.len() {
        replay.line(&trace[start..]);
    }
    Ok(replay.finish())
}

/// Replay a trace from a reader, plain or gzip (told by its first bytes). `progress` is
/// called about every 65536 lines (after the read that passes each multiple) with the number
/// of lines read. Lines longer than
/// [`TraceOptions::max_line`] are malformed, and never buffered whole. A read error part way
/// (a truncated gzip file) gives [`TraceError::Incomplete`] with the replay of what was read.
///
/// Gzip input is decompressed on a second thread, a few chunks ahead of the replay, so on two
/// cores the two costs overlap instead of adding up (hence `Send`).
pub fn replay_reader(
    reader: impl Read + Send,
    options: TraceOptions,
    progress: impl FnMut(u64),
) -> Result<TraceReplay, TraceError> {
    let replay = Replayer::new(options)?;
    match decompressed(reader)? {
        Input::Plain(input) => replay_chunks(replay, input, progress),
        Input::Gzip(decoder) => std::thread::scope(|scope| {
            let (chunks, receiver) = std::sync::mpsc::sync_channel(GZIP_CHUNKS_AHEAD);
            let (recycle, spent) = std::sync::mpsc::channel();
            scope.spawn(move || decompress_ahead(decoder, chunks, spent));
            // `receiver` is dropped when this returns (or unwinds), which ends the decoder's
            // thread at its next send: the scope never waits on a full channel.
            let input = Prefetched {
                receiver,
                recycle,
                chunk: Vec::new(),
                used: 0,
            };
            replay_chunks(replay, input, progress)
        }),
    }
}

/// Replay every line of `input`, chunk by chunk.
fn replay_chunks(
    mut replay: Replayer,
    mut input: impl BufRead,
    mut progress: impl FnMut(u64),
) -> Result<TraceReplay, TraceError> {
    let mut lines = LineReader::new(replay.max_line());
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                lines.finish(&mut replay);
                return Err(TraceError::Incomplete {
                    replay: Box::new(replay.finish()),
                    error,
                });
            }
        };
        if chunk.is_empty() {
            break;
        }
        // Every line the chunk holds, before the next read.
        let before = replay.lines();
        let mut used = 0;
        while used < chunk.len() {
            used += lines.feed(&chunk[used..], &mut replay).0;
        }
        let len = chunk.len();
        input.consume(len);
        if replay.lines() / 65536 > before / 65536 {
            progress(replay.lines());
        }
    }
    lines.finish(&mut replay);
    Ok(replay.finish())
}

/// Decompressed bytes handed from the decoder's thread to the replay at a time.
const GZIP_CHUNK: usize = 1 << 18;
/// Chunks the decoder may run ahead of the replay: memory stays at a few chunks.
const GZIP_CHUNKS_AHEAD: usize = 2;

/// The decoder's thread: fill chunks from `decoder` and send them in order, an empty one at the
/// end, or the read error after the bytes read before it. Stops when the replay hangs up.
fn decompress_ahead(
    mut decoder: impl Read,
    chunks: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    spent: std::sync::mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let mut chunk = spent.try_recv().unwrap_or_default();
        chunk.clear();
        chunk.resize(GZIP_CHUNK, 0);
        let mut filled = 0;
        let mut failed = None;
        while filled < chunk.len() {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        chunk.truncate(filled);
        let end = filled == 0;
        if filled > 0 && chunks.send(Ok(chunk)).is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = chunks.send(Err(e));
            return;
        }
        if end {
            let _ = chunks.send(Ok(Vec::new()));
            return;
        }
    }
}

/// The replay's side of the decoder's thread: its chunks as a [`BufRead`], each spent chunk
/// sent back for reuse.
struct Prefetched {
    receiver: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    chunk: Vec<u8>,
    used: usize,
}

impl Read for Prefetched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Prefetched {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.used == self.chunk.len() {
            let next = match self.receiver.recv() {
                Ok(next) => next?,
                // The decoder's thread is gone after its end or error, or it panicked, which
                // the scope raises again when the replay returns.
                Err(_) => Vec::new(),
            };
            let spent = std::mem::replace(&mut self.chunk, next);
            let _ = self.recycle.send(spent);
            self.used = 0;
        }
        Ok(&self.chunk[self.used..])
    }

    fn consume(&mut self, amount: usize) {
        self.used = (self.used + amount).min(self.chunk.len());
    }
}

/// Splits a byte stream into lines for a [`Replayer`], buffering at most the longest line
/// allowed: past it, a line is reported by its beginning and the rest is skipped.
pub struct LineReader {
    partial: Vec<u8>,
    max: usize,
    /// Inside a line already reported as too long: skip to its end.
    skipping: bool,
}

impl LineReader {
    /// A reader of lines of at most `max` bytes.
    pub fn new(max: usize) -> LineReader {
        LineReader {
            partial: Vec::new(),
            max,
            skipping: false,
        }
    }

    /// Replay the lines `chunk` completes, up to and including the first newline (all of it
    /// when it has none). Returns how many bytes were used, and whether a line ended.
    pub fn feed(&mut self, chunk: &[u8], replay: &mut Replayer) -> (usize, bool) {
        let Some(i) = memchr::memchr(b'\n', chunk) else {
            if !self.skipping {
                if self.partial.len() + chunk.len() > self.max {
                    self.partial
                        .extend_from_slice(&chunk[..KEPT.min(chunk.len())]);
                    replay.overlong_line(&self.partial);
                    self.partial.clear();
                    self.skipping = true;
                } else {
                    self.partial.extend_from_slice(chunk);
                }
            }
            return (chunk.len(), false);
        };
        if self.skipping {
            self.skipping = false;
        } else if self.partial.is_empty() {
            replay.line(&chunk[..i]);
        } else if self.partial.len() + i > self.max {
            self.partial.extend_from_slice(&chunk[..KEPT.min(i)]);
            replay.overlong_line(&self.partial);
        } else {
            self.partial.extend_from_slice(&chunk[..i]);
            replay.line(&self.partial);
        }
        self.partial.clear();
        (i + 1, true)
    }

    /// The end of the input: replay a last line without a newline.
    pub fn finish(&mut self, replay: &mut Replayer) {
        if !self.partial.is_empty() {
            replay.line(&self.partial);
            self.partial.clear();
        }
        self.skipping = false;
    }
}

/// How much of an overlong line's beginning is kept for its report.
const KEPT: usize = 256;

/// Replay the trace in file `path` (`-`: standard input), plain or gzip. `progress` is called
/// every 65536 lines with the bytes of the file read so far and the file's size (`None` for
/// standard input). The trace's name in reports is `options.name`.
pub fn replay_path(
    path: &Path,
    options: TraceOptions,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<TraceReplay, TraceError> {
    let read = Arc::new(AtomicU64::new(0));
    let so_far = |read: &AtomicU64| read.load(Ordering::Relaxed);
    if path == Path::new("-") {
        let counting = Counting {
            inner: io::stdin(),
            read: read.clone(),
        };
        return replay_reader(counting, options, |_| progress(so_far(&read), None));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let size = file.metadata().ok().map(|m| m.len());
    let counting = Counting {
        inner: file,
        read: read.clone(),
    };
    replay_reader(counting, options, |_| progress(so_far(&read), size))
}

/// A reader that counts the bytes read through it (on the decoder's thread for gzip input).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A reader's text: plain, buffered, or a gzip decoder to run on its own thread.
enum Input<R> {
    Plain(BufReader<R>),
    Gzip(flate2::bufread::MultiGzDecoder<BufReader<R>>),
}

/// The reader's text: through a gzip decoder when it starts with gzip's magic bytes.
fn decompressed<R: Read>(mut reader: R) -> io::Result<Input<io::Chain<io::Cursor<Vec<u8>>, R>>> {
    const CAPACITY: usize = 1 << 18;
    // Read the magic bytes whole, even from a pipe that gives one byte at a time.
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let gzip = head[..got] == [0x1f, 0x8b];
    let whole = io::Cursor::new(head[..got].to_vec()).chain(reader);
    let buffered = BufReader::with_capacity(CAPACITY, whole);
    Ok(if gzip {
        Input::Gzip(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Input::Plain(buffered)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A correct trace of `pairs` map-unmap pairs, over many of the decoder's chunks.
    fn trace_text(pairs: u64) -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..pairs {
            let (us, addr) = (10 + 2 * i, 0x1000_0000 + i * 0x1000);
            writeln!(
                text,
                "              ip-410     [000] .....    10.{us:06}: dma_map_page: 0000:00:03.0 \
                 dir=FROM_DEVICE dma_addr={addr:x} size=1522 phys_addr={addr:x} attrs="
            )
            .unwrap();
            writeln!(
                text,
                "              ip-410     [000] .....    10.{:06}: dma_unmap_page: 0000:00:03.0 \
                 dir=FROM_DEVICE dma_addr={addr:x} size=1522 attrs=",
                us + 1
            )
            .unwrap();
        }
        text
    }

    fn gzipped(text: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        gz.finish().unwrap()
    }

    /// What one thread decodes of `gz` before its error: the text the replay must see.
    fn decodable_prefix(gz: &[u8]) -> Vec<u8> {
        let mut decoder = flate2::bufread::MultiGzDecoder::new(BufReader::new(gz));
        let mut text = Vec::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            match decoder.read(&mut buf) {
                Ok(0) => panic!("the damaged gzip decoded without error"),
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(_) => return text,
            }
        }
    }

    /// Replays damaged gzip `gz`: the replay of what it could read, like the plain prefix.
    fn assert_replays_the_readable_prefix(gz: &[u8]) {
        let prefix = replay_bytes(&decodable_prefix(gz), TraceOptions::default()).unwrap();
        match replay_reader(gz, TraceOptions::default(), |_| {}) {
            Err(TraceError::Incomplete { replay, .. }) => {
                assert!(replay.summary.lines > 0);
                assert_eq!(replay.summary.lines, prefix.summary.lines);
                assert_eq!(replay.summary.dma_events, prefix.summary.dma_events);
                assert_eq!(replay.rule_ids(), prefix.rule_ids());
            }
            Err(e) => panic!("not Incomplete: {e}"),
            Ok(r) => panic!("a damaged gzip passed: {} lines", r.summary.lines),
        }
    }

    #[test]
    fn gzip_replays_like_plain_text_across_many_chunks() {
        let mut text = trace_text(20_000);
        // A size mismatch on the last line, so the last chunk is checked too.
        let last = text[..text.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
        let tail = String::from_utf8(text[last..].to_vec()).unwrap();
        text.truncate(last);
        text.extend_from_slice(tail.replace("size=1522", "size=1514").as_bytes());
        assert!(text.len() > 8 * GZIP_CHUNK);
        let plain = replay_bytes(&text, TraceOptions::default()).unwrap();
        let gz = replay_reader(&gzipped(&text)[..], TraceOptions::default(), |_| {}).unwrap();
        assert_eq!(gz.summary.lines, 40_000);
        assert_eq!(gz.summary.lines, plain.summary.lines);
        assert_eq!(gz.summary.dma_events, plain.summary.dma_events);
        assert_eq!(gz.rule_ids(), vec!["unmap-size-mismatch"]);
        assert_eq!(gz.violations()[0].site.to_string(), "-:40000");
        assert_eq!(gz.rule_ids(), plain.rule_ids());
    }

    #[test]
    fn a_truncated_gzip_replays_what_it_could_read() {
        let gz = gzipped(&trace_text(20_000));
        assert_replays_the_readable_prefix(&gz[..gz.len() / 2]);
    }

    #[test]
    fn a_gzip_with_a_corrupt_middle_replays_what_it_could_read() {
        let mut gz = gzipped(&trace_text(20_000));
        let middle = gz.len() / 2;
        for b in &mut gz[middle..middle + 64] {
            *b ^= 0x5a;
        }
        assert_replays_the_readable_prefix(&gz);
    }

    #[test]
    fn a_panic_in_the_replay_ends_the_decoder_thread() {
        // Progress comes after 65536 lines; the panic must not leave the scope waiting on a
        // decoder blocked on its full channel.
        let gz = gzipped(&trace_text(60_000));
        let result = std::panic::catch_unwind(|| {
            replay_reader(&gz[..], TraceOptions::default(), |_| panic!("stop"))
        });
        assert!(result.is_err());
    }
}
