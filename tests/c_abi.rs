//! The C ABI, from C. The programs in `tests/c/` are written against the headers in `include/`
//! only; each is compiled with the system C compiler (`cc`, or `$CC`), linked with the static
//! library this `cargo test` built (`target/<profile>/libdmacheck.a`, next to the test binary),
//! and run with `DMACHECK_REPORT` pointing at a fresh directory.
//!
//! Each program checks itself step by step (`tests/c/expect.h`: each mistake must report
//! exactly its rule) and exits non-zero on a mismatch; here the exit status, its totals and the
//! JSON report it left at exit are checked: the rules that fired, and how often, must be exactly
//! the ones each program's family promises.

// The C ABI is not built under loom.
#![cfg(not(loom))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use dmacheck::capi::{
    CDevice, CDeviceInfo, CPage, CPciDev, CResource, CScatterlist, CSgTable, CSpinlock, CVmArea,
    PCI_NUM_RESOURCES, VMEMMAP_BASE,
};
use dmacheck::{
    CMA_ALIGNMENT, DMA_MAPPING_ERROR, DMA_MEMORY_EXCLUSIVE, DMA_MEMORY_INCLUDES_CHILDREN,
    DMA_MEMORY_IO, DMA_MEMORY_MAP, Direction, DmaAttrs, Gfp, PAGE_SHIFT, PAGE_SIZE, dma_bit_mask,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Building and running the programs

/// The test binary's directory, `target/<profile>/deps`.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .expect("the test binary's directory")
        .to_path_buf()
}

/// `target/<profile>`.
fn profile_dir() -> PathBuf {
    deps_dir()
        .parent()
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The static library this `cargo test` built, next to the test binary (where `cargo test`
/// leaves it; `cargo build` also copies it up to `target/<profile>/`).
fn static_lib() -> PathBuf {
    let candidates = [
        deps_dir().join("libdmacheck.a"),
        profile_dir().join("libdmacheck.a"),
    ];
    candidates
        .iter()
        .find(|lib| lib.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: the C tests link the static library that `cargo test` builds \
                 (crate-type staticlib)",
                candidates[0].display()
            )
        })
        .clone()
}

/// A fresh directory for one test's binary and reports.
fn work_dir(label: &str) -> PathBuf {
    let dir = profile_dir().join("c-abi").join(label);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    dir
}

/// `tests/c/<program>.c`, compiled and linked once per test binary (several tests run the
/// same program), into `target/<profile>/c-abi/bin/`.
fn compile(program: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, Arc<OnceLock<PathBuf>>>> = Mutex::new(BTreeMap::new());
    let once = BUILT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(program.to_string())
        .or_default()
        .clone();
    once.get_or_init(|| build(program)).clone()
}

