//! A fake network card and its driver, run through dmacheck on every backend.
//!
//! The card has an RX ring and a TX ring of descriptors in coherent memory (each: a `u64` DMA
//! address, a `u32` length, a `u32` of flags). The driver maps one `FROM_DEVICE` buffer per RX
//! descriptor and one `TO_DEVICE` buffer per frame it sends; the card finds them through the
//! descriptors, as bus master, with `Device::dma_read*`/`dma_write*`. A correct driver runs
//! silent and delivers the right bytes; each buggy variant is reported by the rule that names
//! its mistake, and with bounce buffering its consequence (stale or lost bytes) is real.

use crate::common;

use std::ptr;

use common::{Via, assert_mapped_at, assert_site, device_via, quiet, rule_ids};
use dmacheck::rules::{
    CPU_ACCESS_DEVICE_OWNED, CPU_WRITE_DEVICE_OWNED, DEVICE_ACCESS_AFTER_UNMAP,
    DEVICE_ACCESS_OVERRUN, DEVICE_ACCESS_UNMAPPED,
};
use dmacheck::*;

const FILE: &str = "fake_nic.rs";

/// Bytes of each RX buffer.
const RX_BUF_SIZE: usize = 256;
/// Bytes of a descriptor, and the offsets of its fields.
const DESC_SIZE: usize = 16;
const DESC_ADDR: usize = 0;
const DESC_LEN: usize = 8;
const DESC_FLAGS: usize = 12;
/// Descriptor flags: the card may use the descriptor; the card is done with it.
const HW_OWN: u32 = 1;
const DONE: u32 = 2;

// ---------------------------------------------------------------------------------------------
// Backends

fn setup(via: Via) -> (Checker, Device) {
    let checker = quiet().build();
    let dev = device_via(&checker, "eth0", "fakenic", via);
    (checker, dev)
}

/// `len` bytes of a frame, none zero, different for different seeds.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 11 + usize::from(seed) * 29) % 251) as u8 + 1)
        .collect()
}

/// A plain CPU load (a driver's `memcpy` out of its buffer).
fn load(src: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: callers pass DMA memory of this test holding `len` bytes.
    unsafe { std::slice::from_raw_parts(src, len).to_vec() }
}

/// A plain CPU store (a driver's `memcpy` into its buffer).
fn store(dst: *mut u8, data: &[u8]) {
    // SAFETY: callers pass DMA memory of this test with room for `data`.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
}

// ---------------------------------------------------------------------------------------------
// The driver

/// A descriptor ring in coherent memory: shared with the card at all times, no syncs.
struct Ring {
    cpu: *mut u8,
    dma: DmaAddr,
    len: usize,
}

impl Ring {
    fn alloc(dev: &Device, len: usize) -> Ring {
        let mut dma = 0;
        let cpu = dma_alloc_coherent(dev, len * DESC_SIZE, &mut dma, Gfp::KERNEL);
        assert!(!cpu.is_null(), "no memory for the ring");
        Ring { cpu, dma, len }
    }

    fn desc(&self, i: usize) -> *mut u8 {
        self.cpu.wrapping_add(i * DESC_SIZE)
    }

    /// Fill descriptor `i` with checked CPU writes (the flags last, as a driver must).
    fn write(&self, checker: &Checker, i: usize, addr: u64, len: u32, flags: u32) {
        let d = self.desc(i);
        checker
            .cpu_write(d.wrapping_add(DESC_ADDR), &addr.to_le_bytes())
            .expect("the ring is DMA memory");
        checker
            .cpu_write(d.wrapping_add(DESC_LEN), &len.to_le_bytes())
            .expect("the ring is DMA memory");
        checker
            .cpu_write(d.wrapping_add(DESC_FLAGS), &flags.to_le_bytes())
            .expect("the ring is DMA memory");
    }

    /// A field of descriptor `i`, by a plain pointer read.
    fn field_u32(&self, i: usize, field: usize) -> u32 {
        let bytes = load(self.desc(i).wrapping_add(field), 4);
        u32::from_le_bytes(bytes.try_into().expect("four bytes"))
    }

    fn flags(&self, i: usize) -> u32 {
        self.field_u32(i, DESC_FLAGS)
    }

    fn free(&self, dev: &Device) {
        dma_free_coherent(dev, self.len * DESC_SIZE, self.cpu, self.dma);
    }
}

