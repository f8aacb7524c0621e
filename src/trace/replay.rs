//! The replayer: trace lines in, events through the checker's engine and rules, findings out.
//!
//! How each event becomes [`Event`]s:
//!
//! | trace event | recorded as |
//! |---|---|
//! | `dma_map_page`, `dma_map_phys` | a map of kind `page` (a single mapping is traced as a page one), with its physical address for the cache-line rule |
//! | `dma_map_resource` (≤ 6.17) | the same with `DMA_ATTR_MMIO`, as 6.18 traces it; no cache lines |
//! | `dma_unmap_page`, `dma_unmap_phys`, `dma_unmap_resource` | a release of kind `page` (with `DMA_ATTR_MMIO` for a resource) |
//! | `dma_alloc`, `dma_free` | a coherent allocation and its free, with the (hashed) CPU address |
//! | `dma_alloc_pages`, `dma_free_pages` | a `noncoherent` allocation (the family of `dma_alloc_noncoherent`, which the kernel traces as these) with its direction |
//! | `dma_alloc_sgt`, `dma_free_sgt` | one `sg` entry over the allocation |
//! | `dma_map_sg` | one `sg` entry per DMA segment, with the list's `nents` and returned count |
//! | `dma_unmap_sg` | the release of the segments of the list mapped with the same first physical address, with the unmap's `nents` |
//! | `dma_sync_single_*`, `dma_sync_sg_*` | syncs (per segment for sg) |
//! | failed maps (`DMA_MAPPING_ERROR`, NULL, `*_err`) | nothing: no mapping was made |
//!
//! Kernel traces do not show `dma_mapping_error` calls: the replay's checker allows
//! `unmap-unchecked` (and the summary says it was not checked). Levels stay as configured: the
//! replay's checker reports without panicking at deny
//! ([`CheckerBuilder::panic_at_deny`](crate::CheckerBuilder::panic_at_deny)), so a replay
//! never stops and a deny-level finding is reported at deny.
//!
//! Each device name of the trace is registered as a device of the replay's checker (as
//! [`Checker::device`] does), without a [`Device`](crate::Device) handle: dropping a handle
//! would unbind the device and report every mapping live at the end one by one, where a replay
//! groups them by device and size instead.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;

use super::TraceOptions;
use super::parse::{self, DmaCall, DmaEvent, Line, Parsed, RawEvent};
use super::state::{Held, Uncertainty, Verdict};
use super::summary::{DeviceSummary, Example, Loss, MalformedLine, SkippedUnmaps, TraceSummary};
use crate::checker::Checker;
use crate::config::{Config, ConfigError, ENV_VAR};
use crate::context::CallContext;
use crate::event::{DeviceId, Event, Op};
use crate::report::{Detail, Finding, Findings, Value};
use crate::rules::{self, Level};
use crate::site::{Site, TraceSites};
use crate::tracker::{Entry, Lookup};
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAttrs, Gfp, MapKind};
use crate::{MemoryConfig, PAGE_SIZE};

/// The largest mapping a replay believes: a size beyond it is taken as a corrupt line.
const MAX_MAPPING: u64 = 1 << 32;
/// How many released sg lists are remembered (to tell a second unmap of a list).
const RELEASED_LISTS_AT_MOST: usize = 1 << 16;
/// How many devices a replay tracks: more names are a corrupt trace, and would fill the memory.
const DEVICES_AT_MOST: usize = 4096;
/// How many distinct names of other subsystems' events are counted.
const OTHER_NAMES_AT_MOST: usize = 32;
/// How many malformed lines are kept with their text.
const MALFORMED_KEPT: usize = 100;
/// How many bytes of a malformed line are kept.
const MALFORMED_TEXT: usize = 160;
/// How often (in lines) held findings are looked at.
const RELEASE_EVERY: u64 = 64;

/// One `dma_map_sg` of the trace whose list is still mapped.
struct SgList {
    segments: SmallVec<[(u64, u64); 4]>,
    nents: u32,
    dir: Direction,
    truncated: bool,
}

#[derive(Default)]
struct DeviceCounts {
    events: u64,
    maps: u64,
    releases: u64,
    syncs: u64,
    /// A streaming map showed a DMA address other than its physical address (an IOMMU, a
    /// swiotlb bounce slot, a DMA offset): the device is not direct-mapped.
    translated: bool,
    /// Mappings retired by a later map of their address (see [`Replayer::retire_overlapped`]).
    retired: u64,
    /// A mapping was made since the device's entries were last drained at lost events.
    mapped_since_drain: bool,
}

impl DeviceCounts {
    /// Whether the device looks like one for which `dma_need_unmap()` is false: dma-direct
    /// (every DMA address is its physical address) with `dev->dma_skip_sync` set (no sync
    /// reaches the tracepoints).
    ///
    /// The kernel's logic (Linux 6.17 and later): `dma_need_unmap()` in kernel/dma/mapping.c
    /// returns true unless `dma_map_direct()` and `dev->dma_skip_sync`, and true anyway under
    /// `CONFIG_DMA_API_DEBUG` (stock kernels are built without it). `dma_skip_sync` starts as
    /// `dev_is_dma_coherent()` (`dma_setup_need_sync`), and `swiotlb_tbl_map_single()` clears
    /// it at the first bounce. While it is set, `dma_sync_*` (include/linux/dma-mapping.h,
    /// `dma_dev_need_sync()`) return before `__dma_sync_*`, which hold the tracepoints: a
    /// device that skips syncs shows none. dma-direct maps a physical address to itself
    /// (`phys_to_dma()` in kernel/dma/direct.h, without a `dma_range_map` offset or memory
    /// encryption). Callers then skip the unmap on purpose: block/blk-mq-dma.c maps each
    /// request segment with `dma_map_phys()`, and `blk_rq_dma_unmap()`
    /// (include/linux/blk-mq-dma.h) tells nvme not to unmap when `!dma_need_unmap()`.
    fn direct_without_syncs(&self) -> bool {
        !self.translated && self.syncs == 0
    }

