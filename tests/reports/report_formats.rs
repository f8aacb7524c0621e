//! Reports as documents: the JSON schema and its round trip, leak summaries grouped by site,
//! SARIF 2.1.0, JUnit XML, merging of sharded reports, destinations, and snapshots of the text
//! format (after changing the text format: `DMACHECK_BLESS=1 cargo test --test reports report_formats`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::quiet;
use dmacheck::report::{Destination, Format, Report, ReportError, ReportViolation, SCHEMA, Target};
use dmacheck::rules::{LEAK, UNMAP_SIZE_MISMATCH, UNMAP_UNCHECKED};
use dmacheck::*;

use crate::common;

/// Map `n` receive buffers of `size` bytes at one site and never unmap them.
fn leak_rx_buffers(checker: &Checker, dev: &Device, n: usize, size: usize) {
    for _ in 0..n {
        let buf = kmalloc(checker, size, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, size, Direction::FromDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
    }
}

/// Allocate coherent memory and never free it.
fn leak_coherent(dev: &Device, size: usize) {
    let mut handle = 0;
    assert!(!dma_alloc_coherent(dev, size, &mut handle, Gfp::KERNEL).is_null());
}

/// Map 256 bytes and unmap them with a wrong size: one `unmap-size-mismatch`.
fn unmap_with_wrong_size(checker: &Checker, dev: &Device) {
    let buf = kmalloc(checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(dev, dma), 0);
    dma_unmap_single(dev, dma, 128, Direction::ToDevice);
    kfree(checker, buf);
}

/// A checker with a bit of everything: a violation, entries leaked at a device release, and
/// entries still live (three receive buffers and a coherent ring on `eth0`).
fn eventful(builder: CheckerBuilder) -> (Checker, Device) {
    let checker = builder.build();
    let nic = checker.device("eth0").driver("e1000").build();
    unmap_with_wrong_size(&checker, &nic);
    leak_rx_buffers(&checker, &nic, 3, 2048);
    leak_coherent(&nic, 4096);
    let disk = checker.device("sda").driver("ahci").build();
    leak_rx_buffers(&checker, &disk, 1, 512);
    disk.release();
    (checker, nic)
}

fn scratch_dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("report_formats-{name}"))
}

#[test]
fn json_round_trips_into_the_report_types() {
    let (checker, _nic) = eventful(quiet().stacks(8));
    let report = checker.report();
    let back = Report::from_json(&report.to_json()).expect("parses");
    assert_eq!(back, report);
    assert!(
        !report.violations[0].site.stack.is_empty(),
        "stacks round-trip too"
    );
}

