//! The dma-api crate on dmacheck: [`CheckedDmaOp`] wraps a platform's `dma_api::DmaOp` and
//! records every call it forwards as a dmacheck [`Event`], judged by the same rules as the
//! shim's calls.
//!
//! | `DmaOp` call | recorded as |
//! |---|---|
//! | `map_streaming` (success) | a map of a single mapping (`dma_map_single`) with its direction, then the `dma_mapping_error` check (a `Result` cannot go unchecked) |
//! | `unmap_streaming` | its unmap, with the direction of the map |
//! | `sync_map_for_cpu` / `sync_map_for_device` | `dma_sync_single_range_for_cpu` / `_for_device` |
//! | `alloc_contiguous` / `dealloc_contiguous` | a noncoherent allocation and its free (`dma_alloc_noncoherent`: normal memory, owned by the CPU until synced for the device) |
//! | `sync_alloc_for_cpu` / `sync_alloc_for_device` | syncs of that allocation |
//! | `alloc_coherent` / `dealloc_coherent` | a coherent allocation and its free |
//!
//! The inner implementation does the real work: its addresses, its memory, its cache
//! maintenance. dmacheck keeps the table and judges: unknown or double unmaps and frees, syncs
//! of unknown or released handles, syncs past the end of a mapping or in a direction it does
//! not allow, unaligned partial syncs, leaks when the device is released (`dev.release()`), and
//! the call context (IRQs disabled at a coherent free). Device accesses are not seen: the inner
//! implementation's memory is not dmacheck's arena.
//!
//! The one-line change a user makes: wrap the platform's op where the `DeviceDma` is built,
//!
//! ```ignore
//! let dma = DeviceDma::new(info, Box::leak(Box::new(CheckedDmaOp::new(PlatformOp, &dev))));
//! ```
//!
//! Reports name the driver's call — the first frame of the stack outside dmacheck and dma-api
//! (`dma.map_streaming_slice(..)` in the driver) — with no setting: dma-api calls its `DmaOp`
//! through a trait object, where `#[track_caller]` cannot follow, so the adapter unwinds a short
//! stack at every call (microseconds; `DMACHECK=stacks=<n>` for more frames).
//!
//! [`HeapDmaOp`] is a ready inner implementation for tests: heap memory, the CPU address as the
//! DMA address, no cache maintenance (a coherent platform).
//!
//! ```
//! use dma_api::{DeviceDma, DmaCoherency, DmaConstraints, DmaDeviceInfo, DmaDirection, DmaDomainId};
//! use dmacheck::adapters::dma_api::{CheckedDmaOp, HeapDmaOp};
//!
//! let checker = dmacheck::Checker::builder().env(false).print(false).build();
//! let dev = checker.device("nvme0").driver("mydrv").build();
//! let op: &'static CheckedDmaOp<HeapDmaOp> = Box::leak(Box::new(CheckedDmaOp::new(HeapDmaOp, &dev)));
//! let info = DmaDeviceInfo::new(DmaDomainId::Direct, DmaCoherency::Coherent, DmaConstraints::new(u64::MAX));
//! let dma = DeviceDma::new(info, op);
//!
//! let mut buf = vec![0u8; 512];
//! let map = dma.map_streaming_slice(&mut buf, 1, DmaDirection::ToDevice).unwrap();
//! std::mem::forget(map); // the driver forgets to unmap
//! dev.release();
//! assert_eq!(checker.violations()[0].rule.id, "leak"); // mapped by the line above, says the report
//! ```

use std::alloc::Layout;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use crate::sync::Mutex;
use dma_api::{
    DmaAddr, DmaAllocHandle, DmaCoherency, DmaConstraints, DmaDirection, DmaError, DmaMapHandle,
    DmaOp,
};

use crate::device::Device;
use crate::event::{Event, Op};
use crate::site::Site;
use crate::types::{Direction, MapKind};