    /// Whether the trace shows the device skipping its unmaps: direct without syncs, and a
    /// map of a live address. (Mappings never unmapped alone are no evidence: a driver that
    /// leaks looks the same.)
    fn skips_unmaps(&self) -> bool {
        self.direct_without_syncs() && self.retired > 0
    }
}

/// Replays a trace, line by line, into a checker of its own. Feed it every line with
/// [`Replayer::line`], then take the result with [`Replayer::finish`].
///
/// ```
/// use dmacheck::trace::{Replayer, TraceOptions};
///
/// let mut replay = Replayer::new(TraceOptions::default()).unwrap();
/// for line in [
///     "ip-410 [000] ..... 17.34: dma_map_page: 0000:00:03.0 dir=TO_DEVICE dma_addr=7000 size=64 phys_addr=7000 attrs=",
///     "ip-410 [000] ..... 17.35: dma_unmap_page: 0000:00:03.0 dir=TO_DEVICE dma_addr=7000 size=60 attrs=",
/// ] {
///     replay.line(line.as_bytes());
/// }
/// let result = replay.finish();
/// let v = result.violations();
/// assert_eq!(v[0].rule.id, "unmap-size-mismatch");
/// assert_eq!(v[0].site.to_string(), "-:2");
/// assert_eq!(v[0].mapped_at.as_ref().unwrap().to_string(), "-:1");
/// ```
pub struct Replayer {
    checker: Checker,
    file: &'static str,
    /// The sites of the trace's lines (the trace's name looked up once).
    sites: TraceSites,
    only_device: Option<Vec<u8>>,
    drivers: Vec<(String, String)>,
    sysfs: Option<std::path::PathBuf>,
    leaks: bool,
    line: u64,
    max_line: usize,
    devices: HashMap<Box<[u8]>, usize, FxBuildHasher>,
    names: Vec<Box<[u8]>>,
    ids: Vec<DeviceId>,
    counts: Vec<DeviceCounts>,
    last_device: Option<usize>,
    sg_live: HashMap<(DeviceId, u64), SmallVec<[SgList; 1]>, FxBuildHasher>,
    sg_failed: HashMap<(DeviceId, u64), Site, FxBuildHasher>,
    sg_released: HashMap<(DeviceId, u64), u64, FxBuildHasher>,
    truncated_live: HashMap<DeviceId, u32, FxBuildHasher>,
    state: Uncertainty,
    summary: TraceSummary,
    per_call: [u64; DmaCall::ALL.len()],
    /// A `virt_addr` could not be read (printed before the kernel could hash pointers): CPU
    /// addresses are not compared at free.
    virt_unreliable: bool,
    /// The calls that made entries of each kind, to name them in reports.
    calls: MapCalls,
    /// The lines of the live MMIO mappings, to name their call.
    mmio_lines: std::collections::HashSet<u64, FxBuildHasher>,
}

/// The trace's names of the calls that made entries of each kind, where the trace used one
/// name for the kind (`dma_map_phys` rather than the rules' `dma_map_page`). MMIO mappings
/// (`dma_map_resource`, or `dma_map_phys` with `attrs=MMIO`) are named apart: before 6.18 a
/// trace names them by another call than the page mappings of the same kind.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MapCalls {
    kinds: [Seen; 5],
    mmio: Seen,
}

#[derive(Clone, Copy, Debug, Default)]
enum Seen {
    #[default]
    None,
    One(&'static str),
    Several,
}

impl Seen {
    fn saw(self, call: &'static str) -> Seen {
        match self {
            Seen::None => Seen::One(call),
            // Calls are named by the same static strings: the address tells most at once.
            Seen::One(c) if std::ptr::eq(c, call) || c == call => Seen::One(c),
            _ => Seen::Several,
        }
    }
}

impl MapCalls {
    fn saw(&mut self, kind: MapKind, mmio: bool, call: &'static str) {
        if mmio {
            self.mmio = self.mmio.saw(call);
        } else if let Some(i) = MapKind::ALL.iter().position(|&k| k == kind) {
            self.kinds[i] = self.kinds[i].saw(call);
        }
    }

    /// The call that made entries of `kind` in this trace.
    pub(crate) fn name(&self, kind: MapKind) -> &'static str {
        match MapKind::ALL
            .iter()
            .position(|&k| k == kind)
            .map(|i| self.kinds[i])
        {
            Some(Seen::One(call)) => call,
            _ => kind.map_call(),
        }
    }

    /// The call that made MMIO mappings in this trace.
    pub(crate) fn mmio_name(&self) -> &'static str {
        match self.mmio {
            Seen::One(call) => call,
            _ => DmaCall::MapResource.name(),
        }
    }

    /// The call that made an entry of `kind`, MMIO or not.
    pub(crate) fn name_for(&self, kind: MapKind, mmio: bool) -> &'static str {
        if mmio {
            self.mmio_name()
        } else {
            self.name(kind)
        }
    }

    /// The trace's name for a map call the rules name by kind.
    pub(crate) fn rename(&self, call: &'static str) -> &'static str {
        MapKind::ALL
            .into_iter()
            .find(|k| k.map_call() == call)
            .map_or(call, |k| self.name(k))
    }
}

