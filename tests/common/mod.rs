//! Shared helpers of the rule tests: a quiet checker that ignores `DMACHECK`, and short ways
//! to look at what it reported.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use dmacheck::{
    Checker, CheckerBuilder, Device, DeviceBuilder, Direction, DmaAddr, Gfp, Rule, Site, Violation,
    dma_map_single, dma_mapping_error, dma_unmap_single, kfree, kmalloc,
};

/// A builder for a checker that neither reads `DMACHECK` nor prints, so results do not depend
/// on the environment.
pub fn quiet() -> CheckerBuilder {
    Checker::builder().env(false).print(false)
}

/// A quiet, environment-independent checker with the default levels.
pub fn checker() -> Checker {
    quiet().build()
}

/// A device of `checker` with the default (32-bit) masks.
pub fn device(checker: &Checker, name: &str) -> Device {
    checker.device(name).driver("testdrv").build()
}

/// The rule ids of the violations reported so far, oldest first.
pub fn rule_ids(checker: &Checker) -> Vec<&'static str> {
    checker.violations().iter().map(|v| v.rule.id).collect()
}

/// The one violation reported so far, which must be of `rule`.
#[track_caller]
pub fn single_violation(checker: &Checker, rule: &'static Rule) -> Violation {
    let all = checker.violations();
    let ids: Vec<&str> = all.iter().map(|v| v.rule.id).collect();
    assert_eq!(ids, [rule.id], "expected exactly one {} violation", rule.id);
    all.into_iter().next().expect("one violation")
}

/// Assert that no violation was reported so far, listing them otherwise.
#[track_caller]
pub fn assert_silent(checker: &Checker) {
    assert!(
        checker.violations().is_empty(),
        "expected no violation, got {:?}",
        rule_ids(checker)
    );
}

/// The violations of `rule` reported so far.
pub fn violations_of(checker: &Checker, rule: &'static Rule) -> Vec<Violation> {
    checker
        .violations()
        .into_iter()
        .filter(|v| v.rule.id == rule.id)
        .collect()
}

/// Assert that `site` is line `line` of the test file whose name is `file_name`.
#[track_caller]
pub fn assert_site(site: &Site, file_name: &str, line: u32) {
    assert!(
        site.location().file().ends_with(file_name),
        "site {site} is not in {file_name}"
    );
    assert_eq!(
        site.location().line(),
        line,
        "site {site} is on the wrong line"
    );
}

/// Assert that the violation concerns an entry made at line `line` of `file_name`.
#[track_caller]
pub fn assert_mapped_at(v: &Violation, file_name: &str, line: u32) {
    let site = v
        .mapped_at
        .as_ref()
        .unwrap_or_else(|| panic!("{} violation names no mapping site", v.rule.id));
    assert_site(site, file_name, line);
}

/// The entries a `leak` violation lists, as (DMA address, size, direction): the leaked entry,
/// or the first entries of a group of leaks made at one site.
pub fn listed_leaks(v: &Violation) -> Vec<(DmaAddr, u64, Direction)> {
    use dmacheck::report::Value;
    let values = |key: &'static str| {
        v.details
            .iter()
            .filter(move |d| d.key == key)
            .map(|d| &d.value)
    };
    let addrs = values("dma_addr").map(|a| match a {
        Value::Addr(a) => *a,
        other => panic!("dma_addr {other:?}"),
    });
    let sizes = values("size").map(|s| match s {
        Value::Num(s) => *s,
        other => panic!("size {other:?}"),
    });
    let dirs = values("dir").map(|d| match d {
        Value::Dir(d) => *d,
        other => panic!("dir {other:?}"),
    });
    let listed: Vec<_> = addrs
        .zip(sizes)
        .zip(dirs)
        .map(|((a, s), d)| (a, s, d))
        .collect();
    assert!(!listed.is_empty(), "{} lists no entry", v.rule.id);
    listed
}

/// The number of live entries, checked to agree between the two ways of asking.
#[track_caller]
pub fn live(checker: &Checker) -> usize {
    let n = checker.live_entries().len();
    assert_eq!(
        checker.stats().live_entries,
        n as u64,
        "stats and entries disagree"
    );
    n
}

/// A checked streaming mapping of a fresh kmalloc buffer; its site is the caller's.
#[track_caller]
pub fn map_checked(dev: &Device, size: usize, dir: Direction) -> (*mut u8, DmaAddr) {
    let buf = kmalloc(dev.checker(), size, Gfp::KERNEL);
    assert!(!buf.is_null());
    let dma = dma_map_single(dev, buf, size, dir);
    assert_eq!(dma_mapping_error(dev, dma), 0, "the map failed");
    (buf, dma)
}

