//! A fast stack capture: walking the chain of frame pointers (about 25 ns for 16 frames, where
//! the unwinder behind `backtrace::trace` takes about 2 µs; `measure_16_frames` below).
//!
//! It works only when this crate is compiled with frame pointers (`-C force-frame-pointers=yes`
//! in `RUSTFLAGS`, or a target that keeps them; build.rs sets `cfg(dmacheck_frame_pointers)`),
//! on x86_64 or aarch64, on Linux, Android or Apple systems, and never under Miri.
//! [`frame_pointers_available`] says whether it does; otherwise [`walk`] returns 0 and callers
//! fall back to the unwinder.
//!
//! Code compiled without frame pointers (Rust's precompiled std on x86_64 Linux, most of libc)
//! may use the frame pointer register for anything. So every frame record is checked before it
//! is read: it must lie inside the current thread's stack, above the previous one, and be
//! aligned. The first record that fails ends the walk; nothing outside the stack is ever read.

/// Whether [`walk`] can capture anything in this build: frame pointers on, a supported
/// architecture and OS, and not Miri. (It can still return 0 on a thread whose stack bounds
/// the OS does not report, or when called on a stack the thread does not own.)
pub(crate) fn frame_pointers_available() -> bool {
    imp::AVAILABLE
}

/// Writes the return addresses of the current call stack into `out`, innermost first, and
/// returns how many it wrote.
///
/// `out[0]` is the return address of this call to `walk`, i.e. an address in the function that
/// called `walk` (if that call was a tail call, the function above it); `out[1]` is in that
/// function's caller, and so on. The addresses are the instructions after the calls, as with
/// `backtrace::Frame::ip`, so `backtrace::resolve` resolves them directly.
///
/// The walk stops when `out` is full, when the chain ends, or at the first frame record that
/// fails validation (outside this thread's stack, misaligned, not above the previous record, or
/// holding a return address that cannot be code) — typically at the first function compiled
/// without frame pointers. A frame of such a function that leaves the frame pointer register
/// alone is skipped silently (its caller's frame is recorded instead). Returns 0 when
/// [`frame_pointers_available`] is false, when `out` is empty, or when the stack's bounds
/// cannot be obtained.
#[inline(never)]
pub(crate) fn walk(out: &mut [usize]) -> usize {
    imp::walk(out)
}

#[cfg(all(
    dmacheck_frame_pointers,
    not(miri),
    any(target_arch = "x86_64", target_arch = "aarch64"),
    any(target_os = "linux", target_os = "android", target_vendor = "apple"),
))]
mod imp {
    use std::cell::Cell;

    pub(super) const AVAILABLE: bool = true;

    const WORD: usize = size_of::<usize>();
    /// A frame record is two words: the caller's frame pointer, then the return address.
    const RECORD: usize = 2 * WORD;
    /// x86_64 frame pointers point at `push rbp` on a stack 16-aligned at each call; AAPCS64
    /// only promises 8-byte alignment for the frame record.
    #[cfg(target_arch = "x86_64")]
    const FP_ALIGN: usize = 16;
    #[cfg(target_arch = "aarch64")]
    const FP_ALIGN: usize = 8;
    /// No code lives in the first page; a smaller "return address" is not one.
    const MIN_CODE_ADDRESS: usize = 4096;

    /// The body of [`super::walk`], inlined into it: the frame pointer read here must be
    /// `walk`'s own, which makes `out[0]` the return address into `walk`'s caller.
    #[inline(always)]
    pub(super) fn walk(out: &mut [usize]) -> usize {
        if out.is_empty() {
            return 0;
        }
        // The call to `stack_bounds` (never inlined) makes `walk` a non-leaf function, so it
        // sets up its own frame record even where only non-leaf functions must (aarch64).
        // Reading the frame pointer right after that call, in the same straight-line code,
        // keeps the read between `walk`'s prologue and epilogue whatever the optimizer does.
        let bounds = stack_bounds();
        let mut fp = frame_pointer();
        let Some((lo, hi)) = bounds else {
            return 0;
        };
        let mut n = 0;
        while n < out.len() {
            // The record [fp, fp + 16) must lie inside this thread's stack [lo, hi), aligned.
            let fits = fp >= lo && hi.checked_sub(fp).is_some_and(|room| room >= RECORD);
            if !fits || fp % FP_ALIGN != 0 {
                break;
            }
            // SAFETY: fp is in [lo, hi - 16] and 8-aligned, so fp and fp + 8 are aligned
            // usize slots inside this thread's stack. Every record read lies at or above the
            // first, which is `walk`'s own frame (each next one must be higher), so it is in
            // the part of the stack that is live and mapped: between our frame and the base.
            let (next, ret) = unsafe { (read_word(fp), read_word(fp + WORD)) };
            let ret = strip_return_address(ret);
            if ret < MIN_CODE_ADDRESS || (lo..hi).contains(&ret) {
                break;
            }
            out[n] = ret;
            n += 1;
            // Frames strictly grow toward the stack base; anything else is not a frame chain.
            if next <= fp {
                break;
            }
            fp = next;
        }
        n
    }

