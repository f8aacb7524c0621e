//! The `capi` fuzz target: any bytes are a sequence of C ABI calls (the functions `include/`
//! declares, called here through their C symbols) with arbitrary integers, lengths, counts and
//! directions, and pointers drawn from a small pool: valid (dmacheck's own memory, this
//! harness's lists and buffers), freed (`kfree`d), foreign (memory dmacheck does not manage),
//! garbage and NULL. Nothing may crash, hang or abort (an internal panic aborts at the C
//! boundary); at the end of each input every entry it left is swept up through the C calls, and
//! the process-wide checker must then hold none, so inputs stay independent.
//!
//! The harness keeps the C contract where breaking it would crash any program, not the checker:
//! a buffer given to `dmacheck_device_read`/`write` holds `len` bytes unless `len` is larger than
//! all of memory (the hardened case), and `sg_init_table` is only given this harness's lists.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use std::sync::OnceLock;

use dmacheck::capi::CScatterlist;
use dmacheck::{Checker, DMA_MAPPING_ERROR, DmaAddr, MapKind};

type Dev = *mut c_void;

unsafe extern "C" {
    fn dmacheck_device_create(name: *const c_char, driver: *const c_char, mask: u64) -> Dev;
    fn dmacheck_iommu_device_create(name: *const c_char, driver: *const c_char, mask: u64) -> Dev;
    fn dmacheck_device_release(dev: Dev);
    fn dmacheck_device_read(dev: Dev, addr: DmaAddr, buf: *mut c_void, len: usize) -> c_int;
    fn dmacheck_device_write(dev: Dev, addr: DmaAddr, buf: *const c_void, len: usize) -> c_int;
    fn kmalloc(size: usize, flags: c_uint) -> *mut c_void;
    fn kfree(p: *const c_void);
    fn virt_to_page(addr: *const c_void) -> *mut c_void;
    fn dma_map_single(dev: Dev, cpu: *mut c_void, size: usize, dir: c_int) -> DmaAddr;
    fn dma_unmap_single(dev: Dev, dma: DmaAddr, size: usize, dir: c_int);
    fn dma_map_page(dev: Dev, page: *mut c_void, off: c_ulong, size: usize, dir: c_int) -> DmaAddr;
    fn dma_unmap_page(dev: Dev, dma: DmaAddr, size: usize, dir: c_int);
    fn dma_mapping_error(dev: Dev, dma: DmaAddr) -> c_int;
    fn dma_sync_single_for_cpu(dev: Dev, dma: DmaAddr, size: usize, dir: c_int);
    fn dma_sync_single_for_device(dev: Dev, dma: DmaAddr, size: usize, dir: c_int);
    fn dma_alloc_coherent(dev: Dev, size: usize, handle: *mut DmaAddr, gfp: c_uint) -> *mut c_void;
    fn dma_free_coherent(dev: Dev, size: usize, cpu: *mut c_void, handle: DmaAddr);
    fn dma_map_sg(dev: Dev, sg: *mut CScatterlist, nents: c_int, dir: c_int) -> c_int;
    fn dma_unmap_sg(dev: Dev, sg: *mut CScatterlist, nents: c_int, dir: c_int);
    fn dma_sync_sg_for_cpu(dev: Dev, sg: *mut CScatterlist, nents: c_int, dir: c_int);
    fn dma_sync_sg_for_device(dev: Dev, sg: *mut CScatterlist, nents: c_int, dir: c_int);
    fn dmacheck_sg_dma_address_ptr(sg: *mut CScatterlist) -> *mut DmaAddr;
    fn dmacheck_sg_dma_len_ptr(sg: *mut CScatterlist) -> *mut c_uint;
    fn sg_init_table(sg: *mut CScatterlist, nents: c_uint);
}

const GFP_KERNEL: c_uint = 0xcc0;
const SG_CHAIN: c_ulong = 1;
const SG_END: c_ulong = 2;
/// Entries in each of the harness's lists.
const LIST_LEN: usize = 8;
/// The largest device access the harness has a buffer for; longer ones are given one only when
/// they are longer than all of memory (then no mapping can hold them, and they must be refused
/// before the buffer is touched).
const ACCESS_BUF: usize = 1 << 16;
/// Calls per input at most, so one input stays quick.
const MAX_CALLS: usize = 256;

