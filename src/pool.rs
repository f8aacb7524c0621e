//! DMA pools (`dma_pool_*`, and `pci_pool_*` in the C ABI): small blocks of coherent memory of
//! one size, alignment and boundary, carved from pages the pool allocates with
//! `dma_alloc_coherent` (so those pages are ordinary coherent entries, leaks and all).
//!
//! Like the kernel's pool debugging, free blocks are filled with a poison byte and checked when
//! they are handed out again, so a write after free is caught with the site of the last free.
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).build();
//! let dev = checker.device("ehci0").build();
//! let pool = dma_pool_create("qh", &dev, 96, 32, 4096).unwrap();
//! let mut dma = 0;
//! let qh = dma_pool_zalloc(&pool, Gfp::KERNEL, &mut dma);
//! assert!(!qh.is_null() && dma % 32 == 0);
//! dma_pool_free(&pool, qh, dma);
//! dma_pool_destroy(pool);
//! checker.assert_clean();
//! ```

use std::collections::HashMap;

use crate::device::Device;
use crate::event::{Event, Op};
use crate::faults::FaultKind;
use crate::pool_redzone;
use crate::rules;
use crate::rules::pool::FreedBlock;
use crate::rules::{Finding, Findings};
use crate::site::Site;
use crate::state::managed::Devres;
use crate::sync::{Arc, Mutex};
use crate::types::{DmaAddr, Gfp, MapKind, PAGE_SIZE, PhysAddr};

/// The byte free blocks are filled with (the kernel's `POOL_POISON_FREED`).
pub const POOL_POISON_FREED: u8 = 0xa7;
/// The byte fresh blocks are filled with unless zeroed (the kernel's `POOL_POISON_ALLOCATED`).
pub const POOL_POISON_ALLOCATED: u8 = 0xa9;

/// A DMA pool. Cheap to clone; all clones are the same pool.
#[derive(Clone)]
pub struct DmaPool(Arc<PoolInner>);

struct PoolInner {
    name: String,
    dev: Device,
    /// Bytes asked for per block.
    size: usize,
    /// Block offsets within one page allocation.
    offsets: Vec<usize>,
    /// Bytes of each page allocation.
    allocation: usize,
    /// Each block's redzone, as offsets in a page allocation (see `pool_redzone`).
    redzones: Vec<std::ops::Range<usize>>,
    state: Mutex<PoolState>,
}

#[derive(Clone, Copy)]
struct PoolPage {
    dma: DmaAddr,
    phys: PhysAddr,
}

#[derive(Default)]
struct PoolState {
    destroyed: bool,
    pages: Vec<PoolPage>,
    /// Free blocks as (page index, offset), most recently freed last.
    free: Vec<(usize, usize)>,
    /// Allocated blocks by DMA address: where they were allocated.
    busy: HashMap<DmaAddr, Site>,
    /// Free blocks by DMA address: where they were last freed.
    freed: HashMap<DmaAddr, Site>,
}

impl DmaPool {
    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The pool's device.
    pub fn device(&self) -> &Device {
        &self.0.dev
    }

    /// How many blocks are allocated.
    pub fn busy(&self) -> usize {
        self.0.state.lock().busy.len()
    }

    /// Whether the pool was destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.0.state.lock().destroyed
    }
}

#[track_caller]
fn event(dev: &Device, op: Op, call: &'static str) -> Event {
    Event::new(
        op,
        call,
        MapKind::Coherent,
        dev.id(),
        dev.checker().capture_site(),
    )
}

#[track_caller]
fn finish(dev: &Device, ev: &Event, out: Findings) {
    dev.checker().inner().finish(ev, out);
}

