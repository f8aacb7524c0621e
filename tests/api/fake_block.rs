//! A fake block device and its driver, run through dmacheck on every backend.
//!
//! The driver builds each request in a command block in coherent memory: an opcode, a status
//! the device fills in, a starting sector, a byte count, and either the DMA address of one data
//! buffer (mapped with `dma_map_single` or `dma_map_page`) or of a table of segments in coherent
//! memory (from `dma_map_sg`). The device, as bus master, reads the command and moves sectors
//! between its disk (a `Vec<u8>` here) and memory: a READ writes memory (`FROM_DEVICE`), a
//! WRITE reads it (`TO_DEVICE`). A correct driver runs silent with the data round-tripping
//! through the disk; each buggy variant is reported by the rule that names its mistake.

use crate::common;

use common::{Via, assert_mapped_at, assert_site, device_via, quiet, rule_ids};
use dmacheck::rules::{
    CPU_ACCESS_DEVICE_OWNED, DEVICE_ACCESS_AFTER_UNMAP, DEVICE_ACCESS_DIRECTION,
    DEVICE_ACCESS_OVERRUN,
};
use dmacheck::*;

const FILE: &str = "fake_block.rs";

const SECTOR: usize = 512;
const DISK_SECTORS: usize = 64;

/// The command block: offsets of its fields, and its size.
const CMD_OPCODE: u64 = 0;
const CMD_STATUS: u64 = 4;
const CMD_LBA: u64 = 8;
const CMD_BYTES: u64 = 16;
const CMD_NSEGS: u64 = 20;
const CMD_DATA: u64 = 24;
const CMD_SIZE: usize = 32;
/// A segment of the table: DMA address, then length.
const SEG_SIZE: usize = 16;
const MAX_SEGS: usize = 16;

const OP_READ: u32 = 1;
const OP_WRITE: u32 = 2;
const STATUS_PENDING: u32 = 0;
const STATUS_OK: u32 = 1;
const STATUS_ERROR: u32 = 2;

// ---------------------------------------------------------------------------------------------
// Backends

fn setup(via: Via) -> (Checker, Device) {
    let checker = quiet().build();
    let dev = device_via(&checker, "sda", "fakeblk", via);
    (checker, dev)
}

/// `len` bytes of data, none zero, different for different seeds.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 13 + usize::from(seed) * 31) % 251) as u8 + 1)
        .collect()
}

/// A disk whose every sector holds different bytes.
fn formatted_disk() -> Vec<u8> {
    data(DISK_SECTORS * SECTOR, 200)
}

/// A plain CPU load.
fn load(src: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: callers pass DMA memory of this test holding `len` bytes.
    unsafe { std::slice::from_raw_parts(src, len).to_vec() }
}

// ---------------------------------------------------------------------------------------------
// The device

struct Disk {
    dev: Device,
    sectors: Vec<u8>,
    /// A faulty device ignores the segment table past its first entry and moves the whole
    /// transfer there, as if the buffer were contiguous.
    assumes_contiguous: bool,
}

impl Disk {
    fn new(dev: &Device, sectors: Vec<u8>) -> Disk {
        Disk {
            dev: dev.clone(),
            sectors,
            assumes_contiguous: false,
        }
    }

    /// The doorbell: carry out the command at `cmd` and write its status.
    fn execute(&mut self, cmd: DmaAddr) -> Result<(), DmaFault> {
        let result = self.run(cmd);
        let status = if result.is_ok() {
            STATUS_OK
        } else {
            STATUS_ERROR
        };
        self.dev.dma_write_u32(cmd + CMD_STATUS, status)?;
        result
    }

