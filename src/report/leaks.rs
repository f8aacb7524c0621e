//! Leak summaries, like LeakSanitizer's: leaked entries grouped by the site that made them, with
//! how many of which kind and how many bytes, biggest first, and totals.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::document::ReportSite;
use crate::rules::Level;
use crate::site::Site;
use crate::types::MapKind;

/// Leaked entries grouped by the site that made them.
///
/// An entry is leaked when its device was released with the entry still live (each such entry
/// was also counted by a [`leak`](crate::rules::LEAK) violation, one per site of the release),
/// or when it is still live as the report is made (at process exit, or on request with
/// [`Checker::leak_report`](crate::Checker::leak_report)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakReport {
    /// Leaked entries in all.
    pub entries: u64,
    /// Their bytes in all.
    pub bytes: u64,
    /// How many of the entries were still live when the report was made.
    pub live_entries: u64,
    /// One group per site, biggest (in bytes, then entries) first.
    pub sites: Vec<LeakSite>,
}

/// The leaked entries made at one site (one call site and stack) by one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakSite {
    /// Where the entries were made.
    pub site: ReportSite,
    /// The call that made them (`dma_map_single`, ...).
    pub call: String,
    /// The level of the leak rule where they leaked.
    #[serde(with = "super::document::level_name")]
    pub level: Level,
    /// How many entries.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
    /// How many were still live when the report was made (the others leaked at a device
    /// release and were reported then).
    pub live_entries: u64,
    /// Entries and bytes per kind of entry, in kind order.
    pub kinds: Vec<LeakKind>,
    /// The devices they were made for, sorted.
    pub devices: Vec<String>,
}

/// Leaked entries of one kind at one site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakKind {
    /// The kind (`single`, `page`, `coherent`, `sg`).
    pub kind: String,
    /// How many entries.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl LeakReport {
    /// Whether nothing leaked.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Build a report from groups: groups of the same site and call are combined, totals
    /// computed, biggest first.
    pub fn from_sites(sites: impl IntoIterator<Item = LeakSite>) -> LeakReport {
        let mut report = LeakReport::default();
        report.add_sites(sites);
        report
    }

    /// Add another report's leaks to these (a shard's, or another process's): the groups of
    /// the same site (file, line, column and symbolized stack) and call are combined, counts
    /// and bytes added, device lists united; the others are added as they are.
    pub fn combine(&mut self, other: LeakReport) {
        self.add_sites(other.sites);
    }

    /// Add groups, combining those of one site and call (found through a map: a report may
    /// have tens of thousands of sites), then sort.
    fn add_sites(&mut self, sites: impl IntoIterator<Item = LeakSite>) {
        let mut index: HashMap<(ReportSite, String), usize, rustc_hash::FxBuildHasher> = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.site.clone(), s.call.clone()), i))
            .collect();
        for site in sites {
            self.entries += site.entries;
            self.bytes += site.bytes;
            self.live_entries += site.live_entries;
            match index.entry((site.site.clone(), site.call.clone())) {
                std::collections::hash_map::Entry::Occupied(i) => self.sites[*i.get()].absorb(site),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(self.sites.len());
                    self.sites.push(site);
                }
            }
        }
        self.sort();
    }

    fn sort(&mut self) {
        self.sites.sort_by(|a, b| {
            (b.bytes, b.entries)
                .cmp(&(a.bytes, a.entries))
                .then_with(|| a.site.cmp(&b.site))
                .then_with(|| a.call.cmp(&b.call))
        });
    }
}

impl LeakSite {
    fn absorb(&mut self, other: LeakSite) {
        self.level = self.level.max(other.level);
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.live_entries += other.live_entries;
        for k in other.kinds {
            match self.kinds.iter_mut().find(|m| m.kind == k.kind) {
                Some(m) => {
                    m.entries += k.entries;
                    m.bytes += k.bytes;
                }
                None => self.kinds.push(k),
            }
        }
        self.kinds.sort_by_key(|k| kind_order(&k.kind));
        let devices: BTreeSet<String> = self.devices.drain(..).chain(other.devices).collect();
        self.devices = devices.into_iter().collect();
    }
}

/// The order kinds are listed in.
fn kind_order(kind: &str) -> usize {
    ["single", "page", "sg", "coherent"]
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(usize::MAX)
}

/// Leaked entries of one process, grouped by site while the process runs, before symbols are
/// looked up: one group per call site, stack (by return addresses) and call, so that making
/// the report symbolizes each unique stack once.
#[derive(Clone, Default)]
pub(crate) struct LeakTable {
    groups: HashMap<LeakKey, LeakGroup, rustc_hash::FxBuildHasher>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct LeakKey {
    file: &'static str,
    line: u32,
    column: u32,
    /// The interned stack, by address (interned stacks are equal only if they are the same).
    stack: Option<usize>,
    call: &'static str,
}

#[derive(Clone)]
struct LeakGroup {
    site: Site,
    /// Entries and bytes per kind.
    kinds: Vec<(MapKind, u64, u64)>,
    devices: BTreeSet<String>,
    live: u64,
}

impl LeakTable {
    /// Count a group of leaked entries of `device` and `kind` made at `site` by `call`,
    /// (entries, bytes): all still live when `live`, or all ended by a release.
    pub fn add_group(
        &mut self,
        site: Site,
        (kind, call): (MapKind, &'static str),
        (entries, bytes): (u64, u64),
        device: &str,
        live: bool,
    ) {
        let key = LeakKey {
            file: site.location().file(),
            line: site.location().line(),
            column: site.location().column(),
            stack: site.stack().map(|s| std::ptr::from_ref(s).addr()),
            call,
        };
        let group = self.groups.entry(key).or_insert_with(|| LeakGroup {
            site,
            kinds: Vec::new(),
            devices: BTreeSet::new(),
            live: 0,
        });
        match group.kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, n, b)) => {
                *n += entries;
                *b += bytes;
            }
            None => group.kinds.push((kind, entries, bytes)),
        }
        if !group.devices.contains(device) {
            group.devices.insert(device.to_string());
        }
        group.live += if live { entries } else { 0 };
    }

    /// Add another table's groups to this one.
    pub fn absorb(&mut self, other: LeakTable) {
        for (key, g) in other.groups {
            match self.groups.get_mut(&key) {
                Some(mine) => {
                    for (kind, n, bytes) in g.kinds {
                        match mine.kinds.iter_mut().find(|(k, _, _)| *k == kind) {
                            Some((_, m, b)) => {
                                *m += n;
                                *b += bytes;
                            }
                            None => mine.kinds.push((kind, n, bytes)),
                        }
                    }
                    mine.devices.extend(g.devices);
                    mine.live += g.live;
                }
                None => {
                    self.groups.insert(key, g);
                }
            }
        }
    }

    /// The summary, with the leak rule at `level`: each group's site symbolized once.
    pub fn into_report(self, level: Level) -> LeakReport {
        LeakReport::from_sites(self.groups.into_iter().map(|(key, g)| {
            let mut kinds: Vec<LeakKind> = g
                .kinds
                .iter()
                .map(|&(kind, entries, bytes)| LeakKind {
                    kind: kind.to_string(),
                    entries,
                    bytes,
                })
                .collect();
            kinds.sort_by_key(|k| kind_order(&k.kind));
            LeakSite {
                site: ReportSite::from(&g.site),
                call: key.call.to_string(),
                level,
                entries: kinds.iter().map(|k| k.entries).sum(),
                bytes: kinds.iter().map(|k| k.bytes).sum(),
                live_entries: g.live,
                kinds,
                devices: g.devices.into_iter().collect(),
            }
        }))
    }
}
