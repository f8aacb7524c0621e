//! virtio-drivers' own drivers run on dmacheck: its `Hal` implemented with the DMA API, its
//! devices emulated over dmacheck's device model. Each driver runs on the direct backend and
//! under forced bounce buffering, where a missing copy-back or sync would show as stale data.

use std::ptr::NonNull;

use dmacheck::adapters::virtio::{
    BlockBackend, ConsoleBackend, DmacheckHal, EmulatedTransport, F_INDIRECT_DESC, NetBackend,
    RngBackend,
};
use dmacheck::{Checker, Device, Gfp, kfree, kmalloc, rules};
use virtio_drivers::BufferDirection;
use virtio_drivers::device::blk::VirtIOBlk;
use virtio_drivers::device::console::VirtIOConsole;
use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::device::rng::VirtIORng;

fn checker(bounce: bool) -> Checker {
    let b = Checker::builder().env(false).print(false);
    if bounce { b.force_bounce() } else { b }.build()
}

fn device(checker: &Checker, name: &str) -> Device {
    checker.device(name).driver("virtio-drivers").build()
}

/// The ids of the rules that fired, in order.
fn fired(checker: &Checker) -> Vec<&'static str> {
    checker.violations().iter().map(|v| v.rule.id).collect()
}

fn block_round_trip(bounce: bool, indirect: bool) {
    let checker = checker(bounce);
    let dev = device(&checker, "virtio-blk");
    let _hal = DmacheckHal::bind(&dev);
    let mut transport = EmulatedTransport::new(&dev, BlockBackend::new(64));
    if !indirect {
        transport = transport.without_features(F_INDIRECT_DESC);
    }
    let mut blk = VirtIOBlk::<DmacheckHal, _>::new(transport).unwrap();
    assert_eq!(blk.capacity(), 64);

    let data: Vec<u8> = (0..1024).map(|i| (i * 7 + 3) as u8).collect();
    blk.write_blocks(5, &data).unwrap();
    let mut back = vec![0u8; 1024];
    blk.read_blocks(5, &mut back).unwrap();
    assert_eq!(
        back, data,
        "the bytes the device wrote reached the driver's buffer"
    );

    let mut id = [0u8; 20];
    let n = blk.device_id(&mut id).unwrap();
    assert_eq!(&id[..n], b"dmacheck-blk");
    blk.flush().unwrap();
    assert_eq!(
        DmacheckHal::staged_buffers(),
        0,
        "every shared buffer was unshared"
    );
    drop(blk);
    dev.release();
    checker.assert_clean();
}

#[test]
fn blk_direct_is_clean() {
    block_round_trip(false, true);
}

#[test]
fn blk_bounce_is_clean() {
    block_round_trip(true, true);
}

#[test]
fn blk_without_indirect_descriptors_bounce_is_clean() {
    block_round_trip(true, false);
}

/// A buffer already in dmacheck's arena is mapped where it is (not staged): under bounce
/// buffering, the data reaches it only through the unmap's copy-back.
#[test]
fn blk_reads_into_arena_memory_under_bounce() {
    let checker = checker(true);
    let dev = device(&checker, "virtio-blk");
    let _hal = DmacheckHal::bind(&dev);
    let mut backend = BlockBackend::new(8);
    backend.disk[512..1024].fill(0x5a);
    let mut blk = VirtIOBlk::<DmacheckHal, _>::new(EmulatedTransport::new(&dev, backend)).unwrap();
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    // SAFETY: kmalloc returned 512 bytes, used only through this slice until kfree.
    let slice = unsafe { std::slice::from_raw_parts_mut(buf, 512) };
    slice.fill(0);
    blk.read_blocks(1, slice).unwrap();
    assert!(slice.iter().all(|&b| b == 0x5a));
    drop(blk);
    kfree(&checker, buf);
    dev.release();
    checker.assert_clean();
}

fn rng(bounce: bool) {
    let checker = checker(bounce);
    let dev = device(&checker, "virtio-rng");
    let _hal = DmacheckHal::bind(&dev);
    let mut rng =
        VirtIORng::<DmacheckHal, _>::new(EmulatedTransport::new(&dev, RngBackend::default()))
            .unwrap();
    let mut a = [0u8; 64];
    assert_eq!(rng.request_entropy(&mut a).unwrap(), 64);
    let mut b = [0u8; 100];
    assert_eq!(rng.request_entropy(&mut b).unwrap(), 100);
    let expected: Vec<u8> = (0..164).map(RngBackend::byte).collect();
    assert_eq!(&a[..], &expected[..64]);
    assert_eq!(&b[..], &expected[64..]);
    drop(rng);
    dev.release();
    checker.assert_clean();
}

