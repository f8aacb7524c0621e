//! `dmacheck trace --live` against a fake tracefs: a directory with the files live mode reads
//! and writes, and a FIFO as `trace_pipe`. Settings are set while it runs and restored exactly
//! after, whether it stops at a signal, a deadline or an error.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The settings files of the fake tracefs, with their content before a session.
const SETTINGS: [(&str, &str); 6] = [
    ("events/dma/enable", "0\n"),
    ("events/dma/dma_map_phys/enable", "0\n"),
    ("events/dma/dma_unmap_phys/enable", "1\n"),
    ("options/irq-info", "0\n"),
    ("tracing_on", "0\n"),
    ("buffer_size_kb", "7 (expanded: 1408)\n"),
];

fn fake_tracefs(name: &str, fifo: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (file, content) in SETTINGS {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    for cpu in ["cpu0", "cpu1"] {
        std::fs::create_dir_all(dir.join("per_cpu").join(cpu)).unwrap();
    }
    let pipe = dir.join("trace_pipe");
    if fifo {
        let made = Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
    } else {
        // Not a pipe at all: reading it fails.
        std::fs::create_dir(&pipe).unwrap();
    }
    dir
}

fn setting(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Every setting as before; `buffer_set`: the session set the buffer size, whose size before
/// (1408 KiB, not yet expanded) is then written back.
fn assert_restored(dir: &Path, buffer_set: bool) {
    for (file, before) in SETTINGS {
        let now = setting(dir, file);
        let want = if file == "buffer_size_kb" && buffer_set {
            "1408"
        } else {
            before.trim()
        };
        assert_eq!(now.trim(), want, "{file} restored");
    }
}

fn live(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dmacheck"))
        .args([
            "trace",
            "--tracefs",
            dir.to_str().unwrap(),
            "--color",
            "never",
        ])
        .args(extra)
        .env_remove("DMACHECK")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dmacheck runs")
}

/// Lines of the child's stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

const DEV: &str = "0000:00:05.0";

fn event(cpu: u32, name: &str, body: &str) -> String {
    format!("            ping-460     [{cpu:03}] .....    10.000137: {name}: {DEV} {body}\n")
}

#[test]
fn a_live_session_reports_as_it_goes_and_restores_tracefs_at_a_signal() {
    for signal in ["-INT", "-TERM"] {
        let dir = fake_tracefs(&format!("tracefs{signal}"), true);
        let mut child = live(&dir, &["--buffer-kb", "4096"]);
        let lines = lines_of(&mut child);
        // Opening the FIFO waits for dmacheck to open it, after it set tracefs up.
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("trace_pipe"))
            .unwrap();
        assert_eq!(setting(&dir, "events/dma/enable").trim(), "1");
        assert_eq!(setting(&dir, "options/irq-info").trim(), "1");
        assert_eq!(setting(&dir, "tracing_on").trim(), "1");
        assert_eq!(setting(&dir, "buffer_size_kb").trim(), "4096");
        let body = "dir=TO_DEVICE dma_addr=3e657042 size=98";
        for (name, extra) in [
            ("dma_map_phys", " phys_addr=7a01042 attrs="),
            ("dma_unmap_phys", " attrs="),
            ("dma_unmap_phys", " attrs="),
        ] {
            pipe.write_all(event(0, name, &format!("{body}{extra}")).as_bytes())
                .unwrap();
        }
        pipe.flush().unwrap();
        // Reported while the session runs, at the line of trace_pipe it came from.
        let mut seen = Vec::new();
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no report while live; got {seen:?}"));
            seen.push(line.clone());
            if line.contains("mapped by") {
                break;
            }
        }
        assert!(seen.iter().any(|l| l.contains("double-unmap")), "{seen:?}");
        assert!(
            seen.iter().any(|l| l.contains("at trace_pipe:3")),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .any(|l| l.contains("mapped by dma_map_phys at trace_pipe:1")),
            "named as the trace names it: {seen:?}"
        );
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        drop(pipe);
        let rest: Vec<String> = lines.iter().collect();
        let rest = rest.join("\n");
        assert_eq!(status.code(), Some(1), "{signal}: {rest}");
        assert!(
            rest.contains("dmacheck trace: trace_pipe: 3 lines, 3 dma events"),
            "{signal}: the summary at the end: {rest}"
        );
        assert!(
            !rest.contains("double-unmap]"),
            "not reported twice: {rest}"
        );
        assert_restored(&dir, true);
    }
}

#[test]
fn a_live_session_ends_at_its_duration_and_a_session_without_dma_events_is_not_clean() {
    let dir = fake_tracefs("tracefs-duration", true);
    // A saved /sys/bus with a virtio device that bypasses the DMA API (feature bit 33 clear:
    // no VIRTIO_F_ACCESS_PLATFORM), as on most VMs, and one that uses it.
    let sysfs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sysfs-virtio");
    let _ = std::fs::remove_dir_all(&sysfs);
    for (device, bit33, driver) in [
        ("virtio1", '0', "virtio_blk"),
        ("virtio2", '1', "virtio_net"),
    ] {
        let dev = sysfs.join("virtio/devices").join(device);
        std::fs::create_dir_all(&dev).unwrap();
        let mut features = "0".repeat(64);
        features.replace_range(32..34, &format!("1{bit33}"));
        std::fs::write(dev.join("features"), features + "\n").unwrap();
        std::fs::write(dev.join("driver"), format!("{driver}\n")).unwrap();
    }
    let mut child = live(
        &dir,
        &["--duration", "0.5", "--sysfs", sysfs.to_str().unwrap()],
    );
    let lines = lines_of(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    let out: Vec<String> = lines.iter().collect();
    assert!(
        out.iter().any(|l| l.contains("trace_pipe: 0 lines")),
        "{out:?}"
    );
    // Nothing was traced, so nothing was checked: exit 2, and why that may be.
    assert_eq!(status.code(), Some(2), "{out:?}\n{stderr}");
    assert!(stderr.contains("no dma event in 0."), "{stderr}");
    assert!(stderr.contains("nothing was checked"), "{stderr}");
    assert!(stderr.contains("VIRTIO_F_ACCESS_PLATFORM"), "{stderr}");
    assert!(stderr.contains("virtio1 (virtio_blk)"), "{stderr}");
    assert!(!stderr.contains("virtio2"), "it uses the DMA API: {stderr}");
    // The 1408 KiB buffer was grown to the default 8192 KiB, then set back.
    assert_restored(&dir, true);

    // A buffer already as large is left alone.
    let big = fake_tracefs("tracefs-big-buffer", true);
    std::fs::write(big.join("buffer_size_kb"), "65536\n").unwrap();
    // (and with no virtio device in its sysfs, no word about virtio)
    let no_virtio = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sysfs-empty");
    std::fs::create_dir_all(&no_virtio).unwrap();
    let no_virtio = no_virtio.to_str().unwrap();
    let out = live(&big, &["--duration", "0.2", "--sysfs", no_virtio])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("VIRTIO"));
    assert_eq!(setting(&big, "buffer_size_kb"), "65536\n");
}

#[test]
fn tracefs_is_restored_when_the_session_fails() {
    let dir = fake_tracefs("tracefs-broken", false);
    let child = live(&dir, &["--buffer-kb", "64"]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace_pipe"));
    assert_restored(&dir, true);

    let not_tracefs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("not-tracefs");
    std::fs::create_dir_all(&not_tracefs).unwrap();
    let out = live(&not_tracefs, &[]).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a tracefs directory"));
}
