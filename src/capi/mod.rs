//! The C ABI: the DMA API under its Linux names and signatures, for C code written against the
//! kernel's headers. The headers are in `include/` (`<linux/dma-mapping.h>`, `<linux/pci.h>`,
//! `<linux/scatterlist.h>`, `<linux/dmapool.h>`, `<linux/slab.h>`, `<linux/spinlock.h>`, ...,
//! and `<dmacheck.h>` for devices, the device model and the findings); `cargo build` makes
//! `libdmacheck.a` and `libdmacheck.so` exporting every function they declare.
//!
//! ```sh
//! cc -Iinclude -g -c driver_test.c -o driver_test.o
//! cc driver_test.o target/debug/libdmacheck.a -lpthread -ldl -lm -o driver_test
//! ```
//!
//! This layer is thin: each function turns C arguments into the Rust API's types and calls the
//! function of the same name on the process-wide checker ([`Checker::global`](crate::Checker)).
//! What it adds is what C needs:
//!
//! - **Devices** are `#[repr(C)]` [`CDevice`] and [`CPciDev`] structures made by
//!   `dmacheck_device_create`, `dmacheck_iommu_device_create` and `dmacheck_pci_dev_create`
//!   (a NULL `pci_dev` in a `pci_*` call is an ISA device with 24-bit masks, as DMA-mapping.txt
//!   says), registered by address and never freed, so a DMA call on a released device is reported rather than a use after free. Only
//!   registered pointers are dereferenced: NULL or any other pointer given as a device is
//!   refused on a placeholder device named `(NULL or unknown struct device)`, which
//!   reports the call (`invalid-device`) and returns what a failed call returns.
//! - **A program's own `struct device`** (a kernel-code harness with its own stub headers):
//!   when `<linux/dma-mapping.h>` is compiled against another `struct device`, or after
//!   `dmacheck_adopt_devices`/`dmacheck_set_device_hook`, unknown device pointers are
//!   registered on first use (named by the hook, or `dmacheck_device_attach`) and never
//!   dereferenced; their masks live in the Rust device.
//! - **Masks**: the C fields (`*dev->dma_mask`, `dev->coherent_dma_mask`) are the truth. Every
//!   call reads them and, when they differ from the Rust device's, applies them with
//!   [`dma_set_mask`](crate::dma_set_mask) / [`dma_set_coherent_mask`](crate::dma_set_coherent_mask)
//!   (a mask those refuse is not applied); `dma_set_mask` from C sets the Rust mask and writes
//!   the C field. So a driver may write the fields directly, as kernel drivers do.
//! - **Scatter-gather lists**: a C `struct scatterlist` array is translated into an
//!   [`SgTable`](crate::SgTable) at `dma_map_sg` (following `SG_CHAIN` links and stopping at
//!   `SG_END`), mapped by the Rust API, and the DMA segments are written back into the C
//!   entries. The table stays registered under the address of the list's first entry, which is
//!   how `dma_unmap_sg` and the syncs find it, and the addresses of its entries are indexed so
//!   that `sg_dma_address(sg)` / `sg_dma_len(sg)` (lvalues through
//!   `dmacheck_sg_dma_address_ptr`) are checked against the mapped count.
//!   `sg_init_table`/`sg_init_one` forget the lists whose entries they reset.
//! - **`struct page *`** names a page without being its address: pointers into a kernel-like
//!   `vmemmap` range at [`VMEMMAP_BASE`], one 64-byte [`CPage`] per 4 KiB page, so `page + 1` is
//!   the next page and a page used as a buffer is caught.
//! - **Older calls**: `dma_sync_single`/`dma_sync_sg` are carried out as the modern sync their
//!   direction means (`DMA_TO_DEVICE`: for the device; `DMA_FROM_DEVICE`: for the CPU;
//!   `DMA_BIDIRECTIONAL`: whichever hand-over the mapping is due, by who owns it now), the
//!   one-argument `dma_mapping_error(addr)` marks the mapping at `addr` of every device as
//!   checked, and 2.4's six-argument `pci_pool_create` is a macro over `dma_pool_create`.
//! - **User mappings** (`dma_mmap_coherent`, `remap_pfn_range`) are kept by the address of
//!   their `vm_area_struct` ([`CVmArea`], whose `vm_start` dmacheck fills) until
//!   `dmacheck_munmap`.
//! - **Spinlocks** are C structures ([`CSpinlock`]) locked with atomics on their own memory;
//!   the holder is in atomic context as [`SpinLock`](crate::SpinLock)'s is.
//! - **Panics**: a deny-level violation panics in the Rust API, and a panic cannot unwind into
//!   C. Every function catches it at the boundary (`std::panic::catch_unwind`); the panic
//!   message (the violation) has been printed by then, the exit report is written, and the
//!   process aborts (`SIGABRT`) inside the offending call: the program stops where the mistake
//!   is, as a debugger or fuzzer wants.
//!
//! - **Sites**: each call `include/` declares is also a macro that evaluates the arguments,
//!   tells dmacheck the caller's `__FILE__` and `__LINE__` (`dmacheck_call_site`), then makes
//!   the call; the C ABI function takes that site at its entry ([`ffi`]) and every report of the
//!   call names the C line. A call made without the macro (through a function pointer, or
//!   compiled with `DMACHECK_NO_CALL_SITES`) names the C ABI's own line; with
//!   `DMACHECK=stacks` the captured stack shows the C caller either way (compile with `-g`).

