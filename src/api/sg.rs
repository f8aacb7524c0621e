//! Scatter-gather lists: `dma_map_sg`, `dma_unmap_sg` and their syncs.

use crate::device::Device;
use crate::event::{Event, Op};
use crate::faults::FaultKind;
use crate::rules;
use crate::rules::{Findings, Value};
use crate::sg::{SgState, SgTable};
use crate::types::{Direction, DmaAttrs, MapKind};

use super::{carry_out_release, checking, event, injected_failure, report_refusal, unchecked};

#[track_caller]
fn sg_event(
    dev: &Device,
    op: Op,
    call: &'static str,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> Event {
    let mut ev = event(dev, op, call, MapKind::Sg);
    (ev.nents, ev.dir, ev.attrs) = (Some(u32::try_from(nents).unwrap_or(u32::MAX)), dir, attrs);
    ev
}

/// Map the first `nents` entries of `sgl` for the device (`dma_map_sg`). Returns the number of
/// DMA segments, which an IOMMU may make fewer than `nents` by merging; 0 on failure. Walk
/// `count` entries with [`for_each_sg`](crate::for_each_sg); unmap with `nents`.
#[track_caller]
pub fn dma_map_sg(dev: &Device, sgl: &mut SgTable, nents: usize, dir: Direction) -> usize {
    dma_map_sg_attrs(dev, sgl, nents, dir, DmaAttrs::empty())
}

/// [`dma_map_sg`] with attributes (`dma_map_sg_attrs`).
#[track_caller]
pub fn dma_map_sg_attrs(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> usize {
    if !checking(dev) {
        return unchecked::map_sg(dev, sgl, nents, dir, attrs);
    }
    let mut ev = sg_event(dev, Op::Map, "dma_map_sg", nents, dir, attrs);
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return 0;
    };
    let mut out = Findings::new();
    let count = map_sg(dev, sgl, nents, &mut ev, &mut out);
    rules::sg::dedupe(&mut out);
    drop(admitted);
    dev.checker().inner().finish(&ev, out);
    count
}

fn map_sg(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    ev: &mut Event,
    out: &mut Findings,
) -> usize {
    let c = dev.checker().inner();
    if !rules::map::check_direction(ev, out) {
        return 0;
    }
    if !rules::sg::check_not_mapped(&sgl.state, nents, out) {
        return 0;
    }
    sgl.owner = Some((dev.checker().clone(), dev.id()));
    sgl.mapped_at = Some(ev.site);
    sgl.state = SgState::Failed;
    let filled = sgl
        .entries()
        .iter()
        .take(nents)
        .all(|e| e.page().is_some() && e.length() > 0);
    if !rules::sg::check_list(nents, sgl.len(), filled, out) {
        return 0;
    }
    let mut segs = Vec::with_capacity(nents);
    for e in &sgl.entries()[..nents] {
        match c.memory.phys_of(e.virt(), e.length() as u64) {
            Ok(phys) => segs.push((phys, e.length() as u64)),
            Err(err) => {
                report_refusal(dev, ev, &err, out);
                return 0;
            }
        }
    }
    let params = dev.params();
    let mapped = injected_failure(dev, FaultKind::MapSg)
        .and_then(|()| dev.backend().map_sg(&params, &segs, ev.dir, ev.attrs));
    let dma_segs = match mapped {
        Ok(dma_segs) => dma_segs,
        Err(err) => {
            report_refusal(dev, ev, &err, out);
            return 0;
        }
    };
    rules::sg::check_segments(&params, &dma_segs, out);
    ev.mapped_ents = dma_segs.len() as u32;
    ev.dma_addr = dma_segs[0].0;
    c.record_map_sg(ev, dma_segs.iter().map(|&(a, len)| (a, len, None)), out);
    sgl.store_dma(&dma_segs);
    sgl.state = SgState::Mapped {
        nents,
        count: dma_segs.len(),
        dir: ev.dir,
    };
    dma_segs.len()
}

/// End the mapping of an sg list (`dma_unmap_sg`): `nents` is the count passed to
/// [`dma_map_sg`], not the count it returned.
#[track_caller]
pub fn dma_unmap_sg(dev: &Device, sgl: &mut SgTable, nents: usize, dir: Direction) {
    dma_unmap_sg_attrs(dev, sgl, nents, dir, DmaAttrs::empty());
}

