//! Where a call was made: the caller's file and line (free, through `#[track_caller]`) and,
//! when enabled, a stack of return addresses, symbolized only when a report is printed.
//!
//! A [`Site`] is 8 bytes and `Copy`, so entries and events carry it for nothing: a bare
//! location is the `&'static Location` itself; a location with a stack is a pointer to an
//! interned record (one per distinct location and stack, kept for the life of the process, as
//! LeakSanitizer keeps its stack depot); a line of a replayed trace packs the trace's name (an
//! index into a small table) and the line number.
//!
//! Stacks are captured fast, in one of two ways. Where the build keeps frame pointers (see the
//! README: `RUSTFLAGS="-C force-frame-pointers=yes"`), every call's stack is walked along them,
//! about ten nanoseconds, and is exact. Without frame pointers, unwinding costs microseconds,
//! so each call site's stack is unwound once, at its first call, and reused for later calls
//! from the same site: reports mark those stacks as "first seen at this call site", since
//! another path to the same line would show the first path's frames. [`Site::capture_exact`]
//! (the `exact-stacks` directive) unwinds every call instead.
//!
//! Symbolization is slow (a debug-info lookup per address), so each return address is looked
//! up once per process, and each interned stack is symbolized once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU64;
use std::panic::Location;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::sync::{Arc, process};

/// The place a DMA API call came from: a source location, with a stack when capture is on, or
/// a line of a replayed trace. 8 bytes; copying it copies no stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Site(NonZeroU64);

/// The low two bits of a [`Site`] say what the rest is: a `&'static Location` (aligned to 8,
/// so its low bits are free), a `&'static Stacked`, or a packed trace line.
const TAG_MASK: u64 = 0b11;
const TAG_LOCATION: u64 = 0;
const TAG_STACKED: u64 = 1;
const TAG_TRACE: u64 = 2;
/// A trace line packs the trace's index in [`TRACE_NAMES`] above the tag, then the line.
const TRACE_NAME_BITS: u32 = 16;
const TRACE_LINE_SHIFT: u32 = 2 + TRACE_NAME_BITS;
/// The largest line number a trace site can hold (2^46 - 1); later lines saturate.
const TRACE_LINE_MAX: u64 = (1 << (64 - TRACE_LINE_SHIFT)) - 1;

/// A location with a stack, interned: one per distinct pair for the life of the process.
struct Stacked {
    location: &'static Location<'static>,
    stack: Stack,
}

/// A line of a recorded trace: where a replayed event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceLine {
    /// The trace's name as reports show it (its path, or `-` for standard input).
    pub file: &'static str,
    /// The line, from 1.
    pub line: u64,
}

impl Site {
    /// The site of the caller of the enclosing `#[track_caller]` function, with a stack of at
    /// most `depth` frames (none when `depth` is 0), captured the fast way (see the module
    /// documentation).
    #[track_caller]
    #[inline]
    pub fn capture(depth: usize) -> Site {
        let location = Location::caller();
        if depth == 0 {
            return foreign_caller().unwrap_or_else(|| Site::at(location));
        }
        capture_fast(location, depth)
    }

    /// Like [`Site::capture`], but unwinding the stack at every call even without frame
    /// pointers: exact, and about a thousand times slower.
    #[track_caller]
    pub fn capture_exact(depth: usize) -> Site {
        let location = Location::caller();
        if depth == 0 {
            return foreign_caller().unwrap_or_else(|| Site::at(location));
        }
        let ips = unwind(depth);
        intern(location, &ips, depth, true)
    }

    /// A site known only by its location (replayed events, tests).
    pub fn at(location: &'static Location<'static>) -> Site {
        // Exposed, so `location()` can make a reference of the address again.
        let bits = std::ptr::from_ref(location).expose_provenance() as u64;
        debug_assert_eq!(bits & TAG_MASK, 0, "locations are aligned");
        Site(NonZeroU64::new(bits | TAG_LOCATION).expect("a reference is not null"))
    }

