//! Devices: what a driver maps memory for. Made from a [`Checker`], with the DMA parameters a
//! `struct device` carries.

use std::fmt;

use crate::backend::Backend;
use crate::checker::Checker;
use crate::sync::{Arc, AtomicBool, Ordering, RwLock, RwLockReadGuard};
use crate::types::DeviceId;
pub use crate::types::DeviceParams;
use crate::types::dma_bit_mask;

/// How a device releases its managed (devres) resources, set by the managed family
/// (`api/managed.rs`) with its first allocation: a device has none before, and the device layer
/// names no API family.
pub(crate) struct DevresRelease {
    /// At [`Device::release`] (driver unbind).
    pub(crate) release: fn(&Device),
    /// When the last handle of an unreleased device drops.
    pub(crate) last_handle_dropped: fn(&DeviceInner),
}

/// The managed family's release, once it has allocated.
pub(crate) static DEVRES_RELEASE: std::sync::OnceLock<DevresRelease> = std::sync::OnceLock::new();

pub(crate) struct DeviceInner {
    pub(crate) id: DeviceId,
    pub(crate) name: Arc<str>,
    pub(crate) driver: Arc<str>,
    /// Its DMA parameters: a snapshot that is never changed in place, replaced whole by a
    /// setter. A call reads one pointer and hands the backend a reference, where copying five
    /// atomics per call showed in the switched-off path's instruction count.
    params: Params,
    released: AtomicBool,
    /// The release gate: held shared by a call from its check that the device is not released
    /// until it has recorded what it did, exclusively by the release while it drains the
    /// device's entries. So a call that makes or ends an entry comes wholly before the release
    /// (its entry is drained and reported as a leak, or already gone) or wholly after it
    /// (refused as `device-released`), never in between. Per device: calls on other devices
    /// never meet on it.
    gate: RwLock<()>,
    /// Stands for "no device" (NULL or a bogus pointer from C): every call is refused.
    invalid: AtomicBool,
    backend: BackendRef,
    /// The device this one sits behind (a bridge), if any.
    parent: Option<Device>,
    /// Declared coherent memory.
    pub(crate) declared: crate::state::declared::DeviceRegions,
    /// The device's own CMA area, if it has one (given at build, or later by
    /// `dma_declare_contiguous`).
    pub(crate) cma: crate::sync::OnceLock<crate::state::cma::CmaArea>,
    /// Managed (devres) resources, released with the device (`api/managed.rs`).
    pub(crate) devres: crate::sync::Mutex<Vec<crate::state::managed::Devres>>,
    /// I/O virtual address spaces of the IOVA API (`api/iova.rs`).
    pub(crate) iova_spaces: crate::sync::Mutex<Vec<crate::state::managed::IovaSpace>>,
    /// Whether its checker checks at all, copied here so that the switched-off path reads one
    /// field of the device instead of following the checker's pointer.
    checking: bool,
    pub(crate) checker: Checker,
}

/// A device of a [`Checker`]. Cheap to clone; all clones are the same device.
///
/// Releasing it ([`Device::release`], or dropping the last clone) is the analog of a driver
/// unbind: every mapping still live on it is reported as a leak.
#[derive(Clone)]
pub struct Device(pub(crate) Arc<DeviceInner>);

// As for `Checker`: a device's state stays consistent across a panic raised by a rule.
impl std::panic::UnwindSafe for Device {}
impl std::panic::RefUnwindSafe for Device {}

impl Device {
    /// The device's name (`dev_name`).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The name of the driver bound to it.
    pub fn driver(&self) -> &str {
        &self.0.driver
    }

    /// The device's id within its checker.
    pub fn id(&self) -> DeviceId {
        self.0.id
    }

    /// The device this one sits behind, if it was made with [`DeviceBuilder::parent`].
    pub fn parent(&self) -> Option<Device> {
        self.0.parent.clone()
    }

    /// [`Device::parent`], borrowed.
    pub(crate) fn parent_ref(&self) -> Option<&Device> {
        self.0.parent.as_ref()
    }

    /// The device's own CMA area, if it was given one.
    pub fn cma_area(&self) -> Option<crate::state::cma::CmaArea> {
        self.0.cma.get().cloned()
    }

    /// The backend that maps memory for the device.
    #[inline]
    pub fn backend(&self) -> &dyn Backend {
        self.0.backend.get()
    }

    /// Whether calls on the device are checked (its checker is switched on).
    #[inline]
    pub(crate) fn checking(&self) -> bool {
        self.0.checking
    }

    /// The checker the device belongs to.
    pub fn checker(&self) -> &Checker {
        &self.0.checker
    }

