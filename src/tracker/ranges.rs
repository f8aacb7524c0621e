//! Sets of byte ranges: the parts of a buffer each owner holds.

use smallvec::SmallVec;

/// A set of byte ranges `start..end`, kept sorted, disjoint and merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges(SmallVec<[(u64, u64); 1]>);

impl Ranges {
    /// The one range `0..len` (nothing when `len` is 0).
    pub fn whole(len: u64) -> Ranges {
        let mut all = Ranges::default();
        if len > 0 {
            all.0.push((0, len));
        }
        all
    }

    /// Whether there is no range at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set is exactly the one range `0..len` (`len` > 0).
    #[inline]
    pub fn is_whole(&self, len: u64) -> bool {
        len > 0 && self.0.len() == 1 && self.0[0] == (0, len)
    }

    /// The ranges, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }

    /// Add `start..end`.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // The common cases, a sync of a whole buffer or of a first range, without sorting.
        let covers_all = match (self.0.first(), self.0.last()) {
            (Some(&(first, _)), Some(&(_, last))) => start <= first && last <= end,
            _ => true,
        };
        if covers_all {
            self.0.clear();
            self.0.push((start, end));
            return;
        }
        self.0.push((start, end));
        self.0.sort_unstable();
        let mut merged: SmallVec<[(u64, u64); 1]> = SmallVec::new();
        for (s, e) in self.0.drain(..) {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.0 = merged;
    }

    /// Remove `start..end`.
    pub fn remove(&mut self, start: u64, end: u64) {
        // An empty range removes nothing (and must not split a range around it).
        if self.0.is_empty() || start >= end {
            return;
        }
        let mut kept: SmallVec<[(u64, u64); 1]> = SmallVec::new();
        for (s, e) in self.0.drain(..) {
            if e <= start || end <= s {
                kept.push((s, e));
                continue;
            }
            if s < start {
                kept.push((s, start));
            }
            if end < e {
                kept.push((end, e));
            }
        }
        self.0 = kept;
    }

    /// Whether any range meets `start..end`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.0.iter().any(|&(s, e)| s < end && start < e)
    }

    /// Whether the ranges cover all of `start..end`.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        start >= end || self.0.iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// The parts of `0..len` not in the set.
    pub fn complement(&self, len: u64) -> SmallVec<[(u64, u64); 2]> {
        let mut out = SmallVec::new();
        let mut at = 0;
        for &(s, e) in &self.0 {
            if s > at {
                out.push((at, s.min(len)));
            }
            at = at.max(e);
        }
        if at < len {
            out.push((at, len));
        }
        out
    }
}
