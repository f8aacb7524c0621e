//! Declared coherent memory (`dma_declare_coherent_memory`, `dma_release_declared_memory`,
//! `dma_mark_declared_memory_occupied`): the seed's return values, coherent allocations served
//! from the region (with or without fallback, for children or not), occupied parts avoided, and
//! a release while allocations from the region are live reported.

use crate::common;

use common::{assert_site, checker, device, rule_ids, single_violation};
use dmacheck::rules::{DECLARED_MEMORY_BAD_PARAMETERS, DECLARED_MEMORY_BUSY};
use dmacheck::*;

const FILE: &str = "declared_memory.rs";
const PAGE: u64 = PAGE_SIZE as u64;
/// Where the devices see their regions: an address of their own, unlike any CPU physical one.
const DEVICE_ADDR: DmaAddr = 0x8000_0000;

// ---------------------------------------------------------------------------------------------
// Helpers of this file (the shared ones are in tests/common)

/// Memory the platform set aside: 2^order pages, their CPU address and bus address.
struct Carve {
    page: Page,
    order: u32,
    cpu: *mut u8,
    bus: PhysAddr,
}

impl Carve {
    fn new(checker: &Checker, order: u32) -> Carve {
        let page = alloc_pages(checker, Gfp::KERNEL, order).expect("pages for the carve-out");
        let cpu = page_address(page);
        let bus = virt_to_phys(checker, cpu).expect("DMA memory");
        Carve {
            page,
            order,
            cpu,
            bus,
        }
    }

    fn size(&self) -> usize {
        PAGE_SIZE << self.order
    }

    fn free(self, checker: &Checker) {
        free_pages(checker, self.page, self.order);
    }
}

/// A coherent allocation; NULL allowed.
#[track_caller]
fn alloc(dev: &Device, size: usize) -> (*mut u8, DmaAddr) {
    let mut dma = 0;
    let cpu = dma_alloc_coherent(dev, size, &mut dma, Gfp::KERNEL);
    (cpu, dma)
}

fn in_region(dma: DmaAddr, size: usize) -> bool {
    (DEVICE_ADDR..DEVICE_ADDR + size as u64).contains(&dma)
}

// ---------------------------------------------------------------------------------------------
// Return values and bad parameters

#[test]
fn declare_returns_the_flag_asked_for_map_first() {
    let checker = checker();
    let cases = [
        (DMA_MEMORY_MAP, DMA_MEMORY_MAP),
        (DMA_MEMORY_IO, DMA_MEMORY_IO),
        (DMA_MEMORY_MAP | DMA_MEMORY_IO, DMA_MEMORY_MAP),
        (DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE, DMA_MEMORY_MAP),
        (DMA_MEMORY_IO | DMA_MEMORY_INCLUDES_CHILDREN, DMA_MEMORY_IO),
        (
            DMA_MEMORY_IO | DMA_MEMORY_INCLUDES_CHILDREN | DMA_MEMORY_EXCLUSIVE,
            DMA_MEMORY_IO,
        ),
    ];
    for (i, (flags, expected)) in cases.into_iter().enumerate() {
        let dev = device(&checker, &format!("sram{i}"));
        let carve = Carve::new(&checker, 2);
        let got = dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), flags);
        assert_eq!(got, expected, "flags {flags:#x}");
        assert_ne!(got & flags, 0, "the result is one of the flags passed");
        dma_release_declared_memory(&dev);
        carve.free(&checker);
    }
    checker.assert_clean();
}

#[test]
fn declare_without_map_or_io_returns_zero_and_is_reported() {
    for flags in [0, DMA_MEMORY_EXCLUSIVE, DMA_MEMORY_INCLUDES_CHILDREN] {
        let checker = checker();
        let dev = device(&checker, "sram0");
        let carve = Carve::new(&checker, 2);
        let line = line!() + 1;
        let got = dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), flags);

        assert_eq!(got, 0, "flags {flags:#x}");
        let v = single_violation(&checker, &DECLARED_MEMORY_BAD_PARAMETERS);
        assert_eq!(v.call, "dma_declare_coherent_memory");
        assert_eq!(v.device, "sram0");
        assert_eq!(v.detail_u64("bus_addr"), Some(carve.bus));
        assert_eq!(v.detail_u64("device_addr"), Some(DEVICE_ADDR));
        assert_eq!(v.detail_u64("size"), Some(carve.size() as u64));
        assert_eq!(v.detail_u64("flags"), Some(flags as u64));
        assert!(v.message.contains("DMA_MEMORY_MAP"), "{}", v.message);
        assert_site(&v.site, FILE, line);

        // No region: allocations come from ordinary memory.
        checker.take_violations();
        let (cpu, dma) = alloc(&dev, PAGE_SIZE);
        assert!(!cpu.is_null());
        assert!(!in_region(dma, carve.size()));
        dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
        carve.free(&checker);
        checker.assert_clean();
    }
}