impl Replayer {
    /// A replayer with `options`. Fails when `options.spec` is not valid `DMACHECK` syntax.
    pub fn new(options: TraceOptions) -> Result<Replayer, ConfigError> {
        let checker = build_checker(&options)?;
        let file = super::intern(&options.name);
        Ok(Replayer {
            checker,
            file,
            sites: TraceSites::new(file),
            only_device: options.device.map(String::into_bytes),
            drivers: options.drivers,
            sysfs: options.sysfs,
            leaks: options.leaks,
            line: 0,
            max_line: options.max_line,
            devices: HashMap::default(),
            names: Vec::new(),
            ids: Vec::new(),
            counts: Vec::new(),
            last_device: None,
            sg_live: HashMap::default(),
            sg_failed: HashMap::default(),
            sg_released: HashMap::default(),
            truncated_live: HashMap::default(),
            state: Uncertainty::new(options.from_start),
            summary: TraceSummary {
                source: options.name.clone(),
                ..TraceSummary::default()
            },
            per_call: [0; DmaCall::ALL.len()],
            virt_unreliable: false,
            calls: MapCalls::default(),
            mmio_lines: Default::default(),
        })
    }

    /// The checker events are replayed into.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// Replay the next line of the trace (without its newline; a trailing `\r` is ignored). A
    /// line longer than [`TraceOptions::max_line`] is malformed.
    pub fn line(&mut self, text: &[u8]) {
        if text.len() > self.max_line {
            return self.overlong_line(text);
        }
        self.line += 1;
        let n = self.line;
        match parse::parse_line(text) {
            Err(e) => self.malformed(n, e.reason, text),
            Ok(Line::Blank) => {}
            Ok(Line::Header(h)) => {
                if let Some(cpus) = h.cpus {
                    self.summary.cpus = Some(cpus);
                    self.state.declare_cpus(cpus);
                }
                if let Some(cpu) = h.empty_cpu {
                    self.state.empty_cpu(cpu);
                }
                if let Some(over) = h.overwritten {
                    self.summary.overwritten = Some(over);
                    self.state.started_mid_run();
                }
            }
            Ok(Line::Lost { cpu, events }) => self.lost(n, cpu, events, false),
            Ok(Line::BufferStarted { cpu }) => self.lost(n, cpu, None, true),
            Ok(Line::Event(raw)) => {
                self.state.saw(raw.cpu.unwrap_or(0), n);
                // A dma event is parsed in place (no `Parsed` to move around).
                if let Some(call) = DmaCall::from_name(raw.name) {
                    let mut ev = DmaEvent::empty(call);
                    match parse::read_dma(raw.body, &mut ev) {
                        Err(e) => self.malformed(n, e.reason, text),
                        Ok(()) => self.dma(n, &raw, &ev, text),
                    }
                } else {
                    match parse::parse_event(raw.name, raw.body) {
                        Ok(Parsed::UnknownDma) => {
                            // Names come from the trace: count at most a few of them.
                            let names = &mut self.summary.unknown_dma_events;
                            let name = String::from_utf8_lossy(raw.name).into_owned();
                            let key =
                                if names.len() < OTHER_NAMES_AT_MOST || names.contains_key(&name) {
                                    name
                                } else {
                                    "...".to_string()
                                };
                            *names.entry(key).or_default() += 1;
                        }
                        _ => self.other(raw.name),
                    }
                }
            }
        }
        if n % RELEASE_EVERY == 0 && self.state.holding() {
            let ready = self.state.release(false);
            self.report_held(ready);
        }
    }

    /// The next line of the trace is longer than [`TraceOptions::max_line`]: it is malformed,
    /// and `start` is its beginning (the rest is never buffered).
    pub fn overlong_line(&mut self, start: &[u8]) {
        self.line += 1;
        let reason = format!("a line longer than {} bytes", self.max_line);
        self.malformed(self.line, &reason, start);
    }

    /// The traced machine has `n` CPUs (what a trace's header says; `trace_pipe` has none).
    pub fn declare_cpus(&mut self, n: u32) {
        self.summary.cpus = Some(n);
        self.state.declare_cpus(n);
    }

    /// The stream has caught up with the kernel (a live pipe went quiet): every CPU's events up
    /// to now have been read, so no later lost-events marker can explain a finding held so
    /// far. Report them.
    pub fn caught_up(&mut self) {
        if self.state.holding() {
            let ready = self.state.release(true);
            self.report_held(ready);
        }
    }

    /// The violations reported so far, as [`TraceReplay::violations`](super::TraceReplay::violations)
    /// gives them (in the order found).
    pub fn violations(&self) -> Vec<crate::report::Violation> {
        let mut v = self.checker.violations();
        for x in &mut v {
            super::dress(x, &self.calls);
        }
        v
    }

    /// How many violations have been reported so far (cheap: a counter).
    pub fn violations_reported(&self) -> u64 {
        self.checker.inner().reporter.errors()
    }

    /// The longest line read (see [`TraceOptions::max_line`]).
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    fn malformed(&mut self, line: u64, reason: &str, text: &[u8]) {
        self.summary.malformed += 1;
        if self.summary.malformed_lines.len() < MALFORMED_KEPT {
            self.summary.malformed_lines.push(MalformedLine {
                line,
                reason: reason.to_string(),
                text: super::summary::printable(text, MALFORMED_TEXT)
                    .trim_end()
                    .to_string(),
            });
        }
    }

    fn other(&mut self, name: &[u8]) {
        self.summary.other_events += 1;
        let names = &mut self.summary.other_names;
        if let Some(n) = names.get_mut(&*String::from_utf8_lossy(name)) {
            *n += 1;
        } else if names.len() < OTHER_NAMES_AT_MOST {
            names.insert(String::from_utf8_lossy(name).into_owned(), 1);
        }
    }

