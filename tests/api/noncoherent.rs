//! Noncoherent memory (`dma_alloc_noncoherent`, `dma_cache_sync`, `dma_is_consistent`): shared
//! views on a coherent platform (direct, IOMMU), split views behind bounce buffering, where a
//! missing `dma_cache_sync` shows as stale bytes and the ownership rules report it; partial syncs
//! must observe the cache alignment (`sync-unaligned`; a `dma_sync_single_range_*` only where
//! its lines reach past the mapping short of its end).

use crate::common;

use common::{assert_site, checker, rule_ids, single_violation};
use dmacheck::rules::{
    CPU_ACCESS_DEVICE_OWNED, DEVICE_ACCESS_CPU_OWNED, SYNC_UNALIGNED, SYNC_UNKNOWN,
    UNMAP_FUNCTION_MISMATCH,
};
use dmacheck::*;

const FILE: &str = "noncoherent.rs";

// ---------------------------------------------------------------------------------------------
// Helpers of this file (the shared ones are in tests/common)

fn direct(checker: &Checker) -> Device {
    checker.device("dsp0").driver("ncdrv").build()
}

fn iommu(checker: &Checker) -> Device {
    checker.device("dsp1").driver("ncdrv").iommu().build()
}

fn bounce(checker: &Checker) -> Device {
    checker.device("dsp2").driver("ncdrv").bounce().build()
}

/// The devices of every backend, with whether the platform they model is coherent.
fn every_backend(checker: &Checker) -> Vec<(Device, bool)> {
    vec![
        (direct(checker), true),
        (iommu(checker), true),
        (bounce(checker), false),
    ]
}

/// `size` bytes of noncoherent memory, which must not fail; its site is the caller's.
#[track_caller]
fn alloc_nc(dev: &Device, size: usize) -> (*mut u8, DmaAddr) {
    let mut dma = 0;
    let cpu = dma_alloc_noncoherent(dev, size, &mut dma, Gfp::KERNEL);
    assert!(!cpu.is_null(), "dma_alloc_noncoherent failed");
    assert_ne!(dma, DMA_MAPPING_ERROR);
    (cpu, dma)
}

fn line_size() -> usize {
    dma_get_cache_alignment() as usize
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(13)))
        .collect()
}

/// What the CPU pointer holds, read without any check (a peek at the CPU's view).
fn peek(cpu: *const u8, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    // SAFETY: `cpu` is a live allocation of at least `len` bytes.
    unsafe { std::ptr::copy_nonoverlapping(cpu, out.as_mut_ptr(), len) };
    out
}

// ---------------------------------------------------------------------------------------------
// Coherent and non-coherent platforms

#[test]
fn on_a_coherent_platform_the_cpu_and_device_views_are_shared_and_consistent() {
    let checker = checker();
    for dev in [direct(&checker), iommu(&checker)] {
        let (cpu, dma) = alloc_nc(&dev, 256);
        assert_eq!(dma_is_consistent(&dev, dma), 1, "{}", dev.name());

        let out = bytes(1, 256);
        checker.cpu_write(cpu, &out).unwrap();
        dma_cache_sync(&dev, cpu, 256, Direction::ToDevice);
        let mut seen = vec![0; 256];
        dev.dma_read(dma, &mut seen).unwrap();
        assert_eq!(seen, out);

        // The device's write lands in the CPU's view at once: there is one copy.
        let reply = bytes(99, 256);
        dev.dma_write(dma, &reply).unwrap();
        assert_eq!(peek(cpu, 256), reply, "{}: one shared copy", dev.name());
        dma_cache_sync(&dev, cpu, 256, Direction::FromDevice);
        checker.cpu_read(cpu, &mut seen).unwrap();
        assert_eq!(seen, reply);

        dma_free_noncoherent(&dev, 256, cpu, dma);
    }
    checker.assert_clean();
}

