//! A virtio device emulator over dmacheck's device model (see the parent module).

use std::collections::VecDeque;

use virtio_drivers::PhysAddr;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::device::Device;
use crate::device_model::DmaFault;

/// Feature bit `VIRTIO_F_VERSION_1`.
pub const F_VERSION_1: u64 = 1 << 32;
/// Feature bit `VIRTIO_F_RING_INDIRECT_DESC`.
pub const F_INDIRECT_DESC: u64 = 1 << 28;

const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;
const DESC_INDIRECT: u16 = 4;

/// One buffer of a descriptor chain, as the device sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The buffer's DMA address.
    pub addr: u64,
    /// Its length in bytes.
    pub len: u32,
    /// Whether the device may write it (`VIRTQ_DESC_F_WRITE`).
    pub writable: bool,
}

/// A descriptor chain taken from a queue's available ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The index of its head descriptor (the id the used ring reports).
    pub head: u16,
    /// Its buffers, in order.
    pub segments: Vec<Segment>,
}

#[derive(Clone, Debug, Default)]
struct Queue {
    size: u32,
    desc: u64,
    avail: u64,
    used: u64,
    set: bool,
    last_avail: u16,
    used_idx: u16,
    pending: VecDeque<Chain>,
}

/// What a [`VirtioBackend`] sees when it runs: the queues' pending chains, and the device's
/// DMA access to buffers and the used rings.
pub struct DeviceContext<'a> {
    dev: &'a Device,
    queues: &'a mut [Queue],
    interrupt: &'a mut bool,
    faults: &'a mut u64,
}

impl DeviceContext<'_> {
    /// Whether `queue` has a chain waiting.
    pub fn has_pending(&self, queue: u16) -> bool {
        self.queues
            .get(usize::from(queue))
            .is_some_and(|q| !q.pending.is_empty())
    }

    /// Take the oldest chain waiting on `queue`.
    pub fn pop(&mut self, queue: u16) -> Option<Chain> {
        self.queues.get_mut(usize::from(queue))?.pending.pop_front()
    }

    fn note(&mut self, r: Result<(), DmaFault>) -> bool {
        if r.is_err() {
            *self.faults += 1;
        }
        r.is_ok()
    }

    /// Read the device-readable buffers of `chain`, in order, with [`Device::dma_read`]. A
    /// refused access (reported by dmacheck) ends the read there.
    pub fn read(&mut self, chain: &Chain) -> Vec<u8> {
        let mut out = Vec::new();
        for s in chain.segments.iter().filter(|s| !s.writable) {
            let mut buf = vec![0; s.len as usize];
            let r = self.dev.dma_read(s.addr, &mut buf);
            if !self.note(r) {
                break;
            }
            out.extend_from_slice(&buf);
        }
        out
    }

    /// The total length of the device-writable buffers of `chain`.
    pub fn writable_len(chain: &Chain) -> usize {
        chain
            .segments
            .iter()
            .filter(|s| s.writable)
            .map(|s| s.len as usize)
            .sum()
    }

    /// Write `data` across the device-writable buffers of `chain`, in order, with
    /// [`Device::dma_write`]; returns the bytes written (what fits).
    pub fn write(&mut self, chain: &Chain, data: &[u8]) -> usize {
        let mut done = 0;
        for s in chain.segments.iter().filter(|s| s.writable) {
            if done == data.len() {
                break;
            }
            let n = (s.len as usize).min(data.len() - done);
            let r = self.dev.dma_write(s.addr, &data[done..done + n]);
            if !self.note(r) {
                break;
            }
            done += n;
        }
        done
    }

    /// Return `chain` to the driver through `queue`'s used ring, with `len` bytes written, and
    /// raise the queue interrupt.
    pub fn complete(&mut self, queue: u16, chain: &Chain, len: u32) {
        let dev = self.dev;
        let Some(q) = self.queues.get_mut(usize::from(queue)) else {
            return;
        };
        let slot = u64::from(q.used_idx) % u64::from(q.size.max(1));
        let entry = q.used + 4 + 8 * slot;
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&u32::from(chain.head).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        q.used_idx = q.used_idx.wrapping_add(1);
        let idx = q.used_idx;
        let used = q.used;
        let r = dev
            .dma_write(entry, &elem)
            .and_then(|()| dev.dma_write_u16(used + 2, idx));
        self.note(r);
        *self.interrupt = true;
    }
}

