//! The checker: all state of one checking context (entries, devices, memory, counters,
//! violations), and the engine that applies recorded events to it.
//!
//! The engine is where every source of events meets: the shim records live calls here, and
//! replayed traces and models record theirs the same way. Three functions do the checking work,
//! as in the kernel's dma-debug: one for "a mapping begins", one for "a mapping ends" and one for
//! "ownership moves"; every finding leaves through [`CheckerInner::finish`].

use std::collections::HashMap;
use std::fmt::Write as _;

use smallvec::SmallVec;

use crate::backend::{
    Backend, BounceBackend, DirectBackend, IommuBackend, MemoryConfig, PhysMemory,
};
use crate::config::{ConfigError, ENV_VAR};
use crate::device::DeviceBuilder;
use crate::event::{DeviceId, Event, Op};
use crate::faults::{FaultInjector, FaultSpec};
use crate::origin::VmallocArea;
use crate::report::{Findings, Reporter, Stats, Violation};
use crate::rules::{self, Level, Rule};
use crate::site::Site;
use crate::sync::process::LazyLock;
use crate::sync::{Arc, AtomicU32, AtomicU64, OnceLock, Ordering, RwLock};
use crate::tracker::{Entry, Lookup, Owner, Ranges, Tracker};
use crate::{Config, DMA_CACHE_ALIGNMENT, DmaAddr, MapKind, PhysAddr};

mod exit;
pub mod trap;

type BackendFactory = Box<dyn FnOnce(Arc<PhysMemory>) -> Box<dyn Backend>>;
type Setting = Box<dyn FnOnce(&mut Config)>;
/// The call of a device release by its last handle's drop.
pub(crate) const LAST_HANDLE_DROPPED: &str = "device_release (last handle dropped)";
/// A device's name and driver name.
type DeviceNames = (Arc<str>, Arc<str>);

/// A checking context. Cheap to clone; clones share everything.
///
/// Tests make their own with [`Checker::new`] (isolated from every other checker); the C ABI
/// and drop-in adapters use [`Checker::global`].
///
/// ```
/// use dmacheck::*;
///
/// let checker = Checker::builder().env(false).build();
/// let dev = checker.device("eth0").driver("demo").build();
/// let buf = kmalloc(&checker, 1536, Gfp::KERNEL);
/// let dma = dma_map_single(&dev, buf, 1536, Direction::FromDevice);
/// assert_eq!(dma_mapping_error(&dev, dma), 0);
/// dma_sync_single_for_cpu(&dev, dma, 1536, Direction::FromDevice);
/// dma_unmap_single(&dev, dma, 1536, Direction::FromDevice);
/// kfree(&checker, buf);
/// checker.assert_clean();
/// ```
#[derive(Clone)]
pub struct Checker(pub(crate) Arc<CheckerInner>);

/// What a device release took from the table: its entries, and the grouped leak summary to
/// print after them.
pub(crate) struct DrainedDevice {
    leaked: Vec<Entry>,
    /// The leaked entries grouped by the site and call that made them.
    groups: Vec<rules::lifetime::LeakGroup>,
    summary: Option<String>,
}

pub(crate) struct CheckerInner {
    pub(crate) config: Config,
    pub(crate) tracker: Tracker,
    pub(crate) memory: Arc<PhysMemory>,
    /// The backend of devices that choose none.
    pub(crate) backend: Arc<dyn Backend>,
    /// The IOMMU shared by devices that choose it, made on first use.
    iommu: OnceLock<Arc<dyn Backend>>,
    /// The bounce-buffer pool shared by devices that choose it, made on first use.
    bounce: OnceLock<Arc<dyn Backend>>,
    pub(crate) faults: FaultInjector,
    /// The `vmalloc` analog's blocks.
    pub(crate) vmalloc: VmallocArea,
    /// The error count when violations were last taken.
    acknowledged: AtomicU64,
    /// Taken for writing while a device release moves entries from the table to the released
    /// leaks, for reading while a leak report looks at both.
    pub(crate) release_gate: RwLock<()>,
    /// Live `dma_alloc_noncoherent` buffers.
    pub(crate) noncoherent: crate::state::noncoherent::NoncoherentBuffers,
    /// CMA areas, the first being the default.
    pub(crate) cma_areas: crate::sync::Mutex<Vec<crate::state::cma::CmaArea>>,
    /// User mappings of coherent buffers.
    pub(crate) user_maps: crate::state::mmap::UserMaps,
    /// Live streaming mappings whose memory was freed.
    pub(crate) freed: crate::state::freed::FreedMappings,
    pub(crate) reporter: Reporter,
    devices: RwLock<HashMap<DeviceId, DeviceNames>>,
    next_device: AtomicU32,
    /// The test this checker checks: the name of the thread that made it, for any checker but
    /// the process-wide one (libtest names each test's thread after the test).
    pub(crate) test_name: Option<String>,
    /// Write the report to `DMACHECK_REPORT`'s destinations when the last handle drops.
    report_on_drop: bool,
    /// Panic at the call of a deny-level finding (see [`CheckerBuilder::panic_at_deny`]).
    panic_at_deny: bool,
}

impl Drop for CheckerInner {
    fn drop(&mut self) {
        trap::forget(self);
        if self.config.exit_code.is_some() {
            exit::count_dropped_findings(self);
        }
        if self.report_on_drop {
            exit::write_drop_report(self);
        }
    }
}

// A checker stays consistent across a panic: findings are reported, and a deny-level panic
// raised, only after the call was carried out, and no lock is held while panicking. So it may
// be used across `catch_unwind`, as fuzzers and deny-level tests do.
impl std::panic::UnwindSafe for Checker {}
impl std::panic::RefUnwindSafe for Checker {}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("backend", &self.0.backend.name())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