#[test]
fn behind_bounce_buffering_noncoherent_memory_is_not_consistent() {
    let checker = checker();
    let dev = bounce(&checker);
    let (cpu, dma) = alloc_nc(&dev, 256);
    assert_eq!(dma_is_consistent(&dev, dma), 0);

    // Coherent memory of the same device stays consistent.
    let mut cdma = 0;
    let coherent = dma_alloc_coherent(&dev, 256, &mut cdma, Gfp::KERNEL);
    assert!(!coherent.is_null());
    assert_eq!(dma_is_consistent(&dev, cdma), 1);

    // The device's write stays in the device's copy until the sync.
    let reply = bytes(7, 256);
    dma_cache_sync(&dev, cpu, 256, Direction::ToDevice);
    dev.dma_write(dma, &reply).unwrap();
    assert_ne!(
        peek(cpu, 256),
        reply,
        "two copies: the CPU's is not written"
    );
    dma_cache_sync(&dev, cpu, 256, Direction::FromDevice);
    assert_eq!(peek(cpu, 256), reply, "the sync brings the bytes over");

    dma_free_coherent(&dev, 256, coherent, cdma);
    dma_free_noncoherent(&dev, 256, cpu, dma);
    checker.assert_clean();
}

#[test]
fn consistency_is_per_allocation_and_per_device() {
    let checker = checker();
    let a = bounce(&checker);
    let b = checker.device("dsp3").bounce().build();
    let (cpu, dma) = alloc_nc(&a, 128);
    assert_eq!(dma_is_consistent(&a, dma), 0);
    assert_eq!(dma_is_consistent(&b, dma), 1, "not b's memory");
    dma_free_noncoherent(&a, 128, cpu, dma);
    assert_eq!(dma_is_consistent(&a, dma), 1, "freed");
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Missing syncs: stale data, reported by the ownership rules

#[test]
fn without_a_sync_to_device_the_device_reads_stale_bytes_and_it_is_reported() {
    let checker = checker();
    let dev = bounce(&checker);
    let alloc_line = line!() + 1;
    let (cpu, dma) = alloc_nc(&dev, 512);
    let out = bytes(3, 512);
    checker.cpu_write(cpu, &out).unwrap();
    assert!(checker.violations().is_empty(), "the CPU owns new memory");

    let mut seen = vec![0; 512];
    let read_line = line!() + 1;
    dev.dma_read(dma, &mut seen).unwrap();

    assert_ne!(seen, out, "the device's copy is stale");
    let v = single_violation(&checker, &DEVICE_ACCESS_CPU_OWNED);
    assert_eq!(v.call, "device read");
    assert_eq!(v.device, "dsp2");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(512));
    assert_eq!(v.mapped_by, Some("dma_alloc_noncoherent"));
    assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
    assert_site(&v.site, FILE, read_line);
    checker.take_violations();

    dma_cache_sync(&dev, cpu, 512, Direction::ToDevice);
    dev.dma_read(dma, &mut seen).unwrap();
    assert_eq!(seen, out, "after the sync the device reads the CPU's bytes");
    dma_free_noncoherent(&dev, 512, cpu, dma);
    checker.assert_clean();
}

