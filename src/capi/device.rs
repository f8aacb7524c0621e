//! Devices (`struct device`, `struct pci_dev`) and `<dmacheck.h>`: making and releasing devices,
//! the device model, interrupt context and the checker's findings.

use std::collections::BTreeMap;
use std::ffi::{CString, c_char, c_int, c_ulong, c_void};

use super::{c_str, checker, ffi};
use crate::event::Op;
use crate::report::{Destination, Format, Target};
use crate::sync::process::{Mutex, OnceLock};
use crate::{Device, DmaAddr, dma_bit_mask};
use std::sync::atomic::{AtomicBool, Ordering};

/// A C `struct device` (`<linux/device.h>`).
#[repr(C)]
pub struct CDevice {
    /// `dev_name()`: a C string owned by dmacheck.
    pub name: *const c_char,
    /// The streaming mask is `*dma_mask`.
    pub dma_mask: *mut u64,
    /// The coherent mask.
    pub coherent_dma_mask: u64,
    /// `dev_get_drvdata()`.
    pub driver_data: *mut c_void,
    /// Free for the driver.
    pub platform_data: *mut c_void,
    /// What `dma_mask` points at for devices from `dmacheck_device_create`.
    pub dma_mask_storage: u64,
}

/// `PCI_NUM_RESOURCES` (`<linux/pci.h>`): the six BARs and the expansion ROM.
pub const PCI_NUM_RESOURCES: usize = 7;

/// A C `struct resource` (`<linux/pci.h>`): a BAR's window.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CResource {
    /// The first bus address.
    pub start: u64,
    /// The last bus address (0 with `start` 0: no window).
    pub end: u64,
    /// Its name.
    pub name: *const c_char,
    /// `IORESOURCE_*`.
    pub flags: c_ulong,
}

/// A C `struct pci_dev` (`<linux/pci.h>`), embedding its `struct device`. The fields after
/// `dev` are the C harness's (`<dmacheck_pci.h>`): Rust only allocates them zeroed.
#[repr(C)]
pub struct CPciDev {
    /// The PCI vendor id.
    pub vendor: u16,
    /// The PCI device id.
    pub device: u16,
    /// Device and function number.
    pub devfn: u32,
    /// What `dev.dma_mask` points at.
    pub dma_mask: u64,
    /// The device.
    pub dev: CDevice,
    /// The `struct pci_bus` the harness gives it.
    pub bus: *mut c_void,
    /// The subsystem vendor id.
    pub subsystem_vendor: u16,
    /// The subsystem id.
    pub subsystem_device: u16,
    /// The class code: base class, subclass, programming interface.
    pub class: u32,
    /// The revision id.
    pub revision: u8,
    /// The interrupt pin (1: INTA; 0: none).
    pub pin: u8,
    /// The INTx line, or MSI vector 0 while MSI is enabled.
    pub irq: u32,
    /// The BARs and the ROM.
    pub resource: [CResource; PCI_NUM_RESOURCES],
    /// The C bit-fields `msi_enabled` (bit 0) and `msix_enabled` (bit 1).
    pub msi_bits: u32,
}

/// The Rust device of every C device, by the address of its `struct device`. Entries are never
/// removed: the C structures are never freed.
static DEVICES: Mutex<BTreeMap<usize, Device>> = Mutex::new(BTreeMap::new());

/// The device NULL and unknown pointers stand for: every DMA call on it is reported
/// (`invalid-device`) and refused.
pub(super) fn invalid_device() -> &'static Device {
    static INVALID: OnceLock<Device> = OnceLock::new();
    INVALID.get_or_init(|| {
        let dev = checker()
            .device("(NULL or unknown struct device)")
            .driver("dmacheck")
            .build();
        dev.mark_invalid();
        dev
    })
}

/// The device a C pointer names, with its masks brought in line with the C fields; the
/// released placeholder for NULL or a pointer no `dmacheck_*_create` returned.
pub(super) fn device(dev: *const CDevice) -> Device {
    registered(dev).unwrap_or_else(|| invalid_device().clone())
}

