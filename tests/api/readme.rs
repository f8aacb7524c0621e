//! What the README tells a new user to type must work: installation forms that resolve today,
//! the fuzz command `fuzz/Cargo.toml` gives, a loom recipe with its preemption bound and lint
//! setting, docs.rs metadata that documents the adapters, and text about the crate rather than
//! about the project's planning. (Its Rust examples run as doctests; see `src/lib.rs`.)

const README: &str = include_str!("../../README.md");
const CARGO_TOML: &str = include_str!("../../Cargo.toml");
const FUZZ_CARGO_TOML: &str = include_str!("../../fuzz/Cargo.toml");
const ADAPTERS: &str = include_str!("../../src/adapters/mod.rs");

/// The lines of the README's fenced blocks in `language`.
fn blocks(language: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in README.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            inside = !inside && lang.trim() == language;
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    out
}

#[test]
fn installation_shows_the_forms_that_work_before_publication() {
    let toml = blocks("toml");
    assert!(
        toml.iter().any(|l| l.starts_with("dmacheck = { git = ")),
        "{toml:?}"
    );
    assert!(
        toml.iter().any(|l| l.starts_with("dmacheck = { path = ")),
        "{toml:?}"
    );
    // The registry form only as the note for later: not a line a user copies today.
    for line in README.lines() {
        let code = line.split('#').next().unwrap_or("");
        assert!(
            !code.contains("dmacheck = \"0.1\""),
            "a registry dependency: {line}"
        );
        assert!(
            !code.contains("version = \"0.1\""),
            "a registry dependency: {line}"
        );
    }
    for line in README.lines().filter(|l| l.contains("cargo install")) {
        let installs_dmacheck = line.trim_end().ends_with(" dmacheck")
            || line.contains(" dmacheck ")
            || line.contains("--path");
        if installs_dmacheck && !line.contains("cargo-fuzz") {
            assert!(
                line.contains("--git") || line.contains("--path"),
                "`cargo install` from the registry cannot work yet: {line}"
            );
        }
    }
}

#[test]
fn the_fuzz_command_is_the_same_in_fuzz_cargo_toml_and_the_readme() {
    assert!(
        !FUZZ_CARGO_TOML.contains("+nightly"),
        "the README fuzzes on stable"
    );
    assert!(FUZZ_CARGO_TOML.contains("cargo fuzz run -s none <target>"));
    assert!(README.contains("cargo fuzz run -s none ops fuzz/corpus/ops fuzz/seeds/ops"));
}

#[test]
fn the_loom_recipe_bounds_preemptions_and_declares_the_cfg() {
    let sh = blocks("sh");
    assert!(
        sh.iter().any(
            |l| l.starts_with("RUSTFLAGS=\"--cfg loom\" LOOM_MAX_PREEMPTIONS=")
                && l.contains("--test my_loom_test")
        ),
        "the user's loom command has a preemption bound: {sh:?}"
    );
    let toml = blocks("toml").join("\n");
    assert!(
        toml.contains(
            "[lints.rust]\nunexpected_cfgs = { level = \"warn\", check-cfg = ['cfg(loom)'] }"
        ),
        "{toml}"
    );
}

#[test]
fn docs_rs_documents_every_adapter_with_its_feature() {
    assert!(CARGO_TOML.contains("[package.metadata.docs.rs]\nall-features = true\n"));
    assert!(CARGO_TOML.contains("rustdoc-args = [\"--cfg\", \"docsrs\"]"));
    for feature in ["virtio", "dma-api"] {
        assert!(
            ADAPTERS.contains(&format!(
                "#[cfg(feature = \"{feature}\")]\n#[cfg_attr(docsrs, doc(cfg(feature = \"{feature}\")))]"
            )),
            "the `{feature}` adapter is marked for docs.rs"
        );
    }
}

#[test]
fn the_readme_speaks_to_users_not_about_the_projects_planning() {
    for planning in [
        "the performance issue",
        "this session",
        "Against the targets",
        "this project's machine",
    ] {
        assert!(!README.contains(planning), "README: `{planning}`");
    }
}

#[test]
fn the_c_driver_example_is_the_driver_that_the_c_tests_compile_and_run() {
    let nic_ring = include_str!("../c/nic_ring.c");
    let section = README
        .split("### Check your C driver")
        .nth(1)
        .expect("the section");
    let example = section
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("its C block");
    assert!(example.contains("DEFINE_DMA_UNMAP_ADDR") && example.contains("dma_map_sgtable"));
    assert!(
        nic_ring.contains(example),
        "README's NIC ring differs from tests/c/nic_ring.c"
    );
}