#[test]
fn without_a_sync_from_device_the_cpu_reads_stale_bytes_and_it_is_reported() {
    let checker = checker();
    let dev = bounce(&checker);
    let alloc_line = line!() + 1;
    let (cpu, dma) = alloc_nc(&dev, 512);
    let request = bytes(5, 512);
    checker.cpu_write(cpu, &request).unwrap();
    let handed = line!() + 1;
    dma_cache_sync(&dev, cpu, 512, Direction::ToDevice);
    let reply = bytes(200, 512);
    dev.dma_write(dma, &reply).unwrap();

    let mut seen = vec![0; 512];
    let read_line = line!() + 1;
    checker.cpu_read(cpu, &mut seen).unwrap();

    assert_eq!(seen, request, "the CPU still sees its own, stale, copy");
    let v = single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED);
    assert_eq!(v.call, "cpu_read");
    assert_eq!(v.device, "dsp2");
    assert_eq!(v.detail_u64("cpu_addr"), Some(cpu.addr() as u64));
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(512));
    assert_eq!(v.mapped_by, Some("dma_alloc_noncoherent"));
    assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
    assert_site(&v.site, FILE, read_line);
    let related = v.related.as_ref().expect("names the hand-off");
    assert_eq!(related.label, "handed to the device at");
    assert_site(&related.site, FILE, handed);
    checker.take_violations();

    dma_cache_sync(&dev, cpu, 512, Direction::FromDevice);
    checker.cpu_read(cpu, &mut seen).unwrap();
    assert_eq!(
        seen, reply,
        "after the sync the CPU reads the device's bytes"
    );
    dma_free_noncoherent(&dev, 512, cpu, dma);
    checker.assert_clean();
}

#[test]
fn an_unchecked_cpu_write_while_the_device_owns_the_memory_is_lost_and_reported() {
    let checker = checker();
    let dev = bounce(&checker);
    let (cpu, dma) = alloc_nc(&dev, 256);
    dma_cache_sync(&dev, cpu, 256, Direction::ToDevice);
    let reply = bytes(40, 256);
    dev.dma_write(dma, &reply).unwrap();
    // The driver scribbles on its view (no checked accessor) while the device owns it.
    // SAFETY: `cpu` is a live allocation of 256 bytes.
    unsafe { cpu.add(17).write(0x99) };

    dma_cache_sync(&dev, cpu, 256, Direction::FromDevice);

    assert_eq!(
        rule_ids(&checker),
        [dmacheck::rules::CPU_WRITE_DEVICE_OWNED.id]
    );
    assert_eq!(
        peek(cpu, 256),
        reply,
        "the sync brought the device's bytes over it"
    );
    checker.take_violations();
    dma_free_noncoherent(&dev, 256, cpu, dma);
    checker.assert_clean();
}

#[test]
fn missing_syncs_are_reported_on_coherent_platforms_too() {
    // The bytes are shared there, but the driver still breaks the protocol it promised to keep.
    let checker = checker();
    for dev in [direct(&checker), iommu(&checker)] {
        let (cpu, dma) = alloc_nc(&dev, 128);
        let mut seen = vec![0; 128];
        dev.dma_read(dma, &mut seen).unwrap();
        dma_cache_sync(&dev, cpu, 128, Direction::ToDevice);
        checker.cpu_read(cpu, &mut seen).unwrap();
        assert_eq!(
            rule_ids(&checker),
            [DEVICE_ACCESS_CPU_OWNED.id, CPU_ACCESS_DEVICE_OWNED.id],
            "{}",
            dev.name()
        );
        checker.take_violations();
        dma_free_noncoherent(&dev, 128, cpu, dma);
    }
    checker.assert_clean();
}

#[test]
fn correct_use_with_every_sync_is_silent_on_every_backend() {
    let checker = checker();
    for (dev, coherent) in every_backend(&checker) {
        let (cpu, dma) = alloc_nc(&dev, 1024);
        assert_eq!(dma_is_consistent(&dev, dma), i32::from(coherent));
        for round in 0..3u8 {
            let out = bytes(round, 1024);
            checker.cpu_write(cpu, &out).unwrap();
            dma_cache_sync(&dev, cpu, 1024, Direction::ToDevice);
            let mut seen = vec![0; 1024];
            dev.dma_read(dma, &mut seen).unwrap();
            assert_eq!(seen, out, "{} round {round}", dev.name());
            let reply = bytes(round.wrapping_add(100), 1024);
            dev.dma_write(dma, &reply).unwrap();
            dma_cache_sync(&dev, cpu, 1024, Direction::FromDevice);
            checker.cpu_read(cpu, &mut seen).unwrap();
            assert_eq!(seen, reply, "{} round {round}", dev.name());
        }
        // BIDIRECTIONAL hands the CPU's bytes to the device, which owns them after.
        checker.cpu_write(cpu, b"bidi").unwrap();
        dma_cache_sync(&dev, cpu, 1024, Direction::Bidirectional);
        let mut head = [0; 4];
        dev.dma_read(dma, &mut head).unwrap();
        assert_eq!(&head, b"bidi");
        dma_free_noncoherent(&dev, 1024, cpu, dma);
    }
    checker.assert_clean();
}

