//! A reference model of the streaming-mapping rules, sequential and simple, and a harness that
//! runs the same operations on the real checker.
//!
//! The model knows devices and buffers by index and keeps, per device, a list of live mappings
//! (buffer, size, direction, tested or not) and the buffers it has unmapped. For each operation
//! it predicts the rule ids the checker must report and updates its state; it knows nothing of
//! the tracker, the graveyard or the backend. Used by `tests/stress_model.rs` (many threads)
//! and by the `ops` fuzz target (any sequence, one operation at a time), through `#[path]`.
//!
//! The world the operations run in is small on purpose: every buffer is a page of its own, and
//! every mapping starts at its buffer's first byte, so a buffer's mappings share its DMA address
//! (the direct backend's bus address is the physical address) and nothing else does.

#![allow(dead_code)]

// The C ABI is not built under loom.
#[cfg(not(loom))]
pub mod capi;
pub mod ring;

use dmacheck::{
    Checker, DMA_MAPPING_ERROR, Device, Direction, DmaAddr, Gfp, MemoryConfig, alloc_pages,
    dma_map_single, dma_mapping_error, dma_sync_single_for_cpu, dma_sync_single_for_device,
    dma_unmap_single, page_address, virt_to_phys,
};

/// The sizes operations use: none, cache-line multiples, an odd size and a whole page.
pub const SIZES: [u64; 5] = [0, 64, 256, 1000, 4096];

/// The directions operations use, `DMA_NONE` included.
pub const DIRECTIONS: [Direction; 4] = [
    Direction::ToDevice,
    Direction::FromDevice,
    Direction::Bidirectional,
    Direction::None,
];

/// One driver operation, on a device and a buffer given by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `dma_map_single(dev, buf, size, dir)`.
    Map {
        dev: usize,
        buf: usize,
        size: u64,
        dir: Direction,
    },
    /// `dma_mapping_error(dev, the buffer's DMA address)`.
    Check { dev: usize, buf: usize },
    /// `dma_unmap_single(dev, the buffer's DMA address, size, dir)`.
    Unmap {
        dev: usize,
        buf: usize,
        size: u64,
        dir: Direction,
    },
    /// `dma_unmap_single(dev, DMA_MAPPING_ERROR, ..)`: unmapping what a failed map returned.
    UnmapFailed { dev: usize },
    /// `dma_sync_single_for_cpu` (or `_for_device`) of the buffer's DMA address.
    Sync {
        dev: usize,
        buf: usize,
        size: u64,
        dir: Direction,
        for_cpu: bool,
    },
    /// `device.release()`: the driver unbinds.
    Release { dev: usize },
}

impl Step {
    /// The device the step names.
    pub fn dev(&self) -> usize {
        match *self {
            Step::Map { dev, .. }
            | Step::Check { dev, .. }
            | Step::Unmap { dev, .. }
            | Step::UnmapFailed { dev }
            | Step::Sync { dev, .. }
            | Step::Release { dev } => dev,
        }
    }

    /// Decode a step from four bytes (any bytes make some step), for fuzzing.
    pub fn decode(b: [u8; 4], devices: usize, bufs: usize) -> Step {
        let dev = usize::from(b[1]) % devices;
        let buf = usize::from(b[2]) % bufs;
        let size = SIZES[usize::from(b[3] & 0x0f) % SIZES.len()];
        let dir = DIRECTIONS[usize::from(b[3] >> 4) % DIRECTIONS.len()];
        match b[0] % 16 {
            0..=3 => Step::Map {
                dev,
                buf,
                size,
                dir,
            },
            4..=6 => Step::Check { dev, buf },
            7..=9 => Step::Unmap {
                dev,
                buf,
                size,
                dir,
            },
            10 => Step::UnmapFailed { dev },
            11..=14 => Step::Sync {
                dev,
                buf,
                size,
                dir,
                for_cpu: b[0] & 0x10 == 0,
            },
            _ => Step::Release { dev },
        }
    }
}