static GLOBAL: LazyLock<Checker> = LazyLock::new(|| {
    let mut builder = Checker::builder();
    builder.global = true;
    let checker = builder.build();
    // The process-wide checker reports at exit (`DMACHECK_REPORT`), with no code change.
    exit::register_exit_report();
    checker
});

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    /// A checker with the default settings, adjusted by `DMACHECK`.
    ///
    /// # Panics
    ///
    /// When `DMACHECK` holds a directive that is not understood (see
    /// [`CheckerBuilder::build`]).
    #[track_caller]
    pub fn new() -> Checker {
        Checker::builder().build()
    }

    /// Configure a checker.
    pub fn builder() -> CheckerBuilder {
        CheckerBuilder::default()
    }

    /// The process-wide checker, made on first use with the default settings and `DMACHECK`.
    pub fn global() -> &'static Checker {
        &GLOBAL
    }

    /// Start making a device of this checker.
    pub fn device(&self, name: &str) -> DeviceBuilder {
        DeviceBuilder::new(self.clone(), name)
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The simulated physical memory behind the DMA-able heap and the backend.
    pub fn memory(&self) -> &PhysMemory {
        &self.0.memory
    }

    /// The backend of devices made without choosing one (the direct backend, unless the
    /// builder set another).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.0.backend
    }

    /// The checker's bounce buffering (swiotlb): one [`BounceBackend`] pool shared by the
    /// devices made with [`DeviceBuilder::bounce`], or by all with
    /// [`CheckerBuilder::force_bounce`].
    pub fn bounce(&self) -> &Arc<dyn Backend> {
        self.0
            .bounce
            .get_or_init(|| Arc::new(BounceBackend::new(self.0.memory.clone())))
    }

    /// The checker's IOMMU: one [`IommuBackend`] with an address space per device, shared by
    /// the devices made with [`DeviceBuilder::iommu`].
    pub fn iommu(&self) -> &Arc<dyn Backend> {
        self.0
            .iommu
            .get_or_init(|| Arc::new(IommuBackend::new(self.0.memory.clone())))
    }

    /// The violations reported so far (up to the `keep` limit), oldest first.
    pub fn violations(&self) -> Vec<Violation> {
        self.0.reporter.violations()
    }

    /// Take the violations reported so far, leaving none (counters are kept). Taken violations
    /// count as seen: [`Checker::assert_no_violations`] looks only at later ones.
    pub fn take_violations(&self) -> Vec<Violation> {
        let taken = self.0.reporter.take();
        self.0
            .acknowledged
            .store(self.0.reporter.errors(), Ordering::Relaxed);
        taken
    }

    /// How many times `rule` was reported.
    pub fn count(&self, rule: &'static Rule) -> u64 {
        self.0.reporter.count(rule)
    }

    /// How many violations were reported, leaks included (the kernel's `error_count`).
    pub fn error_count(&self) -> u64 {
        self.0.reporter.errors()
    }

    /// Counters: errors, live and peak entries, per-rule counts.
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }

    /// How many failures fault injection has injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.0.faults.injected()
    }

    /// The entries live now, of every device, sorted by device and address.
    pub fn live_entries(&self) -> Vec<Entry> {
        self.0.tracker.snapshot(None)
    }

    /// The name of a device of this checker.
    pub fn device_name(&self, id: DeviceId) -> Arc<str> {
        self.0.names(id).0
    }

    /// Report every live entry as a [`leak`](crate::rules::LEAK) (entries stay live); returns
    /// how many there were.
    #[track_caller]
    pub fn check_leaks(&self) -> usize {
        let site = self.capture_site();
        let live = self.live_entries();
        // Sorted by device: each device's entries reported as its release would report them.
        for of_device in live.chunk_by(|a, b| a.device == b.device) {
            let first = &of_device[0];
            let ev = Event::new(Op::Release, "check_leaks", first.kind, first.device, site);
            self.0.finish(&ev, rules::lifetime::leaks(of_device));
        }
        live.len()
    }

    /// Panic, listing them, if any violation was reported.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let text = self.violations_text();
        assert!(text.is_empty(), "{text}");
    }

    /// Panic, listing them, if any entry is still live.
    #[track_caller]
    pub fn assert_no_leaks(&self) {
        let text = self.leaks_text();
        assert!(text.is_empty(), "{text}");
    }

    /// Panic if any violation was reported or any entry is still live: the one assertion that
    /// ends a test.
    #[track_caller]
    pub fn assert_clean(&self) {
        let text = self.violations_text() + &self.leaks_text();
        assert!(text.is_empty(), "{text}");
    }

    fn violations_text(&self) -> String {
        let kept = self.violations();
        let total = self.error_count() - self.0.acknowledged.load(Ordering::Relaxed);
        if total == 0 {
            return String::new();
        }
        let mut s = format!("dmacheck: {total} violation(s) reported\n");
        for v in &kept {
            let _ = writeln!(s, "{v}");
        }
        if (kept.len() as u64) < total {
            let _ = writeln!(s, "({} more not kept)", total - kept.len() as u64);
        }
        s
    }

    fn leaks_text(&self) -> String {
        let live = self.live_entries();
        if live.is_empty() {
            return String::new();
        }
        let mut s = format!("dmacheck: {} DMA entries still live\n", live.len());
        for e in &live {
            let _ = writeln!(
                s,
                "  {} {} [dma_addr={:#x} size={} dir={}] on {}, mapped by {} at {}",
                e.kind,
                if e.kind == crate::MapKind::Coherent {
                    "allocation"
                } else {
                    "mapping"
                },
                e.dma_addr,
                e.size,
                e.dir,
                self.device_name(e.device),
                e.mapped_by(),
                e.site
            );
        }
        s
    }

    /// The caller's site, with a stack if the configuration asks for one.
    #[track_caller]
    #[inline]
    pub(crate) fn capture_site(&self) -> Site {
        let config = &self.0.config;
        if config.exact_stacks {
            Site::capture_exact(config.stack_depth)
        } else {
            Site::capture(config.stack_depth)
        }
    }

    pub(crate) fn register_device(&self, name: Arc<str>, driver: Arc<str>) -> DeviceId {
        let id = DeviceId(self.0.next_device.fetch_add(1, Ordering::Relaxed));
        self.0.devices.write().insert(id, (name, driver));
        id
    }

    #[track_caller]
    pub(crate) fn release_device(&self, id: DeviceId, site: Site, call: &'static str) {
        let drained = self.drain_device(id);
        self.report_release(id, drained, site, call);
    }

    /// Take a released device's entries from the table. The caller holds the device's release
    /// gate (a live device), so no call on it is between its check and its record.
    pub(crate) fn drain_device(&self, id: DeviceId) -> DrainedDevice {
        let (device, driver) = self.0.names(id);
        // Drained and recorded as released leaks in one step, so a leak report taken meanwhile
        // sees the entries in one place or the other (loom found the window between them).
        let _gate = self.0.release_gate.write();
        let leaked = self.0.tracker.drain_device(id);
        self.0.freed.device_released(id);
        // Grouped once, for both the leak table and the violations.
        let groups = rules::lifetime::group_leaks(&leaked);
        let reporter = &self.0.reporter;
        let summary = reporter.record_release_leaks(&device, &driver, &groups, &self.0.config);
        DrainedDevice {
            leaked,
            groups,
            summary,
        }
    }

    /// Report the leaks of a drained device, outside every lock (a deny level panics here).
    #[track_caller]
    pub(crate) fn report_release(
        &self,
        id: DeviceId,
        drained: DrainedDevice,
        site: Site,
        call: &'static str,
    ) {
        let DrainedDevice {
            leaked,
            groups,
            summary,
        } = drained;
        // Released by its last handle's drop, which has no caller to name: a short stack, taken
        // only when something leaked, shows where (its first frame outside dmacheck).
        let site = if call == LAST_HANDLE_DROPPED && !leaked.is_empty() && site.stack().is_none() {
            Site::capture_exact(self.0.config.stack_depth.max(8))
        } else {
            site
        };
        // One batch, one violation per site that made leaked entries: the device's names are
        // looked up once, and a million leaks from a few sites are a few violations.
        if let Some(first) = leaked.first() {
            let ev = Event::new(Op::Release, call, first.kind, id, site);
            self.0
                .finish(&ev, rules::lifetime::leak_findings(&groups, &leaked));
        }
        let areas = self.0.cma_areas.lock().clone();
        let cma: Vec<_> = crate::state::cma::take_live(&areas, id)
            .into_iter()
            .map(|(pfn, pages, site)| rules::lifetime::cma_leak(pfn, pages, &site))
            .collect();
        if !cma.is_empty() {
            let ev = Event::new(Op::Release, call, crate::MapKind::Coherent, id, site);
            self.0.finish(&ev, cma.into_iter().collect());
        }
        // The grouped summary follows the individual leaks, printed outside the gate.
        if let Some(text) = summary {
            eprint!("{text}");
        }
    }

    /// Drop a device's live entries without reporting them (its last handle dropped while
    /// unwinding from a panic).
    pub(crate) fn forget_device(&self, id: DeviceId) {
        let _gate = self.0.release_gate.write();
        self.0.tracker.drain_device(id);
        self.0.freed.device_released(id);
    }

    /// Apply a recorded event (from a trace or a model) to the tracker and the rules, and report
    /// what they find. Returns the entry a release ended. Nothing is carried out on a backend.
    ///
    /// Events are judged exactly as live calls are; a source that cannot see
    /// `dma_mapping_error` calls (a kernel trace) records a [`Op::MappingErrorCheck`] after each
    /// successful map, or allows [`unmap-unchecked`](crate::rules::UNMAP_UNCHECKED).
    #[track_caller]
    pub fn record(&self, ev: &Event) -> Option<Entry> {
        let mut out = Findings::new();
        let ended = self.apply(ev, &mut out);
        self.0.finish(ev, out);
        ended
    }

    /// [`record`](Self::record) without the reporting: the findings are left in `out`, for a
    /// source that judges them before they go out through [`CheckerInner::finish`] (trace
    /// replay sets aside what lost events may explain).
    #[track_caller]
    pub(crate) fn apply(&self, ev: &Event, out: &mut Findings) -> Option<Entry> {
        match ev.op {
            Op::Map => {
                if rules::map::check_map_args(ev, out) {
                    self.0.record_map(ev, out);
                }
                None
            }
            Op::Unmap => self.0.record_release(ev, out),
            Op::SyncForCpu | Op::SyncForDevice => {
                self.0.record_sync(ev, out);
                None
            }
            Op::MappingErrorCheck => {
                self.0.record_error_check(ev.device, ev.dma_addr);
                None
            }
            Op::Release => {
                self.release_device(ev.device, ev.site, ev.call);
                None
            }
            Op::MemoryAlloc
            | Op::MemoryFree
            | Op::SgAccess
            | Op::DeviceRead
            | Op::DeviceWrite
            | Op::CpuRead
            | Op::CpuWrite
            | Op::Configure => None,
        }
    }

    pub(crate) fn inner(&self) -> &CheckerInner {
        &self.0
    }
}

