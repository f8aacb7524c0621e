//! Reading trace text, one line at a time: what kind of line it is, and for an event of the
//! `dma` subsystem, its fields.
//!
//! The parser takes bytes (a task name need not be UTF-8), never allocates for a line that is
//! not a scatter-gather event, and never panics: whatever the input, a line is something
//! ([`Line`]) or a [`ParseError`] with a reason.
//!
//! Event lines of every format dmacheck reads are found by their timestamp and event name,
//! `... TIMESTAMP: EVENT: BODY`, so the columns before them may vary:
//!
//! ```text
//!               ip-410     [000] .N...    17.340409: dma_map_page: 0000:00:03.0 dir=FROM_DEVICE ...   (trace, trace_pipe)
//!               ip-410     (    410) [000] .....    17.340409: dma_map_page: ...                       (record-tgid)
//!               ip-410     [000]    17.340409: dma_map_page:        0000:00:03.0 ...                   (trace-cmd report)
//!               ip-410       0d..1    17.340409: dma_map_page: ...                                     (trace-cmd report -l)
//!               ip   410     [000]    17.340409: dma:dma_map_page: ...                                 (perf script)
//! ```

use smallvec::SmallVec;

use crate::context::CallContext;
use crate::types::{Direction, DmaAttrs, Gfp};

/// Why a line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong, in a few words.
    pub reason: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(reason: &'static str) -> Result<T, ParseError> {
    Err(ParseError { reason })
}

/// What one line of a trace is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Empty, or only white space.
    Blank,
    /// A header or comment line (`# ...`), or a line of `trace-cmd report`'s preamble
    /// (`cpus=2`, `version = 6`, `CPU 1 is empty`), with what it says that matters.
    Header(Header),
    /// `CPU:N [LOST M EVENTS]` (ftrace) or `CPU:N [M EVENTS DROPPED]` (trace-cmd): the CPU's
    /// buffer lost events just before its next event.
    Lost {
        /// The CPU.
        cpu: u32,
        /// How many events, when the marker says.
        events: Option<u64>,
    },
    /// `##### CPU N buffer started ####`: the ring buffer overwrote the CPU's older events; its
    /// surviving ones start here.
    BufferStarted {
        /// The CPU.
        cpu: u32,
    },
    /// An event of any subsystem.
    Event(RawEvent<'a>),
}

/// What a header line says that matters for a replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The number of CPUs of the traced machine (`#P:N`, `cpus=N`).
    pub cpus: Option<u32>,
    /// Events the ring buffer overwrote before the trace was read (`entries-in-buffer/
    /// entries-written: X/Y` with X < Y): the trace starts mid-run.
    pub overwritten: Option<u64>,
    /// A CPU that has no events (`CPU N is empty`).
    pub empty_cpu: Option<u32>,
}

/// An event line, split into its columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// The task column, `comm-pid` (`ip-410`, `<idle>-0`), as written; empty when the trace
    /// has no context columns.
    pub task: &'a [u8],
    /// The flags column as written (`d.s1.`); empty when the trace has none.
    pub flags: &'a [u8],
    /// The CPU that recorded it, when the line shows it.
    pub cpu: Option<u32>,
    /// The context from the flags column (IRQs off, BH off, hard or soft IRQ, preemption
    /// depth); `None` when the trace has no flags column.
    pub context: Option<CallContext>,
    /// The timestamp, as written.
    pub timestamp: &'a [u8],
    /// The event's name (`dma_map_page`, `sched_switch`).
    pub name: &'a [u8],
    /// Everything after `name:`, leading white space removed.
    pub body: &'a [u8],
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim(mut s: &[u8]) -> &[u8] {
    // Event lines start with a task name padded to 16 columns: skip white space eight bytes
    // at a time.
    while let Some((chunk, rest)) = s.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let other = nonzero_bytes(word ^ u64::from_ne_bytes([b' '; 8]))
            & nonzero_bytes(word ^ u64::from_ne_bytes([b'\t'; 8]));
        if other != 0 {
            return trim_end(&s[(other.trailing_zeros() / 8) as usize..]);
        }
        s = rest;
    }
    while let [first, rest @ ..] = s {
        if is_space(*first) {
            s = rest;
        } else {
            break;
        }
    }
    trim_end(s)
}

fn is_name_byte(b: u8) -> bool {
    NAME_BYTE[usize::from(b)]
}

/// Which bytes may be part of an event's name: letters, digits and `_` (a table: names are
/// scanned on every line).
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric() || b == b'_' as usize;
        b += 1;
    }
    t
};

/// [`trim_end`] for slices that may end with a run of white space (a padded column): eight
/// bytes at a time.
#[inline(always)]
fn trim_end_run(mut s: &[u8]) -> &[u8] {
    while let Some(chunk) = s.last_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let kept = nonzero_bytes(word ^ u64::from_ne_bytes([b' '; 8]))
            & nonzero_bytes(word ^ u64::from_ne_bytes([b'\t'; 8]))
            & nonzero_bytes(word ^ u64::from_ne_bytes([b'\r'; 8]))
            & nonzero_bytes(word ^ u64::from_ne_bytes([b'\n'; 8]));
        if kept != 0 {
            return &s[..s.len() - (kept.leading_zeros() / 8) as usize];
        }
        s = &s[..s.len() - 8];
    }
    trim_end(s)
}

/// `s` without trailing white space (and line ends), for slices that start with none.
fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if is_space(*last) || *last == b'\r' || *last == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Read one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let line = trim(line);
    let Some(&first) = line.first() else {
        return Ok(Line::Blank);
    };
    if first == b'#' {
        return Ok(comment(line));
    }
    // Markers and trace-cmd's preamble start with one of these: other lines skip their tests.
    if matches!(first, b'C' | b'c' | b'v') {
        if let Some(rest) = line.strip_prefix(b"CPU:") {
            return lost_marker(rest);
        }
        if let Some(header) = preamble(line) {
            return Ok(Line::Header(header));
        }
    }
    let Some((ts_start, ts_colon, name_start, name_colon)) = find_event(line) else {
        return err("not an event line (no `TIMESTAMP: EVENT:`)");
    };
    // The line starts with no white space: only the end of the prefix needs trimming.
    let c = columns(trim_end_run(&line[..ts_start]));
    Ok(Line::Event(RawEvent {
        task: c.task,
        flags: c.flags,
        cpu: c.cpu,
        context: c.context,
        timestamp: &line[ts_start..ts_colon],
        name: &line[name_start..name_colon],
        body: trim(line.get(name_colon + 1..).unwrap_or_default()),
    }))
}

/// A `#` line: the header of the `trace` file, or a buffer-started annotation.
fn comment(line: &[u8]) -> Line<'_> {
    if let Some(rest) = line.strip_prefix(b"##### CPU ") {
        if let Some(cpu) = leading_number(rest) {
            if memchr::memmem::find(rest, b"buffer started").is_some() {
                return Line::BufferStarted { cpu: cpu as u32 };
            }
        }
    }
    let mut h = Header::default();
    if let Some(i) = memchr::memmem::find(line, b"#P:") {
        h.cpus = leading_number(&line[i + 3..]).map(|n| n as u32);
    }
    if let Some(i) = memchr::memmem::find(line, b"entries-in-buffer/entries-written:") {
        let rest = trim(&line[i + 34..]);
        if let Some(slash) = memchr::memchr(b'/', rest) {
            let in_buffer = leading_number(&rest[..slash]);
            let written = leading_number(&rest[slash + 1..]);
            if let (Some(a), Some(b)) = (in_buffer, written) {
                h.overwritten = Some(b.saturating_sub(a)).filter(|&n| n > 0);
            }
        }
    }
    Line::Header(h)
}