    fn run(&mut self, cmd: DmaAddr) -> Result<(), DmaFault> {
        let op = self.dev.dma_read_u32(cmd + CMD_OPCODE)?;
        let lba = self.dev.dma_read_u64(cmd + CMD_LBA)? as usize;
        let bytes = self.dev.dma_read_u32(cmd + CMD_BYTES)? as usize;
        let nsegs = self.dev.dma_read_u32(cmd + CMD_NSEGS)? as usize;
        let data = self.dev.dma_read_u64(cmd + CMD_DATA)?;
        let mut segs = Vec::new();
        if nsegs == 0 {
            segs.push((data, bytes));
        } else {
            for k in 0..nsegs as u64 {
                let entry = data + k * SEG_SIZE as u64;
                let addr = self.dev.dma_read_u64(entry)?;
                let len = self.dev.dma_read_u32(entry + 8)? as usize;
                segs.push((addr, len));
            }
        }
        if self.assumes_contiguous {
            segs.truncate(1);
            segs[0].1 = bytes;
        }
        assert_eq!(segs.iter().map(|s| s.1).sum::<usize>(), bytes);
        let mut at = lba * SECTOR;
        assert!(at + bytes <= self.sectors.len(), "beyond the disk");
        for (addr, len) in segs {
            let on_disk = at..at + len;
            match op {
                OP_READ => self.dev.dma_write(addr, &self.sectors[on_disk])?,
                OP_WRITE => self.dev.dma_read(addr, &mut self.sectors[on_disk])?,
                other => panic!("unknown opcode {other}"),
            }
            at += len;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The driver

/// A request's data buffer: a kmalloc buffer, or `len` bytes at `offset` into pages.
#[derive(Clone, Copy)]
enum Memory {
    Kmalloc(*mut u8),
    Pages {
        page: Page,
        order: u32,
        offset: usize,
    },
}

impl Memory {
    fn cpu(&self) -> *mut u8 {
        match *self {
            Memory::Kmalloc(p) => p,
            Memory::Pages { page, offset, .. } => page.address().wrapping_add(offset),
        }
    }
}

/// A request in flight.
struct Request {
    mem: Memory,
    dma: DmaAddr,
    len: usize,
    dir: Direction,
}

/// A request in flight whose data is an sg list.
struct SgRequest {
    pages: Vec<Page>,
    sgl: SgTable,
    nents: usize,
    len_per_entry: usize,
    dir: Direction,
}

/// Lines of the driver's calls, for the sites reports must name.
#[derive(Clone, Copy, Debug, Default)]
struct Lines {
    map_single: u32,
    map_page: u32,
    map_sg: u32,
    read_data: u32,
    abort_unmap: u32,
    abort_unmap_sg: u32,
}

struct Driver {
    checker: Checker,
    dev: Device,
    cmd: *mut u8,
    cmd_dma: DmaAddr,
    segs: *mut u8,
    segs_dma: DmaAddr,
    lines: Lines,
}

impl Driver {
    /// Probe: the command block and the segment table, in coherent memory.
    fn probe(dev: &Device) -> Driver {
        let mut cmd_dma = 0;
        let cmd = dma_alloc_coherent(dev, CMD_SIZE, &mut cmd_dma, Gfp::KERNEL);
        assert!(!cmd.is_null());
        let mut segs_dma = 0;
        let segs = dma_alloc_coherent(dev, MAX_SEGS * SEG_SIZE, &mut segs_dma, Gfp::KERNEL);
        assert!(!segs.is_null());
        Driver {
            checker: dev.checker().clone(),
            dev: dev.clone(),
            cmd,
            cmd_dma,
            segs,
            segs_dma,
            lines: Lines::default(),
        }
    }

    fn remove(self) {
        dma_free_coherent(&self.dev, MAX_SEGS * SEG_SIZE, self.segs, self.segs_dma);
        dma_free_coherent(&self.dev, CMD_SIZE, self.cmd, self.cmd_dma);
    }

    fn put(&self, at: u64, bytes: &[u8]) {
        let dst = self.cmd.wrapping_add(at as usize);
        self.checker.cpu_write(dst, bytes).expect("DMA memory");
    }

    /// Fill the command block; the device is told through `cmd_dma` (the doorbell).
    fn command(&self, op: u32, lba: usize, bytes: usize, nsegs: usize, data: DmaAddr) {
        self.put(CMD_OPCODE, &op.to_le_bytes());
        self.put(CMD_STATUS, &STATUS_PENDING.to_le_bytes());
        self.put(CMD_LBA, &(lba as u64).to_le_bytes());
        self.put(CMD_BYTES, &(bytes as u32).to_le_bytes());
        self.put(CMD_NSEGS, &(nsegs as u32).to_le_bytes());
        self.put(CMD_DATA, &data.to_le_bytes());
    }

    /// The status the device wrote, by a plain load of coherent memory.
    fn status(&self) -> u32 {
        let b = load(self.cmd.wrapping_add(CMD_STATUS as usize), 4);
        u32::from_le_bytes(b.try_into().expect("four bytes"))
    }

    /// A kmalloc buffer for `len` bytes (zeroed), mapped with `dma_map_single` for `dir`.
    fn map_single(&mut self, len: usize, dir: Direction, fill: Option<&[u8]>) -> Request {
        let cpu = kzalloc(&self.checker, len, Gfp::KERNEL);
        assert!(!cpu.is_null());
        if let Some(bytes) = fill {
            self.checker.cpu_write(cpu, bytes).expect("not mapped yet");
        }
        self.lines.map_single = line!() + 1;
        let dma = dma_map_single(&self.dev, cpu, len, dir);
        assert_eq!(dma_mapping_error(&self.dev, dma), 0, "map failed");
        let mem = Memory::Kmalloc(cpu);
        Request { mem, dma, len, dir }
    }

    /// `len` bytes at offset 512 of a fresh order-1 block of pages, mapped with `dma_map_page`.
    fn map_page(&mut self, len: usize, dir: Direction, fill: Option<&[u8]>) -> Request {
        let (order, offset) = (1, SECTOR);
        assert!(offset + len <= PAGE_SIZE << order);
        let page = alloc_pages(&self.checker, Gfp::KERNEL | Gfp::ZERO, order).expect("pages");
        let mem = Memory::Pages {
            page,
            order,
            offset,
        };
        if let Some(bytes) = fill {
            self.checker
                .cpu_write(mem.cpu(), bytes)
                .expect("not mapped yet");
        }
        self.lines.map_page = line!() + 1;
        let dma = dma_map_page(&self.dev, page, offset, len, dir);
        assert_eq!(dma_mapping_error(&self.dev, dma), 0, "map failed");
        Request { mem, dma, len, dir }
    }

    fn submit_write(&self, req: &Request, lba: usize) {
        self.command(OP_WRITE, lba, req.len, 0, req.dma);
    }

    fn submit_read(&self, req: &Request, lba: usize) {
        self.command(OP_READ, lba, req.len, 0, req.dma);
    }

    fn unmap(&self, req: &Request) {
        match req.mem {
            Memory::Kmalloc(_) => dma_unmap_single(&self.dev, req.dma, req.len, req.dir),
            Memory::Pages { .. } => dma_unmap_page(&self.dev, req.dma, req.len, req.dir),
        }
    }

    fn release(&self, req: Request) {
        match req.mem {
            Memory::Kmalloc(p) => kfree(&self.checker, p),
            Memory::Pages { page, order, .. } => free_pages(&self.checker, page, order),
        }
    }

    /// Complete a request: its status, and for a READ the data, read while the buffer is
    /// still mapped (after a sync for the CPU, unless `sync` is false: the bug).
    fn complete_mapped(&mut self, req: Request, sync: bool) -> (u32, Vec<u8>) {
        let status = self.status();
        if sync {
            dma_sync_single_for_cpu(&self.dev, req.dma, req.len, req.dir);
        }
        let mut bytes = vec![0u8; req.len];
        self.lines.read_data = line!() + 1;
        let read = self.checker.cpu_read(req.mem.cpu(), &mut bytes);
        read.expect("DMA memory");
        self.unmap(&req);
        self.release(req);
        (status, bytes)
    }

    /// Complete a request the usual way: unmap, then read the data.
    fn complete(&self, req: Request) -> (u32, Vec<u8>) {
        let status = self.status();
        self.unmap(&req);
        let mut bytes = vec![0u8; req.len];
        let read = self.checker.cpu_read(req.mem.cpu(), &mut bytes);
        read.expect("DMA memory");
        self.release(req);
        (status, bytes)
    }

    /// Give up on a request (a timeout): unmap and free its buffer.
    fn abort(&mut self, req: Request) {
        self.lines.abort_unmap = line!() + 1;
        dma_unmap_single(&self.dev, req.dma, req.len, req.dir);
        self.release(req);
    }

    /// `nents` pages, `len_per_entry` bytes at the start of each, as an sg list mapped for
    /// `dir`; for a WRITE the pages hold `fill` first. The segment table gets the mapped count.
    fn map_sg(
        &mut self,
        nents: usize,
        len_per_entry: usize,
        dir: Direction,
        fill: Option<&[u8]>,
    ) -> SgRequest {
        let pages: Vec<Page> = (0..nents)
            .map(|_| alloc_pages(&self.checker, Gfp::KERNEL | Gfp::ZERO, 0).expect("a page"))
            .collect();
        let mut sgl = SgTable::new(nents);
        for (i, &page) in pages.iter().enumerate() {
            if let Some(bytes) = fill {
                let part = &bytes[i * len_per_entry..(i + 1) * len_per_entry];
                self.checker
                    .cpu_write(page.address(), part)
                    .expect("DMA memory");
            }
            sg_set_page(&mut sgl, i, page, len_per_entry, 0);
        }
        self.lines.map_sg = line!() + 1;
        let count = dma_map_sg(&self.dev, &mut sgl, nents, dir);
        assert!(count > 0 && count <= MAX_SEGS, "map_sg returned {count}");
        for sg in for_each_sg(&sgl, count) {
            let entry = self.segs.wrapping_add(sg.index() * SEG_SIZE);
            let addr = sg_dma_address(&sg).to_le_bytes();
            let len = (sg_dma_len(&sg) as u32).to_le_bytes();
            self.checker.cpu_write(entry, &addr).expect("DMA memory");
            let len_at = entry.wrapping_add(8);
            self.checker.cpu_write(len_at, &len).expect("DMA memory");
        }
        SgRequest {
            pages,
            sgl,
            nents,
            len_per_entry,
            dir,
        }
    }

    fn submit_sg(&self, op: u32, req: &SgRequest, lba: usize) {
        let (_, count, _) = req.sgl.mapping().expect("mapped");
        let bytes = req.nents * req.len_per_entry;
        self.command(op, lba, bytes, count, self.segs_dma);
    }

    /// Complete an sg request: unmap the list, then read the pages.
    fn complete_sg(&self, mut req: SgRequest) -> (u32, Vec<u8>) {
        let status = self.status();
        dma_unmap_sg(&self.dev, &mut req.sgl, req.nents, req.dir);
        let mut bytes = Vec::new();
        for &page in &req.pages {
            let mut part = vec![0u8; req.len_per_entry];
            let read = self.checker.cpu_read(page.address(), &mut part);
            read.expect("DMA memory");
            bytes.extend(part);
        }
        self.free_sg_pages(&req);
        (status, bytes)
    }

    /// Give up on an sg request: unmap the list, free the pages.
    fn abort_sg(&mut self, mut req: SgRequest) {
        self.lines.abort_unmap_sg = line!() + 1;
        dma_unmap_sg(&self.dev, &mut req.sgl, req.nents, req.dir);
        self.free_sg_pages(&req);
    }

    fn free_sg_pages(&self, req: &SgRequest) {
        for &page in &req.pages {
            free_pages(&self.checker, page, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The correct driver

fn correct_driver_round_trips_data_through_the_disk_silently(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());
    let original = disk.sectors.clone();

    // WRITE 4 sectors at 2 from a kmalloc buffer, and 8 sectors at 20 from pages.
    let a = data(4 * SECTOR, 1);
    let b = data(8 * SECTOR, 2);
    let req = driver.map_single(a.len(), Direction::ToDevice, Some(&a));
    driver.submit_write(&req, 2);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete(req).0, STATUS_OK);
    let req = driver.map_page(b.len(), Direction::ToDevice, Some(&b));
    driver.submit_write(&req, 20);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete(req).0, STATUS_OK);

    let mut expected = original.clone();
    expected[2 * SECTOR..6 * SECTOR].copy_from_slice(&a);
    expected[20 * SECTOR..28 * SECTOR].copy_from_slice(&b);
    assert_eq!(disk.sectors, expected, "the disk holds what was written");

    // READ them back the other way round: a's sectors into pages (unmapped, then read), b's
    // into a kmalloc buffer (synced for the CPU and read while still mapped); and sectors
    // nobody wrote.
    let req = driver.map_page(a.len(), Direction::FromDevice, None);
    driver.submit_read(&req, 2);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete(req), (STATUS_OK, a.clone()));
    let req = driver.map_single(b.len(), Direction::FromDevice, None);
    driver.submit_read(&req, 20);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete_mapped(req, true), (STATUS_OK, b.clone()));
    let req = driver.map_single(2 * SECTOR, Direction::FromDevice, None);
    driver.submit_read(&req, 40);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    let (status, got) = driver.complete(req);
    assert_eq!(status, STATUS_OK);
    assert_eq!(got, original[40 * SECTOR..42 * SECTOR]);

    driver.remove();
    checker.assert_clean();
}

fn correct_driver_round_trips_data_through_sg_lists_silently(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());

    // Whole pages: an IOMMU merges them into fewer segments than entries.
    let whole = data(3 * PAGE_SIZE, 3);
    let req = driver.map_sg(3, PAGE_SIZE, Direction::ToDevice, Some(&whole));
    driver.submit_sg(OP_WRITE, &req, 8);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete_sg(req).0, STATUS_OK);
    // Half pages: never merged.
    let halves = data(4 * PAGE_SIZE / 2, 4);
    let req = driver.map_sg(4, PAGE_SIZE / 2, Direction::ToDevice, Some(&halves));
    driver.submit_sg(OP_WRITE, &req, 40);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete_sg(req).0, STATUS_OK);

    let at = |sector: usize, len: usize| &disk.sectors[sector * SECTOR..sector * SECTOR + len];
    assert_eq!(at(8, whole.len()), whole);
    assert_eq!(at(40, halves.len()), halves);

    let req = driver.map_sg(3, PAGE_SIZE, Direction::FromDevice, None);
    driver.submit_sg(OP_READ, &req, 8);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete_sg(req), (STATUS_OK, whole));
    let req = driver.map_sg(4, PAGE_SIZE / 2, Direction::FromDevice, None);
    driver.submit_sg(OP_READ, &req, 40);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    assert_eq!(driver.complete_sg(req), (STATUS_OK, halves));

    driver.remove();
    checker.assert_clean();
}