impl CheckerInner {
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            errors: self.reporter.errors(),
            live_entries: self.tracker.live(),
            peak_entries: self.tracker.peak(),
            per_rule: self.reporter.per_rule(),
        }
    }

    pub(crate) fn names(&self, id: DeviceId) -> DeviceNames {
        if id == DeviceId::NONE {
            return ("".into(), "".into());
        }
        self.devices
            .read()
            .get(&id)
            .cloned()
            .unwrap_or_else(|| (format!("device#{}", id.0).into(), "unknown".into()))
    }

    /// A mapping or allocation begins: one new entry.
    #[inline]
    pub(crate) fn record_map(&self, ev: &Event, out: &mut Findings) {
        let mut entry = Entry {
            device: ev.device,
            kind: ev.kind,
            call: ev.kind.call_index(ev.call),
            dir: ev.dir,
            error_checked: false,
            attrs: ev.attrs,
            dma_addr: ev.dma_addr,
            size: ev.size,
            cpu_addr: ev.cpu_addr.unwrap_or(0),
            sg_nents: ev.nents.unwrap_or(0),
            sg_mapped_ents: ev.mapped_ents,
            owner: Owner::Device,
            cpu_ranges: Ranges::default(),
            digest: None,
            cpu_wrote: false,
            handed_at: ev.site,
            cache_lines: self.cache_lines(ev),
            site: ev.site,
        };
        if ev.kind == MapKind::Noncoherent {
            // The driver fills noncoherent memory before it hands it to the device.
            entry.cpu_ranges.add(0, entry.size);
            entry.owner = Owner::Cpu;
        }
        entry.digest = self.device_part_digest(&entry);
        let overlaps = self.tracker.insert(&entry);
        trap::hand_over(self, &entry);
        let line = DMA_CACHE_ALIGNMENT as u64;
        rules::cache::check_overlap(ev, &overlaps, line, out);
    }

    /// A fingerprint of the CPU's bytes of the parts of a streaming mapping the device owns,
    /// where the checker can read them and the configuration asks for it.
    #[inline]
    pub(crate) fn device_part_digest(&self, e: &Entry) -> Option<u64> {
        self.device_part_digest_with(e, None)
    }

    /// [`CheckerInner::device_part_digest`], or with `written` (bytes about to be written at a
    /// physical address) as it will be once they are.
    fn device_part_digest_with(
        &self,
        e: &Entry,
        written: Option<(PhysAddr, &[u8])>,
    ) -> Option<u64> {
        if !self.config.digests || e.kind == MapKind::Coherent || e.cpu_addr == 0 {
            return None;
        }
        self.digest_device_part(e, written)
    }

    /// [`device_part_digest_with`](Self::device_part_digest_with) of an entry that has one.
    #[inline(never)]
    fn digest_device_part(&self, e: &Entry, written: Option<(PhysAddr, &[u8])>) -> Option<u64> {
        let phys = self.memory.phys_of_addr(e.cpu_addr, e.size).ok()?;
        let parts = e.cpu_ranges.complement(e.size);
        let digest = self.memory.digest_parts_with(
            parts
                .iter()
                .map(|&(start, end)| (phys + start, end - start)),
            written,
        )?;
        // 32 bits, as the tracker stores them: a missed change is a 1-in-4-billion chance, and
        // an unchanged buffer always matches.
        Some(digest & u64::from(u32::MAX))
    }

    /// Something is about to write `data` at physical `at`, behind the CPU's view of some
    /// streaming buffers (the device, into memory it shares with the CPU; or a checked CPU
    /// write): one scan takes the write into the entries over it ([`CheckerInner::take_write`]),
    /// then the bytes are written. `None` if they are not inside the memory.
    pub(crate) fn write_tracked(&self, at: PhysAddr, data: &[u8]) -> Option<()> {
        if self.config.digests {
            let end = at + data.len() as u64;
            // Only fingerprinted entries over the written bytes are decoded.
            let over = |g: crate::tracker::Glance| {
                g.digested
                    && self
                        .memory
                        .phys_of_addr(g.cpu_addr, g.size)
                        .is_ok_and(|phys| phys < end && at < phys + g.size)
            };
            self.tracker
                .update_where(over, |e| self.take_write(e, at, data));
        }
        self.memory.write(at, data)
    }

    /// `data` is about to be written at physical `at`, over some of `e`'s bytes: note any CPU
    /// write to a device-owned part since the last fingerprint (reported at the next
    /// hand-back), then fingerprint those parts as the write will leave them, so the write
    /// itself is never taken for a CPU write and needs no second scan.
    pub(crate) fn take_write(&self, e: &mut Entry, at: PhysAddr, data: &[u8]) {
        if e.digest.is_none() {
            return;
        }
        if e.digest != self.device_part_digest(e) {
            e.cpu_wrote = true;
        }
        e.digest = self.device_part_digest_with(e, Some((at, data)));
    }

    /// The CPU cache lines (physical line numbers) of a new mapping the device may write.
    #[inline]
    fn cache_lines(&self, ev: &Event) -> Option<(u64, u64)> {
        let writable = ev.kind != MapKind::Coherent && ev.dir != crate::Direction::ToDevice;
        let phys = match ev.phys_addr {
            // A source that knows the physical address (a kernel trace) gives it.
            Some(phys) if writable => phys,
            _ => {
                let cpu = ev.cpu_addr.filter(|&a| a != 0 && writable)?;
                self.memory.phys_of_addr(cpu, ev.size).ok()?
            }
        };
        let line = DMA_CACHE_ALIGNMENT as u64;
        Some((phys / line, (phys + ev.size.max(1)).div_ceil(line)))
    }

    /// A mapping or allocation ends: find it, judge the release against it, and hand it back so
    /// the caller can release what was really mapped.
    pub(crate) fn record_release(&self, ev: &Event, out: &mut Findings) -> Option<Entry> {
        self.record_release_with(ev, out, |entry, _| entry.clone())
    }

    /// [`record_release`](Self::record_release), showing the ended entry (with `out`) to
    /// `carry_out`, which releases what it says was made, and returning what that returns.
    /// Inlined into its callers with `carry_out`: the entry is large, and returned through
    /// calls it was copied at each.
    #[inline(always)]
    pub(crate) fn record_release_with<R>(
        &self,
        ev: &Event,
        out: &mut Findings,
        carry_out: impl FnOnce(&Entry, &mut Findings) -> R,
    ) -> Option<R> {
        rules::release::check_release_context(ev, out);
        if rules::release::check_mapping_error_release(ev, out) {
            return None;
        }
        trap::report_pending(self);
        let rank = |e: &Entry| rules::release::match_rank(ev, e);
        let removed =
            self.tracker
                .remove_with(ev.device, ev.dma_addr, rank, &ev.site, ev.call, |entry| {
                    trap::lift(self, entry);
                    self.freed.unmapped(entry);
                    // Looked up (a search of the rule list) only for an entry never tested, the one
                    // case the rule judges.
                    let unchecked_reported = !entry.error_checked
                        && self.reporter.level(&rules::UNMAP_UNCHECKED) != Level::Allow;
                    rules::release::check_release(ev, entry, unchecked_reported, out);
                    rules::ownership::check_handback(entry, self.device_part_digest(entry), out);
                    carry_out(entry, out)
                });
        let other = match removed {
            Lookup::Found(carried_out) => return Some(carried_out),
            Lookup::OtherDevice(other) => Some(*other),
            Lookup::Missing => None,
        };
        self.report_missing_or_foreign(ev, other.as_ref(), out, rules::release::check_missing);
        None
    }

    /// Ownership moves: judge the sync against the mapping containing its start. Returns the
    /// part of the requested range inside that mapping, which is what may be carried out.
    pub(crate) fn record_sync(&self, ev: &Event, out: &mut Findings) -> Option<(DmaAddr, u64)> {
        if !rules::map::check_direction(ev, out) {
            return None;
        }
        trap::report_pending(self);
        let rank = |e: &Entry| rules::sync::match_rank(ev, e);
        let found = self
            .tracker
            .update_containing(ev.device, ev.dma_addr, rank, |e| {
                trap::lift(self, e);
                rules::sync::check_sync(ev, e, out);
                rules::ownership::check_handback(e, self.device_part_digest(e), out);
                e.cpu_wrote = false;
                // Ownership moves for the part of the mapping the sync names.
                let rel_start = ev
                    .dma_addr
                    .saturating_add(ev.offset)
                    .saturating_sub(e.dma_addr)
                    .min(e.size);
                let rel_end = rel_start.saturating_add(ev.size).min(e.size);
                if ev.op == Op::SyncForCpu {
                    e.cpu_ranges.add(rel_start, rel_end);
                } else {
                    e.cpu_ranges.remove(rel_start, rel_end);
                    e.handed_at = ev.site;
                }
                e.owner = if e.cpu_ranges.covers(0, e.size) {
                    Owner::Cpu
                } else {
                    Owner::Device
                };
                e.digest = self.device_part_digest(e);
                trap::hand_over(self, e);
                // The part of the requested range that lies inside the mapping.
                let entry_end = e.dma_addr.saturating_add(e.size);
                let start = ev.dma_addr.saturating_add(ev.offset).min(entry_end);
                let end = ev.dma_range().map_or(entry_end, |r| r.end.min(entry_end));
                (start, end - start)
            });
        let other = match found {
            Lookup::Found(range) => return Some(range),
            Lookup::OtherDevice(other) => Some(*other),
            Lookup::Missing => None,
        };
        self.report_missing_or_foreign(ev, other.as_ref(), out, rules::sync::check_missing);
        None
    }

    /// No entry of the event's device was found. A remembered release of the device's own
    /// entry explains it best (a double release, a sync after unmap); then another device's
    /// entry at that address; then nothing: an unknown address.
    fn report_missing_or_foreign(
        &self,
        ev: &Event,
        other: Option<&Entry>,
        out: &mut Findings,
        missing: fn(&Event, Option<&crate::tracker::Tombstone>, &mut Findings),
    ) {
        // A release names a mapping by its start; a sync may name any address inside one.
        let tomb = if ev.op == Op::Unmap {
            self.tracker.tombstone(ev.device, ev.dma_addr)
        } else {
            self.tracker.tombstone_containing(ev.device, ev.dma_addr)
        };
        match (tomb, other) {
            (None, Some(other)) => {
                let (name, _) = self.names(other.device);
                rules::release::check_other_device(ev, other, &name, out);
            }
            (tomb, _) => missing(ev, tomb.as_ref(), out),
        }
    }

    /// An sg list is mapped: each of its DMA segments (address, length, and physical address
    /// where the source knows it) begins an entry of its own, of the list's event (kind `Sg`,
    /// with its `nents` and returned count). Returns the segments recorded.
    pub(crate) fn record_map_sg(
        &self,
        list: &Event,
        segments: impl IntoIterator<Item = (DmaAddr, u64, Option<PhysAddr>)>,
        out: &mut Findings,
    ) -> SmallVec<[(DmaAddr, u64); 4]> {
        let mut recorded = SmallVec::new();
        for (dma_addr, size, phys_addr) in segments {
            let mut seg = sg_segment(list, (dma_addr, size));
            seg.phys_addr = phys_addr;
            if rules::map::check_map_range(&seg, dma_addr, out) {
                self.record_map(&seg, out);
                recorded.push((dma_addr, size));
            }
        }
        recorded
    }

    /// A mapped sg list is unmapped: each DMA segment's entry ends, and `carry_out` releases
    /// what that entry says was made. Returns whether any entry ended.
    pub(crate) fn record_unmap_sg(
        &self,
        list: &Event,
        segments: &[(DmaAddr, u64)],
        out: &mut Findings,
        mut carry_out: impl FnMut(&Entry, &mut Findings),
    ) -> bool {
        let mut released = false;
        for &seg in segments {
            let ended = self.record_release_with(&sg_segment(list, seg), out, |entry, out| {
                carry_out(entry, out);
            });
            released |= ended.is_some();
        }
        released
    }

    /// An sg list unmapped before is unmapped again (`first`: its first DMA segment then).
    /// Only the record of the earlier unmap is consulted: the addresses may have been handed
    /// out again, and the new mappings are not this list's to touch.
    pub(crate) fn record_unmap_sg_again(
        &self,
        list: &Event,
        first: (DmaAddr, u64),
        out: &mut Findings,
    ) {
        let ev = sg_segment(list, first);
        let tomb = self.tracker.tombstone(ev.device, ev.dma_addr);
        rules::release::check_missing(&ev, tomb.as_ref(), out);
    }

    /// An sg list unmapped before is synced (`first`: its first DMA segment then), judged as
    /// [`record_unmap_sg_again`](Self::record_unmap_sg_again) judges an unmap.
    pub(crate) fn record_sync_sg_again(
        &self,
        list: &Event,
        first: (DmaAddr, u64),
        out: &mut Findings,
    ) {
        let ev = sg_segment(list, first);
        let tomb = self.tracker.tombstone(ev.device, ev.dma_addr);
        rules::sync::check_missing(&ev, tomb.as_ref(), out);
    }

    /// A mapped sg list is synced: the direction once for the list, then ownership moves for
    /// each DMA segment, and `carry_out` syncs the part of each inside its mapping.
    pub(crate) fn record_sync_sg(
        &self,
        list: &Event,
        segments: impl IntoIterator<Item = (DmaAddr, u64)>,
        out: &mut Findings,
        mut carry_out: impl FnMut(DmaAddr, u64),
    ) {
        if !rules::map::check_direction(list, out) {
            return;
        }
        for seg in segments {
            if let Some((start, len)) = self.record_sync(&sg_segment(list, seg), out) {
                carry_out(start, len);
            }
        }
    }

    /// The driver tested an address with `dma_mapping_error`.
    #[inline]
    pub(crate) fn record_error_check(&self, device: DeviceId, dma_addr: DmaAddr) {
        // One check covers one mapping: of several identical mappings (the same buffer mapped
        // twice), each needs its own test, as in the kernel.
        self.tracker.mark_error_checked(device, dma_addr);
    }

    /// The one way out for findings: apply levels, report, and panic at the call if a finding
    /// is at deny level (unless the thread is already panicking, or the checker reports
    /// without panicking).
    #[track_caller]
    #[inline]
    pub(crate) fn finish(&self, ev: &Event, findings: Findings) {
        // Most calls find nothing: that case stays inline at the call, with no call made.
        if !findings.is_empty() {
            self.report_findings(ev, findings);
        }
    }

    /// [`finish`](Self::finish) of a call that found something.
    #[track_caller]
    #[cold]
    #[inline(never)]
    fn report_findings(&self, ev: &Event, findings: Findings) {
        let (device, driver) = self.names(ev.device);
        if self
            .config
            .only_driver
            .as_deref()
            .is_some_and(|d| d != &*driver)
        {
            return;
        }
        let mut deny = None;
        for f in findings {
            let level = self.reporter.level(f.rule);
            if level == Level::Allow {
                continue;
            }
            let (mapped_at, mapped_by) = f
                .mapped_at
                .map_or((None, None), |(s, c)| (Some(s), Some(c)));
            let v = Violation {
                rule: f.rule,
                level,
                call: ev.call,
                device: String::from(&*device),
                driver: String::from(&*driver),
                message: f.message,
                details: f.details,
                site: ev.site,
                mapped_at,
                mapped_by,
                related: f.related,
                count: f.count,
            };
            if level == Level::Deny && deny.is_none() && self.panic_at_deny {
                deny = Some(v.to_string());
            }
            self.reporter.report(v);
        }
        if let Some(text) = deny {
            if !std::thread::panicking() {
                panic!("{text}");
            }
        }
    }
}