/// `trace-cmd report`'s preamble lines.
fn preamble(line: &[u8]) -> Option<Header> {
    if let Some(rest) = line.strip_prefix(b"cpus=") {
        return Some(Header {
            cpus: leading_number(rest).map(|n| n as u32),
            ..Header::default()
        });
    }
    if line.starts_with(b"version =") || line.starts_with(b"version=") {
        return Some(Header::default());
    }
    if let Some(rest) = line.strip_prefix(b"CPU ") {
        if line.ends_with(b"is empty") {
            return Some(Header {
                empty_cpu: leading_number(rest).map(|n| n as u32),
                ..Header::default()
            });
        }
    }
    None
}

/// `N [LOST M EVENTS]`, `N [M EVENTS DROPPED]` or `N [EVENTS DROPPED]` (after `CPU:`).
fn lost_marker(rest: &[u8]) -> Result<Line<'_>, ParseError> {
    let Some(cpu) = leading_number(rest) else {
        return err("`CPU:` without a CPU number");
    };
    let lost = memchr::memmem::find(rest, b"LOST").is_some();
    let dropped = memchr::memmem::find(rest, b"DROPPED").is_some();
    if !lost && !dropped {
        return err("`CPU:N` line that is no lost-events marker");
    }
    let events = rest
        .iter()
        .position(|&b| b == b'[')
        .map(|i| trim(&rest[i + 1..]))
        .map(|inner| inner.strip_prefix(b"LOST").map_or(inner, trim))
        .and_then(leading_number);
    Ok(Line::Lost {
        cpu: u32::try_from(cpu).unwrap_or(u32::MAX),
        events,
    })
}

/// The decimal number at the start of `s` (after white space), if any.
fn leading_number(s: &[u8]) -> Option<u64> {
    let s = trim(s);
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    parse_dec(&s[..digits])
}

/// Find `TIMESTAMP: NAME:`: the timestamp's start and colon, the name's start and colon.
fn find_event(line: &[u8]) -> Option<(usize, usize, usize, usize)> {
    // In ftrace's own lines the first colon is the timestamp's: found without memchr's setup.
    let first = first_colon(line)?;
    if let Some(found) = event_at(line, first) {
        return Some(found);
    }
    for p in memchr::memchr_iter(b':', &line[first + 1..]) {
        if let Some(found) = event_at(line, first + 1 + p) {
            return Some(found);
        }
    }
    // No context columns at all (`options/context-info` off): `NAME: BODY`.
    let colon = first;
    if colon > 0
        && line[..colon].iter().all(|&b| is_name_byte(b))
        && line.get(colon + 1).is_none_or(|&b| is_space(b))
    {
        return Some((0, 0, 0, colon));
    }
    None
}

/// The position of the first `:` of `line`, eight bytes at a time.
#[inline(always)]
fn first_colon(line: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(chunk) = line.get(at..).and_then(|r| r.first_chunk::<8>()) {
        let colon = bytes_equal(u64::from_le_bytes(*chunk), b':');
        if colon != 0 {
            return Some(at + (colon.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    line[at..].iter().position(|&b| b == b':').map(|i| at + i)
}

/// `TIMESTAMP: NAME:` when the colon at `p` ends the timestamp: the timestamp's start and
/// colon, the name's start and colon.
#[inline(always)]
fn event_at(line: &[u8], p: usize) -> Option<(usize, usize, usize, usize)> {
    {
        // The timestamp: digits and dots (a digit among them), after white space or at the
        // start.
        let mut s = p;
        let mut digit = false;
        // ftrace's microseconds, `.DDDDDD`, in one word; then byte by byte.
        if let Some(chunk) = p
            .checked_sub(8)
            .and_then(|from| line[from..p].first_chunk::<8>())
        {
            let word = u64::from_le_bytes(*chunk);
            let digits = below(word ^ u64::from_ne_bytes([b'0'; 8]), 10);
            if digits & USUAL_MICROS == USUAL_MICROS && (word >> 8) as u8 == b'.' {
                digit = true;
                s -= 7;
            }
        }
        while let Some(&b) = s.checked_sub(1).and_then(|i| line.get(i)) {
            if b.is_ascii_digit() {
                digit = true;
            } else if b != b'.' {
                break;
            }
            s -= 1;
        }
        if !digit || (s > 0 && !is_space(line[s - 1])) {
            return None;
        }
        let (start, colon) = name_after(line, p + 1)?;
        Some((s, p, start, colon))
    }
}

/// The high bits of the last six bytes of a word: the digits of a timestamp's microseconds.
const USUAL_MICROS: u64 = 0x8080_8080_8080_0000;

/// White space then a name token then `:` (then white space or the end), from `at`.
#[inline]
fn name_after(line: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = line.get(at..)?;
    // One space, as ftrace prints it, or more.
    let spaces = match rest {
        [b, next, ..] if is_space(*b) && !is_space(*next) => 1,
        _ => rest.iter().take_while(|&&b| is_space(b)).count(),
    };
    if spaces == 0 {
        return None;
    }
    let mut start = at + spaces;
    let mut colon = name_end(line, start);
    if colon == start || line.get(colon) != Some(&b':') {
        return None;
    }
    // `perf script` names the event with its subsystem: `dma:dma_map_page:`.
    if line.get(colon + 1).is_some_and(|&b| is_name_byte(b)) {
        start = colon + 1;
        colon = name_end(line, start);
        if line.get(colon) != Some(&b':') {
            return None;
        }
    }
    if line.get(colon + 1).is_some_and(|&b| !is_space(b)) {
        return None;
    }
    Some((start, colon))
}

/// Where the name token starting at `from` ends: the first byte that is no name byte.
#[inline(always)]
fn name_end(line: &[u8], from: usize) -> usize {
    // Event names are lower case words: eight bytes at a time up to the first other byte,
    // from which the table decides (digits, capitals).
    let mut at = from;
    while let Some(chunk) = line.get(at..).and_then(|r| r.first_chunk::<8>()) {
        let other = not_lower_or_underscore(u64::from_le_bytes(*chunk));
        if other != 0 {
            at += (other.trailing_zeros() / 8) as usize;
            break;
        }
        at += 8;
    }
    let rest = &line[at..];
    at + rest
        .iter()
        .position(|&b| !is_name_byte(b))
        .unwrap_or(rest.len())
}

/// The high bit of each byte of `word` that is neither `a`..=`z` nor `_` (exact: no carry
/// crosses bytes).
#[inline]
fn not_lower_or_underscore(word: u64) -> u64 {
    let low7 = word & !HIGHS;
    // A byte of at most 0x7f plus at most 0x1f carries into no other byte.
    let from_a = low7 + u64::from_ne_bytes([0x80 - b'a'; 8]);
    let past_z = low7 + u64::from_ne_bytes([0x80 - b'z' - 1; 8]);
    let lower = from_a & !past_z & !word;
    let underscore = !nonzero_bytes(word ^ u64::from_ne_bytes([b'_'; 8]));
    !(lower | underscore) & HIGHS
}

/// The columns before the timestamp.
struct Columns<'a> {
    task: &'a [u8],
    flags: &'a [u8],
    cpu: Option<u32>,
    context: Option<CallContext>,
}

/// The last white-space separated token of `s`, and what stands before it (trimmed); `s` is
/// trimmed already.
fn last_token(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().rposition(|&b| is_space(b)) {
        Some(i) => (trim_end(&s[..i]), &s[i + 1..]),
        None => (&[], s),
    }
}

/// The task, CPU and flags columns from what stands before the timestamp (trimmed).
fn columns(prefix: &[u8]) -> Columns<'_> {
    if let Some(c) = ftrace_columns(prefix) {
        return c;
    }
    let (mut before, last) = last_token(prefix);
    let mut c = Columns {
        task: b"",
        flags: b"",
        cpu: None,
        context: None,
    };
    if let Some(cpu) = bracketed_cpu(last) {
        c.cpu = Some(cpu);
    } else if is_flags(last) {
        c.flags = last;
        c.context = Some(flags_context(last));
        let (earlier, cpu) = last_token(before);
        if let Some(cpu) = bracketed_cpu(cpu) {
            c.cpu = Some(cpu);
            before = earlier;
        }
    } else {
        // trace-cmd's latency format fuses the CPU and the flags: `0d..1`.
        let digits = last.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && digits < last.len() && is_flags(&last[digits..]) {
            c.cpu = parse_dec(&last[..digits]).and_then(|n| u32::try_from(n).ok());
            c.flags = &last[digits..];
            c.context = Some(flags_context(c.flags));
        } else {
            before = prefix;
        }
    }
    // `record-tgid` adds `(  410)` after the task.
    if before.ends_with(b")") {
        if let Some(open) = before.iter().rposition(|&b| b == b'(') {
            before = trim(&before[..open]);
        }
    }
    c.task = before;
    c
}

/// The columns of ftrace's own files, `TASK [CPU] FLAGS` with one space before the flags,
/// read from the end without the general search (which reads them the same); `None` for any
/// other shape.
#[inline(always)]
fn ftrace_columns(prefix: &[u8]) -> Option<Columns<'_>> {
    // Five flags after a space, as ftrace prints them, are found where they stand (the flags'
    // bytes are no spaces, so the search below would find the same); else searched for.
    let flags = match prefix.len().checked_sub(6) {
        Some(at) if is_space(prefix[at]) && is_flags(&prefix[at + 1..]) => &prefix[at + 1..],
        _ => {
            let tail = &prefix[prefix.len().saturating_sub(7)..];
            let space = tail.iter().rposition(|&b| is_space(b))?;
            let flags = &tail[space + 1..];
            if !is_flags(flags) {
                return None;
            }
            flags
        }
    };
    let before = &prefix[..prefix.len() - flags.len() - 1];
    if before.last() != Some(&b']') {
        return None;
    }
    // Likewise a three-digit CPU, `[DDD]` (its digits are no `[`).
    let usual = before
        .len()
        .checked_sub(5)
        .filter(|&at| before[at] == b'[')
        .and_then(|at| Some((at, bracketed_cpu(&before[at..])?)));
    let (open, cpu) = match usual {
        Some(found) => found,
        None => {
            let open = before.iter().rposition(|&b| b == b'[')?;
            (open, bracketed_cpu(&before[open..])?)
        }
    };
    let task = &before[..open];
    if !task.last().is_some_and(|&b| is_space(b)) {
        return None;
    }
    let task = trim_end_run(task);
    // `record-tgid`'s `(  410)` is left to the general reading.
    if task.is_empty() || task.ends_with(b")") {
        return None;
    }
    Some(Columns {
        task,
        flags,
        cpu: Some(cpu),
        context: Some(flags_context(flags)),
    })
}

#[inline]
fn bracketed_cpu(token: &[u8]) -> Option<u32> {
    // ftrace prints three digits: read without a loop.
    if let [b'[', hundreds, tens, ones, b']'] = *token {
        let [h, t, o] = [hundreds, tens, ones].map(|b| b.wrapping_sub(b'0'));
        if h > 9 || t > 9 || o > 9 {
            return None;
        }
        return Some(u32::from(h) * 100 + u32::from(t) * 10 + u32::from(o));
    }
    // Up to nine digits fit a u32: read at once.
    if let [b'[', inner @ .., b']'] = token {
        if (1..=9).contains(&inner.len()) {
            let mut n = 0u32;
            for &b in inner {
                let d = b.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                n = n * 10 + u32::from(d);
            }
            return Some(n);
        }
    }
    let inner = token.strip_prefix(b"[")?.strip_suffix(b"]")?;
    if inner.is_empty() || !inner.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_dec(inner).and_then(|n| u32::try_from(n).ok())
}

/// Whether `token` is a flags column: 3 to 6 of the characters ftrace prints there, the first
/// being the IRQs-off column's.
fn is_flags(token: &[u8]) -> bool {
    (3..=6).contains(&token.len())
        && matches!(token[0], b'.' | b'd' | b'D' | b'b' | b'X')
        && token.iter().all(|&b| FLAG_BYTE[usize::from(b)])
}

/// The characters of a flags column (a table: every event line has one).
static FLAG_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let flags = b".dDbXNnpBLlZzHhsS0123456789abcdefABCDEF";
    let mut i = 0;
    while i < flags.len() {
        t[flags[i] as usize] = true;
        i += 1;
    }
    t
};