on_each_backend!(
    correct_driver_round_trips_data_through_the_disk_silently,
    correct_driver_round_trips_data_through_sg_lists_silently,
);

// ---------------------------------------------------------------------------------------------
// READ data read without a sync for the CPU

fn read_data_taken_without_sync_is_reported_and_stale_under_bounce(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());
    let len = 4 * SECTOR;
    let on_disk = disk.sectors[12 * SECTOR..12 * SECTOR + len].to_vec();

    let req = driver.map_single(len, Direction::FromDevice, None);
    let (dma, cpu) = (req.dma, req.mem.cpu());
    let before = load(cpu, len);
    driver.submit_read(&req, 12);
    assert_eq!(disk.execute(driver.cmd_dma), Ok(()));
    let (status, got) = driver.complete_mapped(req, false);

    assert_eq!(status, STATUS_OK);
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [CPU_ACCESS_DEVICE_OWNED.id]);
    let v = &found[0];
    assert_eq!(v.call, "cpu_read");
    assert_eq!(v.device, "sda");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("cpu_addr"), Some(cpu as u64));
    assert_eq!(v.detail_u64("size"), Some(len as u64));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::FromDevice)));
    assert_site(&v.site, FILE, driver.lines.read_data);
    assert_mapped_at(v, FILE, driver.lines.map_single);
    let handed = v.related.as_ref().expect("the hand-off is named");
    assert_eq!(handed.label, "handed to the device at");
    assert_site(&handed.site, FILE, driver.lines.map_single);
    match via {
        Via::Bounce => {
            assert_ne!(got, on_disk, "without a sync the CPU reads stale bytes");
            assert_eq!(got, before, "what the buffer held before the READ");
        }
        Via::Direct | Via::Iommu => assert_eq!(got, on_disk),
    }

    checker.take_violations();
    driver.remove();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(read_data_taken_without_sync_is_reported_and_stale_under_bounce);