fn build(program: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = profile_dir().join("c-abi").join("bin");
    std::fs::create_dir_all(&dir).expect("create the directory of the C programs");
    let exe = dir.join(program);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut command = Command::new(&cc);
    command.args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g"]);
    if program.starts_with("harness_") {
        // A kernel-code harness: its own stub headers come first, dmacheck's DMA headers after.
        command.arg("-I").arg(root.join("tests/c/harness/include"));
    }
    let out = command
        .arg("-I")
        .arg(root.join("include"))
        .arg("-I")
        .arg(root.join("tests/c"))
        .arg(root.join("tests/c").join(format!("{program}.c")))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm"])
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("run the C compiler `{cc}`: {e}"));
    assert!(
        out.status.success(),
        "compiling {program}.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// One run of a program.
struct Run {
    program: String,
    output: Output,
    /// The JSON reports written to the run's report directory.
    reports: Vec<Value>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Everything the run printed, for failure messages.
    fn transcript(&self) -> String {
        format!(
            "{} exited with {:?}\n--- stdout\n{}--- stderr\n{}",
            self.program,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// A `name value` line the program printed (`errors`, `live`, `failures`).
    fn total(&self, name: &str) -> u64 {
        self.stdout()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{name}` line\n{}", self.transcript()))
    }

    /// The one report of the run.
    fn report(&self) -> &Value {
        assert_eq!(
            self.reports.len(),
            1,
            "expected one report\n{}",
            self.transcript()
        );
        &self.reports[0]
    }

    /// The report's per-rule counts.
    fn per_rule(&self) -> BTreeMap<String, u64> {
        let per_rule = self.report()["counters"]["per_rule"]
            .as_object()
            .expect("counters.per_rule");
        per_rule
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

/// Compile `program` and run it with `args` and `env` (`DMACHECK` cleared unless given), its
/// report going to a fresh directory.
fn run(program: &str, label: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = work_dir(label);
    let exe = compile(program);
    let reports_dir = dir.join("reports");
    let mut cmd = Command::new(&exe);
    cmd.args(args).env_remove("DMACHECK").env(
        "DMACHECK_REPORT",
        format!("json:{}/", reports_dir.display()),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("run the C program");
    let mut reports = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&reports_dir) {
        for entry in entries {
            let text = std::fs::read_to_string(entry.expect("a report").path()).expect("read");
            reports.push(serde_json::from_str(&text).expect("the report is JSON"));
        }
    }
    Run {
        program: program.to_string(),
        output,
        reports,
    }
}

/// Run a program that checks one rule family: it must pass its own checks, and its report
/// must count exactly `expected`, and nothing else.
fn check_family(program: &str, expected: &[(&str, u64)]) -> Run {
    let run = run(program, program, &[], &[]);
    assert!(run.output.status.success(), "{}", run.transcript());
    assert_eq!(run.total("failures"), 0, "{}", run.transcript());
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|&(rule, n)| (rule.to_string(), n))
        .collect();
    assert_eq!(run.per_rule(), expected, "{}", run.transcript());
    let total: u64 = expected.values().sum();
    assert_eq!(run.total("errors"), total, "{}", run.transcript());
    assert_eq!(run.report()["counters"]["violations"], total);
    assert_eq!(run.total("live"), 0, "{}", run.transcript());
    for rule in expected.keys() {
        assert!(
            run.stderr().contains(&format!("warn[{rule}]")),
            "{rule} was not printed\n{}",
            run.transcript()
        );
    }
    run
}

// ---------------------------------------------------------------------------------------------
// A clean driver

#[test]
fn a_clean_c_driver_reports_nothing_and_leaks_nothing() {
    let run = check_family("clean_driver", &[]);
    let report = run.report();
    assert_eq!(report["leaks"]["entries"], 0);
    assert!(
        report["counters"]["peak_entries"].as_u64().unwrap() >= 9,
        "the driver mapped its ring and buffers"
    );
    assert!(run.stderr().is_empty(), "{}", run.transcript());
}

#[test]
fn a_clean_c_driver_stays_clean_when_every_rule_denies_and_behind_bounce_buffers() {
    for (label, spec) in [("clean_deny", "deny"), ("clean_bounce", "bounce,deny")] {
        let run = run("clean_driver", label, &[], &[("DMACHECK", spec)]);
        assert!(run.output.status.success(), "{}", run.transcript());
        assert_eq!(run.total("errors"), 0, "{}", run.transcript());
        assert_eq!(run.per_rule(), BTreeMap::new());
        assert_eq!(
            run.report()["sources"][0]["config"]["force_bounce"],
            spec.contains("bounce")
        );
    }
}

#[test]
fn the_seed_documents_calls_compile_unchanged_and_run_clean() {
    let run = check_family("seed_calls", &[]);
    assert!(run.stderr().is_empty(), "{}", run.transcript());
}

// ---------------------------------------------------------------------------------------------
// One program per rule family

#[test]
fn map_family_from_c() {
    check_family(
        "map_rules",
        &[
            ("direction-none", 3),
            ("map-zero-size", 1),
            ("map-range-overflow", 1),
            ("map-invalid-memory", 4),
            ("map-stack-memory", 1),
            ("map-rodata-memory", 1),
            ("map-vmalloc-memory", 1),
            ("map-above-mask", 4),
            ("invalid-device", 1),
        ],
    );
}

#[test]
fn release_family_from_c() {
    check_family(
        "release_rules",
        &[
            ("unmap-unknown", 1),
            ("unmap-mapping-error", 1),
            ("wrong-device", 1),
            ("unmap-size-mismatch", 2),
            ("double-unmap", 2),
            ("unmap-direction-mismatch", 1),
            ("unmap-function-mismatch", 2),
            ("unmap-attrs-mismatch", 1),
            ("unmap-unchecked", 1),
            ("free-cpu-address-mismatch", 1),
            ("free-coherent-irqs-disabled", 2),
        ],
    );
}

#[test]
fn sync_family_from_c() {
    check_family(
        "sync_rules",
        &[
            ("sync-unknown", 3),
            ("sync-out-of-range", 3),
            ("sync-direction-mismatch", 2),
            ("direction-none", 2),
            ("wrong-device", 1),
        ],
    );
}

#[test]
fn sg_family_from_c() {
    check_family(
        "sg_rules",
        &[
            ("sg-invalid-list", 4),
            ("sg-unmap-failed-map", 1),
            ("sg-map-mapped", 1),
            ("sg-sync-nents-mismatch", 1),
            ("sg-unmap-nents-mismatch", 3),
            ("sg-dma-beyond-count", 6),
            ("sg-segment-too-long", 1),
            ("wrong-device", 1),
            ("unmap-unknown", 1),
            ("sync-unknown", 1),
        ],
    );
}

#[test]
fn ownership_family_from_c() {
    check_family(
        "ownership_rules",
        &[
            ("device-access-unmapped", 2),
            ("device-access-overrun", 1),
            ("device-access-direction", 2),
            ("device-access-cpu-owned", 1),
            ("cpu-write-device-owned", 1),
            ("device-access-after-unmap", 1),
            ("coherent-overrun", 1),
        ],
    );
}

#[test]
fn lifetime_family_from_c() {
    let run = check_family(
        "lifetime_rules",
        &[("leak", 3), ("device-released", 4), ("invalid-free", 6)],
    );
    // The release printed its leak summary; the JSON report has the leaks by site.
    assert!(
        run.stderr()
            .contains("life0 (lifetest) released with 3 DMA entries")
    );
    assert_eq!(run.report()["leaks"]["entries"], 3);
}

#[test]
fn heap_family_from_c() {
    let run = check_family(
        "heap_rules",
        &[("free-while-mapped", 3), ("invalid-free", 1)],
    );
    // Each free is named as the C code called it.
    let stderr = run.stderr();
    for call in ["kfree", "__free_pages", "free_pages"] {
        let line = format!("warn[free-while-mapped]: {call} on heap0");
        assert!(stderr.contains(&line), "{line}\n{stderr}");
    }
    assert!(
        stderr.contains("warn[invalid-free]: free_pages"),
        "{stderr}"
    );
}

#[test]
fn context_family_from_c() {
    check_family(
        "context_rules",
        &[
            ("sleeping-alloc-in-atomic", 8),
            ("pool-in-atomic", 4),
            ("free-coherent-irqs-disabled", 1),
        ],
    );
}

#[test]
fn cache_family_from_c() {
    check_family(
        "cache_rules",
        &[
            ("cacheline-overlap", 1),
            ("sync-unaligned", 2),
            ("sync-unknown", 1),
        ],
    );
}

#[test]
fn pool_family_from_c() {
    check_family(
        "pool_rules",
        &[
            ("pool-bad-parameters", 3),
            ("pool-free-foreign", 1),
            ("pool-free-mismatch", 1),
            ("pool-double-free", 1),
            ("pool-write-after-free", 1),
            ("pool-destroy-busy", 2),
            ("pool-use-after-destroy", 2),
            ("invalid-pool", 2),
            ("pool-overrun", 1),
            ("leak", 1),
        ],
    );
}

#[test]
fn regions_family_from_c() {
    check_family(
        "regions_rules",
        &[
            ("declared-memory-bad-parameters", 4),
            ("declared-memory-busy", 1),
            ("cma-release-count-mismatch", 1),
            ("cma-double-release", 1),
            ("mmap-out-of-bounds", 2),
            ("free-while-mmapped", 1),
            ("leak", 1),
        ],
    );
}

#[test]
fn bad_input_from_c_is_reported_and_never_crashes() {
    let run = check_family(
        "bad_input",
        &[
            ("invalid-device", 33),
            ("direction-none", 2),
            ("unmap-unknown", 4),
            ("sync-unknown", 2),
            ("map-invalid-memory", 2),
            ("sg-invalid-list", 2),
            ("sg-dma-beyond-count", 1),
            ("invalid-free", 1),
            ("pool-destroy-busy", 1),
            ("device-access-unmapped", 1),
            ("leak", 2),
        ],
    );
    let devices: Vec<&str> = run.report()["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "invalid-device")
        .map(|v| v["device"].as_str().unwrap())
        .collect();
    assert!(
        devices
            .iter()
            .all(|&d| d == "(NULL or unknown struct device)"),
        "{devices:?}"
    );
}

#[test]
fn hostile_input_from_c_is_judged_before_it_is_followed() {
    let run = check_family(
        "hostile_input",
        &[
            ("device-access-overrun", 3),
            ("device-access-unmapped", 1),
            ("sg-invalid-list", 6),
            ("sg-dma-beyond-count", 3),
            ("sg-sync-nents-mismatch", 1),
            ("sg-unmap-nents-mismatch", 1),
            ("unmap-unknown", 1),
        ],
    );
    let violations = run.report()["violations"].as_array().unwrap();
    let messages: Vec<&str> = violations
        .iter()
        .map(|v| v["message"].as_str().unwrap())
        .collect();
    let has = |needle: &str| messages.iter().filter(|m| m.contains(needle)).count();
    assert_eq!(has("where there is no memory"), 3, "{messages:#?}");
    assert_eq!(has("chained to itself"), 2, "{messages:#?}");
    assert_eq!(has("(NULL): there is no entry"), 2, "{messages:#?}");
    assert_eq!(has("never mapped"), 1, "{messages:#?}");
    // Negative counts are shown as given, in the message and in the fields.
    assert_eq!(has("nents is negative (-1)"), 1, "{messages:#?}");
    assert_eq!(has("entry count -7 differs"), 1, "{messages:#?}");
    assert_eq!(has("entry count -1 differs"), 1, "{messages:#?}");
    let nents: Vec<String> = violations
        .iter()
        .flat_map(|v| v["details"].as_array().unwrap())
        .filter(|d| d["key"] == "nents")
        .filter_map(|d| d["value"].as_str().map(str::to_string))
        .collect();
    assert_eq!(nents, ["-1", "-7", "-1", "-2"], "{violations:#?}");
}

// ---------------------------------------------------------------------------------------------
// Trap mode

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn trap_mode_from_c_reports_plain_pointer_accesses_at_their_lines() {
    let run = run("trap_mode", "trap_mode", &[], &[("DMACHECK", "trap")]);
    assert!(run.output.status.success(), "{}", run.transcript());
    assert_eq!(run.total("failures"), 0, "{}", run.transcript());
    let expected: BTreeMap<String, u64> = [
        ("cpu-access-device-owned", 2),
        ("cpu-access-overrun", 1),
        ("cpu-write-device-owned", 1),
    ]
    .into_iter()
    .map(|(rule, n)| (rule.to_string(), n))
    .collect();
    assert_eq!(run.per_rule(), expected, "{}", run.transcript());
    // The plain accesses are reported at the C lines that made them.
    let sites: Vec<(String, String, u64)> = run.report()["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] != "cpu-write-device-owned")
        .map(|v| {
            (
                v["rule"].as_str().unwrap().to_string(),
                v["site"]["file"].as_str().unwrap().to_string(),
                v["site"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let c_file = "tests/c/trap_mode.c".to_string();
    let at = |rule: &str, line: &str| (rule.to_string(), c_file.clone(), run.total(line));
    let expected = [
        at("cpu-access-device-owned", "read_line"),
        at("cpu-access-device-owned", "write_line"),
        at("cpu-access-overrun", "overrun_line"),
    ];
    let sites: Vec<_> = sites
        .into_iter()
        .map(|(rule, file, line)| {
            let file = if file.ends_with(&c_file) {
                c_file.clone()
            } else {
                file
            };
            (rule, file, line)
        })
        .collect();
    assert_eq!(sites, expected, "{}", run.transcript());
}

// ---------------------------------------------------------------------------------------------
// Reports at exit and deny levels

#[test]
fn a_c_program_writes_its_leak_report_at_exit_with_no_code_change() {
    let run = run("exit_report", "exit_report", &[], &[]);
    assert!(run.output.status.success(), "{}", run.transcript());
    let report = run.report();
    assert_eq!(report["schema"], "dmacheck-report/1");
    assert_eq!(report["counters"]["violations"], 0);
    assert_eq!(report["leaks"]["entries"], 2);
    assert_eq!(report["leaks"]["bytes"], 1500 + 4096);
    let mut live: Vec<(&str, u64)> = report["live_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["mapped_by"].as_str().unwrap(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect();
    live.sort();
    assert_eq!(
        live,
        [("dma_alloc_coherent", 4096), ("dma_map_single", 1500)]
    );
    assert!(
        report["sources"][0]["program"]
            .as_str()
            .unwrap()
            .ends_with("exit_report")
    );
}

#[test]
fn a_c_program_leaving_by_exit_writes_the_report_itself() {
    let run = run("exit_report", "exit_report_underscore", &["_exit"], &[]);
    assert!(run.output.status.success(), "{}", run.transcript());
    assert_eq!(run.report()["leaks"]["entries"], 2);
}

#[test]
fn without_a_report_destination_leaks_are_summarized_on_stderr_at_exit() {
    let out = Command::new(compile("exit_report"))
        .env_remove("DMACHECK")
        .env_remove("DMACHECK_REPORT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        stderr.contains("SUMMARY: dmacheck: 5596 bytes leaked in 2 DMA entries"),
        "{stderr}"
    );
}

#[test]
fn a_deny_level_violation_aborts_a_c_program_in_the_faulty_call_after_reporting() {
    let run = run(
        "deny_abort",
        "deny_abort",
        &[],
        &[("DMACHECK", "unmap-size-mismatch=deny")],
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(run.output.status.signal(), Some(6), "{}", run.transcript());
    }
    assert!(!run.output.status.success());
    let stdout = run.stdout();
    assert!(
        stdout.contains("before the deny-level mistake"),
        "{}",
        run.transcript()
    );
    assert!(!stdout.contains("after"), "{}", run.transcript());
    let stderr = run.stderr();
    assert!(stderr.contains("warn[sync-unknown]"), "{stderr}");
    assert!(stderr.contains("deny[unmap-size-mismatch]"), "{stderr}");
    assert!(stderr.contains("dmacheck aborts"), "{stderr}");
    // The exit report was written before the abort.
    let expected: BTreeMap<String, u64> = [("sync-unknown", 1), ("unmap-size-mismatch", 1)]
        .into_iter()
        .map(|(r, n)| (r.to_string(), n))
        .collect();
    assert_eq!(run.per_rule(), expected);
    assert_eq!(run.report()["counters"]["deny"], 1);
}

// ---------------------------------------------------------------------------------------------
// The ABI itself

#[test]
fn header_layouts_and_constants_match_the_rust_side() {
    use std::mem::{offset_of, size_of};

    let run = run("abi_layout", "abi_layout", &[], &[]);
    assert!(run.output.status.success(), "{}", run.transcript());
    let shown: BTreeMap<String, u64> = run
        .stdout()
        .lines()
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect();
    let get = |name: &str| -> u64 {
        *shown
            .get(name)
            .unwrap_or_else(|| panic!("{name} not shown\n{}", run.transcript()))
    };
    let expected: &[(&str, u64)] = &[
        ("sizeof(struct device)", size_of::<CDevice>() as u64),
        (
            "offsetof(struct device, dmacheck_name)",
            offset_of!(CDevice, name) as u64,
        ),
        (
            "offsetof(struct device, dma_mask)",
            offset_of!(CDevice, dma_mask) as u64,
        ),
        (
            "offsetof(struct device, coherent_dma_mask)",
            offset_of!(CDevice, coherent_dma_mask) as u64,
        ),
        (
            "offsetof(struct device, driver_data)",
            offset_of!(CDevice, driver_data) as u64,
        ),
        (
            "offsetof(struct device, platform_data)",
            offset_of!(CDevice, platform_data) as u64,
        ),
        (
            "offsetof(struct device, dmacheck_dma_mask)",
            offset_of!(CDevice, dma_mask_storage) as u64,
        ),
        ("sizeof(struct pci_dev)", size_of::<CPciDev>() as u64),
        (
            "offsetof(struct pci_dev, dma_mask)",
            offset_of!(CPciDev, dma_mask) as u64,
        ),
        (
            "offsetof(struct pci_dev, dev)",
            offset_of!(CPciDev, dev) as u64,
        ),
        (
            "offsetof(struct pci_dev, bus)",
            offset_of!(CPciDev, bus) as u64,
        ),
        (
            "offsetof(struct pci_dev, subsystem_vendor)",
            offset_of!(CPciDev, subsystem_vendor) as u64,
        ),
        (
            "offsetof(struct pci_dev, subsystem_device)",
            offset_of!(CPciDev, subsystem_device) as u64,
        ),
        (
            "offsetof(struct pci_dev, class)",
            offset_of!(CPciDev, class) as u64,
        ),
        (
            "offsetof(struct pci_dev, revision)",
            offset_of!(CPciDev, revision) as u64,
        ),
        (
            "offsetof(struct pci_dev, pin)",
            offset_of!(CPciDev, pin) as u64,
        ),
        (
            "offsetof(struct pci_dev, irq)",
            offset_of!(CPciDev, irq) as u64,
        ),
        (
            "offsetof(struct pci_dev, resource)",
            offset_of!(CPciDev, resource) as u64,
        ),
        (
            "offsetof(struct pci_dev, resource[PCI_NUM_RESOURCES])",
            offset_of!(CPciDev, msi_bits) as u64,
        ),
        ("sizeof(struct resource)", size_of::<CResource>() as u64),
        (
            "offsetof(struct resource, end)",
            offset_of!(CResource, end) as u64,
        ),
        (
            "offsetof(struct resource, name)",
            offset_of!(CResource, name) as u64,
        ),
        (
            "offsetof(struct resource, flags)",
            offset_of!(CResource, flags) as u64,
        ),
        ("PCI_NUM_RESOURCES", PCI_NUM_RESOURCES as u64),
        (
            "sizeof(struct scatterlist)",
            size_of::<CScatterlist>() as u64,
        ),
        (
            "offsetof(struct scatterlist, page_link)",
            offset_of!(CScatterlist, page_link) as u64,
        ),
        (
            "offsetof(struct scatterlist, offset)",
            offset_of!(CScatterlist, offset) as u64,
        ),
        (
            "offsetof(struct scatterlist, length)",
            offset_of!(CScatterlist, length) as u64,
        ),
        (
            "offsetof(struct scatterlist, dma_address)",
            offset_of!(CScatterlist, dma_address) as u64,
        ),
        (
            "offsetof(struct scatterlist, dma_length)",
            offset_of!(CScatterlist, dma_length) as u64,
        ),
        ("sizeof(struct sg_table)", size_of::<CSgTable>() as u64),
        (
            "offsetof(struct sg_table, nents)",
            offset_of!(CSgTable, nents) as u64,
        ),
        (
            "offsetof(struct sg_table, orig_nents)",
            offset_of!(CSgTable, orig_nents) as u64,
        ),
        (
            "sizeof(struct dma_iova_state)",
            size_of::<dmacheck::DmaIovaState>() as u64,
        ),
        (
            "offsetof(struct dma_iova_state, __size)",
            offset_of!(dmacheck::DmaIovaState, size) as u64,
        ),
        (
            "sizeof(struct dmacheck_device_info)",
            size_of::<CDeviceInfo>() as u64,
        ),
        (
            "offsetof(struct dmacheck_device_info, dma_mask)",
            offset_of!(CDeviceInfo, dma_mask) as u64,
        ),
        (
            "offsetof(struct dmacheck_device_info, iommu)",
            offset_of!(CDeviceInfo, iommu) as u64,
        ),
        ("sizeof(struct page)", size_of::<CPage>() as u64),
        ("sizeof(spinlock_t)", size_of::<CSpinlock>() as u64),
        ("sizeof(struct vm_area_struct)", size_of::<CVmArea>() as u64),
        (
            "offsetof(struct vm_area_struct, vm_pgoff)",
            offset_of!(CVmArea, vm_pgoff) as u64,
        ),
        (
            "offsetof(struct vm_area_struct, vm_private_data)",
            offset_of!(CVmArea, vm_private_data) as u64,
        ),
        ("sizeof(dma_addr_t)", size_of::<dmacheck::DmaAddr>() as u64),
        (
            "sizeof(enum dma_data_direction)",
            size_of::<std::ffi::c_int>() as u64,
        ),
        ("DMA_BIDIRECTIONAL", Direction::Bidirectional as u64),
        ("DMA_TO_DEVICE", Direction::ToDevice as u64),
        ("DMA_FROM_DEVICE", Direction::FromDevice as u64),
        ("DMA_NONE", Direction::None as u64),
        ("DMA_MAPPING_ERROR", DMA_MAPPING_ERROR),
        ("DMA_BIT_MASK(24)", dma_bit_mask(24)),
        ("DMA_BIT_MASK(64)", dma_bit_mask(64)),
        ("PAGE_SIZE", PAGE_SIZE as u64),
        ("PAGE_SHIFT", u64::from(PAGE_SHIFT)),
        ("GFP_KERNEL", u64::from(Gfp::KERNEL.bits())),
        ("GFP_ATOMIC", u64::from(Gfp::ATOMIC.bits())),
        ("GFP_DMA", u64::from(Gfp::DMA.bits())),
        ("GFP_DMA32", u64::from(Gfp::DMA32.bits())),
        ("__GFP_ZERO", u64::from(Gfp::ZERO.bits())),
        ("__GFP_NOWARN", u64::from(Gfp::NOWARN.bits())),
        ("DMA_ATTR_WEAK_ORDERING", DmaAttrs::WEAK_ORDERING.bits()),
        ("DMA_ATTR_WRITE_COMBINE", DmaAttrs::WRITE_COMBINE.bits()),
        (
            "DMA_ATTR_NO_KERNEL_MAPPING",
            DmaAttrs::NO_KERNEL_MAPPING.bits(),
        ),
        ("DMA_ATTR_SKIP_CPU_SYNC", DmaAttrs::SKIP_CPU_SYNC.bits()),
        (
            "DMA_ATTR_FORCE_CONTIGUOUS",
            DmaAttrs::FORCE_CONTIGUOUS.bits(),
        ),
        (
            "DMA_ATTR_ALLOC_SINGLE_PAGES",
            DmaAttrs::ALLOC_SINGLE_PAGES.bits(),
        ),
        ("DMA_ATTR_NO_WARN", DmaAttrs::NO_WARN.bits()),
        ("DMA_ATTR_PRIVILEGED", DmaAttrs::PRIVILEGED.bits()),
        ("DMA_ATTR_MMIO", DmaAttrs::MMIO.bits()),
        ("DMA_ATTR_CPU_CACHE_CLEAN", DmaAttrs::CPU_CACHE_CLEAN.bits()),
        ("DMA_MEMORY_MAP", DMA_MEMORY_MAP as u64),
        ("DMA_MEMORY_IO", DMA_MEMORY_IO as u64),
        (
            "DMA_MEMORY_INCLUDES_CHILDREN",
            DMA_MEMORY_INCLUDES_CHILDREN as u64,
        ),
        ("DMA_MEMORY_EXCLUSIVE", DMA_MEMORY_EXCLUSIVE as u64),
        ("CONFIG_CMA_ALIGNMENT", u64::from(CMA_ALIGNMENT)),
    ];
    for &(name, value) in expected {
        assert_eq!(get(name), value, "{name}");
    }
    // Every DMA_ATTR_* of the Rust side has its C constant.
    assert_eq!(DmaAttrs::all().iter().count(), 10);

    // A struct page pointer names the page of a CPU address in the vmemmap range.
    let buf = get("(unsigned long)buf");
    let page = VMEMMAP_BASE + (buf >> PAGE_SHIFT) * size_of::<CPage>() as u64;
    assert_eq!(get("(unsigned long)virt_to_page(buf)"), page);
    for truth in [
        "page_address(virt_to_page(buf)) == (void *)((unsigned long)buf & PAGE_MASK)",
        "dev->dma_mask == &dev->dmacheck_dma_mask",
        "pdev->dev.dma_mask == &pdev->dma_mask",
        "to_pci_dev(&pdev->dev) == pdev",
    ] {
        assert_eq!(get(truth), 1, "{truth}");
    }
    assert_eq!(get("*dev->dma_mask"), dma_bit_mask(40));
    assert_eq!(get("dev->coherent_dma_mask"), dma_bit_mask(40));
    assert_eq!(
        get("pdev->dma_mask"),
        dma_bit_mask(32),
        "0 means the PCI default"
    );
    for fields in [
        "pdev->subsystem_vendor | pdev->subsystem_device | pdev->class | pdev->revision | \
         pdev->pin | pdev->irq | pdev->msi_enabled | pdev->msix_enabled | \
         (unsigned long)pdev->bus",
        "pdev->resource[0].start | pdev->resource[PCI_ROM_RESOURCE].end | \
         pdev->resource[PCI_NUM_RESOURCES - 1].flags | (unsigned long)pdev->resource[0].name",
    ] {
        assert_eq!(get(fields), 0, "allocated zeroed: {fields}");
    }
}

// ---------------------------------------------------------------------------------------------
// The modern API (issue 18)

#[test]
fn modern_api_families_from_c() {
    check_family(
        "modern_api",
        &[
            ("unmap-size-mismatch", 1),
            ("sg-unmap-nents-mismatch", 2),
            ("sg-invalid-list", 1),
            ("sg-map-mapped", 1),
            ("unmap-direction-mismatch", 2),
            ("unmap-unknown", 1),
            ("map-invalid-memory", 1),
            ("managed-free-mismatch", 2),
            ("map-resource-ram", 1),
            ("get-sgtable-unknown", 1),
            ("iova-link-overlap", 1),
            ("iova-link-out-of-range", 1),
            ("iova-unlink-partial", 2),
            ("iova-free-linked", 1),
            ("iova-not-allocated", 1),
        ],
    );
}

#[test]
fn the_readme_nic_ring_runs_clean_and_leaks_nothing_even_when_every_rule_denies() {
    let clean = check_family("nic_ring", &[]);
    assert_eq!(clean.report()["leaks"]["entries"], 0);
    assert!(clean.stderr().is_empty(), "{}", clean.transcript());
    for (label, spec) in [("nic_deny", "deny"), ("nic_bounce", "bounce,deny")] {
        let run = run("nic_ring", label, &[], &[("DMACHECK", spec)]);
        assert!(run.output.status.success(), "{}", run.transcript());
        assert_eq!(run.total("errors"), 0, "{}", run.transcript());
    }
}

/// Reports name the C caller's line: the call-site macros of `include/` tell dmacheck each
/// call's `__FILE__` and `__LINE__` (`tests/c/call_sites.c` prints the lines it expects).
#[test]
fn c_reports_name_the_callers_file_and_line() {
    let run = run("call_sites", "call_sites", &[], &[]);
    assert!(run.output.status.success(), "{}", run.transcript());
    let stdout = run.stdout();
    let number = |prefix: &str| -> Vec<u64> {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|n| n.trim().parse().unwrap())
            .collect()
    };
    let expected = number("expect ");
    let violations = run.report()["violations"].as_array().unwrap().clone();
    assert_eq!(violations.len(), expected.len(), "{}", run.transcript());
    for (v, &line) in violations.iter().zip(&expected) {
        let file = v["site"]["file"].as_str().unwrap();
        if line == 0 {
            // Through a function pointer: no macro, so the C ABI's own line.
            assert!(file.contains("src/capi/"), "{v}");
        } else {
            assert!(file.ends_with("tests/c/call_sites.c"), "{v}");
            assert_eq!(v["site"]["line"], line, "{v}");
        }
    }
    let leak = violations.last().unwrap();
    assert_eq!(leak["rule"], "leak");
    assert_eq!(leak["mapped_at"]["line"], number("mapped ")[0], "{leak}");
    assert!(
        run.stderr().contains("call_sites.c:"),
        "{}",
        run.transcript()
    );
}

/// Every function `include/` declares that can report has its call-site macro (so a new call
/// added without one fails here), except the calls listed, which never report.
#[test]
fn every_reporting_call_has_a_call_site_macro() {
    const NEVER_REPORT: &[&str] = &[
        "dmacheck_adopt_devices",
        "dmacheck_call_site",
        "dmacheck_isa_device",
        "dmacheck_local_irq_save",
        "dmacheck_module_exit",
        "dmacheck_module_init",
        "dmacheck_run_in_irq",
        "dmacheck_set_device_hook",
        "dma_contiguous_reserve",
        "dma_get_cache_alignment",
        "dma_vunmap_noncontiguous",
        "in_atomic",
        "in_hardirq",
        "in_interrupt",
        "in_softirq",
        "irqs_disabled",
        "local_bh_disable",
        "local_bh_enable",
        "local_irq_disable",
        "local_irq_enable",
        "local_irq_restore",
        "phys_to_virt",
        "preempt_disable",
        "preempt_enable",
        "spin_is_locked",
        "spin_lock_init",
        "spin_trylock",
        "spin_unlock",
        "spin_unlock_bh",
        "spin_unlock_irq",
        "spin_unlock_irqrestore",
        "virt_to_phys",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let mut texts = String::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "h") {
                texts.push_str(&std::fs::read_to_string(&path).unwrap());
                texts.push('\n');
            }
        }
    }
    // The declarations left once comments, directives (with their continuation lines) and
    // function bodies are gone: `type name(params)`.
    let mut code = String::new();
    let mut in_comment = false;
    let mut in_directive = false;
    for line in texts.lines() {
        let mut line = line.to_string();
        if in_comment {
            match line.find("*/") {
                Some(end) => {
                    line = line[end + 2..].to_string();
                    in_comment = false;
                }
                None => continue,
            }
        }
        while let Some(start) = line.find("/*") {
            match line[start..].find("*/") {
                Some(end) => line.replace_range(start..start + end + 2, " "),
                None => {
                    line.truncate(start);
                    in_comment = true;
                }
            }
        }
        if in_directive || line.trim_start().starts_with('#') {
            in_directive = line.ends_with('\\');
            continue;
        }
        code.push_str(&line);
        code.push('\n');
    }
    let mut flat = String::new();
    let mut depth = 0;
    for c in code.chars() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    flat.push(';');
                }
            }
            _ if depth == 0 => flat.push(c),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    let mut seen = 0;
    for decl in flat.split(';') {
        let decl = decl.split_whitespace().collect::<Vec<_>>().join(" ");
        if decl.starts_with("static") || decl.starts_with("typedef") || !decl.ends_with(')') {
            continue;
        }
        let Some(open) = decl.find('(') else { continue };
        let name = decl[..open]
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if name.is_empty() || name == decl[..open].trim() {
            continue; // no return type: not a function declaration
        }
        seen += 1;
        let wrapped = texts.contains(&format!("#define {name}("))
            || texts.contains(&format!("#define dmacheck_site_{name}("));
        if !wrapped && !NEVER_REPORT.contains(&name) {
            missing.push(name.to_string());
        }
    }
    assert!(seen > 150, "found only {seen} prototypes");
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "calls without a call-site macro: {missing:?}"
    );
}

/// Every header of `include/`, alone in a file: a driver includes them in any order, so each
/// must bring what it uses.
#[test]
fn every_header_compiles_on_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let include = root.join("include");
    let mut headers = Vec::new();
    let mut dirs = vec![include.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read include/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "h") {
                headers.push(path.strip_prefix(&include).unwrap().to_path_buf());
            }
        }
    }
    headers.sort();
    assert!(headers.len() >= 30, "{headers:?}");
    let dir = work_dir("headers");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut failed = Vec::new();
    for header in &headers {
        let name = header.to_string_lossy().replace('/', "_");
        let file = dir.join(format!("{name}.c"));
        std::fs::write(&file, format!("#include <{}>\n", header.display())).unwrap();
        let out = Command::new(&cc)
            .args([
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fsyntax-only",
                "-I",
            ])
            .arg(&include)
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("run the C compiler `{cc}`: {e}"));
        if !out.status.success() {
            failed.push(format!(
                "{}:\n{}",
                header.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn a_driver_written_with_the_everyday_kernel_helpers_compiles_unchanged_and_runs_clean() {
    // Its module loads, receives two packets and unloads without a report; the only
    // violations are the two devm_kfree calls of memory devm_kmalloc did not give.
    let run = check_family("driver_idioms", &[("managed-free-mismatch", 2)]);
    let stderr = run.stderr();
    assert!(!stderr.contains("WARNING"), "a WARN_ON fired: {stderr}");
    assert_eq!(
        stderr
            .matches("devm_kfree of memory devm_kmalloc did not allocate")
            .count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("on mini2 (mini)"), "{stderr}");
    assert_eq!(run.report()["leaks"]["entries"], 0, "devres freed the ring");
}

/// `tests/c/pci_driver.c`: a driver file written for the kernel (module_pci_driver, probe and
/// remove with goto unwinding, IRQ handler, work item, completion, timer) runs under the
/// `<dmacheck_pci.h>` harness without a report or a leak, its failed probe included.
#[test]
fn a_pci_driver_written_for_the_kernel_probes_copies_and_unloads_clean() {
    let run = check_family("pci_driver", &[]);
    let report = run.report();
    assert_eq!(report["leaks"]["entries"], 0);
    assert!(
        report["counters"]["peak_entries"].as_u64().unwrap() >= 3,
        "the ring and a copy's two mappings"
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("0000:01:00.0: ACME DMA engine 1de5:0101, irq 32"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0000:01:00.0: descriptor 1 still busy"),
        "the watchdog ran: {stderr}"
    );
    assert!(
        stderr.contains("acme_dma 0000:05:00.0: probe with driver acme_dma failed with error -28"),
        "{stderr}"
    );
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

#[test]
fn pci_drivers_stay_clean_when_every_rule_denies_and_behind_bounce_buffers() {
    for (program, label, spec) in [
        ("pci_driver", "pci_deny", "deny"),
        ("pci_driver", "pci_bounce", "bounce,deny"),
        ("pci_driver_idioms", "pci_idioms_deny", "deny"),
        ("pci_driver_idioms", "pci_idioms_bounce", "bounce,deny"),
        ("pci_driver_legacy", "pci_legacy_deny", "deny"),
        ("pci_driver_legacy", "pci_legacy_bounce", "bounce,deny"),
    ] {
        let run = run(program, label, &[], &[("DMACHECK", spec)]);
        assert!(run.output.status.success(), "{}", run.transcript());
        assert_eq!(run.total("failures"), 0, "{}", run.transcript());
        assert_eq!(run.total("errors"), 0, "{}", run.transcript());
        assert_eq!(run.per_rule(), BTreeMap::new());
        assert_eq!(run.report()["leaks"]["entries"], 0);
        assert_eq!(
            run.report()["sources"][0]["config"]["force_bounce"],
            spec.contains("bounce")
        );
    }
}

#[test]
fn a_pci_device_whose_ids_match_no_registered_driver_is_never_probed() {
    let run = run("pci_driver", "pci_binding", &[], &[]);
    assert!(run.output.status.success(), "{}", run.transcript());
    assert_eq!(run.total("failures"), 0, "{}", run.transcript());
    let stdout = run.stdout();
    let bindings: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("device "))
        .collect();
    assert_eq!(
        bindings,
        [
            "0000:01:00.0 1de5:0101 acme_dma enabled",
            "0000:02:00.0 8086:0101 unbound disabled",
            "0000:03:00.0 1de5:0102 unbound disabled",
            "0000:04:00.0 10ec:8168 unbound disabled",
        ],
        "{}",
        run.transcript()
    );
}

/// `tests/c/pci_driver_idioms.c`: config space, managed BARs, a register poll, MSI-X vectors
/// with a tasklet and a threaded handler, a line held while disabled, delayed work on the
/// driver's own work queue, suspend and resume, and subsystem-id matching, all clean.
#[test]
fn a_pci_driver_with_tasklets_threaded_irqs_delayed_work_and_pm_runs_clean() {
    let run = check_family("pci_driver_idioms", &[]);
    assert_eq!(run.report()["leaks"]["entries"], 0);
    let stderr = run.stderr();
    assert!(
        stderr.contains("0000:0a:00.0: rev 3, with stats"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0000:0b:00.0: rev 3, without stats"),
        "the subsystem entry matched: {stderr}"
    );
    assert!(!stderr.contains("0000:0c:00.0"), "{stderr}");
    assert!(
        stderr.contains("qdev 0000:0d:00.0: probe with driver qdev failed with error -110"),
        "{stderr}"
    );
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

/// `tests/c/pci_driver_legacy.c`: a driver reading `struct pci_dev`'s fields directly
/// (`class`, `revision`, `resource[0]`, `irq` with `request_irq` on the INTx line, or on the
/// MSI vector `pci_enable_msi` puts there) probes two revisions, declines the card's other
/// function, takes its interrupts and unloads clean.
#[test]
fn a_pci_driver_reading_irq_revision_class_and_resources_from_pci_dev_runs_clean() {
    let run = check_family("pci_driver_legacy", &[]);
    assert_eq!(run.report()["leaks"]["entries"], 0);
    let stderr = run.stderr();
    let probed: Vec<&str> = stderr.lines().filter(|l| l.contains("LNIC rev")).collect();
    assert_eq!(probed.len(), 2, "{stderr}");
    assert!(
        probed[0].starts_with("0000:03:00.0: LNIC rev 1 on bus 03 slot 0 at 0x")
            && probed[0].ends_with(", IRQ 16 (INTx), subsystem 10ec:8129"),
        "the first device on the bus has INTx line 16: {stderr}"
    );
    assert!(
        probed[1].starts_with("0000:04:00.0: LNIC rev 3 on bus 04 slot 0 at 0x")
            && probed[1].ends_with(", IRQ 64 (MSI), subsystem 1186:1300, hardware checksum"),
        "the second device's MSI vector 0 is IRQ 32 + 32: {stderr}"
    );
    assert!(
        !stderr.contains("0000:04:00.1"),
        "declined quietly: {stderr}"
    );
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

/// The line of `tests/c/<program>.c` holding `text` (once).
fn line_of(program: &str, text: &str) -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{program}.c"));
    let source = std::fs::read_to_string(path).expect("read the C source");
    let lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(text))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "`{text}` in {program}.c: {lines:?}");
    lines[0] as u64
}

/// A remove() that forgets its coherent ring and a probe error path that skips its unmapping
/// are each reported when the device ends, at the driver line that made the entries.
#[test]
fn a_pci_driver_leaking_in_remove_and_in_its_probe_error_path_is_reported_at_its_lines() {
    let program = "pci_driver_leaky";
    let run = check_family(program, &[("leak", 5)]);
    let report = run.report();
    assert_eq!(report["leaks"]["entries"], 5);
    let leaks: Vec<(String, u64, u64, String)> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["rule"], "leak", "{v}");
            for at in ["site", "mapped_at"] {
                let file = v[at]["file"].as_str().unwrap();
                assert!(file.ends_with("tests/c/pci_driver_leaky.c"), "{at}: {v}");
            }
            (
                v["mapped_by"].as_str().unwrap().to_string(),
                v["mapped_at"]["line"].as_u64().unwrap(),
                v["site"]["line"].as_u64().unwrap(),
                v["device"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let probe_line = line_of(program, "EXPECT(CHECK(dmacheck_pci_probe(noirq)");
    let unload_line = line_of(program, "module_pci_driver(leaky_driver);");
    assert_eq!(
        leaks,
        [
            (
                "dma_map_single".to_string(),
                line_of(program, "priv->rx_dma[i] = dma_map_single("),
                probe_line,
                "0000:07:00.0".to_string(),
            ),
            (
                "dma_alloc_coherent".to_string(),
                line_of(program, "priv->ring = dma_alloc_coherent("),
                unload_line,
                "0000:06:00.0".to_string(),
            ),
        ],
        "{}",
        run.transcript()
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("device_release on 0000:07:00.0 (leaky_nic): 4 single mappings"),
        "{stderr}"
    );
    assert!(
        stderr.contains("device_release on 0000:06:00.0 (leaky_nic): coherent allocation"),
        "{stderr}"
    );
}

#[test]
fn a_kernel_code_harness_with_its_own_struct_device_takes_only_the_dma_headers() {
    let run = check_family(
        "harness_virtio",
        &[
            ("double-unmap", 1),
            ("leak", 1),
            ("device-released", 1),
            ("invalid-device", 3),
        ],
    );
    let stderr = run.stderr();
    assert!(stderr.contains("on vda (virtio_harness)"), "{stderr}");
    assert!(stderr.contains("on blk0 (virtio_blk)"), "{stderr}");
}

#[test]
fn c_abi_messages_name_the_call_the_raw_direction_and_the_forgotten_pool() {
    let run = check_family(
        "cabi_messages",
        &[
            ("direction-none", 2),
            ("leak", 2),
            ("pool-destroy-busy", 1),
            ("device-released", 7),
        ],
    );
    let stderr = run.stderr();
    for expected in [
        "dma_map_page_attrs called with direction 7,",
        "dma_map_single called with direction -9,",
        "DMA pool \"cmd-blocks\" was never destroyed (1 block(s) allocated)",
        "warn[device-released]: dma_set_mask on eth0",
        "warn[device-released]: dma_pool_create on eth0",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing:\n{stderr}");
    }
    assert!(!stderr.contains("\"rx-desc\""), "{stderr}");
}