    /// CPU `cpu` lost events before `line`: findings they explain are set aside, and every
    /// live mapping is forgotten (its release may be among the lost events).
    fn lost(&mut self, line: u64, cpu: u32, events: Option<u64>, buffer_started: bool) {
        self.summary.lost_markers += 1;
        if self.summary.losses.len() < super::summary::EXAMPLES {
            self.summary.losses.push(Loss {
                line,
                cpu,
                events,
                buffer_started,
            });
        }
        self.summary.lost_events += events.unwrap_or(0);
        for held in self.state.lost(cpu, line) {
            let example = self.example(&held.ev, &held.finding, super::state::LOST);
            self.summary.uncertain.add(example);
        }
        let tracker = &self.checker.inner().tracker;
        // Only devices that mapped since the last drain can hold entries: a drain visits
        // every shard.
        for (c, &id) in self.counts.iter_mut().zip(&self.ids) {
            if std::mem::take(&mut c.mapped_since_drain) {
                self.summary.forgotten += tracker.drain_device(id).len() as u64;
            }
        }
        self.sg_live.clear();
        self.truncated_live.clear();
        self.mmio_lines.clear();
    }

    /// The index of the device named `name`, registering it on first sight; `None` when the
    /// device filter leaves it out.
    fn device(&mut self, name: &[u8]) -> Option<usize> {
        if let Some(i) = self.last_device {
            if same_name(&self.names[i], name) {
                return Some(i);
            }
        }
        if self.only_device.as_deref().is_some_and(|only| only != name) {
            return None;
        }
        let i = match self.devices.get(name) {
            Some(&i) => i,
            None if self.devices.len() >= DEVICES_AT_MOST => return None,
            None => {
                let label = super::summary::printable(name, usize::MAX);
                let driver = self.driver_of(&label);
                let id = self
                    .checker
                    .register_device(label.as_str().into(), driver.into());
                let i = self.ids.len();
                self.ids.push(id);
                self.names.push(name.into());
                self.counts.push(DeviceCounts::default());
                self.devices.insert(name.into(), i);
                i
            }
        };
        self.last_device = Some(i);
        Some(i)
    }

    /// The driver of `device`: as the options name it, or as sysfs says, or `unknown`.
    fn driver_of(&self, device: &str) -> String {
        if let Some((_, driver)) = self.drivers.iter().find(|(d, _)| d == device) {
            return driver.clone();
        }
        self.sysfs
            .as_deref()
            .and_then(|root| super::sysfs::driver_of(root, device))
            .unwrap_or_else(|| "unknown".into())
    }

    fn dma(&mut self, n: u64, raw: &RawEvent<'_>, ev: &DmaEvent<'_>, text: &[u8]) {
        let context = raw.context;
        let too_big =
            ev.size.is_some_and(|s| s > MAX_MAPPING) || ev.sizes.iter().any(|&s| s > MAX_MAPPING);
        if too_big {
            return self.malformed(n, "a size over 4 GiB for one mapping", text);
        }
        let Some(d) = self.device(ev.device) else {
            if self.only_device.is_none() {
                return self.malformed(n, "a device beyond the 4096 a trace may name", text);
            }
            self.summary.filtered_events += 1;
            return;
        };
        if context.is_none() {
            self.summary.without_flags += 1;
        }
        self.summary.dma_events += 1;
        self.per_call[ev.call as usize] += 1;
        self.counts[d].events += 1;
        let cx = Cx {
            device: d,
            id: self.ids[d],
            site: self.sites.line(n),
            context: context.unwrap_or_default(),
            task: raw.task,
            flags: raw.flags,
        };
        match ev.call {
            DmaCall::MapPage | DmaCall::MapPhys | DmaCall::MapResource => self.map_single(&cx, ev),
            DmaCall::UnmapPage | DmaCall::UnmapPhys | DmaCall::UnmapResource => {
                let mut e = cx.event(Op::Unmap, ev.call, MapKind::Page);
                fill(&mut e, ev);
                if ev.call == DmaCall::UnmapResource {
                    e.attrs |= DmaAttrs::MMIO;
                }
                self.release(&cx, e);
            }
            DmaCall::Alloc | DmaCall::AllocPages => self.alloc(&cx, ev),
            DmaCall::Free | DmaCall::FreePages => {
                let kind = if ev.call == DmaCall::Free {
                    MapKind::Coherent
                } else {
                    MapKind::Noncoherent
                };
                let mut e = cx.event(Op::Unmap, ev.call, kind);
                fill(&mut e, ev);
                if kind == MapKind::Coherent && ev.virt_addr == Some(0) {
                    // dma_free_attrs() (kernel/dma/mapping.c) traces the free, then returns
                    // for a NULL `cpu_addr`: no allocation ends. Its WARN_ON(irqs_disabled())
                    // comes first, so the context is still checked.
                    self.summary.null_frees += 1;
                    let mut out = Findings::new();
                    rules::release::check_release_context(&e, &mut out);
                    return self.conclude(&cx, &e, &mut out);
                }
                if kind == MapKind::Coherent && !self.virt_unreliable {
                    e.cpu_addr = ev.virt_addr;
                }
                self.release(&cx, e);
            }
            DmaCall::AllocSgt => {
                let mut e = cx.event(Op::Map, ev.call, MapKind::Sg);
                fill(&mut e, ev);
                e.nents = Some(count(ev.phys_addrs.len()));
                e.mapped_ents = 1;
                self.summary.cache_unchecked += u64::from(e.dir != Direction::ToDevice);
                self.map(&cx, e, ev.gfp, false);
            }
            DmaCall::FreeSgt => {
                let mut e = cx.event(Op::Unmap, ev.call, MapKind::Sg);
                fill(&mut e, ev);
                e.nents = Some(count(ev.phys_addrs.len()));
                self.release(&cx, e);
            }
            DmaCall::AllocSgtErr => self.summary.failed += 1,
            DmaCall::MapSgErr => {
                self.summary.failed += 1;
                // This event's `dma_addrs` are the list's physical addresses.
                if let Some(&first) = ev.dma_addrs.first() {
                    if self.sg_failed.len() >= RELEASED_LISTS_AT_MOST {
                        self.sg_failed.clear();
                    }
                    self.sg_failed.insert((cx.id, first), cx.site);
                }
            }
            DmaCall::MapSg => self.map_sg(&cx, ev),
            DmaCall::UnmapSg => self.unmap_sg(&cx, ev),
            DmaCall::SyncSingleForCpu | DmaCall::SyncSingleForDevice => {
                let op = if ev.call == DmaCall::SyncSingleForCpu {
                    Op::SyncForCpu
                } else {
                    Op::SyncForDevice
                };
                let mut e = cx.event(op, ev.call, MapKind::Page);
                fill(&mut e, ev);
                self.sync(&cx, e);
            }
            DmaCall::SyncSgForCpu | DmaCall::SyncSgForDevice => {
                let op = if ev.call == DmaCall::SyncSgForCpu {
                    Op::SyncForCpu
                } else {
                    Op::SyncForDevice
                };
                let mut base = cx.event(op, ev.call, MapKind::Sg);
                base.dir = ev.dir.unwrap_or(Direction::None);
                base.nents = Some(count(ev.dma_addrs.len()));
                // Entries past the mapped count carry no segment (length 0).
                let segments: SmallVec<[(u64, u64); 4]> = ev
                    .dma_addrs
                    .iter()
                    .zip(&ev.sizes)
                    .filter(|&(_, &len)| len > 0)
                    .map(|(&addr, &len)| (addr, len))
                    .collect();
                base.dma_addr = segments.first().map_or(0, |s| s.0);
                self.sync_sg(&cx, &base, &segments);
            }
        }
    }

