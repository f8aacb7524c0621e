//! Detects whether this crate is compiled with frame pointers, for the fast stack walk in
//! src/frames.rs: emits `cfg(dmacheck_frame_pointers)` when `-C force-frame-pointers` is on in
//! the flags Cargo passes to rustc, or when the target keeps frame pointers by default.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo::rerun-if-env-changed=RUSTFLAGS");
    println!("cargo::rustc-check-cfg=cfg(dmacheck_frame_pointers)");

    if forced_by_flags() || kept_by_target() {
        println!("cargo::rustc-cfg=dmacheck_frame_pointers");
    }
}

/// `-C force-frame-pointers` with a value that turns them on. rustc only ever raises the
/// setting (a later `=no` does not undo an earlier `=yes`), so any such flag is enough.
fn forced_by_flags() -> bool {
    // Cargo gives build scripts the rustc flags of the package (from RUSTFLAGS,
    // `build.rustflags`, `target.<triple>.rustflags`, ...) here, separated by 0x1f.
    let flags = match env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(flags) => flags,
        Err(_) => return false,
    };
    let mut args = flags.split('\x1f').filter(|a| !a.is_empty());
    while let Some(arg) = args.next() {
        let option = if arg == "-C" || arg == "--codegen" {
            match args.next() {
                Some(option) => option,
                None => break,
            }
        } else if let Some(option) = arg.strip_prefix("-C") {
            option
        } else if let Some(option) = arg.strip_prefix("--codegen=") {
            option
        } else {
            continue;
        };
        if let Some(rest) = option.strip_prefix("force-frame-pointers") {
            let on = match rest.strip_prefix('=') {
                // Bare `-Cforce-frame-pointers` means yes.
                None => rest.is_empty(),
                // `non-leaf` (nightly) keeps the chain intact: only leaf functions, which call
                // nothing and so are never in the middle of it, skip the frame record.
                Some(value) => matches!(value, "yes" | "y" | "on" | "true" | "always" | "non-leaf"),
            };
            if on {
                return true;
            }
        }
    }
    false
}

/// Targets whose default keeps frame pointers (at least in non-leaf functions), so that even
/// their precompiled std walks: Apple (always), illumos (always), and aarch64 Linux/Android
/// (non-leaf since Rust 1.89, rust-lang/rust#140832).
fn kept_by_target() -> bool {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let vendor = env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    match (arch.as_str(), os.as_str()) {
        ("x86_64" | "aarch64", _) if vendor == "apple" => true,
        ("x86_64", "illumos") => true,
        ("aarch64", "linux" | "android") => rustc_minor().is_some_and(|minor| minor >= 89),
        _ => false,
    }
}

/// The minor version of the rustc Cargo builds with (`1.N.x`).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let version = String::from_utf8(out.stdout).ok()?;
    // "rustc 1.95.0 (59807616e 2026-04-14)" or "rustc 1.97.0-nightly (...)"
    let mut parts = version.split_whitespace().nth(1)?.split('.');
    if parts.next()? != "1" {
        return None;
    }
    parts.next()?.parse().ok()
}