/// Create a pool of `size`-byte blocks aligned to `align` (a power of two; 0 means 1), none
/// crossing a multiple of `boundary` (a power of two at least `size`; 0 means no boundary)
/// (`dma_pool_create`). Must be called where sleeping is allowed. `None` for bad parameters,
/// which are reported.
#[track_caller]
pub fn dma_pool_create(
    name: &str,
    dev: &Device,
    size: usize,
    align: usize,
    boundary: usize,
) -> Option<DmaPool> {
    let ev = event(dev, Op::MemoryAlloc, "dma_pool_create");
    // A released device takes no new pool (reported).
    drop(dev.admit_or_report(&ev)?);
    let mut out = Findings::new();
    rules::context::check_pool_context(&ev, &mut out);
    let align = align.max(1);
    if !rules::pool::check_parameters(name, size, align, boundary, &mut out) {
        finish(dev, &ev, out);
        return None;
    }
    let add_redzone = dev.checker().config().pool_redzone;
    let sizes = pool_redzone::stride(size, align, add_redzone).and_then(|stride| {
        Some((
            stride,
            stride.max(PAGE_SIZE).checked_next_multiple_of(PAGE_SIZE)?,
        ))
    });
    let Some((stride, allocation)) = sizes else {
        out.push(rules::pool::too_large(name, size, align));
        finish(dev, &ev, out);
        return None;
    };
    finish(dev, &ev, out);
    let boundary = if boundary == 0 { allocation } else { boundary };
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + size <= allocation {
        // A block that would cross a boundary starts at the next one instead.
        if at % boundary + size > boundary {
            at = at.next_multiple_of(boundary);
            continue;
        }
        offsets.push(at);
        at += stride;
    }
    Some(DmaPool(Arc::new(PoolInner {
        name: name.to_string(),
        dev: dev.clone(),
        size,
        redzones: pool_redzone::redzones(&offsets, size, allocation),
        offsets,
        allocation,
        state: Mutex::new(PoolState::default()),
    })))
}

/// Allocate a block (`dma_pool_alloc`): its CPU address, and its DMA address in `dma_handle`;
/// NULL when memory runs out. The block holds poison (`POOL_POISON_ALLOCATED`).
#[track_caller]
pub fn dma_pool_alloc(pool: &DmaPool, gfp: Gfp, dma_handle: &mut DmaAddr) -> *mut u8 {
    pool_alloc(pool, gfp, dma_handle, gfp.contains(Gfp::ZERO))
}

/// [`dma_pool_alloc`], zeroed (`dma_pool_zalloc`).
#[track_caller]
pub fn dma_pool_zalloc(pool: &DmaPool, gfp: Gfp, dma_handle: &mut DmaAddr) -> *mut u8 {
    pool_alloc(pool, gfp, dma_handle, true)
}

#[track_caller]
fn pool_alloc(pool: &DmaPool, gfp: Gfp, dma_handle: &mut DmaAddr, zero: bool) -> *mut u8 {
    let p = &pool.0;
    let dev = &p.dev;
    let c = dev.checker().inner();
    let mut ev = event(dev, Op::MemoryAlloc, "dma_pool_alloc");
    ev.size = p.size as u64;
    let mut out = Findings::new();
    *dma_handle = crate::DMA_MAPPING_ERROR;
    rules::context::check_alloc(&ev, gfp, &mut out);
    let block = if p.state.lock().destroyed {
        out.push(rules::pool::use_after_destroy(&p.name, false));
        None
    } else if c.faults.should_fail(FaultKind::Pool, dev.name()) {
        None
    } else {
        take_block(pool, gfp, &mut out)
    };
    let Some((dma, phys)) = block else {
        finish(dev, &ev, out);
        return std::ptr::null_mut();
    };
    let fill = if zero { 0 } else { POOL_POISON_ALLOCATED };
    c.memory.fill(phys, p.size as u64, fill);
    p.state.lock().busy.insert(dma, ev.site);
    ev.dma_addr = dma;
    finish(dev, &ev, out);
    *dma_handle = dma;
    c.memory
        .cpu_of(phys, p.size as u64)
        .map_or(std::ptr::null_mut(), |c| c.as_ptr())
}

