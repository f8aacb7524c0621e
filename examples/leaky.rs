//! A toy driver that leaks DMA mappings, to show the leak report of the process-wide checker.
//! There is no reporting code here: the report comes from `DMACHECK_REPORT` at exit.
//!
//! ```sh
//! DMACHECK_REPORT=text:- cargo run --example leaky               # text on stderr
//! DMACHECK_REPORT=json:target/dmacheck/ cargo run --example leaky  # a JSON file per run
//! ```
//!
//! The block device is released (its driver unbinds) with a request still mapped: that entry
//! is reported as a `leak` at the release, with a summary. The NIC stays bound until the
//! process exits with its receive ring and descriptor ring still mapped: those entries are in
//! the exit report, grouped by the site that made them.

use dmacheck::*;

/// Map `n` receive buffers and never unmap them.
fn fill_rx_ring(dev: &Device, n: usize) {
    for _ in 0..n {
        let buf = kmalloc(Checker::global(), 2048, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, 2048, Direction::FromDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
    }
}

/// Allocate the descriptor ring and never free it.
fn alloc_descriptor_ring(dev: &Device) {
    let mut handle = 0;
    let ring = dma_alloc_coherent(dev, 4096, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());
}

/// Map one 512-byte request and never unmap it.
fn submit_request(dev: &Device) {
    let page = alloc_pages(Checker::global(), Gfp::KERNEL, 0).expect("a page");
    let dma = dma_map_page(dev, page, 0, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(dev, dma), 0);
}

fn main() {
    let checker = Checker::global();
    let nic = checker.device("eth0").driver("leaky-nic").build();
    fill_rx_ring(&nic, 4);
    alloc_descriptor_ring(&nic);

    let disk = checker.device("sda").driver("leaky-blk").build();
    submit_request(&disk);
    disk.release();

    // The NIC's driver stays bound until the process exits, as a driver in a long-running
    // program would.
    std::mem::forget(nic);
}