/// A live mapping, as the model knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub buf: usize,
    pub size: u64,
    pub dir: Direction,
    pub checked: bool,
}

impl Mapping {
    fn key(&self) -> (usize, u64, usize, bool) {
        let dir = DIRECTIONS.iter().position(|&d| d == self.dir);
        (self.buf, self.size, dir.unwrap_or(usize::MAX), self.checked)
    }
}

impl PartialOrd for Mapping {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Mapping {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[derive(Clone, Debug, Default)]
struct DeviceState {
    released: bool,
    /// Live mappings, oldest first.
    live: Vec<Mapping>,
    /// Buffers this device has unmapped (a later unmap or sync of one is a use after unmap).
    unmapped: Vec<usize>,
}

/// The reference model.
#[derive(Clone, Debug)]
pub struct Model {
    devices: Vec<DeviceState>,
}

fn writable(dir: Direction) -> bool {
    matches!(dir, Direction::FromDevice | Direction::Bidirectional)
}

/// The index of the best match among `candidates` (the highest score; the oldest of equals).
fn best(candidates: &[Mapping], buf: usize, score: impl Fn(&Mapping) -> u32) -> Option<usize> {
    let mut found: Option<(usize, u32)> = None;
    for (i, m) in candidates.iter().enumerate().filter(|(_, m)| m.buf == buf) {
        let s = score(m);
        if found.is_none_or(|(_, best)| s > best) {
            found = Some((i, s));
        }
    }
    found.map(|(i, _)| i)
}

impl Model {
    /// A model of `devices` devices, none mapping anything.
    pub fn new(devices: usize) -> Model {
        Model {
            devices: vec![DeviceState::default(); devices],
        }
    }

    /// The live mappings of `dev`, oldest first.
    pub fn live(&self, dev: usize) -> &[Mapping] {
        &self.devices[dev].live
    }

    /// Whether `dev` was released.
    pub fn released(&self, dev: usize) -> bool {
        self.devices[dev].released
    }

    /// Whether `dev` has unmapped `buf` before.
    pub fn unmapped(&self, dev: usize, buf: usize) -> bool {
        self.devices[dev].unmapped.contains(&buf)
    }

    /// How many mappings are live on all devices.
    pub fn live_count(&self) -> usize {
        self.devices.iter().map(|d| d.live.len()).sum()
    }

