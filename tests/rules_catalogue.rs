//! RULES.md is generated from the rule declarations; this test keeps the two in step (after
//! changing a rule: `DMACHECK_BLESS=1 cargo test --test rules_catalogue`), and checks the
//! registry it is made from.

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

// ---------------------------------------------------------------------------------------------
// The registry the catalogue is made from: rules found by id, compared by id, and the level
// names `DMACHECK` accepts.

use dmacheck::Level;
use dmacheck::rules::{self, LEAK, SYNC_UNKNOWN};

#[test]
fn every_rule_is_found_by_its_id_and_nothing_else_is() {
    for &rule in rules::all() {
        let found = rules::by_id(rule.id).unwrap_or_else(|| panic!("{} not found", rule.id));
        assert!(
            std::ptr::eq(found, rule),
            "{} found as {}",
            rule.id,
            found.id
        );
    }
    assert!(rules::by_id("no-such-rule").is_none());
    assert!(rules::by_id("").is_none());
}

#[test]
fn rules_are_equal_exactly_when_their_ids_are() {
    assert!(SYNC_UNKNOWN == SYNC_UNKNOWN);
    assert!(SYNC_UNKNOWN != LEAK);
    assert!(!(SYNC_UNKNOWN == LEAK));
    let all = rules::all();
    for (i, a) in all.iter().enumerate() {
        for (j, b) in all.iter().enumerate() {
            assert_eq!(**a == **b, i == j, "{} vs {}", a.id, b.id);
        }
    }
}

#[test]
fn level_names_and_their_aliases_parse_and_nothing_else_does() {
    let cases = [
        ("allow", Level::Allow),
        ("off", Level::Allow),
        ("warn", Level::Warn),
        ("warning", Level::Warn),
        ("deny", Level::Deny),
        ("error", Level::Deny),
        (" Warn ", Level::Warn),
        ("DENY", Level::Deny),
    ];
    for (text, level) in cases {
        assert_eq!(Level::parse(text), Some(level), "{text:?}");
    }
    for level in [Level::Allow, Level::Warn, Level::Deny] {
        assert_eq!(Level::parse(level.name()), Some(level));
        assert_eq!(level.to_string(), level.name());
    }
    for text in ["", "warns", "on", "fatal"] {
        assert_eq!(Level::parse(text), None, "{text:?}");
    }
}