/// The driver's mistakes, all off for the correct driver.
#[derive(Clone, Copy, Debug, Default)]
struct Bugs {
    /// (a) reads RX data without `dma_sync_single_for_cpu`.
    no_sync_before_rx_read: bool,
    /// (b) patches a TX frame's header after mapping it.
    tx_write_after_map: bool,
    /// (c) puts the RX buffer's CPU pointer into the descriptor instead of its DMA address.
    cpu_pointer_in_rx_descriptor: bool,
    /// (e) unmaps the RX buffers without first taking the descriptors back from the card.
    unmap_rx_before_stopping_the_card: bool,
}

#[derive(Clone, Copy)]
struct Buf {
    cpu: *mut u8,
    dma: DmaAddr,
    len: usize,
}

/// Lines of the driver's calls, for the sites reports must name.
#[derive(Clone, Copy, Debug, Default)]
struct Lines {
    rx_map: u32,
    rx_read: u32,
    rx_recycle: u32,
    rx_unmap: u32,
    tx_map: u32,
    tx_unmap: u32,
}

struct Driver {
    checker: Checker,
    dev: Device,
    rx: Ring,
    tx: Ring,
    rx_bufs: Vec<Buf>,
    tx_bufs: Vec<Option<Buf>>,
    rx_next: usize,
    tx_next: usize,
    tx_clean: usize,
    bugs: Bugs,
    lines: Lines,
}

impl Driver {
    /// `ndo_open`: allocate the rings, map an RX buffer per descriptor and give them to the card.
    fn open(dev: &Device, ring_len: usize, bugs: Bugs) -> Driver {
        let checker = dev.checker().clone();
        let mut d = Driver {
            rx: Ring::alloc(dev, ring_len),
            tx: Ring::alloc(dev, ring_len),
            rx_bufs: Vec::with_capacity(ring_len),
            tx_bufs: vec![None; ring_len],
            rx_next: 0,
            tx_next: 0,
            tx_clean: 0,
            bugs,
            lines: Lines::default(),
            checker,
            dev: dev.clone(),
        };
        for i in 0..ring_len {
            let cpu = kzalloc(&d.checker, RX_BUF_SIZE, Gfp::KERNEL);
            assert!(!cpu.is_null());
            d.lines.rx_map = line!() + 1;
            let dma = dma_map_single(dev, cpu, RX_BUF_SIZE, Direction::FromDevice);
            if dma_mapping_error(dev, dma) != 0 {
                kfree(&d.checker, cpu);
                panic!("RX map failed");
            }
            let buf = Buf {
                cpu,
                dma,
                len: RX_BUF_SIZE,
            };
            d.rx_bufs.push(buf);
            d.give_rx(i);
        }
        d
    }

    /// Hand RX descriptor `i` (and its buffer) to the card.
    fn give_rx(&self, i: usize) {
        let b = self.rx_bufs[i];
        let addr = if self.bugs.cpu_pointer_in_rx_descriptor {
            b.cpu as u64
        } else {
            b.dma
        };
        self.rx.write(&self.checker, i, addr, b.len as u32, HW_OWN);
    }

    /// NAPI poll: take every frame the card finished, in ring order, and recycle its buffer.
    fn rx_poll(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while self.rx.flags(self.rx_next) & DONE != 0 {
            let i = self.rx_next;
            let b = self.rx_bufs[i];
            let len = self.rx.field_u32(i, DESC_LEN) as usize;
            if !self.bugs.no_sync_before_rx_read {
                dma_sync_single_for_cpu(&self.dev, b.dma, b.len, Direction::FromDevice);
            }
            let mut data = vec![0u8; len];
            self.lines.rx_read = line!() + 1;
            let read = self.checker.cpu_read(b.cpu, &mut data);
            read.expect("RX buffers are DMA memory");
            frames.push(data);
            self.lines.rx_recycle = line!() + 1;
            dma_sync_single_for_device(&self.dev, b.dma, b.len, Direction::FromDevice);
            self.give_rx(i);
            self.rx_next = (i + 1) % self.rx.len;
        }
        frames
    }