    /// Apply `step`; return the rule ids the checker must report for it, sorted.
    pub fn apply(&mut self, step: &Step) -> Vec<&'static str> {
        let mut out = Vec::new();
        let dev = step.dev();
        if self.devices[dev].released {
            // Every call on a released device is refused and reported; a second release and a
            // test of an address do nothing.
            if !matches!(step, Step::Release { .. } | Step::Check { .. }) {
                out.push("device-released");
            }
            return out;
        }
        match *step {
            Step::Map { buf, size, dir, .. } => {
                if dir == Direction::None {
                    out.push("direction-none");
                } else if size == 0 {
                    out.push("map-zero-size");
                } else {
                    if writable(dir) {
                        // Every live mapping the device may write that shares the buffer's
                        // cache lines (any device's).
                        let sharing = self
                            .devices
                            .iter()
                            .flat_map(|d| &d.live)
                            .filter(|m| m.buf == buf && writable(m.dir))
                            .count();
                        out.extend(std::iter::repeat_n("cacheline-overlap", sharing));
                    }
                    self.devices[dev].live.push(Mapping {
                        buf,
                        size,
                        dir,
                        checked: false,
                    });
                }
            }
            Step::Check { buf, .. } => {
                // One test covers one mapping: the oldest untested one at the address.
                if let Some(m) = self.devices[dev]
                    .live
                    .iter_mut()
                    .find(|m| m.buf == buf && !m.checked)
                {
                    m.checked = true;
                }
            }
            Step::Unmap { buf, size, dir, .. } => {
                if dir == Direction::None {
                    out.push("direction-none");
                }
                let d = &mut self.devices[dev];
                let score = |m: &Mapping| u32::from(m.size == size) * 2 + u32::from(m.dir == dir);
                match best(&d.live, buf, score) {
                    Some(i) => {
                        let m = d.live.remove(i);
                        if m.size != size {
                            out.push("unmap-size-mismatch");
                        }
                        if dir != Direction::None && dir != m.dir {
                            out.push("unmap-direction-mismatch");
                        }
                        if !m.checked {
                            out.push("unmap-unchecked");
                        }
                        if !d.unmapped.contains(&buf) {
                            d.unmapped.push(buf);
                        }
                    }
                    None => out.push(self.missing(dev, buf, "double-unmap", "unmap-unknown")),
                }
            }
            Step::UnmapFailed { .. } => out.push("unmap-mapping-error"),
            Step::Sync { buf, size, dir, .. } => {
                if dir == Direction::None {
                    out.push("direction-none");
                } else {
                    let score = |m: &Mapping| {
                        u32::from(size <= m.size) * 8
                            + u32::from(m.dir == dir) * 2
                            + u32::from(m.size == size)
                    };
                    let d = &self.devices[dev];
                    match best(&d.live, buf, score) {
                        Some(i) => {
                            let m = d.live[i];
                            if size > m.size {
                                out.push("sync-out-of-range");
                            }
                            if m.dir != Direction::Bidirectional && m.dir != dir {
                                out.push("sync-direction-mismatch");
                            }
                        }
                        None => out.push(self.missing(dev, buf, "sync-unknown", "sync-unknown")),
                    }
                }
            }
            Step::Release { .. } => {
                let d = &mut self.devices[dev];
                out.extend(std::iter::repeat_n("leak", d.live.len()));
                d.live.clear();
                d.released = true;
            }
        }
        out.sort_unstable();
        out
    }

    /// The rule for a call that found no mapping of its device at the buffer: a use after the
    /// device's own unmap first, then another device's mapping, then nothing known.
    fn missing(
        &self,
        dev: usize,
        buf: usize,
        after_unmap: &'static str,
        unknown: &'static str,
    ) -> &'static str {
        if self.devices[dev].unmapped.contains(&buf) {
            after_unmap
        } else if self
            .devices
            .iter()
            .enumerate()
            .any(|(i, d)| i != dev && d.live.iter().any(|m| m.buf == buf))
        {
            "wrong-device"
        } else {
            unknown
        }
    }
}

/// The real side: a checker, its devices and page-sized buffers, on which steps are carried
/// out with the DMA API.
pub struct World {
    pub checker: Checker,
    pub devices: Vec<Device>,
    /// The buffers' CPU addresses (as integers, so the world can be shared by threads).
    pub bufs: Vec<usize>,
    /// The buffers' DMA addresses (physical addresses: the direct backend maps one to one).
    pub addrs: Vec<DmaAddr>,
}

impl World {
    /// A world of `devices` devices (`dev0`, `dev1`, ...) and `bufs` one-page buffers, checked
    /// by `checker`.
    pub fn new(checker: Checker, devices: usize, bufs: usize) -> World {
        let devices = (0..devices)
            .map(|i| checker.device(&format!("dev{i}")).driver("model").build())
            .collect();
        let bufs: Vec<usize> = (0..bufs)
            .map(|_| {
                let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page for a buffer");
                page_address(page) as usize
            })
            .collect();
        let addrs = bufs
            .iter()
            .map(|&b| virt_to_phys(&checker, b as *const u8).expect("arena memory"))
            .collect();
        World {
            checker,
            devices,
            bufs,
            addrs,
        }
    }

    /// A quiet checker that reads no environment, every rule at its declared level, over a
    /// small arena.
    pub fn quiet_checker() -> Checker {
        Checker::builder()
            .env(false)
            .print(false)
            .memory(MemoryConfig {
                size: 4 << 20,
                phys_base: 1 << 20,
            })
            .build()
    }