// ---------------------------------------------------------------------------------------------
// A READ buffer mapped TO_DEVICE

fn read_into_a_buffer_mapped_to_device_is_refused_as_a_direction_violation(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());
    let len = 2 * SECTOR;

    let req = driver.map_single(len, Direction::ToDevice, None);
    let dma = req.dma;
    let before = load(req.mem.cpu(), len);
    driver.submit_read(&req, 30);
    let r = disk.execute(driver.cmd_dma);

    assert_eq!(r, Err(DmaFault::Direction));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_DIRECTION.id]);
    let v = &found[0];
    assert_eq!(v.call, "device write");
    assert!(
        v.message.contains("device write to a TO_DEVICE mapping"),
        "{}",
        v.message
    );
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(len as u64));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::ToDevice))
    );
    assert_mapped_at(v, FILE, driver.lines.map_single);
    let (status, got) = driver.complete(req);
    assert_eq!(status, STATUS_ERROR, "the device failed the command");
    assert_eq!(got, before, "no data arrived");

    checker.take_violations();
    driver.remove();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(read_into_a_buffer_mapped_to_device_is_refused_as_a_direction_violation);

// ---------------------------------------------------------------------------------------------
// The device completes a request the driver already unmapped

fn device_completing_an_aborted_request_is_refused_as_after_unmap(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());
    let original = disk.sectors.clone();
    let a = data(2 * SECTOR, 5);

    // A WRITE times out; the driver unmaps and frees its buffer; then the device gets to it.
    let req = driver.map_single(a.len(), Direction::ToDevice, Some(&a));
    let dma = req.dma;
    let map_line = driver.lines.map_single;
    driver.submit_write(&req, 6);
    driver.abort(req);
    let r = disk.execute(driver.cmd_dma);

    assert_eq!(r, Err(DmaFault::AfterUnmap));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_AFTER_UNMAP.id]);
    let v = &found[0];
    assert_eq!(v.call, "device read");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(a.len() as u64));
    assert!(v.message.contains("dma_unmap_single"), "{}", v.message);
    assert_mapped_at(v, FILE, map_line);
    let released = v.related.as_ref().expect("the unmap is named");
    assert_eq!(released.label, "released at");
    assert_site(&released.site, FILE, driver.lines.abort_unmap);
    assert_eq!(driver.status(), STATUS_ERROR);
    assert_eq!(disk.sectors, original, "nothing reached the disk");

    checker.take_violations();
    driver.remove();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(device_completing_an_aborted_request_is_refused_as_after_unmap);