    /// The site of an event replayed from line `line` of the trace named `file`.
    pub fn in_trace(file: &'static str, line: u64) -> Site {
        TraceSites::new(file).line(line)
    }

    /// The caller's source location, as `#[track_caller]` saw it. For a replayed trace line,
    /// a placeholder in dmacheck's own sources: [`Site::trace`] says where to look.
    pub fn location(self) -> &'static Location<'static> {
        match self.0.get() & TAG_MASK {
            TAG_LOCATION => {
                // SAFETY: a location-tagged site is made only by `Site::at` from a
                // `&'static Location`, whose address it holds unchanged.
                unsafe { &*std::ptr::with_exposed_provenance::<Location<'static>>(self.addr()) }
            }
            TAG_STACKED => self.stacked().location,
            _ => trace_placeholder(),
        }
    }

    /// The stack captured with the site, if stack capture was on.
    pub fn stack(self) -> Option<&'static Stack> {
        (self.0.get() & TAG_MASK == TAG_STACKED).then(|| &self.stacked().stack)
    }

    /// For an event replayed from a recorded trace: the trace and its line.
    pub fn trace(self) -> Option<TraceLine> {
        let bits = self.0.get();
        (bits & TAG_MASK == TAG_TRACE).then(|| TraceLine {
            file: trace_name(((bits >> 2) & ((1 << TRACE_NAME_BITS) - 1)) as usize),
            line: bits >> TRACE_LINE_SHIFT,
        })
    }

    fn addr(self) -> usize {
        (self.0.get() & !TAG_MASK) as usize
    }

    fn stacked(self) -> &'static Stacked {
        // SAFETY: a stacked-tagged site is made only by `intern`, from a `&'static Stacked`
        // leaked there and never freed; the tag bit is cleared by `addr`.
        unsafe { &*std::ptr::with_exposed_provenance::<Stacked>(self.addr()) }
    }
}

/// The location trace sites report: this function's own (there is no caller to name).
fn trace_placeholder() -> &'static Location<'static> {
    Location::caller()
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Site");
        match self.trace() {
            Some(t) => d.field("trace", &t),
            None => d.field("location", &self.location()),
        };
        if let Some(stack) = self.stack() {
            d.field("stack", &stack);
        }
        d.finish()
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = self.trace() {
            return write!(f, "{}:{}", t.file, t.line);
        }
        let location = self.location();
        write!(
            f,
            "{}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        )
    }
}

/// A site serializes as a report's [`ReportSite`]: file, line,
/// column, the symbolized stack and the index of its first user frame.
impl Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ReportSite::from(self).serialize(s)
    }
}

/// Return addresses of a call stack, innermost first, captured without symbol lookup.
pub struct Stack {
    ips: Box<[usize]>,
    /// The frames asked for: what symbolization keeps once dmacheck's own are stripped.
    depth: usize,
    exact: bool,
    resolved: process::OnceLock<Arc<[Frame]>>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("frames", &self.ips.len())
            .field("exact", &self.exact)
            .finish()
    }
}

/// One symbolized frame of a [`Stack`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    /// The demangled function name, or `??`.
    pub function: String,
    /// The source file, when debug info has it.
    pub file: Option<String>,
    /// The source line, when debug info has it.
    pub line: Option<u32>,
}

impl Stack {
    /// The raw return addresses, innermost first (dmacheck's own frames included).
    pub fn addresses(&self) -> &[usize] {
        &self.ips
    }

    /// Whether this is the stack of the very call it belongs to. `false` for a stack unwound
    /// at the first call from the same call site and reused (builds without frame pointers):
    /// another path to that call site would show the same frames.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Symbolize the stack, dropping dmacheck's and the unwinder's own frames at the top.
    pub fn resolve(&self) -> Vec<Frame> {
        self.resolved().to_vec()
    }

