//! A sample ring driver and a fake NIC, for the `driver` fuzz target: what a user's fuzz target
//! for their own driver looks like.
//!
//! The driver keeps an RX ring of 2 KiB buffers mapped for the device to write, and a TX queue
//! of buffers mapped for it to read. The fake NIC writes received packets into RX buffers and
//! reads queued TX buffers through dmacheck's device model, so every access is checked against
//! the mappings and who owns them. Map failures are injected (a probability and a seed taken
//! from the input), so the driver's error paths run. Every rule is at deny: any violation
//! panics at the faulty call, which the fuzzer reports as a crash; so does anything left mapped
//! at the end (the device's release reports leaks at deny too).
//!
//! The input is a fault setting (two bytes) and then events (a byte each, some followed by an
//! argument byte): the NIC receives a packet, the driver polls (recycling buffers or replacing
//! them), transmits, the NIC sends, the driver reaps completions, refills its ring.

use std::collections::VecDeque;

use dmacheck::{
    Checker, Device, Direction, DmaAddr, FaultKind, FaultSpec, Gfp, Level, MemoryConfig,
    dma_map_single, dma_mapping_error, dma_sync_single_for_cpu, dma_sync_single_for_device,
    dma_unmap_single, kfree, kmalloc,
};

const RX_SLOTS: usize = 8;
const RX_BUF: usize = 2048;
const TX_QUEUE: usize = 8;

/// An RX buffer, and whether the NIC has written a packet of this length into it.
struct RxBuf {
    cpu: usize,
    dma: DmaAddr,
    received: Option<usize>,
}

/// A TX buffer queued for the NIC, and whether the NIC has sent it.
struct TxBuf {
    cpu: usize,
    dma: DmaAddr,
    len: usize,
    sent: bool,
}

/// The driver's state.
pub struct RingDriver {
    checker: Checker,
    dev: Device,
    rx: Vec<Option<RxBuf>>,
    tx: VecDeque<TxBuf>,
    /// Packets the driver took from the ring (their first bytes), for the NIC to check.
    pub delivered: Vec<(u8, usize)>,
}

impl RingDriver {
    /// Bring the device up: fill the RX ring as far as memory and mappings allow.
    pub fn open(checker: &Checker, dev: &Device) -> RingDriver {
        let mut driver = RingDriver {
            checker: checker.clone(),
            dev: dev.clone(),
            rx: (0..RX_SLOTS).map(|_| None).collect(),
            tx: VecDeque::new(),
            delivered: Vec::new(),
        };
        driver.refill();
        driver
    }

    /// Map a fresh RX buffer, or nothing if the map fails (the slot stays empty).
    fn new_rx_buf(&self) -> Option<RxBuf> {
        let cpu = kmalloc(&self.checker, RX_BUF, Gfp::ATOMIC);
        if cpu.is_null() {
            return None;
        }
        let dma = dma_map_single(&self.dev, cpu, RX_BUF, Direction::FromDevice);
        if dma_mapping_error(&self.dev, dma) != 0 {
            kfree(&self.checker, cpu);
            return None;
        }
        Some(RxBuf {
            cpu: cpu as usize,
            dma,
            received: None,
        })
    }

    /// Fill every empty RX slot it can.
    pub fn refill(&mut self) {
        for i in 0..RX_SLOTS {
            if self.rx[i].is_none() {
                self.rx[i] = self.new_rx_buf();
            }
        }
    }

