//! The device model: tests and fake devices act as the bus master, reading and writing memory at
//! DMA addresses as the hardware would see them (through the device's backend), and every
//! access is checked against the device's live mappings. Checked CPU accessors do the same for
//! the driver's side.
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).force_bounce().build();
//! let nic = checker.device("eth0").build();
//! let buf = kmalloc(&checker, 64, Gfp::KERNEL);
//! let dma = dma_map_single(&nic, buf, 64, Direction::FromDevice);
//! assert_eq!(dma_mapping_error(&nic, dma), 0);
//!
//! nic.dma_write(dma, b"packet").unwrap(); // the device receives a packet
//! dma_sync_single_for_cpu(&nic, dma, 64, Direction::FromDevice);
//! let mut got = [0u8; 6];
//! checker.cpu_read(buf, &mut got).unwrap(); // the driver reads it, after the sync
//! assert_eq!(&got, b"packet");
//!
//! dma_unmap_single(&nic, dma, 64, Direction::FromDevice);
//! kfree(&checker, buf);
//! checker.assert_clean();
//! ```

use std::fmt;

use crate::checker::Checker;
use crate::device::Device;
use crate::event::{DeviceId, Event, Op};
use crate::rules;
use crate::rules::Findings;
use crate::types::{DmaAddr, MapKind, PAGE_SIZE};

/// Why the device model refused an access, as an IOMMU fault would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaFault {
    /// No live mapping of the device covers the address.
    Unmapped,
    /// The mapping was already unmapped or freed.
    AfterUnmap,
    /// The access runs past the end of its mapping.
    Overrun,
    /// The mapping's direction does not allow the access.
    Direction,
    /// The device was released.
    Released,
}

impl DmaFault {
    /// The negative errno the C ABI returns for the fault (`-EFAULT`).
    pub const fn errno(self) -> i32 {
        -14
    }
}

impl fmt::Display for DmaFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DmaFault::Unmapped => "no mapping covers the address",
            DmaFault::AfterUnmap => "the mapping was released",
            DmaFault::Overrun => "the access runs past the end of the mapping",
            DmaFault::Direction => "the mapping's direction forbids the access",
            DmaFault::Released => "the device was released",
        })
    }
}

impl std::error::Error for DmaFault {}

/// Check a device access of `len` bytes at `addr`; report what is wrong.
#[track_caller]
fn check_access(
    dev: &Device,
    op: Op,
    call: &'static str,
    addr: DmaAddr,
    len: usize,
) -> Result<(), DmaFault> {
    let c = dev.checker().inner();
    let mut ev = Event::new(
        op,
        call,
        MapKind::Single,
        dev.id(),
        dev.checker().capture_site(),
    );
    (ev.dma_addr, ev.size) = (addr, len as u64);
    let mut out = Findings::new();
    let result = if dev.is_released() {
        out.push(rules::lifetime::released(dev.is_invalid()));
        Err(DmaFault::Released)
    } else {
        let mut freed = None;
        let verdict = c.tracker.update_containing(
            dev.id(),
            addr,
            |e| u32::from(e.dma_addr == addr),
            |e| {
                freed = c.freed.find(e);
                rules::ownership::check_device_access(&ev, e, &mut out)
            },
        );
        if let Some(freed) = freed {
            out.push(rules::heap::check_device_access(&ev, &freed));
        }
        match verdict {
            crate::tracker::Lookup::Found(true) => Ok(()),
            crate::tracker::Lookup::Found(false) => Err(
                if out
                    .iter()
                    .any(|f| std::ptr::eq(f.rule, &rules::DEVICE_ACCESS_OVERRUN))
                {
                    DmaFault::Overrun
                } else {
                    DmaFault::Direction
                },
            ),
            _ => {
                let tomb = c.tracker.tombstone_containing(dev.id(), addr);
                rules::ownership::check_device_access_missing(
                    &ev,
                    tomb.as_ref(),
                    is_cpu_pointer(dev.checker(), addr),
                    &mut out,
                );
                Err(if tomb.is_some() {
                    DmaFault::AfterUnmap
                } else {
                    DmaFault::Unmapped
                })
            }
        }
    };
    c.finish(&ev, out);
    result
}

/// Whether `addr` is a CPU pointer: into DMA memory, or anywhere in a user-space address range
/// (x86-64 and arm64 put heaps, stacks and libraries from 0x5500_0000_0000 up to the 47-bit top).
fn is_cpu_pointer(checker: &Checker, addr: u64) -> bool {
    checker.memory().is_cpu_address(addr) || (0x5500_0000_0000..0x8000_0000_0000).contains(&addr)
}