    /// The symbolized stack, shared: symbolized once per stack.
    pub fn resolved(&self) -> Arc<[Frame]> {
        self.resolved
            .get_or_init(|| symbolize(&self.ips, self.depth).into())
            .clone()
    }
}

/// Frames captured beyond the depth asked for, to make up for dmacheck's and the unwinder's
/// own frames, which symbolization strips.
const OWN_FRAMES_SLACK: usize = 16;

/// The same for a frame-pointer walk, which has no unwinder frames of its own (fewer frames to
/// walk and to hash on every call).
const WALKED_OWN_FRAMES_SLACK: usize = 10;

/// Return addresses, as captured.
type Ips = SmallVec<[usize; 32]>;

/// Up to `depth` frames (plus the slack) by unwinding: exact, and slow.
fn unwind(depth: usize) -> Ips {
    let mut ips = Ips::new();
    // Frames inside dmacheck and backtrace are kept here and stripped at resolution, because
    // telling them apart needs symbols, which are too slow to look up on every call.
    backtrace::trace(|frame| {
        ips.push(frame.ip() as usize);
        ips.len() < depth + OWN_FRAMES_SLACK
    });
    ips
}

/// The fast capture: walk frame pointers where the build has them, otherwise reuse the stack
/// unwound at the call site's first call.
#[inline(never)]
fn capture_fast(location: &'static Location<'static>, depth: usize) -> Site {
    if crate::frames::frame_pointers_available() {
        // On the stack, not in a vector: this runs on every call.
        let mut buf = [0usize; 64];
        let want = (depth + WALKED_OWN_FRAMES_SLACK).min(buf.len());
        let n = crate::frames::walk(&mut buf[..want]);
        if n > 0 {
            return intern(location, &buf[..n], depth, true);
        }
    }
    let key = (std::ptr::from_ref(location).addr(), depth);
    if let Some(reused) = PER_CALL_SITE_RECENT.with(|c| c.borrow().get(&key).copied()) {
        return reused.unwrap_or_else(|| intern(location, &unwind(depth), depth, true));
    }
    // A call made through dmacheck's own code (the C ABI) has one location for every caller:
    // its stack is what tells callers apart, so it is unwound every time.
    let own = is_own_source(location.file());
    let ips = unwind(depth);
    let reused = *PER_CALL_SITE
        .lock()
        .entry(key)
        .or_insert_with(|| (!own).then(|| intern(location, &ips, depth, false)));
    PER_CALL_SITE_RECENT.with(|c| remember(&mut c.borrow_mut(), key, reused));
    reused.unwrap_or_else(|| intern(location, &ips, depth, true))
}

/// Insert into a thread's cache, starting it over when it grows past a bound (a cache of
/// interned data: forgetting costs a lookup in the shared table, nothing else).
fn remember<K: Hash + Eq, V>(cache: &mut FxMap<K, V>, key: K, value: V) {
    if cache.len() >= THREAD_CACHE_AT_MOST {
        cache.clear();
    }
    cache.insert(key, value);
}

type FxMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;
/// A process-wide table, made on first use.
type Shared<T> = process::LazyLock<process::Mutex<T>>;
const THREAD_CACHE_AT_MOST: usize = 1 << 14;

/// Each call site's stack as first unwound, by location and depth (`None`: unwound at every
/// call).
static PER_CALL_SITE: Shared<FxMap<(usize, usize), Option<Site>>> =
    process::LazyLock::new(Default::default);

