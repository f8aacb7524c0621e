//! Trap mode on Linux x86_64: the page table the handlers read, the fault ring, the handlers,
//! and the reports made from the ring.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, Weak};

use crate::checker::{Checker, CheckerInner};
use crate::event::{DeviceId, Event, Op};
use crate::report::Findings;
use crate::site::Site;
use crate::tracker::Entry;
use crate::types::{Direction, MapKind};
use crate::{Gfp, PAGE_SIZE};

/// Pages the handler's table holds.
const SLOTS: usize = 1 << 16;
/// Probes before a lookup gives up (the table is never searched further).
const MAX_PROBES: usize = 256;
/// Faults held between two reports.
const RING: usize = 256;
/// `kmalloc` alignment in trap mode (x86's `ARCH_KMALLOC_MINALIGN`).
const MIN_ALIGN: usize = 8;
/// The trap flag in EFLAGS.
const TRAP_FLAG: i64 = 0x100;
/// The page-fault error code's "caused by a write" bit.
const PF_WRITE: i64 = 0x2;

/// One page the handler knows. Written under [`TABLE`]'s lock, read by the handler with atomic
/// loads only.
struct Slot {
    /// The page's address; 0 for a slot never used. A slot keeps its page once claimed (its
    /// counts drop to 0), so a probe never stops early at a freed slot.
    page: AtomicUsize,
    /// Protections asking for no access (device may write) and read-only (device only reads).
    no_access: AtomicU32,
    read_only: AtomicU32,
    /// A trap-mode buffer's guard page: never accessible.
    guard: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    page: AtomicUsize::new(0),
    no_access: AtomicU32::new(0),
    read_only: AtomicU32::new(0),
    guard: AtomicBool::new(false),
};

static SLOTS_TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Serializes every change of the table and the `mprotect` that follows it.
static TABLE: Mutex<()> = Mutex::new(());
/// Pages left unprotected because the table was full.
static UNPROTECTED: AtomicU64 = AtomicU64::new(0);

fn hash(page: usize) -> usize {
    ((page / PAGE_SIZE).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16) % SLOTS
}

/// The slot of `page`, if the table has one. Async-signal-safe: atomic loads only.
fn find(page: usize) -> Option<&'static Slot> {
    let start = hash(page);
    for i in 0..MAX_PROBES {
        let slot = &SLOTS_TABLE[(start + i) % SLOTS];
        match slot.page.load(Ordering::Acquire) {
            p if p == page => return Some(slot),
            0 => return None,
            _ => {}
        }
    }
    None
}