/// The devices every input uses, made once per process (C devices are never freed): one on
/// the direct backend, one behind the IOMMU, one released from the start.
struct Devices {
    direct: usize,
    iommu: usize,
    released: usize,
}

fn devices() -> &'static Devices {
    static DEVICES: OnceLock<Devices> = OnceLock::new();
    DEVICES.get_or_init(|| {
        // SAFETY: NUL-terminated names; the calls are the C ABI's.
        unsafe {
            let driver = c"fuzz".as_ptr();
            let direct = dmacheck_device_create(c"fuzz-direct".as_ptr(), driver, u64::MAX);
            let iommu = dmacheck_iommu_device_create(c"fuzz-iommu".as_ptr(), driver, u64::MAX);
            let released = dmacheck_device_create(c"fuzz-released".as_ptr(), driver, !0u32 as u64);
            dmacheck_device_release(released);
            Devices {
                direct: direct as usize,
                iommu: iommu as usize,
                released: released as usize,
            }
        }
    })
}

/// The input, read a byte or a word at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | u64::from(self.byte()) << (8 * i))
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.byte()) % items.len()]
    }

    /// A length: the edges, small ones, and anything at all.
    fn len(&mut self) -> usize {
        match self.byte() % 12 {
            0 => 0,
            1 => 1,
            2 => 64,
            3 => 4096,
            4 => 4097,
            5 => usize::MAX,
            6 => usize::MAX - 63,
            7 => 1 << 40,
            8 => ACCESS_BUF,
            9 => usize::from(self.byte()) << 6,
            10 => (self.u64() % (1 << 16)) as usize,
            // Anything at all, except that a length that could be mapped stays under 64 KiB:
            // the process-wide checker lives through every input, and one huge mapping would
            // slow every later lookup of an unknown address (which scans back over the
            // longest mapping's span) for the rest of the run.
            _ => match self.u64() {
                huge if huge >= 1 << 40 => huge as usize,
                mappable => (mappable % (1 << 16)) as usize,
            },
        }
    }

    /// A count for an sg call: in range, past it, zero, negative, extreme.
    fn count(&mut self) -> c_int {
        match self.byte() % 8 {
            0 => -1,
            1 => 0,
            2 => c_int::MIN,
            3 => c_int::MAX,
            4 => LIST_LEN as c_int + 1,
            5 => self.u64() as c_int,
            _ => 1 + c_int::from(self.byte()) % LIST_LEN as c_int,
        }
    }

    /// A direction as C passes it: valid ones mostly, and garbage.
    fn dir(&mut self) -> c_int {
        match self.byte() % 8 {
            0..=4 => c_int::from(self.byte() % 3),
            5 => 3,
            6 => -1,
            _ => self.u64() as c_int,
        }
    }
}

/// An address where no memory can be: below `mmap_min_addr`, or in the kernel's half.
fn garbage(input: &mut Input) -> usize {
    let bits = input.u64() as usize;
    if bits & 1 == 0 {
        bits % 0x1_0000
    } else {
        bits | 0xffff_8000_0000_0000
    }
}

/// What one input has made and may use: buffers (live and freed), DMA handles it was given, two
/// sg lists of its own, and memory dmacheck does not manage.
struct Harness {
    bufs: Vec<(usize, usize)>,
    freed: Vec<usize>,
    handles: Vec<DmaAddr>,
    coherent: Vec<(usize, usize, DmaAddr, usize)>,
    lists: [Box<[CScatterlist; LIST_LEN]>; 2],
    foreign: Box<[u8; 4096]>,
    access: Vec<u8>,
}