#[test]
fn a_partial_aligned_sync_moves_only_its_lines() {
    let checker = checker();
    let dev = bounce(&checker);
    let line = line_size();
    let size = 8 * line;
    let (cpu, dma) = alloc_nc(&dev, size);
    let out = bytes(9, size);
    checker.cpu_write(cpu, &out).unwrap();

    dma_cache_sync(
        &dev,
        cpu.wrapping_add(2 * line),
        3 * line,
        Direction::ToDevice,
    );

    // The synced lines are the device's, with the CPU's bytes.
    let mut part = vec![0; 3 * line];
    dev.dma_read(dma + 2 * line as u64, &mut part).unwrap();
    assert_eq!(part, out[2 * line..5 * line]);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    // The line before is still the CPU's: stale on the device's side, and reported.
    let mut before = vec![0; line];
    dev.dma_read(dma + line as u64, &mut before).unwrap();
    assert_ne!(before, out[line..2 * line]);
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_CPU_OWNED.id]);
    checker.take_violations();
    dma_free_noncoherent(&dev, size, cpu, dma);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// sync-unaligned

#[test]
fn partial_dma_cache_sync_off_cache_lines_is_reported() {
    let line = line_size();
    let size = 16 * line;
    // (offset, length): a start inside a line, a length that ends inside a line.
    for (offset, len) in [(line / 2, line), (0, line + 1), (3 * line, line - 8)] {
        for (dev_of, what) in [
            (direct as fn(&Checker) -> Device, "direct"),
            (bounce, "bounce"),
        ] {
            let checker = checker();
            let dev = dev_of(&checker);
            let alloc_line = line!() + 1;
            let (cpu, dma) = alloc_nc(&dev, size);
            let sync_line = line!() + 1;
            dma_cache_sync(&dev, cpu.wrapping_add(offset), len, Direction::ToDevice);
            let v = single_violation(&checker, &SYNC_UNALIGNED);
            assert_eq!(v.call, "dma_cache_sync", "{what} {offset}+{len}");
            assert_eq!(v.detail_u64("dma_addr"), Some(dma));
            assert_eq!(v.detail_u64("offset"), Some(offset as u64));
            assert_eq!(v.detail_u64("size"), Some(len as u64));
            assert_eq!(v.mapped_by, Some("dma_alloc_noncoherent"));
            assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
            assert_site(&v.site, FILE, sync_line);
            assert!(
                v.message.contains(&format!("{line}-byte")),
                "names the line size: {}",
                v.message
            );
            checker.take_violations();
            dma_free_noncoherent(&dev, size, cpu, dma);
            checker.assert_clean();
        }
    }
}

#[test]
fn aligned_partial_syncs_and_syncs_to_the_end_are_silent() {
    let line = line_size();
    // Not a whole number of lines: the last partial sync ends at the buffer's end.
    let size = 10 * line + line / 2;
    let checker = checker();
    for (dev, _) in every_backend(&checker) {
        let (cpu, dma) = alloc_nc(&dev, size);
        let syncs = [
            (line, 2 * line),
            (0, line),
            (9 * line, size - 9 * line),
            (10 * line, size - 10 * line),
            (0, size),
        ];
        for (offset, len) in syncs {
            dma_cache_sync(&dev, cpu.wrapping_add(offset), len, Direction::ToDevice);
            dma_cache_sync(&dev, cpu.wrapping_add(offset), len, Direction::FromDevice);
            assert!(
                checker.violations().is_empty(),
                "{} {offset}+{len}: {:?}",
                dev.name(),
                rule_ids(&checker)
            );
        }
        dma_free_noncoherent(&dev, size, cpu, dma);
        checker.assert_clean();
    }
}