/// The slot of `page`, claimed if new. Needs the table lock.
fn find_or_claim(_lock: &MutexGuard<'_, ()>, page: usize) -> Option<&'static Slot> {
    let start = hash(page);
    for i in 0..MAX_PROBES {
        let slot = &SLOTS_TABLE[(start + i) % SLOTS];
        match slot.page.load(Ordering::Acquire) {
            p if p == page => return Some(slot),
            0 => {
                slot.page.store(page, Ordering::Release);
                return Some(slot);
            }
            _ => {}
        }
    }
    UNPROTECTED.fetch_add(1, Ordering::Relaxed);
    None
}

/// The protection a slot's counts ask for.
fn prot_of(slot: &Slot) -> libc::c_int {
    if slot.guard.load(Ordering::Acquire) || slot.no_access.load(Ordering::Acquire) > 0 {
        libc::PROT_NONE
    } else if slot.read_only.load(Ordering::Acquire) > 0 {
        libc::PROT_READ
    } else {
        libc::PROT_READ | libc::PROT_WRITE
    }
}

fn set_prot(page: usize, prot: libc::c_int) {
    // SAFETY: `page` is a page of a checker's arena (a mapping the checker owns); changing its
    // protection makes no Rust reference dangle, and accesses that then fault are the handler's.
    unsafe { libc::mprotect(page as *mut c_void, PAGE_SIZE, prot) };
}

fn apply(slot: &Slot) {
    set_prot(slot.page.load(Ordering::Acquire), prot_of(slot));
}

/// The table lock, even if a panic poisoned it (its data is the atomics, always consistent).
fn table() -> MutexGuard<'static, ()> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- the fault ring ----

struct Fault {
    ready: AtomicBool,
    addr: AtomicUsize,
    ip: AtomicUsize,
    write: AtomicBool,
    guard: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_FAULT: Fault = Fault {
    ready: AtomicBool::new(false),
    addr: AtomicUsize::new(0),
    ip: AtomicUsize::new(0),
    write: AtomicBool::new(false),
    guard: AtomicBool::new(false),
};

static FAULTS: [Fault; RING] = [NO_FAULT; RING];
/// Faults claimed (by handlers) and taken (by [`drain`]): slots `TAKEN..CLAIMED` are pending.
static CLAIMED: AtomicUsize = AtomicUsize::new(0);
static TAKEN: AtomicUsize = AtomicUsize::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);
/// One drainer at a time.
static DRAINING: Mutex<()> = Mutex::new(());

/// Record a fault. Async-signal-safe: atomics only, no allocation, no lock.
fn record(addr: usize, ip: usize, write: bool, guard: bool) {
    loop {
        let claimed = CLAIMED.load(Ordering::Acquire);
        if claimed.wrapping_sub(TAKEN.load(Ordering::Acquire)) >= RING {
            LOST.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if CLAIMED
            .compare_exchange(claimed, claimed + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let f = &FAULTS[claimed % RING];
            f.addr.store(addr, Ordering::Relaxed);
            f.ip.store(ip, Ordering::Relaxed);
            f.write.store(write, Ordering::Relaxed);
            f.guard.store(guard, Ordering::Relaxed);
            f.ready.store(true, Ordering::Release);
            return;
        }
    }
}

pub(super) fn lost() -> (u64, u64) {
    (
        UNPROTECTED.load(Ordering::Relaxed),
        LOST.load(Ordering::Relaxed),
    )
}

// ---- per-thread state the handlers use (const-initialized, no destructor: plain TLS) ----

/// Pages at most opened at once for one instruction (an access crossing pages, `movs`).
const STEP_MAX: usize = 4;
/// Pages at most opened for one device-side access before falling back to single steps.
const DEVICE_MAX: usize = 64;

thread_local! {
    static STEPPING: Cell<[usize; STEP_MAX]> = const { Cell::new([0; STEP_MAX]) };
    /// The address of the last fault retried as a stale protection.
    static RETRIED: Cell<usize> = const { Cell::new(0) };
    static DEVICE_OPENED: Cell<[usize; DEVICE_MAX]> = const { Cell::new([0; DEVICE_MAX]) };
}

/// Put `page` in the first free place of a per-thread list; false if it is full.
fn push<const N: usize>(
    list: &'static std::thread::LocalKey<Cell<[usize; N]>>,
    page: usize,
) -> bool {
    list.with(|cell| {
        let mut pages = cell.get();
        match pages.iter().position(|&p| p == 0 || p == page) {
            Some(i) => {
                pages[i] = page;
                cell.set(pages);
                true
            }
            None => false,
        }
    })
}

/// The thread left the device side ([`crate::context::device_side`]): protect again the pages
/// its accesses opened.
fn reprotect_device_opened() {
    let opened = DEVICE_OPENED.with(|cell| cell.replace([0; DEVICE_MAX]));
    if opened[0] == 0 {
        return;
    }
    let lock = table();
    for page in opened.into_iter().take_while(|&p| p != 0) {
        if let Some(slot) = find_or_claim(&lock, page) {
            apply(slot);
        }
    }
}

// ---- the handlers ----

static INSTALL: Once = Once::new();
static OLD_SEGV: OnceLock<libc::sigaction> = OnceLock::new();
static OLD_TRAP: OnceLock<libc::sigaction> = OnceLock::new();

fn install() {
    INSTALL.call_once(|| {
        crate::context::on_leaving_device_side(reprotect_device_opened);
        let segv = install_one(libc::SIGSEGV, on_segv as *const () as usize);
        let _ = OLD_SEGV.set(segv);
        let trap = install_one(libc::SIGTRAP, on_trap as *const () as usize);
        let _ = OLD_TRAP.set(trap);
    });
}

fn install_one(sig: libc::c_int, handler: usize) -> libc::sigaction {
    // SAFETY: zeroed `sigaction`s are valid (empty masks, no flags); ours names a handler of
    // the SA_SIGINFO signature; the old one is written by the kernel.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = handler;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        let rc = libc::sigaction(sig, &new, &mut old);
        assert_eq!(
            rc, 0,
            "dmacheck: trap mode cannot install its signal handler"
        );
        old
    }
}

/// Hand a signal that is not trap mode's to the handler before ours, as if ours were absent.
///
/// # Safety
///
/// Called from a signal handler with that handler's arguments.
unsafe fn chain(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut c_void,
    old: Option<&libc::sigaction>,
) {
    let handler = old.map_or(libc::SIG_DFL, |o| o.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the default action; a SIGSEGV then recurs when the instruction
        // is retried, a SIGTRAP is raised again, and the default action (a core) follows.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
            if sig != libc::SIGSEGV {
                libc::raise(sig);
            }
        }
        return;
    }
    let flags = old.map_or(0, |o| o.sa_flags);
    // SAFETY: `handler` is the previous handler, of the signature its flags say.
    unsafe {
        if flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}

extern "C" fn on_segv(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (addr, uc) = unsafe {
        (
            (*info).si_addr() as usize,
            &mut *ctx.cast::<libc::ucontext_t>(),
        )
    };
    let page = addr & !(PAGE_SIZE - 1);
    let slot = (page != 0).then(|| find(page)).flatten();
    let retried = RETRIED.with(|r| r.replace(0)) == addr;
    let Some(slot) = slot.filter(|_| !retried) else {
        // SAFETY: our arguments, unchanged.
        return unsafe { chain(sig, info, ctx, OLD_SEGV.get()) };
    };
    let guard = slot.guard.load(Ordering::Acquire);
    if prot_of(slot) == libc::PROT_READ | libc::PROT_WRITE {
        // Protected when it no longer should be (a race between a thread's re-protection and
        // another's lift): open it and retry, once; a second fault there is not ours.
        RETRIED.with(|r| r.set(addr));
        set_prot(page, libc::PROT_READ | libc::PROT_WRITE);
        return;
    }
    if crate::context::on_device_side() && push(&DEVICE_OPENED, page) {
        set_prot(page, libc::PROT_READ | libc::PROT_WRITE);
        return;
    }
    let gregs = &mut uc.uc_mcontext.gregs;
    if !crate::context::on_device_side() {
        let write = gregs[libc::REG_ERR as usize] & PF_WRITE != 0;
        record(addr, gregs[libc::REG_RIP as usize] as usize, write, guard);
    }
    if !push(&STEPPING, page) {
        // More pages than one instruction can touch: let it fault like an unknown page.
        // SAFETY: our arguments, unchanged.
        return unsafe { chain(sig, info, ctx, OLD_SEGV.get()) };
    }
    set_prot(page, libc::PROT_READ | libc::PROT_WRITE);
    gregs[libc::REG_EFL as usize] |= TRAP_FLAG;
}

extern "C" fn on_trap(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let stepped = STEPPING.with(|cell| cell.replace([0; STEP_MAX]));
    if stepped[0] == 0 {
        // SAFETY: our arguments, unchanged.
        return unsafe { chain(sig, info, ctx, OLD_TRAP.get()) };
    }
    for page in stepped.into_iter().take_while(|&p| p != 0) {
        match find(page) {
            Some(slot) => set_prot(page, prot_of(slot)),
            None => set_prot(page, libc::PROT_READ | libc::PROT_WRITE),
        }
    }
    // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
    let uc = unsafe { &mut *ctx.cast::<libc::ucontext_t>() };
    uc.uc_mcontext.gregs[libc::REG_EFL as usize] &= !TRAP_FLAG;
}

// ---- checkers, their buffers, and protection ----

/// A trap-mode buffer: `pages` pages from `base`, the buffer (`size` bytes) at `ptr`, then the
/// guard page.
#[derive(Clone, Copy)]
struct Buffer {
    base: usize,
    pages: usize,
    size: usize,
}

/// A fault taken from the ring: address, instruction, write, in a guard page.
type Taken = (usize, usize, bool, bool);

struct Registered {
    checker: Weak<CheckerInner>,
    /// The CPU addresses of its memory.
    memory: std::ops::Range<usize>,
    /// Faults in its memory taken from the ring, not yet reported.
    pending: Vec<Taken>,
    /// Live trap-mode buffers, by their first byte.
    buffers: BTreeMap<usize, Buffer>,
}

static CHECKERS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

fn checkers() -> MutexGuard<'static, Vec<Registered>> {
    CHECKERS.lock().unwrap_or_else(|e| e.into_inner())
}