impl Harness {
    fn new() -> Harness {
        let mut h = Harness {
            bufs: Vec::new(),
            freed: Vec::new(),
            handles: vec![0, DMA_MAPPING_ERROR, 0x1000, u64::MAX - 7],
            coherent: Vec::new(),
            lists: [Box::default(), Box::default()],
            foreign: Box::new([0; 4096]),
            access: vec![0; ACCESS_BUF],
        };
        for list in &mut h.lists {
            // SAFETY: the harness's own list of LIST_LEN entries.
            unsafe { sg_init_table(list.as_mut_ptr(), LIST_LEN as c_uint) };
        }
        h
    }

    /// Keep each list ending inside its array (an end mark or a chain link in its last entry):
    /// a list that runs past its memory breaks the contract in a way no checker can see.
    fn keep_lists_ended(&mut self) {
        for list in &mut self.lists {
            let last = &mut list[LIST_LEN - 1];
            if last.page_link & (SG_END | SG_CHAIN) == 0 {
                last.page_link |= SG_END;
            }
        }
    }

    fn device(&self, input: &mut Input) -> Dev {
        let d = devices();
        let foreign = self.foreign.as_ptr() as usize;
        input.pick(&[
            d.direct,
            d.direct,
            d.iommu,
            d.iommu,
            d.released,
            0,
            foreign,
            0xdead_beef,
        ]) as Dev
    }

    /// A CPU pointer: into a live buffer (at an offset), freed, foreign, on the stack, garbage
    /// or NULL. Never dereferenced by the harness.
    fn cpu(&self, input: &mut Input) -> *mut c_void {
        let live = |input: &mut Input| {
            let (p, size) = self.bufs[usize::from(input.byte()) % self.bufs.len()];
            p + usize::from(input.byte()) % size.max(1)
        };
        let at = match input.byte() % 8 {
            0..=3 if !self.bufs.is_empty() => live(input),
            4 if !self.freed.is_empty() => self.freed[usize::from(input.byte()) % self.freed.len()],
            5 => self.foreign.as_ptr() as usize + usize::from(input.byte()),
            6 => std::ptr::from_ref(input).addr(),
            7 => input.u64() as usize,
            _ => 0,
        };
        std::ptr::with_exposed_provenance_mut(at)
    }

    fn handle(&self, input: &mut Input) -> DmaAddr {
        let h = self.handles[usize::from(input.byte()) % self.handles.len()];
        match input.byte() % 4 {
            0 => h.wrapping_add(u64::from(input.byte())),
            1 => input.u64(),
            _ => h,
        }
    }

    /// The arguments of a call on a handle, drawn in order: device, handle, length, direction.
    fn handle_call(&self, input: &mut Input) -> (Dev, DmaAddr, usize, c_int) {
        let (dev, h) = (self.device(input), self.handle(input));
        (dev, h, input.len(), input.dir())
    }

    /// The arguments of a call on an sg list, drawn in order: device, list, count, direction.
    fn list_call(&mut self, input: &mut Input) -> (Dev, *mut CScatterlist, c_int, c_int) {
        let (dev, sg) = (self.device(input), self.list(input));
        (dev, sg, input.count(), input.dir())
    }

    /// An sg list pointer: one of the harness's lists (or an entry inside one), garbage, NULL.
    fn list(&mut self, input: &mut Input) -> *mut CScatterlist {
        let which = usize::from(input.byte());
        match which % 6 {
            0..=2 => self.lists[which % 2].as_mut_ptr(),
            3 => self.lists[which % 2][1 + which % (LIST_LEN - 1)..].as_mut_ptr(),
            4 => std::ptr::with_exposed_provenance_mut(garbage(input)),
            _ => std::ptr::null_mut(),
        }
    }