/// Every interned stacked site, by a hash of its location, exactness and addresses.
static INTERNED: Shared<FxMap<u64, SmallVec<[&'static Stacked; 1]>>> =
    process::LazyLock::new(Default::default);

/// The names of replayed traces: a trace site holds an index into this table.
static TRACE_NAMES: process::Mutex<Vec<&'static str>> = process::Mutex::new(Vec::new());

// Per-thread caches in front of the shared tables above, so the hot path takes no shared lock.
// They are caches of process-wide data, hence std's thread-locals even under loom.
std::thread_local! {
    /// The C caller's line of the C ABI call this thread is in (see [`with_foreign_caller`]).
    static FOREIGN_CALLER: std::cell::Cell<Option<Site>> = const { std::cell::Cell::new(None) };
}

/// Run `f` with `caller` as the site of every call it makes that captures no stack: a C ABI
/// call made where the C code said its file and line (`<dmacheck.h>`'s call-site macros).
/// Calls made by `f` through `#[track_caller]` alone would name dmacheck's own C ABI source.
#[cfg_attr(loom, allow(dead_code))] // the C ABI is left out of loom builds
pub(crate) fn with_foreign_caller<R>(caller: Option<Site>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Site>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FOREIGN_CALLER.set(self.0);
        }
    }
    let _restore = Restore(FOREIGN_CALLER.replace(caller));
    f()
}

/// The C caller of the C ABI call in progress on this thread, if it named itself.
#[inline]
fn foreign_caller() -> Option<Site> {
    FOREIGN_CALLER.get()
}

std::thread_local! {
    static PER_CALL_SITE_RECENT: RefCell<FxMap<(usize, usize), Option<Site>>> = RefCell::default();
    static INTERNED_RECENT: RefCell<FxMap<u64, &'static Stacked>> = RefCell::default();
    static TRACE_NAMES_SEEN: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// The interned site of `location` with the stack `ips`.
fn intern(location: &'static Location<'static>, ips: &[usize], depth: usize, exact: bool) -> Site {
    let mut hasher = rustc_hash::FxHasher::default();
    (std::ptr::from_ref(location).addr(), exact, depth, ips).hash(&mut hasher);
    let hash = hasher.finish();
    let same = |s: &&'static Stacked| {
        std::ptr::eq(s.location, location)
            && s.stack.exact == exact
            && s.stack.depth == depth
            && *s.stack.ips == *ips
    };
    let recent = INTERNED_RECENT.with(|c| c.borrow().get(&hash).copied());
    let stacked = match recent.filter(same) {
        Some(s) => s,
        None => {
            let mut interned = INTERNED.lock();
            let candidates = interned.entry(hash).or_default();
            let s = match candidates.iter().copied().find(same) {
                Some(s) => s,
                None => {
                    // Leaked on purpose: interned sites live as long as the process, so a
                    // `Site` can point at one without counting references.
                    let s: &'static Stacked = Box::leak(Box::new(Stacked {
                        location,
                        stack: Stack {
                            ips: ips.into(),
                            depth,
                            exact,
                            resolved: process::OnceLock::new(),
                        },
                    }));
                    candidates.push(s);
                    s
                }
            };
            drop(interned);
            INTERNED_RECENT.with(|c| remember(&mut c.borrow_mut(), hash, s));
            s
        }
    };
    let bits = std::ptr::from_ref(stacked).expose_provenance() as u64;
    Site(NonZeroU64::new(bits | TAG_STACKED).expect("the tag is not zero"))
}

/// The sites of one trace's lines: [`Site::in_trace`] with the trace's name looked up once,
/// for a replay, which makes a site per event. Also the lines of a C source file calling the
/// C ABI (a file and a line is all either has), so reports show `file:line` for both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TraceSites {
    name: u64,
}

impl TraceSites {
    /// `file` is copied the first time it is seen (a C caller's `__FILE__` need not outlive
    /// the call); a process names a bounded set of files.
    pub(crate) fn new(file: &str) -> TraceSites {
        TraceSites {
            name: trace_name_index(file),
        }
    }

    /// The site of line `line`.
    pub(crate) fn line(self, line: u64) -> Site {
        let bits = (line.min(TRACE_LINE_MAX) << TRACE_LINE_SHIFT) | (self.name << 2) | TAG_TRACE;
        Site(NonZeroU64::new(bits).expect("the tag is not zero"))
    }
}

