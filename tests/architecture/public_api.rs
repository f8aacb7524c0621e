//! The public API, listed from the source into `tests/architecture/public_api.txt`, so that a
//! change to it shows in review and is made on purpose: after one,
//! `DMACHECK_BLESS=1 cargo test --test architecture public_api` rewrites the list.
//!
//! The list follows what a user can name: the crate root's items and re-exports, the public
//! modules (not `#[doc(hidden)]` ones: the C ABI), and for each type its public fields,
//! variants, methods (from every `impl` of the type in the crate) and trait impls, under its
//! shortest path. Signatures are written as in the source, whitespace collapsed. Items behind a
//! feature are listed too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::source::{ident_at, library};

/// One item of a module, an `impl`, a trait or a struct body.
#[derive(Clone, Debug)]
struct Item {
    public: bool,
    hidden: bool,
    kind: &'static str,
    name: String,
    /// The declaration up to its body (`{`), `=` or `;`, whitespace collapsed.
    head: String,
    body: Option<String>,
}

const KINDS: [&str; 12] = [
    "fn",
    "struct",
    "enum",
    "union",
    "trait",
    "type",
    "const",
    "static",
    "mod",
    "use",
    "impl",
    "macro_rules!",
];

/// Collapse whitespace, and the spaces and trailing comma rustfmt adds when it wraps a list.
fn normalize(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    s.replace("( ", "(")
        .replace(", )", ")")
        .replace(",)", ")")
        .replace(" )", ")")
        .replace("< ", "<")
        .replace(", >", ">")
}

/// The items at the top level of `code` (not inside a brace, parenthesis or bracket).
fn items(code: &str) -> Vec<Item> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut last_end = 0; // where the text before the next item (its attributes) starts
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth -= 1,
            _ => {}
        }
        let starts_word = (b[i].is_ascii_alphabetic() || b[i] == b'_')
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if depth != 0 || !starts_word {
            if depth == 0 && (b[i] == b';' || b[i] == b'}') {
                last_end = i + 1;
            }
            i += 1;
            continue;
        }
        match item_at(code, i) {
            Some((mut item, end)) => {
                item.hidden = code[last_end..i].contains("doc(hidden)");
                out.push(item);
                i = end;
                last_end = end;
            }
            None => {
                // Not an item (an attribute's word, a statement of a macro body): skip the word.
                i += ident_at(&code[i..]).len().max(1);
            }
        }
    }
    out
}

/// The item starting at `at` (its visibility or kind keyword), and where it ends.
fn item_at(code: &str, at: usize) -> Option<(Item, usize)> {
    let mut rest = &code[at..];
    let mut public = false;
    if let Some(r) = rest.strip_prefix("pub") {
        if r.trim_start().starts_with('(') {
            let close = r.find(')')?;
            rest = &r[close + 1..];
        } else if r.starts_with(char::is_whitespace) {
            public = true;
            rest = r;
        } else {
            return None;
        }
    }
    // Qualifiers before the kind: `const fn`, `unsafe`, `async`, `extern "C"` (its string is
    // blanked), `default`.
    loop {
        let t = rest.trim_start();
        let word = ident_at(t);
        let next = t[word.len()..].trim_start();
        let qualifier = matches!(word, "unsafe" | "async" | "extern" | "default")
            || (word == "const" && (next.starts_with("fn") || next.starts_with("unsafe")));
        if !qualifier {
            rest = t;
            break;
        }
        rest = next;
    }
    let kind = KINDS.into_iter().find(|k| {
        rest.starts_with(k)
            && rest[k.len()..]
                .chars()
                .next()
                .is_some_and(|c| !(c.is_alphanumeric() || c == '_'))
    })?;
    let after_kind = &rest[kind.len()..];
    let name = match kind {
        "use" | "impl" => String::new(),
        _ => ident_at(after_kind.trim_start()).to_string(),
    };
    // The end: `;` at depth 0, or the `}` closing the first `{` at depth 0 (for `const`,
    // `static`, `type` and `use`, only `;`: their values may hold braces).
    let start_of_rest = code.len() - rest.len();
    let b = code.as_bytes();
    let mut depth = 0i32;
    let mut head_end = None;
    let mut end = code.len();
    let mut j = start_of_rest + kind.len();
    let only_semicolon = matches!(kind, "const" | "static" | "type" | "use");
    while j < b.len() {
        match b[j] {
            b'=' if depth == 0 && head_end.is_none() && only_semicolon => head_end = Some(j),
            b'{' if depth == 0 && !only_semicolon => {
                head_end.get_or_insert(j);
                depth += 1;
            }
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth -= 1;
                if depth == 0 && b[j] == b'}' && !only_semicolon && head_end.is_some() {
                    end = j + 1;
                    break;
                }
            }
            b';' if depth == 0 => {
                head_end.get_or_insert(j);
                end = j + 1;
                break;
            }
            _ => {}
        }
        j += 1;
    }
    let head_end = head_end.unwrap_or(end);
    let head = normalize(&code[at..head_end]);
    let body = (code.as_bytes().get(head_end) == Some(&b'{') && end > head_end + 1)
        .then(|| code[head_end + 1..end - 1].to_string());
    let item = Item {
        public,
        hidden: false,
        kind,
        name,
        head,
        body,
    };
    Some((item, end))
}