    fn map_single(&mut self, cx: &Cx<'_>, ev: &DmaEvent<'_>) {
        if ev.dma_addr == Some(DMA_MAPPING_ERROR) {
            self.summary.failed += 1;
            return;
        }
        let mut e = cx.event(Op::Map, ev.call, MapKind::Page);
        fill(&mut e, ev);
        if ev.call == DmaCall::MapResource {
            e.attrs |= DmaAttrs::MMIO;
        }
        let mut retire = false;
        if !e.attrs.contains(DmaAttrs::MMIO) {
            e.phys_addr = ev.phys_addr.filter(|p| p.checked_add(e.size).is_some());
            let counts = &mut self.counts[cx.device];
            if ev.phys_addr == Some(e.dma_addr) {
                retire = counts.direct_without_syncs();
            } else {
                counts.translated = true;
            }
        }
        if e.phys_addr.is_none() && e.dir != Direction::ToDevice {
            self.summary.cache_unchecked += 1;
        }
        self.map(cx, e, None, retire);
    }

    fn alloc(&mut self, cx: &Cx<'_>, ev: &DmaEvent<'_>) {
        if ev.virt_addr == Some(0) {
            self.summary.failed += 1;
            return;
        }
        if ev.virt_addr.is_none() {
            self.virt_unreliable = true;
        }
        let kind = if ev.call == DmaCall::Alloc {
            MapKind::Coherent
        } else {
            MapKind::Noncoherent
        };
        let mut e = cx.event(Op::Map, ev.call, kind);
        fill(&mut e, ev);
        if kind == MapKind::Coherent {
            e.cpu_addr = ev.virt_addr;
        } else if e.dir != Direction::ToDevice {
            self.summary.cache_unchecked += 1;
        }
        self.map(cx, e, ev.gfp, false);
    }

    /// A mapping begins: the argument rules, then the engine. `retire`: the device skips its
    /// unmaps (see [`DeviceCounts::direct_without_syncs`]), so the live mappings this one
    /// overlaps are retired first.
    fn map(&mut self, cx: &Cx<'_>, e: Event, gfp: Option<Gfp>, retire: bool) {
        let mut out = Findings::new();
        if let Some(gfp) = gfp {
            rules::context::check_alloc(&e, gfp, &mut out);
        }
        if rules::map::check_map_args(&e, &mut out) {
            if retire {
                self.retire_at(cx, e.dma_addr);
            }
            let inner = self.checker.inner();
            inner.record_map(&e, &mut out);
            if retire {
                self.retire_overlapped(cx, &e, &mut out);
            }
            // Kernel traces do not show dma_mapping_error, and `unmap-unchecked` is allowed in
            // a replay (see `build_checker`): entries are not marked as tested, which would
            // cost a second table lookup per map for a flag nothing reads.
            self.counts[cx.device].maps += 1;
            self.counts[cx.device].mapped_since_drain = true;
            let mmio = e.attrs.contains(DmaAttrs::MMIO);
            if mmio {
                self.mmio_lines
                    .insert(cx.site.trace().map_or(0, |t| t.line));
            }
            self.calls.saw(e.kind, mmio, e.call);
        }
        self.conclude(cx, &e, &mut out);
    }

    /// Retire the single mappings of the device that start at `addr`: on a device that
    /// skips its unmaps, a new map of a live address is the sign that the old mapping's I/O is
    /// over (dma-direct hands out the physical address itself, so only a buffer used again
    /// gives the same address).
    fn retire_at(&mut self, cx: &Cx<'_>, addr: u64) {
        let tracker = &self.checker.inner().tracker;
        let single = |e: &Entry| e.kind == MapKind::Page && !e.attrs.contains(DmaAttrs::MMIO);
        while tracker.update_first(cx.id, addr, single, |_| {}) {
            let rank = |e: &Entry| u32::from(single(e));
            if !matches!(
                tracker.remove(cx.id, addr, rank, &cx.site, "a map of the same address"),
                Lookup::Found(_)
            ) {
                break;
            }
            self.counts[cx.device].retired += 1;
        }
    }