    /// `ndo_start_xmit`: copy the frame into a fresh buffer, map it, give it to the card.
    fn xmit(&mut self, data: &[u8]) {
        let i = self.tx_next;
        assert!(self.tx_bufs[i].is_none(), "TX ring full");
        let cpu = kmalloc(&self.checker, data.len(), Gfp::ATOMIC);
        assert!(!cpu.is_null());
        self.checker.cpu_write(cpu, data).expect("DMA memory");
        self.lines.tx_map = line!() + 1;
        let dma = dma_map_single(&self.dev, cpu, data.len(), Direction::ToDevice);
        if dma_mapping_error(&self.dev, dma) != 0 {
            kfree(&self.checker, cpu);
            panic!("TX map failed");
        }
        if self.bugs.tx_write_after_map {
            // "Fix up" the destination address after the buffer was handed over.
            store(cpu, &[0xff; 6]);
        }
        let len = data.len();
        self.tx_bufs[i] = Some(Buf { cpu, dma, len });
        self.tx.write(&self.checker, i, dma, len as u32, HW_OWN);
        self.tx_next = (i + 1) % self.tx.len;
    }

    /// TX completion: unmap and free every buffer the card is done with. Returns how many.
    fn tx_complete(&mut self) -> usize {
        let mut done = 0;
        while let Some(b) = self.tx_bufs[self.tx_clean] {
            if self.tx.flags(self.tx_clean) & DONE == 0 {
                break;
            }
            self.lines.tx_unmap = line!() + 1;
            dma_unmap_single(&self.dev, b.dma, b.len, Direction::ToDevice);
            kfree(&self.checker, b.cpu);
            self.tx.write(&self.checker, self.tx_clean, 0, 0, 0);
            self.tx_bufs[self.tx_clean] = None;
            self.tx_clean = (self.tx_clean + 1) % self.tx.len;
            done += 1;
        }
        done
    }

    /// First half of `ndo_stop`: take the RX descriptors back from the card (unless buggy),
    /// then unmap and free the RX buffers.
    fn stop_rx(&mut self) {
        if !self.bugs.unmap_rx_before_stopping_the_card {
            for i in 0..self.rx.len {
                self.rx.write(&self.checker, i, 0, 0, 0);
            }
        }
        for b in std::mem::take(&mut self.rx_bufs) {
            self.lines.rx_unmap = line!() + 1;
            dma_unmap_single(&self.dev, b.dma, b.len, Direction::FromDevice);
            kfree(&self.checker, b.cpu);
        }
    }

    /// Second half of `ndo_stop`: complete what the card sent and free the rings.
    fn free_rings(mut self) {
        self.tx_complete();
        assert!(self.tx_bufs.iter().all(Option::is_none), "TX still pending");
        self.rx.free(&self.dev);
        self.tx.free(&self.dev);
    }

    fn close(mut self) {
        self.stop_rx();
        self.free_rings();
    }
}

// ---------------------------------------------------------------------------------------------
// The card

struct Card {
    dev: Device,
    rx_ring: DmaAddr,
    tx_ring: DmaAddr,
    len: usize,
    rx_next: usize,
    tx_next: usize,
    /// A correct card drops a frame longer than the buffer; a faulty one writes it all.
    checks_buffer_length: bool,
}

impl Card {
    fn attach(driver: &Driver) -> Card {
        Card {
            dev: driver.dev.clone(),
            rx_ring: driver.rx.dma,
            tx_ring: driver.tx.dma,
            len: driver.rx.len,
            rx_next: 0,
            tx_next: 0,
            checks_buffer_length: true,
        }
    }

    fn rx_desc(&self) -> DmaAddr {
        self.rx_ring + (self.rx_next * DESC_SIZE) as u64
    }

    /// A frame arrives from the wire: DMA it into the next RX buffer. `Ok(false)` if the card
    /// had nowhere to put it (dropped).
    fn receive(&mut self, data: &[u8]) -> Result<bool, DmaFault> {
        let desc = self.rx_desc();
        let flags = self.dev.dma_read_u32(desc + DESC_FLAGS as u64)?;
        if flags & HW_OWN == 0 {
            return Ok(false);
        }
        let addr = self.dev.dma_read_u64(desc + DESC_ADDR as u64)?;
        let room = self.dev.dma_read_u32(desc + DESC_LEN as u64)? as usize;
        if self.checks_buffer_length && data.len() > room {
            return Ok(false);
        }
        self.dev.dma_write(addr, data)?;
        self.dev
            .dma_write_u32(desc + DESC_LEN as u64, data.len() as u32)?;
        self.dev.dma_write_u32(desc + DESC_FLAGS as u64, DONE)?;
        self.rx_next = (self.rx_next + 1) % self.len;
        Ok(true)
    }