    /// Fill entry `i` of a list: a buffer's page, a garbage page, a chain link (to the other
    /// list, into this one, to itself, to garbage), with arbitrary offset, length and end mark.
    fn set_entry(&mut self, input: &mut Input) {
        let (l, i) = (
            usize::from(input.byte()) % 2,
            usize::from(input.byte()) % LIST_LEN,
        );
        let page = |input: &mut Input, h: &Harness| -> c_ulong {
            let p = h.cpu(input);
            // SAFETY: any pointer is accepted; NULL for one that names no page.
            unsafe { virt_to_page(p) as c_ulong }
        };
        let link = match input.byte() % 8 {
            0..=3 => page(input, self),
            4 => self.lists[1 - l].as_ptr() as c_ulong | SG_CHAIN,
            5 => self.lists[l].as_ptr() as c_ulong | SG_CHAIN,
            6 => (&raw const self.lists[l][i]) as c_ulong | SG_CHAIN,
            _ => garbage(input) as c_ulong | SG_CHAIN,
        };
        let end = if input.byte() % 4 == 0 { SG_END } else { 0 };
        let e = &mut self.lists[l][i];
        e.page_link = link | end;
        e.offset = c_uint::from(input.byte()) * 16;
        e.length = match input.byte() % 4 {
            0 => 0,
            // Any length; one that could be mapped stays under 64 KiB (see `Input::len`).
            1 => match input.u64() as c_uint {
                huge if huge >= 1 << 30 => huge,
                mappable => mappable % (1 << 16),
            },
            _ => 1 + c_uint::from(input.byte()) * 8,
        };
        self.keep_lists_ended();
    }

    /// A device access: a length the harness has a buffer for, or one longer than all memory.
    fn access_len(&self, input: &mut Input) -> usize {
        let len = input.len();
        if len <= ACCESS_BUF || len > (1 << 40) {
            len
        } else {
            len % (ACCESS_BUF + 1)
        }
    }

    fn step(&mut self, input: &mut Input) {
        // SAFETY (every call below): the C ABI's functions, with arguments that break its
        // contract only where the checker promises to cope (see the module comment).
        unsafe {
            match input.byte() % 20 {
                0 => {
                    let size = 1 + usize::from(input.byte()) * 64;
                    let p = kmalloc(size, GFP_KERNEL);
                    if !p.is_null() {
                        self.bufs.push((p as usize, size));
                    }
                }
                1 if !self.bufs.is_empty() => {
                    let (p, _) = self
                        .bufs
                        .swap_remove(usize::from(input.byte()) % self.bufs.len());
                    kfree(p as *const c_void);
                    self.freed.push(p);
                }
                2 | 3 => {
                    let (dev, cpu, len, dir) = (
                        self.device(input),
                        self.cpu(input),
                        input.len(),
                        input.dir(),
                    );
                    let h = dma_map_single(dev, cpu, len, dir);
                    self.handles.push(h);
                }
                4 => {
                    let (dev, cpu, len, dir) = (
                        self.device(input),
                        self.cpu(input),
                        input.len(),
                        input.dir(),
                    );
                    let off = c_ulong::from(input.byte()) * 8;
                    let h = dma_map_page(dev, virt_to_page(cpu), off, len, dir);
                    self.handles.push(h);
                }
                5 => {
                    let (dev, h) = (self.device(input), self.handle(input));
                    dma_mapping_error(dev, h);
                }
                6 => {
                    let (dev, h, len, dir) = self.handle_call(input);
                    if input.byte() % 2 == 0 {
                        dma_unmap_single(dev, h, len, dir);
                    } else {
                        dma_unmap_page(dev, h, len, dir);
                    }
                }
                7 => {
                    let (dev, h, len, dir) = self.handle_call(input);
                    if input.byte() % 2 == 0 {
                        dma_sync_single_for_cpu(dev, h, len, dir);
                    } else {
                        dma_sync_single_for_device(dev, h, len, dir);
                    }
                }
                8 => {
                    let (dev, len) = (self.device(input), input.len());
                    let mut h = 0;
                    let p = dma_alloc_coherent(dev, len, &mut h, GFP_KERNEL);
                    if !p.is_null() {
                        self.coherent.push((dev as usize, len, h, p as usize));
                        self.handles.push(h);
                    }
                }
                9 if !self.coherent.is_empty() => {
                    let i = usize::from(input.byte()) % self.coherent.len();
                    let (dev, len, h, p) = self.coherent.swap_remove(i);
                    // Sometimes with the wrong size, handle or device.
                    let (dev, len, h) = match input.byte() % 4 {
                        0 => (self.device(input), len, h),
                        1 => (dev as Dev, input.len(), h),
                        2 => (dev as Dev, len, self.handle(input)),
                        _ => (dev as Dev, len, h),
                    };
                    dma_free_coherent(dev, len, p as *mut c_void, h);
                }
                10..=12 => self.set_entry(input),
                13 => {
                    let (dev, sg, n, dir) = self.list_call(input);
                    dma_map_sg(dev, sg, n, dir);
                }
                14 => {
                    let (dev, sg, n, dir) = self.list_call(input);
                    dma_unmap_sg(dev, sg, n, dir);
                }
                15 => {
                    let (dev, sg, n, dir) = self.list_call(input);
                    if input.byte() % 2 == 0 {
                        dma_sync_sg_for_cpu(dev, sg, n, dir);
                    } else {
                        dma_sync_sg_for_device(dev, sg, n, dir);
                    }
                }
                16 => {
                    // The DMA side of an entry: a list's, NULL, or garbage only for the check
                    // (the pointer it returns is read only for the harness's own entries).
                    let l = usize::from(input.byte()) % 2;
                    let i = usize::from(input.byte()) % LIST_LEN;
                    let sg = match input.byte() % 3 {
                        0 => std::ptr::null_mut(),
                        _ => &raw mut self.lists[l][i],
                    };
                    let addr = dmacheck_sg_dma_address_ptr(sg).read();
                    let len = dmacheck_sg_dma_len_ptr(sg).read();
                    std::hint::black_box((addr, len));
                }
                17 => {
                    let l = usize::from(input.byte()) % 2;
                    let n = 1 + c_uint::from(input.byte()) % LIST_LEN as c_uint;
                    sg_init_table(self.lists[l].as_mut_ptr(), n);
                    self.keep_lists_ended();
                }
                18 | 19 => {
                    let (dev, h, len) = (
                        self.device(input),
                        self.handle(input),
                        self.access_len(input),
                    );
                    let buf = self.access.as_mut_ptr().cast::<c_void>();
                    if input.byte() % 2 == 0 {
                        dmacheck_device_read(dev, h, buf, len);
                    } else {
                        dmacheck_device_write(dev, h, buf, len);
                    }
                }
                _ => {}
            }
        }
    }

