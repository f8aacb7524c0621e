//! Trap mode: plain-pointer CPU accesses to device-owned buffers fault and are reported at the
//! faulting line, and the program runs on. Signal handlers are process-wide, so these tests
//! live in a binary of their own; each has its own checker (its own arena, so pages never
//! overlap between tests running in parallel), and faults are routed to the checker whose
//! memory they hit.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

#[macro_use]
mod common;

use common::{quiet, rule_ids};
use dmacheck::rules::{CPU_ACCESS_DEVICE_OWNED, CPU_ACCESS_OVERRUN, CPU_WRITE_DEVICE_OWNED};
use dmacheck::*;

fn trap_checker() -> Checker {
    quiet().trap(true).build()
}

/// Assert that `v` was reported at line `line` of this file.
#[track_caller]
fn assert_at_line(v: &Violation, line: u32) {
    let at = v
        .site
        .trace()
        .unwrap_or_else(|| panic!("{} has no instruction site: {}", v.rule.id, v.site));
    assert!(
        at.file.ends_with("tests/trap.rs"),
        "reported in {}",
        at.file
    );
    assert_eq!(at.line, u64::from(line), "reported at {}", v.site);
}

#[test]
fn a_plain_read_of_a_buffer_the_device_owns_is_reported_at_its_line_and_the_program_runs_on() {
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let buf = kmalloc(&checker, 1536, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 1536, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dev.dma_write(dma, &[0x5a; 16]).unwrap();

    let line = line!() + 2; // the access, after its SAFETY comment
    // SAFETY: `buf` is a live 1536-byte allocation; reading it early is the bug under test.
    let early = unsafe { buf.add(8).read_volatile() };
    checker.trap_flush();

    assert_eq!(early, 0x5a, "the read completed after the fault");
    assert_eq!(rule_ids(&checker), [CPU_ACCESS_DEVICE_OWNED.id]);
    let v = &checker.violations()[0];
    assert_at_line(v, line);
    assert_eq!(v.device, "eth0");
    assert!(v.message.contains("read"), "{}", v.message);

    dma_sync_single_for_cpu(&dev, dma, 1536, Direction::FromDevice);
    // SAFETY: as above; the CPU owns the buffer now.
    assert_eq!(unsafe { buf.add(8).read_volatile() }, 0x5a);
    dma_unmap_single(&dev, dma, 1536, Direction::FromDevice);
    kfree(&checker, buf);
    assert_eq!(
        rule_ids(&checker),
        [CPU_ACCESS_DEVICE_OWNED.id],
        "nothing more"
    );
    assert_eq!(checker.live_entries().len(), 0);
}

#[test]
fn a_plain_write_to_a_buffer_the_device_reads_is_reported_at_its_line_when_synced() {
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let buf = kzalloc(&checker, 4096, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 4096, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    // A read of a buffer the device only reads is allowed, and stays silent.
    // SAFETY: `buf` is a live 4096-byte allocation.
    assert_eq!(unsafe { buf.add(100).read_volatile() }, 0);
    let line = line!() + 2; // the access, after its SAFETY comment
    // SAFETY: as above; writing while the device owns it is the bug under test.
    unsafe { buf.add(100).write_volatile(7) };
    // Reported at the next hand-back, before ownership moves, with no flush in the program.
    dma_unmap_single(&dev, dma, 4096, Direction::ToDevice);

    let access = common::violations_of(&checker, &CPU_ACCESS_DEVICE_OWNED);
    assert_eq!(access.len(), 1, "one report of the one write");
    let access = &access[0];
    assert_at_line(access, line);
    assert!(access.message.contains("write"), "{}", access.message);
    // The write happened, and the fingerprints see it too.
    // SAFETY: as above; unmapped, the CPU owns it.
    assert_eq!(unsafe { buf.add(100).read_volatile() }, 7);
    assert_eq!(
        rule_ids(&checker),
        [CPU_ACCESS_DEVICE_OWNED.id, CPU_WRITE_DEVICE_OWNED.id]
    );
    kfree(&checker, buf);
}

#[test]
fn a_clean_rx_ring_that_syncs_and_reads_through_plain_pointers_is_silent() {
    const SLOTS: usize = 8;
    const LEN: usize = 1536;
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let ring: Vec<(*mut u8, DmaAddr)> = (0..SLOTS)
        .map(|_| {
            let buf = kmalloc(&checker, LEN, Gfp::KERNEL);
            let dma = dma_map_single(&dev, buf, LEN, Direction::FromDevice);
            assert_eq!(dma_mapping_error(&dev, dma), 0);
            (buf, dma)
        })
        .collect();
    let mut sum = 0u64;
    for round in 0..4u8 {
        for (i, &(buf, dma)) in ring.iter().enumerate() {
            // The device fills the slot (its accesses bypass the protection).
            dev.dma_write(dma, &[round ^ i as u8; LEN]).unwrap();
            dma_sync_single_for_cpu(&dev, dma, LEN, Direction::FromDevice);
            // SAFETY: a live LEN-byte buffer the CPU owns after the sync.
            let packet = unsafe { std::slice::from_raw_parts(buf, LEN) };
            assert!(packet.iter().all(|&b| b == round ^ i as u8));
            sum += packet.iter().map(|&b| u64::from(b)).sum::<u64>();
            dma_sync_single_for_device(&dev, dma, LEN, Direction::FromDevice);
        }
    }
    assert!(sum > 0);
    for (buf, dma) in ring {
        dma_unmap_single(&dev, dma, LEN, Direction::FromDevice);
        kfree(&checker, buf);
    }
    checker.trap_flush();
    checker.assert_clean();
}

#[test]
fn a_sub_page_buffer_has_a_page_of_its_own_ending_where_it_ends() {
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let rx = kmalloc(&checker, 64, Gfp::KERNEL);
    let other = kmalloc(&checker, 64, Gfp::KERNEL);
    assert_eq!(
        (rx.addr() + 64) % PAGE_SIZE,
        0,
        "against the end of its page"
    );
    assert_ne!(
        rx.addr() / PAGE_SIZE,
        other.addr() / PAGE_SIZE,
        "pages not shared"
    );
    let dma = dma_map_single(&dev, rx, 64, Direction::FromDevice);

    // The neighbour allocation is the CPU's: touching it is silent.
    // SAFETY: `other` is a live 64-byte allocation the CPU owns.
    unsafe { other.write_volatile(1) };
    let line = line!() + 2; // the access, after its SAFETY comment
    // SAFETY: `rx` is a live 64-byte allocation; reading it now is the bug under test.
    let _ = unsafe { rx.add(63).read_volatile() };
    dma_sync_single_for_cpu(&dev, dma, 64, Direction::FromDevice);

    assert_at_line(
        &common::single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED),
        line,
    );
    dma_unmap_single(&dev, dma, 64, Direction::FromDevice);
    kfree(&checker, rx);
    kfree(&checker, other);
}

#[test]
fn an_overrun_past_the_end_of_a_buffer_faults_in_its_guard_page_and_is_reported() {
    let checker = trap_checker();
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    // SAFETY: the last byte of the 256-byte allocation.
    unsafe { buf.add(255).write_volatile(1) };
    let line = line!() + 2; // the access, after its SAFETY comment
    // SAFETY: none: one byte past the end, the bug under test; the guard page takes the write.
    unsafe { buf.add(256).write_volatile(2) };
    checker.trap_flush();

    let v = common::single_violation(&checker, &CPU_ACCESS_OVERRUN);
    assert_at_line(&v, line);
    assert!(v.to_string().contains("offset"), "{v}");
    kfree(&checker, buf);
}

#[test]
fn accesses_up_to_the_last_byte_of_a_buffer_are_no_overrun() {
    let checker = trap_checker();
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    for i in 0..256 {
        // SAFETY: `buf` is a live 256-byte allocation the CPU owns.
        unsafe { buf.add(i).write_volatile(i as u8) };
    }
    // SAFETY: the same allocation, read back.
    let last = unsafe { buf.add(255).read_volatile() };
    checker.trap_flush();

    assert_eq!(last, 255);
    assert_eq!(checker.count(&CPU_ACCESS_OVERRUN), 0);
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn a_partly_synced_buffer_keeps_the_pages_the_cpu_owns_open() {
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let len = 3 * PAGE_SIZE;
    let buf = kmalloc(&checker, len, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, len, Direction::FromDevice);
    // The header page is the CPU's again; the rest stays the device's.
    dma_sync_single_range_for_cpu(&dev, dma, 0, PAGE_SIZE, Direction::FromDevice);
    // SAFETY: inside the live allocation, in the part the CPU owns.
    let _ = unsafe { buf.add(10).read_volatile() };
    checker.trap_flush();
    assert_eq!(
        rule_ids(&checker),
        Vec::<&str>::new(),
        "the CPU's page is open"
    );
    let line = line!() + 2; // the access, after its SAFETY comment
    // SAFETY: inside the live allocation, in the part the device owns: the bug under test.
    let _ = unsafe { buf.add(2 * PAGE_SIZE).read_volatile() };
    checker.trap_flush();
    assert_at_line(
        &common::single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED),
        line,
    );
    dma_unmap_single(&dev, dma, len, Direction::FromDevice);
    kfree(&checker, buf);
}

#[test]
fn a_deny_level_panics_after_the_handler_returned_not_inside_it() {
    let checker = quiet()
        .trap(true)
        .level(&CPU_ACCESS_DEVICE_OWNED, Level::Deny)
        .build();
    let dev = common::device(&checker, "eth0");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::Bidirectional);
    // SAFETY: a live 512-byte allocation; the access is the bug under test.
    let _ = unsafe { buf.read_volatile() };
    let flushed = std::panic::catch_unwind(|| checker.trap_flush());
    let message = *flushed
        .expect_err("a deny level panics at the report")
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("cpu-access-device-owned"), "{message}");
    dma_unmap_single(&dev, dma, 512, Direction::Bidirectional);
    kfree(&checker, buf);
}