/// The event of one DMA segment of an sg call.
fn sg_segment(list: &Event, (dma_addr, size): (DmaAddr, u64)) -> Event {
    let mut seg = list.clone();
    (seg.dma_addr, seg.size) = (dma_addr, size);
    seg
}

/// The name of the test running on this thread: the thread's name, which libtest sets to the
/// test's path; the program's name on a thread without one (a doctest's or a program's `main`).
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => std::env::args()
            .next()
            .as_deref()
            .map(std::path::Path::new)
            .and_then(|p| p.file_stem())
            .map_or_else(|| "main".to_string(), |s| s.to_string_lossy().into_owned()),
    }
}

/// Makes a [`Checker`]: defaults, then `DMACHECK`, then what is set here, in that order.
#[must_use]
pub struct CheckerBuilder {
    read_env: bool,
    report_on_drop: Option<bool>,
    /// Making [`Checker::global`], which reports at exit, not at drop, and checks no one test.
    global: bool,
    panic_at_deny: bool,
    settings: Vec<Setting>,
    backend: Option<BackendFactory>,
}

impl Default for CheckerBuilder {
    fn default() -> Self {
        CheckerBuilder {
            read_env: true,
            report_on_drop: None,
            global: false,
            panic_at_deny: true,
            settings: Vec::new(),
            backend: None,
        }
    }
}