    /// Carry `step` out with the DMA API. A map returns the buffer's address or the error
    /// value, as `predicted` (the model's rule ids for the step) says it must.
    pub fn run(&self, step: &Step, predicted: &[&str]) {
        let dev = &self.devices[step.dev()];
        match *step {
            Step::Map { buf, size, dir, .. } => {
                let ptr = self.bufs[buf] as *const u8;
                let dma = dma_map_single(dev, ptr, size as usize, dir);
                let refused = predicted
                    .iter()
                    .any(|r| matches!(*r, "device-released" | "direction-none" | "map-zero-size"));
                let expected = if refused {
                    DMA_MAPPING_ERROR
                } else {
                    self.addrs[buf]
                };
                assert_eq!(dma, expected, "{step:?} returned {dma:#x}");
            }
            Step::Check { buf, .. } => {
                assert_eq!(dma_mapping_error(dev, self.addrs[buf]), 0);
            }
            Step::Unmap { buf, size, dir, .. } => {
                dma_unmap_single(dev, self.addrs[buf], size as usize, dir)
            }
            Step::UnmapFailed { .. } => {
                dma_unmap_single(dev, DMA_MAPPING_ERROR, 64, Direction::ToDevice);
            }
            Step::Sync {
                buf,
                size,
                dir,
                for_cpu,
                ..
            } => {
                let sync = if for_cpu {
                    dma_sync_single_for_cpu
                } else {
                    dma_sync_single_for_device
                };
                sync(dev, self.addrs[buf], size as usize, dir);
            }
            Step::Release { .. } => dev.release(),
        }
    }

    /// The checker's live entries as the model describes mappings, per device.
    pub fn live(&self) -> Vec<Vec<Mapping>> {
        let entries = self.checker.live_entries();
        self.devices
            .iter()
            .map(|d| {
                let mut live: Vec<Mapping> = entries
                    .iter()
                    .filter(|e| e.device() == d.id())
                    .map(|e| Mapping {
                        buf: self
                            .addrs
                            .iter()
                            .position(|&a| a == e.dma_addr())
                            .expect("an entry at a buffer's address"),
                        size: e.size(),
                        dir: e.dir(),
                        checked: e.error_checked(),
                    })
                    .collect();
                live.sort();
                live
            })
            .collect()
    }

    /// The rule ids reported since the last call, sorted, per device name.
    pub fn take_reported(&self) -> Vec<(String, &'static str)> {
        let mut ids: Vec<_> = self
            .checker
            .take_violations()
            .into_iter()
            // A leak group stands for its entries: each counted, as the model counts them.
            .flat_map(|v| std::iter::repeat_n((v.device, v.rule.id), v.count as usize))
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Run `steps` one at a time on a fresh world and the model, comparing what each step reports
/// with the prediction, and the live entries after each; panics at the first disagreement.
pub fn run_sequential(devices: usize, bufs: usize, steps: &[Step]) {
    let world = World::new(World::quiet_checker(), devices, bufs);
    let mut model = Model::new(devices);
    for (i, step) in steps.iter().enumerate() {
        let predicted = model.apply(step);
        world.run(step, &predicted);
        let reported: Vec<_> = world.take_reported().into_iter().map(|(_, r)| r).collect();
        assert_eq!(
            reported, predicted,
            "step {i}: {step:?} reported {reported:?}, the model predicts {predicted:?}\nsteps: {steps:?}"
        );
        let mut expected: Vec<Vec<Mapping>> =
            (0..devices).map(|d| model.live(d).to_vec()).collect();
        expected.iter_mut().for_each(|l| l.sort());
        assert_eq!(world.live(), expected, "step {i}: {step:?}: live entries");
    }
}

/// The `ops` fuzz target: any bytes are a sequence of steps (four bytes each, at most 512) over
/// three devices and four buffers, run step by step against the model.
pub fn fuzz_ops(data: &[u8]) {
    let steps: Vec<Step> = data
        .chunks_exact(4)
        .take(512)
        .map(|c| Step::decode([c[0], c[1], c[2], c[3]], 3, 4))
        .collect();
    run_sequential(3, 4, &steps);
}