    /// Sweep up: every entry left on the fuzz devices is ended through the C calls (a release
    /// of another kind than the map still ends it), buffers are freed and the lists forgotten.
    fn finish(mut self) {
        let checker = Checker::global();
        let d = devices();
        for e in checker.live_entries() {
            let name = checker.device_name(e.device());
            let dev = match &*name {
                "fuzz-direct" => d.direct,
                "fuzz-iommu" => d.iommu,
                other => panic!("an entry on {other}, a device no input can map on"),
            } as Dev;
            // SAFETY: the C ABI, with the entry's own values.
            unsafe {
                if e.kind() == MapKind::Coherent {
                    dma_free_coherent(
                        dev,
                        e.size() as usize,
                        e.cpu_addr() as *mut c_void,
                        e.dma_addr(),
                    );
                } else {
                    dma_unmap_single(dev, e.dma_addr(), e.size() as usize, e.dir() as u8 as c_int);
                }
            }
        }
        for list in &mut self.lists {
            // SAFETY: the harness's own list of LIST_LEN entries.
            unsafe { sg_init_table(list.as_mut_ptr(), LIST_LEN as c_uint) };
        }
        for (p, _) in self.bufs.drain(..) {
            // SAFETY: a buffer from kmalloc.
            unsafe { kfree(p as *const c_void) };
        }
        let left = checker.live_entries();
        assert!(left.is_empty(), "entries the sweep could not end: {left:?}");
        let _ = checker.take_violations();
    }
}

/// Run one input: at most [`MAX_CALLS`] calls, then the sweep.
pub fn fuzz_capi(data: &[u8]) {
    let mut input = Input(data);
    let mut harness = Harness::new();
    for _ in 0..MAX_CALLS {
        if input.0.is_empty() {
            break;
        }
        harness.step(&mut input);
    }
    harness.finish();
}