#[test]
fn declare_of_a_size_that_is_not_a_page_multiple_returns_zero_and_is_reported() {
    for size in [PAGE_SIZE + 1, 100, 3 * PAGE_SIZE - 512, 0] {
        let checker = checker();
        let dev = device(&checker, "sram0");
        let carve = Carve::new(&checker, 2);
        let got = dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, size, DMA_MEMORY_MAP);
        assert_eq!(got, 0, "size {size}");
        let v = single_violation(&checker, &DECLARED_MEMORY_BAD_PARAMETERS);
        assert_eq!(v.detail_u64("size"), Some(size as u64));
        assert!(v.message.contains("page size"), "{}", v.message);
        checker.take_violations();
        let (cpu, dma) = alloc(&dev, 64);
        assert!(!in_region(dma, carve.size()), "no region was declared");
        dma_free_coherent(&dev, 64, cpu, dma);
        carve.free(&checker);
        checker.assert_clean();
    }
}

#[test]
fn a_second_region_returns_zero_and_the_first_keeps_serving() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let first = Carve::new(&checker, 1);
    let second = Carve::new(&checker, 1);
    let flags = DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE;
    assert_eq!(
        dma_declare_coherent_memory(&dev, first.bus, DEVICE_ADDR, first.size(), flags),
        DMA_MEMORY_MAP
    );
    let other_addr = DEVICE_ADDR + 0x1000_0000;
    let line = line!() + 1;
    let got = dma_declare_coherent_memory(&dev, second.bus, other_addr, second.size(), flags);

    assert_eq!(got, 0);
    let v = single_violation(&checker, &DECLARED_MEMORY_BAD_PARAMETERS);
    assert!(v.message.contains("second region"), "{}", v.message);
    assert_eq!(v.detail_u64("bus_addr"), Some(second.bus));
    assert_eq!(v.detail_u64("device_addr"), Some(other_addr));
    assert_site(&v.site, FILE, line);
    checker.take_violations();

    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    assert!(
        in_region(dma, first.size()),
        "{dma:#x} is from the first region"
    );
    assert_eq!(
        virt_to_phys(&checker, cpu),
        Some(first.bus + (dma - DEVICE_ADDR))
    );
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    dma_release_declared_memory(&dev);
    first.free(&checker);
    second.free(&checker);
    checker.assert_clean();
}

#[test]
fn regions_off_page_or_partly_in_host_memory_are_refused() {
    let checker = checker();
    let carve = Carve::new(&checker, 1);
    let end = checker.memory().phys_end();
    let cases = [
        (
            carve.bus + 8,
            DEVICE_ADDR,
            "a bus address that is not page-aligned",
        ),
        (end - PAGE, DEVICE_ADDR, "partly host memory and partly not"),
        (
            carve.bus,
            DEVICE_ADDR + 8,
            "a device address range that is not page-aligned",
        ),
    ];
    for (i, (bus, dev_addr, why)) in cases.into_iter().enumerate() {
        let dev = device(&checker, &format!("sram{i}"));
        let got = dma_declare_coherent_memory(&dev, bus, dev_addr, 2 * PAGE_SIZE, DMA_MEMORY_MAP);
        assert_eq!(got, 0, "{why}");
        let v = single_violation(&checker, &DECLARED_MEMORY_BAD_PARAMETERS);
        assert_eq!(v.detail_u64("bus_addr"), Some(bus), "{why}");
        assert!(v.message.contains(why), "{}", v.message);
        checker.take_violations();
    }
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn a_page_aligned_region_of_memory_with_map_or_io_is_declared_silently() {
    let checker = checker();
    for (i, flags) in [DMA_MEMORY_MAP, DMA_MEMORY_IO].into_iter().enumerate() {
        let dev = device(&checker, &format!("sram{i}"));
        let carve = Carve::new(&checker, 1);
        let got = dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), flags);
        assert_eq!(got, flags);
        dma_release_declared_memory(&dev);
        carve.free(&checker);
    }
    assert_eq!(checker.count(&DECLARED_MEMORY_BAD_PARAMETERS), 0);
}

