//! Where a call was made: the caller's file and line (free, through `#[track_caller]`) and,
//! when enabled, a raw stack of return addresses, symbolized only when a report is printed.

use std::fmt;
use std::panic::Location;

use serde::Serialize;

use crate::sync::Arc;

/// The place a DMA API call came from.
#[derive(Clone, Debug)]
pub struct Site {
    /// The caller's source location, as `#[track_caller]` sees it.
    pub location: &'static Location<'static>,
    /// The unresolved stack, if stack capture is on.
    pub stack: Option<Stack>,
}

impl Site {
    /// The site of the caller of the enclosing `#[track_caller]` function, with a stack of at
    /// most `depth` frames (none when `depth` is 0).
    #[track_caller]
    pub fn capture(depth: usize) -> Site {
        Site {
            location: Location::caller(),
            stack: Stack::capture(depth),
        }
    }

    /// A site known only by its location (replayed events, tests).
    pub fn at(location: &'static Location<'static>) -> Site {
        Site {
            location,
            stack: None,
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.location.file(),
            self.location.line(),
            self.location.column()
        )
    }
}

impl Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Site", 4)?;
        st.serialize_field("file", self.location.file())?;
        st.serialize_field("line", &self.location.line())?;
        st.serialize_field("column", &self.location.column())?;
        let frames = self.stack.as_ref().map(Stack::resolve).unwrap_or_default();
        st.serialize_field("stack", &frames)?;
        st.end()
    }
}

/// Raw return addresses of a call stack, innermost first, captured without symbol lookup.
#[derive(Clone, Debug)]
pub struct Stack(Arc<[usize]>);

/// One symbolized frame of a [`Stack`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
        let mut ips = Vec::with_capacity(depth + 8);
        // Frames inside dmacheck and backtrace are kept here and stripped at resolution, because
        // telling them apart needs symbols, which are too slow to look up on every call.
        backtrace::trace(|frame| {
            ips.push(frame.ip() as usize);
            ips.len() < depth + 8
        });
        Some(Stack(ips.into()))
    }

    /// The raw return addresses, innermost first.
    pub fn addresses(&self) -> &[usize] {
        &self.0
    }

    /// Symbolize the stack, dropping dmacheck's and the unwinder's own frames at the top.
    pub fn resolve(&self) -> Vec<Frame> {
        let mut frames = Vec::new();
        for &ip in self.0.iter() {
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
        let own = |f: &Frame| {
            f.function.starts_with("dmacheck::")
                || f.function.starts_with("backtrace::")
                || f.function.starts_with("<dmacheck::")
        };
        let first_user = frames.iter().position(|f| !own(f)).unwrap_or(0);
        frames.drain(..first_user);
        frames
    }
}