/// Frames captured per call at least, whatever `DMACHECK=stacks` says: enough to reach the
/// driver's frame through dma-api's own.
const ADAPTER_STACK_DEPTH: usize = 8;

/// The dmacheck direction of a dma-api direction.
pub fn direction(dir: DmaDirection) -> Direction {
    match dir {
        DmaDirection::ToDevice => Direction::ToDevice,
        DmaDirection::FromDevice => Direction::FromDevice,
        DmaDirection::Bidirectional => Direction::Bidirectional,
    }
}

/// A `DmaOp` that forwards every call to `O` and records it in dmacheck for `dev`. See the
/// [module documentation](self).
pub struct CheckedDmaOp<O> {
    inner: O,
    dev: Device,
    /// The direction of each live streaming mapping, by DMA address: `DmaMapHandle` does not
    /// carry it, and the unmap must name it.
    dirs: Mutex<HashMap<u64, DmaDirection>>,
}

impl<O: DmaOp> CheckedDmaOp<O> {
    /// Check `inner`'s calls as calls of `dev`.
    pub fn new(inner: O, dev: &Device) -> Self {
        CheckedDmaOp {
            inner,
            dev: dev.clone(),
            dirs: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped implementation.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The dmacheck device the calls are recorded for.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    #[track_caller]
    fn event(&self, op: Op, call: &'static str, kind: MapKind) -> Event {
        Event::new(op, call, kind, self.dev.id(), self.site())
    }

    /// Where the driver made the call. dma-api calls its `DmaOp` through a trait object, so
    /// `#[track_caller]` stops at this adapter; the stack is unwound at every call (a call
    /// site's first stack cannot be reused: every call comes through the same lines) and
    /// reports name its first frame outside dmacheck and dma-api — the driver's call.
    #[track_caller]
    fn site(&self) -> Site {
        let config = self.dev.checker().config();
        if !config.enabled {
            return Site::capture(0);
        }
        Site::capture_exact(config.stack_depth.max(ADAPTER_STACK_DEPTH))
    }

    #[track_caller]
    fn record(&self, ev: &Event) {
        if self.dev.checker().config().enabled {
            self.dev.checker().record(ev);
        }
    }

    #[track_caller]
    fn record_alloc(&self, call: &'static str, kind: MapKind, h: &DmaAllocHandle) {
        let mut ev = self.event(Op::Map, call, kind);
        (ev.dma_addr, ev.size, ev.cpu_addr) = (
            h.dma_addr().as_u64(),
            h.size() as u64,
            Some(h.as_ptr().as_ptr() as u64),
        );
        self.record(&ev);
        let mut check = self.event(Op::MappingErrorCheck, "dma_mapping_error", kind);
        check.dma_addr = ev.dma_addr;
        self.record(&check);
    }

    #[track_caller]
    fn record_free(&self, call: &'static str, kind: MapKind, h: &DmaAllocHandle) {
        let mut ev = self.event(Op::Unmap, call, kind);
        (ev.dma_addr, ev.size, ev.cpu_addr) = (
            h.dma_addr().as_u64(),
            h.size() as u64,
            Some(h.as_ptr().as_ptr() as u64),
        );
        self.record(&ev);
    }

    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    fn record_sync(
        &self,
        op: Op,
        call: &'static str,
        kind: MapKind,
        dma: u64,
        offset: usize,
        size: usize,
        dir: DmaDirection,
    ) {
        let mut ev = self.event(op, call, kind);
        (ev.dma_addr, ev.offset, ev.size, ev.dir) =
            (dma, offset as u64, size as u64, direction(dir));
        self.record(&ev);
    }
}

impl<O: DmaOp> DmaOp for CheckedDmaOp<O> {
    fn page_size(&self) -> usize {
        self.inner.page_size()
    }

    #[track_caller]
    unsafe fn alloc_contiguous(
        &self,
        constraints: DmaConstraints,
        layout: Layout,
    ) -> Option<DmaAllocHandle> {
        // SAFETY: forwarded from the caller.
        let h = unsafe { self.inner.alloc_contiguous(constraints, layout) }?;
        self.record_alloc("DmaOp::alloc_contiguous", MapKind::Noncoherent, &h);
        Some(h)
    }

    #[track_caller]
    unsafe fn dealloc_contiguous(&self, handle: DmaAllocHandle) {
        self.record_free("DmaOp::dealloc_contiguous", MapKind::Noncoherent, &handle);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.dealloc_contiguous(handle) }
    }

    #[track_caller]
    unsafe fn alloc_coherent(
        &self,
        constraints: DmaConstraints,
        layout: Layout,
    ) -> Option<DmaAllocHandle> {
        // SAFETY: forwarded from the caller.
        let h = unsafe { self.inner.alloc_coherent(constraints, layout) }?;
        self.record_alloc("DmaOp::alloc_coherent", MapKind::Coherent, &h);
        Some(h)
    }

    #[track_caller]
    unsafe fn dealloc_coherent(&self, handle: DmaAllocHandle) -> Result<(), DmaError> {
        self.record_free("DmaOp::dealloc_coherent", MapKind::Coherent, &handle);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.dealloc_coherent(handle) }
    }