// ---------------------------------------------------------------------------------------------
// sg lists: a device that overruns a segment, and one that completes an aborted list

fn device_treating_an_sg_list_as_contiguous_is_refused_as_an_overrun(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());
    disk.assumes_contiguous = true;
    // Half pages, so that no backend merges the segments.
    let len_per_entry = PAGE_SIZE / 2;
    let req = driver.map_sg(3, len_per_entry, Direction::FromDevice, None);
    let (_, count, _) = req.sgl.mapping().expect("mapped");
    assert_eq!(count, 3, "half pages are never merged");
    let first = sg_dma_address(&sg_first(&req.sgl).expect("an entry"));
    let pages_before: Vec<Vec<u8>> = req
        .pages
        .iter()
        .map(|p| load(p.address(), PAGE_SIZE))
        .collect();

    driver.submit_sg(OP_READ, &req, 0);
    let r = disk.execute(driver.cmd_dma);

    assert_eq!(r, Err(DmaFault::Overrun));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_OVERRUN.id]);
    let v = &found[0];
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(first));
    assert_eq!(v.detail_u64("size"), Some(3 * len_per_entry as u64));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(first));
    assert_eq!(v.detail_u64("mapped_size"), Some(len_per_entry as u64));
    assert_eq!(v.mapped_by, Some("dma_map_sg"));
    assert_mapped_at(v, FILE, driver.lines.map_sg);
    assert_eq!(driver.status(), STATUS_ERROR);

    let (_, got) = driver.complete_sg(req);
    let before: Vec<u8> = pages_before
        .iter()
        .flat_map(|p| p[..len_per_entry].to_vec())
        .collect();
    assert_eq!(got, before, "no data arrived");
    checker.take_violations();
    driver.remove();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