/// A virtio device's behaviour behind [`EmulatedTransport`].
pub trait VirtioBackend {
    /// The virtio device type.
    fn device_type(&self) -> DeviceType;
    /// The device-specific feature bits offered (the transport adds `VERSION_1` and
    /// `RING_INDIRECT_DESC`).
    fn features(&self) -> u64;
    /// The device's config space.
    fn config(&self) -> Vec<u8>;
    /// How many queues the device has.
    fn queues(&self) -> u16;
    /// Serve what can be served after the driver notified `queue`: pop chains, read and write
    /// their buffers, complete them.
    fn process(&mut self, queue: u16, ctx: &mut DeviceContext<'_>);
}

/// A virtio transport whose device is emulated over dmacheck's device model. See the
/// [module documentation](super).
pub struct EmulatedTransport<B: VirtioBackend> {
    dev: Device,
    backend: B,
    offered: u64,
    driver_features: u64,
    status: DeviceStatus,
    queues: Vec<Queue>,
    config: Vec<u8>,
    interrupt: bool,
    faults: u64,
    notifies: u64,
}

impl<B: VirtioBackend> EmulatedTransport<B> {
    /// A transport for `backend`, whose DMA is done as `dev` (the device bound to the `Hal`).
    /// Offers `VERSION_1` and `RING_INDIRECT_DESC` besides the backend's features.
    pub fn new(dev: &Device, backend: B) -> Self {
        let offered = backend.features() | F_VERSION_1 | F_INDIRECT_DESC;
        let config = backend.config();
        let queues = vec![Queue::default(); usize::from(backend.queues())];
        EmulatedTransport {
            dev: dev.clone(),
            backend,
            offered,
            driver_features: 0,
            status: DeviceStatus::empty(),
            queues,
            config,
            interrupt: false,
            faults: 0,
            notifies: 0,
        }
    }

    /// Stop offering the feature bits in `mask` (e.g. [`F_INDIRECT_DESC`]).
    pub fn without_features(mut self, mask: u64) -> Self {
        self.offered &= !mask;
        self
    }

    /// The features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// Device accesses dmacheck refused (each also reported as a violation).
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// How many times the driver notified a queue.
    pub fn notifies(&self) -> u64 {
        self.notifies
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn read_desc(&mut self, table: u64, index: u16) -> Option<(u64, u32, u16, u16)> {
        let mut d = [0u8; 16];
        let r = self.dev.dma_read(table + 16 * u64::from(index), &mut d);
        if r.is_err() {
            self.faults += 1;
            return None;
        }
        let addr = u64::from_le_bytes(d[0..8].try_into().ok()?);
        let len = u32::from_le_bytes(d[8..12].try_into().ok()?);
        let flags = u16::from_le_bytes(d[12..14].try_into().ok()?);
        let next = u16::from_le_bytes(d[14..16].try_into().ok()?);
        Some((addr, len, flags, next))
    }

    /// Walk the chain at `head` of a table of `size` descriptors.
    fn walk(&mut self, table: u64, size: u32, head: u16, out: &mut Vec<Segment>, top: bool) {
        let mut index = head;
        for _ in 0..size {
            let Some((addr, len, flags, next)) = self.read_desc(table, index) else {
                return;
            };
            if flags & DESC_INDIRECT != 0 && top {
                self.walk(addr, len / 16, 0, out, false);
            } else {
                out.push(Segment {
                    addr,
                    len,
                    writable: flags & DESC_WRITE != 0,
                });
            }
            if flags & DESC_NEXT == 0 {
                return;
            }
            index = next;
        }
    }

    /// Take the chains the driver made available on `queue` since the last look.
    fn fetch(&mut self, queue: u16) {
        let Some(q) = self.queues.get(usize::from(queue)).cloned() else {
            return;
        };
        if !q.set {
            return;
        }
        let avail_idx = match self.dev.dma_read_u16(q.avail + 2) {
            Ok(i) => i,
            Err(_) => {
                self.faults += 1;
                return;
            }
        };
        let mut last = q.last_avail;
        while last != avail_idx {
            let slot = u64::from(last) % u64::from(q.size);
            let head = match self.dev.dma_read_u16(q.avail + 4 + 2 * slot) {
                Ok(h) => h,
                Err(_) => {
                    self.faults += 1;
                    break;
                }
            };
            let mut segments = Vec::new();
            self.walk(q.desc, q.size, head, &mut segments, true);
            self.queues[usize::from(queue)]
                .pending
                .push_back(Chain { head, segments });
            last = last.wrapping_add(1);
        }
        self.queues[usize::from(queue)].last_avail = last;
    }
}

impl<B: VirtioBackend> Transport for EmulatedTransport<B> {
    fn device_type(&self) -> DeviceType {
        self.backend.device_type()
    }

    fn read_device_features(&mut self) -> u64 {
        self.offered
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.driver_features = driver_features & self.offered;
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        if usize::from(queue) < self.queues.len() {
            256
        } else {
            0
        }
    }

    fn notify(&mut self, queue: u16) {
        self.notifies += 1;
        self.fetch(queue);
        let mut ctx = DeviceContext {
            dev: &self.dev,
            queues: &mut self.queues,
            interrupt: &mut self.interrupt,
            faults: &mut self.faults,
        };
        self.backend.process(queue, &mut ctx);
    }

