//! virtio-drivers' `Hal` implemented with the DMA API (see the parent module).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr::NonNull;

use virtio_drivers::PhysAddr;

#[cfg(doc)]
use crate::api::{alloc_pages, dma_alloc_coherent};
use crate::api::{
    dma_free_coherent, dma_map_single, dma_mapping_error, dma_unmap_single, dma_zalloc_coherent,
    kfree, kmalloc,
};
use crate::device::Device;
use crate::types::{DMA_MAPPING_ERROR, Direction, Gfp, PAGE_SIZE};

/// The dmacheck direction of a virtio-drivers buffer direction: `DriverToDevice` is
/// `TO_DEVICE`, `DeviceToDriver` is `FROM_DEVICE`, `Both` is `BIDIRECTIONAL`.
pub fn direction(dir: BufferDirection) -> Direction {
    match dir {
        BufferDirection::DriverToDevice => Direction::ToDevice,
        BufferDirection::DeviceToDriver => Direction::FromDevice,
        BufferDirection::Both => Direction::Bidirectional,
    }
}

/// A buffer outside the arena, staged in a `kmalloc` buffer for the length of its mapping.
struct Staged {
    copy: *mut u8,
}

struct Binding {
    dev: Device,
    /// Staged buffers by the DMA address of their mapping.
    staged: HashMap<u64, Staged>,
    /// Registered MMIO regions: (physical address, size, CPU pointer).
    mmio: Vec<(u64, usize, NonNull<u8>)>,
}

