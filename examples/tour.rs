//! A tour of dmacheck: a toy network driver (and a toy block driver, for scatter-gather lists
//! behind an IOMMU) make each DMA API mistake once, dmacheck reports each one, then the same
//! drivers run clean.
//!
//! Run it with `cargo run --example tour`. It exits non-zero if any mistake goes unreported or
//! the clean run is not clean.

use dmacheck::*;

const BUF: usize = 2048;
const RING: usize = 8;

/// A toy NIC driver: an RX ring of receive buffers and a descriptor ring in coherent memory.
struct ToyNic<'a> {
    checker: &'a Checker,
    dev: &'a Device,
    desc: *mut u8,
    desc_dma: DmaAddr,
    rx: Vec<(*mut u8, DmaAddr)>,
}

impl<'a> ToyNic<'a> {
    fn open(checker: &'a Checker, dev: &'a Device) -> ToyNic<'a> {
        assert_eq!(dma_set_mask_and_coherent(dev, dma_bit_mask(32)), 0);
        let mut desc_dma = 0;
        let desc = dma_alloc_coherent(dev, RING * 16, &mut desc_dma, Gfp::KERNEL);
        assert!(!desc.is_null());
        let rx = (0..RING)
            .map(|_| {
                let buf = kmalloc(checker, BUF, Gfp::KERNEL);
                let dma = dma_map_single(dev, buf, BUF, Direction::FromDevice);
                assert_eq!(dma_mapping_error(dev, dma), 0, "RX map failed");
                (buf, dma)
            })
            .collect();
        ToyNic {
            checker,
            dev,
            desc,
            desc_dma,
            rx,
        }
    }

    /// Send one packet: copy, map, (the device reads it), unmap.
    fn xmit(&self, packet: &[u8]) {
        let buf = kmalloc(self.checker, packet.len(), Gfp::ATOMIC);
        // SAFETY: buf is a fresh allocation of packet.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(packet.as_ptr(), buf, packet.len()) };
        let dma = dma_map_single(self.dev, buf, packet.len(), Direction::ToDevice);
        if dma_mapping_error(self.dev, dma) != 0 {
            kfree(self.checker, buf);
            return;
        }
        dma_unmap_single(self.dev, dma, packet.len(), Direction::ToDevice);
        kfree(self.checker, buf);
    }

    /// Receive: hand each buffer to the CPU, read it, hand it back to the device.
    fn rx_poll(&self) -> usize {
        for &(buf, dma) in &self.rx {
            dma_sync_single_for_cpu(self.dev, dma, BUF, Direction::FromDevice);
            // SAFETY: the buffer is owned by the CPU between the two syncs.
            let _first = unsafe { buf.read() };
            dma_sync_single_for_device(self.dev, dma, BUF, Direction::FromDevice);
        }
        self.rx.len()
    }

    fn close(self) {
        for (buf, dma) in self.rx {
            dma_unmap_single(self.dev, dma, BUF, Direction::FromDevice);
            kfree(self.checker, buf);
        }
        dma_free_coherent(self.dev, RING * 16, self.desc, self.desc_dma);
    }
}

type Scenario = fn(&Checker, &Device);

/// Something a scenario wants shown under its title.
static NOTE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn note(text: String) {
    *NOTE.lock().unwrap() = Some(text);
}

