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

// ---------------------------------------------------------------------------------------------
// Every rule is tested both ways: a test makes it fire, and a test of correct use stays silent.
//
// Read from the test sources (as clippy's UI tests are found by lint name), so a new rule
// without tests fails here. A test is a `#[test]` function, or a scenario function a test macro
// runs (`on_each_backend!`), read together with the functions of its file it calls.
//
// - It makes a rule fire when one of its assertions (`assert*!`, `single_violation`,
//   `violations_of`, `the_one`, `#[should_panic(expected = ..)]`, or `EXPECT` in the C tests)
//   names the rule (its id in quotes, or its constant) and does not claim an absence (a
//   comparison with 0, `is_empty()`, a negation).
// - It is a silent test of the rule when it does not make the rule fire, claims an absence
//   (`assert_clean`, `assert_no_violations`, `assert_silent`, `assert_tidy`, no violations, or an
//   assertion of absence), and names the rule or sits in the rule's section of its file (a
//   `// <rule-id>` comment line above it, after the last `// ---` separator: the convention of
//   the `*_rules.rs` files).

use std::path::PathBuf;

/// The calls whose arguments say which rule fired.
const FIRING_ASSERTIONS: [&str; 5] = [
    "single_violation",
    "violations_of",
    "the_one",
    "EXPECT",
    "should_panic",
];

/// Calls and expressions that claim nothing was reported.
const SILENCE_CLAIMS: [&str; 6] = [
    "assert_clean()",
    "assert_no_violations()",
    "assert_silent(",
    "assert_tidy(",
    "violations().is_empty()",
    "CLEAN(",
];

/// A rule's constant (`unmap-size-mismatch`: `UNMAP_SIZE_MISMATCH`).
fn constant_of(id: &str) -> String {
    id.to_ascii_uppercase().replace('-', "_")
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `text` names `id`: in quotes, or by its constant as a whole word.
fn names(text: &str, id: &str) -> bool {
    if text.contains(&format!("\"{id}\"")) {
        return true;
    }
    let constant = constant_of(id);
    let bytes = text.as_bytes();
    text.match_indices(&constant).any(|(at, _)| {
        let end = at + constant.len();
        (at == 0 || !is_word_byte(bytes[at - 1]))
            && bytes.get(end).is_none_or(|&b| !is_word_byte(b))
    })
}

/// The index just past the literal or comment starting at `i`, or `i` when none starts there.
fn skip_literal(bytes: &[u8], i: usize) -> usize {
    let at = |k: usize| bytes.get(k).copied().unwrap_or(0);
    match at(i) {
        b'/' if at(i + 1) == b'/' => (i..bytes.len())
            .find(|&k| bytes[k] == b'\n')
            .unwrap_or(bytes.len()),
        b'r' if (at(i + 1) == b'"' || at(i + 1) == b'#')
            && (i == 0 || !is_word_byte(at(i - 1))) =>
        {
            let hashes = (i + 1..bytes.len())
                .take_while(|&k| bytes[k] == b'#')
                .count();
            let open = i + 1 + hashes;
            if at(open) != b'"' {
                return i;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            (open + 1..bytes.len())
                .find(|&k| bytes[k..].starts_with(&close))
                .map_or(bytes.len(), |k| k + close.len())
        }
        b'"' => {
            let mut k = i + 1;
            while k < bytes.len() && bytes[k] != b'"' {
                k += if bytes[k] == b'\\' { 2 } else { 1 };
            }
            k + 1
        }
        // A character literal (`'{'`, `'\''`), not a lifetime.
        b'\'' if at(i + 2) == b'\'' => i + 3,
        b'\'' if at(i + 1) == b'\\' => (i + 2..bytes.len())
            .find(|&k| bytes[k] == b'\'')
            .map_or(bytes.len(), |k| k + 1),
        _ => i,
    }
}

/// The text between the bracket at `open` and its match.
fn inside(text: &str, open: usize) -> &str {
    let bytes = text.as_bytes();
    let (o, c) = match bytes[open] {
        b'(' => (b'(', b')'),
        _ => (b'{', b'}'),
    };
    let mut depth = 0;
    let mut i = open;
    while i < bytes.len() {
        let next = skip_literal(bytes, i);
        if next != i {
            i = next;
            continue;
        }
        if bytes[i] == o {
            depth += 1;
        } else if bytes[i] == c {
            depth -= 1;
            if depth == 0 {
                return &text[open + 1..i];
            }
        }
        i += 1;
    }
    &text[open + 1..]
}

/// The arguments of every assertion in `text`, and whether each claims an absence.
fn assertions(text: &str) -> Vec<(&str, bool)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let next = skip_literal(bytes, i);
        if next != i {
            i = next;
            continue;
        }
        if !is_word_byte(bytes[i]) || (i > 0 && is_word_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let end = (i..bytes.len())
            .find(|&k| !is_word_byte(bytes[k]))
            .unwrap_or(bytes.len());
        let word = &text[i..end];
        let mut k = end;
        let is_macro = bytes.get(k) == Some(&b'!');
        k += usize::from(is_macro);
        while bytes.get(k).is_some_and(u8::is_ascii_whitespace) {
            k += 1;
        }
        let asserting = (is_macro
            && (word.starts_with("assert") || word.starts_with("prop_assert")))
            || (!is_macro && FIRING_ASSERTIONS.contains(&word));
        if asserting && bytes.get(k) == Some(&b'(') {
            let args = inside(text, k);
            let flat: String = args.split_whitespace().collect::<Vec<_>>().join(" ");
            let absence = flat.ends_with(", 0")
                || flat.ends_with(",0")
                || flat.contains(".is_empty()")
                || flat.starts_with('!');
            found.push((args, absence));
        }
        i = end;
    }
    found
}

/// A test: its name, the rule whose section of its file it sits in, and its text with the text
/// of the functions of its file it calls.
struct TestFn {
    name: String,
    section: Option<&'static str>,
    text: String,
}

/// The test sources: every `.rs` and `.c` file under `tests/` but the shared helpers and this
/// file.
fn test_sources() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read tests/").flatten() {
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "common" {
                    dirs.push(path);
                }
            } else if (name.ends_with(".rs") && name != "rules_catalogue.rs")
                || name.ends_with(".c")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The rule whose section `before` ends in: a `// <rule-id>` line after the last separator