impl CheckerBuilder {
    fn set(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.settings.push(Box::new(f));
        self
    }

    /// Whether to read `DMACHECK` (default true). Tests that must not depend on the
    /// environment turn it off.
    pub fn env(mut self, read: bool) -> Self {
        self.read_env = read;
        self
    }

    /// Whether the checker writes its report to the destinations of `DMACHECK_REPORT` when its
    /// last handle is dropped (see [`crate::report`]). Default: when it reads the environment
    /// ([`env`](Self::env)), so `Checker::new()` in a test reports with no code in the test.
    pub fn report_on_drop(mut self, on: bool) -> Self {
        self.report_on_drop = Some(on);
        self
    }

    /// Whether a deny-level finding panics at the faulty call (default true). With `false`
    /// the checker reports without panicking at deny: levels stay as configured and every
    /// finding is recorded at its level, for a source that must see all of its events
    /// through (trace replay) and reports deny-level findings afterwards.
    pub fn panic_at_deny(mut self, on: bool) -> Self {
        self.panic_at_deny = on;
        self
    }

    /// Set one rule's level.
    pub fn level(self, rule: &'static Rule, level: Level) -> Self {
        self.set(move |c| c.levels.set(rule, level))
    }

    /// Set every rule's level.
    pub fn all_levels(self, level: Level) -> Self {
        self.set(move |c| c.levels.set_all(level))
    }