fn registered<'a>(all: &'a mut [Registered], c: &CheckerInner) -> Option<&'a mut Registered> {
    all.iter_mut().find(|r| std::ptr::eq(r.checker.as_ptr(), c))
}

pub(super) fn register(checker: &Checker) {
    install();
    let mut all = checkers();
    all.retain(|r| r.checker.strong_count() > 0);
    let memory = checker.memory();
    let base = memory
        .cpu_of(memory.phys_base(), 0)
        .expect("the arena's start")
        .as_ptr()
        .addr();
    all.push(Registered {
        checker: std::sync::Arc::downgrade(&checker.0),
        memory: base..base + (memory.phys_end() - memory.phys_base()) as usize,
        pending: Vec::new(),
        buffers: BTreeMap::new(),
    });
}

pub(super) fn kmalloc(checker: &Checker, size: usize, gfp: Gfp) -> *mut u8 {
    if size == 0 {
        return std::ptr::null_mut();
    }
    let pages = size.div_ceil(PAGE_SIZE);
    let Some(base_ptr) = pages
        .checked_add(1)
        .and_then(|n| n.checked_mul(PAGE_SIZE))
        .and_then(|bytes| checker.memory().kmalloc(bytes, gfp))
    else {
        return std::ptr::null_mut();
    };
    let base = base_ptr.as_ptr().addr();
    let ptr = (base + pages * PAGE_SIZE - size) & !(MIN_ALIGN - 1);
    let guard = base + pages * PAGE_SIZE;
    {
        let lock = table();
        if let Some(slot) = find_or_claim(&lock, guard) {
            slot.guard.store(true, Ordering::Release);
            apply(slot);
        }
    }
    if let Some(r) = registered(&mut checkers(), checker.inner()) {
        r.buffers.insert(ptr, Buffer { base, pages, size });
    }
    base_ptr.as_ptr().wrapping_add(ptr - base)
}