    /// Reads the word at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` must be aligned for `usize` and lie, with its 8 bytes, in mapped memory of this
    /// thread's stack.
    #[inline(always)]
    unsafe fn read_word(addr: usize) -> usize {
        // SAFETY: the caller guarantees an aligned, mapped stack slot. Volatile, because the
        // slot belongs to another function's frame: the compiler must not reason about it.
        unsafe { std::ptr::with_exposed_provenance::<usize>(addr).read_volatile() }
    }

    /// The frame pointer register of the function this is inlined into.
    #[inline(always)]
    fn frame_pointer() -> usize {
        let fp: usize;
        // SAFETY: copies the frame pointer register into a general register; reads no memory
        // and changes no other state. Not `pure`: it must stay where it is written.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
            #[cfg(target_arch = "aarch64")]
            core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
        }
        fp
    }

    /// The return address without a pointer-authentication code (aarch64 code built with
    /// `-mbranch-protection` signs the saved return address in its top bits).
    #[inline(always)]
    fn strip_return_address(ret: usize) -> usize {
        #[cfg(target_arch = "aarch64")]
        {
            let stripped: usize;
            // SAFETY: `hint #7` is XPACLRI: it strips the authentication code from x30 and does
            // nothing on cores without pointer authentication. Only x30 is used, as declared.
            unsafe {
                core::arch::asm!(
                    "hint #7",
                    inout("x30") ret => stripped,
                    options(pure, nomem, nostack, preserves_flags)
                );
            }
            stripped
        }
        #[cfg(not(target_arch = "aarch64"))]
        ret
    }

    /// This thread's stack, as queried once.
    #[derive(Clone, Copy)]
    enum Bounds {
        NotQueried,
        Unavailable,
        Known { lo: usize, hi: usize },
    }

    thread_local! {
        static BOUNDS: Cell<Bounds> = const { Cell::new(Bounds::NotQueried) };
    }

    /// The current thread's stack as `[lo, hi)`: queried from the OS on the first call in each
    /// thread, then cached. Never inlined (see [`walk`]).
    #[inline(never)]
    fn stack_bounds() -> Option<(usize, usize)> {
        BOUNDS
            .try_with(|cell| {
                let bounds = match cell.get() {
                    Bounds::NotQueried => {
                        let queried = match query_stack() {
                            Some((lo, hi)) => Bounds::Known { lo, hi },
                            None => Bounds::Unavailable,
                        };
                        cell.set(queried);
                        queried
                    }
                    known => known,
                };
                match bounds {
                    Bounds::Known { lo, hi } => Some((lo, hi)),
                    _ => None,
                }
            })
            .ok()
            .flatten()
    }

    /// Asks the OS for the current thread's stack (the main thread's too: glibc and musl
    /// compute it from the process's stack mapping and the stack size limit).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn query_stack() -> Option<(usize, usize)> {
        use std::mem::MaybeUninit;

        let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
        // SAFETY: pthread_self() is the calling thread, alive; pthread_getattr_np fills `attr`
        // (valid for writes) and initializes it when it returns 0.
        if unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) } != 0 {
            return None;
        }
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        // SAFETY: `attr` was initialized above; the out-pointers are valid locals.
        let rc = unsafe { libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) };
        // SAFETY: `attr` was initialized by pthread_getattr_np and is destroyed once.
        unsafe { libc::pthread_attr_destroy(attr.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        let lo = addr as usize;
        let hi = lo.checked_add(size)?;
        (lo < hi).then_some((lo, hi))
    }

    #[cfg(target_vendor = "apple")]
    fn query_stack() -> Option<(usize, usize)> {
        // SAFETY: plain queries about the calling thread, which is alive.
        let (top, size) = unsafe {
            let this = libc::pthread_self();
            (
                libc::pthread_get_stackaddr_np(this) as usize,
                libc::pthread_get_stacksize_np(this),
            )
        };
        let lo = top.checked_sub(size)?;
        (lo < top).then_some((lo, top))
    }
}