#[test]
fn json_has_the_schemas_fields() {
    let (checker, nic) = eventful(quiet());
    let json: serde_json::Value = serde_json::from_str(&checker.report().to_json()).unwrap();
    assert_eq!(json["schema"], SCHEMA);
    assert_eq!(json["schema"], "dmacheck-report/1");
    assert_eq!(json["tool"]["name"], "dmacheck");
    assert_eq!(json["tool"]["version"], env!("CARGO_PKG_VERSION"));

    let source = &json["sources"][0];
    assert_eq!(source["pid"], std::process::id());
    assert!(source["program"].as_str().unwrap().contains("reports"));
    let levels = source["config"]["levels"].as_object().unwrap();
    let ids: Vec<&str> = rules::all().iter().map(|r| r.id).collect();
    assert_eq!(levels.len(), ids.len());
    assert!(ids.iter().all(|id| levels[*id] == "warn"));
    assert_eq!(source["config"]["stack_depth"], 0);
    let catalogue: Vec<&str> = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(catalogue, ids, "the rule list comes from the declarations");

    let counters = &json["counters"];
    assert_eq!(counters["violations"], checker.error_count());
    assert_eq!(
        counters["violations"], 2,
        "a size mismatch and one leak at release"
    );
    assert_eq!(counters["warn"], 2);
    assert_eq!(counters["deny"], 0);
    assert_eq!(counters["per_rule"]["unmap-size-mismatch"], 1);
    assert_eq!(counters["per_rule"]["leak"], 1);
    assert_eq!(counters["live_entries"], 4);
    assert_eq!(counters["peak_entries"], checker.stats().peak_entries);

    let violation = &json["violations"][0];
    assert_eq!(violation["rule"], "unmap-size-mismatch");
    assert_eq!(violation["device"], "eth0");
    assert_eq!(violation["site"]["file"], "tests/reports/report_formats.rs");
    assert!(violation["mapped_at"]["line"].as_u64().unwrap() > 0);
    assert_eq!(json["violations"][1]["rule"], "leak");

    let leaks = &json["leaks"];
    assert_eq!(leaks["entries"], 5);
    assert_eq!(leaks["bytes"], 3 * 2048 + 4096 + 512);
    assert_eq!(leaks["live_entries"], 4);
    let sites = leaks["sites"].as_array().unwrap();
    assert_eq!(
        sites.len(),
        2,
        "the receive buffers of both devices come from one site"
    );
    assert_eq!(sites[0]["call"], "dma_map_single");
    assert_eq!(sites[0]["devices"], serde_json::json!(["eth0", "sda"]));
    assert_eq!(
        (&sites[0]["entries"], &sites[0]["live_entries"]),
        (&4.into(), &3.into())
    );

    let live = json["live_entries"].as_array().unwrap();
    assert_eq!(live.len(), 4);
    assert!(live.iter().all(|e| e["device"] == "eth0"));
    assert!(live[0]["dma_addr"].as_str().unwrap().starts_with("0x"));
    drop(nic);
}

#[test]
fn other_schemas_and_other_documents_are_refused() {
    let json = quiet().build().report().to_json();
    let other = json.replace(SCHEMA, "dmacheck-report/2");
    assert!(
        matches!(Report::from_json(&other), Err(ReportError::Schema(s)) if s == "dmacheck-report/2")
    );
    assert!(matches!(
        Report::from_json("{\"runs\": []}"),
        Err(ReportError::Json(_))
    ));
}

#[test]
fn a_violation_serializes_as_the_reports_violation() {
    let checker = quiet().stacks(4).build();
    let dev = checker.device("eth0").driver("e1000").build();
    unmap_with_wrong_size(&checker, &dev);
    let v = &checker.violations()[0];
    let parsed: ReportViolation = serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap();
    assert_eq!(parsed, ReportViolation::from(v));
    assert_eq!(
        parsed.to_string(),
        v.to_string(),
        "one text format for both"
    );
    assert_eq!(parsed.detail("mapped_size"), Some(&serde_json::json!(256)));
}

#[test]
fn counters_split_violations_by_level() {
    let checker = quiet().level(&UNMAP_SIZE_MISMATCH, Level::Deny).build();
    let dev = checker.device("eth0").build();
    let deny = std::panic::catch_unwind(|| unmap_with_wrong_size(&checker, &dev));
    assert!(deny.is_err(), "deny panics at the call");
    dma_unmap_single(&dev, 0x4000_0000, 64, Direction::ToDevice);
    let c = checker.report().counters;
    assert_eq!((c.deny, c.warn, c.violations), (1, 1, 2));
    assert_eq!(c.per_rule.get("unmap-unknown"), Some(&1));
}