    /// The same for mappings whose bytes the new one `e` maps again but that start elsewhere
    /// (a buffer used again at another offset): their `cacheline-overlap` findings go, and
    /// they are retired. Mappings that only share a cache line with it, bytes apart, are two
    /// live buffers: that finding stays.
    fn retire_overlapped(&mut self, cx: &Cx<'_>, e: &Event, out: &mut Findings) {
        let end = e.dma_addr.saturating_add(e.size);
        let tracker = &self.checker.inner().tracker;
        let mut retired = 0;
        out.retain(|f| {
            if !std::ptr::eq(f.rule, &rules::CACHELINE_OVERLAP) {
                return true;
            }
            let Some((site, _)) = f.mapped_at else {
                return true;
            };
            let Some(addr) = f.details.iter().find_map(|d| match d.value {
                Value::Addr(a) if d.key == "other_dma_addr" => Some(a),
                _ => None,
            }) else {
                return true;
            };
            let partner = |p: &Entry| {
                p.site == site
                    && p.kind == MapKind::Page
                    && !p.attrs.contains(DmaAttrs::MMIO)
                    && p.dma_addr < end
                    && e.dma_addr < p.dma_addr.saturating_add(p.size)
            };
            if !tracker.update_first(cx.id, addr, partner, |_| {}) {
                return true;
            }
            let rank = |e: &Entry| u32::from(partner(e));
            let gone = matches!(
                tracker.remove(cx.id, addr, rank, &cx.site, "a map of the same address"),
                Lookup::Found(_)
            );
            retired += u64::from(gone);
            !gone
        });
        self.counts[cx.device].retired += retired;
    }

    fn release(&mut self, cx: &Cx<'_>, e: Event) {
        let mut out = Findings::new();
        let released = self.checker.apply(&e, &mut out);
        if released.is_some() {
            self.counts[cx.device].releases += 1;
        }
        self.conclude(cx, &e, &mut out);
        if let Some(entry) = released.filter(|r| r.attrs.contains(DmaAttrs::MMIO)) {
            self.mmio_lines
                .remove(&entry.site.trace().map_or(0, |t| t.line));
        }
    }

    fn sync(&mut self, cx: &Cx<'_>, e: Event) {
        let mut out = Findings::new();
        self.checker.apply(&e, &mut out);
        self.counts[cx.device].syncs += 1;
        rules::sg::dedupe(&mut out);
        self.conclude(cx, &e, &mut out);
    }

    /// A sync of an sg list's DMA `segments`, reported once for the list.
    fn sync_sg(&mut self, cx: &Cx<'_>, list: &Event, segments: &[(u64, u64)]) {
        let mut out = Findings::new();
        let inner = self.checker.inner();
        inner.record_sync_sg(list, segments.iter().copied(), &mut out, |_, _| {});
        if list.dir.is_valid() {
            self.counts[cx.device].syncs += 1;
        }
        rules::sg::dedupe(&mut out);
        self.conclude(cx, list, &mut out);
    }

    fn map_sg(&mut self, cx: &Cx<'_>, ev: &DmaEvent<'_>) {
        let shown = ev.dma_addrs.len().min(ev.sizes.len());
        let nents = ev.nents.unwrap_or(count(ev.phys_addrs.len()));
        let ents = ev.ents.unwrap_or(count(shown));
        if ents == 0 || shown == 0 {
            self.summary.failed += 1;
            return;
        }
        let truncated = ev.truncated || (shown as u64) < u64::from(ents);
        // dma-direct maps each entry to its own physical address, without merging.
        if nents != ents || ev.phys_addrs.iter().zip(&ev.dma_addrs).any(|(p, d)| p != d) {
            self.counts[cx.device].translated = true;
        }
        // Each DMA segment is one entry of the list when none were merged (the full counts
        // agree): then the entry's physical address is known, also for the first 128 entries
        // of a list the kernel truncated.
        let one_to_one = nents == ents && ev.phys_addrs.len() == shown;
        let mut base = cx.event(Op::Map, ev.call, MapKind::Sg);
        base.dir = ev.dir.unwrap_or(Direction::None);
        base.attrs = ev.attrs;
        base.nents = Some(nents);
        base.mapped_ents = ents;
        base.dma_addr = ev.dma_addrs[0];
        let mut out = Findings::new();
        if !rules::map::check_direction(&base, &mut out) {
            return self.conclude(cx, &base, &mut out);
        }
        if !one_to_one && base.dir != Direction::ToDevice {
            self.summary.cache_unchecked += shown as u64;
        }
        let phys = |i: usize| {
            let size = ev.sizes[i];
            one_to_one
                .then(|| ev.phys_addrs[i])
                .filter(|p| p.checked_add(size).is_some())
        };
        let segments = self.checker.inner().record_map_sg(
            &base,
            (0..shown).map(|i| (ev.dma_addrs[i], ev.sizes[i], phys(i))),
            &mut out,
        );
        rules::sg::dedupe(&mut out);
        self.conclude(cx, &base, &mut out);
        if segments.is_empty() {
            return;
        }
        self.counts[cx.device].maps += 1;
        self.counts[cx.device].mapped_since_drain = true;
        self.calls.saw(MapKind::Sg, false, base.call);
        if truncated {
            self.summary.truncated_sg += 1;
            *self.truncated_live.entry(cx.id).or_default() += 1;
        }
        // The unmap names the list by its entries' physical addresses.
        if let Some(&first) = ev.phys_addrs.first() {
            let key = (cx.id, first);
            self.sg_failed.remove(&key);
            self.sg_released.remove(&key);
            self.sg_live.entry(key).or_default().push(SgList {
                segments,
                nents,
                dir: base.dir,
                truncated,
            });
        }
    }