#[test]
fn the_trap_directive_turns_trap_mode_on() {
    let checker = quiet().spec("trap").unwrap().build();
    assert!(checker.config().trap);
    assert!(!common::checker().config().trap);
    assert!(quiet().spec("trap=2x").is_err());
}

#[test]
fn a_segfault_elsewhere_still_kills_the_program_as_before() {
    if common::is_child("TRAP_SEGV_CHILD") {
        // Trap mode from the environment, as a C program gets it.
        let checker = Checker::new();
        assert!(checker.config().trap);
        let _buf = kmalloc(&checker, 64, Gfp::KERNEL);
        let wild = std::ptr::without_provenance_mut::<u8>(0x10);
        // SAFETY: none: a wild write, to show it is not swallowed by the trap handler.
        unsafe { wild.write_volatile(1) };
        unreachable!("the write above faults");
    }
    let out = common::this_binary_as_child(
        "a_segfault_elsewhere_still_kills_the_program_as_before",
        "TRAP_SEGV_CHILD",
    )
    .args(["--exact", "--nocapture", "--test-threads=1"])
    .env("DMACHECK", "trap")
    .output()
    .expect("the child runs");
    use std::os::unix::process::ExitStatusExt;
    // Not swallowed, not looping: the default action of SIGSEGV (11), as without trap mode.
    assert_eq!(out.status.signal(), Some(11), "{:?}", out.status);
}