/// The usual case: memory on the device (on-chip SRAM at a bus address outside host memory),
/// which dmacheck backs with memory of its own.
#[test]
fn memory_on_the_device_is_declared_and_reached_by_cpu_and_device_alike() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    // Above host memory, as a PCI BAR or an SoC's SRAM is.
    let bus = (checker.memory().phys_end() + (1 << 30)).next_multiple_of(PAGE);
    let in_use = checker.memory().bytes_in_use();
    let flags = DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE;
    let size = 8 * PAGE_SIZE;
    assert_eq!(
        dma_declare_coherent_memory(&dev, bus, DEVICE_ADDR, size, flags),
        DMA_MEMORY_MAP
    );
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    let (cpu, dma) = alloc(&dev, 3 * PAGE_SIZE);
    assert!(!cpu.is_null() && in_region(dma, size), "{dma:#x}");
    let out: Vec<u8> = (0..3 * PAGE_SIZE).map(|i| (i * 7) as u8).collect();
    checker.cpu_write(cpu, &out).unwrap();
    let mut seen = vec![0; out.len()];
    dev.dma_read(dma, &mut seen).unwrap();
    assert_eq!(seen, out, "the device reads what the CPU wrote");
    dev.dma_write(dma + 100, b"sram").unwrap();
    let mut back = [0; 4];
    checker.cpu_read(cpu.wrapping_add(100), &mut back).unwrap();
    assert_eq!(&back, b"sram", "the CPU reads what the device wrote");
    // Exclusive: the rest of the window, then nothing.
    let (rest, rest_dma) = alloc(&dev, 5 * PAGE_SIZE);
    assert!(!rest.is_null() && in_region(rest_dma, size));
    assert!(alloc(&dev, 64).0.is_null());
    dma_free_coherent(&dev, 3 * PAGE_SIZE, cpu, dma);
    dma_free_coherent(&dev, 5 * PAGE_SIZE, rest, rest_dma);
    dma_release_declared_memory(&dev);
    assert_eq!(
        checker.memory().bytes_in_use(),
        in_use,
        "the memory standing for the device's is freed with the region"
    );
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Allocations from the region