/// Without frame pointers (or under Miri): nothing to walk.
#[cfg(not(all(
    dmacheck_frame_pointers,
    not(miri),
    any(target_arch = "x86_64", target_arch = "aarch64"),
    any(target_os = "linux", target_os = "android", target_vendor = "apple"),
)))]
mod imp {
    pub(super) const AVAILABLE: bool = false;

    #[inline(always)]
    pub(super) fn walk(_out: &mut [usize]) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Captures into a buffer of `len` from one call site.
    #[inline(never)]
    fn capture(len: usize) -> Vec<usize> {
        let mut buf = vec![0; len];
        let n = walk(&mut buf);
        buf.truncate(black_box(n));
        buf
    }

    /// Calls `f(0)`, `f(1)`, ... `f(times - 1)` from one call site: the loop's condition is
    /// opaque, so the optimizer cannot unroll it into copies with return addresses of their own.
    pub(super) fn from_one_site<T>(times: usize, mut f: impl FnMut(usize) -> T) -> Vec<T> {
        let mut results = Vec::with_capacity(times);
        while results.len() < black_box(times) {
            results.push(f(results.len()));
        }
        results
    }

    #[test]
    fn tiny_and_empty_buffers() {
        assert_eq!(walk(&mut []), 0);
        let mut one = [0usize; 1];
        let n = walk(&mut one);
        assert!(n <= 1);
        if frame_pointers_available() {
            assert_eq!(n, 1, "the caller's frame is always there");
            assert_ne!(one[0], 0);
        } else {
            assert_eq!(n, 0);
            assert_eq!(one, [0]);
        }
    }

    #[test]
    fn unavailable_means_nothing() {
        let full = capture(64);
        if !frame_pointers_available() {
            assert!(full.is_empty());
        }
        assert!(full.len() <= 64);
        assert!(full.iter().all(|&ret| ret != 0));
    }

    /// Shorter buffers get prefixes of the same walk, never more than they hold.
    #[test]
    fn shorter_buffers_get_prefixes() {
        const LENS: [usize; 6] = [0, 1, 2, 3, 5, 64];
        let captures = from_one_site(LENS.len(), |i| capture(LENS[i]));
        let longest = captures.last().unwrap().clone();
        for (len, c) in LENS.into_iter().zip(&captures) {
            assert_eq!(c.len(), len.min(longest.len()));
            assert_eq!(c[..], longest[..c.len()]);
        }
    }

