//! SARIF 2.1.0, the static-analysis results format code-scanning services read (GitHub code
//! scanning, GitLab, IDE viewers).
//!
//! One run; the driver's rules are the rule declarations ([`rules::all`]): id, a PascalCase
//! name, the summary as short description, the documentation as full description, help with
//! the citation of the document the rule comes from and the kernel counterpart, and the default
//! level. Each violation is a result at its call site, with the site that made the entry (and
//! any related site) as related locations and its symbolized stack, when captured, as a SARIF
//! stack; a leak group (the entries one site made, leaked at one release) is one result whose
//! `occurrenceCount` is its entries, and its listed entries' addresses, sizes and directions
//! are arrays in its `details`. Each leak site with entries still live is one more `leak` result at the site that made
//! them.

use serde_json::{Value, json};

use super::document::{Report, ReportSite, ReportViolation};
use super::leaks::LeakSite;
use crate::rules::{self, Level};

/// The SARIF schema a log declares.
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Render `report` as a SARIF 2.1.0 log.
pub(crate) fn render(report: &Report) -> String {
    let mut catalogue: Vec<Value> = rules::all().iter().map(|r| rule_descriptor(r)).collect();
    let mut ids: Vec<String> = rules::all().iter().map(|r| r.id.to_string()).collect();
    // Rules a report names that this dmacheck does not declare (a report of another version).
    let named = report
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.summary.clone(), r.default_level))
        .chain(
            report
                .violations
                .iter()
                .map(|v| (v.rule.clone(), String::new(), v.level)),
        );
    for (id, summary, level) in named {
        if !ids.contains(&id) {
            catalogue.push(json!({
                "id": id,
                "name": pascal_case(&id),
                "shortDescription": { "text": if summary.is_empty() { id.clone() } else { summary } },
                "defaultConfiguration": { "level": sarif_level(level) },
            }));
            ids.push(id);
        }
    }
    let index = |id: &str| ids.iter().position(|i| i == id);
    let mut results: Vec<Value> = report
        .violations
        .iter()
        .map(|v| violation_result(v, index(&v.rule)))
        .collect();
    results.extend(
        report
            .leaks
            .sites
            .iter()
            .filter(|l| l.live_entries > 0)
            .map(|l| live_leak_result(l, index(rules::LEAK.id))),
    );
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": report.tool.name,
                    "version": report.tool.version,
                    "semanticVersion": report.tool.version,
                    "rules": catalogue,
                }
            },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).expect("a SARIF log always serializes") + "\n"
}

fn rule_descriptor(r: &rules::Rule) -> Value {
    let doc = one_paragraph(r.doc);
    let kernel = r.kernel.unwrap_or("none; beyond the kernel");
    json!({
        "id": r.id,
        "name": pascal_case(r.id),
        "shortDescription": { "text": r.summary },
        "fullDescription": { "text": doc },
        "help": {
            "text": format!("{doc}\n\nSource: {}\nKernel dma-debug: {kernel}", r.seed),
            "markdown": format!("{doc}\n\n- Source: {}\n- Kernel dma-debug: {kernel}", r.seed),
        },
        "defaultConfiguration": { "level": sarif_level(r.default_level) },
        "properties": { "family": r.family, "tags": ["dma", r.family] },
    })
}

fn violation_result(v: &ReportViolation, rule_index: Option<usize>) -> Value {
    let mut message = v.call.clone();
    if !v.device.is_empty() {
        message += &format!(" on {} ({})", v.device, v.driver);
    }
    message += &format!(": {}", v.message);
    let mut related = Vec::new();
    if let Some(site) = &v.mapped_at {
        let label = match &v.mapped_by {
            Some(call) => format!("mapped by {call}"),
            None => "mapped here".into(),
        };
        related.push(related_location(related.len() + 1, site, &label));
    }
    if let Some(r) = &v.related {
        related.push(related_location(related.len() + 1, &r.site, &r.label));
    }
    // A key given more than once (the entries a leak group lists) holds its values in order.
    let mut details = serde_json::Map::new();
    for d in &v.details {
        let repeated = v.details.iter().filter(|o| o.key == d.key).count() > 1;
        match details.get_mut(&d.key) {
            Some(Value::Array(values)) if repeated => values.push(d.value.clone()),
            _ if repeated => {
                details.insert(d.key.clone(), Value::Array(vec![d.value.clone()]));
            }
            _ => {
                details.insert(d.key.clone(), d.value.clone());
            }
        }
    }
    let mut result = json!({
        "ruleId": v.rule,
        "level": sarif_level(v.level),
        "message": { "text": message },
        "locations": [location(&v.site)],
        "properties": {
            "call": v.call,
            "device": v.device,
            "driver": v.driver,
            "details": details,
        },
    });
    if let Some(i) = rule_index {
        result["ruleIndex"] = json!(i);
    }
    if v.count > 1 {
        // The leaked entries of a leak group: SARIF's count of times a result was observed.
        result["occurrenceCount"] = json!(v.count);
    }
    if !related.is_empty() {
        result["relatedLocations"] = Value::Array(related);
    }
    if !v.site.stack.is_empty() {
        result["stacks"] = json!([stack(&v.site)]);
    }
    result
}