#[test]
fn leaks_are_grouped_by_site_biggest_first_with_totals() {
    let checker = quiet().build();
    let nic = checker.device("eth0").driver("e1000").build();
    let wifi = checker.device("wlan0").driver("iwlwifi").build();
    leak_rx_buffers(&checker, &nic, 3, 256);
    leak_rx_buffers(&checker, &wifi, 2, 256);
    leak_coherent(&nic, 4096);

    let leaks = checker.leak_report();
    assert_eq!(
        (leaks.entries, leaks.bytes, leaks.live_entries),
        (6, 5 * 256 + 4096, 6)
    );
    let by_call: Vec<(&str, u64, u64)> = leaks
        .sites
        .iter()
        .map(|s| (s.call.as_str(), s.entries, s.bytes))
        .collect();
    assert_eq!(
        by_call,
        [("dma_alloc_coherent", 1, 4096), ("dma_map_single", 5, 1280)],
        "biggest first, one group per site however many devices"
    );
    let rx = &leaks.sites[1];
    assert_eq!(rx.devices, ["eth0", "wlan0"]);
    assert_eq!(rx.kinds.len(), 1);
    assert_eq!(
        (rx.kinds[0].kind.as_str(), rx.kinds[0].entries),
        ("single", 5)
    );
    assert!(rx.site.file.ends_with("report_formats.rs"));
    assert_eq!(rx.level, Level::Warn);
    assert_eq!(
        checker.error_count(),
        0,
        "a leak report on request reports nothing"
    );
    assert_eq!(
        checker.live_entries().len(),
        6,
        "and leaves the entries live"
    );
}

#[test]
fn leaks_at_release_stay_in_the_summary_as_no_longer_live() {
    let checker = quiet().build();
    let nic = checker.device("eth0").build();
    leak_rx_buffers(&checker, &nic, 2, 1024);
    nic.release();
    let leaks = checker.leak_report();
    assert_eq!(
        (leaks.entries, leaks.bytes, leaks.live_entries),
        (2, 2048, 0)
    );
    assert_eq!(
        checker.count(&LEAK),
        2,
        "each entry was also a leak violation"
    );
    let report = checker.report();
    assert_eq!(
        report.findings_at_least(Level::Warn),
        2,
        "counted once, as violations"
    );
}

#[test]
fn no_leak_summary_when_the_leak_rule_is_allowed() {
    let checker = quiet().level(&LEAK, Level::Allow).build();
    let nic = checker.device("eth0").build();
    leak_rx_buffers(&checker, &nic, 2, 1024);
    nic.release();
    let other = checker.device("eth1").build();
    leak_rx_buffers(&checker, &other, 1, 64);
    assert!(checker.leak_report().is_empty());
    assert_eq!(checker.report().findings_at_least(Level::Warn), 0);
}

#[test]
fn sarif_has_the_2_1_0_shape_with_rules_from_the_declarations() {
    let (checker, _nic) = eventful(quiet());
    let report = checker.report();
    let sarif: serde_json::Value =
        serde_json::from_str(&Format::Sarif.render(&report, false)).unwrap();
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "dmacheck");
    let rules_out = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules_out
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let declared: Vec<&str> = rules::all().iter().map(|r| r.id).collect();
    assert_eq!(ids, declared);
    for (out, rule) in rules_out.iter().zip(rules::all()) {
        assert!(
            !out["name"].as_str().unwrap().contains('-'),
            "{}",
            out["name"]
        );
        assert_eq!(out["shortDescription"]["text"], rule.summary);
        assert!(!out["fullDescription"]["text"].as_str().unwrap().is_empty());
        assert!(out["help"]["text"].as_str().unwrap().contains(rule.seed));
        assert_eq!(out["defaultConfiguration"]["level"], "warning");
    }
    assert_eq!(
        rules_out[rules::all()
            .iter()
            .position(|r| std::ptr::eq(*r, &UNMAP_SIZE_MISMATCH))
            .unwrap()]["name"],
        "UnmapSizeMismatch"
    );

    let results = run["results"].as_array().unwrap();
    let live_leak_sites = report
        .leaks
        .sites
        .iter()
        .filter(|s| s.live_entries > 0)
        .count();
    assert_eq!(results.len(), report.violations.len() + live_leak_sites);
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id);
        assert_eq!(r["level"], "warning");
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let physical = &r["locations"][0]["physicalLocation"];
        assert_eq!(
            physical["artifactLocation"]["uri"],
            "tests/reports/report_formats.rs"
        );
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let mismatch = &results[0];
    assert_eq!(mismatch["ruleId"], "unmap-size-mismatch");
    let related = &mismatch["relatedLocations"][0];
    assert_eq!(related["message"]["text"], "mapped by dma_map_single");
    assert_eq!(
        related["physicalLocation"]["region"]["startLine"],
        report.violations[0].mapped_at.as_ref().unwrap().line
    );
    let live = &results[results.len() - 1];
    assert_eq!(live["ruleId"], "leak");
    assert!(
        live["message"]["text"]
            .as_str()
            .unwrap()
            .contains("still live")
    );
}

