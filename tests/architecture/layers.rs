//! The layers of `src/` form one direction of dependency: the graph of which top-level module
//! names which (`crate::…` and `super::…` paths reaching the crate root, and items the crate
//! root re-exports, resolved to the module that defines them) has no cycle, except the pair
//! `checker` ⇄ `device` (a device holds its checker; the checker makes and releases devices).
//! Unit tests (`#[cfg(test)] mod …`), comments and string literals do not count.

use std::collections::{BTreeMap, BTreeSet};

use crate::source::{code_only, ident_at, library, without_unit_tests};

/// The one pair of modules allowed to name each other.
const ALLOWED_PAIR: [&str; 2] = ["checker", "device"];

/// An edge's witness: the file and the path that makes it.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

/// The first segments named by a use tree starting at `s`: `a::b` gives `a`, `{a, b::c}` gives
/// `a` and `b`.
fn first_segments(s: &str) -> Vec<String> {
    let s = s.trim_start();
    let Some(group) = s.strip_prefix('{') else {
        // `crate::*` or `super::*` (a glob of a parent) names nothing by itself.
        return Some(ident_at(s).to_string())
            .filter(|n| !n.is_empty())
            .into_iter()
            .collect();
    };
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (k, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(ident_at(group[start..].trim_start()).to_string());
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(ident_at(group[start..].trim_start()).to_string());
                start = k + 1;
            }
            _ => {}
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

/// Every `crate::…` path, and every `super::…` path that climbs to the crate root, in `code` of
/// the module at `path`: the names it takes from the crate root.
/// A `super::` path's name the crate root does not have comes from an inline module (`mod x {
/// use super::… }`), one level deeper than its file: it stays in the file's module, and is
/// returned with `true`.
fn root_names(code: &str, path: &[String]) -> Vec<(String, bool)> {
    let mut names = Vec::new();
    let bytes = code.as_bytes();
    let starts_word = |at: usize| {
        at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || matches!(bytes[at - 1], b'_' | b'$' | b':'))
    };
    for (at, _) in code.match_indices("crate::") {
        if starts_word(at) {
            names.extend(
                first_segments(&code[at + "crate::".len()..])
                    .into_iter()
                    .map(|n| (n, false)),
            );
        }
    }
    for (at, _) in code.match_indices("super::") {
        if !starts_word(at) {
            continue;
        }
        let mut rest = &code[at..];
        let mut up = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            up += 1;
            rest = r;
        }
        // Fewer steps stay inside the file's top-level module (`super::x` from `a::b` is `a::x`).
        if up >= path.len() {
            names.extend(first_segments(rest).into_iter().map(|n| (n, true)));
        }
    }
    names
}

/// The names `pub` items take in a module's files (for the crate root's glob re-exports).
fn public_names(files: &[(Vec<String>, String)], module: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (path, code) in files {
        if path[0] != module {
            continue;
        }
        for (at, _) in code.match_indices("pub ") {
            let mut rest = code[at + 4..].trim_start();
            // `pub const fn`, `pub unsafe fn`, `pub extern "C" fn` are functions.
            for qualifier in ["const ", "unsafe ", "extern \"C\" "] {
                if let Some(r) = rest.strip_prefix(qualifier).map(str::trim_start) {
                    if r.starts_with("fn ") || qualifier != "const " {
                        rest = r;
                    }
                }
            }
            for kind in [
                "fn ", "struct ", "enum ", "const ", "static ", "type ", "trait ",
            ] {
                if let Some(r) = rest.strip_prefix(kind) {
                    names.insert(ident_at(r.trim_start()).to_string());
                }
            }
        }
    }
    names
}

/// The `#[macro_export]` macros (at the crate root) by the module that defines them.
fn exported_macros(files: &[(Vec<String>, String)]) -> BTreeMap<String, String> {
    let mut macros = BTreeMap::new();
    for (path, code) in files {
        for (at, _) in code.match_indices("macro_rules!") {
            let exported = code[..at].trim_end().ends_with("#[macro_export]");
            if exported {
                let name = ident_at(code[at + "macro_rules!".len()..].trim_start());
                macros.insert(name.to_string(), path[0].clone());
            }
        }
    }
    macros
}

/// Where each name the crate root re-exports comes from: `pub use m::{A, B};` gives `A` and
/// `B` from `m`; `pub use m::*;` every public name of `m`.
fn root_exports(lib: &str, files: &[(Vec<String>, String)]) -> BTreeMap<String, String> {
    let mut exports = BTreeMap::new();
    for (at, _) in lib.match_indices("pub use ") {
        let stmt = &lib[at + "pub use ".len()..];
        let stmt = &stmt[..stmt.find(';').unwrap()];
        let module = ident_at(stmt).to_string();
        let tree = stmt[module.len()..].trim_start_matches("::");
        if tree == "*" {
            for name in public_names(files, &module) {
                exports.entry(name).or_insert_with(|| module.clone());
            }
            continue;
        }
        // Every name of the tree: the last segment of each leaf (`a::B` is `B`).
        for leaf in tree.trim_matches(|c| c == '{' || c == '}').split(',') {
            let leaf = leaf.trim();
            if let Some(name) = leaf.rsplit("::").next().filter(|n| !n.is_empty()) {
                exports.insert(name.to_string(), module.clone());
            }
        }
    }
    exports
}