/// A free block (checking its poison), from a new page if none is free: (DMA, physical).
#[track_caller]
fn take_block(pool: &DmaPool, gfp: Gfp, out: &mut Findings) -> Option<(DmaAddr, PhysAddr)> {
    let p = &pool.0;
    let c = p.dev.checker().inner();
    let free = p.state.lock().free.pop();
    let (page, offset) = match free {
        Some(block) => block,
        None => {
            let mut dma = 0;
            // The page is an ordinary coherent allocation, made at the caller's site.
            // The caller's flags were judged already (by `pool_alloc`); may it sleep or not, the
            // page is not a second sleeping allocation to report.
            let cpu = crate::dma_alloc_coherent(
                &p.dev,
                p.allocation,
                &mut dma,
                gfp - Gfp::DIRECT_RECLAIM,
            );
            if cpu.is_null() {
                return None;
            }
            let phys = c.memory.phys_of(cpu, p.allocation as u64).ok()?;
            c.memory.fill(phys, p.allocation as u64, POOL_POISON_FREED);
            pool_redzone::fill(&c.memory, phys, &p.redzones);
            let mut state = p.state.lock();
            state.pages.push(PoolPage { dma, phys });
            let index = state.pages.len() - 1;
            state
                .free
                .extend(p.offsets.iter().skip(1).rev().map(|&o| (index, o)));
            (index, p.offsets[0])
        }
    };
    let page = p.state.lock().pages[page];
    let (dma, phys) = (page.dma + offset as u64, page.phys + offset as u64);
    let mut bytes = vec![0u8; p.size];
    c.memory.read(phys, &mut bytes);
    // An overrun of the block before this one, through its redzone, is that block's.
    let overrun = block_index(p, offset)
        .checked_sub(1)
        .and_then(|before| check_redzone(p, &p.state.lock(), page, before));
    let overrun_reached_here = overrun.is_some() && bytes.first() != Some(&POOL_POISON_FREED);
    out.extend(overrun);
    let last_free = p.state.lock().freed.remove(&dma);
    if !overrun_reached_here {
        let poison = POOL_POISON_FREED;
        rules::pool::check_poison(&p.name, dma, &bytes, poison, last_free.as_ref(), out);
    }
    Some((dma, phys))
}

/// The index of the block at `offset` of a page allocation (an offset of a block).
fn block_index(p: &PoolInner, offset: usize) -> usize {
    p.offsets.binary_search(&offset).unwrap_or(0)
}

/// Judge the redzone of block `i` of `page` (see `pool_redzone`).
fn check_redzone(p: &PoolInner, state: &PoolState, page: PoolPage, i: usize) -> Option<Finding> {
    let dma = page.dma + p.offsets[i] as u64;
    let block = pool_redzone::Block {
        pool: &p.name,
        dma,
        size: p.size,
        allocated_at: state.busy.get(&dma),
    };
    pool_redzone::check(
        &p.dev.checker().inner().memory,
        page.phys,
        &p.redzones[i],
        &block,
    )
}