    fn get_status(&self) -> DeviceStatus {
        self.status
    }

    fn set_status(&mut self, status: DeviceStatus) {
        if status.is_empty() {
            // A reset: the device forgets its queues and features.
            for q in &mut self.queues {
                *q = Queue::default();
            }
            self.driver_features = 0;
        }
        self.status = status;
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        if let Some(q) = self.queues.get_mut(usize::from(queue)) {
            *q = Queue {
                size,
                desc: descriptors,
                avail: driver_area,
                used: device_area,
                set: true,
                ..Queue::default()
            };
        }
    }

    fn queue_unset(&mut self, queue: u16) {
        if let Some(q) = self.queues.get_mut(usize::from(queue)) {
            *q = Queue::default();
        }
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.queues.get(usize::from(queue)).is_some_and(|q| q.set)
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        if std::mem::take(&mut self.interrupt) {
            InterruptStatus::QUEUE_INTERRUPT
        } else {
            InterruptStatus::empty()
        }
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<T> {
        let bytes = offset
            .checked_add(size_of::<T>())
            .and_then(|end| self.config.get(offset..end))
            .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| virtio_drivers::Error::ConfigSpaceTooSmall)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> virtio_drivers::Result<()> {
        let bytes = value.as_bytes();
        let end = offset
            .checked_add(bytes.len())
            .filter(|&end| end <= self.config.len())
            .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)?;
        self.config[offset..end].copy_from_slice(bytes);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Backends

/// virtio-blk: serves reads, writes, flushes and `GET_ID` from an in-memory disk of 512-byte
/// sectors.
#[derive(Clone, Debug)]
pub struct BlockBackend {
    /// The disk's bytes (a whole number of sectors).
    pub disk: Vec<u8>,
    /// The id `GET_ID` returns (up to 20 bytes).
    pub id: Vec<u8>,
    /// Requests served.
    pub requests: u64,
}

impl BlockBackend {
    /// A zeroed disk of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        BlockBackend {
            disk: vec![0; sectors * 512],
            id: b"dmacheck-blk".to_vec(),
            requests: 0,
        }
    }
}

impl VirtioBackend for BlockBackend {
    fn device_type(&self) -> DeviceType {
        DeviceType::Block
    }

    fn features(&self) -> u64 {
        1 << 9 // VIRTIO_BLK_F_FLUSH
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 64];
        c[..8].copy_from_slice(&((self.disk.len() / 512) as u64).to_le_bytes());
        c
    }

    fn queues(&self) -> u16 {
        1
    }

    fn process(&mut self, queue: u16, ctx: &mut DeviceContext<'_>) {
        while let Some(chain) = ctx.pop(queue) {
            self.requests += 1;
            let input = ctx.read(&chain);
            let writable = DeviceContext::writable_len(&chain);
            let (status, mut reply) = self.serve(&input, writable.saturating_sub(1));
            reply.push(status);
            let written = ctx.write(&chain, &reply);
            ctx.complete(queue, &chain, written as u32);
        }
    }
}

impl BlockBackend {
    /// Serve one request: its header and data in, the status and data out.
    fn serve(&mut self, input: &[u8], data_len: usize) -> (u8, Vec<u8>) {
        const OK: u8 = 0;
        const IOERR: u8 = 1;
        const UNSUPP: u8 = 2;
        if input.len() < 16 {
            return (IOERR, Vec::new());
        }
        let kind = u32::from_le_bytes([input[0], input[1], input[2], input[3]]);
        let sector = u64::from_le_bytes(input[8..16].try_into().unwrap_or_default());
        let start = usize::try_from(sector)
            .unwrap_or(usize::MAX)
            .saturating_mul(512);
        match kind {
            0 => match self.disk.get(start..start.saturating_add(data_len)) {
                Some(bytes) => (OK, bytes.to_vec()),
                None => (IOERR, vec![0; data_len]),
            },
            1 => {
                let data = &input[16..];
                match self.disk.get_mut(start..start.saturating_add(data.len())) {
                    Some(dst) => {
                        dst.copy_from_slice(data);
                        (OK, Vec::new())
                    }
                    None => (IOERR, Vec::new()),
                }
            }
            4 => (OK, Vec::new()),
            8 => {
                let mut id = self.id.clone();
                id.resize(data_len, 0);
                (OK, id)
            }
            _ => (UNSUPP, vec![0; data_len]),
        }
    }
}

/// virtio-net: every frame the driver transmits comes back on the receive queue (a loopback
/// cable), with a zeroed `virtio_net_hdr`.
#[derive(Clone, Debug)]
pub struct NetBackend {
    /// The MAC address in the config space.
    pub mac: [u8; 6],
    /// Frames transmitted and not yet delivered back.
    pub backlog: VecDeque<Vec<u8>>,
    /// Every frame transmitted, in order.
    pub sent: Vec<Vec<u8>>,
}

/// The length of `virtio_net_hdr` with `VERSION_1` (`num_buffers` included).
pub const NET_HDR_LEN: usize = 12;

impl NetBackend {
    /// A loopback NIC with MAC address `mac`.
    pub fn new(mac: [u8; 6]) -> Self {
        NetBackend {
            mac,
            backlog: VecDeque::new(),
            sent: Vec::new(),
        }
    }
}

impl VirtioBackend for NetBackend {
    fn device_type(&self) -> DeviceType {
        DeviceType::Network
    }