#[test]
fn coherent_allocations_come_from_the_region_and_the_device_reaches_them_there() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 3);
    let flags = DMA_MEMORY_MAP;
    assert_eq!(
        dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), flags),
        DMA_MEMORY_MAP
    );
    let sizes = [100, PAGE_SIZE, 3 * PAGE_SIZE - 1, 64];
    let mut allocs = Vec::new();
    for size in sizes {
        let (cpu, dma) = alloc(&dev, size);
        assert!(!cpu.is_null());
        assert!(in_region(dma, carve.size()), "{dma:#x}");
        assert!(dma + size as u64 <= DEVICE_ADDR + carve.size() as u64);
        assert_eq!(dma % PAGE, 0, "the region is tracked per page");
        // The CPU's bytes are the region's memory at the bus address...
        let offset = dma - DEVICE_ADDR;
        assert_eq!(virt_to_phys(&checker, cpu), Some(carve.bus + offset));
        assert_eq!(cpu, carve.cpu.wrapping_add(offset as usize));
        // ...and the device reaches them at the device address, both ways.
        let out: Vec<u8> = (0..size).map(|i| (i as u64 ^ dma) as u8).collect();
        checker.cpu_write(cpu, &out).unwrap();
        let mut seen = vec![0; size];
        dev.dma_read(dma, &mut seen).unwrap();
        assert_eq!(seen, out, "the device reads the CPU's bytes at {dma:#x}");
        let back: Vec<u8> = out.iter().map(|b| !b).collect();
        dev.dma_write(dma, &back).unwrap();
        checker.cpu_read(cpu, &mut seen).unwrap();
        assert_eq!(seen, back, "the CPU reads the device's bytes");
        allocs.push((cpu, dma, size));
    }
    // The allocations do not overlap (in whole pages).
    let mut pages: Vec<(u64, u64)> = allocs
        .iter()
        .map(|&(_, dma, size)| (dma, dma + (size as u64).div_ceil(PAGE) * PAGE))
        .collect();
    pages.sort_unstable();
    assert!(pages.windows(2).all(|w| w[0].1 <= w[1].0), "{pages:#x?}");
    for (cpu, dma, size) in allocs {
        dma_free_coherent(&dev, size, cpu, dma);
    }
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn allocations_from_the_region_are_zeroed_and_freed_pages_are_reused() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 1);
    assert_eq!(
        dma_declare_coherent_memory(
            &dev,
            carve.bus,
            DEVICE_ADDR,
            carve.size(),
            DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE
        ),
        DMA_MEMORY_MAP
    );
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    checker.cpu_write(cpu, &[0xee; PAGE_SIZE]).unwrap();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    let (again, again_dma) = alloc(&dev, PAGE_SIZE);
    assert!(in_region(again_dma, carve.size()));
    let mut seen = vec![0xff; PAGE_SIZE];
    checker.cpu_read(again, &mut seen).unwrap();
    assert!(seen.iter().all(|&b| b == 0), "coherent memory comes zeroed");
    dma_free_coherent(&dev, PAGE_SIZE, again, again_dma);
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn an_exclusive_region_never_falls_back() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 1); // two pages
    let flags = DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE;
    assert_eq!(
        dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), flags),
        DMA_MEMORY_MAP
    );
    let a = alloc(&dev, PAGE_SIZE);
    let b = alloc(&dev, 10);
    assert!(in_region(a.1, carve.size()) && in_region(b.1, carve.size()));

    let full = alloc(&dev, 10);
    assert!(full.0.is_null(), "the region is full and exclusive");
    assert_eq!(full.1, DMA_MAPPING_ERROR);
    let too_big = alloc(&dev, carve.size() + PAGE_SIZE);
    assert!(too_big.0.is_null(), "larger than the region");
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));

    dma_free_coherent(&dev, PAGE_SIZE, a.0, a.1);
    let c = alloc(&dev, 10);
    assert_eq!(c.1, a.1, "the freed page serves the next allocation");
    dma_free_coherent(&dev, 10, b.0, b.1);
    dma_free_coherent(&dev, 10, c.0, c.1);
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn a_non_exclusive_region_falls_back_to_ordinary_memory() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 1); // two pages
    assert_eq!(
        dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP),
        DMA_MEMORY_MAP
    );
    let a = alloc(&dev, carve.size());
    assert!(in_region(a.1, carve.size()));
    let b = alloc(&dev, 100);
    assert!(!b.0.is_null(), "falls back");
    assert!(!in_region(b.1, carve.size()));
    let b_phys = virt_to_phys(&checker, b.0).unwrap();
    assert!(
        !(carve.bus..carve.bus + carve.size() as u64).contains(&b_phys),
        "ordinary memory, not the carve-out"
    );
    // The fallback allocation is as usable as any.
    checker.cpu_write(b.0, b"fallback").unwrap();
    let mut seen = [0; 8];
    dev.dma_read(b.1, &mut seen).unwrap();
    assert_eq!(&seen, b"fallback");
    dma_free_coherent(&dev, 100, b.0, b.1);
    dma_free_coherent(&dev, carve.size(), a.0, a.1);
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Children

