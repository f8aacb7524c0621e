//! Managed (devres) memory: `dmam_alloc_coherent`, `dmam_alloc_attrs`, `dmam_free_coherent`,
//! `devm_kmalloc`, `devm_kfree` (`dmam_pool_create` is the pool family's). What they allocate is listed on the device and
//! released with it (driver unbind), newest first as devres does, without a leak report.

use crate::device::{Device, DeviceInner};
use crate::event::{Event, Op};
use crate::rules::{self, Findings};
use crate::state::managed::Devres;
use crate::types::{DmaAddr, DmaAttrs, Gfp, MapKind};

use super::coherent::{FreeBy, free_attrs};

/// List `item` on `dev`, released with it; the device calls back here at its release.
pub(crate) fn keep(dev: &Device, item: Devres) {
    crate::device::DEVRES_RELEASE.get_or_init(|| crate::device::DevresRelease {
        release: release_devres,
        last_handle_dropped: release_devres_on_drop,
    });
    dev.0.devres.lock().push(item);
}

/// The call devres releases run as (the kernel's `devres_release_all`, at driver unbind).
const DEVRES_RELEASE: &str = "devres_release_all";

/// [`dma_alloc_coherent`](crate::dma_alloc_coherent), managed (`dmam_alloc_coherent`): freed
/// when the device is released.
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// let dev = checker.device("eth0").build();
/// let mut dma = 0;
/// let ring = dmam_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
/// assert!(!ring.is_null());
/// dev.release(); // devres frees the ring: no leak
/// checker.assert_clean();
/// ```
#[track_caller]
pub fn dmam_alloc_coherent(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    gfp: Gfp,
) -> *mut u8 {
    dmam_alloc_attrs(dev, size, dma_handle, gfp, DmaAttrs::empty())
}

/// [`dma_alloc_attrs`](crate::dma_alloc_attrs), managed (`dmam_alloc_attrs`).
#[track_caller]
pub fn dmam_alloc_attrs(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    gfp: Gfp,
    attrs: DmaAttrs,
) -> *mut u8 {
    let cpu = super::dma_alloc_attrs(dev, size, dma_handle, gfp, attrs);
    if !cpu.is_null() {
        keep(
            dev,
            Devres::Coherent {
                cpu: cpu.expose_provenance(),
                dma: *dma_handle,
                size,
                attrs,
            },
        );
    }
    cpu
}

/// Free a [`dmam_alloc_coherent`] buffer before the device is released
/// (`dmam_free_coherent`). Memory that no managed allocation made is reported
/// (`managed-free-mismatch`) and freed.
#[track_caller]
pub fn dmam_free_coherent(dev: &Device, size: usize, cpu_addr: *const u8, dma_handle: DmaAddr) {
    free_attrs(
        dev,
        size,
        cpu_addr,
        dma_handle,
        DmaAttrs::empty(),
        "dmam_free_coherent",
        FreeBy::Managed,
    );
}

/// [`kmalloc`](crate::kmalloc) for `dev`, managed (`devm_kmalloc`): freed when the device is
/// released, newest first with its other managed resources. `devm_kzalloc` is this with
/// [`Gfp::ZERO`].
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// let dev = checker.device("eth0").build();
/// let stats = devm_kmalloc(&dev, 256, Gfp::KERNEL | Gfp::ZERO);
/// assert!(!stats.is_null());
/// dev.release(); // devres frees it
/// checker.assert_clean();
/// ```
#[track_caller]
pub fn devm_kmalloc(dev: &Device, size: usize, gfp: Gfp) -> *mut u8 {
    let ptr = super::heap::kmalloc_as(dev.checker(), size, gfp, "devm_kmalloc");
    if !ptr.is_null() {
        keep(
            dev,
            Devres::Heap {
                ptr: ptr.expose_provenance(),
            },
        );
    }
    ptr
}