fn device_completing_an_aborted_sg_request_is_refused_as_after_unmap(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::probe(&dev);
    let mut disk = Disk::new(&dev, formatted_disk());
    let req = driver.map_sg(2, PAGE_SIZE, Direction::FromDevice, None);
    let first = sg_dma_address(&sg_first(&req.sgl).expect("an entry"));
    let map_line = driver.lines.map_sg;
    driver.submit_sg(OP_READ, &req, 4);

    driver.abort_sg(req);
    let r = disk.execute(driver.cmd_dma);

    assert_eq!(r, Err(DmaFault::AfterUnmap));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_AFTER_UNMAP.id]);
    let v = &found[0];
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(first));
    assert!(v.message.contains("dma_unmap_sg"), "{}", v.message);
    assert_mapped_at(v, FILE, map_line);
    assert_eq!(v.mapped_by, Some("dma_map_sg"));
    let released = v.related.as_ref().expect("the unmap is named");
    assert_eq!(released.label, "released at");
    assert_site(&released.site, FILE, driver.lines.abort_unmap_sg);
    assert_eq!(driver.status(), STATUS_ERROR);

    checker.take_violations();
    driver.remove();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(
    device_treating_an_sg_list_as_contiguous_is_refused_as_an_overrun,
    device_completing_an_aborted_sg_request_is_refused_as_after_unmap,
);