/// One mistake each: (title, the rule that must report it, the buggy code).
const MISTAKES: &[(&str, &str, Scenario)] = &[
    ("map with DMA_NONE", "direction-none", |c, dev| {
        let buf = kmalloc(c, 64, Gfp::KERNEL);
        let _ = dma_map_single(dev, buf, 64, Direction::None);
    }),
    ("map an empty packet", "map-zero-size", |c, dev| {
        let buf = kmalloc(c, 64, Gfp::KERNEL);
        let _ = dma_map_single(dev, buf, 0, Direction::ToDevice);
    }),
    (
        "a length computed below zero",
        "map-range-overflow",
        |c, dev| {
            let (len, header) = (10usize, 14usize);
            let page = alloc_pages(c, Gfp::KERNEL, 0).unwrap();
            let _ = dma_map_page(
                dev,
                page,
                header,
                len.wrapping_sub(header),
                Direction::ToDevice,
            );
        },
    ),
    (
        "ISA-style device maps ordinary memory (no GFP_DMA)",
        "map-above-mask",
        |c, _| {
            let isa = c
                .device("isa0")
                .driver("toy-isa")
                .dma_mask(dma_bit_mask(24))
                .build();
            let buf = kmalloc(c, 512, Gfp::KERNEL);
            let dma = dma_map_single(&isa, buf, 512, Direction::ToDevice);
            assert_ne!(dma_mapping_error(&isa, dma), 0);
        },
    ),
    ("map a buffer on the stack", "map-stack-memory", |_, dev| {
        let frame = [0u8; 60];
        let _ = dma_map_single(dev, frame.as_ptr(), frame.len(), Direction::ToDevice);
    }),
    ("unmap a stale handle", "unmap-unknown", |_, dev| {
        dma_unmap_single(dev, 0x0dea_d000, BUF, Direction::FromDevice);
    }),
    ("unmap after a failed map", "unmap-mapping-error", |c, _| {
        let isa = c
            .device("isa0")
            .driver("toy-isa")
            .dma_mask(dma_bit_mask(24))
            .build();
        let buf = kmalloc(c, 512, Gfp::KERNEL);
        let dma = dma_map_single(&isa, buf, 512, Direction::ToDevice);
        dma_unmap_single(&isa, dma, 512, Direction::ToDevice);
    }),
    ("unmap on the other port", "wrong-device", |c, dev| {
        let port1 = c.device("eth1").driver("toy-nic").build();
        let buf = kmalloc(c, BUF, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, BUF, Direction::ToDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
        dma_unmap_single(&port1, dma, BUF, Direction::ToDevice);
        dma_unmap_single(dev, dma, BUF, Direction::ToDevice);
    }),
    (
        "unmap with the buffer's capacity, not the mapped length",
        "unmap-size-mismatch",
        |c, dev| {
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, 1514, Direction::ToDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            dma_unmap_single(dev, dma, BUF, Direction::ToDevice);
        },
    ),
    (
        "unmap a TX buffer as if it were RX",
        "unmap-direction-mismatch",
        |c, dev| {
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, BUF, Direction::ToDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            dma_unmap_single(dev, dma, BUF, Direction::FromDevice);
        },
    ),
    (
        "map_single, then unmap_page",
        "unmap-function-mismatch",
        |c, dev| {
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, BUF, Direction::ToDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            dma_unmap_page(dev, dma, BUF, Direction::ToDevice);
        },
    ),
    (
        "free the ring through a pointer into its middle",
        "free-cpu-address-mismatch",
        |_, dev| {
            let mut dma = 0;
            let ring = dma_alloc_coherent(dev, 4096, &mut dma, Gfp::KERNEL);
            dma_free_coherent(dev, 4096, ring.wrapping_add(64), dma);
        },
    ),
    ("TX completion runs twice", "double-unmap", |c, dev| {
        let buf = kmalloc(c, BUF, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, BUF, Direction::ToDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
        dma_unmap_single(dev, dma, BUF, Direction::ToDevice);
        dma_unmap_single(dev, dma, BUF, Direction::ToDevice);
    }),
    ("never test the mapping", "unmap-unchecked", |c, dev| {
        let buf = kmalloc(c, BUF, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, BUF, Direction::ToDevice);
        dma_unmap_single(dev, dma, BUF, Direction::ToDevice);
    }),
    (
        "free the descriptor ring under spin_lock_irqsave",
        "free-coherent-irqs-disabled",
        |_, dev| {
            let mut dma = 0;
            let ring = dma_alloc_coherent(dev, 4096, &mut dma, Gfp::KERNEL);
            let _flags = local_irq_save();
            dma_free_coherent(dev, 4096, ring, dma);
        },
    ),
    (
        "sync a buffer after unmapping it",
        "sync-unknown",
        |c, dev| {
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, BUF, Direction::FromDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            dma_unmap_single(dev, dma, BUF, Direction::FromDevice);
            dma_sync_single_for_cpu(dev, dma, BUF, Direction::FromDevice);
        },
    ),
    (
        "sync the whole length from an offset",
        "sync-out-of-range",
        |c, dev| {
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, BUF, Direction::FromDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            dma_sync_single_range_for_cpu(dev, dma, 64, BUF, Direction::FromDevice);
            dma_unmap_single(dev, dma, BUF, Direction::FromDevice);
        },
    ),
    (
        "sync an RX buffer with TO_DEVICE",
        "sync-direction-mismatch",
        |c, dev| {
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, BUF, Direction::FromDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            dma_sync_single_for_device(dev, dma, BUF, Direction::ToDevice);
            dma_unmap_single(dev, dma, BUF, Direction::FromDevice);
        },
    ),
    (
        "unmap an sg list with the count dma_map_sg returned",
        "sg-unmap-nents-mismatch",
        |c, _| {
            let (disk, mut sgl, pages) = sg_of_pages(c, 4);
            let count = dma_map_sg(&disk, &mut sgl, 4, Direction::ToDevice);
            assert!(count < 4, "the IOMMU merged the pages");
            dma_unmap_sg(&disk, &mut sgl, count, Direction::ToDevice);
            free_all(c, pages);
        },
    ),
    (
        "walk nents entries of a mapped list instead of count",
        "sg-dma-beyond-count",
        |c, _| {
            let (disk, mut sgl, pages) = sg_of_pages(c, 4);
            let count = dma_map_sg(&disk, &mut sgl, 4, Direction::ToDevice);
            let _descriptors: Vec<_> = for_each_sg(&sgl, 4)
                .map(|sg| (sg_dma_address(&sg), sg_dma_len(&sg)))
                .collect();
            dma_unmap_sg(&disk, &mut sgl, 4, Direction::ToDevice);
            assert!(count < 4);
            free_all(c, pages);
        },
    ),
    (
        "map an sg list that is still mapped",
        "sg-map-mapped",
        |c, _| {
            let (disk, mut sgl, pages) = sg_of_pages(c, 2);
            let _ = dma_map_sg(&disk, &mut sgl, 2, Direction::FromDevice);
            let _ = dma_map_sg(&disk, &mut sgl, 2, Direction::FromDevice);
            dma_unmap_sg(&disk, &mut sgl, 2, Direction::FromDevice);
            free_all(c, pages);
        },
    ),
    (
        "read a received packet without syncing for the CPU",
        "cpu-access-device-owned",
        |c, _| {
            // Behind bounce buffers (as on a non-coherent board) the driver really reads stale bytes.
            let nic = c.device("eth2").driver("toy-nic").bounce().build();
            let buf = kzalloc(c, 64, Gfp::KERNEL);
            let dma = dma_map_single(&nic, buf, 64, Direction::FromDevice);
            assert_eq!(dma_mapping_error(&nic, dma), 0);
            nic.dma_write(dma, b"fresh packet").unwrap();
            let mut seen = [0u8; 12];
            c.cpu_read(buf, &mut seen).unwrap();
            note(format!(
                "the driver read {:?} where the device wrote \"fresh packet\"",
                String::from_utf8_lossy(&seen)
            ));
            dma_unmap_single(&nic, dma, 64, Direction::FromDevice);
        },
    ),
    (
        "write a TX buffer after mapping it",
        "cpu-write-device-owned",
        |c, dev| {
            let buf = kzalloc(c, 64, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, 64, Direction::ToDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            // SAFETY: buf is a live allocation of 64 bytes.
            unsafe { buf.write(0x45) };
            dma_unmap_single(dev, dma, 64, Direction::ToDevice);
        },
    ),
    (
        "give the device the CPU pointer instead of the DMA address",
        "device-access-unmapped",
        |c, dev| {
            let buf = kzalloc(c, 64, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, 64, Direction::ToDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            let descriptor_addr = buf as u64; // should have been `dma`
            assert!(dev.dma_read_u32(descriptor_addr).is_err());
            dma_unmap_single(dev, dma, 64, Direction::ToDevice);
        },
    ),
    (
        "allocate a ring with GFP_KERNEL under a spinlock",
        "sleeping-alloc-in-atomic",
        |_, dev| {
            let lock = SpinLock::new(());
            let _guard = lock.lock_irqsave();
            let mut dma = 0;
            let _ = dma_alloc_coherent(dev, 4096, &mut dma, Gfp::KERNEL);
        },
    ),
    (
        "two RX buffers share a cache line",
        "cacheline-overlap",
        |c, dev| {
            let a = kmalloc(c, 32, Gfp::KERNEL);
            let b = a.wrapping_add(32); // the next 32-byte object, in the same 64-byte line
            let _ = kmalloc(c, 32, Gfp::KERNEL);
            let _ = dma_map_single(dev, a, 32, Direction::FromDevice);
            let _ = dma_map_single(dev, b, 32, Direction::FromDevice);
        },
    ),
    ("map a vmalloc buffer", "map-vmalloc-memory", |c, dev| {
        let v = vmalloc(c, 8192);
        let _ = dma_map_single(dev, v, 8192, Direction::ToDevice);
    }),
    (
        "free a descriptor back to its pool twice",
        "pool-double-free",
        |_, dev| {
            let pool = dma_pool_create("desc", dev, 64, 64, 0).unwrap();
            let mut dma = 0;
            let d = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
            dma_pool_free(&pool, d, dma);
            dma_pool_free(&pool, d, dma);
            dma_pool_destroy(pool);
        },
    ),
    (
        "destroy a pool with a descriptor still in use",
        "pool-destroy-busy",
        |_, dev| {
            let pool = dma_pool_create("desc", dev, 64, 64, 0).unwrap();
            let mut dma = 0;
            let _ = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
            dma_pool_destroy(pool);
        },
    ),
    (
        "release CMA pages with another count",
        "cma-release-count-mismatch",
        |c, dev| {
            let area = c.declare_cma(256).unwrap();
            let isp = c.device("isp0").driver("toy-isp").cma(&area).build();
            let frame = dma_alloc_from_contiguous(&isp, 64, 4).unwrap();
            dma_release_from_contiguous(&isp, frame, 32);
            let _ = dev;
        },
    ),
    (
        "mmap more of a frame buffer than was allocated",
        "mmap-out-of-bounds",
        |_, dev| {
            let mut dma = 0;
            let fb = dma_alloc_coherent(dev, PAGE_SIZE, &mut dma, Gfp::KERNEL);
            assert!(dma_mmap_coherent(dev, fb, dma, PAGE_SIZE, 0, 4 * PAGE_SIZE).is_err());
        },
    ),
    ("close forgets the RX ring", "leak", |c, dev| {
        let nic = ToyNic::open(c, dev);
        dma_free_coherent(dev, RING * 16, nic.desc, nic.desc_dma);
        dev.release();
    }),
    (
        "map after the device was unbound",
        "device-released",
        |c, dev| {
            dev.release();
            let buf = kmalloc(c, BUF, Gfp::KERNEL);
            let _ = dma_map_single(dev, buf, BUF, Direction::ToDevice);
        },
    ),
    ("free a TX buffer twice", "invalid-free", |c, _| {
        let buf = kmalloc(c, BUF, Gfp::KERNEL);
        kfree(c, buf);
        kfree(c, buf);
    }),
];

/// A second toy device, for the descriptor pool of the clean run.
fn dev2(c: &Checker) -> Device {
    c.device("eth1").driver("toy-nic").build()
}

/// A disk behind the IOMMU and an sg list of `n` whole pages for it.
fn sg_of_pages(c: &Checker, n: usize) -> (Device, SgTable, Vec<Page>) {
    let disk = c.device("sda").driver("toy-blk").iommu().build();
    let pages: Vec<Page> = (0..n)
        .map(|_| alloc_pages(c, Gfp::KERNEL, 0).unwrap())
        .collect();
    let mut sgl = SgTable::new(n);
    for (i, &page) in pages.iter().enumerate() {
        sg_set_page(&mut sgl, i, page, PAGE_SIZE, 0);
    }
    (disk, sgl, pages)
}

fn free_all(c: &Checker, pages: Vec<Page>) {
    for page in pages {
        free_pages(c, page, 0);
    }
}

/// A toy block driver writes 8 pages through the IOMMU the way the seed says: map `nents`,
/// program `count` descriptors, unmap with `nents`. Returns (nents, count).
fn block_write(c: &Checker) -> (usize, usize) {
    let (disk, mut sgl, pages) = sg_of_pages(c, 8);
    let count = dma_map_sg(&disk, &mut sgl, 8, Direction::ToDevice);
    assert!(count > 0, "map failed");
    let programmed: usize = for_each_sg(&sgl, count).map(|sg| sg_dma_len(&sg)).sum();
    assert_eq!(programmed, 8 * PAGE_SIZE);
    dma_unmap_sg(&disk, &mut sgl, 8, Direction::ToDevice);
    free_all(c, pages);
    disk.release();
    (8, count)
}

fn main() {
    println!(
        "dmacheck tour: toy NIC and block drivers make {} mistakes, then run clean\n",
        MISTAKES.len()
    );
    let mut missed = 0;
    for (i, (title, rule, scenario)) in MISTAKES.iter().enumerate() {
        let checker = Checker::builder().env(false).print(false).build();
        let dev = checker.device("eth0").driver("toy-nic").build();
        scenario(&checker, &dev);
        let found = checker.violations();
        let caught = found.iter().any(|v| v.rule.id == *rule);
        println!(
            "[{:2}] {title}: {}",
            i + 1,
            if caught { "caught" } else { "MISSED" }
        );
        if let Some(text) = NOTE.lock().unwrap().take() {
            println!("     ({text})");
        }
        let of_rule: Vec<_> = found.iter().filter(|v| v.rule.id == *rule).collect();
        for v in of_rule.iter().take(2) {
            println!("{}\n", indent(&v.to_string()));
        }
        if of_rule.len() > 2 {
            println!("    (and {} more like these)\n", of_rule.len() - 2);
        }
        missed += usize::from(!caught);
        // Scenarios leave their buffers behind on purpose; the device's release at the end of
        // the scenario is not part of the lesson.
        std::mem::forget(dev);
    }

    println!(
        "Clean run: open, 100 packets out, 10 RX polls, close; a block write through the IOMMU"
    );
    let checker = Checker::builder().env(false).build();
    let dev = checker.device("eth0").driver("toy-nic").build();
    let nic = ToyNic::open(&checker, &dev);
    for n in 0..100 {
        nic.xmit(&vec![n as u8; 60 + n * 14]);
    }
    let received: usize = (0..10).map(|_| nic.rx_poll()).sum();
    nic.close();
    dev.release();
    println!("    NIC: 100 packets sent, {received} RX buffers received");
    let pool = dma_pool_create("toy-desc", &dev2(&checker), 32, 32, 4096).unwrap();
    let blocks: Vec<(*mut u8, DmaAddr)> = (0..64)
        .map(|_| {
            let mut dma = 0;
            (dma_pool_zalloc(&pool, Gfp::KERNEL, &mut dma), dma)
        })
        .collect();
    for (cpu, dma) in blocks {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    println!("    pool: 64 descriptors allocated and freed");
    let (nents, count) = block_write(&checker);
    println!("    block: {nents} pages written as {count} DMA segment(s) through the IOMMU");
    let stats = checker.stats();
    println!(
        "    {} violations, {} live entries, peak {} entries",
        stats.errors, stats.live_entries, stats.peak_entries
    );
    checker.assert_clean();

    if missed > 0 {
        eprintln!("{missed} mistakes went unreported");
        std::process::exit(1);
    }
    println!(
        "\nAll {} mistakes caught; the clean run is clean.",
        MISTAKES.len()
    );
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
