//! Every check in `src/rules/`: a finding is built beside its rule's declaration, never in the
//! API families, the C ABI, trace replay or the engine, which carry the findings out.

use crate::source::library;

#[test]
fn findings_are_built_only_in_src_rules() {
    let (lib, files) = library();
    let mut outside: Vec<String> = files
        .iter()
        .filter(|(module, _)| module.first().map(String::as_str) != Some("rules"))
        .filter(|(_, code)| builds_a_finding(code))
        .map(|(module, _)| module.join("::"))
        .collect();
    if builds_a_finding(&lib) {
        outside.push("lib.rs".into());
    }
    assert!(
        outside.is_empty(),
        "these modules build findings; move the check beside its rule in src/rules/: {outside:?}"
    );
}

#[test]
fn a_finding_built_outside_rules_is_seen() {
    assert!(builds_a_finding(
        "let f = Finding::new(&rules::LEAK, \"x\");"
    ));
    assert!(builds_a_finding("Finding { rule, message }"));
    assert!(!builds_a_finding(
        "let f: Finding = rules::lifetime::leak(e);"
    ));
    assert!(!builds_a_finding(
        "fn gone(s: &S) -> Finding { rules::x(s) }"
    ));
}

fn builds_a_finding(code: &str) -> bool {
    // A function returning a finding (`-> Finding {`) does not build one by itself.
    let code = code.replace("-> Finding {", "");
    code.contains("Finding::new(") || code.contains("Finding {")
}