    /// Its DMA parameters now.
    #[inline]
    pub fn params(&self) -> DeviceParams {
        *self.0.params.get()
    }

    /// Its DMA parameters now, by reference (what a backend call takes): no copy.
    #[inline]
    pub(crate) fn params_ref(&self) -> &DeviceParams {
        self.0.params.get()
    }

    pub(crate) fn store_dma_mask(&self, mask: u64) {
        self.0.params.update(|p| p.dma_mask = mask);
    }

    pub(crate) fn store_coherent_dma_mask(&self, mask: u64) {
        self.0.params.update(|p| p.coherent_dma_mask = mask);
    }

    pub(crate) fn store_max_segment_size(&self, size: u64) {
        self.0.params.update(|p| p.max_segment_size = size);
    }

    pub(crate) fn store_segment_boundary_mask(&self, mask: u64) {
        self.0.params.update(|p| p.segment_boundary_mask = mask);
    }

    /// Whether the device stands for "no device" (see [`Device::mark_invalid`]).
    pub fn is_invalid(&self) -> bool {
        self.0.invalid.load(Ordering::Acquire)
    }

    /// Make the device stand for "no device": it is released, and every call naming it is
    /// reported as `invalid-device` (the C ABI uses one for NULL and bogus pointers).
    pub fn mark_invalid(&self) {
        self.0.invalid.store(true, Ordering::Release);
        self.0.released.store(true, Ordering::Release);
    }

    /// Whether the device was released.
    pub fn is_released(&self) -> bool {
        self.0.released.load(Ordering::Acquire)
    }

    /// Admit a call that makes, ends or uses an entry: `None` if the device was released,
    /// else a guard that holds off the release until dropped. Hold it from here until the call
    /// has recorded what it did (and drop it before reporting, which may panic or print).
    #[inline]
    pub(crate) fn admit(&self) -> Option<RwLockReadGuard<'_, ()>> {
        let gate = self.0.gate.read();
        (!self.is_released()).then_some(gate)
    }

    /// [`admit`](Self::admit), reporting a refused call (`ev`) on a released device. The guard
    /// holds off a release until the call has recorded what it did: drop it before reporting.
    #[track_caller]
    #[inline]
    pub(crate) fn admit_or_report(
        &self,
        ev: &crate::event::Event,
    ) -> Option<RwLockReadGuard<'_, ()>> {
        let admitted = self.admit();
        if admitted.is_none() {
            self.report_refused(ev);
        }
        admitted
    }

    /// Report a call refused by [`admit_or_report`](Self::admit_or_report).
    #[track_caller]
    #[cold]
    #[inline(never)]
    fn report_refused(&self, ev: &crate::event::Event) {
        let f = crate::rules::lifetime::released(self.is_invalid());
        self.0.checker.inner().finish(ev, [f].into_iter().collect());
    }

    /// Release the device (driver unbind): report every entry still live on it as a leak and
    /// forget them. Later DMA calls on it are reported. Releasing twice does nothing more.
    #[track_caller]
    pub fn release(&self) {
        let site = self.0.checker.capture_site();
        if let Some(hooks) = DEVRES_RELEASE.get() {
            (hooks.release)(self);
        }
        self.0.release(site, "device_release");
    }
}

impl DeviceInner {
    /// What [`Device::params`] returns, for code that holds only the inner device (its drop).
    pub(crate) fn inner_params(&self) -> DeviceParams {
        *self.params.get()
    }

    pub(crate) fn inner_backend(&self) -> &dyn Backend {
        self.backend.get()
    }

    #[track_caller]
    fn release(&self, site: crate::site::Site, call: &'static str) {
        let drained = {
            // Waits for admitted calls to finish recording; later ones see `released`.
            let _gate = self.gate.write();
            if self.released.swap(true, Ordering::AcqRel) {
                return;
            }
            self.checker.drain_device(self.id)
        };
        self.checker.report_release(self.id, drained, site, call);
    }
}

impl Drop for DeviceInner {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding from a panic (a deny-level violation, a failed assertion) skipped the
            // driver's teardown: its live entries are the panic's consequence, not leaks of
            // their own, and reporting each would bury the panic's message.
            if !self.released.swap(true, Ordering::AcqRel) {
                self.checker.forget_device(self.id);
            }
            return;
        }
        if !self.released.load(Ordering::Acquire) {
            if let Some(hooks) = DEVRES_RELEASE.get() {
                (hooks.last_handle_dropped)(self);
            }
            // Where the last handle was dropped is not known here; a captured stack (when
            // enabled) shows it.
            let site = self.checker.capture_site();
            self.release(site, crate::checker::LAST_HANDLE_DROPPED);
        }
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.name())
            .field("driver", &self.driver())
            .field("params", &self.params())
            .finish()
    }
}