#![cfg(not(loom))]

use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int};
use std::panic::{self, AssertUnwindSafe};

use crate::site::TraceSites;
use crate::sync::process::OnceLock;
use crate::{Checker, Direction, DmaAttrs, Gfp, PAGE_SHIFT, Page};

mod context;
mod device;
mod iova;
mod managed;
mod memory;
mod modern;
mod pool;
mod regions;
mod sg;
mod sgtable;
mod streaming;

pub use context::CSpinlock;
pub use device::{CDevice, CDeviceInfo, CPciDev, CResource, PCI_NUM_RESOURCES};
pub use pool::CDmaPool;
pub use regions::{CPgProt, CVmArea};
pub use sg::CScatterlist;
pub use sgtable::CSgTable;

/// The checker every C call uses.
fn checker() -> &'static Checker {
    Checker::global()
}

/// Run the body of a C ABI function, catching a panic (a deny-level violation) before it can
/// unwind into C: write the exit report and abort.
fn ffi<R>(call: &'static str, body: impl FnOnce() -> R) -> R {
    let caller = CALL_SITE.take().and_then(foreign_site);
    let result =
        crate::site::with_foreign_caller(caller, || panic::catch_unwind(AssertUnwindSafe(body)));
    crate::rules::map::set_given_direction(None);
    match result {
        Ok(r) => r,
        Err(_) => abort_from(call),
    }
}

std::thread_local! {
    /// The file and line `dmacheck_call_site` was given for the call about to be made.
    static CALL_SITE: Cell<Option<(*const c_char, c_int)>> = const { Cell::new(None) };
    /// The last `__FILE__` pointer seen and its name: consecutive calls mostly come from one
    /// file, whose string literal keeps its address.
    static LAST_FILE: Cell<Option<(*const c_char, TraceSites)>> = const { Cell::new(None) };
}

/// Where the next C ABI call on this thread is made from: the call-site macros of `include/`
/// call this after evaluating the call's arguments (which may make calls of their own) and
/// just before the call, which takes it at its entry.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_call_site(file: *const c_char, line: c_int) {
    CALL_SITE.set(Some((file, line)));
}

/// The site of a C caller's `__FILE__` and `__LINE__`; `None` for a NULL file.
fn foreign_site((file, line): (*const c_char, c_int)) -> Option<crate::Site> {
    if file.is_null() {
        return None;
    }
    let sites = match LAST_FILE.get() {
        Some((known, sites)) if known == file => sites,
        _ => {
            // SAFETY: the C contract of `dmacheck_call_site`: a NUL-terminated string
            // (`__FILE__`).
            let sites = TraceSites::new(&unsafe { CStr::from_ptr(file) }.to_string_lossy());
            LAST_FILE.set(Some((file, sites)));
            sites
        }
    };
    Some(sites.line(u64::try_from(line).unwrap_or(0)))
}

#[cold]
fn abort_from(call: &str) -> ! {
    // The panic hook has printed the message: the violation, or what went wrong inside.
    eprintln!(
        "dmacheck: {call}: stopping the program (a deny-level violation, or an internal error); \
         C code cannot unwind, so dmacheck aborts"
    );
    let _ = panic::catch_unwind(crate::Checker::write_exit_report_now);
    std::process::abort()
}