/// The registered device at `dev`, with its masks applied; a program's own `struct device`
/// (see [`adopt`]) is registered on first use.
pub(super) fn registered(dev: *const CDevice) -> Option<Device> {
    if dev.is_null() {
        return None;
    }
    let Some(found) = DEVICES.lock().get(&dev.addr()).cloned() else {
        return foreign(dev);
    };
    // SAFETY: `dev` is registered, so it is a `CDevice` this module allocated and never frees.
    unsafe { apply_c_masks(dev, &found) };
    Some(found)
}

/// Whether `dev` is a `struct device` dmacheck made (whose fields it may read and write).
pub(super) fn own(dev: *const CDevice) -> bool {
    DEVICES.lock().contains_key(&dev.addr())
}

// ---------------------------------------------------------------------------------------------
// A program's own `struct device`

/// `struct dmacheck_device_info` (`<dmacheck.h>`): what a program says of its own device.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CDeviceInfo {
    /// `dev_name()`; NULL: `device@<address>`.
    pub name: *const c_char,
    /// The driver; NULL: `unknown`.
    pub driver: *const c_char,
    /// The streaming mask; 0: 32 bits.
    pub dma_mask: u64,
    /// The coherent mask; 0: the streaming mask.
    pub coherent_dma_mask: u64,
    /// Non-zero: behind dmacheck's IOMMU.
    pub iommu: c_int,
}

/// The program's hook naming its devices.
type DeviceHook = unsafe extern "C" fn(*const CDevice, *mut CDeviceInfo) -> c_int;

/// Whether device pointers dmacheck did not make are the program's own devices.
static ADOPTING: AtomicBool = AtomicBool::new(false);
static HOOK: Mutex<Option<DeviceHook>> = Mutex::new(None);
/// The program's own devices, by address (never dereferenced).
static FOREIGN: Mutex<BTreeMap<usize, Device>> = Mutex::new(BTreeMap::new());

/// Whether a pointer could be a `struct device`: not in the first page, and aligned as a
/// structure of pointers is. Others stay `invalid-device` even when adopting.
fn plausible(dev: *const CDevice) -> bool {
    dev.addr() >= 4096 && dev.addr() % std::mem::align_of::<*const u8>() == 0
}

/// The program's own device at `dev`: registered already, or now, when adopting.
fn foreign(dev: *const CDevice) -> Option<Device> {
    if let Some(found) = FOREIGN.lock().get(&dev.addr()) {
        return Some(found.clone());
    }
    if !ADOPTING.load(Ordering::Acquire) || !plausible(dev) {
        return None;
    }
    let mut info = CDeviceInfo {
        name: std::ptr::null(),
        driver: std::ptr::null(),
        dma_mask: 0,
        coherent_dma_mask: 0,
        iommu: 0,
    };
    let hook = *HOOK.lock();
    if let Some(hook) = hook {
        // SAFETY: the program's hook, given its own device and a writable info.
        if unsafe { hook(dev, &mut info) } != 0 {
            return None;
        }
    }
    // Two threads meeting a new device at once register one of them.
    Some(attach(dev, &info, false))
}

/// Register the program's device at `dev` as `info` describes it: replacing an earlier one, or
/// (not `replace`) unless another thread registered it first.
fn attach(dev: *const CDevice, info: &CDeviceInfo, replace: bool) -> Device {
    let default_name = format!("device@{:#x}", dev.addr());
    // SAFETY: the C contract: NULL or NUL-terminated strings.
    let (name, driver) = unsafe {
        (
            c_str(info.name, &default_name),
            c_str(info.driver, "unknown"),
        )
    };
    let mask = if info.dma_mask == 0 {
        dma_bit_mask(32)
    } else {
        info.dma_mask
    };
    let coherent = if info.coherent_dma_mask == 0 {
        mask
    } else {
        info.coherent_dma_mask
    };
    let builder = checker()
        .device(&name)
        .driver(&driver)
        .dma_mask(mask)
        .coherent_dma_mask(coherent);
    let rust = if info.iommu != 0 {
        builder.iommu()
    } else {
        builder
    }
    .build();
    let mut foreign = FOREIGN.lock();
    if replace {
        foreign.insert(dev.addr(), rust.clone());
        return rust;
    }
    foreign.entry(dev.addr()).or_insert(rust).clone()
}