    /// Take received packets off the ring. A buffer is either handed back to the NIC as it is
    /// (synced for the device) or, when `replace`, unmapped and replaced by a fresh one.
    pub fn poll(&mut self, replace: bool) {
        for i in 0..RX_SLOTS {
            let Some(len) = self.rx[i].as_ref().and_then(|b| b.received) else {
                continue;
            };
            let (cpu, dma) = {
                let b = self.rx[i].as_ref().expect("checked above");
                (b.cpu, b.dma)
            };
            dma_sync_single_for_cpu(&self.dev, dma, RX_BUF, Direction::FromDevice);
            let mut packet = vec![0; len];
            self.checker
                .cpu_read(cpu as *const u8, &mut packet)
                .expect("RX buffers are DMA memory");
            let first = packet.first().copied().unwrap_or(0);
            assert!(
                all_bytes_are(&packet, first),
                "RX slot {i}: the packet's bytes differ from what the NIC wrote"
            );
            self.delivered.push((first, len));
            if replace {
                dma_unmap_single(&self.dev, dma, RX_BUF, Direction::FromDevice);
                kfree(&self.checker, cpu as *const u8);
                self.rx[i] = self.new_rx_buf();
            } else {
                dma_sync_single_for_device(&self.dev, dma, RX_BUF, Direction::FromDevice);
                self.rx[i].as_mut().expect("still there").received = None;
            }
        }
    }

    /// Queue a packet of `len` bytes filled with `byte`; false if it was dropped (queue full,
    /// no memory, or the map failed).
    pub fn xmit(&mut self, byte: u8, len: usize) -> bool {
        if self.tx.len() == TX_QUEUE || len == 0 {
            return false;
        }
        let cpu = kmalloc(&self.checker, len, Gfp::ATOMIC);
        if cpu.is_null() {
            return false;
        }
        self.checker
            .cpu_write(cpu, &vec![byte; len])
            .expect("TX buffers are DMA memory");
        let dma = dma_map_single(&self.dev, cpu, len, Direction::ToDevice);
        if dma_mapping_error(&self.dev, dma) != 0 {
            kfree(&self.checker, cpu);
            return false;
        }
        self.tx.push_back(TxBuf {
            cpu: cpu as usize,
            dma,
            len,
            sent: false,
        });
        true
    }

    /// Unmap and free the packets the NIC has sent, oldest first.
    pub fn reap_tx(&mut self) {
        while self.tx.front().is_some_and(|t| t.sent) {
            let t = self.tx.pop_front().expect("checked above");
            dma_unmap_single(&self.dev, t.dma, t.len, Direction::ToDevice);
            kfree(&self.checker, t.cpu as *const u8);
        }
    }

    /// Bring the device down (the NIC is stopped first): unmap and free everything.
    pub fn close(mut self) {
        for b in self.rx.drain(..).flatten() {
            dma_unmap_single(&self.dev, b.dma, RX_BUF, Direction::FromDevice);
            kfree(&self.checker, b.cpu as *const u8);
        }
        for t in self.tx.drain(..) {
            dma_unmap_single(&self.dev, t.dma, t.len, Direction::ToDevice);
            kfree(&self.checker, t.cpu as *const u8);
        }
    }
}

/// The fake NIC: bus-master accesses through dmacheck's device model, checked.
pub struct FakeNic {
    dev: Device,
}

impl FakeNic {
    /// Receive a packet of `len` bytes filled with `byte` into RX slot `slot`, if the driver
    /// gave the NIC a buffer there (dropped otherwise, as hardware with no descriptor drops).
    pub fn receive(&self, driver: &mut RingDriver, slot: usize, byte: u8, len: usize) {
        let len = len.clamp(1, RX_BUF);
        let Some(b) = driver.rx[slot % RX_SLOTS].as_mut() else {
            return;
        };
        if b.received.is_some() {
            return;
        }
        self.dev
            .dma_write(b.dma, &vec![byte; len])
            .expect("the NIC writes an RX buffer it owns");
        b.received = Some(len);
    }

    /// Send the oldest queued packet not sent yet, checking its bytes.
    pub fn transmit(&self, driver: &mut RingDriver, expect_wire: impl Fn(&[u8])) {
        let Some(t) = driver.tx.iter_mut().find(|t| !t.sent) else {
            return;
        };
        let mut wire = vec![0; t.len];
        self.dev
            .dma_read(t.dma, &mut wire)
            .expect("the NIC reads a TX buffer it owns");
        expect_wire(&wire);
        t.sent = true;
    }
}