/// Walk the bytes `addr..addr + len` as the device sees them, page by page: `step(phys, offset,
/// len)` for each piece.
fn walk(
    dev: &Device,
    addr: DmaAddr,
    len: usize,
    mut step: impl FnMut(u64, usize, usize),
) -> Result<(), DmaFault> {
    let params = dev.params();
    let mut done = 0;
    while done < len {
        let at = addr.checked_add(done as u64).ok_or(DmaFault::Unmapped)?;
        let chunk = (len - done).min(PAGE_SIZE - (at as usize % PAGE_SIZE));
        let phys = crate::declared::translate(dev, at)
            .or_else(|| dev.backend().dma_to_phys(&params, at))
            .ok_or(DmaFault::Unmapped)?;
        step(phys, done, chunk);
        done += chunk;
    }
    Ok(())
}

impl Device {
    /// The device reads `buf.len()` bytes at DMA address `addr`, as the hardware would: through
    /// the device's backend (so a bounce-buffered device reads its slot, not the driver's
    /// buffer). Checked: the bytes must lie in one live mapping of this device that allows
    /// device reads. A refused access leaves `buf` untouched.
    #[track_caller]
    pub fn dma_read(&self, addr: DmaAddr, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.check_dma_access(Op::DeviceRead, addr, buf.len())?;
        self.carry_out_dma_read(addr, buf)
    }

    /// The device writes `data` at DMA address `addr`; checked like [`Device::dma_read`].
    #[track_caller]
    pub fn dma_write(&self, addr: DmaAddr, data: &[u8]) -> Result<(), DmaFault> {
        self.check_dma_access(Op::DeviceWrite, addr, data.len())?;
        self.carry_out_dma_write(addr, data)
    }

    /// Judge (and report) a device access of `len` bytes at `addr` before any byte is touched:
    /// `Ok` only if the access lies in one live mapping that allows it, so `len` is no longer
    /// than that mapping. With checking off, `Ok` if every byte translates to memory.
    #[track_caller]
    pub(crate) fn check_dma_access(
        &self,
        op: Op,
        addr: DmaAddr,
        len: usize,
    ) -> Result<(), DmaFault> {
        if !self.checker().config().enabled {
            return walk(self, addr, len, |_, _, _| {});
        }
        let call = if op == Op::DeviceWrite {
            "device write"
        } else {
            "device read"
        };
        check_access(self, op, call, addr, len)
    }

    /// Carry out a read [`Device::check_dma_access`] allowed.
    pub(crate) fn carry_out_dma_read(&self, addr: DmaAddr, buf: &mut [u8]) -> Result<(), DmaFault> {
        let memory = self.checker().memory();
        let _device = crate::context::device_side();
        walk(self, addr, buf.len(), |phys, at, n| {
            memory.read(phys, &mut buf[at..at + n]);
        })
    }

    /// Carry out a write [`Device::check_dma_access`] allowed.
    pub(crate) fn carry_out_dma_write(&self, addr: DmaAddr, data: &[u8]) -> Result<(), DmaFault> {
        let c = self.checker().inner();
        let _device = crate::context::device_side();
        if !c.config.enabled {
            return walk(self, addr, data.len(), |phys, at, n| {
                c.memory.write(phys, &data[at..at + n]);
            });
        }
        walk(self, addr, data.len(), |phys, at, n| {
            // Where the device shares memory with the CPU (no bounce buffer), its write changes
            // the CPU's bytes legitimately; a CPU write before it must still be caught.
            c.write_tracked(phys, &data[at..at + n]);
        })
    }

    /// [`Device::dma_read`] of a little-endian `u16`.
    #[track_caller]
    pub fn dma_read_u16(&self, addr: DmaAddr) -> Result<u16, DmaFault> {
        let mut b = [0; 2];
        self.dma_read(addr, &mut b).map(|()| u16::from_le_bytes(b))
    }

    /// [`Device::dma_read`] of a little-endian `u32`.
    #[track_caller]
    pub fn dma_read_u32(&self, addr: DmaAddr) -> Result<u32, DmaFault> {
        let mut b = [0; 4];
        self.dma_read(addr, &mut b).map(|()| u32::from_le_bytes(b))
    }