    fn features(&self) -> u64 {
        (1 << 5) | (1 << 16) // VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 12];
        c[..6].copy_from_slice(&self.mac);
        c[6..8].copy_from_slice(&1u16.to_le_bytes()); // VIRTIO_NET_S_LINK_UP
        c[8..10].copy_from_slice(&1u16.to_le_bytes());
        c[10..12].copy_from_slice(&1500u16.to_le_bytes());
        c
    }

    fn queues(&self) -> u16 {
        2
    }

    fn process(&mut self, _queue: u16, ctx: &mut DeviceContext<'_>) {
        while let Some(chain) = ctx.pop(1) {
            let bytes = ctx.read(&chain);
            let frame = bytes.get(NET_HDR_LEN..).unwrap_or_default().to_vec();
            self.sent.push(frame.clone());
            self.backlog.push_back(frame);
            ctx.complete(1, &chain, 0);
        }
        while !self.backlog.is_empty() && ctx.has_pending(0) {
            let (Some(frame), Some(chain)) = (self.backlog.pop_front(), ctx.pop(0)) else {
                break;
            };
            let mut packet = vec![0u8; NET_HDR_LEN];
            packet[10..12].copy_from_slice(&1u16.to_le_bytes()); // num_buffers
            packet.extend_from_slice(&frame);
            let written = ctx.write(&chain, &packet);
            ctx.complete(0, &chain, written as u32);
        }
    }
}

/// virtio-console: echoes every byte written to the transmit queue back on the receive queue.
#[derive(Clone, Debug, Default)]
pub struct ConsoleBackend {
    /// Bytes written and not yet echoed.
    pub backlog: VecDeque<u8>,
    /// Every byte written, in order.
    pub output: Vec<u8>,
}

impl VirtioBackend for ConsoleBackend {
    fn device_type(&self) -> DeviceType {
        DeviceType::Console
    }

    fn features(&self) -> u64 {
        1 // VIRTIO_CONSOLE_F_SIZE
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 12];
        c[..2].copy_from_slice(&80u16.to_le_bytes());
        c[2..4].copy_from_slice(&25u16.to_le_bytes());
        c[4..8].copy_from_slice(&1u32.to_le_bytes());
        c
    }

    fn queues(&self) -> u16 {
        2
    }

    fn process(&mut self, _queue: u16, ctx: &mut DeviceContext<'_>) {
        while let Some(chain) = ctx.pop(1) {
            let bytes = ctx.read(&chain);
            self.output.extend_from_slice(&bytes);
            self.backlog.extend(bytes);
            ctx.complete(1, &chain, 0);
        }
        while !self.backlog.is_empty() && ctx.has_pending(0) {
            let Some(chain) = ctx.pop(0) else { break };
            let n = DeviceContext::writable_len(&chain).min(self.backlog.len());
            let data: Vec<u8> = self.backlog.drain(..n).collect();
            let written = ctx.write(&chain, &data);
            ctx.complete(0, &chain, written as u32);
        }
    }
}

/// virtio-rng: fills each buffer from a deterministic byte stream ([`RngBackend::byte`]).
#[derive(Clone, Debug, Default)]
pub struct RngBackend {
    /// Bytes produced so far.
    pub produced: u64,
}

impl RngBackend {
    /// Byte `n` of the stream.
    pub fn byte(n: u64) -> u8 {
        (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
    }
}

impl VirtioBackend for RngBackend {
    fn device_type(&self) -> DeviceType {
        DeviceType::EntropySource
    }

    fn features(&self) -> u64 {
        0
    }

    fn config(&self) -> Vec<u8> {
        Vec::new()
    }

    fn queues(&self) -> u16 {
        1
    }

    fn process(&mut self, queue: u16, ctx: &mut DeviceContext<'_>) {
        while let Some(chain) = ctx.pop(queue) {
            let n = DeviceContext::writable_len(&chain) as u64;
            let data: Vec<u8> = (self.produced..self.produced + n).map(Self::byte).collect();
            self.produced += n;
            let written = ctx.write(&chain, &data);
            ctx.complete(queue, &chain, written as u32);
        }
    }
}