pub(super) fn kfree(checker: &Checker, ptr: *const u8) -> bool {
    let removed =
        registered(&mut checkers(), checker.inner()).and_then(|r| r.buffers.remove(&ptr.addr()));
    let Some(buffer) = removed else {
        return false;
    };
    {
        let lock = table();
        for i in 0..=buffer.pages {
            if let Some(slot) = find_or_claim(&lock, buffer.base + i * PAGE_SIZE) {
                slot.guard.store(false, Ordering::Release);
                slot.no_access.store(0, Ordering::Release);
                slot.read_only.store(0, Ordering::Release);
                apply(slot);
            }
        }
    }
    let base = ptr.wrapping_sub(ptr.addr() - buffer.base);
    checker
        .memory()
        .kfree(base)
        .expect("a trap-mode buffer's pages came from the heap");
    true
}

/// The bytes of the page at `page` that belong to the allocation there: a trap-mode buffer's,
/// or the whole page.
fn owned_bytes(buffers: &BTreeMap<usize, Buffer>, page: usize) -> (usize, usize) {
    let end = page + PAGE_SIZE;
    let inside = buffers
        .range(..end)
        .next_back()
        .filter(|&(&ptr, b)| ptr + b.size > page && b.base <= page);
    match inside {
        Some((&ptr, b)) => (ptr.max(page), (ptr + b.size).min(end)),
        None => (page, end),
    }
}

/// Protect (`on`) or lift the pages wholly inside the device-owned part of `e`.
pub(super) fn protect(c: &CheckerInner, e: &Entry, on: bool) {
    if e.kind == MapKind::Coherent
        || e.kind == MapKind::Noncoherent
        || e.cpu_addr == 0
        || !c.memory.is_cpu_address(e.cpu_addr)
    {
        return;
    }
    let no_access = match e.dir {
        Direction::FromDevice | Direction::Bidirectional => true,
        Direction::ToDevice => false,
        Direction::None => return,
    };
    let cpu = e.cpu_addr as usize;
    let mut pages = Vec::new();
    {
        let all = checkers();
        let empty = BTreeMap::new();
        let buffers = all
            .iter()
            .find(|r| std::ptr::eq(r.checker.as_ptr(), c))
            .map_or(&empty, |r| &r.buffers);
        for (start, end) in e.cpu_ranges.complement(e.size) {
            let (start, end) = (cpu + start as usize, cpu + end as usize);
            let mut page = start & !(PAGE_SIZE - 1);
            while page < end {
                let (from, to) = owned_bytes(buffers, page);
                if start <= from && to <= end {
                    pages.push(page);
                }
                page += PAGE_SIZE;
            }
        }
    }
    if pages.is_empty() {
        return;
    }
    let lock = table();
    for page in pages {
        let Some(slot) = find_or_claim(&lock, page) else {
            continue;
        };
        let count = if no_access {
            &slot.no_access
        } else {
            &slot.read_only
        };
        let n = count.load(Ordering::Acquire);
        count.store(
            if on { n + 1 } else { n.saturating_sub(1) },
            Ordering::Release,
        );
        apply(slot);
    }
}