#[test]
fn a_region_that_includes_children_serves_child_devices() {
    let checker = checker();
    let bridge = device(&checker, "bridge0");
    let child = checker.device("child").parent(&bridge).build();
    let grandchild = checker.device("grandchild").parent(&child).build();
    let carve = Carve::new(&checker, 2);
    let flags = DMA_MEMORY_MAP | DMA_MEMORY_INCLUDES_CHILDREN;
    assert_eq!(
        dma_declare_coherent_memory(&bridge, carve.bus, DEVICE_ADDR, carve.size(), flags),
        DMA_MEMORY_MAP
    );
    for dev in [&child, &grandchild, &bridge] {
        let (cpu, dma) = alloc(dev, 256);
        assert!(in_region(dma, carve.size()), "{}: {dma:#x}", dev.name());
        assert_eq!(
            virt_to_phys(&checker, cpu),
            Some(carve.bus + (dma - DEVICE_ADDR))
        );
        checker.cpu_write(cpu, dev.name().as_bytes()).unwrap();
        let mut seen = vec![0; dev.name().len()];
        dev.dma_read(dma, &mut seen).unwrap();
        assert_eq!(seen, dev.name().as_bytes());
        dma_free_coherent(dev, 256, cpu, dma);
    }
    dma_release_declared_memory(&bridge);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn without_includes_children_a_child_does_not_use_the_region() {
    let checker = checker();
    let bridge = device(&checker, "bridge0");
    let child = checker.device("child").parent(&bridge).build();
    let carve = Carve::new(&checker, 2);
    let flags = DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE;
    assert_eq!(
        dma_declare_coherent_memory(&bridge, carve.bus, DEVICE_ADDR, carve.size(), flags),
        DMA_MEMORY_MAP
    );
    let (cpu, dma) = alloc(&child, 256);
    assert!(
        !cpu.is_null(),
        "the bridge's exclusivity does not bind the child"
    );
    assert!(!in_region(dma, carve.size()), "{dma:#x}");
    let (bcpu, bdma) = alloc(&bridge, 256);
    assert!(in_region(bdma, carve.size()));
    assert!(
        checker
            .live_entries()
            .iter()
            .all(|e| e.device() != child.id() || !in_region(e.dma_addr(), carve.size()))
    );
    dma_free_coherent(&child, 256, cpu, dma);
    dma_free_coherent(&bridge, 256, bcpu, bdma);
    dma_release_declared_memory(&bridge);
    carve.free(&checker);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// declared-memory-busy

#[test]
fn releasing_the_region_with_live_allocations_is_reported_and_they_can_still_be_freed() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 3);
    assert_eq!(
        dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP),
        DMA_MEMORY_MAP
    );
    let sizes = [100, 2 * PAGE_SIZE + 1];
    let live: Vec<_> = sizes.iter().map(|&s| (alloc(&dev, s), s)).collect();
    let freed = alloc(&dev, PAGE_SIZE);
    dma_free_coherent(&dev, PAGE_SIZE, freed.0, freed.1);

    let line = line!() + 1;
    dma_release_declared_memory(&dev);

    let v = single_violation(&checker, &DECLARED_MEMORY_BUSY);
    assert_eq!(v.call, "dma_release_declared_memory");
    assert_eq!(v.device, "sram0");
    assert_eq!(v.detail_u64("device_addr"), Some(DEVICE_ADDR));
    let live_bytes: u64 = sizes
        .iter()
        .map(|&s| (s as u64).div_ceil(PAGE) * PAGE)
        .sum();
    assert_eq!(v.detail_u64("live_bytes"), Some(live_bytes));
    assert!(
        v.message.contains('2'),
        "counts the allocations: {}",
        v.message
    );
    assert_site(&v.site, FILE, line);
    checker.take_violations();

    // The live allocations still work, and are freed without complaint.
    for &((cpu, dma), size) in &live {
        checker.cpu_write(cpu, b"alive").unwrap();
        let mut seen = [0; 5];
        dev.dma_read(dma, &mut seen).unwrap();
        assert_eq!(&seen, b"alive");
        dma_free_coherent(&dev, size, cpu, dma);
    }
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    // The region is gone: new allocations come from ordinary memory.
    let (cpu, dma) = alloc(&dev, 64);
    assert!(!in_region(dma, carve.size()));
    dma_free_coherent(&dev, 64, cpu, dma);
    // And a new region may be declared.
    assert_eq!(
        dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_IO),
        DMA_MEMORY_IO
    );
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn releasing_an_idle_region_is_silent() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 1);
    assert_eq!(
        dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP),
        DMA_MEMORY_MAP
    );
    let (cpu, dma) = alloc(&dev, 64);
    dma_free_coherent(&dev, 64, cpu, dma);
    // Occupied pages are the driver's, not allocations: no in-use report.
    dma_mark_declared_memory_occupied(&dev, DEVICE_ADDR, PAGE_SIZE).unwrap();
    dma_release_declared_memory(&dev);
    // Releasing a device that has no region does nothing either.
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// dma_mark_declared_memory_occupied