    /// Send every frame the driver gave the card, in ring order.
    fn transmit(&mut self) -> Result<Vec<Vec<u8>>, DmaFault> {
        let mut sent = Vec::new();
        loop {
            let desc = self.tx_ring + (self.tx_next * DESC_SIZE) as u64;
            if self.dev.dma_read_u32(desc + DESC_FLAGS as u64)? & HW_OWN == 0 {
                return Ok(sent);
            }
            let addr = self.dev.dma_read_u64(desc + DESC_ADDR as u64)?;
            let len = self.dev.dma_read_u32(desc + DESC_LEN as u64)? as usize;
            let mut data = vec![0u8; len];
            self.dev.dma_read(addr, &mut data)?;
            self.dev.dma_write_u32(desc + DESC_FLAGS as u64, DONE)?;
            sent.push(data);
            self.tx_next = (self.tx_next + 1) % self.len;
        }
    }
}

/// The RX buffers' CPU bytes now (by plain loads), by ring index.
fn rx_contents(driver: &Driver) -> Vec<Vec<u8>> {
    driver.rx_bufs.iter().map(|b| load(b.cpu, b.len)).collect()
}

// ---------------------------------------------------------------------------------------------
// The correct driver

fn correct_driver_receives_and_transmits_the_right_bytes_silently(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::open(&dev, 4, Bugs::default());
    let mut card = Card::attach(&driver);

    // Ten frames of assorted lengths, in bursts no longer than the ring, polled after each.
    let incoming: Vec<Vec<u8>> = (0..10).map(|k| frame(60 + k * 19, k as u8)).collect();
    let mut delivered = Vec::new();
    for burst in incoming.chunks(3) {
        for f in burst {
            assert_eq!(card.receive(f), Ok(true), "the card had a buffer");
        }
        delivered.extend(driver.rx_poll());
    }
    assert_eq!(delivered, incoming);

    let outgoing: Vec<Vec<u8>> = (0..6).map(|k| frame(64 + k * 100, 100 + k as u8)).collect();
    let mut on_the_wire = Vec::new();
    for burst in outgoing.chunks(4) {
        for f in burst {
            driver.xmit(f);
        }
        on_the_wire.extend(card.transmit().expect("the card reads its frames"));
        assert_eq!(driver.tx_complete(), burst.len());
    }
    assert_eq!(on_the_wire, outgoing);

    driver.close();
    checker.assert_clean();
    assert_eq!(checker.live_entries().len(), 0);
}

fn correct_driver_drops_nothing_when_the_ring_fills_and_the_card_waits(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::open(&dev, 2, Bugs::default());
    let mut card = Card::attach(&driver);

    assert_eq!(card.receive(&frame(100, 1)), Ok(true));
    assert_eq!(card.receive(&frame(100, 2)), Ok(true));
    // The ring is full until the driver polls: the card must not touch the buffers.
    assert_eq!(card.receive(&frame(100, 3)), Ok(false));
    assert_eq!(driver.rx_poll(), [frame(100, 1), frame(100, 2)]);
    assert_eq!(card.receive(&frame(100, 4)), Ok(true));
    assert_eq!(driver.rx_poll(), [frame(100, 4)]);
    // A correct card drops a frame longer than the buffer rather than overrun it.
    assert_eq!(card.receive(&frame(RX_BUF_SIZE + 1, 5)), Ok(false));

    driver.close();
    checker.assert_clean();
}

on_each_backend!(
    correct_driver_receives_and_transmits_the_right_bytes_silently,
    correct_driver_drops_nothing_when_the_ring_fills_and_the_card_waits,
);

// ---------------------------------------------------------------------------------------------
// (a) RX data read without a sync for the CPU