/// The context a flags column shows: `d`/`D` first when IRQs were off (`D`, `b`: softirqs
/// too), `h`/`H`/`z`/`Z`/`s` third for hard or soft interrupt (or NMI), a preemption depth
/// fourth.
fn flags_context(flags: &[u8]) -> CallContext {
    let at = |i: usize| usize::from(flags.get(i).copied().unwrap_or(b'.'));
    let bits = (CONTEXT_BITS[at(0)] & (IRQS_OFF | BH_OFF))
        | (CONTEXT_BITS[at(2)] & (HARDIRQ | SOFTIRQ))
        | (CONTEXT_BITS[at(3)] & PREEMPT);
    CallContext {
        irqs_disabled: bits & IRQS_OFF != 0,
        atomic: bits != 0,
        hardirq: bits & HARDIRQ != 0,
        softirq: bits & (SOFTIRQ | BH_OFF) != 0,
    }
}

const IRQS_OFF: u8 = 1;
const BH_OFF: u8 = 2;
const HARDIRQ: u8 = 4;
const SOFTIRQ: u8 = 8;
const PREEMPT: u8 = 16;

/// What a byte of the flags column means in each column it may stand in (a table: every
/// event line has one); [`flags_context`] keeps the bits of the byte's own column.
static CONTEXT_BITS: [u8; 256] = {
    let mut t = [0; 256];
    t[b'd' as usize] |= IRQS_OFF;
    t[b'D' as usize] |= IRQS_OFF | BH_OFF;
    t[b'b' as usize] |= BH_OFF;
    t[b'h' as usize] |= HARDIRQ;
    t[b'z' as usize] |= HARDIRQ;
    t[b'Z' as usize] |= HARDIRQ;
    t[b'H' as usize] |= HARDIRQ | SOFTIRQ;
    t[b's' as usize] |= SOFTIRQ;
    // A preemption depth: a hex digit other than 0.
    let mut b = 0;
    while b < 256 {
        if HEX[b] != INVALID && HEX[b] != 0 {
            t[b] |= PREEMPT;
        }
        b += 1;
    }
    t
};

/// The events of the `dma` subsystem (`include/trace/events/dma.h`, Linux 6.12 and later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // each variant is the event of the same name
pub enum DmaCall {
    MapPage,
    MapPhys,
    MapResource,
    UnmapPage,
    UnmapPhys,
    UnmapResource,
    Alloc,
    AllocPages,
    AllocSgt,
    AllocSgtErr,
    Free,
    FreePages,
    FreeSgt,
    MapSg,
    MapSgErr,
    UnmapSg,
    SyncSingleForCpu,
    SyncSingleForDevice,
    SyncSgForCpu,
    SyncSgForDevice,
}