/// A device's DMA parameters, read without copying them: `current` is the newest of
/// `snapshots`, which are never changed once made and are freed only with the device, so a
/// reference read from `current` stays valid for as long as the device is borrowed. A setter
/// (rare: `dma_set_mask` at probe) adds a snapshot. Not modeled under loom: the models check
/// the table, and a snapshot is published with release/acquire.
struct Params {
    current: std::sync::atomic::AtomicPtr<DeviceParams>,
    /// Every snapshot made (from `Box::into_raw`), freed by `drop`.
    snapshots: crate::sync::Mutex<Vec<std::ptr::NonNull<DeviceParams>>>,
}

// SAFETY: the snapshots are owned heap values of a `Send + Sync` type (plain integers), never
// written after they are published, and freed only by `drop` (`&mut self`).
unsafe impl Send for Params {}
// SAFETY: as above; the list is behind a lock.
unsafe impl Sync for Params {}

impl Params {
    fn new(params: DeviceParams) -> Params {
        let first = std::ptr::NonNull::from(Box::leak(Box::new(params)));
        Params {
            current: std::sync::atomic::AtomicPtr::new(first.as_ptr()),
            snapshots: crate::sync::Mutex::new(vec![first]),
        }
    }

    #[inline]
    fn get(&self) -> &DeviceParams {
        // SAFETY: `current` always holds one of `snapshots` (set in `new` and `update`), each a
        // live allocation never written after it was published with `Release` (read here with
        // `Acquire`), and freed only when `self` drops: valid and unaliased by any `&mut` for
        // `self`'s borrow.
        unsafe { &*self.current.load(std::sync::atomic::Ordering::Acquire) }
    }

    /// Publish the current parameters changed by `change`: an earlier snapshot of the same
    /// values if there is one (so a driver switching between masks keeps as many snapshots as
    /// it has distinct settings), else a new one.
    fn update(&self, change: impl FnOnce(&mut DeviceParams)) {
        let mut snapshots = self.snapshots.lock();
        let mut next = *self.get();
        change(&mut next);
        // SAFETY: each snapshot is live and never written after it was made (see `get`).
        let same = snapshots.iter().find(|s| unsafe { s.as_ref() } == &next);
        let next = match same {
            Some(&same) => same,
            None => {
                let made = std::ptr::NonNull::from(Box::leak(Box::new(next)));
                snapshots.push(made);
                made
            }
        };
        self.current
            .store(next.as_ptr(), std::sync::atomic::Ordering::Release);
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        for snapshot in self.snapshots.lock().drain(..) {
            // SAFETY: each came from `Box::leak` and is freed once, here; no reference from
            // `get` outlives `self`.
            drop(unsafe { Box::from_raw(snapshot.as_ptr()) });
        }
    }
}

/// A device's backend and a plain pointer to it: reaching the object inside an
/// `Arc<dyn Backend>` computes its offset from the vtable's alignment at every call.
struct BackendRef {
    ptr: std::ptr::NonNull<dyn Backend>,
    _owned: Arc<dyn Backend>,
}

// SAFETY: a `BackendRef` is an `Arc<dyn Backend>` (and `Backend: Send + Sync`, so that `Arc` is
// `Send + Sync`) plus a shared pointer into it, used only for `&dyn Backend`.
unsafe impl Send for BackendRef {}
// SAFETY: as above.
unsafe impl Sync for BackendRef {}

impl BackendRef {
    fn new(backend: Arc<dyn Backend>) -> BackendRef {
        BackendRef {
            ptr: std::ptr::NonNull::from(&*backend),
            _owned: backend,
        }
    }

    #[inline]
    fn get(&self) -> &dyn Backend {
        // SAFETY: `ptr` points to the value of `_owned`, which lives (and does not move) as long
        // as `self`, and is only ever shared.
        unsafe { self.ptr.as_ref() }
    }
}

/// Makes a [`Device`]; from [`Checker::device`].
///
/// Defaults are Linux's for a PCI device: 32-bit masks, 64 KiB segments, 4 GiB boundary.
#[must_use]
pub struct DeviceBuilder {
    checker: Checker,
    name: String,
    driver: String,
    dma_mask: u64,
    coherent_dma_mask: u64,
    max_segment_size: u64,
    segment_boundary_mask: u64,
    backend: Option<Arc<dyn Backend>>,
    parent: Option<Device>,
    cma: Option<crate::state::cma::CmaArea>,
}