thread_local! {
    static BINDINGS: RefCell<Vec<Binding>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on the innermost binding of this thread.
fn with_binding<R>(call: &str, f: impl FnOnce(&mut Binding) -> R) -> R {
    BINDINGS.with(|b| {
        let mut b = b.borrow_mut();
        let binding = b.last_mut().unwrap_or_else(|| {
            panic!(
                "dmacheck: virtio Hal::{call} on a thread with no device bound \
                 (call DmacheckHal::bind(&device) first)"
            )
        });
        f(binding)
    })
}

/// dmacheck's implementation of virtio-drivers' `Hal`, for the device bound to the calling
/// thread with [`DmacheckHal::bind`]. See the [module documentation](super).
#[derive(Clone, Copy, Debug, Default)]
pub struct DmacheckHal;

/// The binding of a device to the `Hal` on this thread; dropping it ends the binding (buffers
/// still shared are forgotten by the adapter, and stay live — and reported as leaks — in
/// dmacheck).
#[must_use = "the device is bound only while the guard lives"]
#[derive(Debug)]
pub struct HalBinding {
    depth: usize,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for HalBinding {
    fn drop(&mut self) {
        BINDINGS.with(|b| b.borrow_mut().truncate(self.depth));
    }
}

impl DmacheckHal {
    /// Bind `dev` as the device the `Hal` acts for on this thread, until the guard is dropped.
    pub fn bind(dev: &Device) -> HalBinding {
        BINDINGS.with(|b| {
            let mut b = b.borrow_mut();
            let depth = b.len();
            b.push(Binding {
                dev: dev.clone(),
                staged: HashMap::new(),
                mmio: Vec::new(),
            });
            HalBinding {
                depth,
                _not_send: std::marker::PhantomData,
            }
        })
    }

    /// The device bound to this thread. Panics if none is.
    pub fn device() -> Device {
        with_binding("device", |b| b.dev.clone())
    }

    /// Make `size` bytes at `ptr` the answer of `mmio_phys_to_virt` for physical addresses
    /// `paddr..paddr + size` (for a driver using virtio-drivers' PCI transport).
    pub fn register_mmio(paddr: PhysAddr, ptr: NonNull<u8>, size: usize) {
        with_binding("register_mmio", |b| b.mmio.push((paddr, size, ptr)));
    }

    /// How many shared buffers are staged in `kmalloc` copies now (buffers outside the arena).
    pub fn staged_buffers() -> usize {
        with_binding("staged_buffers", |b| b.staged.len())
    }

    /// `Hal::dma_alloc`: `pages` zeroed pages of coherent memory ([`dma_alloc_coherent`]). On
    /// failure, the `PhysAddr` is 0, which virtio-drivers' `Dma::new` reads as an error.
    #[track_caller]
    pub fn dma_alloc(
        pages: usize,
        _direction: BufferDirection,
        _access_platform: bool,
    ) -> (PhysAddr, NonNull<u8>) {
        let dev = Self::device();
        let mut dma = 0;
        let cpu = dma_zalloc_coherent(&dev, pages * PAGE_SIZE, &mut dma, Gfp::KERNEL);
        match NonNull::new(cpu) {
            Some(cpu) => (dma, cpu),
            None => (0, NonNull::dangling()),
        }
    }

    /// `Hal::dma_dealloc`: [`dma_free_coherent`]. Returns 0.
    ///
    /// # Safety
    ///
    /// As `Hal::dma_dealloc`: the values `dma_alloc` returned, memory not yet freed.
    #[track_caller]
    pub unsafe fn dma_dealloc(
        paddr: PhysAddr,
        vaddr: NonNull<u8>,
        pages: usize,
        _access_platform: bool,
    ) -> i32 {
        let dev = Self::device();
        dma_free_coherent(&dev, pages * PAGE_SIZE, vaddr.as_ptr(), paddr);
        0
    }

    /// `Hal::mmio_phys_to_virt`: the CPU pointer of a region registered with
    /// [`DmacheckHal::register_mmio`]. Panics if no registered region holds the range.
    ///
    /// # Safety
    ///
    /// As `Hal::mmio_phys_to_virt`.
    pub unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        with_binding("mmio_phys_to_virt", |b| {
            b.mmio
                .iter()
                .find(|&&(start, len, _)| {
                    paddr >= start && paddr + size as u64 <= start + len as u64
                })
                .map(|&(start, _, ptr)| {
                    // SAFETY: the offset lies inside the registered region.
                    unsafe { ptr.add((paddr - start) as usize) }
                })
                .unwrap_or_else(|| {
                    panic!("dmacheck: no MMIO region registered at {paddr:#x} (+{size:#x})")
                })
        })
    }

    /// `Hal::share`: map the buffer for the device with [`dma_map_single`] (staging it in a
    /// `kmalloc` copy if it is not dmacheck memory) and test the result with
    /// [`dma_mapping_error`]. Panics if the map is refused: virtio-drivers cannot take an error.
    ///
    /// # Safety
    ///
    /// As `Hal::share`: a valid, non-empty buffer.
    #[track_caller]
    pub unsafe fn share(
        buffer: NonNull<[u8]>,
        dir: BufferDirection,
        _access_platform: bool,
    ) -> PhysAddr {
        let dev = Self::device();
        let len = buffer.len();
        let ptr = buffer.cast::<u8>().as_ptr();
        let in_arena = dev.checker().memory().phys_of(ptr, len as u64).is_ok();
        let (mapped, staged) = if in_arena {
            (ptr.cast_const(), None)
        } else {
            let copy = kmalloc(dev.checker(), len.max(64), Gfp::KERNEL);
            assert!(
                !copy.is_null(),
                "dmacheck: no memory to stage a shared buffer"
            );
            // SAFETY: the caller's buffer is valid for `len` bytes; the copy was just allocated
            // with at least `len` bytes, and they do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(ptr, copy, len) };
            (copy.cast_const(), Some(Staged { copy }))
        };
        let dma = dma_map_single(&dev, mapped, len, direction(dir));
        if dma_mapping_error(&dev, dma) != 0 {
            if let Some(s) = staged {
                kfree(dev.checker(), s.copy);
            }
            panic!("dmacheck: Hal::share: dma_map_single refused the buffer (see the report)");
        }
        if let Some(s) = staged {
            with_binding("share", |b| b.staged.insert(dma, s));
        }
        dma
    }

    /// `Hal::unshare`: [`dma_unmap_single`]; for a staged buffer, then copy the device's bytes
    /// back (`DeviceToDriver`, `Both`) and free the copy.
    ///
    /// # Safety
    ///
    /// As `Hal::unshare`: the buffer and the address its `share` returned.
    #[track_caller]
    pub unsafe fn unshare(
        paddr: PhysAddr,
        buffer: NonNull<[u8]>,
        dir: BufferDirection,
        _access_platform: bool,
    ) {
        let dev = Self::device();
        let len = buffer.len();
        dma_unmap_single(&dev, paddr, len, direction(dir));
        if paddr == DMA_MAPPING_ERROR {
            return;
        }
        if let Some(s) = with_binding("unshare", |b| b.staged.remove(&paddr)) {
            if dir != BufferDirection::DriverToDevice {
                // SAFETY: the copy holds at least `len` bytes; the caller's buffer is valid for
                // `len` bytes and not otherwise accessed during this call.
                unsafe { std::ptr::copy_nonoverlapping(s.copy, buffer.cast::<u8>().as_ptr(), len) };
            }
            kfree(dev.checker(), s.copy);
        }
    }
}

/// Implement virtio-drivers' `Hal` trait on a type by forwarding to [`DmacheckHal`]'s functions
/// (every method `#[track_caller]`, so dmacheck's sites are virtio-drivers' own lines).
///
/// - `impl_virtio_hal!(virtio_drivers::Hal for MyHal)` — virtio-drivers 0.13.
/// - `impl_virtio_hal!(virtio_drivers::Hal for MyHal, access_platform)` — the next signature,
///   with a trailing `access_platform: bool` on `dma_alloc`, `dma_dealloc`, `share` and
///   `unshare`.
///
/// dmacheck implements the 0.13 form on [`DmacheckHal`] itself.
#[macro_export]
macro_rules! impl_virtio_hal {
    ($($hal:ident)::+ for $ty:ty) => {
        // SAFETY: dmacheck's coherent memory is page-aligned, zeroed and owned by the
        // allocation until it is freed; shared buffers are mapped or staged as documented.
        unsafe impl $($hal)::+ for $ty {
            #[track_caller]
            fn dma_alloc(
                pages: usize,
                direction: $crate::adapters::virtio::BufferDirection,
            ) -> ($crate::adapters::virtio::VirtioPhysAddr, ::core::ptr::NonNull<u8>) {
                $crate::adapters::virtio::DmacheckHal::dma_alloc(pages, direction, false)
            }
            #[track_caller]
            unsafe fn dma_dealloc(
                paddr: $crate::adapters::virtio::VirtioPhysAddr,
                vaddr: ::core::ptr::NonNull<u8>,
                pages: usize,
            ) -> i32 {
                // SAFETY: forwarded from the caller.
                unsafe {
                    $crate::adapters::virtio::DmacheckHal::dma_dealloc(paddr, vaddr, pages, false)
                }
            }
            unsafe fn mmio_phys_to_virt(
                paddr: $crate::adapters::virtio::VirtioPhysAddr,
                size: usize,
            ) -> ::core::ptr::NonNull<u8> {
                // SAFETY: forwarded from the caller.
                unsafe { $crate::adapters::virtio::DmacheckHal::mmio_phys_to_virt(paddr, size) }
            }
            #[track_caller]
            unsafe fn share(
                buffer: ::core::ptr::NonNull<[u8]>,
                direction: $crate::adapters::virtio::BufferDirection,
            ) -> $crate::adapters::virtio::VirtioPhysAddr {
                // SAFETY: forwarded from the caller.
                unsafe { $crate::adapters::virtio::DmacheckHal::share(buffer, direction, false) }
            }
            #[track_caller]
            unsafe fn unshare(
                paddr: $crate::adapters::virtio::VirtioPhysAddr,
                buffer: ::core::ptr::NonNull<[u8]>,
                direction: $crate::adapters::virtio::BufferDirection,
            ) {
                // SAFETY: forwarded from the caller.
                unsafe {
                    $crate::adapters::virtio::DmacheckHal::unshare(paddr, buffer, direction, false)
                }
            }
        }
    };
    ($($hal:ident)::+ for $ty:ty, access_platform) => {
        // SAFETY: as for the 0.13 form.
        unsafe impl $($hal)::+ for $ty {
            #[track_caller]
            fn dma_alloc(
                pages: usize,
                direction: $crate::adapters::virtio::BufferDirection,
                access_platform: bool,
            ) -> ($crate::adapters::virtio::VirtioPhysAddr, ::core::ptr::NonNull<u8>) {
                $crate::adapters::virtio::DmacheckHal::dma_alloc(pages, direction, access_platform)
            }
            #[track_caller]
            unsafe fn dma_dealloc(
                paddr: $crate::adapters::virtio::VirtioPhysAddr,
                vaddr: ::core::ptr::NonNull<u8>,
                pages: usize,
                access_platform: bool,
            ) -> i32 {
                // SAFETY: forwarded from the caller.
                unsafe {
                    $crate::adapters::virtio::DmacheckHal::dma_dealloc(
                        paddr,
                        vaddr,
                        pages,
                        access_platform,
                    )
                }
            }
            unsafe fn mmio_phys_to_virt(
                paddr: $crate::adapters::virtio::VirtioPhysAddr,
                size: usize,
            ) -> ::core::ptr::NonNull<u8> {
                // SAFETY: forwarded from the caller.
                unsafe { $crate::adapters::virtio::DmacheckHal::mmio_phys_to_virt(paddr, size) }
            }
            #[track_caller]
            unsafe fn share(
                buffer: ::core::ptr::NonNull<[u8]>,
                direction: $crate::adapters::virtio::BufferDirection,
                access_platform: bool,
            ) -> $crate::adapters::virtio::VirtioPhysAddr {
                // SAFETY: forwarded from the caller.
                unsafe {
                    $crate::adapters::virtio::DmacheckHal::share(buffer, direction, access_platform)
                }
            }
            #[track_caller]
            unsafe fn unshare(
                paddr: $crate::adapters::virtio::VirtioPhysAddr,
                buffer: ::core::ptr::NonNull<[u8]>,
                direction: $crate::adapters::virtio::BufferDirection,
                access_platform: bool,
            ) {
                // SAFETY: forwarded from the caller.
                unsafe {
                    $crate::adapters::virtio::DmacheckHal::unshare(
                        paddr,
                        buffer,
                        direction,
                        access_platform,
                    )
                }
            }
        }
    };
}

/// virtio-drivers' buffer direction, re-exported for [`impl_virtio_hal!`](crate::impl_virtio_hal).
pub use virtio_drivers::BufferDirection;
/// virtio-drivers' physical address type, re-exported for
/// [`impl_virtio_hal!`](crate::impl_virtio_hal).
pub use virtio_drivers::PhysAddr as VirtioPhysAddr;

crate::impl_virtio_hal!(virtio_drivers::Hal for DmacheckHal);