/// The index of a trace's name in [`TRACE_NAMES`], adding it on first use.
fn trace_name_index(file: &str) -> u64 {
    let same = |n: &&'static str| std::ptr::eq(*n, file) || *n == file;
    if let Some(i) = TRACE_NAMES_SEEN.with(|c| c.borrow().iter().position(same)) {
        return i as u64;
    }
    let mut names = TRACE_NAMES.lock();
    let i = match names.iter().position(same) {
        Some(i) => i,
        None if names.len() < (1 << TRACE_NAME_BITS) => {
            names.push(Box::leak(file.into()));
            names.len() - 1
        }
        // Beyond 65536 distinct traces in one process, later ones share the last name.
        None => names.len() - 1,
    };
    TRACE_NAMES_SEEN.with(|c| c.borrow_mut().clone_from(&names));
    i as u64
}

/// The trace name at index `i` of [`TRACE_NAMES`].
/// The per-thread copy is skipped where the thread's locals are gone (a C program's exit
/// report, written by an `atexit` handler after they were destroyed).
fn trace_name(i: usize) -> &'static str {
    if let Ok(Some(name)) = TRACE_NAMES_SEEN.try_with(|c| c.borrow().get(i).copied()) {
        return name;
    }
    let names = TRACE_NAMES.lock();
    let _ = TRACE_NAMES_SEEN.try_with(|c| c.borrow_mut().clone_from(&names));
    names.get(i).copied().unwrap_or("?")
}

/// Symbols of each return address seen, looked up once per process. An address may resolve
/// to several frames (inlined calls).
static SYMBOLS: Shared<FxMap<usize, Arc<[Frame]>>> = process::LazyLock::new(Default::default);

/// The frames at one return address, from [`SYMBOLS`] or looked up (without holding the lock:
/// two threads may both look up a new address, which costs time but gives the same frames).
pub(crate) fn frames_at(ip: usize) -> Arc<[Frame]> {
    if let Some(frames) = SYMBOLS.lock().get(&ip) {
        return frames.clone();
    }
    let mut frames = Vec::new();
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        frames.push(Frame {
            function: sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "??".into()),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
        });
    });
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{ip:#x}"),
            file: None,
            line: None,
        });
    }
    SYMBOLS.lock().entry(ip).or_insert(frames.into()).clone()
}

/// Symbolize return addresses, dropping dmacheck's and the unwinder's own frames at the top.
fn symbolize(ips: &[usize], depth: usize) -> Vec<Frame> {
    let mut frames: Vec<Frame> = ips.iter().flat_map(|&ip| frames_at(ip).to_vec()).collect();
    // The capture's own frames come first: dmacheck's, mixed with the standard library's
    // helpers it called (closures, `Option::then`). Drop through the last of dmacheck's before
    // the first frame that is neither.
    let prefix = frames
        .iter()
        .position(|f| !is_own_frame(f) && !is_runtime_frame(f))
        .unwrap_or(frames.len());
    if let Some(last_own) = frames[..prefix].iter().rposition(is_own_frame) {
        frames.drain(..=last_own);
    }
    frames.truncate(depth.max(1));
    frames
}

/// Whether a frame is dmacheck's own or the unwinder's (stripped from the top of stacks). The
/// C ABI's exported functions have plain C names, so frames are also told by their source file.
fn is_own_frame(f: &Frame) -> bool {
    const OWN_SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    ["dmacheck::", "<dmacheck::", "backtrace::", "<backtrace::"]
        .iter()
        .any(|p| f.function.starts_with(p))
        || f.file
            .as_deref()
            .is_some_and(|file| file.starts_with(OWN_SOURCES))
}