fn live_leak_result(l: &LeakSite, rule_index: Option<usize>) -> Value {
    let message = format!(
        "{} DMA {} ({} bytes) made by {} still live when the report was made{}",
        l.live_entries,
        if l.live_entries == 1 {
            "entry"
        } else {
            "entries"
        },
        l.bytes,
        l.call,
        if l.devices.is_empty() {
            String::new()
        } else {
            format!(", on {}", l.devices.join(", "))
        }
    );
    let mut result = json!({
        "ruleId": rules::LEAK.id,
        "level": sarif_level(l.level),
        "message": { "text": message },
        "locations": [location(&l.site)],
        "properties": {
            "call": l.call,
            "devices": l.devices,
            "entries": l.entries,
            "live_entries": l.live_entries,
            "bytes": l.bytes,
        },
    });
    if let Some(i) = rule_index {
        result["ruleIndex"] = json!(i);
    }
    if !l.site.stack.is_empty() {
        result["stacks"] = json!([stack(&l.site)]);
    }
    result
}

fn location(site: &ReportSite) -> Value {
    json!({ "physicalLocation": physical_location(&site.file, site.line, site.column) })
}

fn related_location(id: usize, site: &ReportSite, label: &str) -> Value {
    json!({
        "id": id,
        "message": { "text": label },
        "physicalLocation": physical_location(&site.file, site.line, site.column),
    })
}

fn physical_location(file: &str, line: u32, column: u32) -> Value {
    let mut region = json!({ "startLine": line.max(1) });
    if column > 0 {
        region["startColumn"] = json!(column);
    }
    json!({ "artifactLocation": artifact(file), "region": region })
}

/// A file as SARIF locates it: a path relative to the source root (as the compiler spells
/// local files), or a `file://` URI for an absolute path outside the working directory.
fn artifact(file: &str) -> Value {
    let file = file.replace('\\', "/");
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string().replace('\\', "/") + "/")
        .unwrap_or_default();
    match file.strip_prefix(&cwd) {
        Some(relative) if !cwd.is_empty() => json!({ "uri": relative, "uriBaseId": "%SRCROOT%" }),
        _ if file.starts_with('/') => json!({ "uri": format!("file://{file}") }),
        _ => json!({ "uri": file, "uriBaseId": "%SRCROOT%" }),
    }
}

fn stack(site: &ReportSite) -> Value {
    let frames: Vec<Value> = site
        .stack
        .iter()
        .map(|f| {
            let mut location = json!({
                "message": { "text": f.function },
                "logicalLocations": [{ "fullyQualifiedName": f.function }],
            });
            if let (Some(file), Some(line)) = (&f.file, f.line) {
                location["physicalLocation"] = physical_location(file, line, 0);
            }
            json!({ "location": location })
        })
        .collect();
    let text = if site.stack_is_exact {
        "call stack, innermost first"
    } else {
        "call stack first seen at this call site (other paths to it may differ), innermost first"
    };
    json!({ "message": { "text": text }, "frames": frames })
}

fn sarif_level(level: Level) -> &'static str {
    match level {
        Level::Deny => "error",
        Level::Warn => "warning",
        Level::Allow => "none",
    }
}

/// `unmap-size-mismatch` → `UnmapSizeMismatch`, SARIF's form of a rule name.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|first| first.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A rule's doc comment as one paragraph, as the catalogue shows it.
fn one_paragraph(doc: &str) -> String {
    doc.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string()
}