    /// Apply directives in `DMACHECK` syntax (see [`crate::config`]).
    pub fn spec(self, spec: &str) -> Result<Self, ConfigError> {
        let mut probe = Config::default();
        if let Some(e) = probe.apply_spec(spec).into_iter().next() {
            return Err(e);
        }
        let spec = spec.to_string();
        Ok(self.set(move |c| {
            c.apply_spec(&spec);
        }))
    }

    /// Capture `depth` frames of stack for every entry and violation (0: file and line only).
    /// Exact where the build keeps frame pointers; otherwise each call site's stack is unwound
    /// at its first call and reused, and reports say so (see [`Site`]).
    pub fn stacks(self, depth: usize) -> Self {
        self.set(move |c| c.stack_depth = depth)
    }

    /// Unwind every call's stack even without frame pointers: exact stacks at microseconds
    /// per call (the `exact-stacks` directive).
    pub fn exact_stacks(self, on: bool) -> Self {
        self.set(move |c| c.exact_stacks = on)
    }

    /// Whether violations are printed to stderr as they happen (default true).
    pub fn print(self, print: bool) -> Self {
        self.set(move |c| c.print = print)
    }

    /// Inject failures as `spec` says (see [`crate::faults`]); may be called several times.
    pub fn fail(self, spec: FaultSpec) -> Self {
        self.set(move |c| c.faults.push(spec))
    }