/// Whether a frame belongs to the runtime rather than the code under test: the standard
/// library, the test harness, the C runtime, or an address without a symbol.
fn is_runtime_frame(f: &Frame) -> bool {
    const RUNTIME: &[&str] = &[
        "std::", "<std::", "core::", "<core::", "alloc::", "<alloc::", "test::", "<test::",
        "__rust", "_start", "__libc_", "??", "0x",
    ];
    const C_RUNTIME: &[&str] = &["clone", "clone3", "__clone", "start_thread"];
    RUNTIME.iter().any(|p| f.function.starts_with(p)) || C_RUNTIME.contains(&f.function.as_str())
}

/// The index of the first frame of the code under test (neither dmacheck's own, nor the
/// runtime's, nor that of an API crate an adapter wraps), the one a report marks: where to start reading a stack.
pub fn first_user_frame(frames: &[Frame]) -> Option<usize> {
    frames
        .iter()
        .position(|f| !is_own_frame(f) && !is_runtime_frame(f) && !is_wrapped_api_frame(f))
}

/// Whether a frame is in a DMA API crate whose calls dmacheck's adapters check (dma-api): the
/// driver's call is the frame below it.
fn is_wrapped_api_frame(f: &Frame) -> bool {
    ["dma_api::", "<dma_api::"]
        .iter()
        .any(|p| f.function.starts_with(p))
}

/// Whether `file`, a source path as `#[track_caller]` or `file!()` spell it, is one of
/// dmacheck's own library sources (a call made through the C ABI, say), so that a report
/// should rather show the first user frame of the stack.
pub(crate) fn is_own_source(file: &str) -> bool {
    let own_dir = file!().strip_suffix("site.rs").unwrap_or("src/");
    file.starts_with(own_dir)
}

/// A site as a report records it: where a call was made, and the symbolized stack when one
/// was captured.
///
/// For a call made through dmacheck's own code rather than with `#[track_caller]` from the
/// caller (the C ABI), `file` and `line` are those of the first user frame of the stack, when
/// a stack was captured and that frame has debug info. For an event replayed from a trace
/// ([`crate::trace`]), they are the trace's name and line, and `column` is 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReportSite {
    /// The source file, as the compiler spells it (relative to the workspace for local code).
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1 (0 when unknown).
    pub column: u32,
    /// The symbolized stack, innermost first, dmacheck's own frames stripped (empty when no
    /// stack was captured).
    #[serde(default)]
    pub stack: Vec<Frame>,
    /// The index in `stack` of the first frame of the code under test (not dmacheck's, not the
    /// standard library's or the runtime's): where to start reading.
    #[serde(default)]
    pub first_user_frame: Option<usize>,
    /// Whether `stack` is the stack of this very call. `false` when it was unwound at the first
    /// call from the same call site and reused (a build without frame pointers): another path
    /// to the call site would show the same frames.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub stack_is_exact: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl From<&Site> for ReportSite {
    fn from(site: &Site) -> Self {
        if let Some(t) = site.trace() {
            // A replayed event: the trace's line is where to look.
            return ReportSite {
                file: t.file.to_string(),
                line: u32::try_from(t.line).unwrap_or(u32::MAX),
                column: 0,
                stack: Vec::new(),
                first_user_frame: None,
                stack_is_exact: true,
            };
        }
        let stack: Vec<Frame> = site
            .stack()
            .map(|s| s.resolved().to_vec())
            .unwrap_or_default();
        let first_user_frame = first_user_frame(&stack);
        let location = site.location();
        let user_frame = first_user_frame
            .map(|i| &stack[i])
            .filter(|_| is_own_source(location.file()));
        let (file, line, column) = match user_frame {
            Some(Frame {
                file: Some(file),
                line: Some(line),
                ..
            }) => (file.clone(), *line, 0),
            _ => (
                location.file().to_string(),
                location.line(),
                location.column(),
            ),
        };
        ReportSite {
            file,
            line,
            column,
            stack,
            first_user_frame,
            stack_is_exact: site.stack().is_none_or(|s| s.is_exact()),
        }
    }
}

