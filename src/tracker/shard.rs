//! One lock's part of the entry table, stored compactly: a 48-byte [`Record`] per entry in a
//! slab, chained per page of DMA address, and an index of pages (4 bytes a slot) into the
//! chains. What few entries need beyond the record (a partial CPU ownership, sg counts, a
//! hand-off elsewhere than the map, sizes beyond 4 GiB) lives in a side slab of [`Extra`]s.
//!
//! Entries go in and come out as [`Entry`]; the encoding is private to this file.

use hashbrown::HashTable;

use super::{BUCKET_SHIFT, Entry, GRAVES_PER_SHARD, Glance, Owner, Ranges, Tombstone, page_hash};
use crate::site::Site;
use crate::types::DeviceId;
use crate::types::{Direction, DmaAddr, DmaAttrs, MapKind};

/// No slot: the end of a chain, or no extra.
const NONE: u32 = u32::MAX;

/// An entry as the table stores it.
#[derive(Clone, Copy)]
struct Record {
    dma_addr: u64,
    cpu_addr: u64,
    site: Site,
    /// The size, or [`NONE`] when it is in the extra.
    size: u32,
    device: u32,
    /// A 32-bit fingerprint (see [`Entry::digest`]).
    digest: u32,
    extra: u32,
    /// The next record of the same page (older), or the next free slot.
    next: u32,
    /// The attrs, when they fit (else [`flags::WIDE_ATTRS`] and the extra has them).
    attrs: u16,
    /// The kind (low 3 bits) and which call of it made the entry (high 5: see
    /// [`MapKind::call_index`]), or [`FREE`] for a free slot.
    kind: u8,
    flags: u8,
}

// A record stores a kind as its discriminant, which must be its index in `MapKind::ALL`, in
// 3 bits (7 with any call is a free slot).
const _: () = assert!(MapKind::ALL.len() < 7);
const _: () = {
    let mut i = 0;
    while i < MapKind::ALL.len() {
        assert!(MapKind::ALL[i] as usize == i);
        i += 1;
    }
};

/// A free slot's `kind`.
const FREE: u8 = u8::MAX;

mod flags {
    /// The direction, in the low two bits.
    pub(super) const DIR: u8 = 0b11;
    pub(super) const ERROR_CHECKED: u8 = 1 << 2;
    pub(super) const OWNER_CPU: u8 = 1 << 3;
    pub(super) const CPU_WROTE: u8 = 1 << 4;
    pub(super) const HAS_DIGEST: u8 = 1 << 5;
    /// The cache lines are those of the CPU address (through the table's `line_offset`).
    pub(super) const LINES_OF_CPU: u8 = 1 << 6;
    /// The CPU owns all of it (`cpu_ranges` is `0..size`).
    pub(super) const CPU_RANGES_ALL: u8 = 1 << 7;
}

/// What an entry needs beyond its record.
#[derive(Clone, Default)]
struct Extra {
    handed_at: Option<Site>,
    cpu_ranges: Ranges,
    sg: (u32, u32),
    cache_lines: Option<(u64, u64)>,
    size: u64,
    attrs: DmaAttrs,
}

const DIRECTIONS: [Direction; 4] = [
    Direction::Bidirectional,
    Direction::ToDevice,
    Direction::FromDevice,
    Direction::None,
];

/// The cache lines of `size` bytes at CPU address `cpu`, where the CPU's view of memory is
/// `line_offset` below its physical addresses.
pub(super) fn lines_of_cpu(cpu: u64, size: u64, line_offset: u64) -> (u64, u64) {
    let line = crate::DMA_CACHE_ALIGNMENT as u64;
    let phys = cpu.wrapping_add(line_offset);
    (phys / line, phys.saturating_add(size.max(1)).div_ceil(line))
}

/// Released entries remembered, oldest overwritten first.
#[derive(Default)]
struct Graves {
    ring: Vec<Tombstone>,
    next: usize,
}

/// One lock's part of the table.
#[derive(Default)]
pub(super) struct Shard {
    /// The newest record of each page with any, by page.
    pages: HashTable<u32>,
    records: Vec<Record>,
    free_record: Option<u32>,
    extras: Vec<Extra>,
    free_extras: Vec<u32>,
    pub(super) live: usize,
    graves: Graves,
}

impl Shard {
    #[inline]
    fn page_of(&self, slot: u32) -> u64 {
        self.records[slot as usize].dma_addr >> BUCKET_SHIFT
    }