    /// Turn checking off entirely (`false`): DMA API calls go straight to the backend.
    pub fn enabled(self, on: bool) -> Self {
        self.set(move |c| c.enabled = on)
    }

    /// Report only violations of devices bound to `driver`.
    pub fn only_driver(self, driver: &str) -> Self {
        let driver = driver.to_string();
        self.set(move |c| c.only_driver = Some(driver))
    }

    /// Print only the first `n` violations to stderr (all are still counted and kept).
    pub fn print_first(self, n: u64) -> Self {
        self.set(move |c| c.print_first = n)
    }

    /// Keep at most `n` violations for [`Checker::violations`] (counting goes on).
    pub fn keep(self, n: usize) -> Self {
        self.set(move |c| c.keep_at_most = n)
    }

    /// The size and placement of the simulated physical memory.
    pub fn memory(self, memory: MemoryConfig) -> Self {
        self.set(move |c| c.memory = memory)
    }

    /// Bounce every device's streaming mappings through the checker's bounce pool, as
    /// `swiotlb=force` does: the device never sees the driver's buffers, so a missing sync
    /// shows as stale data. Devices can still choose another backend.
    pub fn force_bounce(self) -> Self {
        self.set(|c| c.force_bounce = true)
    }

    /// Give DMA pool blocks whose size leaves no padding a redzone (the `pool-redzone`
    /// directive; default off); see [`Config::pool_redzone`].
    pub fn pool_redzone(self, on: bool) -> Self {
        self.set(move |c| c.pool_redzone = on)
    }

    /// Whether to fingerprint streaming buffers at hand-offs (default true); see
    /// [`Config::digests`].
    pub fn digests(self, on: bool) -> Self {
        self.set(move |c| c.digests = on)
    }

    /// Trap mode (the `trap` directive): plain-pointer CPU accesses to device-owned streaming
    /// buffers fault and are reported at their instruction; `kmalloc` gives each buffer pages
    /// of its own. Linux x86_64 only: elsewhere [`build`](Self::build) panics saying so. See
    /// [`crate::trap`].
    pub fn trap(self, on: bool) -> Self {
        self.set(move |c| c.trap = on)
    }

    /// Use another default backend than [`DirectBackend`], made over the checker's memory.
    pub fn backend(
        mut self,
        make: impl FnOnce(Arc<PhysMemory>) -> Box<dyn Backend> + 'static,
    ) -> Self {
        self.backend = Some(Box::new(make));
        self
    }

    /// Make the checker.
    ///
    /// # Panics
    ///
    /// When it reads `DMACHECK` ([`env`](Self::env)) and a directive there is not understood:
    /// a mistyped setting must fail the run, not pass it with other settings.
    #[track_caller]
    pub fn build(self) -> Checker {
        let mut config = Config::default();
        if self.read_env {
            if let Ok(spec) = std::env::var(ENV_VAR) {
                let errors = config.apply_spec(&spec);
                if !errors.is_empty() {
                    // A warning would be captured by the test harness and the run would pass
                    // with settings nobody asked for; every checker built under it fails.
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    panic!(
                        "{}\n(an invalid {ENV_VAR} fails every checker built under it: fix or unset it)",
                        errors.join("\n")
                    );
                }
            }
        }
        for set in self.settings {
            set(&mut config);
        }
        if let Some(code) = config.exit_code {
            exit::exit_with_status_on_findings(code);
        }
        let memory = Arc::new(PhysMemory::new(config.memory));
        let bounce = OnceLock::new();
        let backend: Arc<dyn Backend> = match self.backend {
            Some(make) => Arc::from(make(memory.clone())),
            None if config.force_bounce => {
                let pool: Arc<dyn Backend> = Arc::new(BounceBackend::new(memory.clone()));
                let _ = bounce.set(pool.clone());
                pool
            }
            None => Arc::new(DirectBackend::new(memory.clone())),
        };
        let faults = FaultInjector::new(&config.faults);
        let reporter = Reporter::new(
            config.levels.clone(),
            config.keep_at_most,
            config.print,
            config.print_first,
        );
        let checker = Checker(Arc::new(CheckerInner {
            config,
            tracker: Tracker::new(memory.cpu_to_phys_offset()),
            memory,
            backend,
            iommu: OnceLock::new(),
            bounce,
            faults,
            vmalloc: VmallocArea::default(),
            acknowledged: AtomicU64::new(0),
            release_gate: RwLock::new(()),
            noncoherent: Default::default(),
            cma_areas: Default::default(),
            user_maps: Default::default(),
            freed: Default::default(),
            reporter,
            devices: RwLock::new(HashMap::new()),
            next_device: AtomicU32::new(0),
            test_name: (!self.global).then(test_name),
            report_on_drop: !self.global && self.report_on_drop.unwrap_or(self.read_env),
            panic_at_deny: self.panic_at_deny,
        }));
        trap::register(&checker);
        checker
    }
}