#[test]
fn a_leak_group_is_one_violation_counting_its_entries_in_every_format() {
    let checker = quiet().build();
    let nic = checker.device("eth0").driver("e1000").build();
    leak_rx_buffers(&checker, &nic, 6, 2048);
    nic.release();
    let report = checker.report();

    // JSON: one violation with its count; the counters count each entry.
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let violations = json["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0]["count"], 6);
    assert_eq!(json["counters"]["violations"], 6);
    assert_eq!(json["counters"]["violations_kept"], 6);
    assert_eq!(json["counters"]["per_rule"]["leak"], 6);
    assert_eq!(json["leaks"]["entries"], 6);
    let listed = violations[0]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["key"] == "size")
        .count();
    assert_eq!(listed, 4, "the first four entries listed");
    assert_eq!(Report::from_json(&report.to_json()).unwrap(), report);
    // A violation of one occurrence writes no count, and reads back as 1.
    let mut single = report.violations[0].clone();
    single.count = 1;
    let single_json = serde_json::to_value(&single).unwrap();
    assert!(single_json.get("count").is_none(), "{single_json}");
    let back: ReportViolation = serde_json::from_value(single_json).unwrap();
    assert_eq!(back.count, 1);

    // Text: the group's line, and the SUMMARY counting every entry.
    let text = Format::Text.render(&report, false);
    assert!(
        text.contains(
            "6 single mappings still live (the first 4 by address listed) [entries=6 bytes=12288 dma_addr="
        ),
        "{text}"
    );
    assert!(!text.contains("not kept"), "{text}");
    assert!(
        text.contains("SUMMARY: dmacheck: 6 violations (0 deny, 6 warn)"),
        "{text}"
    );

    // SARIF: one result observed 6 times, the listed entries' values as arrays.
    let sarif: serde_json::Value =
        serde_json::from_str(&Format::Sarif.render(&report, false)).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["occurrenceCount"], 6);
    let details = &results[0]["properties"]["details"];
    assert_eq!(details["entries"], 6);
    assert_eq!(details["size"], serde_json::json!([2048, 2048, 2048, 2048]));
    assert_eq!(details["dma_addr"].as_array().map(Vec::len), Some(4));

    // JUnit: the leak case fails with every entry counted, nothing said to be missing.
    let junit = Format::Junit.render(&report, false);
    assert!(junit.contains("6 violation(s) of leak"), "{junit}");
    assert!(!junit.contains("more not kept"), "{junit}");
}

#[test]
fn sarif_levels_follow_the_violations_levels() {
    let checker = quiet().level(&UNMAP_UNCHECKED, Level::Deny).build();
    let dev = checker.device("eth0").build();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    let _ = std::panic::catch_unwind(|| dma_unmap_single(&dev, dma, 64, Direction::ToDevice));
    let sarif: serde_json::Value =
        serde_json::from_str(&Format::Sarif.render(&checker.report(), false)).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "unmap-unchecked");
    assert_eq!(result["level"], "error");
}

