//! `<linux/dma-mapping.h>`: streaming mappings, syncs (the modern ones and the older
//! `dma_sync_single`/`dma_sync_sg`), coherent memory and the addressing limits.

use std::ffi::{c_int, c_ulong, c_void};
use std::panic::Location;

use super::device::{CDevice, all_devices, device, invalid_device, own, registered};
use super::{CPage, attrs, direction, ffi, gfp, page_or_nowhere};
use crate::{
    DMA_MAPPING_ERROR, Device, Direction, DmaAddr, Event, MapKind, Op, Owner, Site, dma_bit_mask,
};

// ---------------------------------------------------------------------------------------------
// Streaming mappings

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_single(
    dev: *mut CDevice,
    cpu_addr: *mut c_void,
    size: usize,
    dir: c_int,
) -> DmaAddr {
    ffi("dma_map_single", || {
        crate::dma_map_single(&device(dev), cpu_addr.cast(), size, direction(dir))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_single_attrs(
    dev: *mut CDevice,
    cpu_addr: *mut c_void,
    size: usize,
    dir: c_int,
    a: c_ulong,
) -> DmaAddr {
    ffi("dma_map_single_attrs", || {
        crate::dma_map_single_attrs(
            &device(dev),
            cpu_addr.cast(),
            size,
            direction(dir),
            attrs(a),
        )
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_single(dev: *mut CDevice, addr: DmaAddr, size: usize, dir: c_int) {
    ffi("dma_unmap_single", || {
        crate::dma_unmap_single(&device(dev), addr, size, direction(dir));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_single_attrs(
    dev: *mut CDevice,
    addr: DmaAddr,
    size: usize,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_unmap_single_attrs", || {
        crate::dma_unmap_single_attrs(&device(dev), addr, size, direction(dir), attrs(a));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_page(
    dev: *mut CDevice,
    page: *mut CPage,
    offset: c_ulong,
    size: usize,
    dir: c_int,
) -> DmaAddr {
    ffi("dma_map_page", || {
        let page = page_or_nowhere(page);
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        crate::dma_map_page(&device(dev), page, offset, size, direction(dir))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_page_attrs(
    dev: *mut CDevice,
    page: *mut CPage,
    offset: c_ulong,
    size: usize,
    dir: c_int,
    a: c_ulong,
) -> DmaAddr {
    ffi("dma_map_page_attrs", || {
        let page = page_or_nowhere(page);
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        crate::dma_map_page_attrs(&device(dev), page, offset, size, direction(dir), attrs(a))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_page(dev: *mut CDevice, addr: DmaAddr, size: usize, dir: c_int) {
    ffi("dma_unmap_page", || {
        crate::dma_unmap_page(&device(dev), addr, size, direction(dir));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_page_attrs(
    dev: *mut CDevice,
    addr: DmaAddr,
    size: usize,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_unmap_page_attrs", || {
        crate::dma_unmap_page_attrs(&device(dev), addr, size, direction(dir), attrs(a));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_mapping_error(dev: *mut CDevice, addr: DmaAddr) -> c_int {
    ffi("dma_mapping_error", || match registered(dev) {
        Some(dev) => crate::dma_mapping_error(&dev, addr),
        // The answer needs no device; there is no mapping to mark as checked.
        None => c_int::from(addr == DMA_MAPPING_ERROR),
    })
}

/// The one-argument `dma_mapping_error(addr)` of kernels before 2.6.27: the check of each
/// device's mapping at `addr`.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_mapping_error_nodev(addr: DmaAddr) -> c_int {
    ffi("dma_mapping_error", || {
        let checker = super::checker();
        for dev in all_devices() {
            let mut ev = Event::new(
                Op::MappingErrorCheck,
                "dma_mapping_error",
                MapKind::Single,
                dev.id(),
                Site::at(Location::caller()),
            );
            ev.dma_addr = addr;
            checker.record(&ev);
        }
        c_int::from(addr == DMA_MAPPING_ERROR)
    })
}

// ---------------------------------------------------------------------------------------------
// Syncs

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_single_for_cpu(
    dev: *mut CDevice,
    addr: DmaAddr,
    size: usize,
    dir: c_int,
) {
    ffi("dma_sync_single_for_cpu", || {
        crate::dma_sync_single_for_cpu(&device(dev), addr, size, direction(dir));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_single_for_device(
    dev: *mut CDevice,
    addr: DmaAddr,
    size: usize,
    dir: c_int,
) {
    ffi("dma_sync_single_for_device", || {
        crate::dma_sync_single_for_device(&device(dev), addr, size, direction(dir));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_single_range_for_cpu(
    dev: *mut CDevice,
    addr: DmaAddr,
    offset: c_ulong,
    size: usize,
    dir: c_int,
) {
    ffi("dma_sync_single_range_for_cpu", || {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        crate::dma_sync_single_range_for_cpu(&device(dev), addr, offset, size, direction(dir));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_single_range_for_device(
    dev: *mut CDevice,
    addr: DmaAddr,
    offset: c_ulong,
    size: usize,
    dir: c_int,
) {
    ffi("dma_sync_single_range_for_device", || {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        crate::dma_sync_single_range_for_device(&device(dev), addr, offset, size, direction(dir));
    })
}

/// Which way an older, direction-only sync hands a mapping (see `<linux/dma-mapping.h>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handover {
    ToCpu,
    ToDevice,
}

/// The hand-over an older sync in `dir` means for the mapping containing `addr`: by direction,
/// and for `DMA_BIDIRECTIONAL` the one the mapping is due (to the CPU while the device owns it).
pub(super) fn older_sync(dev: &Device, dir: Direction, addr: DmaAddr) -> Handover {
    match dir {
        Direction::ToDevice => Handover::ToDevice,
        Direction::Bidirectional => {
            let owner = dev
                .checker()
                .live_entries()
                .into_iter()
                .find(|e| {
                    e.device == dev.id()
                        && addr
                            .checked_sub(e.dma_addr)
                            .is_some_and(|o| o < e.size.max(1))
                })
                .map(|e| e.owner);
            if owner == Some(Owner::Cpu) {
                Handover::ToDevice
            } else {
                Handover::ToCpu
            }
        }
        Direction::FromDevice | Direction::None => Handover::ToCpu,
    }
}

/// An older sync: the modern call its direction means, on the whole mapping or (for
/// `dma_sync_single_range`) from `offset`.
fn older_sync_single(
    dev: *mut CDevice,
    addr: DmaAddr,
    offset: Option<c_ulong>,
    size: usize,
    dir: c_int,
) {
    let (dev, dir) = (device(dev), direction(dir));
    let to = older_sync(&dev, dir, addr);
    match (to, offset.map(|o| usize::try_from(o).unwrap_or(usize::MAX))) {
        (Handover::ToCpu, None) => crate::dma_sync_single_for_cpu(&dev, addr, size, dir),
        (Handover::ToDevice, None) => crate::dma_sync_single_for_device(&dev, addr, size, dir),
        (Handover::ToCpu, Some(o)) => {
            crate::dma_sync_single_range_for_cpu(&dev, addr, o, size, dir)
        }
        (Handover::ToDevice, Some(o)) => {
            crate::dma_sync_single_range_for_device(&dev, addr, o, size, dir);
        }
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_single(dev: *mut CDevice, addr: DmaAddr, size: usize, dir: c_int) {
    ffi("dma_sync_single", || {
        older_sync_single(dev, addr, None, size, dir)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_single_range(
    dev: *mut CDevice,
    addr: DmaAddr,
    offset: c_ulong,
    size: usize,
    dir: c_int,
) {
    ffi("dma_sync_single_range", || {
        older_sync_single(dev, addr, Some(offset), size, dir);
    })
}

// ---------------------------------------------------------------------------------------------
// Coherent memory

/// Store a DMA handle where C asked for it; a NULL `dma_handle` loses it.
///
/// # Safety
/// `handle` is NULL or writable.
pub(super) unsafe fn give_handle(handle: *mut DmaAddr, value: DmaAddr) {
    if !handle.is_null() {
        // SAFETY: non-NULL, so writable (the caller's contract).
        unsafe { handle.write(value) };
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_coherent(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
) -> *mut c_void {
    // SAFETY: the same contract.
    unsafe { dma_alloc_attrs(dev, size, handle, flag, 0) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_zalloc_coherent(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
) -> *mut c_void {
    ffi("dma_zalloc_coherent", || {
        let mut dma = DMA_MAPPING_ERROR;
        let cpu = crate::dma_zalloc_coherent(&device(dev), size, &mut dma, gfp(flag));
        // SAFETY: the C contract: `handle` is NULL or writable.
        unsafe { give_handle(handle, dma) };
        cpu.cast()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_attrs(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
    a: c_ulong,
) -> *mut c_void {
    ffi("dma_alloc_coherent", || {
        let mut dma = DMA_MAPPING_ERROR;
        let cpu = crate::dma_alloc_attrs(&device(dev), size, &mut dma, gfp(flag), attrs(a));
        // SAFETY: the C contract: `handle` is NULL or writable.
        unsafe { give_handle(handle, dma) };
        cpu.cast()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_free_coherent(
    dev: *mut CDevice,
    size: usize,
    cpu_addr: *mut c_void,
    handle: DmaAddr,
) {
    // SAFETY: the same contract.
    unsafe { dma_free_attrs(dev, size, cpu_addr, handle, 0) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_free_attrs(
    dev: *mut CDevice,
    size: usize,
    cpu_addr: *mut c_void,
    handle: DmaAddr,
    a: c_ulong,
) {
    ffi("dma_free_coherent", || {
        crate::dma_free_attrs(&device(dev), size, cpu_addr.cast(), handle, attrs(a));
    })
}

// ---------------------------------------------------------------------------------------------
// Noncoherent memory

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_noncoherent(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
) -> *mut c_void {
    ffi("dma_alloc_noncoherent", || {
        let mut dma = DMA_MAPPING_ERROR;
        let cpu = crate::dma_alloc_noncoherent(&device(dev), size, &mut dma, gfp(flag));
        // SAFETY: the C contract: `handle` is NULL or writable.
        unsafe { give_handle(handle, dma) };
        cpu.cast()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_free_noncoherent(
    dev: *mut CDevice,
    size: usize,
    cpu_addr: *mut c_void,
    handle: DmaAddr,
) {
    ffi("dma_free_noncoherent", || {
        crate::dma_free_noncoherent(&device(dev), size, cpu_addr.cast(), handle);
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_cache_sync(
    dev: *mut CDevice,
    vaddr: *mut c_void,
    size: usize,
    dir: c_int,
) {
    ffi("dma_cache_sync", || {
        crate::dma_cache_sync(&device(dev), vaddr.cast(), size, direction(dir));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_is_consistent(dev: *mut CDevice, handle: DmaAddr) -> c_int {
    ffi("dma_is_consistent", || {
        crate::dma_is_consistent(&device(dev), handle)
    })
}

// ---------------------------------------------------------------------------------------------
// Addressing limits

/// `-EIO`.
const EIO: c_int = 5;

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_supported(dev: *mut CDevice, mask: u64) -> c_int {
    ffi("dma_supported", || {
        registered(dev).map_or(0, |dev| crate::dma_supported(&dev, mask))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_set_mask(dev: *mut CDevice, mask: u64) -> c_int {
    ffi("dma_set_mask", || {
        let Some(rust) = registered(dev) else {
            // No device: reported (`invalid-device`), and refused.
            return crate::dma_set_mask(invalid_device(), mask);
        };
        if !own(dev) || rust.is_released() {
            // The program's own `struct device`, whose fields are not dmacheck's to write; or a
            // released device, where the call is reported and refused.
            return crate::dma_set_mask(&rust, mask);
        }
        // SAFETY: `dev` is registered, so a live `CDevice`.
        let field = unsafe { std::ptr::addr_of!((*dev).dma_mask).read_volatile() };
        if field.is_null() {
            // As in the kernel: a device without a mask field cannot do DMA.
            return -EIO;
        }
        let rc = crate::dma_set_mask(&rust, mask);
        if rc == 0 {
            // SAFETY: the C contract: a non-NULL `dma_mask` points to the device's mask.
            unsafe { field.write_volatile(mask) };
        }
        rc
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_set_coherent_mask(dev: *mut CDevice, mask: u64) -> c_int {
    ffi("dma_set_coherent_mask", || {
        let Some(rust) = registered(dev) else {
            return crate::dma_set_coherent_mask(invalid_device(), mask);
        };
        let rc = crate::dma_set_coherent_mask(&rust, mask);
        if rc == 0 && own(dev) {
            // SAFETY: `dev` is registered, so a live `CDevice`.
            unsafe { std::ptr::addr_of_mut!((*dev).coherent_dma_mask).write_volatile(mask) };
        }
        rc
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_set_mask_and_coherent(dev: *mut CDevice, mask: u64) -> c_int {
    // SAFETY: the same contract.
    let rc = unsafe { dma_set_mask(dev, mask) };
    if rc == 0 {
        // SAFETY: the same contract.
        unsafe { dma_set_coherent_mask(dev, mask) };
    }
    rc
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_mask(dev: *mut CDevice) -> u64 {
    ffi("dma_get_mask", || {
        registered(dev).map_or(dma_bit_mask(32), |dev| crate::dma_get_mask(&dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_required_mask(dev: *mut CDevice) -> u64 {
    ffi("dma_get_required_mask", || {
        crate::dma_get_required_mask(&device(dev))
    })
}

#[unsafe(no_mangle)]
extern "C" fn dma_get_cache_alignment() -> c_int {
    crate::dma_get_cache_alignment()
}