/// Free a [`devm_kmalloc`] buffer before the device is released (`devm_kfree`). A pointer no
/// `devm_kmalloc` of this device returned is reported (`managed-free-mismatch`) and left alone,
/// as the kernel's `WARN_ON(devres_destroy(...))` leaves it; NULL does nothing.
#[track_caller]
pub fn devm_kfree(dev: &Device, ptr: *const u8) {
    if ptr.is_null() {
        return;
    }
    let managed = {
        let mut list = dev.0.devres.lock();
        let at = list
            .iter()
            .position(|r| matches!(*r, Devres::Heap { ptr: p } if p == ptr.addr()));
        at.map(|i| list.remove(i))
    };
    if managed.is_some() {
        super::heap::kfree_as(dev.checker(), ptr, "devm_kfree");
        return;
    }
    let mut ev = Event::new(
        Op::MemoryFree,
        "devm_kfree",
        MapKind::Single,
        dev.id(),
        dev.checker().capture_site(),
    );
    ev.cpu_addr = Some(ptr.addr() as u64);
    let mut out = Findings::new();
    out.push(rules::modern::devm_kfree_unmanaged(ptr.addr() as u64));
    dev.checker().inner().finish(&ev, out);
}

/// Judge a free of (`cpu`, `dma`) by `by`: takes a managed buffer off the device's list, and
/// finds a managed buffer freed as unmanaged, or the reverse. Returns the attributes a managed
/// buffer was allocated with (`dmam_free_coherent` frees with them, as devres does).
pub(super) fn check_free(
    dev: &Device,
    cpu: *const u8,
    dma: DmaAddr,
    by: FreeBy,
    out: &mut Findings,
) -> Option<DmaAttrs> {
    let managed = {
        let mut list = dev.0.devres.lock();
        let at = list.iter().position(
            |r| matches!(*r, Devres::Coherent { cpu: c, dma: d, .. } if c == cpu.addr() && d == dma),
        );
        at.map(|i| list.remove(i))
    };
    match (by, &managed) {
        (FreeBy::Unmanaged, Some(_)) => out.push(rules::modern::managed_freed_unmanaged(dma)),
        (FreeBy::Managed, None) => out.push(rules::modern::unmanaged_freed_managed(dma)),
        _ => {}
    }
    match managed? {
        Devres::Coherent { attrs, .. } => Some(attrs),
        Devres::Heap { .. } | Devres::Pool(_) => None,
    }
}

/// Release the device's managed resources, newest first (from [`Device::release`]).
#[track_caller]
pub(crate) fn release_devres(dev: &Device) {
    let list = std::mem::take(&mut *dev.0.devres.lock());
    for item in list.into_iter().rev() {
        match item {
            Devres::Coherent {
                cpu,
                dma,
                size,
                attrs,
            } => free_attrs(
                dev,
                size,
                std::ptr::with_exposed_provenance(cpu),
                dma,
                attrs,
                DEVRES_RELEASE,
                FreeBy::Devres,
            ),
            Devres::Heap { ptr } => super::heap::kfree_as(
                dev.checker(),
                std::ptr::with_exposed_provenance(ptr),
                DEVRES_RELEASE,
            ),
            Devres::Pool(destroy) => destroy(),
        }
    }
}

/// Release the managed memory of a device whose last handle is dropped (no [`Device`] is left
/// to call the API with; a managed pool holds its device, so there is none here).
pub(crate) fn release_devres_on_drop(inner: &DeviceInner) {
    let list = std::mem::take(&mut *inner.devres.lock());
    let c = inner.checker.inner();
    for item in list.into_iter().rev() {
        let (cpu, dma, size) = match item {
            Devres::Coherent { cpu, dma, size, .. } => (cpu, dma, size),
            Devres::Heap { ptr } => {
                let ptr = std::ptr::with_exposed_provenance(ptr);
                super::heap::kfree_as(&inner.checker, ptr, DEVRES_RELEASE);
                continue;
            }
            Devres::Pool(_) => continue,
        };
        let site = inner.checker.capture_site();
        let mut ev = Event::new(Op::Unmap, DEVRES_RELEASE, MapKind::Coherent, inner.id, site);
        (ev.dma_addr, ev.size, ev.cpu_addr) = (dma, size as u64, Some(cpu as u64));
        let mut out = Findings::new();
        if let Some(e) = c.record_release(&ev, &mut out) {
            let _ = inner
                .inner_backend()
                .free_coherent(&inner.inner_params(), e.dma_addr, e.size);
        }
        c.finish(&ev, out);
    }
}