#[test]
fn junit_has_one_case_per_rule_and_fails_the_rules_that_fired() {
    let (checker, _nic) = eventful(quiet().level(&UNMAP_UNCHECKED, Level::Allow));
    let report = checker.report();
    let xml = Format::Junit.render(&report, false);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), rules::all().len());
    assert_eq!(
        suite.attribute("tests"),
        Some(&*rules::all().len().to_string())
    );
    let failed: BTreeMap<&str, (&str, &str)> = cases
        .iter()
        .filter_map(|c| {
            let f = c.children().find(|n| n.has_tag_name("failure"))?;
            Some((
                c.attribute("name").unwrap(),
                (
                    f.attribute("type").unwrap(),
                    f.attribute("message").unwrap(),
                ),
            ))
        })
        .collect();
    assert_eq!(
        failed.keys().copied().collect::<Vec<_>>(),
        ["leak", "unmap-size-mismatch"]
    );
    assert_eq!(suite.attribute("failures"), Some("2"));
    assert!(failed["leak"].1.starts_with("1 violation(s) of leak"));
    assert!(failed["leak"].1.ends_with("4 entries still live"));
    assert_eq!(failed["unmap-size-mismatch"].0, "warn");
    let skipped: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(skipped, ["unmap-unchecked"]);
    assert_eq!(suite.attribute("skipped"), Some("1"));
    let leak_case = cases
        .iter()
        .find(|c| c.attribute("name") == Some("leak"))
        .unwrap();
    assert_eq!(leak_case.attribute("classname"), Some("dmacheck.lifetime"));
    let text = leak_case.first_element_child().unwrap().text().unwrap();
    assert!(
        text.contains("dmacheck warn[leak]: device_release on sda (ahci)"),
        "{text}"
    );
}

/// One shard of a sharded test run: `rx` leaked receive buffers and `bad` size mismatches.
fn shard(rx: usize, bad: usize) -> Report {
    let checker = quiet().build();
    let nic = checker.device("eth0").driver("e1000").build();
    leak_rx_buffers(&checker, &nic, rx, 2048);
    for _ in 0..bad {
        unmap_with_wrong_size(&checker, &nic);
    }
    checker.report()
}

#[test]
fn merging_sharded_reports_adds_counts_and_combines_leaks_by_site() {
    let (a, b) = (shard(2, 1), shard(3, 2));
    let merged = Report::merge([a.clone(), b.clone()]).unwrap();
    assert_eq!(merged.sources.len(), 2);
    assert_eq!(merged.counters.violations, 3);
    assert_eq!(merged.counters.warn, 3);
    assert_eq!(merged.counters.per_rule["unmap-size-mismatch"], 3);
    assert_eq!(merged.counters.live_entries, 5);
    assert_eq!(
        merged.counters.peak_entries,
        a.counters.peak_entries.max(b.counters.peak_entries)
    );
    assert_eq!(merged.violations.len(), 3);
    assert_eq!(merged.live_entries.len(), 5);
    assert_eq!(merged.leaks.sites.len(), 1, "the same site in both shards");
    let site = &merged.leaks.sites[0];
    assert_eq!(
        (site.entries, site.bytes, site.live_entries),
        (5, 5 * 2048, 5)
    );
    assert_eq!(site.kinds[0].entries, 5);
    assert_eq!(site.devices, ["eth0"]);
    assert_eq!((merged.leaks.entries, merged.leaks.bytes), (5, 5 * 2048));
    assert_eq!(merged.rules, a.rules, "one catalogue");
    assert_eq!(merged.findings_at_least(Level::Warn), 3 + 5);

    // Through JSON files, as CI shards hand them over, the merge is the same.
    let again = Report::merge([a, b].map(|r| Report::from_json(&r.to_json()).unwrap())).unwrap();
    assert_eq!(again, merged);
    assert!(Report::merge(Vec::new()).is_none());
}

#[test]
fn merging_keeps_different_sites_apart_and_biggest_first() {
    let a = shard(1, 0);
    let checker = quiet().build();
    let nic = checker.device("eth0").build();
    leak_coherent(&nic, 65536);
    let merged = Report::merge([a, checker.report()]).unwrap();
    let calls: Vec<&str> = merged.leaks.sites.iter().map(|s| s.call.as_str()).collect();
    assert_eq!(calls, ["dma_alloc_coherent", "dma_map_single"]);
}