    fn unmap_sg(&mut self, cx: &Cx<'_>, ev: &DmaEvent<'_>) {
        let nents = count(ev.phys_addrs.len());
        let mut base = cx.event(Op::Unmap, ev.call, MapKind::Sg);
        base.dir = ev.dir.unwrap_or(Direction::None);
        base.attrs = ev.attrs;
        base.nents = Some(nents);
        let mut out = Findings::new();
        if !base.dir.is_valid() {
            rules::map::check_direction(&base, &mut out);
        }
        let key = ev.phys_addrs.first().map(|&p| (cx.id, p));
        let list = key.and_then(|key| {
            let lists = self.sg_live.get_mut(&key)?;
            // The best match: same entry count and direction, then the oldest.
            let i = (0..lists.len())
                .rev()
                .max_by_key(|&i| {
                    (u32::from(lists[i].nents == nents) << 1) + u32::from(lists[i].dir == base.dir)
                })
                .unwrap_or(0);
            let list = lists.remove(i);
            if lists.is_empty() {
                self.sg_live.remove(&key);
            }
            Some(list)
        });
        if let Some(list) = list {
            base.dma_addr = list.segments[0].0;
            let released =
                self.checker
                    .inner()
                    .record_unmap_sg(&base, &list.segments, &mut out, |_, _| {});
            if list.truncated {
                if let Some(n) = self.truncated_live.get_mut(&cx.id) {
                    *n = n.saturating_sub(1);
                }
            }
            if released {
                self.counts[cx.device].releases += 1;
            }
            if let Some(key) = key {
                if self.sg_released.len() >= RELEASED_LISTS_AT_MOST {
                    self.sg_released.clear();
                }
                self.sg_released.insert(key, list.segments[0].0);
            }
        } else if let Some(failed) = key.and_then(|k| self.sg_failed.remove(&k)) {
            out.push(rules::sg::unmap_failed_map_in_trace(nents, &failed));
        } else if let Some(&first) = key.and_then(|k| self.sg_released.get(&k)) {
            base.dma_addr = first;
            let inner = self.checker.inner();
            inner.record_unmap_sg_again(&base, (first, base.size), &mut out);
        } else {
            let phys_addr = ev.phys_addrs.first().copied().unwrap_or(0);
            out.push(rules::release::unmap_unknown_list_in_trace(
                phys_addr, nents,
            ));
        }
        rules::sg::dedupe(&mut out);
        self.conclude(cx, &base, &mut out);
    }

    /// Judge the findings of one event: report, hold, or set aside (see [`Uncertainty`]).
    fn conclude(&mut self, cx: &Cx<'_>, ev: &Event, out: &mut Findings) {
        if out.is_empty() {
            return;
        }
        // Every unmap finds `unmap-unchecked`, allowed in a replay: drop such findings before
        // the work below (a shared handle on the checker costs two atomic operations).
        let reporter = &self.checker.inner().reporter;
        out.retain(|f| reporter.level(f.rule) != Level::Allow);
        if out.is_empty() {
            return;
        }
        let checker = self.checker.clone();
        let inner = checker.inner();
        let truncated = self.truncated_live.get(&ev.device).is_some_and(|&n| n > 0);
        let mut now = Findings::new();
        for mut f in out.drain(..) {
            if inner.reporter.level(f.rule) == Level::Allow {
                continue;
            }
            self.annotate(cx, ev, &mut f);
            match self.state.classify(ev, &f, truncated) {
                Verdict::Report => now.push(f),
                Verdict::Unknown => {
                    let example = self.example(ev, &f, "made before the trace began");
                    self.summary.unknown_to_trace.add(example);
                }
                Verdict::Uncertain(why) => {
                    let example = self.example(ev, &f, why);
                    self.summary.uncertain.add(example);
                }
                Verdict::Hold(since) => {
                    if let Some(h) = self.state.hold(ev.clone(), f, since) {
                        inner.finish(&h.ev, [h.finding].into_iter().collect());
                    }
                }
            }
        }
        if !now.is_empty() {
            inner.finish(ev, now);
        }
    }

    /// What a kernel developer needs besides the rule's own details: the task and context
    /// columns of the line, and for a release, the line that made what it released.
    fn annotate(&self, cx: &Cx<'_>, ev: &Event, f: &mut Finding) {
        f.details.push(Detail {
            key: "task",
            value: Value::Text(super::summary::printable(cx.task, 64)),
        });
        f.details.push(Detail {
            key: "context",
            value: Value::Text(context_text(cx.flags, ev.context)),
        });
        if let Some((site, call)) = &mut f.mapped_at {
            if self
                .mmio_lines
                .contains(&site.trace().map_or(0, |t| t.line))
            {
                *call = self.calls.mmio_name();
            }
        }
        if ev.op == Op::Unmap && f.mapped_at.is_none() {
            // The release found its entry: its tombstone, buried at this line, says where the
            // entry was made.
            let tomb = self
                .checker
                .inner()
                .tracker
                .tombstone(ev.device, ev.dma_addr);
            if let Some(t) = tomb.filter(|t| t.released_at == ev.site) {
                f.mapped_at = Some((t.mapped_at, t.mapped_by));
            }
        }
    }

    fn report_held(&self, ready: Vec<Held>) {
        let inner = self.checker.inner();
        for h in ready {
            inner.finish(&h.ev, [h.finding].into_iter().collect());
        }
    }

    fn example(&self, ev: &Event, f: &Finding, reason: &str) -> Example {
        let dma_addr = f
            .details
            .iter()
            .find(|d| d.key == "dma_addr")
            .and_then(|d| match d.value {
                Value::Addr(a) => Some(a),
                _ => None,
            })
            .unwrap_or(ev.dma_addr);
        Example {
            line: ev.site.trace().map_or(0, |t| t.line),
            device: self.checker.device_name(ev.device).to_string(),
            call: ev.call.to_string(),
            rule: f.rule.id.to_string(),
            dma_addr,
            reason: reason.to_string(),
        }
    }

