use dmacheck::*;
fn ck() -> Checker { Checker::builder().env(false).print(true).build() }
#[test]
fn probe_dup_sizes() {
    let checker = ck();
    let dev = checker.device("eth0").build();
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    let a = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    dma_mapping_error(&dev, a);
    let b = dma_map_single(&dev, buf, 1024, Direction::FromDevice);
    dma_mapping_error(&dev, b);
    eprintln!("--- sync 1024 FROM");
    dma_sync_single_for_cpu(&dev, b, 1024, Direction::FromDevice);
    eprintln!("--- done");
    dma_unmap_single(&dev, b, 1024, Direction::FromDevice);
    dma_unmap_single(&dev, a, 512, Direction::ToDevice);
}
#[test]
fn probe_double_other() {
    let checker = ck();
    let nic = checker.device("eth0").build();
    let disk = checker.device("sda").build();
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 512, Direction::ToDevice);
    dma_mapping_error(&nic, a);
    let b = dma_map_single(&disk, buf, 512, Direction::ToDevice);
    dma_mapping_error(&disk, b);
    dma_unmap_single(&nic, a, 512, Direction::ToDevice);
    eprintln!("--- second unmap");
    dma_unmap_single(&nic, a, 512, Direction::ToDevice);
    eprintln!("--- sync after unmap");
    dma_sync_single_for_cpu(&nic, a, 512, Direction::ToDevice);
    eprintln!("--- done");
    dma_unmap_single(&disk, b, 512, Direction::ToDevice);
}