    /// Threads other than the test's get their own bounds, even with a small stack.
    #[test]
    fn other_threads() {
        let walked = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| from_one_site(2, |_| capture(16)))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(walked[0], walked[1], "same call path, same stack");
        assert_eq!(walked[0].is_empty(), !frame_pointers_available());
    }

    #[cfg(all(
        dmacheck_frame_pointers,
        not(miri),
        any(target_arch = "x86_64", target_arch = "aarch64"),
        any(target_os = "linux", target_os = "android", target_vendor = "apple"),
    ))]
    mod with_frame_pointers {
        use super::super::*;
        use std::hint::black_box;

        #[inline(never)]
        fn chain_a(out: &mut [usize]) -> usize {
            let n = chain_b(out);
            black_box(n)
        }

        #[inline(never)]
        fn chain_b(out: &mut [usize]) -> usize {
            let n = chain_c(out);
            black_box(n)
        }

        #[inline(never)]
        fn chain_c(out: &mut [usize]) -> usize {
            let n = walk(out);
            black_box(n)
        }

        /// Unlike `chain_b` in its body too, or the optimizer would merge the two.
        #[inline(never)]
        fn other_caller(out: &mut [usize]) -> usize {
            black_box(out.len());
            let n = chain_c(out);
            black_box(n)
        }

        /// The demangled name of the function holding the return address `ret`.
        fn name_of(ret: usize) -> String {
            let mut name = String::from("??");
            backtrace::resolve(ret as *mut std::ffi::c_void, |symbol| {
                if let Some(n) = symbol.name() {
                    name = format!("{n:#}");
                }
            });
            name
        }

        #[test]
        fn available() {
            assert!(frame_pointers_available());
        }

        #[test]
        fn chain_resolves_in_order() {
            let mut out = [0usize; 32];
            let n = chain_a(&mut out);
            assert!(n >= 3, "only {n} frames");
            let names: Vec<String> = out[..n].iter().map(|&ret| name_of(ret)).collect();
            assert!(names[0].ends_with("chain_c"), "{names:#?}");
            assert!(names[1].ends_with("chain_b"), "{names:#?}");
            assert!(names[2].ends_with("chain_a"), "{names:#?}");
            if n > 3 {
                assert!(names[3].ends_with("chain_resolves_in_order"), "{names:#?}");
            }
        }

        #[test]
        fn same_path_same_addresses_other_caller_differs() {
            let same = super::from_one_site(2, |_| {
                let mut out = [0usize; 32];
                let n = chain_a(&mut out);
                out[..n].to_vec()
            });
            assert_eq!(same[0], same[1]);

            let mut out = [0usize; 32];
            let n = other_caller(&mut out);
            let other = &out[..n];
            assert!(n >= 2);
            assert_eq!(other[0], same[0][0], "both return into chain_c");
            assert_ne!(other[1], same[0][1], "other_caller is not chain_b");
            assert!(name_of(other[1]).ends_with("other_caller"));
            assert_ne!(other, &same[0][..]);
        }

        #[inline(never)]
        fn recurse<R>(depth: usize, at_bottom: &mut dyn FnMut() -> R) -> R {
            if depth == 0 {
                return at_bottom();
            }
            let r = recurse(depth - 1, at_bottom);
            black_box(r)
        }

        #[test]
        fn deep_stacks_fill_the_buffer() {
            let n = recurse(40, &mut || {
                let mut out = [0usize; 16];
                walk(&mut out)
            });
            assert_eq!(n, 16);
        }

        /// How far the walk gets in a `cargo test` thread, and what it stops at. Run with
        /// `RUSTFLAGS="-C force-frame-pointers=yes" cargo test --lib frames --target-dir
        /// target/fp -- --ignored --nocapture`.
        #[test]
        #[ignore = "prints the frames a test thread's walk reaches"]
        fn print_depth_in_test_thread() {
            let mut out = [0usize; 256];
            let n = walk(&mut out);
            println!("walk from a test function: {n} frames");
            for &ret in &out[..n] {
                println!("  {ret:#x} {}", name_of(ret));
            }
            let mut all = Vec::new();
            backtrace::trace(|frame| {
                all.push(frame.ip() as usize);
                true
            });
            println!(
                "backtrace::trace from the same function: {} frames",
                all.len()
            );
            for &ip in &all {
                println!("  {ip:#x} {}", name_of(ip));
            }
        }

        /// The cost of one 16-frame capture. Run in release:
        /// `RUSTFLAGS="-C force-frame-pointers=yes" cargo test --release --lib frames
        /// --target-dir target/fp -- --ignored --nocapture`.
        ///
        /// 1M walks and 20k traces, each timed in 20 batches; the fastest batch is the figure
        /// least disturbed by other load on the machine.
        #[test]
        #[ignore = "a measurement, not a check"]
        fn measure_16_frames() {
            use std::time::Instant;

            /// ns per call of `f`: (fastest batch, median batch).
            fn per_call(batches: u32, per_batch: u32, mut f: impl FnMut()) -> (f64, f64) {
                let mut ns: Vec<f64> = (0..batches)
                    .map(|_| {
                        let start = Instant::now();
                        for _ in 0..per_batch {
                            f();
                        }
                        start.elapsed().as_nanos() as f64 / f64::from(per_batch)
                    })
                    .collect();
                ns.sort_by(f64::total_cmp);
                (ns[0], ns[ns.len() / 2])
            }

            recurse(24, &mut || {
                let mut out = [0usize; 16];
                assert_eq!(walk(&mut out), 16);
                let (walk_min, walk_median) = per_call(20, 50_000, || {
                    black_box(walk(black_box(&mut out)));
                });
                let (trace_min, trace_median) = per_call(20, 1_000, || {
                    let mut n = 0;
                    backtrace::trace(|frame| {
                        out[n] = frame.ip() as usize;
                        n += 1;
                        n < 16
                    });
                    assert_eq!(black_box(n), 16);
                });
                println!(
                    "16 frames, ns per capture (fastest batch / median): \
                     frame-pointer walk {walk_min:.1} / {walk_median:.1}, \
                     backtrace::trace {trace_min:.0} / {trace_median:.0}"
                );
            });
        }
    }
}