/// `dmacheck_adopt_devices`: every device pointer dmacheck did not make is the program's own
/// `struct device`, registered on first use.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_adopt_devices() {
    ADOPTING.store(true, Ordering::Release);
}

/// `dmacheck_set_device_hook`: adopt the program's devices, described by `hook` on first use.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_set_device_hook(hook: Option<DeviceHook>) {
    ffi("dmacheck_set_device_hook", || {
        *HOOK.lock() = hook;
        ADOPTING.store(true, Ordering::Release);
    })
}

/// `dmacheck_device_attach`: register the program's device at `dev` now, as `info` says.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_device_attach(dev: *mut CDevice, info: *const CDeviceInfo) -> c_int {
    ffi("dmacheck_device_attach", || {
        if dev.is_null() || own(dev) {
            return -EINVAL;
        }
        if FOREIGN
            .lock()
            .get(&dev.addr())
            .is_some_and(|d| !d.is_released())
        {
            return -EBUSY;
        }
        let info = if info.is_null() {
            CDeviceInfo {
                name: std::ptr::null(),
                driver: std::ptr::null(),
                dma_mask: 0,
                coherent_dma_mask: 0,
                iommu: 0,
            }
        } else {
            // SAFETY: the C contract: a readable `struct dmacheck_device_info`.
            unsafe { info.read() }
        };
        attach(dev, &info, true);
        0
    })
}

/// `-EBUSY`.
const EBUSY: c_int = 16;

/// Apply what C wrote into the mask fields.
///
/// # Safety
/// `dev` points to a live `CDevice`; its `dma_mask` is NULL or points to a readable `u64` (the
/// same contract as the kernel's).
unsafe fn apply_c_masks(dev: *const CDevice, rust: &Device) {
    if rust.is_released() {
        // Nothing is applied to a released device (the call itself is reported).
        return;
    }
    let now = rust.params();
    // SAFETY: `dev` is live (the caller's contract); the fields are read without assuming that
    // C code did not change them.
    let (mask_ptr, coherent) = unsafe {
        (
            std::ptr::addr_of!((*dev).dma_mask).read_volatile(),
            std::ptr::addr_of!((*dev).coherent_dma_mask).read_volatile(),
        )
    };
    if !mask_ptr.is_null() {
        // SAFETY: a non-NULL `dma_mask` points to the device's mask (the caller's contract).
        let mask = unsafe { mask_ptr.read_volatile() };
        if mask != now.dma_mask {
            crate::dma_set_mask(rust, mask);
        }
    }
    if coherent != now.coherent_dma_mask {
        crate::dma_set_coherent_mask(rust, coherent);
    }
}

/// A new Rust device and the C structure to register it under (its `dma_mask` pointer not
/// set yet: it points into the structure's final place).
fn new_device(
    name: *const c_char,
    driver: *const c_char,
    mask: u64,
    iommu: bool,
) -> (CDevice, Device) {
    // SAFETY: the C contract of `dmacheck_device_create`: NULL or NUL-terminated strings.
    let (name, driver) = unsafe { (c_str(name, "(unnamed)"), c_str(driver, "unknown")) };
    let mask = if mask == 0 { dma_bit_mask(32) } else { mask };
    let builder = checker()
        .device(&name)
        .driver(&driver)
        .dma_mask(mask)
        .coherent_dma_mask(mask);
    let rust = if iommu { builder.iommu() } else { builder }.build();
    let c_name = CString::new(name.as_str()).unwrap_or_default();
    let dev = CDevice {
        name: c_name.into_raw(),
        dma_mask: std::ptr::null_mut(),
        coherent_dma_mask: mask,
        driver_data: std::ptr::null_mut(),
        platform_data: std::ptr::null_mut(),
        dma_mask_storage: mask,
    };
    (dev, rust)
}

/// Make and register a plain device.
fn create_device(
    name: *const c_char,
    driver: *const c_char,
    mask: u64,
    iommu: bool,
) -> *mut CDevice {
    let (dev, rust) = new_device(name, driver, mask, iommu);
    // Never freed: a released device must stay valid to be reported.
    let p = Box::into_raw(Box::new(dev));
    // SAFETY: `p` was just allocated and is not shared yet.
    unsafe { (*p).dma_mask = &raw mut (*p).dma_mask_storage };
    DEVICES.lock().insert(p.addr(), rust);
    p
}