    /// [`Device::dma_read`] of a little-endian `u64`.
    #[track_caller]
    pub fn dma_read_u64(&self, addr: DmaAddr) -> Result<u64, DmaFault> {
        let mut b = [0; 8];
        self.dma_read(addr, &mut b).map(|()| u64::from_le_bytes(b))
    }

    /// [`Device::dma_write`] of a little-endian `u16`.
    #[track_caller]
    pub fn dma_write_u16(&self, addr: DmaAddr, value: u16) -> Result<(), DmaFault> {
        self.dma_write(addr, &value.to_le_bytes())
    }

    /// [`Device::dma_write`] of a little-endian `u32`.
    #[track_caller]
    pub fn dma_write_u32(&self, addr: DmaAddr, value: u32) -> Result<(), DmaFault> {
        self.dma_write(addr, &value.to_le_bytes())
    }

    /// [`Device::dma_write`] of a little-endian `u64`.
    #[track_caller]
    pub fn dma_write_u64(&self, addr: DmaAddr, value: u64) -> Result<(), DmaFault> {
        self.dma_write(addr, &value.to_le_bytes())
    }
}

impl Checker {
    /// Check a CPU access to `len` bytes at `cpu`: report it if a streaming mapping that covers
    /// them is owned by the device (a write, or a read of memory the device may write).
    /// `also` runs on each entry the access meets (before the report).
    #[track_caller]
    fn check_cpu_access(
        &self,
        op: Op,
        call: &'static str,
        cpu: u64,
        len: usize,
        also: impl FnMut(&mut crate::tracker::Entry),
    ) {
        self.check_cpu_access_at(op, call, cpu, len, self.capture_site(), also)
    }

    /// [`Checker::check_cpu_access`] of an access made at `site` (a trap-mode fault).
    #[track_caller]
    pub(crate) fn check_cpu_access_at(
        &self,
        op: Op,
        call: &'static str,
        cpu: u64,
        len: usize,
        site: crate::site::Site,
        mut also: impl FnMut(&mut crate::tracker::Entry),
    ) {
        let c = self.inner();
        let mut ev = Event::new(op, call, MapKind::Single, DeviceId::NONE, site);
        (ev.cpu_addr, ev.size) = (Some(cpu), len as u64);
        let end = cpu.saturating_add(len as u64);
        let mut out = Findings::new();
        let mut device = None;
        c.tracker.update_where(
            |g| g.meets_cpu(cpu, end),
            |e| {
                let before = out.len();
                rules::ownership::check_cpu_access(&ev, e, &mut out);
                if out.len() > before {
                    device.get_or_insert(e.device);
                }
                also(e);
            },
        );
        ev.device = device.unwrap_or(DeviceId::NONE);
        c.finish(&ev, out);
    }

    /// The CPU reads `buf.len()` bytes of DMA memory at `src`, checked: reading a buffer the
    /// device owns (and may write) without a sync for the CPU is reported. Returns `None`, copying
    /// nothing, if the bytes are not DMA memory of this checker.
    #[track_caller]
    pub fn cpu_read(&self, src: *const u8, buf: &mut [u8]) -> Option<()> {
        let phys = self.memory().phys_of(src, buf.len() as u64).ok()?;
        let _checked = crate::context::device_side();
        if !self.config().enabled {
            return self.memory().read(phys, buf);
        }
        self.check_cpu_access(
            Op::CpuRead,
            "cpu_read",
            src.addr() as u64,
            buf.len(),
            |_| {},
        );
        self.memory().read(phys, buf)
    }

    /// The CPU writes `data` to DMA memory at `dst`, checked: writing a buffer the device owns
    /// is reported. Returns `None`, writing nothing, if the bytes are not DMA memory of this
    /// checker.
    #[track_caller]
    pub fn cpu_write(&self, dst: *mut u8, data: &[u8]) -> Option<()> {
        let phys = self.memory().phys_of(dst, data.len() as u64).ok()?;
        let _checked = crate::context::device_side();
        if !self.config().enabled {
            return self.memory().write(phys, data);
        }
        let c = self.inner();
        // One scan judges the write and takes it into the fingerprinted entries it meets
        // (their CPU bytes are the physical ones here), as `write_tracked` would: earlier
        // unreported CPU writes are noted; this one, reported now, is not reported again at
        // the hand-back.
        let digests = c.config.digests;
        self.check_cpu_access(
            Op::CpuWrite,
            "cpu_write",
            dst.addr() as u64,
            data.len(),
            |e| {
                if digests {
                    c.take_write(e, phys, data);
                }
            },
        );
        self.memory().write(phys, data)
    }
}