impl fmt::Display for ReportSite {
    /// `file:line:column` (or `file:line` when the column is unknown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if self.column != 0 {
            write!(f, ":{}", self.column)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn capture_exact_here() -> Site {
        Site::capture_exact(8)
    }

    #[inline(never)]
    fn capture_fast_here() -> Site {
        Site::capture(8)
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri gives each capture its own addresses")]
    fn one_stack_is_interned_and_symbolized_once() {
        // A loop whose trip count the optimizer cannot see, so both captures come from one call
        // instruction (an unrolled loop would make two call paths).
        let mut sites = Vec::new();
        for _ in 0..std::hint::black_box(2) {
            sites.push(capture_exact_here());
        }
        assert_eq!(sites[0], sites[1], "one call path, one interned site");
        let stack = sites[0].stack().expect("a stack was captured");
        assert!(stack.is_exact());
        assert!(std::ptr::eq(stack, sites[1].stack().unwrap()));
        let (a, b) = (stack.resolved(), sites[1].stack().unwrap().resolved());
        assert!(Arc::ptr_eq(&a, &b), "symbolized once");
        // (The test's own frames are dmacheck's, stripped; the harness's remain.)
        assert!(!a.is_empty());
        assert!(sites[0].location().file().ends_with("site.rs"));
    }

    #[test]
    #[cfg_attr(miri, ignore = "unwinding is not supported under Miri")]
    fn calls_through_dmacheck_own_code_are_unwound_every_time() {
        // This file is dmacheck's own source, as the C ABI's wrappers are: one location for
        // every caller, so reusing the first stack would name the wrong caller.
        let (a, b) = (capture_fast_here(), capture_fast_here());
        assert_ne!(a, b, "two callers, two stacks");
        assert!(a.stack().unwrap().is_exact());
        assert_eq!(a.location(), b.location());
        assert_eq!(Site::capture(0).stack().map(|_| ()), None);
    }

    #[test]
    fn sites_pack_into_eight_bytes_and_unpack_unchanged() {
        assert_eq!(std::mem::size_of::<Site>(), 8);
        assert_eq!(std::mem::size_of::<Option<Site>>(), 8);
        let here = Location::caller();
        let site = Site::at(here);
        assert!(std::ptr::eq(site.location(), here));
        assert!(site.stack().is_none() && site.trace().is_none());
        let traced = Site::in_trace("capture.trace", 123_456_789);
        assert_eq!(
            traced.trace(),
            Some(TraceLine {
                file: "capture.trace",
                line: 123_456_789
            })
        );
        assert_eq!(traced.to_string(), "capture.trace:123456789");
        let other = Site::in_trace("other.trace", 1);
        assert_eq!(other.trace().unwrap().file, "other.trace");
        assert_eq!(
            Site::in_trace("capture.trace", u64::MAX)
                .trace()
                .unwrap()
                .line,
            TRACE_LINE_MAX
        );
    }

    #[test]
    fn own_frames_are_stripped_and_the_runtime_is_not_a_user_frame() {
        let frame = |function: &str| Frame {
            function: function.into(),
            file: None,
            line: None,
        };
        let frames = [
            frame("core::ops::function::FnOnce::call_once"),
            frame("mydriver::rx::refill"),
            frame("std::rt::lang_start"),
        ];
        assert_eq!(first_user_frame(&frames), Some(1));
        assert_eq!(first_user_frame(&frames[2..]), None);
        assert!(is_own_frame(&frame(
            "dmacheck::api::streaming::dma_map_single"
        )));
        let exported = Frame {
            file: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/src/capi/streaming.rs").into()),
            ..frame("dma_map_single")
        };
        assert!(is_own_frame(&exported), "C ABI wrappers are dmacheck's own");
        assert!(is_own_source(file!()));
        assert!(!is_own_source("tests/reports.rs"));
    }
}