#[test]
fn marking_memory_occupied_returns_its_cpu_address() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 2);
    dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP);
    for (offset, size) in [(0, PAGE_SIZE), (PAGE + 100, 50), (3 * PAGE, 1)] {
        let cpu = dma_mark_declared_memory_occupied(&dev, DEVICE_ADDR + offset, size)
            .unwrap_or_else(|e| panic!("{offset:#x}+{size}: {e}"));
        assert_eq!(cpu, carve.cpu.wrapping_add(offset as usize));
        assert_eq!(virt_to_phys(&checker, cpu), Some(carve.bus + offset));
    }
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn marking_an_occupied_part_returns_ebusy() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 2); // four pages
    dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP);
    dma_mark_declared_memory_occupied(&dev, DEVICE_ADDR + PAGE, PAGE_SIZE).unwrap();
    // The same page, a range reaching into it, part of it.
    for (addr, size) in [
        (DEVICE_ADDR + PAGE, PAGE_SIZE),
        (DEVICE_ADDR, 2 * PAGE_SIZE),
        (DEVICE_ADDR + PAGE + 512, 16),
    ] {
        assert_eq!(
            dma_mark_declared_memory_occupied(&dev, addr, size),
            Err(-EBUSY),
            "{addr:#x}+{size}"
        );
    }
    // A page a live allocation holds is occupied too.
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    assert!(in_region(dma, carve.size()));
    assert_eq!(
        dma_mark_declared_memory_occupied(&dev, dma, PAGE_SIZE),
        Err(-EBUSY)
    );
    // The pages next to them are free.
    let free_page = (0..4)
        .map(|i| DEVICE_ADDR + i * PAGE)
        .find(|&a| a != DEVICE_ADDR + PAGE && a != dma)
        .unwrap();
    assert!(dma_mark_declared_memory_occupied(&dev, free_page, PAGE_SIZE).is_ok());
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn marking_outside_the_region_returns_einval() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 1); // two pages
    let size = carve.size() as u64;
    assert_eq!(
        dma_mark_declared_memory_occupied(&dev, DEVICE_ADDR, PAGE_SIZE),
        Err(-EINVAL),
        "no region yet"
    );
    dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP);
    for (addr, len) in [
        (DEVICE_ADDR - PAGE, PAGE_SIZE),
        (DEVICE_ADDR + size, PAGE_SIZE),
        (DEVICE_ADDR + PAGE, 2 * PAGE_SIZE),
        (DEVICE_ADDR - 1, 2),
    ] {
        assert_eq!(
            dma_mark_declared_memory_occupied(&dev, addr, len),
            Err(-EINVAL),
            "{addr:#x}+{len}"
        );
    }
    // Nothing was occupied by the refusals: the whole region can still be allocated.
    let (cpu, dma) = alloc(&dev, carve.size());
    assert_eq!(dma, DEVICE_ADDR);
    dma_free_coherent(&dev, carve.size(), cpu, dma);
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}

#[test]
fn marking_a_huge_size_returns_einval_without_a_panic() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 1);
    dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), DMA_MEMORY_MAP);
    assert_eq!(
        dma_mark_declared_memory_occupied(&dev, DEVICE_ADDR + 100, usize::MAX),
        Err(-EINVAL)
    );
    dma_release_declared_memory(&dev);
    carve.free(&checker);
}

#[test]
fn allocations_avoid_occupied_pages() {
    let checker = checker();
    let dev = device(&checker, "sram0");
    let carve = Carve::new(&checker, 3); // eight pages
    let flags = DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE;
    dma_declare_coherent_memory(&dev, carve.bus, DEVICE_ADDR, carve.size(), flags);
    let occupied = [0u64, 2, 5];
    for &p in &occupied {
        dma_mark_declared_memory_occupied(&dev, DEVICE_ADDR + p * PAGE, PAGE_SIZE).unwrap();
    }
    let mut taken = Vec::new();
    // One page at a time until the region is full.
    loop {
        let (cpu, dma) = alloc(&dev, PAGE_SIZE);
        if cpu.is_null() {
            break;
        }
        let page = (dma - DEVICE_ADDR) / PAGE;
        assert!(!occupied.contains(&page), "page {page} is occupied");
        taken.push((cpu, dma));
    }
    assert_eq!(
        taken.len() as u64,
        (carve.size() as u64 / PAGE) - occupied.len() as u64,
        "every free page, and only those"
    );
    for (cpu, dma) in taken {
        dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    }
    // Two contiguous pages exist only at 3..5 and 6..8.
    let (cpu, dma) = alloc(&dev, 2 * PAGE_SIZE);
    let first = (dma - DEVICE_ADDR) / PAGE;
    assert!(!occupied.contains(&first) && !occupied.contains(&(first + 1)));
    dma_free_coherent(&dev, 2 * PAGE_SIZE, cpu, dma);
    dma_release_declared_memory(&dev);
    carve.free(&checker);
    checker.assert_clean();
}