    #[track_caller]
    unsafe fn map_streaming(
        &self,
        constraints: DmaConstraints,
        addr: NonNull<u8>,
        size: NonZeroUsize,
        dir: DmaDirection,
    ) -> Result<DmaMapHandle, DmaError> {
        // SAFETY: forwarded from the caller.
        let h = unsafe { self.inner.map_streaming(constraints, addr, size, dir) }?;
        let mut ev = self.event(Op::Map, "DmaOp::map_streaming", MapKind::Single);
        (ev.dma_addr, ev.size, ev.dir, ev.cpu_addr) = (
            h.dma_addr().as_u64(),
            h.size() as u64,
            direction(dir),
            Some(addr.as_ptr() as u64),
        );
        self.record(&ev);
        let mut check = self.event(Op::MappingErrorCheck, "dma_mapping_error", MapKind::Single);
        check.dma_addr = ev.dma_addr;
        self.record(&check);
        self.dirs.lock().insert(ev.dma_addr, dir);
        Ok(h)
    }

    #[track_caller]
    unsafe fn unmap_streaming(&self, handle: DmaMapHandle) {
        let dma = handle.dma_addr().as_u64();
        let dir = self.dirs.lock().remove(&dma);
        let mut ev = self.event(Op::Unmap, "DmaOp::unmap_streaming", MapKind::Single);
        (ev.dma_addr, ev.size, ev.cpu_addr) = (
            dma,
            handle.size() as u64,
            Some(handle.as_ptr().as_ptr() as u64),
        );
        // A handle the wrapper never mapped (or already unmapped) is reported as such; its
        // direction is then unknown and is not what the report is about.
        ev.dir = dir.map_or(Direction::Bidirectional, direction);
        self.record(&ev);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.unmap_streaming(handle) }
    }

    fn flush(&self, addr: NonNull<u8>, size: usize) {
        self.inner.flush(addr, size)
    }

    fn invalidate(&self, addr: NonNull<u8>, size: usize) {
        self.inner.invalidate(addr, size)
    }

    fn flush_invalidate(&self, addr: NonNull<u8>, size: usize) {
        self.inner.flush_invalidate(addr, size)
    }

    #[track_caller]
    fn sync_alloc_for_device(
        &self,
        handle: &DmaAllocHandle,
        offset: usize,
        size: usize,
        dir: DmaDirection,
    ) {
        self.record_sync(
            Op::SyncForDevice,
            "DmaOp::sync_alloc_for_device",
            MapKind::Noncoherent,
            handle.dma_addr().as_u64(),
            offset,
            size,
            dir,
        );
        self.inner.sync_alloc_for_device(handle, offset, size, dir)
    }

    #[track_caller]
    fn sync_alloc_for_cpu(
        &self,
        handle: &DmaAllocHandle,
        offset: usize,
        size: usize,
        dir: DmaDirection,
    ) {
        self.record_sync(
            Op::SyncForCpu,
            "DmaOp::sync_alloc_for_cpu",
            MapKind::Noncoherent,
            handle.dma_addr().as_u64(),
            offset,
            size,
            dir,
        );
        self.inner.sync_alloc_for_cpu(handle, offset, size, dir)
    }

    #[track_caller]
    fn sync_map_for_device(
        &self,
        handle: &DmaMapHandle,
        offset: usize,
        size: usize,
        dir: DmaDirection,
        coherency: DmaCoherency,
    ) {
        self.record_sync(
            Op::SyncForDevice,
            "DmaOp::sync_map_for_device",
            MapKind::Single,
            handle.dma_addr().as_u64(),
            offset,
            size,
            dir,
        );
        self.inner
            .sync_map_for_device(handle, offset, size, dir, coherency)
    }

    #[track_caller]
    fn sync_map_for_cpu(
        &self,
        handle: &DmaMapHandle,
        offset: usize,
        size: usize,
        dir: DmaDirection,
        coherency: DmaCoherency,
    ) {
        self.record_sync(
            Op::SyncForCpu,
            "DmaOp::sync_map_for_cpu",
            MapKind::Single,
            handle.dma_addr().as_u64(),
            offset,
            size,
            dir,
        );
        self.inner
            .sync_map_for_cpu(handle, offset, size, dir, coherency)
    }
}