impl DmaCall {
    /// Every event, in declaration order.
    pub const ALL: [DmaCall; 20] = [
        DmaCall::MapPage,
        DmaCall::MapPhys,
        DmaCall::MapResource,
        DmaCall::UnmapPage,
        DmaCall::UnmapPhys,
        DmaCall::UnmapResource,
        DmaCall::Alloc,
        DmaCall::AllocPages,
        DmaCall::AllocSgt,
        DmaCall::AllocSgtErr,
        DmaCall::Free,
        DmaCall::FreePages,
        DmaCall::FreeSgt,
        DmaCall::MapSg,
        DmaCall::MapSgErr,
        DmaCall::UnmapSg,
        DmaCall::SyncSingleForCpu,
        DmaCall::SyncSingleForDevice,
        DmaCall::SyncSgForCpu,
        DmaCall::SyncSgForDevice,
    ];

    /// The event's name, which is also the API call's (`dma_map_phys`).
    pub fn name(self) -> &'static str {
        match self {
            DmaCall::MapPage => "dma_map_page",
            DmaCall::MapPhys => "dma_map_phys",
            DmaCall::MapResource => "dma_map_resource",
            DmaCall::UnmapPage => "dma_unmap_page",
            DmaCall::UnmapPhys => "dma_unmap_phys",
            DmaCall::UnmapResource => "dma_unmap_resource",
            DmaCall::Alloc => "dma_alloc",
            DmaCall::AllocPages => "dma_alloc_pages",
            DmaCall::AllocSgt => "dma_alloc_sgt",
            DmaCall::AllocSgtErr => "dma_alloc_sgt_err",
            DmaCall::Free => "dma_free",
            DmaCall::FreePages => "dma_free_pages",
            DmaCall::FreeSgt => "dma_free_sgt",
            DmaCall::MapSg => "dma_map_sg",
            DmaCall::MapSgErr => "dma_map_sg_err",
            DmaCall::UnmapSg => "dma_unmap_sg",
            DmaCall::SyncSingleForCpu => "dma_sync_single_for_cpu",
            DmaCall::SyncSingleForDevice => "dma_sync_single_for_device",
            DmaCall::SyncSgForCpu => "dma_sync_sg_for_cpu",
            DmaCall::SyncSgForDevice => "dma_sync_sg_for_device",
        }
    }

    /// The event named `name`, if it is one of the `dma` subsystem's.
    pub fn from_name(name: &[u8]) -> Option<DmaCall> {
        // Every event of the subsystem starts so: other events are told apart at once.
        let rest = name.strip_prefix(b"dma_")?;
        Some(match rest {
            b"map_page" => DmaCall::MapPage,
            b"map_phys" => DmaCall::MapPhys,
            b"map_resource" => DmaCall::MapResource,
            b"unmap_page" => DmaCall::UnmapPage,
            b"unmap_phys" => DmaCall::UnmapPhys,
            b"unmap_resource" => DmaCall::UnmapResource,
            b"alloc" => DmaCall::Alloc,
            b"alloc_pages" => DmaCall::AllocPages,
            b"alloc_sgt" => DmaCall::AllocSgt,
            b"alloc_sgt_err" => DmaCall::AllocSgtErr,
            b"free" => DmaCall::Free,
            b"free_pages" => DmaCall::FreePages,
            b"free_sgt" => DmaCall::FreeSgt,
            b"map_sg" => DmaCall::MapSg,
            b"map_sg_err" => DmaCall::MapSgErr,
            b"unmap_sg" => DmaCall::UnmapSg,
            b"sync_single_for_cpu" => DmaCall::SyncSingleForCpu,
            b"sync_single_for_device" => DmaCall::SyncSingleForDevice,
            b"sync_sg_for_cpu" => DmaCall::SyncSgForCpu,
            b"sync_sg_for_device" => DmaCall::SyncSgForDevice,
            _ => return None,
        })
    }

    const fn required(self) -> &'static [Field] {
        use Field::*;
        match self {
            DmaCall::MapPage | DmaCall::MapPhys | DmaCall::MapResource => &[Dir, DmaAddr, Size],
            DmaCall::UnmapPage | DmaCall::UnmapPhys | DmaCall::UnmapResource => {
                &[Dir, DmaAddr, Size]
            }
            DmaCall::SyncSingleForCpu | DmaCall::SyncSingleForDevice => &[Dir, DmaAddr, Size],
            DmaCall::Alloc | DmaCall::AllocPages | DmaCall::AllocSgt => &[DmaAddr, Size],
            DmaCall::Free | DmaCall::FreePages | DmaCall::FreeSgt => &[DmaAddr, Size],
            DmaCall::MapSg => &[Dir, DmaAddrs, Sizes],
            DmaCall::UnmapSg => &[Dir, PhysAddrs],
            DmaCall::SyncSgForCpu | DmaCall::SyncSgForDevice => &[Dir, DmaAddrs, Sizes],
            DmaCall::AllocSgtErr | DmaCall::MapSgErr => &[],
        }
    }
}

/// The fields each event needs, as bits (`1 << field`), by [`DmaCall`].
const REQUIRED: [u8; DmaCall::ALL.len()] = {
    let mut masks = [0; DmaCall::ALL.len()];
    let mut call = 0;
    while call < DmaCall::ALL.len() {
        let fields = DmaCall::ALL[call].required();
        let mut i = 0;
        while i < fields.len() {
            masks[DmaCall::ALL[call] as usize] |= 1 << fields[i] as u8;
            i += 1;
        }
        call += 1;
    }
    masks
};

#[derive(Clone, Copy)]
enum Field {
    Dir,
    DmaAddr,
    Size,
    DmaAddrs,
    Sizes,
    PhysAddrs,
}

/// A list of addresses or sizes, as `__print_array` prints it: `{0x1000,0x2000}`.
pub type Array = SmallVec<[u64; 4]>;

/// One event of the `dma` subsystem, with the fields its line shows. Fields an event does
/// not have, or that its kernel did not print (6.12 has no `dir` on `dma_alloc`), are `None`
/// or empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaEvent<'a> {
    /// Which event.
    pub call: DmaCall,
    /// The device's name (`dev_name`), as written.
    pub device: &'a [u8],
    /// `dir=`.
    pub dir: Option<Direction>,
    /// `dma_addr=`.
    pub dma_addr: Option<u64>,
    /// `size=`.
    pub size: Option<u64>,
    /// `phys_addr=`.
    pub phys_addr: Option<u64>,
    /// `virt_addr=`: `Some(0)` for NULL (`0000000000000000` or `(null)`); `None` when absent
    /// or not a number (a pointer printed before the kernel could hash it).
    pub virt_addr: Option<u64>,
    /// `attrs=`: the attributes dmacheck knows (others are ignored).
    pub attrs: DmaAttrs,
    /// `flags=`: the GFP flags, as far as they matter to the rules.
    pub gfp: Option<Gfp>,
    /// `nents=N/FULL`: the full entry count (newer kernels).
    pub nents: Option<u32>,
    /// `ents=N/FULL`: the full count of DMA segments (newer kernels).
    pub ents: Option<u32>,
    /// `[TRUNCATED]`: the kernel printed only the first 128 entries and segments.
    pub truncated: bool,
    /// `dma_addrs=` (for `dma_map_sg_err`, the list's physical addresses).
    pub dma_addrs: Array,
    /// `sizes=`.
    pub sizes: Array,
    /// `phys_addrs=`.
    pub phys_addrs: Array,
    /// `err=`.
    pub err: Option<i64>,
}

/// What the body of an event says, given its name.
// Made and consumed once per line: boxing the large variant would allocate for every event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// An event of another subsystem.
    Other,
    /// An event whose name looks like the `dma` subsystem's but that dmacheck does not know
    /// (a newer kernel's).
    UnknownDma,
    /// A `dma` event.
    Dma(DmaEvent<'a>),
}

/// Read the body of event `name`.
pub fn parse_event<'a>(name: &[u8], body: &'a [u8]) -> Result<Parsed<'a>, ParseError> {
    let Some(call) = DmaCall::from_name(name) else {
        // `dma_fence_*` events belong to the dma_fence subsystem.
        return Ok(
            if name.starts_with(b"dma_") && !name.starts_with(b"dma_fence") {
                Parsed::UnknownDma
            } else {
                Parsed::Other
            },
        );
    };
    parse_dma(call, body).map(Parsed::Dma)
}