/// A bidirectional ring on each backend: the bounce copies at `sync_for_device` read the
/// protected buffer, the device model writes it; neither is the driver's access, and a driver
/// that syncs correctly stays silent.
fn a_bidirectional_ring_that_syncs_is_silent_on(via: common::Via) {
    const LEN: usize = 2048;
    let checker = trap_checker();
    let dev = common::device_via(&checker, "nic0", "testdrv", via);
    let buf = kzalloc(&checker, LEN, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, LEN, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    for round in 1..=3u8 {
        dev.dma_write(dma, &[round; 64]).unwrap();
        let mut seen = [0u8; 64];
        dev.dma_read(dma + 64, &mut seen).unwrap();
        assert_eq!(seen, [round - 1; 64], "the device reads what the CPU wrote");
        dma_sync_single_for_cpu(&dev, dma, LEN, Direction::Bidirectional);
        // SAFETY: a live LEN-byte buffer the CPU owns after the sync.
        unsafe {
            assert_eq!(buf.read_volatile(), round);
            buf.add(64).write_bytes(round, 64);
        }
        dma_sync_single_for_device(&dev, dma, LEN, Direction::Bidirectional);
    }
    dma_unmap_single(&dev, dma, LEN, Direction::Bidirectional);
    kfree(&checker, buf);
    checker.trap_flush();
    checker.assert_clean();
}

on_each_backend!(a_bidirectional_ring_that_syncs_is_silent_on);

#[test]
fn an_access_from_another_thread_is_reported_at_its_line_too() {
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 1024, Direction::FromDevice);
    let addr = buf.addr();
    let line = std::thread::spawn(move || {
        let buf = std::ptr::with_exposed_provenance_mut::<u8>(addr);
        let line = line!() + 2; // the access, after its SAFETY comment
        // SAFETY: the live buffer of the spawning test; reading it early is the bug under test.
        let _ = unsafe { buf.add(5).read_volatile() };
        line
    })
    .join()
    .unwrap();
    dma_sync_single_for_cpu(&dev, dma, 1024, Direction::FromDevice);
    assert_at_line(
        &common::single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED),
        line,
    );
    dma_unmap_single(&dev, dma, 1024, Direction::FromDevice);
    kfree(&checker, buf);
}

#[test]
fn coherent_memory_is_never_protected() {
    let checker = trap_checker();
    let dev = common::device(&checker, "eth0");
    let mut dma = 0;
    let cpu = dma_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
    assert!(!cpu.is_null());
    dev.dma_write(dma, &[9; 8]).unwrap();
    // SAFETY: a live 4096-byte coherent allocation, shared by design.
    unsafe {
        assert_eq!(cpu.read_volatile(), 9);
        cpu.add(8).write_volatile(1);
    }
    checker.trap_flush();
    dma_free_coherent(&dev, 4096, cpu, dma);
    checker.assert_clean();
}