/// Open every page of the checker's memory the table knows.
pub(super) fn forget(c: &CheckerInner) {
    let _lock = table();
    for slot in &SLOTS_TABLE {
        let page = slot.page.load(Ordering::Acquire);
        if page != 0 && c.memory.is_cpu_address(page as u64) {
            slot.guard.store(false, Ordering::Release);
            slot.no_access.store(0, Ordering::Release);
            slot.read_only.store(0, Ordering::Release);
            apply(slot);
        }
    }
    drop(_lock);
    checkers().retain(|r| r.checker.strong_count() > 0 && !std::ptr::eq(r.checker.as_ptr(), c));
}

// ---- reports ----

/// Take the recorded faults, file each under the checker whose memory it hit, and report this
/// checker's (on this thread: a deny level panics here, in this checker's call).
pub(super) fn drain(c: &CheckerInner) {
    let faults = {
        let _one = DRAINING.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = TAKEN.load(Ordering::Acquire);
        let claimed = CLAIMED.load(Ordering::Acquire);
        let mut out = Vec::new();
        while taken != claimed {
            let f = &FAULTS[taken % RING];
            if !f.ready.load(Ordering::Acquire) {
                break; // still being written by a handler: taken at the next drain
            }
            out.push((
                f.addr.load(Ordering::Relaxed),
                f.ip.load(Ordering::Relaxed),
                f.write.load(Ordering::Relaxed),
                f.guard.load(Ordering::Relaxed),
            ));
            f.ready.store(false, Ordering::Release);
            taken += 1;
        }
        TAKEN.store(taken, Ordering::Release);
        out
    };
    let (mine, checker) = {
        let mut all = checkers();
        for fault in faults {
            if let Some(r) = all.iter_mut().find(|r| r.memory.contains(&fault.0)) {
                r.pending.push(fault);
            }
        }
        match registered(&mut all, c) {
            // Not the last handle: the caller holds one.
            Some(r) => (std::mem::take(&mut r.pending), r.checker.upgrade()),
            None => return,
        }
    };
    let Some(checker) = checker.map(Checker) else {
        return;
    };
    // One report per instruction and page in a batch (a `rep movs` faults once per element).
    let mut seen = std::collections::HashSet::new();
    for (addr, ip, write, guard) in mine {
        if seen.insert((ip, addr & !(PAGE_SIZE - 1), write)) {
            report(&checker, addr, ip, write, guard);
        }
    }
}

/// Where the instruction at `ip` is: the first frame of the code under test among its inlined
/// frames (not `core::ptr::read_volatile`), as file:line.
fn site_of(ip: usize) -> Site {
    static FILES: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());
    let frames = crate::site::frames_at(ip);
    // An access through an out-of-line helper (`read_volatile` in a debug build) faults in the
    // helper: then its line is the best known.
    let frame = crate::site::first_user_frame(&frames)
        .and_then(|i| frames.get(i))
        .filter(|f| f.line.is_some())
        .or_else(|| frames.iter().find(|f| f.line.is_some()))
        .or_else(|| frames.iter().find(|f| f.file.is_some()));
    let (file, line) = frame
        .and_then(|f| Some((f.file.clone()?, f.line.unwrap_or(0))))
        .unwrap_or_else(|| (format!("{ip:#x}"), 0));
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    let file: &'static str = files
        .entry(file)
        .or_insert_with_key(|k| Box::leak(k.clone().into_boxed_str()));
    Site::in_trace(file, u64::from(line))
}

fn report(checker: &Checker, addr: usize, ip: usize, write: bool, guard: bool) {
    let (op, call) = if write {
        (Op::CpuWrite, "CPU write (plain pointer)")
    } else {
        (Op::CpuRead, "CPU read (plain pointer)")
    };
    let site = site_of(ip);
    if !guard {
        checker.check_cpu_access_at(op, call, addr as u64, 1, site, |_| {});
        return;
    }
    let buffer = registered(&mut checkers(), checker.inner()).and_then(|r| {
        r.buffers
            .iter()
            .find(|(_, b)| b.base + b.pages * PAGE_SIZE == addr & !(PAGE_SIZE - 1))
            .map(|(&ptr, b)| (ptr, b.size))
    });
    let f = crate::rules::ownership::kmalloc_overrun(write, addr, ip, buffer);
    let mut ev = Event::new(op, call, MapKind::Single, DeviceId::NONE, site);
    (ev.cpu_addr, ev.size) = (Some(addr as u64), 1);
    let mut out = Findings::new();
    out.push(f);
    checker.inner().finish(&ev, out);
}