/// `dmacheck_device_create`: a device with both masks `dma_mask` (0: 32 bits).
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_device_create(
    name: *const c_char,
    driver: *const c_char,
    dma_mask: u64,
) -> *mut CDevice {
    ffi("dmacheck_device_create", || {
        create_device(name, driver, dma_mask, false)
    })
}

/// `dmacheck_iommu_device_create`: the same, behind the checker's IOMMU.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_iommu_device_create(
    name: *const c_char,
    driver: *const c_char,
    dma_mask: u64,
) -> *mut CDevice {
    ffi("dmacheck_iommu_device_create", || {
        create_device(name, driver, dma_mask, true)
    })
}

/// `dmacheck_pci_dev_create`: the same, as a PCI device.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_pci_dev_create(
    name: *const c_char,
    driver: *const c_char,
    dma_mask: u64,
) -> *mut CPciDev {
    ffi("dmacheck_pci_dev_create", || {
        let (dev, rust) = new_device(name, driver, dma_mask, false);
        let no_window = CResource {
            start: 0,
            end: 0,
            name: std::ptr::null(),
            flags: 0,
        };
        let p = Box::into_raw(Box::new(CPciDev {
            vendor: 0,
            device: 0,
            devfn: 0,
            dma_mask: dev.dma_mask_storage,
            dev,
            bus: std::ptr::null_mut(),
            subsystem_vendor: 0,
            subsystem_device: 0,
            class: 0,
            revision: 0,
            pin: 0,
            irq: 0,
            resource: [no_window; PCI_NUM_RESOURCES],
            msi_bits: 0,
        }));
        // SAFETY: `p` was just allocated and is not shared yet.
        let dev = unsafe {
            (*p).dev.dma_mask = &raw mut (*p).dma_mask;
            &raw mut (*p).dev
        };
        DEVICES.lock().insert(dev.addr(), rust);
        p
    })
}

/// The device of `pci_*` calls given a NULL `pci_dev`: ISA, 24-bit masks.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_isa_device() -> *mut CDevice {
    static ISA: OnceLock<usize> = OnceLock::new();
    let at = *ISA.get_or_init(|| {
        create_device(
            c"isa (NULL pci_dev)".as_ptr(),
            c"isa".as_ptr(),
            0xff_ffff,
            false,
        )
        .expose_provenance()
    });
    std::ptr::with_exposed_provenance_mut(at)
}

/// `dmacheck_device_release`: driver unbind.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_device_release(dev: *mut CDevice) {
    ffi("dmacheck_device_release", || {
        if let Some(dev) = registered(dev) {
            // Devres first (managed pools are not forgotten ones), then the pools the driver
            // never destroyed, then the device.
            crate::api::release_devres(&dev);
            super::pool::destroy_forgotten_pools(&dev);
            dev.release();
        }
    })
}

/// `-EINVAL`.
const EINVAL: c_int = 22;

/// `dmacheck_device_read`: the device reads `len` bytes at `addr`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_device_read(
    dev: *mut CDevice,
    addr: DmaAddr,
    buf: *mut c_void,
    len: usize,
) -> c_int {
    ffi("dmacheck_device_read", || {
        if buf.is_null() && len > 0 {
            return -EINVAL;
        }
        let dev = device(dev);
        // Judged before anything is allocated or touched: once allowed, `len` is no longer
        // than a live mapping, however large C said it was.
        if let Err(fault) = dev.check_dma_access(Op::DeviceRead, addr, len) {
            return fault.errno();
        }
        let mut bytes = vec![0u8; len];
        match dev.carry_out_dma_read(addr, &mut bytes) {
            Ok(()) => {
                // SAFETY: the C contract: `buf` is writable for `len` bytes.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast(), len) };
                0
            }
            Err(fault) => fault.errno(),
        }
    })
}