/// Read the body of a `dma` event: `DEVICE key=value ...`.
///
/// One pass over the body: each key is read up to its `=`, and the values of the common
/// fields (`dma_addr`, `size`, `phys_addr`) are converted as they are scanned; a value that
/// does not end where its digits do is read again by the general conversion, which says why
/// it is wrong.
// Inlined: the event is then built where its caller keeps it, not copied out.
#[inline]
pub fn parse_dma(call: DmaCall, body: &[u8]) -> Result<DmaEvent<'_>, ParseError> {
    let mut ev = DmaEvent::empty(call);
    read_dma(body, &mut ev)?;
    Ok(ev)
}

impl DmaEvent<'_> {
    /// An event of `call` with no fields read yet.
    #[inline(always)]
    pub(crate) fn empty(call: DmaCall) -> Self {
        DmaEvent {
            call,
            device: b"",
            dir: None,
            dma_addr: None,
            size: None,
            phys_addr: None,
            virt_addr: None,
            attrs: DmaAttrs::empty(),
            gfp: None,
            nents: None,
            ents: None,
            truncated: false,
            dma_addrs: Array::new(),
            sizes: Array::new(),
            phys_addrs: Array::new(),
            err: None,
        }
    }
}

/// [`parse_dma`] into an event its caller keeps (`DmaEvent::empty` of the event's call), so
/// the event is not moved out of a `Result` on every line.
#[inline(always)]
pub(crate) fn read_dma<'a>(body: &'a [u8], ev: &mut DmaEvent<'a>) -> Result<(), ParseError> {
    let call = ev.call;
    let (mut has_dma_addrs, mut has_sizes, mut has_phys_addrs) = (false, false, false);
    let mut rest = body;
    let mut first = true;
    loop {
        // Fields are one space apart: the next one starts at once.
        if let [b, next, ..] = rest {
            if is_space(*b) && !is_space(*next) {
                rest = &rest[1..];
            }
        }
        if rest.first().is_some_and(|&b| is_space(b)) {
            let spaces = rest
                .iter()
                .position(|&b| !is_space(b))
                .unwrap_or(rest.len());
            rest = &rest[spaces..];
        }
        if rest.is_empty() {
            break;
        }
        // The keys every line has, told by their first eight bytes (each read exactly as the
        // general rule below reads it: its key up to its `=`).
        if let Some((key, value)) = usual_key(rest) {
            first = false;
            rest = match key {
                UsualKey::Dir => match usual_direction(value) {
                    Some((dir, len)) => {
                        ev.dir = Some(dir);
                        &value[len..]
                    }
                    None => {
                        let (value, after) = value.split_at(token_end(value));
                        ev.dir = Some(direction(value)?);
                        after
                    }
                },
                UsualKey::DmaAddr => {
                    let (n, len) = hex_field(value);
                    ev.dma_addr = Some(n.ok_or(bad("dma_addr"))?);
                    &value[len..]
                }
                UsualKey::PhysAddr => {
                    let (n, len) = hex_field(value);
                    ev.phys_addr = Some(n.ok_or(bad("phys_addr"))?);
                    &value[len..]
                }
                UsualKey::Size => {
                    let (n, len) = dec_field(value);
                    ev.size = Some(n.ok_or(bad("size"))?);
                    &value[len..]
                }
                UsualKey::Attrs => {
                    let (attrs, len) = attrs_field(value);
                    ev.attrs = attrs;
                    &value[len..]
                }
            };
            continue;
        }
        let key_len = key_end(rest);
        let (key, after) = rest.split_at(key_len);
        let Some((&b'=', value)) = after.split_first() else {
            // A token without `=`: the device comes first (a device with an empty name
            // leaves the fields first).
            if first {
                ev.device = key;
            } else if key == b"[TRUNCATED]" {
                ev.truncated = true;
            } else {
                return err("a field without `=`");
            }
            first = false;
            rest = after;
            continue;
        };
        first = false;
        match key {
            b"dma_addr" => {
                let (n, len) = hex_field(value);
                ev.dma_addr = Some(n.ok_or(bad("dma_addr"))?);
                rest = &value[len..];
            }
            b"phys_addr" => {
                let (n, len) = hex_field(value);
                ev.phys_addr = Some(n.ok_or(bad("phys_addr"))?);
                rest = &value[len..];
            }
            b"size" => {
                let (n, len) = dec_field(value);
                ev.size = Some(n.ok_or(bad("size"))?);
                rest = &value[len..];
            }
            _ => {
                let (value, after) = value.split_at(token_end(value));
                rest = after;
                match key {
                    b"dir" => ev.dir = Some(direction(value)?),
                    b"virt_addr" => {
                        ev.virt_addr = if value == b"(null)" {
                            Some(0)
                        } else {
                            hex(value)
                        }
                    }
                    b"attrs" => ev.attrs = attrs(value),
                    b"flags" => ev.gfp = Some(gfp(value)),
                    b"nents" => ev.nents = Some(count_pair(value).ok_or(bad("nents"))?),
                    b"ents" => ev.ents = Some(count_pair(value).ok_or(bad("ents"))?),
                    b"dma_addrs" => {
                        ev.dma_addrs = array(value).ok_or(bad("dma_addrs"))?;
                        has_dma_addrs = true;
                    }
                    b"sizes" => {
                        ev.sizes = array(value).ok_or(bad("sizes"))?;
                        has_sizes = true;
                    }
                    b"phys_addrs" => {
                        ev.phys_addrs = array(value).ok_or(bad("phys_addrs"))?;
                        has_phys_addrs = true;
                    }
                    b"err" => ev.err = Some(signed(value).ok_or(bad("err"))?),
                    // A field of a newer kernel: not needed.
                    _ => {}
                }
            }
        }
    }
    // Each field a bit, in `Field`'s order: one test for an event that has what it needs.
    let present = u8::from(ev.dir.is_some())
        | u8::from(ev.dma_addr.is_some()) << 1
        | u8::from(ev.size.is_some()) << 2
        | u8::from(has_dma_addrs) << 3
        | u8::from(has_sizes) << 4
        | u8::from(has_phys_addrs) << 5;
    let required = REQUIRED[call as usize];
    if present & required == required {
        return Ok(());
    }
    for field in call.required() {
        let (present, missing) = match field {
            Field::Dir => (ev.dir.is_some(), "no dir= field"),
            Field::DmaAddr => (ev.dma_addr.is_some(), "no dma_addr= field"),
            Field::Size => (ev.size.is_some(), "no size= field"),
            Field::DmaAddrs => (has_dma_addrs, "no dma_addrs= field"),
            Field::Sizes => (has_sizes, "no sizes= field"),
            Field::PhysAddrs => (has_phys_addrs, "no phys_addrs= field"),
        };
        if !present {
            return err(missing);
        }
    }
    Ok(())
}

/// The keys [`usual_key`] tells at once.
#[derive(Clone, Copy)]
enum UsualKey {
    Dir,
    DmaAddr,
    PhysAddr,
    Size,
    Attrs,
}