/// line (`// ---`).
fn section(before: &str) -> Option<&'static str> {
    for line in before.lines().rev() {
        let Some(rest) = line.strip_prefix("// ") else {
            continue;
        };
        if rest.starts_with("---") {
            return None;
        }
        let id_len = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
            .unwrap_or(rest.len());
        let after = rest[id_len..].chars().next();
        if let Some(rule) = rules::by_id(&rest[..id_len]) {
            if matches!(after, None | Some(' ' | '(' | ',' | ':')) {
                return Some(rule.id);
            }
        }
    }
    None
}

/// Whether `text` calls `function`.
fn calls(text: &str, function: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(function).any(|(at, _)| {
        let end = at + function.len();
        (at == 0 || !is_word_byte(bytes[at - 1])) && bytes.get(end) == Some(&b'(')
    })
}

/// A function of a source: its name, attributes, body and section.
struct Function<'s> {
    name: &'s str,
    attributes: &'s str,
    body: &'s str,
    section: Option<&'static str>,
}

/// The top-level functions of a Rust source.
fn functions(src: &str) -> Vec<Function<'_>> {
    let mut found = Vec::new();
    let mut offset = 0;
    let mut attributes_start = 0;
    for line in src.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if !line.starts_with("#[") && !line.starts_with("fn ") && !line.starts_with("pub fn ") {
            attributes_start = offset;
            continue;
        }
        let Some(rest) = line
            .strip_prefix("fn ")
            .or_else(|| line.strip_prefix("pub fn "))
        else {
            continue;
        };
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name_at = start + line.len() - rest.len();
        if let Some(open) = src[start..].find('{').map(|i| start + i) {
            found.push(Function {
                name: &src[name_at..name_at + name_len],
                attributes: &src[attributes_start..start],
                body: inside(src, open),
                section: section(&src[..start]),
            });
        }
        attributes_start = offset;
    }
    found
}

/// The tests of one Rust source.
fn tests_of(src: &str) -> Vec<TestFn> {
    let functions = functions(src);
    let mut scenarios = Vec::new();
    for (at, _) in src.match_indices("on_each_backend!") {
        if let Some(open) = src[at..].find('(').map(|i| at + i) {
            let listed =
                inside(src, open).split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            scenarios.extend(listed.filter(|w| !w.is_empty()));
        }
    }
    let mut tests = Vec::new();
    for f in &functions {
        if !f.attributes.contains("#[test]") && !scenarios.contains(&f.name) {
            continue;
        }
        // The test's text, then that of the functions of its file it calls, transitively.
        let mut seen = vec![f.name];
        let mut text = String::from(f.attributes);
        let mut queue = vec![f.body];
        while let Some(body) = queue.pop() {
            text.push_str(body);
            for callee in &functions {
                if !seen.contains(&callee.name) && calls(body, callee.name) {
                    seen.push(callee.name);
                    queue.push(callee.body);
                }
            }
        }
        tests.push(TestFn {
            name: f.name.to_string(),
            section: f.section,
            text,
        });
    }
    tests
}

