//! RULES.md is generated from the rule declarations; this test keeps the two in step.
//! After changing a rule: `DMACHECK_BLESS=1 cargo test --test rules_catalogue`.

use std::path::Path;

#[test]
fn rules_md_matches_the_declarations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("RULES.md");
    let generated = dmacheck::rules::catalogue_markdown();
    if std::env::var_os("DMACHECK_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write RULES.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "RULES.md is out of date with src/rules/: run `DMACHECK_BLESS=1 cargo test --test rules_catalogue`"
    );
}

#[test]
fn every_rule_is_in_the_catalogue_with_its_citation() {
    let text = dmacheck::rules::catalogue_markdown();
    for rule in dmacheck::rules::all() {
        assert!(
            text.contains(&format!("### {}\n", rule.id)),
            "{} missing",
            rule.id
        );
        assert!(text.contains(rule.seed), "{} citation missing", rule.id);
    }
}