/// A ready inner `DmaOp` for tests: memory from the heap, the CPU address as the DMA address,
/// no bounce buffers and no cache maintenance — a coherent platform with an identity mapping.
/// Wrap it in [`CheckedDmaOp`] when the driver's platform op is not available in tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapDmaOp;

impl DmaOp for HeapDmaOp {
    fn page_size(&self) -> usize {
        4096
    }

    unsafe fn alloc_contiguous(
        &self,
        _constraints: DmaConstraints,
        layout: Layout,
    ) -> Option<DmaAllocHandle> {
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: `layout` has a non-zero size.
        let p = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        // SAFETY: a live allocation of `layout`, its address as the DMA address.
        Some(unsafe { DmaAllocHandle::new(p, p, DmaAddr::from(p.as_ptr() as u64), layout) })
    }

    unsafe fn dealloc_contiguous(&self, handle: DmaAllocHandle) {
        // SAFETY: allocated by `alloc_contiguous` with this layout (the caller's contract).
        unsafe { std::alloc::dealloc(handle.allocation_ptr().as_ptr(), handle.layout()) }
    }

    unsafe fn alloc_coherent(
        &self,
        constraints: DmaConstraints,
        layout: Layout,
    ) -> Option<DmaAllocHandle> {
        // SAFETY: forwarded; heap memory is coherent here.
        unsafe { self.alloc_contiguous(constraints, layout) }
    }

    unsafe fn dealloc_coherent(&self, handle: DmaAllocHandle) -> Result<(), DmaError> {
        // SAFETY: forwarded (the caller's contract).
        unsafe { self.dealloc_contiguous(handle) };
        Ok(())
    }

    unsafe fn map_streaming(
        &self,
        _constraints: DmaConstraints,
        addr: NonNull<u8>,
        size: NonZeroUsize,
        _direction: DmaDirection,
    ) -> Result<DmaMapHandle, DmaError> {
        let layout = Layout::from_size_align(size.get(), 1)?;
        // SAFETY: the caller's buffer, its address as the DMA address, no bounce buffer.
        Ok(unsafe { DmaMapHandle::new(addr, DmaAddr::from(addr.as_ptr() as u64), layout, None) })
    }

    unsafe fn unmap_streaming(&self, _handle: DmaMapHandle) {}
}