#[test]
fn rng_direct_is_clean() {
    rng(false);
}

#[test]
fn rng_bounce_is_clean() {
    rng(true);
}

/// The console echoes; dmacheck finds one thing: the receive buffer virtio-drivers shares in
/// `VirtIOConsole::new` (and again after each received buffer is consumed) is never unshared
/// when the driver is dropped, so it is still mapped when the device goes away.
fn console(bounce: bool) {
    let checker = checker(bounce);
    let dev = device(&checker, "virtio-console");
    let _hal = DmacheckHal::bind(&dev);
    let mut console = VirtIOConsole::<DmacheckHal, _>::new(EmulatedTransport::new(
        &dev,
        ConsoleBackend::default(),
    ))
    .unwrap();
    assert_eq!(
        console.size().unwrap().map(|s| (s.columns, s.rows)),
        Some((80, 25))
    );
    console.send_bytes(b"hi!").unwrap();
    let mut got = Vec::new();
    while let Some(c) = console.recv(true).unwrap() {
        got.push(c);
    }
    assert_eq!(got, b"hi!");
    console.send(b'x').unwrap();
    assert_eq!(console.recv(true).unwrap(), Some(b'x'));
    assert_eq!(
        DmacheckHal::staged_buffers(),
        1,
        "the next receive buffer is shared"
    );
    drop(console);
    checker.assert_no_violations();
    dev.release();
    assert_eq!(
        fired(&checker),
        ["leak"],
        "the outstanding receive buffer leaks"
    );
    let leak = &checker.violations()[0];
    let text = leak.to_string();
    assert!(
        text.contains("queue.rs"),
        "mapped by virtio-drivers' queue: {text}"
    );
}

#[test]
fn console_direct_leaks_its_receive_buffer_at_drop() {
    console(false);
}

#[test]
fn console_bounce_leaks_its_receive_buffer_at_drop() {
    console(true);
}

/// The NIC loops frames back. As for the console, the receive buffers `VirtIONet::new` posts
/// are never unshared at drop: all `QUEUE_SIZE` of them are live when the device goes away.
fn net(bounce: bool) {
    const QUEUE: usize = 16;
    let checker = checker(bounce);
    let dev = device(&checker, "virtio-net");
    let _hal = DmacheckHal::bind(&dev);
    let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let mut net = VirtIONet::<DmacheckHal, _, QUEUE>::new(
        EmulatedTransport::new(&dev, NetBackend::new(mac)),
        2048,
    )
    .unwrap();
    assert_eq!(net.mac_address(), mac);
    for round in 0..3u8 {
        let frame: Vec<u8> = (0..60).map(|i| i ^ round).collect();
        let mut tx = net.new_tx_buffer(frame.len());
        tx.packet_mut().copy_from_slice(&frame);
        net.send(tx).unwrap();
        assert!(net.can_recv());
        let rx = net.receive().unwrap();
        assert_eq!(rx.packet(), &frame[..], "round {round}");
        net.recycle_rx_buffer(rx).unwrap();
    }
    drop(net);
    checker.assert_no_violations();
    dev.release();
    assert_eq!(checker.count(&rules::LEAK), QUEUE as u64);
    assert!(fired(&checker).iter().all(|&r| r == "leak"));
}

#[test]
fn net_direct_leaks_its_receive_buffers_at_drop() {
    net(false);
}

#[test]
fn net_bounce_leaks_its_receive_buffers_at_drop() {
    net(true);
}

/// `unshare` of a device-to-driver buffer brings what the device wrote into the caller's
/// buffer, under bounce buffering too (the unmap's copy-back, then the staged copy's).
#[test]
fn unshare_copies_back_what_the_device_wrote() {
    for bounce in [false, true] {
        let checker = checker(bounce);
        let dev = device(&checker, "virtio-test");
        let _hal = DmacheckHal::bind(&dev);
        let mut buf = [0u8; 32];
        let ptr = NonNull::from(&mut buf[..]);
        // SAFETY: the buffer is valid and untouched until unshare.
        let dma = unsafe { DmacheckHal::share(ptr, BufferDirection::DeviceToDriver, false) };
        dev.dma_write(dma, b"written by the device").unwrap();
        // SAFETY: as for share.
        unsafe { DmacheckHal::unshare(dma, ptr, BufferDirection::DeviceToDriver, false) };
        assert_eq!(&buf[..21], b"written by the device", "bounce={bounce}");
        checker.assert_clean();
    }
}