/// The leaves of a use tree: (path segments, name it is used as). `a::{b, c::d as e, f::*}`
/// gives `a::b` as `b`, `a::c::d` as `e`, `a::f::*` as `*`.
fn use_leaves(tree: &str) -> Vec<(Vec<String>, String)> {
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let mut prefix = prefix.to_vec();
            prefix.extend(
                tree[..open]
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let (mut depth, mut start) = (0, 0);
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        walk(&prefix, &inner[start..k], out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            walk(&prefix, &inner[start..], out);
            return;
        }
        if tree.is_empty() {
            return;
        }
        let (path, alias) = match tree.split_once(" as ") {
            Some((p, a)) => (p.trim(), Some(a.trim())),
            None => (tree, None),
        };
        let mut segs: Vec<String> = prefix.to_vec();
        segs.extend(path.split("::").map(|s| s.trim().to_string()));
        let name = alias.unwrap_or_else(|| segs.last().unwrap()).to_string();
        if name == "self" {
            segs.pop();
            let last = segs.last().unwrap().clone();
            out.push((segs, last));
        } else {
            out.push((segs, name));
        }
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

/// What a public name stands for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Module(Vec<String>),
    /// An item: the module that declares it, and its name there.
    Item(Vec<String>, String),
}

struct Crate {
    /// Every module (files and inline modules) by path, with its items.
    modules: BTreeMap<Vec<String>, Vec<Item>>,
}

impl Crate {
    fn read() -> Crate {
        let (lib, files) = library();
        let mut modules = BTreeMap::new();
        fn add(modules: &mut BTreeMap<Vec<String>, Vec<Item>>, path: Vec<String>, code: &str) {
            let found = items(code);
            for m in found.iter().filter(|i| i.kind == "mod") {
                if let Some(body) = &m.body {
                    let mut child = path.clone();
                    child.push(m.name.clone());
                    add(modules, child, body);
                }
            }
            modules.entry(path).or_default().extend(found);
        }
        add(&mut modules, Vec::new(), &lib);
        for (path, code) in &files {
            add(&mut modules, path.clone(), code);
        }
        Crate { modules }
    }

    fn items_of(&self, module: &[String]) -> &[Item] {
        self.modules.get(module).map_or(&[], Vec::as_slice)
    }

    /// The module a use path's leading segments name, seen from `from`; `None` outside the crate.
    fn module_of(&self, from: &[String], segs: &[String]) -> Option<Vec<String>> {
        let mut at = from.to_vec();
        for (k, seg) in segs.iter().enumerate() {
            match seg.as_str() {
                "crate" if k == 0 => at.clear(),
                "self" if k == 0 => {}
                "super" => {
                    at.pop()?;
                }
                name => {
                    let mut child = at.clone();
                    child.push(name.to_string());
                    if self.modules.contains_key(&child) {
                        at = child;
                    } else if let Some(Target::Module(m)) = self.lookup(&at, name, 0) {
                        at = m;
                    } else {
                        return None;
                    }
                }
            }
        }
        Some(at)
    }

    /// What `name` stands for in `module`: an item declared there, a child module, or a `use`.
    fn lookup(&self, module: &[String], name: &str, depth: usize) -> Option<Target> {
        if depth > 16 {
            return None;
        }
        let items = self.items_of(module);
        if let Some(i) = items
            .iter()
            .find(|i| i.name == name && !matches!(i.kind, "use" | "impl"))
        {
            return Some(if i.kind == "mod" {
                let mut child = module.to_vec();
                child.push(name.to_string());
                Target::Module(child)
            } else {
                Target::Item(module.to_vec(), name.to_string())
            });
        }
        for u in items.iter().filter(|i| i.kind == "use") {
            for (segs, as_name) in
                use_leaves(u.head.trim_start_matches("pub").trim_start()["use".len()..].trim())
            {
                if as_name == name {
                    let (last, parent) = segs.split_last()?;
                    let m = self.module_of(module, parent)?;
                    return self.lookup(&m, last, depth + 1);
                }
            }
        }
        None
    }

    /// The public names of `module` (as if the module itself were reachable).
    fn exports(&self, module: &[String], depth: usize) -> BTreeMap<String, Target> {
        let mut out = BTreeMap::new();
        if depth > 16 {
            return out;
        }
        for i in self.items_of(module) {
            if !i.public || i.hidden {
                continue;
            }
            match i.kind {
                "impl" => {}
                "mod" => {
                    let mut child = module.to_vec();
                    child.push(i.name.clone());
                    out.insert(i.name.clone(), Target::Module(child));
                }
                "use" => {
                    let tree = i.head["pub use".len()..].trim().to_string();
                    for (segs, as_name) in use_leaves(&tree) {
                        let Some((last, parent)) = segs.split_last() else {
                            continue;
                        };
                        let Some(m) = self.module_of(module, parent) else {
                            continue;
                        };
                        if last == "*" {
                            out.extend(self.exports(&m, depth + 1));
                        } else if let Some(t) = self.lookup(&m, last, depth + 1) {
                            out.insert(as_name, t);
                        }
                    }
                }
                _ => {
                    out.insert(
                        i.name.clone(),
                        Target::Item(module.to_vec(), i.name.clone()),
                    );
                }
            }
        }
        out
    }

    fn item(&self, module: &[String], name: &str) -> &Item {
        self.items_of(module)
            .iter()
            .find(|i| i.name == name && !matches!(i.kind, "use" | "impl" | "mod"))
            .unwrap()
    }

    /// Every `impl` block of the crate: (self type's name, trait or `None`, body).
    fn impls(&self) -> Vec<(String, Option<String>, &Item)> {
        let mut out = Vec::new();
        for items in self.modules.values() {
            for i in items.iter().filter(|i| i.kind == "impl") {
                let head = i.head.trim_start_matches("unsafe ").trim_start();
                let mut rest = head["impl".len()..].trim_start();
                if rest.starts_with('<') {
                    let mut depth = 0;
                    for (k, c) in rest.char_indices() {
                        match c {
                            '<' => depth += 1,
                            '>' => {
                                depth -= 1;
                                if depth == 0 {
                                    rest = rest[k + 1..].trim_start();
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                let rest = rest.split(" where ").next().unwrap();
                let (trait_, self_ty) = match rest.split_once(" for ") {
                    Some((t, s)) => (Some(t.trim().to_string()), s.trim()),
                    None => (None, rest.trim()),
                };
                let self_ty = self_ty.split('<').next().unwrap();
                let name = self_ty.rsplit("::").next().unwrap().trim().to_string();
                out.push((name, trait_, i));
            }
        }
        out
    }
}

/// The public API as sorted lines.
fn public_api() -> Vec<String> {
    let krate = Crate::read();
    // Every public path of every target, found breadth-first from the crate root.
    let mut paths: BTreeMap<Target, Vec<String>> = BTreeMap::new();
    let mut queue =
        std::collections::VecDeque::from([(Vec::<String>::new(), "dmacheck".to_string())]);
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = queue.pop_front() {
        if !seen.insert(module.clone()) {
            continue;
        }
        for (name, target) in krate.exports(&module, 0) {
            let p = format!("{path}::{name}");
            if let Target::Module(m) = &target {
                queue.push_back((m.clone(), p.clone()));
            }
            paths.entry(target).or_default().push(p);
        }
    }
    let mut lines = BTreeSet::new();
    let impls = krate.impls();
    for (target, mut ps) in paths {
        ps.sort_by_key(|p| (p.matches("::").count(), p.clone()));
        let canonical = ps[0].clone();
        for other in &ps[1..] {
            lines.insert(format!("{other} = {canonical}"));
        }
        let (module, name) = match &target {
            Target::Module(_) => {
                lines.insert(format!("{canonical}: mod"));
                continue;
            }
            Target::Item(m, n) => (m, n),
        };
        let item = krate.item(module, name);
        lines.insert(format!("{canonical}: {}", item.head));
        let body = item.body.as_deref().unwrap_or("");
        match item.kind {
            "struct" | "union" => {
                for field in field_list(body)
                    .into_iter()
                    .filter(|f| f.starts_with("pub "))
                {
                    let fname = ident_at(field["pub ".len()..].trim_start());
                    lines.insert(format!("{canonical}.{fname}: {field}"));
                }
            }
            "enum" => {
                for variant in field_list(body) {
                    let vname = ident_at(&variant);
                    lines.insert(format!("{canonical}::{vname}: {variant}"));
                }
            }
            "trait" => {
                for i in items(body) {
                    lines.insert(format!("{canonical}::{}: {}", i.name, i.head));
                }
            }
            _ => continue,
        }
        for (_, trait_, imp) in impls.iter().filter(|(ty, _, _)| ty == name) {
            match trait_ {
                Some(t) => {
                    lines.insert(format!("{canonical}: impl {t}"));
                }
                None => {
                    for i in items(imp.body.as_deref().unwrap_or("")) {
                        if i.public && !i.hidden {
                            lines.insert(format!("{canonical}::{}: {}", i.name, i.head));
                        }
                    }
                }
            }
        }
    }
    // `#[macro_export]` macros live at the crate root.
    for (_, code) in library().1 {
        for (at, _) in code.match_indices("macro_rules!") {
            if code[..at].trim_end().ends_with("#[macro_export]") {
                let name = ident_at(code[at + "macro_rules!".len()..].trim_start());
                lines.insert(format!("dmacheck::{name}: macro_rules! {name}"));
            }
        }
    }
    lines.into_iter().collect()
}

/// The comma-separated members of a struct or enum body, attributes left out, normalized.
fn field_list(body: &str) -> Vec<String> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    let mut push = |s: &str| {
        let mut s = s.trim();
        while s.starts_with("#[") {
            let mut d = 0;
            let end = s
                .char_indices()
                .find(|&(_, c)| match c {
                    '[' => {
                        d += 1;
                        false
                    }
                    ']' => {
                        d -= 1;
                        d == 0
                    }
                    _ => false,
                })
                .map_or(s.len(), |(k, _)| k + 1);
            s = s[end..].trim_start();
        }
        if !s.is_empty() {
            out.push(normalize(s));
        }
    };
    for (k, c) in body.char_indices() {
        match c {
            '{' | '(' | '[' | '<' => depth += 1,
            '}' | ')' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => {
                push(&body[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    push(&body[start..]);
    out
}

#[test]
fn the_public_api_is_the_listed_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/architecture/public_api.txt");
    let generated = public_api().join("\n") + "\n";
    if std::env::var_os("DMACHECK_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write public_api.txt");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    let listed: BTreeSet<&str> = on_disk.lines().collect();
    let now: BTreeSet<&str> = generated.lines().collect();
    let added: Vec<_> = now.difference(&listed).collect();
    let removed: Vec<_> = listed.difference(&now).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the public API changed; if on purpose, run \
         `DMACHECK_BLESS=1 cargo test --test architecture public_api`\nadded: {added:#?}\nremoved: {removed:#?}"
    );
}

#[test]
fn the_list_holds_what_users_name_and_not_what_is_internal() {
    let api = public_api();
    let has = |prefix: &str| api.iter().any(|l| l.starts_with(prefix));
    for named in [
        "dmacheck::Checker: pub struct Checker",
        "dmacheck::Checker::new: ",
        "dmacheck::Checker::declare_cma: ",
        "dmacheck::Checker::write_exit_report_now: ",
        "dmacheck::dma_map_single: pub fn dma_map_single(",
        "dmacheck::Direction::ToDevice",
        "dmacheck::MapError: impl std::error::Error",
        "dmacheck::config::Levels::get: ",
        "dmacheck::Config.levels: pub levels: Levels",
        "dmacheck::trap: mod",
        "dmacheck::backend::PhysMemory: pub struct PhysMemory",
        "dmacheck::rules::Rule = dmacheck::Rule",
        "dmacheck::report::Violation = dmacheck::Violation",
        "dmacheck::PAGE_SIZE: pub const PAGE_SIZE: usize",
    ] {
        assert!(has(named), "{named} missing from the public API list");
    }
    for internal in [
        "dmacheck::capi",
        "dmacheck::PhysMemory",
        "dmacheck::Tombstone",
        "dmacheck::backend::Alias",
        "dmacheck::GUARD_BYTE",
        "dmacheck::rules::Rule::index",
        "dmacheck::Checker::inner",
    ] {
        assert!(!has(internal), "{internal} is not public but listed");
    }
}