    /// The end of the trace: report what is still held, and take the result.
    pub fn finish(mut self) -> super::TraceReplay {
        let ready = self.state.release(true);
        self.report_held(ready);
        let mut summary = std::mem::take(&mut self.summary);
        summary.lines = self.line;
        summary.from_start = self.state.covers_start();
        for (call, &n) in DmaCall::ALL.iter().zip(&self.per_call) {
            if n > 0 {
                summary.events.insert(call.name().to_string(), n);
            }
        }
        let violations = self.checker.violations();
        let live = self.checker.live_entries();
        let mut skipping = Vec::new();
        for (i, c) in self.counts.iter().enumerate() {
            let name = super::summary::printable(&self.names[i], usize::MAX);
            let mine = live.iter().filter(|e| e.device == self.ids[i]);
            if c.skips_unmaps() {
                skipping.push(self.ids[i]);
                summary.unmaps_skipped.push(SkippedUnmaps {
                    device: name.clone(),
                    retired: c.retired,
                    live_at_end: mine.clone().filter(|e| skipped_unmap(e)).count() as u64,
                });
            }
            summary.devices.push(DeviceSummary {
                violations: violations.iter().filter(|v| v.device == name).count() as u64,
                live_at_end: mine.clone().count() as u64,
                live_bytes: mine.map(|e| e.size).sum(),
                name,
                events: c.events,
                maps: c.maps,
                releases: c.releases,
                syncs: c.syncs,
            });
        }
        super::TraceReplay::new(
            self.checker,
            summary,
            &skipping,
            self.leaks,
            self.calls,
            self.file,
        )
    }
}

/// The flags column and what it means: `d.s1. (IRQs off, softirq)`.
fn context_text(flags: &[u8], cx: CallContext) -> String {
    if flags.is_empty() {
        return "unknown (the trace has no flags column)".into();
    }
    let mut parts = Vec::new();
    if cx.irqs_disabled {
        parts.push("IRQs off");
    }
    if cx.hardirq {
        parts.push("hard IRQ");
    }
    if cx.softirq {
        parts.push("softirq");
    }
    if parts.is_empty() {
        parts.push(if cx.atomic {
            "preemption off"
        } else {
            "process context"
        });
    }
    format!(
        "{} ({})",
        super::summary::printable(flags, 16),
        parts.join(", ")
    )
}

/// Whether two device names are the same: those of 8 to 16 bytes (PCI addresses,
/// `0000:00:05.0`) as two words, without a call to `memcmp` on every event.
#[inline(always)]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (a.first_chunk::<8>(), a.last_chunk::<8>()) {
        (Some(a_first), Some(a_last)) if a.len() <= 16 => {
            b.first_chunk::<8>() == Some(a_first) && b.last_chunk::<8>() == Some(a_last)
        }
        _ => a == b,
    }
}

/// Whether a live entry is a single mapping whose unmap a device that skips unmaps leaves out
/// (coherent allocations and sg lists are always released).
pub(crate) fn skipped_unmap(e: &Entry) -> bool {
    e.kind == MapKind::Page && !e.attrs.contains(DmaAttrs::MMIO)
}

/// What every event of one trace line shares.
struct Cx<'a> {
    device: usize,
    id: DeviceId,
    site: Site,
    context: CallContext,
    /// The task and flags columns, as written, for the line's findings.
    task: &'a [u8],
    flags: &'a [u8],
}

impl Cx<'_> {
    fn event(&self, op: Op, call: DmaCall, kind: MapKind) -> Event {
        Event::in_context(op, call.name(), kind, self.id, self.site, self.context)
    }
}

/// The single-address fields of a trace event.
fn fill(e: &mut Event, ev: &DmaEvent<'_>) {
    e.dma_addr = ev.dma_addr.unwrap_or(0);
    e.size = ev.size.unwrap_or(0);
    // Coherent calls of 6.12 print no direction.
    e.dir = ev.dir.unwrap_or(Direction::Bidirectional);
    e.attrs = ev.attrs;
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The replay's checker: levels from the defaults, `DMACHECK` (when asked) and the options'
/// spec, reporting deny-level findings without panicking, and `unmap-unchecked` allowed.
fn build_checker(o: &TraceOptions) -> Result<Checker, ConfigError> {
    if o.read_env {
        if let Ok(spec) = std::env::var(ENV_VAR) {
            // A mistyped directive is an error here, as it is for every checker (which would
            // panic in `build`): the command says so and exits instead.
            if let Some(e) = Config::default().apply_spec(&spec).into_iter().next() {
                return Err(e);
            }
        }
    }
    let mut builder = Checker::builder().env(o.read_env);
    if let Some(spec) = &o.spec {
        builder = builder.spec(spec)?;
    }
    // The replay's report is the command's output; `DMACHECK_REPORT` is for test checkers.
    Ok(builder
        .report_on_drop(false)
        .print(false)
        .digests(false)
        .panic_at_deny(false)
        .memory(MemoryConfig {
            size: 16 * PAGE_SIZE,
            ..MemoryConfig::default()
        })
        .level(&rules::UNMAP_UNCHECKED, Level::Allow)
        .build())
}

#[cfg(test)]
mod tests {
    use super::same_name;

    #[test]
    fn device_names_compare_by_every_byte() {
        let pci = b"0000:00:05.0";
        assert!(same_name(pci, b"0000:00:05.0"));
        // A difference in the middle, the first or the last byte, or the length.
        for other in [
            &b"0000:01:05.0"[..],
            b"1000:00:05.0",
            b"0000:00:05.1",
            b"0000:00:05.00",
            b"0000:00:05",
        ] {
            assert!(!same_name(pci, other), "{other:?}");
        }
        // Shorter and longer names than two words.
        assert!(same_name(b"sda", b"sda") && !same_name(b"sda", b"sdb"));
        let long = b"virtio-pci-0000:00:05.0-long";
        assert!(same_name(long, long) && !same_name(long, b"virtio-pci-0000:00:05.0-lonG"));
    }
}