/// `dmacheck_device_write`: the device writes `len` bytes at `addr`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_device_write(
    dev: *mut CDevice,
    addr: DmaAddr,
    buf: *const c_void,
    len: usize,
) -> c_int {
    ffi("dmacheck_device_write", || {
        if buf.is_null() && len > 0 {
            return -EINVAL;
        }
        let dev = device(dev);
        // Judged before `buf` is read (see dmacheck_device_read).
        if let Err(fault) = dev.check_dma_access(Op::DeviceWrite, addr, len) {
            return fault.errno();
        }
        // The bytes are copied out first: the write may land on `buf` itself.
        let bytes = if len == 0 {
            Vec::new()
        } else {
            // SAFETY: the C contract: `buf` is readable for `len` bytes.
            unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }.to_vec()
        };
        match dev.carry_out_dma_write(addr, &bytes) {
            Ok(()) => 0,
            Err(fault) => fault.errno(),
        }
    })
}

/// `dmacheck_run_in_irq`: run `handler(arg)` as a hard interrupt handler.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_run_in_irq(
    handler: Option<unsafe extern "C" fn(*mut c_void)>,
    arg: *mut c_void,
) {
    ffi("dmacheck_run_in_irq", || {
        if let Some(handler) = handler {
            // SAFETY: the C contract: `handler` is a function taking `arg`.
            crate::run_in_hardirq(|| unsafe { handler(arg) });
        }
    })
}

/// `dmacheck_error_count`: every violation reported so far.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_error_count() -> c_ulong {
    ffi("dmacheck_error_count", || checker().error_count())
}

/// `dmacheck_trap_flush`: in trap mode (`DMACHECK=trap`), report the plain-pointer accesses
/// recorded so far; nothing otherwise.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_trap_flush() {
    ffi("dmacheck_trap_flush", || checker().trap_flush());
}

/// `dmacheck_violation_count`: the violations of one rule; `ULONG_MAX` for an unknown id.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_violation_count(rule_id: *const c_char) -> c_ulong {
    ffi("dmacheck_violation_count", || {
        if rule_id.is_null() {
            return c_ulong::MAX;
        }
        // SAFETY: the C contract: a NUL-terminated string.
        let id = unsafe { c_str(rule_id, "") };
        crate::rules::by_id(&id).map_or(c_ulong::MAX, |rule| checker().count(rule))
    })
}

/// `dmacheck_live_entries`: entries live on `dev`, or on all devices for NULL.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_live_entries(dev: *mut CDevice) -> c_ulong {
    ffi("dmacheck_live_entries", || {
        let live = checker().live_entries();
        if dev.is_null() {
            return live.len() as c_ulong;
        }
        registered(dev).map_or(0, |dev| {
            live.iter().filter(|e| e.device == dev.id()).count() as c_ulong
        })
    })
}

/// `-EIO`.
const EIO: c_int = 5;

/// `dmacheck_write_report`: the JSON report, to a file, a directory or `-`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_write_report(path: *const c_char) -> c_int {
    ffi("dmacheck_write_report", || {
        if path.is_null() {
            return -EINVAL;
        }
        // SAFETY: the C contract: a NUL-terminated string.
        let path = unsafe { c_str(path, "") };
        if path.is_empty() {
            return -EINVAL;
        }
        let target = if path == "-" {
            Target::Stderr
        } else if path.ends_with('/') || std::path::Path::new(&path).is_dir() {
            Target::Directory(path.into())
        } else {
            Target::File(path.into())
        };
        let destination = Destination {
            format: Format::Json,
            target,
        };
        match checker().write_report(&destination) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("dmacheck: dmacheck_write_report: {e}");
                -EIO
            }
        }
    })
}

/// `dmacheck_write_exit_report`: the exit report, now; the number of files written.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_write_exit_report() -> c_int {
    ffi("dmacheck_write_exit_report", || {
        c_int::try_from(crate::Checker::write_exit_report_now().len()).unwrap_or(c_int::MAX)
    })
}

/// Every registered device (for the one-argument `dma_mapping_error`).
pub(super) fn all_devices() -> Vec<Device> {
    let mut all: Vec<Device> = DEVICES.lock().values().cloned().collect();
    all.extend(FOREIGN.lock().values().cloned());
    all
}