/// `enum dma_data_direction` from C: an unknown value is `DMA_NONE`, which the calls report.
fn direction(raw: c_int) -> Direction {
    let dir = u32::try_from(raw).ok().and_then(Direction::from_raw);
    // Reports of this call show a value no direction has as it was given.
    crate::rules::map::set_given_direction(dir.is_none().then_some(i64::from(raw)));
    dir.unwrap_or(Direction::None)
}

/// `gfp_t` from C; unknown bits are ignored.
fn gfp(raw: u32) -> Gfp {
    Gfp::from_bits_truncate(raw)
}

/// `unsigned long attrs` from C; unknown bits are ignored.
fn attrs(raw: u64) -> DmaAttrs {
    DmaAttrs::from_bits_truncate(raw)
}

/// A C string, or `default` for NULL.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string.
unsafe fn c_str(s: *const c_char, default: &str) -> String {
    if s.is_null() {
        return default.to_string();
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

/// Where `struct page` pointers live: the x86-64 kernel's `vmemmap` base, an address no
/// user-space program can dereference.
pub const VMEMMAP_BASE: u64 = 0xffff_ea00_0000_0000;

/// A C `struct page`: never dereferenced, only its address counts (see [`VMEMMAP_BASE`]).
#[repr(C)]
pub struct CPage {
    /// Opaque; the 64 bytes of the kernel's `struct page`.
    pub opaque: [u64; 8],
}

/// The `struct page *` of a page; NULL for a page so high in the address space that its
/// `struct page` would lie past the end of it (no memory is there: found by fuzzing).
fn page_ptr(page: Page) -> *mut CPage {
    let index = (page.address().addr() as u64) >> PAGE_SHIFT;
    index
        .checked_mul(std::mem::size_of::<CPage>() as u64)
        .and_then(|offset| VMEMMAP_BASE.checked_add(offset))
        .map_or(std::ptr::null_mut(), |at| {
            std::ptr::without_provenance_mut(at as usize)
        })
}

/// The page a `struct page *` names, if it names one.
fn page_of(ptr: *const CPage) -> Option<Page> {
    let size = std::mem::size_of::<CPage>() as u64;
    let offset = (ptr.addr() as u64).checked_sub(VMEMMAP_BASE)?;
    if offset % size != 0 || offset / size > (usize::MAX >> PAGE_SHIFT) as u64 {
        return None;
    }
    let address = ((offset / size) as usize) << PAGE_SHIFT;
    Page::containing(std::ptr::with_exposed_provenance(address))
}

/// The page a `struct page *` names; for NULL or a pointer that names no page, a page no
/// memory is at, so the call that gets it reports memory that is not DMA-able.
fn page_or_nowhere(ptr: *const CPage) -> Page {
    static NOWHERE: OnceLock<Page> = OnceLock::new();
    page_of(ptr).unwrap_or_else(|| {
        *NOWHERE.get_or_init(|| {
            // The first page of the address space, which no process maps.
            Page::containing(std::ptr::without_provenance(crate::PAGE_SIZE)).expect("non-null")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_page_pointers_round_trip_and_are_not_addresses() {
        let buf = vec![0u8; 3 * crate::PAGE_SIZE];
        let page = Page::containing(buf[crate::PAGE_SIZE..].as_ptr()).unwrap();
        let p = page_ptr(page);
        assert_ne!(p.addr(), page.address().addr());
        assert_eq!(page_of(p), Some(page));
        // `page + 1` in C is the next page.
        let next = p.wrapping_add(1);
        assert_eq!(
            page_of(next).unwrap().address().addr(),
            page.address().addr() + crate::PAGE_SIZE
        );
        assert_eq!(page_of(std::ptr::null()), None);
        // The top of the address space has no `struct page`.
        let top = Page::containing(std::ptr::without_provenance(usize::MAX)).unwrap();
        assert!(page_ptr(top).is_null());
        assert_eq!(page_of(p.cast::<u8>().wrapping_add(8).cast()), None);
        assert_eq!(
            page_or_nowhere(std::ptr::null()).address().addr(),
            crate::PAGE_SIZE
        );
    }

    #[test]
    fn unknown_directions_are_dma_none() {
        assert_eq!(direction(1), Direction::ToDevice);
        assert_eq!(direction(3), Direction::None);
        assert_eq!(direction(7), Direction::None);
        assert_eq!(direction(-1), Direction::None);
    }
}
