//! Drivers of the trace's devices, from sysfs: `/sys/bus/*/devices/DEVICE/driver` is a link to
//! the driver's directory, whose name is the driver's.

use std::path::Path;

/// The driver bound to `device` according to `root`: a `/sys/bus` tree (live, or saved with
/// `cp -a`/`tar`), looked up as `root/BUS/devices/DEVICE/driver`, or one bus's `devices`
/// directory, looked up as `root/DEVICE/driver`. The `driver` entry is a link whose last
/// component names the driver (or, in a copy that lost its links, a file holding the name).
pub fn driver_of(root: &Path, device: &str) -> Option<String> {
    // A device name comes from the trace: never let it climb out of `root`.
    if device.is_empty() || device.contains('/') || device.starts_with('.') {
        return None;
    }
    let direct = root.join(device).join("driver");
    if let Some(name) = driver_name(&direct) {
        return Some(name);
    }
    let mut buses: Vec<_> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    buses.sort();
    buses
        .iter()
        .find_map(|bus| driver_name(&bus.join("devices").join(device).join("driver")))
}

fn driver_name(link: &Path) -> Option<String> {
    let name = match std::fs::read_link(link) {
        Ok(target) => target.file_name()?.to_string_lossy().into_owned(),
        Err(_) => std::fs::read_to_string(link).ok()?.trim().to_string(),
    };
    let printable = !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic());
    printable.then_some(name)
}

/// The virtio devices under `root` (a `/sys/bus` tree) that do not use the DMA API: those
/// without `VIRTIO_F_ACCESS_PLATFORM` (feature bit 33), the usual case in a VM, hand the
/// device guest-physical addresses directly (`vring_use_map_api()` in
/// `drivers/virtio/virtio_ring.c`), so their I/O makes no `dma:*` event. Each is named with
/// the device it sits on and its driver where sysfs says: `virtio0 (0000:00:01.0,
/// virtio_balloon)`.
pub fn virtio_bypassing_dma_api(root: &Path) -> Vec<String> {
    const ACCESS_PLATFORM: usize = 33;
    let Ok(entries) = std::fs::read_dir(root.join("virtio").join("devices")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let features = std::fs::read_to_string(path.join("features")).ok()?;
            // One '0'/'1' per feature bit, bit 0 first.
            if features.as_bytes().get(ACCESS_PLATFORM) != Some(&b'0') {
                return None;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let parent = std::fs::read_link(&path).ok().and_then(|target| {
                let parent = target.parent()?.file_name()?.to_string_lossy().into_owned();
                (parent != "devices").then_some(parent)
            });
            let driver = driver_name(&path.join("driver"));
            let about: Vec<String> = parent.into_iter().chain(driver).collect();
            Some(if about.is_empty() {
                name
            } else {
                format!("{name} ({})", about.join(", "))
            })
        })
        .collect();
    names.sort();
    names
}