/// The graph of the crate's top-level modules, each edge with a witness.
fn module_graph() -> Edges {
    let (lib, files) = library();
    let modules: BTreeSet<String> = files.iter().map(|(p, _)| p[0].clone()).collect();
    let mut exports = root_exports(&lib, &files);
    exports.extend(exported_macros(&files));
    let mut edges = Edges::new();
    let mut unresolved = Vec::new();
    for (path, code) in &files {
        let from = &path[0];
        edges.entry(from.clone()).or_default();
        for (name, via_super) in root_names(code, path) {
            let to = if modules.contains(&name) {
                &name
            } else if let Some(m) = exports.get(&name) {
                m
            } else if via_super {
                continue;
            } else {
                unresolved.push(format!("{}: crate::{name}", path.join("::")));
                continue;
            };
            if to != from {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to.clone())
                    .or_insert_with(|| format!("{} names crate::{name}", path.join("::")));
            }
        }
    }
    assert!(
        unresolved.is_empty(),
        "paths from the crate root this test cannot resolve to a module: {unresolved:?}"
    );
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &Edges) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in s.edges.get(v).into_iter().flat_map(|m| m.keys()) {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = BTreeSet::new();
            loop {
                let w = s.stack.pop().unwrap();
                component.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// One cycle through `start` inside `component`, as its edges with their witnesses.
fn describe_cycle(edges: &Edges, component: &BTreeSet<String>, start: &str) -> String {
    // Breadth-first from `start` back to it, within the component.
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    'search: while let Some(v) = queue.pop_front() {
        for w in edges[v].keys().filter(|w| component.contains(*w)) {
            if w == start {
                previous.insert(start, v);
                break 'search;
            }
            if !previous.contains_key(w.as_str()) {
                previous.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![start];
    let mut at = previous[start];
    while at != start {
        path.push(at);
        at = previous[at];
    }
    path.push(start);
    path.reverse();
    path.windows(2)
        .map(|w| format!("  {} -> {}   ({})", w[0], w[1], edges[w[0]][w[1]]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cycles other than the allowed pair, described; empty when the graph is a DAG but for it.
fn forbidden_cycles(edges: &Edges) -> Vec<String> {
    let allowed: BTreeSet<String> = ALLOWED_PAIR.iter().map(|s| s.to_string()).collect();
    cycles(edges)
        .into_iter()
        .filter(|c| *c != allowed)
        .map(|c| {
            let start = c
                .iter()
                .find(|m| !allowed.contains(*m))
                .unwrap_or_else(|| c.first().unwrap());
            format!("cycle among {:?}:\n{}", c, describe_cycle(edges, &c, start))
        })
        .collect()
}

#[test]
fn the_module_graph_has_no_cycle_but_checker_and_device() {
    let edges = module_graph();
    let found = forbidden_cycles(&edges);
    assert!(
        found.is_empty(),
        "the top-level modules of src/ must form layers (see ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_graph_sees_the_imports_it_is_about() {
    let edges = module_graph();
    // Known edges of each kind: a `use crate::m::…`, a path through a crate root re-export, and
    // the allowed pair; and the modules of a directory counted as one.
    for (from, to) in [
        ("checker", "tracker"),
        ("checker", "device"),
        ("device", "checker"),
        ("api", "checker"),
        ("capi", "api"),
        ("rules", "event"),
    ] {
        assert!(
            edges[from].contains_key(to),
            "{from} -> {to} not seen; edges of {from}: {:?}",
            edges[from].keys()
        );
    }
    assert!(edges.len() >= 20, "modules seen: {:?}", edges.keys());
    assert!(!edges.contains_key("imp") && !edges.contains_key("mod"));
}

#[test]
fn a_planted_cycle_is_reported_with_its_witnesses() {
    fn add(edges: &mut Edges, a: &str, b: &str) {
        edges
            .entry(a.to_string())
            .or_default()
            .insert(b.to_string(), format!("{a} names crate::{b}"));
        edges.entry(b.to_string()).or_default();
    }
    let mut edges = Edges::new();
    for (a, b) in [
        ("checker", "device"),
        ("device", "checker"),
        ("report", "rules"),
        ("rules", "site"),
        ("site", "report"),
    ] {
        add(&mut edges, a, b);
    }
    let found = forbidden_cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("report -> rules   (report names crate::rules)"));
    assert!(found[0].contains("site -> report"));
    add(&mut edges, "device", "report");
    add(&mut edges, "report", "checker");
    let found = forbidden_cycles(&edges);
    assert_eq!(
        found.len(),
        1,
        "the pair grown into a larger cycle: {found:?}"
    );
}

#[test]
fn comments_strings_and_unit_tests_do_not_count() {
    let code = code_only(
        "// crate::a\nlet s = \"crate::b\"; let r = r#\"crate::c\"#; let c = '\"'; /* crate::d */ use crate::e;\n\
         #[cfg(test)]\nmod tests { use crate::f; fn g() { {} } }\nuse crate::{g::x, h, self};",
    );
    let code = without_unit_tests(&code);
    let names = |code: &str, path: &[&str]| -> Vec<String> {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        root_names(code, &path)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(names(&code, &["x"]), ["e", "g", "h"]);
    assert_eq!(
        names("use super::super::m; use super::n;", &["a", "b"]),
        ["m"]
    );
}