/// The device model checks the emulated device too: writing a driver-to-device buffer is
/// reported and refused.
#[test]
fn device_write_to_a_driver_to_device_buffer_is_reported() {
    let checker = checker(false);
    let dev = device(&checker, "virtio-test");
    let _hal = DmacheckHal::bind(&dev);
    let mut buf = [7u8; 16];
    let ptr = NonNull::from(&mut buf[..]);
    // SAFETY: the buffer is valid and untouched until unshare.
    let dma = unsafe { DmacheckHal::share(ptr, BufferDirection::DriverToDevice, false) };
    assert!(dev.dma_write(dma, b"no").is_err());
    // SAFETY: as for share.
    unsafe { DmacheckHal::unshare(dma, ptr, BufferDirection::DriverToDevice, false) };
    assert_eq!(buf, [7; 16]);
    assert_eq!(fired(&checker).len(), 1);
    assert!(checker.violations()[0].rule.id.contains("direction"));
}

#[test]
#[should_panic(expected = "no device bound")]
fn a_hal_call_without_a_bound_device_panics() {
    let _ = <DmacheckHal as virtio_drivers::Hal>::dma_alloc(1, BufferDirection::Both);
}

/// The binding is per thread and nests: the innermost device wins until its guard drops.
#[test]
fn bindings_nest_and_end_with_their_guard() {
    let checker = checker(false);
    let outer = device(&checker, "outer");
    let inner = device(&checker, "inner");
    let _a = DmacheckHal::bind(&outer);
    {
        let _b = DmacheckHal::bind(&inner);
        assert_eq!(DmacheckHal::device().name(), "inner");
    }
    assert_eq!(DmacheckHal::device().name(), "outer");
}

/// The next virtio-drivers signature (a trailing `access_platform: bool`), checked against a
/// trait of that shape.
mod next_signature {
    use super::*;
    use virtio_drivers::PhysAddr;

    /// virtio-drivers' `Hal` as the next release declares it.
    ///
    /// # Safety
    ///
    /// As virtio-drivers' `Hal`.
    #[allow(dead_code)]
    pub unsafe trait NextHal {
        fn dma_alloc(
            pages: usize,
            direction: BufferDirection,
            access_platform: bool,
        ) -> (PhysAddr, NonNull<u8>);
        unsafe fn dma_dealloc(
            paddr: PhysAddr,
            vaddr: NonNull<u8>,
            pages: usize,
            access_platform: bool,
        ) -> i32;
        unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8>;
        unsafe fn share(
            buffer: NonNull<[u8]>,
            direction: BufferDirection,
            access_platform: bool,
        ) -> PhysAddr;
        unsafe fn unshare(
            paddr: PhysAddr,
            buffer: NonNull<[u8]>,
            direction: BufferDirection,
            access_platform: bool,
        );
    }

    pub struct NextDmacheckHal;
    dmacheck::impl_virtio_hal!(NextHal for NextDmacheckHal, access_platform);

    #[test]
    fn the_next_signature_forwards_to_dmacheck() {
        let checker = checker(true);
        let dev = device(&checker, "virtio-next");
        let _hal = DmacheckHal::bind(&dev);
        let (paddr, vaddr) = NextDmacheckHal::dma_alloc(2, BufferDirection::Both, true);
        assert_ne!(paddr, 0);
        assert_eq!(vaddr.as_ptr() as usize % 4096, 0, "page-aligned");
        let mut buf = [1u8; 8];
        let ptr = NonNull::from(&mut buf[..]);
        // SAFETY: valid buffer, untouched until unshare; the region was just allocated.
        unsafe {
            let dma = NextDmacheckHal::share(ptr, BufferDirection::Both, true);
            dev.dma_write(dma, &[9; 8]).unwrap();
            NextDmacheckHal::unshare(dma, ptr, BufferDirection::Both, true);
            assert_eq!(NextDmacheckHal::dma_dealloc(paddr, vaddr, 2, true), 0);
        }
        assert_eq!(buf, [9; 8]);
        dev.release();
        checker.assert_clean();
    }
}