#[test]
fn an_unaligned_start_is_reported_even_when_the_range_ends_at_the_end() {
    let checker = checker();
    let dev = direct(&checker);
    let line = line_size();
    let size = 4 * line;
    let (cpu, dma) = alloc_nc(&dev, size);
    dma_cache_sync(
        &dev,
        cpu.wrapping_add(line + 4),
        size - line - 4,
        Direction::ToDevice,
    );
    let v = single_violation(&checker, &SYNC_UNALIGNED);
    assert_eq!(v.detail_u64("offset"), Some(line as u64 + 4));
    checker.take_violations();
    dma_free_noncoherent(&dev, size, cpu, dma);
    checker.assert_clean();
}

#[test]
fn partial_single_range_syncs_off_cache_lines_are_reported() {
    let line = line_size();
    let size = 16 * line + 40;
    // The mapping ends 40 bytes into a line: ranges ending in that line short of the
    // mapping's end reach the 24 bytes past it.
    let cases: [(usize, usize, bool); 3] = [
        (16 * line, 39, true),
        (16 * line + 10, 20, false),
        (size - 2, 1, true),
    ];
    for (offset, len, for_cpu) in cases {
        let checker = checker();
        let dev = bounce(&checker);
        let buf = kmalloc(&checker, size, Gfp::KERNEL);
        let map_line = line!() + 1;
        let dma = dma_map_single(&dev, buf, size, Direction::Bidirectional);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        let sync_line = line!() + 2;
        if for_cpu {
            dma_sync_single_range_for_cpu(&dev, dma, offset, len, Direction::Bidirectional);
        } else {
            dma_sync_single_range_for_device(&dev, dma, offset, len, Direction::Bidirectional);
        }
        let v = single_violation(&checker, &SYNC_UNALIGNED);
        let call = if for_cpu {
            "dma_sync_single_range_for_cpu"
        } else {
            "dma_sync_single_range_for_device"
        };
        assert_eq!(v.call, call);
        assert_eq!(v.detail_u64("dma_addr"), Some(dma));
        assert_eq!(v.detail_u64("offset"), Some(offset as u64));
        assert_eq!(v.detail_u64("size"), Some(len as u64));
        assert_eq!(v.mapped_by, Some("dma_map_single"));
        assert_site(v.mapped_at.as_ref().unwrap(), FILE, map_line);
        if for_cpu {
            assert_site(&v.site, FILE, sync_line);
        } else {
            assert_site(&v.site, FILE, sync_line + 2);
        }
        checker.take_violations();
        if for_cpu {
            dma_sync_single_range_for_device(&dev, dma, 0, size, Direction::Bidirectional);
        }
        dma_unmap_single(&dev, dma, size, Direction::Bidirectional);
        kfree(&checker, buf);
        checker.assert_clean();
    }
}