/// Unmap and free what [`map_checked`] made.
#[track_caller]
pub fn unmap_and_free(dev: &Device, buf: *mut u8, dma: DmaAddr, size: usize, dir: Direction) {
    dma_unmap_single(dev, dma, size, dir);
    kfree(dev.checker(), buf);
}

/// How a device reaches memory: the three backends scenario tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The default: DMA address = physical address.
    Direct,
    /// Behind the checker's IOMMU.
    Iommu,
    /// Through the checker's bounce pool (`.bounce()` on the device).
    Bounce,
}

/// A device `name` bound to `driver` on `via`, checked to have the backend `via` names.
pub fn device_via(checker: &Checker, name: &str, driver: &str, via: Via) -> Device {
    device_via_with(checker, name, driver, via, |b| b)
}

/// Like [`device_via`], with more settings (masks, segment limits) applied by `configure`.
pub fn device_via_with(
    checker: &Checker,
    name: &str,
    driver: &str,
    via: Via,
    configure: impl FnOnce(DeviceBuilder) -> DeviceBuilder,
) -> Device {
    let b = configure(checker.device(name).driver(driver));
    let (dev, expected) = match via {
        Via::Direct => (b.build(), "direct"),
        Via::Iommu => (b.iommu().build(), "iommu"),
        Via::Bounce => (b.bounce().build(), "bounce"),
    };
    assert_eq!(dev.backend().name(), expected);
    dev
}

/// One test per backend for each scenario function of the same name (which takes a [`Via`]).
#[macro_export]
macro_rules! on_each_backend {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn direct() {
                super::$scenario($crate::common::Via::Direct);
            }
            #[test]
            fn iommu() {
                super::$scenario($crate::common::Via::Iommu);
            }
            #[test]
            fn bounce() {
                super::$scenario($crate::common::Via::Bounce);
            }
        }
    )*};
}

/// An empty directory of this test binary's scratch space (`CARGO_TARGET_TMPDIR`), emptied
/// first if a previous run left it.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process's standard output, as text.
pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process's standard error, as text.
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// This test binary again, running only the tests whose names contain `filter`, with
/// `DMACHECK` and `DMACHECK_REPORT` cleared and `child_var` set: tests that act only as a
/// child check it first.
pub fn this_binary_as_child(filter: &str, child_var: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.arg(filter)
        .env(child_var, "1")
        .env_remove("DMACHECK")
        .env_remove("DMACHECK_REPORT")
        .env("NO_COLOR", "1");
    cmd
}

/// Whether this process is a child started by [`run_test_as_child`] with `marker`.
pub fn is_child(marker: &str) -> bool {
    std::env::var_os(marker).is_some()
}

/// Run the test `test` of this test binary again in a child process (see
/// [`this_binary_as_child`]), its output not captured by the test harness, with `marker` and
/// `env` set, so the parent can look at what the child printed. The child must succeed.
pub fn run_test_as_child(test: &str, marker: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = this_binary_as_child(test, marker);
    cmd.args(["--exact", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the child runs");
    assert!(
        out.status.success(),
        "the child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two sg lists whose first entries cover the same 128 bytes: `one` (one entry, mapped
/// `dir_one`) and `two` (that entry and 512 bytes of its own, mapped `dir_two`), mapped in the
/// order asked, for tests of which segment a call at that address is judged against.
pub struct ListsSharingBytes {
    pub one: dmacheck::SgTable,
    pub two: dmacheck::SgTable,
    pub buf: *mut u8,
    pub other: *mut u8,
}

impl ListsSharingBytes {
    pub fn map(dev: &Device, dir_one: Direction, dir_two: Direction, one_first: bool) -> Self {
        use dmacheck::{SgTable, dma_map_sg, sg_set_buf};
        let buf = kmalloc(dev.checker(), 1024, Gfp::KERNEL);
        let other = kmalloc(dev.checker(), 512, Gfp::KERNEL);
        let mut one = SgTable::new(1);
        sg_set_buf(&mut one, 0, buf, 128);
        let mut two = SgTable::new(2);
        sg_set_buf(&mut two, 0, buf, 128);
        sg_set_buf(&mut two, 1, other, 512);
        if one_first {
            assert_eq!(dma_map_sg(dev, &mut one, 1, dir_one), 1);
            assert_eq!(dma_map_sg(dev, &mut two, 2, dir_two), 2);
        } else {
            assert_eq!(dma_map_sg(dev, &mut two, 2, dir_two), 2);
            assert_eq!(dma_map_sg(dev, &mut one, 1, dir_one), 1);
        }
        ListsSharingBytes {
            one,
            two,
            buf,
            other,
        }
    }

    /// Free both buffers (the lists are unmapped by the test).
    pub fn free(self, checker: &Checker) {
        kfree(checker, self.other);
        kfree(checker, self.buf);
    }
}