/// Put a block back (`dma_pool_free`): the pool it came from, and both addresses
/// `dma_pool_alloc` returned.
#[track_caller]
pub fn dma_pool_free(pool: &DmaPool, vaddr: *const u8, dma: DmaAddr) {
    let p = &pool.0;
    let dev = &p.dev;
    let c = dev.checker().inner();
    let mut ev = event(dev, Op::MemoryFree, "dma_pool_free");
    (ev.dma_addr, ev.size, ev.cpu_addr) = (dma, p.size as u64, Some(vaddr.addr() as u64));
    let mut out = Findings::new();
    let mut state = p.state.lock();
    let located = state
        .pages
        .iter()
        .enumerate()
        .find(|(_, pg)| pg.dma <= dma && dma < pg.dma + p.allocation as u64)
        .map(|(i, pg)| (i, *pg, (dma - pg.dma) as usize))
        .filter(|&(_, _, o)| p.offsets.binary_search(&o).is_ok());
    let block = match located {
        _ if state.destroyed => FreedBlock::PoolDestroyed,
        None => FreedBlock::Foreign,
        Some((_, page, offset)) => FreedBlock::Block {
            cpu_addr: c
                .memory
                .cpu_of(page.phys + offset as u64, 1)
                .map_or(0, |c| c.as_ptr().addr() as u64),
            allocated: state.busy.contains_key(&dma),
            freed_at: state.freed.get(&dma),
        },
    };
    let freeing = rules::pool::check_free(&p.name, dma, vaddr.addr() as u64, block, &mut out);
    if let Some((index, page, offset)) = located.filter(|_| freeing) {
        let allocated_at = state.busy.remove(&dma);
        let i = block_index(p, offset);
        let own = pool_redzone::Block {
            pool: &p.name,
            dma,
            size: p.size,
            allocated_at: allocated_at.as_ref(),
        };
        out.extend(pool_redzone::check(
            &c.memory,
            page.phys,
            &p.redzones[i],
            &own,
        ));
        if let Some(before) = i.checked_sub(1) {
            out.extend(check_redzone(p, &state, page, before));
        }
        c.memory
            .fill(page.phys + offset as u64, p.size as u64, POOL_POISON_FREED);
        state.free.push((index, offset));
        state.freed.insert(dma, ev.site);
    }
    drop(state);
    finish(dev, &ev, out);
}

/// Destroy the pool (`dma_pool_destroy`): every block must be free. Busy blocks are reported
/// with their allocation sites and their pages kept (they may still be in use); the other
/// pages are freed. Must be called where sleeping is allowed.
#[track_caller]
pub fn dma_pool_destroy(pool: DmaPool) {
    let p = &pool.0;
    let dev = &p.dev;
    let ev = event(dev, Op::MemoryFree, "dma_pool_destroy");
    let mut out = Findings::new();
    rules::context::check_pool_context(&ev, &mut out);
    let (pages, busy) = {
        let mut state = p.state.lock();
        if state.destroyed {
            out.push(rules::pool::use_after_destroy(&p.name, true));
            (Vec::new(), Vec::new())
        } else {
            for &page in &state.pages {
                for i in 0..p.offsets.len() {
                    out.extend(check_redzone(p, &state, page, i));
                }
            }
            state.destroyed = true;
            let busy: Vec<(DmaAddr, Site)> = state.busy.drain().collect();
            (std::mem::take(&mut state.pages), busy)
        }
    };
    rules::pool::check_destroy(&p.name, p.size, &busy, &mut out);
    let c = dev.checker().inner();
    for page in pages {
        let in_use = busy
            .iter()
            .any(|(dma, _)| page.dma <= *dma && *dma < page.dma + p.allocation as u64);
        if !in_use {
            let cpu = c
                .memory
                .cpu_of(page.phys, 1)
                .map_or(std::ptr::null_mut(), |c| c.as_ptr());
            crate::dma_free_coherent(dev, p.allocation, cpu, page.dma);
        }
    }
    finish(dev, &ev, out);
}

/// [`dma_pool_create`](crate::dma_pool_create), managed (`dmam_pool_create`): destroyed when
/// the device is released, as `dma_pool_destroy` would (blocks still allocated are reported).
/// The pool holds its device: release the device explicitly ([`Device::release`]).
#[track_caller]
pub fn dmam_pool_create(
    name: &str,
    dev: &Device,
    size: usize,
    align: usize,
    boundary: usize,
) -> Option<DmaPool> {
    let pool = dma_pool_create(name, dev, size, align, boundary)?;
    let managed = pool.clone();
    crate::api::keep(
        dev,
        Devres::Pool(Box::new(move || dma_pool_destroy(managed))),
    );
    Some(pool)
}