#[test]
fn destinations_parse_and_a_directory_gets_a_new_file_per_report() {
    let dir = scratch_dir("destinations");
    let spec = format!(
        "json:{}/,sarif:{}/out.sarif,text",
        dir.display(),
        dir.display()
    );
    let dests = Destination::parse_list(&spec).unwrap();
    assert_eq!(
        dests[0].target,
        Target::Directory(format!("{}/", dir.display()).into())
    );
    assert_eq!(dests[1].target, Target::File(dir.join("out.sarif")));
    assert_eq!(
        (dests[2].format, &dests[2].target),
        (Format::Text, &Target::Stderr)
    );
    assert!(matches!(
        "xml:out.xml".parse::<Destination>(),
        Err(ReportError::Destination(_))
    ));
    assert!("sarif:".parse::<Destination>().is_err());

    let checker = quiet().build();
    let first = checker.write_report(&dests[0]).unwrap().unwrap();
    let second = checker.write_report(&dests[0]).unwrap().unwrap();
    assert_ne!(first, second, "no report overwrites another");
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let prefix = format!("dmacheck-{}-", std::process::id());
    assert!(name(&first).starts_with(&prefix), "{}", name(&first));
    assert!(name(&first).ends_with("-0.json"), "{}", name(&first));
    assert_eq!(
        name(&second),
        name(&first).replace("-0.json", "-1.json"),
        "one process's reports share the stamp"
    );
    assert_eq!(Report::read(&first).unwrap(), checker.report());
    assert_eq!(
        checker.write_report(&dests[1]).unwrap(),
        Some(dir.join("out.sarif"))
    );
    // An existing directory is a directory without the trailing slash.
    let bare: Destination = format!("junit:{}", dir.display()).parse().unwrap();
    let xml = checker.write_report(&bare).unwrap().unwrap();
    assert_eq!(name(&xml), name(&first).replace("-0.json", "-0.xml"));
}

#[test]
fn text_is_colored_only_when_asked() {
    let (checker, _nic) = eventful(quiet());
    let report = checker.report();
    assert!(Format::Text.render(&report, true).contains("\x1b["));
    assert!(!Format::Text.render(&report, false).contains('\x1b'));
    assert!(!report.dump(false).contains('\x1b'));
}

#[test]
fn a_site_inside_dmacheck_shows_the_first_user_frame() {
    let checker = quiet().stacks(16).build();
    let nic = checker.device("eth0").build();
    leak_rx_buffers(&checker, &nic, 1, 64);
    // The last handle's drop releases the device from dmacheck's own code, where
    // `#[track_caller]` cannot see this line; the stack can.
    let line = line!() + 1;
    drop(nic);
    let report = checker.report();
    let site = &report.violations[0].site;
    assert!(
        site.file.ends_with("tests/reports/report_formats.rs"),
        "{site}"
    );
    assert_eq!(site.line, line);
    let first = site.first_user_frame.expect("a user frame");
    assert!(
        site.stack[first]
            .function
            .contains("a_site_inside_dmacheck_shows_the_first_user_frame")
    );
}

/// Compare `text` with the fixture `name`, after `normalize`; `DMACHECK_BLESS=1` rewrites it.
fn assert_snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reports")
        .join(name);
    let text = normalize(text);
    if std::env::var_os("DMACHECK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with DMACHECK_BLESS=1)", path.display()));
    assert!(
        expected == text,
        "{} differs from the text format (bless with DMACHECK_BLESS=1):\n--- expected\n{expected}\n--- got\n{text}",
        path.display()
    );
}