/// Whether every byte of `bytes` is `byte`: one pass with no exit per byte, so it vectorizes
/// (the harness checks every byte of every packet, at every input).
fn all_bytes_are(bytes: &[u8], byte: u8) -> bool {
    bytes.iter().fold(0, |acc, &b| acc | (b ^ byte)) == 0
}

/// Which backend the fuzzed device maps through, and whether it is checked (benches/fuzz_driver.rs
/// times each; the fuzz target uses the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingSetup {
    /// Checked, on the direct backend (the fuzz target's setting).
    Direct,
    /// Checked, behind an IOMMU.
    Iommu,
    /// Checked, through bounce buffers.
    Bounce,
    /// The direct backend with checking switched off: the floor of the driver's own work.
    Unchecked,
}

/// The `driver` fuzz target: run the driver and the NIC through the input's events, with map
/// failures injected, every rule at deny; then close and release the device, and require a
/// clean checker.
pub fn fuzz_driver(data: &[u8]) {
    fuzz_driver_on(data, RingSetup::Direct);
}

/// [`fuzz_driver`] on the device `setup` names.
pub fn fuzz_driver_on(data: &[u8], setup: RingSetup) {
    let (fault, events) = data.split_at(data.len().min(2));
    let (percent, seed) = match fault {
        [p, s] => (u64::from(*p % 50), u64::from(*s)),
        _ => (0, 0),
    };
    let mut builder = Checker::builder()
        .env(false)
        .print(false)
        .all_levels(Level::Deny)
        .memory(MemoryConfig {
            // Bounce buffers take their 4 MiB pool from the same memory as the driver's.
            size: if setup == RingSetup::Bounce {
                12 << 20
            } else {
                4 << 20
            },
            phys_base: 1 << 20,
        });
    if percent > 0 {
        builder = builder.fail(FaultSpec::probability(
            FaultKind::Map,
            percent as f64 / 100.0,
            seed,
        ));
    }
    if setup == RingSetup::Unchecked {
        builder = builder.enabled(false);
    }
    let checker = builder.build();
    let dev = checker.device("eth0").driver("ring");
    let dev = match setup {
        RingSetup::Iommu => dev.iommu().build(),
        RingSetup::Bounce => dev.bounce().build(),
        RingSetup::Direct | RingSetup::Unchecked => dev.build(),
    };
    let nic = FakeNic { dev: dev.clone() };
    let mut driver = RingDriver::open(&checker, &dev);
    let mut sent = Vec::new();
    let mut bytes = events.iter().copied().take(1024);
    while let Some(event) = bytes.next() {
        let arg = usize::from(event >> 3);
        match event % 8 {
            0 | 1 => {
                let len = usize::from(bytes.next().unwrap_or(60)) * 8 + 1;
                nic.receive(&mut driver, arg, event, len);
            }
            2 => driver.poll(false),
            3 => driver.poll(true),
            4 => {
                let len = arg * 37 + 1;
                if driver.xmit(event, len) {
                    sent.push(event);
                }
            }
            5 => {
                let expected = driver.tx.iter().find(|t| !t.sent).map(|_| sent[0]);
                nic.transmit(&mut driver, |wire| {
                    let byte = expected.expect("a packet was queued");
                    assert!(all_bytes_are(wire, byte), "TX bytes: not all {byte:#x}");
                });
                if expected.is_some() {
                    sent.remove(0);
                }
            }
            6 => driver.reap_tx(),
            _ => driver.refill(),
        }
    }
    // Received packets arrive with the bytes the NIC wrote.
    for &(byte, len) in &driver.delivered {
        assert!(
            len >= 1 && byte % 8 <= 1,
            "delivered {byte:#x} ({len} bytes)"
        );
    }
    driver.close();
    dev.release();
    checker.assert_clean();
}