/// The checker as a [`Report`](crate::report::Report): made here, from the checker's state, so
/// the report module knows nothing of the checker.
mod reports {
    use std::path::PathBuf;

    use std::collections::HashMap;

    use rustc_hash::FxBuildHasher;

    use super::{Checker, CheckerInner};
    use crate::DeviceId;
    use crate::report::{
        Destination, LeakReport, LeakTable, Report, ReportCounters, ReportEntry, ReportError,
        ReportRule, ReportSource, ReportTest, ReportTool, ReportViolation, SCHEMA, TextStyle,
    };
    use crate::rules::{self, Level};
    use crate::site::Site;
    use crate::types::MapKind;

    impl Checker {
        /// Everything this checker found, as one [`Report`]: the kept violations, the leaks grouped
        /// by site (those reported at device releases and the entries live now), the live entries,
        /// the counters and the settings. Write it with [`Checker::write_report`] or a
        /// [`Format`](crate::report::Format).
        pub fn report(&self) -> Report {
            self.inner().report()
        }

        /// The leak summary, like LeakSanitizer's: the entries leaked at device releases and the
        /// entries live now, grouped by the site that made them, biggest first, with totals. Empty
        /// when the [`leak`](crate::rules::LEAK) rule is allowed; entries of devices outside the
        /// driver filter are left out. Nothing is reported and no entry changes.
        pub fn leak_report(&self) -> LeakReport {
            self.inner().leak_report()
        }
    }

    impl CheckerInner {
        /// [`Checker::report`], on the checker's state (also used when its last handle drops).
        pub(crate) fn report(&self) -> Report {
            let config = &self.config;
            let kept = self.reporter.violations();
            let stats = self.stats();
            let mut counters = ReportCounters {
                violations: stats.errors,
                violations_kept: kept.iter().map(|v| v.count).sum(),
                live_entries: stats.live_entries,
                peak_entries: stats.peak_entries,
                ..ReportCounters::default()
            };
            for (id, n) in stats.per_rule {
                match rules::by_id(id).map(|r| config.level(r)) {
                    Some(Level::Deny) => counters.deny += n,
                    _ => counters.warn += n,
                }
                counters.per_rule.insert(id.into(), n);
            }
            let live_entries = self
                .tracker
                .snapshot(None)
                .iter()
                .map(|e| {
                    let (device, driver) = self.names(e.device);
                    ReportEntry::new(e, &device, &driver)
                })
                .collect();
            let mut report = Report {
                schema: SCHEMA.into(),
                tool: ReportTool::default(),
                sources: vec![ReportSource::this_process(config)],
                rules: ReportRule::catalogue(),
                counters,
                violations: kept.iter().map(ReportViolation::from).collect(),
                leaks: self.leak_report(),
                live_entries,
            };
            if let Some(name) = &self.test_name {
                let findings = report.findings_at_least(Level::Warn);
                let failure = if findings == 0 {
                    String::new()
                } else {
                    TextStyle::plain().report(&report)
                };
                report.sources[0].test = Some(ReportTest {
                    name: name.to_string(),
                    findings,
                    failure,
                });
            }
            report
        }

        /// [`Checker::leak_report`], on the checker's state.
        pub(crate) fn leak_report(&self) -> LeakReport {
            let level = self.config.level(&rules::LEAK);
            if level == Level::Allow {
                return LeakReport::default();
            }
            let gate = self.release_gate.read();
            let mut table: LeakTable = self.reporter.released_leaks();
            // Each live entry counted into its (device, site, call) group where it lies: no
            // copy of the entries and no sort, which cost a million-entry report most of its
            // time. (`for_each_mut` stores back only entries it changed; this changes none.)
            let mut live: HashMap<(DeviceId, Site, MapKind, u8), (u64, u64), FxBuildHasher> =
                HashMap::default();
            self.tracker.for_each_mut(|e| {
                let group = live.entry((e.device, e.site, e.kind, e.call)).or_default();
                *group = (group.0 + 1, group.1 + e.size);
            });
            drop(gate);
            let only_driver = self.config.only_driver.as_deref();
            let mut names: HashMap<DeviceId, _, FxBuildHasher> = HashMap::default();
            for ((id, site, kind, call), (entries, bytes)) in live {
                let (device, driver) = names.entry(id).or_insert_with(|| self.names(id));
                if only_driver.is_none_or(|d| d == &**driver) {
                    let made = (kind, kind.call_name(call));
                    table.add_group(site, made, (entries, bytes), device, true);
                }
            }
            table.into_report(level)
        }
    }

    impl Checker {
        /// Write this checker's [`report`](Checker::report) to `destination`; returns the file
        /// written (`None` for stderr).
        ///
        /// ```
        /// use dmacheck::Checker;
        ///
        /// let dir = std::env::temp_dir().join(format!("dmacheck-doc-{}", std::process::id()));
        /// let checker = Checker::builder().env(false).build();
        /// let dest = format!("json:{}/", dir.display()).parse().unwrap();
        /// let written = checker.write_report(&dest).unwrap().unwrap();
        /// assert!(written.file_name().unwrap().to_str().unwrap().starts_with("dmacheck-"));
        /// # std::fs::remove_dir_all(&dir).unwrap();
        /// ```
        pub fn write_report(
            &self,
            destination: &Destination,
        ) -> Result<Option<PathBuf>, ReportError> {
            destination.write(&self.report())
        }
    }
}