/// The first eight bytes of `s` as a little-endian word.
const fn word(s: &[u8]) -> u64 {
    let mut w = 0;
    let mut i = 0;
    while i < s.len() && i < 8 {
        w |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// The low `n` bytes of a word.
const fn low_bytes(n: u32) -> u64 {
    u64::MAX >> (64 - 8 * n)
}

/// `dir=`, `dma_addr=`, `phys_addr=`, `size=` or `attrs=` at the start of `s`, and the value
/// after it; `None` for any other key (or fewer than eight bytes left, but for a last
/// `attrs=`).
#[inline(always)]
fn usual_key(s: &[u8]) -> Option<(UsualKey, &[u8])> {
    let Some(chunk) = s.first_chunk::<8>() else {
        return (s == b"attrs=").then(|| (UsualKey::Attrs, &s[6..]));
    };
    let w = u64::from_le_bytes(*chunk);
    let (key, len) = if w & low_bytes(4) == word(b"dir=") {
        (UsualKey::Dir, 4)
    } else if w & low_bytes(5) == word(b"size=") {
        (UsualKey::Size, 5)
    } else if w == word(b"dma_addr") && s.get(8) == Some(&b'=') {
        (UsualKey::DmaAddr, 9)
    } else if w == word(b"phys_add") && s.get(8..10) == Some(b"r=") {
        (UsualKey::PhysAddr, 10)
    } else if w & low_bytes(6) == word(b"attrs=") {
        (UsualKey::Attrs, 6)
    } else {
        return None;
    };
    Some((key, &s[len..]))
}

/// The direction `s` starts with, as the kernel names it, and its length, when it ends
/// there (as [`direction`] would read the token).
#[inline(always)]
fn usual_direction(s: &[u8]) -> Option<(Direction, usize)> {
    let (dir, len) = if s.starts_with(b"FROM_DEVICE") {
        (Direction::FromDevice, 11)
    } else if s.starts_with(b"TO_DEVICE") {
        (Direction::ToDevice, 9)
    } else if s.starts_with(b"BIDIRECTIONAL") {
        (Direction::Bidirectional, 13)
    } else {
        return None;
    };
    ends_here(&s[len..]).then_some((dir, len))
}

/// The length of the key `s` starts with: up to its `=`, or white space (a token without
/// one), eight bytes at a time.
#[inline(always)]
fn key_end(s: &[u8]) -> usize {
    let mut at = 0;
    while let Some(chunk) = s.get(at..).and_then(|r| r.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*chunk);
        let end = bytes_equal(word, b'=') | bytes_equal(word, b' ') | bytes_equal(word, b'\t');
        if end != 0 {
            return at + (end.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + s[at..]
        .iter()
        .position(|&b| b == b'=' || is_space(b))
        .unwrap_or(s.len() - at)
}

/// Whether a value ends where `s` (what follows it) starts: at white space or the end.
#[inline(always)]
fn ends_here(s: &[u8]) -> bool {
    s.first().is_none_or(|&b| is_space(b))
}

/// The hex value `s` starts with and the length of its token, converted while it is
/// scanned; any other shape of value is left to [`hex`].
#[inline(always)]
fn hex_field(s: &[u8]) -> (Option<u64>, usize) {
    let prefix = if matches!(s.get(..2), Some(b"0x" | b"0X")) {
        2
    } else {
        0
    };
    let digits = &s[prefix..];
    // Eight digits at a time, then the rest (if the word was all digits) one by one.
    let (mut len, mut n) = digits
        .first_chunk::<8>()
        .map_or((0, 0), |c| hex_word(u64::from_le_bytes(*c)));
    for &b in &digits[len..] {
        let digit = HEX[usize::from(b)];
        if digit == INVALID {
            break;
        }
        n = (n << 4) | u64::from(digit);
        len += 1;
    }
    if (1..=16).contains(&len) && ends_here(&digits[len..]) {
        return (Some(n), prefix + len);
    }
    let end = token_end(s);
    (hex(&s[..end]), end)
}

/// The decimal value `s` starts with and the length of its token, as [`hex_field`].
#[inline(always)]
fn dec_field(s: &[u8]) -> (Option<u64>, usize) {
    // Eight digits at a time, then the rest (if the word was all digits) one by one.
    let (mut len, mut n) = s
        .first_chunk::<8>()
        .map_or((0, 0), |c| dec_word(u64::from_le_bytes(*c)));
    for &b in &s[len..] {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // 19 digits never overflow; longer numbers are left to `parse_dec`.
        n = n.wrapping_mul(10).wrapping_add(u64::from(digit));
        len += 1;
    }
    if (1..=19).contains(&len) && ends_here(&s[len..]) {
        return (Some(n), len);
    }
    let end = token_end(s);
    (parse_dec(&s[..end]), end)
}

/// How many of the bytes of `word` (little-endian) are hex digits from its first, and their
/// value: the digits of a hex number eight at a time.
#[inline(always)]
fn hex_word(word: u64) -> (usize, u64) {
    let digit = below(word ^ u64::from_ne_bytes([b'0'; 8]), 10);
    // `A`..=`F` and `a`..=`f` become 1..=6.
    let letter_at = (word | u64::from_ne_bytes([0x20; 8])) ^ u64::from_ne_bytes([0x60; 8]);
    let letter = below(letter_at, 7) & !below(letter_at, 1);
    let len = ((!(digit | letter) & HIGHS).trailing_zeros() / 8) as usize;
    if len == 0 {
        return (0, 0);
    }
    let nibbles = (word & u64::from_ne_bytes([0x0f; 8])) + (letter >> 7) * 9;
    // The digits to the top bytes, the last one to the lowest: byte i holds the digit of
    // weight 16^i. Then pairs of nibbles to bytes, bytes to halves, halves to the word.
    let v = (nibbles << (8 * (8 - len))).swap_bytes();
    let v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    (len, (v | (v >> 16)) & 0xffff_ffff)
}

/// How many of the bytes of `word` (little-endian) are decimal digits from its first, and
/// their value: a decimal number eight digits at a time.
#[inline(always)]
fn dec_word(word: u64) -> (usize, u64) {
    let values = word ^ u64::from_ne_bytes([b'0'; 8]);
    let len = ((!below(values, 10) & HIGHS).trailing_zeros() / 8) as usize;
    if len == 0 {
        return (0, 0);
    }
    // The digits to the top bytes (the bytes below are leading zeros), then combined in
    // pairs, fours and eights.
    let v = (values << (8 * (8 - len))) & u64::from_ne_bytes([0x0f; 8]);
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    (len, (v.wrapping_mul(10_000) + (v >> 32)) & 0xffff_ffff)
}

/// The high bit of each byte of `v` below `n` (at most 0x80; exact: no carry crosses bytes).
#[inline(always)]
fn below(v: u64, n: u8) -> u64 {
    const LOWS: u64 = u64::from_ne_bytes([0x7f; 8]);
    !(((v & LOWS) + u64::from_ne_bytes([0x80 - n; 8])) | v) & HIGHS
}

/// The length of the token `s` starts with (up to its first space or tab), eight bytes at a
/// time.
#[inline(always)]
fn token_end(s: &[u8]) -> usize {
    let mut at = 0;
    while let Some(chunk) = s.get(at..).and_then(|r| r.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*chunk);
        let space = bytes_equal(word, b' ') | bytes_equal(word, b'\t');
        if space != 0 {
            return at + (space.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + s[at..]
        .iter()
        .position(|&b| is_space(b))
        .unwrap_or(s.len() - at)
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `v` that is zero (and maybe of bytes above the first zero
/// one: only the lowest flagged byte is exact, which is the one wanted).
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The high bit of each byte of `v` that is not zero (exact: no carry crosses bytes).
#[inline]
fn nonzero_bytes(v: u64) -> u64 {
    const LOWS: u64 = u64::from_ne_bytes([0x7f; 8]);
    (((v & LOWS) + LOWS) | v) & HIGHS
}

/// The high bit of each byte of `word` equal to `b` (the lowest one exact).
#[inline]
fn bytes_equal(word: u64, b: u8) -> u64 {
    zero_bytes(word ^ u64::from_ne_bytes([b; 8]))
}

fn bad(field: &'static str) -> ParseError {
    ParseError {
        reason: match field {
            "dma_addr" => "dma_addr= is not a hex address",
            "phys_addr" => "phys_addr= is not a hex address",
            "size" => "size= is not a number",
            "nents" => "nents= is not N or N/M",
            "ents" => "ents= is not N or N/M",
            "dma_addrs" => "dma_addrs= is not a {0x..,..} list",
            "sizes" => "sizes= is not a {0x..,..} list",
            "phys_addrs" => "phys_addrs= is not a {0x..,..} list",
            _ => "err= is not a number",
        },
    }
}

fn parse_dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

fn signed(s: &[u8]) -> Option<i64> {
    match s.strip_prefix(b"-") {
        Some(rest) => parse_dec(rest)
            .and_then(|n| i64::try_from(n).ok())
            .map(|n| -n),
        None => parse_dec(s).and_then(|n| i64::try_from(n).ok()),
    }
}

/// A hex number, with or without `0x` (ftrace prints `%llx` without it, arrays with it).
fn hex(s: &[u8]) -> Option<u64> {
    let s = s
        .strip_prefix(b"0x")
        .or_else(|| s.strip_prefix(b"0X"))
        .unwrap_or(s);
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        let digit = HEX[usize::from(b)];
        if digit == INVALID {
            return None;
        }
        n = (n << 4) | u64::from(digit);
    }
    Some(n)
}

const INVALID: u8 = 0xff;

/// The value of each hex digit, [`INVALID`] for other bytes.
static HEX: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// `N` or `N/FULL`: the full count.
fn count_pair(s: &[u8]) -> Option<u32> {
    let full = match memchr::memchr(b'/', s) {
        Some(slash) => &s[slash + 1..],
        None => s,
    };
    parse_dec(full).and_then(|n| u32::try_from(n).ok())
}

/// `{0x1,0x2}` or `{}`.
fn array(s: &[u8]) -> Option<Array> {
    let inner = s.strip_prefix(b"{")?.strip_suffix(b"}")?;
    let mut out = Array::new();
    if inner.is_empty() {
        return Some(out);
    }
    for item in inner.split(|&b| b == b',') {
        out.push(hex(item)?);
    }
    Some(out)
}

fn direction(s: &[u8]) -> Result<Direction, ParseError> {
    Ok(match s {
        b"BIDIRECTIONAL" | b"0" | b"0x0" => Direction::Bidirectional,
        b"TO_DEVICE" | b"1" | b"0x1" => Direction::ToDevice,
        b"FROM_DEVICE" | b"2" | b"0x2" => Direction::FromDevice,
        b"NONE" | b"3" | b"0x3" => Direction::None,
        _ => return err("dir= is not a DMA direction"),
    })
}

/// `attrs=WEAK_ORDERING|SKIP_CPU_SYNC`; names of attributes dmacheck does not model, and
/// leftover bits printed in hex, are ignored.
fn attrs(s: &[u8]) -> DmaAttrs {
    attrs_field(s).0
}

/// The attributes of the `attrs=` value `s` starts with, and the length of its token (up to
/// white space): the names found eight bytes at a time, as the token is scanned.
#[inline(always)]
fn attrs_field(s: &[u8]) -> (DmaAttrs, usize) {
    let mut out = DmaAttrs::empty();
    let mut at = 0;
    loop {
        let end = at + attr_name_end(&s[at..]);
        out |= attr_named(&s[at..end]);
        match s.get(end) {
            Some(b'|') => at = end + 1,
            _ => return (out, end),
        }
    }
}

/// The length of the attribute name `s` starts with: up to `|` or white space.
#[inline(always)]
fn attr_name_end(s: &[u8]) -> usize {
    let mut at = 0;
    while let Some(chunk) = s.get(at..).and_then(|r| r.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*chunk);
        let end = bytes_equal(word, b'|') | bytes_equal(word, b' ') | bytes_equal(word, b'\t');
        if end != 0 {
            return at + (end.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + s[at..]
        .iter()
        .position(|&b| b == b'|' || is_space(b))
        .unwrap_or(s.len() - at)
}

/// The attribute named `name` (empty for a name dmacheck does not model).
#[inline]
fn attr_named(name: &[u8]) -> DmaAttrs {
    {
        match name {
            b"WEAK_ORDERING" => DmaAttrs::WEAK_ORDERING,
            b"WRITE_COMBINE" => DmaAttrs::WRITE_COMBINE,
            b"NO_KERNEL_MAPPING" => DmaAttrs::NO_KERNEL_MAPPING,
            b"SKIP_CPU_SYNC" => DmaAttrs::SKIP_CPU_SYNC,
            b"FORCE_CONTIGUOUS" => DmaAttrs::FORCE_CONTIGUOUS,
            b"ALLOC_SINGLE_PAGES" => DmaAttrs::ALLOC_SINGLE_PAGES,
            b"NO_WARN" => DmaAttrs::NO_WARN,
            b"PRIVILEGED" => DmaAttrs::PRIVILEGED,
            b"MMIO" => DmaAttrs::MMIO,
            // DMA_ATTR_CPU_CACHE_CLEAN, later DMA_ATTR_DEBUGGING_IGNORE_CACHELINES.
            b"CPU_CACHE_CLEAN" | b"CACHELINES_OVERLAP" => DmaAttrs::CPU_CACHE_CLEAN,
            _ => DmaAttrs::empty(),
        }
    }
}

/// `flags=GFP_KERNEL|__GFP_ZERO`, as `show_gfp_flags` prints them.
fn gfp(s: &[u8]) -> Gfp {
    let mut out = Gfp::empty();
    for name in s.split(|&b| b == b'|') {
        out |= match name {
            b"GFP_KERNEL"
            | b"GFP_KERNEL_ACCOUNT"
            | b"GFP_USER"
            | b"GFP_HIGHUSER"
            | b"GFP_HIGHUSER_MOVABLE" => Gfp::KERNEL,
            b"GFP_NOIO" | b"GFP_NOFS" | b"__GFP_RECLAIM" => {
                Gfp::DIRECT_RECLAIM | Gfp::KSWAPD_RECLAIM
            }
            b"__GFP_DIRECT_RECLAIM" => Gfp::DIRECT_RECLAIM,
            b"__GFP_KSWAPD_RECLAIM" | b"GFP_NOWAIT" => Gfp::KSWAPD_RECLAIM,
            b"GFP_ATOMIC" => Gfp::ATOMIC,
            b"__GFP_HIGH" => Gfp::HIGH,
            b"__GFP_IO" => Gfp::IO,
            b"__GFP_FS" => Gfp::FS,
            b"__GFP_ZERO" => Gfp::ZERO,
            b"__GFP_NOWARN" => Gfp::NOWARN,
            b"GFP_DMA" | b"__GFP_DMA" => Gfp::DMA,
            b"GFP_DMA32" | b"__GFP_DMA32" => Gfp::DMA32,
            _ => Gfp::empty(),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> RawEvent<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Event(e)) => e,
            other => panic!("{line:?} read as {other:?}"),
        }
    }

    #[test]
    fn ftrace_lines_give_cpu_flags_name_and_body() {
        let e = event(
            "     ksoftirqd/0-17      [001] d.s1.    17.400070: dma_unmap_page: 0000:00:03.0 dir=TO_DEVICE dma_addr=7689802 size=90 attrs=",
        );
        assert_eq!(e.cpu, Some(1));
        let ctx = e.context.unwrap();
        assert!(ctx.irqs_disabled && ctx.softirq && ctx.atomic && !ctx.hardirq);
        assert_eq!(e.timestamp, b"17.400070");
        assert_eq!(e.name, b"dma_unmap_page");
        let Parsed::Dma(d) = parse_event(e.name, e.body).unwrap() else {
            panic!("not a dma event");
        };
        assert_eq!(d.device, b"0000:00:03.0");
        assert_eq!(
            (d.dir, d.dma_addr, d.size),
            (Some(Direction::ToDevice), Some(0x7689802), Some(90))
        );
    }

    #[test]
    fn trace_cmd_lines_with_and_without_latency_columns() {
        let plain = event(
            "          ip-410   [000]    17.340409: dma_map_phys:         virtio0 dir=FROM_DEVICE dma_addr=1000 size=64 phys_addr=2000 attrs=SKIP_CPU_SYNC",
        );
        assert_eq!((plain.cpu, plain.context), (Some(0), None));
        let fused = event(
            "  <idle>-0       3d.h1  5.000001: dma_free: dev dma_addr=0 size=1 virt_addr=0 attrs=",
        );
        assert_eq!(fused.cpu, Some(3));
        assert!(fused.context.unwrap().hardirq);
        let tgid = event("bash-1 (      1) [002] ..... 1.5: sched_switch: prev_comm=a");
        assert_eq!((tgid.cpu, tgid.name), (Some(2), &b"sched_switch"[..]));
        assert_eq!((tgid.task, tgid.flags), (&b"bash-1"[..], &b"....."[..]));
        assert_eq!((plain.task, plain.flags), (&b"ip-410"[..], &b""[..]));
        assert_eq!((fused.task, fused.flags), (&b"<idle>-0"[..], &b"d.h1"[..]));
        let spaced = event("  Web Content-1234 [000] d.h1. 1.5: dma_free: d");
        assert_eq!(spaced.task, b"Web Content-1234");
        // `perf script`: the task and pid apart, no flags, the event with its subsystem.
        let perf = event(
            "            ping     460 [001]    10.000137: dma:dma_map_phys: 0000:00:05.0 dir=TO_DEVICE dma_addr=1000 size=64 phys_addr=1000 attrs=",
        );
        assert_eq!((perf.cpu, perf.context), (Some(1), None));
        assert_eq!(
            (perf.task, perf.name),
            (&b"ping     460"[..], &b"dma_map_phys"[..])
        );
        assert!(perf.body.starts_with(b"0000:00:05.0 dir=TO_DEVICE"));
    }

    #[test]
    fn markers_and_headers_are_recognized() {
        assert_eq!(
            parse_line(b"CPU:1 [LOST 325 EVENTS]"),
            Ok(Line::Lost {
                cpu: 1,
                events: Some(325)
            })
        );
        assert_eq!(
            parse_line(b"CPU:0 [EVENTS DROPPED]"),
            Ok(Line::Lost {
                cpu: 0,
                events: None
            })
        );
        assert_eq!(
            parse_line(b"##### CPU 2 buffer started ####"),
            Ok(Line::BufferStarted { cpu: 2 })
        );
        let Ok(Line::Header(h)) =
            parse_line(b"# entries-in-buffer/entries-written: 5900/6000   #P:4")
        else {
            panic!("header");
        };
        assert_eq!((h.cpus, h.overwritten), (Some(4), Some(100)));
        assert!(parse_line(b"garbage without structure").is_err());
    }

    #[test]
    fn sg_fields_of_both_formats() {
        let new = parse_dma(
            DmaCall::MapSg,
            b"sda dir=TO_DEVICE nents=128/200 ents=2/2 [TRUNCATED] dma_addrs={0x1000,0x3000} sizes={0x200,0x400} phys_addrs={0x1000} attrs=",
        )
        .unwrap();
        assert_eq!(
            (new.nents, new.ents, new.truncated),
            (Some(200), Some(2), true)
        );
        assert_eq!(new.dma_addrs.as_slice(), [0x1000, 0x3000]);
        assert_eq!(new.sizes.as_slice(), [0x200, 0x400]);
        let old = parse_dma(
            DmaCall::MapSg,
            b"sda dir=TO_DEVICE dma_addrs={} sizes={} phys_addrs={} attrs=",
        )
        .unwrap();
        assert_eq!((old.nents, old.dma_addrs.len()), (None, 0));
        assert_eq!(
            parse_dma(DmaCall::UnmapSg, b"sda dir=TO_DEVICE attrs=")
                .unwrap_err()
                .reason,
            "no phys_addrs= field"
        );
    }

    #[test]
    fn values_read_while_scanned_end_where_their_token_does() {
        fn read(body: &str) -> Result<DmaEvent<'_>, ParseError> {
            parse_dma(DmaCall::MapPage, body.as_bytes())
        }
        let e = read("d dir=TO_DEVICE dma_addr=0xABCdef size=18446744073709551615 attrs=").unwrap();
        assert_eq!((e.dma_addr, e.size), (Some(0xabcdef), Some(u64::MAX)));
        let e = read("d dir=1\tdma_addr=FFFFFFFFFFFFFFFF\tsize=0 phys_addr=0X10").unwrap();
        assert_eq!(
            (e.dir, e.dma_addr, e.size, e.phys_addr),
            (
                Some(Direction::ToDevice),
                Some(u64::MAX),
                Some(0),
                Some(0x10)
            )
        );
        let reason = |body: &str| read(body).unwrap_err().reason;
        assert_eq!(
            reason("d dir=1 dma_addr=12g size=1"),
            "dma_addr= is not a hex address"
        );
        assert_eq!(
            reason("d dir=1 dma_addr=0x size=1"),
            "dma_addr= is not a hex address"
        );
        assert_eq!(
            reason("d dir=1 dma_addr=1 size=18446744073709551616"),
            "size= is not a number"
        );
        assert_eq!(
            reason("d dir=1 dma_addr=1 size=4k"),
            "size= is not a number"
        );
        assert_eq!(reason("d dir=1 dma_addr=1 size="), "size= is not a number");
        assert_eq!(
            reason("d dir=1 dma_addr=1 size=1 stray"),
            "a field without `=`"
        );
        // The device may be missing: the first token then is a field.
        assert_eq!(read("dir=1 dma_addr=1 size=2").unwrap().device, b"");
    }

    #[test]
    fn columns_other_than_ftraces_own_are_read_by_the_general_rule() {
        let two_spaces = event("t [001]  d.... 1.0: x: y");
        assert_eq!((two_spaces.cpu, two_spaces.flags), (Some(1), &b"d...."[..]));
        let wide_cpu = event("t [12345678901] d.... 1.0: x: y");
        assert_eq!(
            (wide_cpu.cpu, wide_cpu.task),
            (None, &b"t [12345678901]"[..])
        );
        let glued = event("t x[001] d.... 1.0: x: y");
        assert_eq!((glued.cpu, glued.task), (None, &b"t x[001]"[..]));
        let tgid = event("kworker/u8:2-9 (  9) [003] d.h1. 1.0: x: y");
        assert_eq!((tgid.cpu, tgid.task), (Some(3), &b"kworker/u8:2-9"[..]));
    }

    #[test]
    fn values_are_checked() {
        assert!(parse_dma(DmaCall::MapPage, b"d dir=UP dma_addr=1 size=1").is_err());
        assert!(parse_dma(DmaCall::MapPage, b"d dir=TO_DEVICE dma_addr=xyz size=1").is_err());
        assert!(
            parse_dma(
                DmaCall::MapPage,
                b"d dir=TO_DEVICE dma_addr=11112222333344445 size=1"
            )
            .is_err(),
            "17 hex digits overflow"
        );
        let a = parse_dma(
            DmaCall::Alloc,
            b"d dma_addr=1000 size=4096 virt_addr=(____ptrval____) flags=GFP_ATOMIC attrs=",
        )
        .unwrap();
        assert_eq!((a.dir, a.virt_addr), (None, None));
        assert!(!a.gfp.unwrap().contains(Gfp::DIRECT_RECLAIM));
    }
}