    /// The newest record of `page`.
    #[inline]
    fn head(&self, page: u64) -> Option<u32> {
        self.pages
            .find(page_hash(page), |&s| self.page_of(s) == page)
            .copied()
    }

    /// The records of `page`, newest first.
    #[inline]
    fn chain(&self, page: u64) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.head(page), |&s| {
            let next = self.records[s as usize].next;
            (next != NONE).then_some(next)
        })
    }

    /// Add an entry (to its page's chain, as the newest); its slot.
    #[inline]
    pub(super) fn insert(&mut self, e: &Entry, line_offset: u64) -> u32 {
        let page = e.dma_addr >> BUCKET_SHIFT;
        let record = self.encode(e, line_offset);
        let slot = match self.free_record {
            Some(slot) => {
                let next_free = self.records[slot as usize].next;
                self.free_record = (next_free != NONE).then_some(next_free);
                self.records[slot as usize] = record;
                slot
            }
            None => {
                self.records.push(record);
                u32::try_from(self.records.len() - 1).expect("fewer than 4G entries per shard")
            }
        };
        // One probe: the page's head is replaced by the new record, which links to it.
        let records = &self.records;
        let next = match self.pages.entry(
            page_hash(page),
            |&s| s != slot && records[s as usize].dma_addr >> BUCKET_SHIFT == page,
            |&s| page_hash(records[s as usize].dma_addr >> BUCKET_SHIFT),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut head) => {
                std::mem::replace(head.get_mut(), slot)
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(slot);
                NONE
            }
        };
        self.records[slot as usize].next = next;
        self.live += 1;
        slot
    }

    /// Remove the best match (by `rank`; the oldest of equals) among the entries of `device`
    /// starting at `addr`, with the slot it had. `Err` carries another device's entry at
    /// `addr`, if there is one. Inlined into the tracker's remove (its one caller), so the
    /// entry is decoded in place.
    #[inline(always)]
    pub(super) fn remove(
        &mut self,
        device: DeviceId,
        addr: DmaAddr,
        rank: impl Fn(&Entry) -> u32,
        line_offset: u64,
    ) -> Result<(u32, Entry), Option<Box<Entry>>> {
        let page = addr >> BUCKET_SHIFT;
        // Candidates with their newer neighbours, newest first.
        let mut candidates: smallvec::SmallVec<[(u32, Option<u32>); 2]> = smallvec::SmallVec::new();
        let mut other = None;
        let mut prev = None;
        for slot in self.chain(page) {
            let r = &self.records[slot as usize];
            if r.dma_addr == addr {
                if r.device == device.0 {
                    candidates.push((slot, prev));
                } else if other.is_none() {
                    other = Some(slot);
                }
            }
            prev = Some(slot);
        }
        let chosen = match candidates.as_slice() {
            [] => return Err(other.map(|s| Box::new(self.decode(s, line_offset)))),
            [only] => *only,
            // Several: the best by rank; newest first, so `max_by_key` (which keeps the last of
            // equals) keeps the oldest.
            many => *many
                .iter()
                .max_by_key(|(slot, _)| rank(&self.decode(*slot, line_offset)))
                .expect("not empty"),
        };
        let (slot, prev) = chosen;
        let entry = self.decode(slot, line_offset);
        self.unlink(page, slot, prev);
        Ok((slot, entry))
    }

    /// The entry in `slot`, if the slot holds a live one.
    pub(super) fn live_entry(&self, slot: u32, line_offset: u64) -> Option<Entry> {
        let r = self.records.get(slot as usize)?;
        (r.kind != FREE).then(|| self.decode(slot, line_offset))
    }

    /// Take `slot` out of its page's chain (`prev` its newer neighbour) and free it.
    #[inline]
    fn unlink(&mut self, page: u64, slot: u32, prev: Option<u32>) {
        let next = self.records[slot as usize].next;
        match prev {
            Some(p) => self.records[p as usize].next = next,
            None => {
                let hash = page_hash(page);
                let index = self
                    .pages
                    .find_entry(hash, |&s| s == slot)
                    .expect("the head is indexed");
                if next == NONE {
                    index.remove();
                } else {
                    *index.into_mut() = next;
                }
            }
        }
        self.free_extra(self.records[slot as usize].extra);
        let r = &mut self.records[slot as usize];
        r.kind = FREE;
        r.extra = NONE;
        r.next = self.free_record.unwrap_or(NONE);
        self.free_record = Some(slot);
        self.live -= 1;
    }

    /// Among the entries of `page` that `pick` accepts, run `f` on the best by `rank` (the
    /// oldest of equals) and store what it changed. If none is picked, `f` comes back, with the
    /// first entry `other` accepts, if any.
    pub(super) fn update_best<R, F: FnOnce(&mut Entry) -> R>(
        &mut self,
        page: u64,
        pick: impl Fn(&Entry) -> bool,
        rank: impl Fn(&Entry) -> u32,
        other: impl Fn(&Entry) -> bool,
        f: F,
        line_offset: u64,
    ) -> Result<R, (F, Option<Box<Entry>>)> {
        // The usual page holds one entry: decoded once, in place, and no list of the chain.
        if let Some(slot) = self
            .head(page)
            .filter(|&s| self.records[s as usize].next == NONE)
        {
            let mut e = self.decode(slot, line_offset);
            if !pick(&e) {
                return Err((f, other(&e).then(|| Box::new(e))));
            }
            let result = f(&mut e);
            self.store(slot, &e, line_offset);
            return Ok(result);
        }
        let mut best: Option<(u32, u32, Entry)> = None;
        let mut first_other = None;
        for slot in self.chain(page).collect::<smallvec::SmallVec<[u32; 8]>>() {
            let e = self.decode(slot, line_offset);
            if pick(&e) {
                let score = rank(&e);
                if best.as_ref().is_none_or(|(_, s, _)| score >= *s) {
                    best = Some((slot, score, e));
                }
            } else if first_other.is_none() && other(&e) {
                first_other = Some(Box::new(e));
            }
        }
        let Some((slot, _, mut e)) = best else {
            return Err((f, first_other));
        };
        let result = f(&mut e);
        self.store(slot, &e, line_offset);
        Ok(result)
    }

    /// Run `f` on the oldest entry of `device` at `addr` that `pick` accepts (and store what it
    /// changed); whether there was one.
    pub(super) fn update_first(
        &mut self,
        device: DeviceId,
        addr: DmaAddr,
        pick: impl Fn(&Entry) -> bool,
        f: impl FnOnce(&mut Entry),
        line_offset: u64,
    ) -> bool {
        let mut found = None;
        for slot in self.chain(addr >> BUCKET_SHIFT) {
            let r = &self.records[slot as usize];
            if r.dma_addr == addr && r.device == device.0 {
                let e = self.decode(slot, line_offset);
                if pick(&e) {
                    found = Some((slot, e));
                }
            }
        }
        let Some((slot, mut e)) = found else {
            return false;
        };
        f(&mut e);
        self.store(slot, &e, line_offset);
        true
    }

    /// See [`super::Tracker::mark_error_checked`].
    #[inline]
    pub(super) fn mark_error_checked(&mut self, device: DeviceId, addr: DmaAddr) -> bool {
        let oldest = self
            .chain(addr >> BUCKET_SHIFT)
            .filter(|&s| {
                let r = &self.records[s as usize];
                r.dma_addr == addr && r.device == device.0 && r.flags & flags::ERROR_CHECKED == 0
            })
            .last();
        match oldest {
            Some(slot) => {
                self.records[slot as usize].flags |= flags::ERROR_CHECKED;
                true
            }
            None => false,
        }
    }

    /// Every live slot.
    fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.records.len() as u32).filter(|&s| self.records[s as usize].kind != FREE)
    }

    /// Run `f` on every entry, storing the entries it changed (most scans only read).
    pub(super) fn for_each_mut(&mut self, f: &mut impl FnMut(&mut Entry), line_offset: u64) {
        if self.live == 0 {
            return;
        }
        for slot in 0..self.records.len() as u32 {
            if self.records[slot as usize].kind == FREE {
                continue;
            }
            let before = self.decode(slot, line_offset);
            let mut e = before.clone();
            f(&mut e);
            if e != before {
                self.store(slot, &e, line_offset);
            }
        }
    }

    /// Run `f` on the entries whose [`Glance`] `pick` accepts (the rest are not decoded),
    /// storing those it changed.
    pub(super) fn update_where(
        &mut self,
        pick: &impl Fn(Glance) -> bool,
        f: &mut impl FnMut(&mut Entry),
        line_offset: u64,
    ) {
        if self.live == 0 {
            return;
        }
        for slot in 0..self.records.len() as u32 {
            let r = &self.records[slot as usize];
            if r.kind == FREE {
                continue;
            }
            let size = if r.size == NONE {
                self.extras[r.extra as usize].size
            } else {
                u64::from(r.size)
            };
            let glance = Glance {
                cpu_addr: r.cpu_addr,
                size,
                digested: r.flags & flags::HAS_DIGEST != 0,
            };
            if !pick(glance) {
                continue;
            }
            let before = self.decode(slot, line_offset);
            let mut e = before.clone();
            f(&mut e);
            if e != before {
                self.store(slot, &e, line_offset);
            }
        }
    }

    /// Whether it holds no live entry.
    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Copies of the entries `keep` accepts.
    pub(super) fn copy_into(
        &self,
        out: &mut Vec<Entry>,
        keep: impl Fn(u32) -> bool,
        line_offset: u64,
    ) {
        out.extend(
            self.live_slots()
                .filter(|&s| keep(self.records[s as usize].device))
                .map(|s| self.decode(s, line_offset)),
        );
    }

    /// Remove every entry of `device` into `out` (and the slots they had into `slots`): one
    /// walk along each page's chain, so a release costs the same per entry however many share
    /// a page.
    pub(super) fn drain_device(
        &mut self,
        device: DeviceId,
        out: &mut Vec<Entry>,
        slots: &mut Vec<u32>,
        line_offset: u64,
    ) {
        let heads: Vec<u32> = self.pages.iter().copied().collect();
        for head in heads {
            let page = self.page_of(head);
            let (mut slot, mut prev) = (head, None);
            loop {
                let next = self.records[slot as usize].next;
                if self.records[slot as usize].device == device.0 {
                    out.push(self.decode(slot, line_offset));
                    slots.push(slot);
                    self.unlink(page, slot, prev);
                } else {
                    prev = Some(slot);
                }
                if next == NONE {
                    break;
                }
                slot = next;
            }
        }
    }

    /// Remember a release, overwriting the oldest remembered once the shard has its fill.
    #[inline]
    pub(super) fn bury(&mut self, tombstone: Tombstone) {
        let graves = &mut self.graves;
        if graves.ring.len() < GRAVES_PER_SHARD {
            graves.ring.push(tombstone);
        } else {
            graves.ring[graves.next] = tombstone;
        }
        graves.next = (graves.next + 1) % GRAVES_PER_SHARD;
    }

    /// The most recent remembered release that `pick` accepts.
    pub(super) fn grave(&self, pick: impl Fn(&Tombstone) -> bool) -> Option<Tombstone> {
        let ring = &self.graves.ring;
        let (older, newer) = ring.split_at(self.graves.next.min(ring.len()));
        newer.iter().chain(older).rev().find(|t| pick(t)).cloned()
    }

    /// Slots taken, live or free (tests: memory follows the live set).
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.records.len()
    }

    // --- encoding --------------------------------------------------------------------------

    #[inline]
    fn encode(&mut self, e: &Entry, line_offset: u64) -> Record {
        let mut flags = e.dir as u8 & flags::DIR;
        if e.error_checked {
            flags |= flags::ERROR_CHECKED;
        }
        if e.owner == Owner::Cpu {
            flags |= flags::OWNER_CPU;
        }
        if e.cpu_wrote {
            flags |= flags::CPU_WROTE;
        }
        if e.digest.is_some() {
            flags |= flags::HAS_DIGEST;
        }
        let size = u32::try_from(e.size).ok().filter(|&size| size != NONE);
        let attrs = u16::try_from(e.attrs.bits()).ok();
        let cpu_ranges_all = e.cpu_ranges.is_whole(e.size);
        if cpu_ranges_all {
            flags |= flags::CPU_RANGES_ALL;
        }
        let lines_of_cpu = e
            .cache_lines
            .is_some_and(|lines| lines == lines_of_cpu(e.cpu_addr, e.size, line_offset));
        if lines_of_cpu {
            flags |= flags::LINES_OF_CPU;
        }
        // Most entries need no extra: it is made (and its slot taken) only for those that do.
        let needs_extra = size.is_none()
            || attrs.is_none()
            || (!cpu_ranges_all && !e.cpu_ranges.is_empty())
            || (e.cache_lines.is_some() && !lines_of_cpu)
            || e.handed_at != e.site
            || (e.sg_nents, e.sg_mapped_ents) != (0, 0);
        let extra = if needs_extra {
            self.alloc_extra(Extra {
                handed_at: (e.handed_at != e.site).then_some(e.handed_at),
                cpu_ranges: if cpu_ranges_all {
                    Ranges::default()
                } else {
                    e.cpu_ranges.clone()
                },
                sg: (e.sg_nents, e.sg_mapped_ents),
                cache_lines: e.cache_lines.filter(|_| !lines_of_cpu),
                size: if size.is_none() { e.size } else { 0 },
                attrs: if attrs.is_none() {
                    e.attrs
                } else {
                    DmaAttrs::empty()
                },
            })
        } else {
            NONE
        };
        Record {
            dma_addr: e.dma_addr,
            cpu_addr: e.cpu_addr,
            site: e.site,
            size: size.unwrap_or(NONE),
            device: e.device.0,
            // Fingerprints are kept to 32 bits (the checker makes them so).
            digest: e.digest.unwrap_or(0) as u32,
            extra,
            next: NONE,
            attrs: attrs.unwrap_or(u16::MAX),
            // `MapKind::ALL` lists the kinds in declaration order.
            kind: e.kind as u8 | (e.call << 3),
            flags,
        }
    }

    #[inline]
    fn decode(&self, slot: u32, line_offset: u64) -> Entry {
        let r = &self.records[slot as usize];
        let extra = (r.extra != NONE).then(|| &self.extras[r.extra as usize]);
        let size = if r.size == NONE {
            extra.map_or(0, |x| x.size)
        } else {
            u64::from(r.size)
        };
        let attrs = if r.attrs == u16::MAX && extra.is_some_and(|x| !x.attrs.is_empty()) {
            extra.map_or(DmaAttrs::empty(), |x| x.attrs)
        } else {
            DmaAttrs::from_bits_retain(u64::from(r.attrs))
        };
        let cpu_ranges = if r.flags & flags::CPU_RANGES_ALL != 0 {
            Ranges::whole(size)
        } else {
            extra.map(|x| x.cpu_ranges.clone()).unwrap_or_default()
        };
        let cache_lines = if r.flags & flags::LINES_OF_CPU != 0 {
            Some(lines_of_cpu(r.cpu_addr, size, line_offset))
        } else {
            extra.and_then(|x| x.cache_lines)
        };
        let (sg_nents, sg_mapped_ents) = extra.map_or((0, 0), |x| x.sg);
        Entry {
            device: DeviceId(r.device),
            kind: MapKind::ALL[(r.kind & 0b111) as usize],
            call: r.kind >> 3,
            dir: DIRECTIONS[(r.flags & flags::DIR) as usize],
            error_checked: r.flags & flags::ERROR_CHECKED != 0,
            attrs,
            dma_addr: r.dma_addr,
            size,
            cpu_addr: r.cpu_addr,
            sg_nents,
            sg_mapped_ents,
            owner: if r.flags & flags::OWNER_CPU != 0 {
                Owner::Cpu
            } else {
                Owner::Device
            },
            cpu_ranges,
            digest: (r.flags & flags::HAS_DIGEST != 0).then_some(u64::from(r.digest)),
            cpu_wrote: r.flags & flags::CPU_WROTE != 0,
            handed_at: extra.and_then(|x| x.handed_at).unwrap_or(r.site),
            cache_lines,
            site: r.site,
        }
    }

    /// Store `e` over the record in `slot` (same page, same chain).
    fn store(&mut self, slot: u32, e: &Entry, line_offset: u64) {
        let old = self.records[slot as usize];
        self.free_extra(old.extra);
        let mut record = self.encode(e, line_offset);
        record.next = old.next;
        self.records[slot as usize] = record;
    }

    fn alloc_extra(&mut self, extra: Extra) -> u32 {
        match self.free_extras.pop() {
            Some(i) => {
                self.extras[i as usize] = extra;
                i
            }
            None => {
                self.extras.push(extra);
                u32::try_from(self.extras.len() - 1).expect("fewer than 4G extras per shard")
            }
        }
    }

    fn free_extra(&mut self, i: u32) {
        if i != NONE {
            self.extras[i as usize] = Extra::default();
            self.free_extras.push(i);
        }
    }
}