fn rx_read_without_sync_is_reported_and_stale_under_bounce(via: Via) {
    let (checker, dev) = setup(via);
    let bugs = Bugs {
        no_sync_before_rx_read: true,
        ..Bugs::default()
    };
    let mut driver = Driver::open(&dev, 4, bugs);
    let mut card = Card::attach(&driver);
    let before = rx_contents(&driver);

    // Six frames through a ring of four: the last two land in recycled buffers.
    let incoming: Vec<Vec<u8>> = (0..6).map(|k| frame(50 + k * 30, k as u8)).collect();
    let mut delivered = Vec::new();
    for burst in incoming.chunks(4) {
        for f in burst {
            assert_eq!(card.receive(f), Ok(true));
        }
        delivered.extend(driver.rx_poll());
    }

    let found = checker.violations();
    assert_eq!(found.len(), incoming.len(), "{:?}", rule_ids(&checker));
    for (k, v) in found.iter().enumerate() {
        let i = k % 4;
        assert_eq!(v.rule.id, CPU_ACCESS_DEVICE_OWNED.id);
        assert_eq!(v.call, "cpu_read");
        assert_eq!(v.device, "eth0");
        assert_eq!(v.driver, "fakenic");
        assert_eq!(v.detail_u64("dma_addr"), Some(driver.rx_bufs[i].dma));
        assert_eq!(v.detail_u64("cpu_addr"), Some(driver.rx_bufs[i].cpu as u64));
        assert_eq!(v.detail_u64("size"), Some(incoming[k].len() as u64));
        assert_site(&v.site, FILE, driver.lines.rx_read);
        assert_mapped_at(v, FILE, driver.lines.rx_map);
        let handed = &v.related.as_ref().expect("the hand-off is named");
        assert_eq!(handed.label, "handed to the device at");
        // A fresh buffer was handed over by its map, a recycled one by the sync that recycled it.
        let expected = if k < 4 {
            driver.lines.rx_map
        } else {
            driver.lines.rx_recycle
        };
        assert_site(&handed.site, FILE, expected);
    }
    for (k, got) in delivered.iter().enumerate() {
        match via {
            Via::Bounce => {
                assert_ne!(got, &incoming[k], "frame {k}: stale bytes, not the frame");
                assert_eq!(got[..], before[k % 4][..got.len()], "frame {k}");
            }
            Via::Direct | Via::Iommu => assert_eq!(got, &incoming[k], "frame {k}"),
        }
    }

    checker.take_violations();
    driver.close();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(rx_read_without_sync_is_reported_and_stale_under_bounce);

// ---------------------------------------------------------------------------------------------
// (b) TX frame written after it was mapped

fn tx_write_after_map_is_reported_at_unmap_and_lost_under_bounce(via: Via) {
    let (checker, dev) = setup(via);
    let bugs = Bugs {
        tx_write_after_map: true,
        ..Bugs::default()
    };
    let mut driver = Driver::open(&dev, 4, bugs);
    let mut card = Card::attach(&driver);
    let data = frame(300, 7);

    driver.xmit(&data);
    let tx_dma = driver.tx_bufs[0].expect("queued").dma;
    let sent = card.transmit().expect("the card reads the frame");
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(driver.tx_complete(), 1);

    let mut patched = data.clone();
    patched[..6].fill(0xff);
    match via {
        Via::Bounce => assert_eq!(sent, [data], "the card sent the bytes of the map"),
        Via::Direct | Via::Iommu => assert_eq!(sent, [patched], "shared memory"),
    }
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [CPU_WRITE_DEVICE_OWNED.id]);
    let v = &found[0];
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(tx_dma));
    assert_eq!(v.detail_u64("size"), Some(300));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
    assert_site(&v.site, FILE, driver.lines.tx_unmap);
    assert_mapped_at(v, FILE, driver.lines.tx_map);
    let handed = v.related.as_ref().expect("the hand-off is named");
    assert_eq!(handed.label, "handed to the device at");
    assert_site(&handed.site, FILE, driver.lines.tx_map);

    checker.take_violations();
    driver.close();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(tx_write_after_map_is_reported_at_unmap_and_lost_under_bounce);

// ---------------------------------------------------------------------------------------------
// (c) the CPU pointer in a descriptor

