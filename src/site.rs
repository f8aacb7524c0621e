//! Where a call was made: the caller's file and line (free, through `#[track_caller]`) and,
//! when enabled, a raw stack of return addresses, symbolized only when a report is printed.
//!
//! Symbolization is slow (a debug-info lookup per frame), so it happens once per unique stack:
//! resolved stacks are cached by their return addresses for the life of the process.

use std::fmt;
use std::panic::Location;

use serde::{Deserialize, Serialize};

use crate::sync::{Arc, process};

/// The place a DMA API call came from.
#[derive(Clone, Debug)]
pub struct Site {
    /// The caller's source location, as `#[track_caller]` sees it.
    pub location: &'static Location<'static>,
    /// The unresolved stack, if stack capture is on.
    pub stack: Option<Stack>,
    /// For an event replayed from a recorded trace (see [`crate::trace`]): the trace and its
    /// line. Reports show it instead of `location`, which is then the replayer's own.
    pub trace: Option<TraceLine>,
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
    /// most `depth` frames (none when `depth` is 0).
    #[track_caller]
    pub fn capture(depth: usize) -> Site {
        Site {
            location: Location::caller(),
            stack: Stack::capture(depth),
            trace: None,
        }
    }

    /// A site known only by its location (replayed events, tests).
    pub fn at(location: &'static Location<'static>) -> Site {
        Site {
            location,
            stack: None,
            trace: None,
        }
    }

    /// The site of an event replayed from line `line` of the trace named `file`.
    #[track_caller]
    pub fn in_trace(file: &'static str, line: u64) -> Site {
        Site {
            location: Location::caller(),
            stack: None,
            trace: Some(TraceLine { file, line }),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = self.trace {
            return write!(f, "{}:{}", t.file, t.line);
        }
        write!(
            f,
            "{}:{}:{}",
            self.location.file(),
            self.location.line(),
            self.location.column()
        )
    }
}

/// A site serializes as a report's [`ReportSite`](crate::report::ReportSite): file, line,
/// column, the symbolized stack and the index of its first user frame.
impl Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::report::ReportSite::from(self).serialize(s)
    }
}

/// Raw return addresses of a call stack, innermost first, captured without symbol lookup.
#[derive(Clone, Debug)]
pub struct Stack(Arc<[usize]>);

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
    /// Capture up to `depth` frames of the current stack; `None` when `depth` is 0.
    pub fn capture(depth: usize) -> Option<Stack> {
        if depth == 0 {
            return None;
        }
        let mut ips = Vec::with_capacity(depth + OWN_FRAMES_SLACK);
        // Frames inside dmacheck and backtrace are kept here and stripped at resolution, because
        // telling them apart needs symbols, which are too slow to look up on every call.
        backtrace::trace(|frame| {
            ips.push(frame.ip() as usize);
            ips.len() < depth + OWN_FRAMES_SLACK
        });
        Some(Stack(ips.into()))
    }

    /// The raw return addresses, innermost first.
    pub fn addresses(&self) -> &[usize] {
        &self.0
    }

    /// Symbolize the stack, dropping dmacheck's and the unwinder's own frames at the top.
    pub fn resolve(&self) -> Vec<Frame> {
        self.resolved().to_vec()
    }

    /// The symbolized stack, shared: symbolized once per unique stack and then taken from a
    /// process-wide cache keyed by the return addresses.
    pub fn resolved(&self) -> Arc<[Frame]> {
        if let Some(frames) = SYMBOLIZED.lock().get(&*self.0) {
            return frames.clone();
        }
        // Symbolize without holding the lock: two threads may both resolve a new stack, which
        // costs time but gives the same frames.
        let frames: Arc<[Frame]> = symbolize(&self.0).into();
        let mut cache = SYMBOLIZED.lock();
        if cache.len() >= SYMBOLIZED_STACKS_AT_MOST {
            cache.clear();
        }
        cache.entry(self.0.clone()).or_insert(frames).clone()
    }
}

/// Frames captured beyond the depth asked for, to make up for dmacheck's and the unwinder's
/// own frames, which symbolization strips.
const OWN_FRAMES_SLACK: usize = 8;

/// How many distinct stacks the symbolization cache holds before it starts over.
const SYMBOLIZED_STACKS_AT_MOST: usize = 1 << 16;

type SymbolCache = std::collections::HashMap<Arc<[usize]>, Arc<[Frame]>, rustc_hash::FxBuildHasher>;

static SYMBOLIZED: process::LazyLock<process::Mutex<SymbolCache>> =
    process::LazyLock::new(|| process::Mutex::new(SymbolCache::default()));

/// Symbolize return addresses, dropping dmacheck's and the unwinder's own frames at the top.
fn symbolize(ips: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for &ip in ips {
        let mut resolved = false;
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            resolved = true;
            frames.push(Frame {
                function: sym
                    .name()
                    .map(|n| format!("{n:#}"))
                    .unwrap_or_else(|| "??".into()),
                file: sym.filename().map(|p| p.display().to_string()),
                line: sym.lineno(),
            });
        });
        if !resolved {
            frames.push(Frame {
                function: format!("{ip:#x}"),
                file: None,
                line: None,
            });
        }
    }
    let first_outside = frames.iter().position(|f| !is_own_frame(f)).unwrap_or(0);
    frames.drain(..first_outside);
    frames.truncate(ips.len().saturating_sub(OWN_FRAMES_SLACK).max(1));
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
/// runtime's), the one a report marks: where to start reading a stack.
pub fn first_user_frame(frames: &[Frame]) -> Option<usize> {
    frames
        .iter()
        .position(|f| !is_own_frame(f) && !is_runtime_frame(f))
}

/// Whether `file`, a source path as `#[track_caller]` or `file!()` spell it, is one of
/// dmacheck's own library sources (a call made through the C ABI, say), so that a report
/// should rather show the first user frame of the stack.
pub(crate) fn is_own_source(file: &str) -> bool {
    let own_dir = file!().strip_suffix("site.rs").unwrap_or("src/");
    file.starts_with(own_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn capture_here() -> Stack {
        Stack::capture(8).expect("depth 8 captures")
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri gives each capture its own addresses")]
    fn one_stack_is_symbolized_once_and_shared() {
        let stacks: Vec<Stack> = (0..2).map(|_| capture_here()).collect();
        assert_eq!(stacks[0].addresses(), stacks[1].addresses());
        let (a, b) = (stacks[0].resolved(), stacks[1].resolved());
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second resolution came from the cache"
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
        assert!(is_own_frame(&frame("dmacheck::shim::dma_map_single")));
        let exported = Frame {
            file: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/src/capi/streaming.rs").into()),
            ..frame("dma_map_single")
        };
        assert!(is_own_frame(&exported), "C ABI wrappers are dmacheck's own");
        assert!(is_own_source(file!()));
        assert!(!is_own_source("tests/reports.rs"));
    }
}