impl DeviceBuilder {
    pub(crate) fn new(checker: Checker, name: &str) -> DeviceBuilder {
        DeviceBuilder {
            checker,
            name: name.to_string(),
            driver: "unknown".to_string(),
            dma_mask: dma_bit_mask(32),
            coherent_dma_mask: dma_bit_mask(32),
            max_segment_size: 65536,
            segment_boundary_mask: dma_bit_mask(32),
            backend: None,
            parent: None,
            cma: None,
        }
    }

    /// Put the device behind the checker's IOMMU ([`Checker::iommu`]): its own I/O virtual
    /// address space, and scatter-gather segments merged where they meet.
    pub fn iommu(mut self) -> Self {
        self.backend = Some(self.checker.iommu().clone());
        self
    }

    /// Put the device behind `parent` (a bridge): it allocates from the parent's declared
    /// coherent memory if that was declared with `DMA_MEMORY_INCLUDES_CHILDREN`.
    pub fn parent(mut self, parent: &Device) -> Self {
        self.parent = Some(parent.clone());
        self
    }

    /// Give the device its own CMA area (by default it uses the checker's first one).
    pub fn cma(mut self, area: &crate::state::cma::CmaArea) -> Self {
        self.cma = Some(area.clone());
        self
    }

    /// Bounce the device's streaming mappings through the checker's bounce pool
    /// ([`Checker::bounce`]): the device sees copies, made only where the DMA API says.
    pub fn bounce(mut self) -> Self {
        self.backend = Some(self.checker.bounce().clone());
        self
    }

    /// Use `backend` for the device (by default, the checker's default backend).
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The driver bound to the device.
    pub fn driver(mut self, driver: &str) -> Self {
        self.driver = driver.to_string();
        self
    }

    /// The streaming DMA mask.
    pub fn dma_mask(mut self, mask: u64) -> Self {
        self.dma_mask = mask;
        self
    }

    /// The coherent DMA mask.
    pub fn coherent_dma_mask(mut self, mask: u64) -> Self {
        self.coherent_dma_mask = mask;
        self
    }

    /// The longest DMA segment the device takes.
    pub fn max_segment_size(mut self, size: u64) -> Self {
        self.max_segment_size = size;
        self
    }

    /// The segment boundary mask.
    pub fn segment_boundary_mask(mut self, mask: u64) -> Self {
        self.segment_boundary_mask = mask;
        self
    }

    /// Register the device with its checker.
    pub fn build(self) -> Device {
        let name: Arc<str> = self.name.into();
        let driver: Arc<str> = self.driver.into();
        let id = self.checker.register_device(name.clone(), driver.clone());
        Device(Arc::new(DeviceInner {
            id,
            name,
            driver,
            params: Params::new(DeviceParams {
                id,
                dma_mask: self.dma_mask,
                coherent_dma_mask: self.coherent_dma_mask,
                max_segment_size: self.max_segment_size,
                segment_boundary_mask: self.segment_boundary_mask,
            }),
            released: AtomicBool::new(false),
            gate: RwLock::new(()),
            invalid: AtomicBool::new(false),
            parent: self.parent,
            declared: Default::default(),
            devres: crate::sync::Mutex::new(Vec::new()),
            iova_spaces: crate::sync::Mutex::new(Vec::new()),
            cma: self
                .cma
                .map(crate::sync::OnceLock::from)
                .unwrap_or_default(),
            backend: BackendRef::new(
                self.backend
                    .unwrap_or_else(|| self.checker.backend().clone()),
            ),
            checking: self.checker.config().enabled,
            checker: self.checker,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn parameters_read_back_as_set_and_a_repeated_setting_reuses_its_snapshot() {
        let checker = Checker::builder().env(false).print(false).build();
        let dev = checker.device("dev").build();
        for _ in 0..3 {
            assert_eq!(dma_set_mask(&dev, dma_bit_mask(64)), 0);
            assert_eq!(dev.params().dma_mask, dma_bit_mask(64));
            assert_eq!(dma_set_mask(&dev, dma_bit_mask(32)), 0);
            assert_eq!(dev.params().dma_mask, dma_bit_mask(32));
        }
        assert_eq!(dma_set_coherent_mask(&dev, dma_bit_mask(40)), 0);
        assert_eq!(dev.params().coherent_dma_mask, dma_bit_mask(40));
        assert_eq!(
            dev.params().dma_mask,
            dma_bit_mask(32),
            "the other mask is kept"
        );
        // The build's values, the 64-bit mask, and the 40-bit coherent mask.
        assert_eq!(dev.0.params.snapshots.lock().len(), 3);
        checker.assert_clean();
    }
}