/// Make a text report independent of source lines and host addresses: `x.rs:12:5` becomes
/// `x.rs:L`, `cpu_addr=0x7f..` becomes `cpu_addr=ADDR`.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let (cut, marker) = match (rest.find(".rs:"), rest.find("cpu_addr=")) {
            (Some(rs), Some(cpu)) if cpu < rs => (cpu, "cpu_addr="),
            (Some(rs), _) => (rs, ".rs:"),
            (None, Some(cpu)) => (cpu, "cpu_addr="),
            (None, None) => break,
        };
        out.push_str(&rest[..cut + marker.len()]);
        rest = &rest[cut + marker.len()..];
        let value_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
            .unwrap_or(rest.len());
        let value = &rest[..value_end];
        match marker {
            "cpu_addr=" => out.push_str("ADDR"),
            _ if value.starts_with(|c: char| c.is_ascii_digit()) => out.push('L'),
            _ => out.push_str(value),
        }
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

/// The eventful report, with its source made independent of the test run.
fn snapshot_report() -> Report {
    let (checker, nic) = eventful(quiet());
    let mut report = checker.report();
    report.sources[0].program = "target/debug/deps/report_formats".into();
    report.sources[0].pid = 4242;
    std::mem::forget(nic);
    report
}

#[test]
fn text_report_snapshot() {
    assert_snapshot(
        "report.txt",
        &Format::Text.render(&snapshot_report(), false),
    );
}

#[test]
fn leak_summary_snapshot() {
    assert_snapshot("leaks.txt", &snapshot_report().leaks.to_string());
}

#[test]
fn dump_snapshot() {
    assert_snapshot("dump.txt", &snapshot_report().dump(false));
}

#[test]
fn normalization_keeps_what_is_not_a_line_or_a_host_address() {
    assert_eq!(
        normalize("at tests/a.rs:12:5 [cpu_addr=0x7f00 dma_addr=0x10] src/b.rs:9\nx.rs:"),
        "at tests/a.rs:L [cpu_addr=ADDR dma_addr=0x10] src/b.rs:L\nx.rs:"
    );
}

/// The snapshot texts are checked against what the checker holds, not only against their
/// fixtures: a fixture blessed with a wrong entry, rule, count or total fails here.
#[test]
fn snapshot_texts_state_the_checkers_entries_violations_and_totals() {
    let (checker, nic) = eventful(quiet());
    let report = checker.report();
    let live = checker.live_entries();
    assert_eq!(live.len(), 4);

    let dump = report.dump(false);
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines[0], "dmacheck: 4 DMA entries live");
    // One indented line per live entry, then the leak summary.
    let entry_lines: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(entry_lines.len(), live.len(), "{dump}");
    assert!(
        dump.contains("dmacheck: leaks by the site that made them"),
        "{dump}"
    );
    for e in &live {
        let needle = format!("dma_addr={:#x} size={} ", e.dma_addr(), e.size());
        let found: Vec<_> = entry_lines.iter().filter(|l| l.contains(&needle)).collect();
        assert_eq!(found.len(), 1, "{needle} in\n{dump}");
        assert!(found[0].starts_with("  eth0 (e1000) "), "{}", found[0]);
    }

    // Leaked: the four live entries and the 512 bytes sda's release ended.
    let leaked = live.iter().map(|e| e.size()).sum::<u64>() + 512;
    assert_eq!(leaked, 3 * 2048 + 4096 + 512);
    let summary = format!(
        "SUMMARY: dmacheck: {leaked} bytes leaked in 5 DMA entries at 2 sites (4 still live)."
    );
    assert!(
        report.leaks.to_string().contains(&summary),
        "{}",
        report.leaks
    );

    let text = Format::Text.render(&report, false);
    let rules_printed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("dmacheck warn["))
        .filter_map(|l| l.split(']').next())
        .collect();
    assert_eq!(rules_printed, ["unmap-size-mismatch", "leak"]);
    let rules_held: Vec<&str> = checker.violations().iter().map(|v| v.rule.id).collect();
    assert_eq!(rules_printed, rules_held);
    assert!(text.contains("SUMMARY: dmacheck: 2 violations (0 deny, 2 warn); 10752 bytes"));
    std::mem::forget(nic);
}