#[test]
fn single_range_syncs_in_the_mappings_lines_or_to_its_end_are_silent() {
    let line = line_size();
    let size = 16 * line + 40;
    let checker = checker();
    for dev in [direct(&checker), bounce(&checker), iommu(&checker)] {
        let buf = kmalloc(&checker, size, Gfp::KERNEL);
        let dma = dma_map_single(&dev, buf, size, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        let to_the_end = [(16 * line, 40), (size - 1, 1)];
        let inside = [
            (0, line),
            (2 * line, 4 * line),
            (10, line),
            (3, 5),
            (0, size),
        ];
        for (offset, len) in inside.into_iter().chain(to_the_end) {
            dma_sync_single_range_for_cpu(&dev, dma, offset, len, Direction::FromDevice);
            dma_sync_single_range_for_device(&dev, dma, offset, len, Direction::FromDevice);
        }
        assert!(
            checker.violations().is_empty(),
            "{}: {:?}",
            dev.name(),
            rule_ids(&checker)
        );
        dma_unmap_single(&dev, dma, size, Direction::FromDevice);
        kfree(&checker, buf);
    }
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Releases with the wrong function, syncs of other memory

#[test]
fn freeing_noncoherent_memory_with_dma_free_coherent_is_a_function_mismatch() {
    let checker = checker();
    for (dev, _) in every_backend(&checker) {
        let in_use = checker.memory().bytes_in_use();
        let alloc_line = line!() + 1;
        let (cpu, dma) = alloc_nc(&dev, 300);
        let free_line = line!() + 1;
        dma_free_coherent(&dev, 300, cpu, dma);

        let v = single_violation(&checker, &UNMAP_FUNCTION_MISMATCH);
        assert_eq!(v.call, "dma_free_coherent", "{}", dev.name());
        assert_eq!(v.detail_u64("dma_addr"), Some(dma));
        assert_eq!(
            v.detail("mapped_kind"),
            Some(&Value::Kind(MapKind::Noncoherent))
        );
        assert_eq!(v.detail("kind"), Some(&Value::Kind(MapKind::Coherent)));
        assert!(v.message.contains("dma_free_noncoherent"), "{}", v.message);
        assert_eq!(v.mapped_by, Some("dma_alloc_noncoherent"));
        assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
        assert_site(&v.site, FILE, free_line);
        // The memory is released as it was allocated: both copies.
        assert!(checker.live_entries().is_empty());
        assert_eq!(checker.memory().bytes_in_use(), in_use, "{}", dev.name());
        assert_eq!(dma_is_consistent(&dev, dma), 1);
        checker.take_violations();
    }
}

#[test]
fn freeing_coherent_memory_with_dma_free_noncoherent_is_a_function_mismatch() {
    let checker = checker();
    let dev = bounce(&checker);
    let mut dma = 0;
    let cpu = dma_alloc_coherent(&dev, 300, &mut dma, Gfp::KERNEL);
    dma_free_noncoherent(&dev, 300, cpu, dma);
    let v = single_violation(&checker, &UNMAP_FUNCTION_MISMATCH);
    assert_eq!(v.call, "dma_free_noncoherent");
    assert_eq!(
        v.detail("mapped_kind"),
        Some(&Value::Kind(MapKind::Coherent))
    );
    assert!(checker.live_entries().is_empty());
}

#[test]
fn dma_free_noncoherent_of_its_own_memory_is_silent_and_frees_both_copies() {
    let checker = checker();
    let dev = bounce(&checker);
    let in_use = checker.memory().bytes_in_use();
    let (cpu, dma) = alloc_nc(&dev, 5000);
    assert!(checker.memory().bytes_in_use() > in_use);
    dma_free_noncoherent(&dev, 5000, cpu, dma);
    assert_eq!(checker.memory().bytes_in_use(), in_use);
    checker.assert_clean();
}

#[test]
fn dma_cache_sync_of_other_memory_is_unknown() {
    let checker = checker();
    let dev = bounce(&checker);
    let other = iommu(&checker);
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let (cpu, dma) = alloc_nc(&other, 256);

    dma_cache_sync(&dev, buf, 256, Direction::ToDevice);
    dma_cache_sync(&dev, cpu, 256, Direction::ToDevice);

    let all = checker.violations();
    assert_eq!(rule_ids(&checker), [SYNC_UNKNOWN.id, SYNC_UNKNOWN.id]);
    assert_eq!(all[0].call, "dma_cache_sync");
    assert_eq!(all[0].detail_u64("cpu_addr"), Some(buf.addr() as u64));
    assert_eq!(
        all[1].detail_u64("cpu_addr"),
        Some(cpu.addr() as u64),
        "another device's noncoherent memory"
    );
    checker.take_violations();
    dma_free_noncoherent(&other, 256, cpu, dma);
    kfree(&checker, buf);
    checker.assert_clean();
}