fn cpu_pointer_in_a_descriptor_is_refused_and_reported(via: Via) {
    let (checker, dev) = setup(via);
    let bugs = Bugs {
        cpu_pointer_in_rx_descriptor: true,
        ..Bugs::default()
    };
    let mut driver = Driver::open(&dev, 4, bugs);
    let mut card = Card::attach(&driver);
    let before = rx_contents(&driver);
    let data = frame(80, 9);

    let r = card.receive(&data);

    assert_eq!(r, Err(DmaFault::Unmapped));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_UNMAPPED.id]);
    let v = &found[0];
    assert_eq!(v.call, "device write");
    assert!(v.message.contains("CPU pointer"), "{}", v.message);
    assert_eq!(v.detail_u64("dma_addr"), Some(driver.rx_bufs[0].cpu as u64));
    assert_eq!(v.detail_u64("size"), Some(data.len() as u64));
    assert!(driver.rx_poll().is_empty(), "nothing was received");
    assert_eq!(rx_contents(&driver), before, "no buffer was written");

    checker.take_violations();
    driver.close();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(cpu_pointer_in_a_descriptor_is_refused_and_reported);

// ---------------------------------------------------------------------------------------------
// (d) the card writes a frame longer than the buffer

fn frame_longer_than_the_buffer_is_refused_as_an_overrun(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::open(&dev, 4, Bugs::default());
    let mut card = Card::attach(&driver);
    card.checks_buffer_length = false;
    let before = rx_contents(&driver);
    let jumbo = frame(RX_BUF_SIZE + 100, 11);

    let r = card.receive(&jumbo);

    assert_eq!(r, Err(DmaFault::Overrun));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_OVERRUN.id]);
    let v = &found[0];
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(driver.rx_bufs[0].dma));
    assert_eq!(v.detail_u64("size"), Some(jumbo.len() as u64));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(driver.rx_bufs[0].dma));
    assert_eq!(v.detail_u64("mapped_size"), Some(RX_BUF_SIZE as u64));
    assert_mapped_at(v, FILE, driver.lines.rx_map);
    assert!(driver.rx_poll().is_empty());
    assert_eq!(rx_contents(&driver), before, "no buffer was written");

    // Nothing was written past the buffer either (with bounce buffering the slot's guard is
    // checked at the unmap).
    checker.take_violations();
    driver.close();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

on_each_backend!(frame_longer_than_the_buffer_is_refused_as_an_overrun);

// ---------------------------------------------------------------------------------------------
// (e) the card uses a buffer the driver unmapped

fn card_receiving_into_an_unmapped_buffer_is_refused_and_reported(via: Via) {
    let (checker, dev) = setup(via);
    let bugs = Bugs {
        unmap_rx_before_stopping_the_card: true,
        ..Bugs::default()
    };
    let mut driver = Driver::open(&dev, 4, bugs);
    let mut card = Card::attach(&driver);
    for k in 0..2 {
        assert_eq!(card.receive(&frame(70, k)), Ok(true));
    }
    assert_eq!(driver.rx_poll().len(), 2);
    let next = driver.rx_bufs[2];
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));

    // The driver unmaps its buffers, but the card still holds the descriptors.
    driver.stop_rx();
    let r = card.receive(&frame(70, 2));

    assert_eq!(r, Err(DmaFault::AfterUnmap));
    let found = checker.violations();
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_AFTER_UNMAP.id]);
    let v = &found[0];
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(next.dma));
    assert_eq!(v.detail_u64("size"), Some(70));
    assert!(v.message.contains("dma_unmap_single"), "{}", v.message);
    assert_mapped_at(v, FILE, driver.lines.rx_map);
    let released = v.related.as_ref().expect("the unmap is named");
    assert_eq!(released.label, "released at");
    assert_site(&released.site, FILE, driver.lines.rx_unmap);

    checker.take_violations();
    driver.free_rings();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

fn card_stopped_before_the_unmap_finds_no_buffer_and_stays_silent(via: Via) {
    let (checker, dev) = setup(via);
    let mut driver = Driver::open(&dev, 4, Bugs::default());
    let mut card = Card::attach(&driver);
    assert_eq!(card.receive(&frame(70, 0)), Ok(true));
    assert_eq!(driver.rx_poll().len(), 1);

    driver.stop_rx();
    let r = card.receive(&frame(70, 1));

    assert_eq!(
        r,
        Ok(false),
        "no descriptor is the card's: the frame is dropped"
    );
    driver.free_rings();
    checker.assert_clean();
}

on_each_backend!(
    card_receiving_into_an_unmapped_buffer_is_refused_and_reported,
    card_stopped_before_the_unmap_finds_no_buffer_and_stays_silent,
);