/// [`dma_unmap_sg`] with attributes (`dma_unmap_sg_attrs`).
#[track_caller]
pub fn dma_unmap_sg_attrs(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    if !checking(dev) {
        return unchecked::unmap_sg(dev, sgl, dir, attrs);
    }
    let ev = sg_event(dev, Op::Unmap, "dma_unmap_sg", nents, dir, attrs);
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    if !ev.dir.is_valid() {
        rules::map::check_direction(&ev, &mut out);
    }
    match sgl.state {
        SgState::Failed => out.push(rules::sg::unmap_failed_map()),
        SgState::Unmapped => out.push(
            rules::release::unmap_unknown_list("the list was never mapped")
                .with("nents", Value::Num(nents as u64)),
        ),
        _ if !on_its_device(dev, sgl, &mut out) => {}
        SgState::Released { count } => {
            if let Some(&seg) = sgl.dma_segments(count).first() {
                c.record_unmap_sg_again(&ev, seg, &mut out);
            }
        }
        SgState::Mapped { count, .. } => {
            let segments = sgl.dma_segments(count);
            let carry_out = |e: &_, out: &mut _| carry_out_release(dev, e, out);
            if c.record_unmap_sg(&ev, &segments, &mut out, carry_out) {
                sgl.state = SgState::Released { count };
            }
        }
    }
    rules::sg::dedupe(&mut out);
    drop(admitted);
    c.finish(&ev, out);
}

#[track_caller]
fn sync_sg(dev: &Device, op: Op, call: &'static str, sgl: &SgTable, nents: usize, dir: Direction) {
    if !checking(dev) {
        if let Some((_, count, _)) = sgl.mapping() {
            for (dma, len) in sgl.dma_segments(count) {
                unchecked::sync(dev, op, dma, len as usize, dir);
            }
        }
        return;
    }
    let ev = sg_event(dev, op, call, nents, dir, DmaAttrs::empty());
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    match sgl.state {
        _ if !on_its_device(dev, sgl, &mut out) => {}
        SgState::Mapped { count, .. } => {
            let params = dev.params();
            c.record_sync_sg(
                &ev,
                sgl.dma_segments(count),
                &mut out,
                |start, len| match op {
                    Op::SyncForCpu => dev.backend().sync_for_cpu(&params, start, len, dir),
                    _ => dev.backend().sync_for_device(&params, start, len, dir),
                },
            );
        }
        SgState::Released { count } if count > 0 => {
            c.record_sync_sg_again(&ev, sgl.dma_segments(1)[0], &mut out);
        }
        _ => out.push(rules::sync::sync_unknown_list().with("nents", Value::Num(nents as u64))),
    }
    rules::sg::dedupe(&mut out);
    drop(admitted);
    c.finish(&ev, out);
}

/// The list is mapped (or was last mapped) for this device; reported otherwise.
fn on_its_device(dev: &Device, sgl: &SgTable, out: &mut Findings) -> bool {
    let owner = sgl.owner.as_ref().map(|&(_, owner)| owner);
    let name_of = |id| dev.checker().device_name(id);
    let mapped_at = sgl.mapped_at.as_ref();
    rules::release::check_list_device(&sgl.state, dev.id(), owner, name_of, mapped_at, out)
}

/// Hand a mapped sg list to the CPU (`dma_sync_sg_for_cpu`), with the `nents` it was mapped with.
#[track_caller]
pub fn dma_sync_sg_for_cpu(dev: &Device, sgl: &SgTable, nents: usize, dir: Direction) {
    sync_sg(dev, Op::SyncForCpu, "dma_sync_sg_for_cpu", sgl, nents, dir);
}

/// Hand a mapped sg list back to the device (`dma_sync_sg_for_device`).
#[track_caller]
pub fn dma_sync_sg_for_device(dev: &Device, sgl: &SgTable, nents: usize, dir: Direction) {
    sync_sg(
        dev,
        Op::SyncForDevice,
        "dma_sync_sg_for_device",
        sgl,
        nents,
        dir,
    );
}
