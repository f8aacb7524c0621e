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