/// The rules each test makes fire, and the rules it is a silent test of.
fn firing_and_silent(test: &TestFn) -> (Vec<&'static str>, Vec<&'static str>) {
    let claims = assertions(&test.text);
    let fired: Vec<&'static str> = rules::all()
        .iter()
        .map(|r| r.id)
        .filter(|id| {
            claims
                .iter()
                .any(|&(args, absence)| !absence && names(args, id))
        })
        .collect();
    let claims_absence = claims.iter().any(|&(_, absence)| absence)
        || SILENCE_CLAIMS.iter().any(|c| test.text.contains(c))
        || test.text.contains("rule_ids(&checker).is_empty()");
    if !claims_absence {
        return (fired, Vec::new());
    }
    let silent = rules::all()
        .iter()
        .map(|r| r.id)
        .filter(|&id| !fired.contains(&id))
        .filter(|&id| test.section == Some(id) || names(&test.text, id))
        .collect();
    (fired, silent)
}

#[test]
fn every_rule_has_a_test_that_makes_it_fire_and_a_silent_test_of_correct_use() {
    let mut fired: Vec<&'static str> = Vec::new();
    let mut silent: Vec<&'static str> = Vec::new();
    for path in test_sources() {
        let src = std::fs::read_to_string(&path).expect("read a test source");
        if path.extension().is_some_and(|e| e == "c") {
            // A C test program states what fires with EXPECT.
            for (args, absence) in assertions(&src) {
                fired.extend(
                    rules::all()
                        .iter()
                        .map(|r| r.id)
                        .filter(|id| !absence && names(args, id)),
                );
            }
            continue;
        }
        for test in tests_of(&src) {
            let (f, s) = firing_and_silent(&test);
            fired.extend(f);
            silent.extend(s);
        }
    }
    let untested: Vec<String> = rules::all()
        .iter()
        .flat_map(|r| {
            let no_fire =
                (!fired.contains(&r.id)).then(|| format!("{}: no test makes it fire", r.id));
            let no_silence = (!silent.contains(&r.id))
                .then(|| format!("{}: no silent test of correct use", r.id));
            no_fire.into_iter().chain(no_silence)
        })
        .collect();
    assert!(
        untested.is_empty(),
        "rules without tests:\n{}",
        untested.join("\n")
    );
}

/// The reading of test sources finds what it should, and nothing else.
#[test]
fn a_test_is_read_as_firing_or_silent_by_its_assertions_and_its_section() {
    let src = r#"
// ---------------------------------------------------------------------------------------------
// unmap-size-mismatch

#[test]
fn fires() {
    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(rule_ids(&checker), ["sync-unknown"]);
}

#[test]
fn clean_in_its_section() {
    let s = "}"; // a brace in a string, and one in a comment: {
    let c = '{';
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Other checks

fn helper(checker: &Checker) {
    assert_eq!(checker.count(&DOUBLE_UNMAP), 0);
}

#[test]
fn silent_by_name_through_a_helper() {
    helper(&checker);
}

#[test]
#[should_panic(expected = "leak")]
fn panics() {}

fn not_a_test() {
    assert_eq!(rule_ids(&checker), ["wrong-device"]);
}

fn scenario(via: Via) {
    assert!(rule_ids(&checker).contains(&"map-zero-size"));
}
on_each_backend!(scenario);
"#;
    let tests = tests_of(src);
    let read: Vec<(&str, Vec<&str>, Vec<&str>)> = tests
        .iter()
        .map(|t| {
            let (f, s) = firing_and_silent(t);
            (t.name.as_str(), f, s)
        })
        .collect();
    assert_eq!(
        read,
        [
            ("fires", vec!["unmap-size-mismatch", "sync-unknown"], vec![]),
            ("clean_in_its_section", vec![], vec!["unmap-size-mismatch"]),
            (
                "silent_by_name_through_a_helper",
                vec![],
                vec!["double-unmap"]
            ),
            ("panics", vec!["leak"], vec![]),
            ("scenario", vec!["map-zero-size"], vec![]),
        ]
    );
}
