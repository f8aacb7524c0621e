//! Free ranges of a numbered space (pages of memory, pages of an I/O virtual address space):
//! first-fit or last-fit allocation with alignment and bounds, and coalescing frees.

use std::collections::BTreeMap;

/// The free parts of a space, as disjoint, never-adjacent runs `start -> length`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FreeRanges {
    runs: BTreeMap<u64, u64>,
}

impl FreeRanges {
    /// A space whose `len` units from `start` are all free.
    pub fn new(start: u64, len: u64) -> FreeRanges {
        let mut runs = BTreeMap::new();
        if len > 0 {
            runs.insert(start, len);
        }
        FreeRanges { runs }
    }

    /// Take the lowest `count` units aligned to `align` that lie inside `lo..hi`.
    pub fn take_lowest(&mut self, count: u64, align: u64, lo: u64, hi: u64) -> Option<u64> {
        let (start, at) = self.runs.iter().find_map(|(&start, &len)| {
            let at = start.max(lo).checked_next_multiple_of(align)?;
            (at.checked_add(count)? <= (start + len).min(hi)).then_some((start, at))
        })?;
        self.carve(start, at, count);
        Some(at)
    }

    /// Take the highest `count` units aligned to `align` that lie inside `lo..hi`.
    pub fn take_highest(&mut self, count: u64, align: u64, lo: u64, hi: u64) -> Option<u64> {
        let (start, at) = self.runs.iter().rev().find_map(|(&start, &len)| {
            let end = (start + len).min(hi);
            let at = end.checked_sub(count)? / align * align;
            (at >= start.max(lo)).then_some((start, at))
        })?;
        self.carve(start, at, count);
        Some(at)
    }

    /// Take exactly `at..at + count`, if all of it is free.
    pub fn take_exact(&mut self, at: u64, count: u64) -> bool {
        let run = self
            .runs
            .range(..=at)
            .next_back()
            .map(|(&s, &l)| (s, l))
            .filter(|&(s, l)| at.checked_add(count).is_some_and(|end| end <= s + l));
        match run {
            Some((start, _)) if count > 0 => {
                self.carve(start, at, count);
                true
            }
            _ => false,
        }
    }

    /// Remove `at..at + count` from the free run starting at `start`, which contains it.
    fn carve(&mut self, start: u64, at: u64, count: u64) {
        let len = self.runs.remove(&start).expect("a free run");
        if at > start {
            self.runs.insert(start, at - start);
        }
        if at + count < start + len {
            self.runs.insert(at + count, start + len - at - count);
        }
    }

    /// Return `start..start + count` (which must be taken) to the free space.
    pub fn give(&mut self, start: u64, count: u64) {
        let (mut start, mut len) = (start, count);
        if let Some((&prev, &plen)) = self.runs.range(..start).next_back() {
            debug_assert!(prev + plen <= start, "freeing a range that is free");
            if prev + plen == start {
                self.runs.remove(&prev);
                start = prev;
                len += plen;
            }
        }
        if let Some(next_len) = self.runs.remove(&(start + len)) {
            len += next_len;
        }
        self.runs.insert(start, len);
    }

    /// Units free in all.
    pub fn free_units(&self) -> u64 {
        self.runs.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_and_highest_fits_respect_alignment_and_bounds() {
        let mut f = FreeRanges::new(0, 100);
        assert_eq!(f.take_lowest(4, 8, 3, 100), Some(8));
        assert_eq!(f.take_highest(4, 8, 0, 90), Some(80));
        assert_eq!(f.take_highest(4, 1, 0, 100), Some(96));
        assert_eq!(f.take_lowest(200, 1, 0, 100), None);
        assert_eq!(f.free_units(), 88);
    }

    #[test]
    fn gives_coalesce_back_to_one_run() {
        let mut f = FreeRanges::new(10, 50);
        let a = f.take_lowest(5, 1, 0, u64::MAX).unwrap();
        let b = f.take_lowest(5, 1, 0, u64::MAX).unwrap();
        let c = f.take_lowest(5, 1, 0, u64::MAX).unwrap();
        f.give(b, 5);
        f.give(a, 5);
        f.give(c, 5);
        assert_eq!(f, FreeRanges::new(10, 50));
    }

    #[test]
    fn exact_takes_only_free_ranges() {
        let mut f = FreeRanges::new(0, 10);
        assert!(f.take_exact(2, 3));
        assert!(!f.take_exact(4, 2), "4 is taken");
        assert!(!f.take_exact(8, 5), "runs past the end");
        assert!(f.take_exact(5, 5));
        assert_eq!(f.free_units(), 2);
    }

    #[test]
    fn huge_spaces_do_not_overflow() {
        let mut f = FreeRanges::new(1, u64::MAX - 1);
        assert_eq!(f.take_highest(1, 1, 0, u64::MAX), Some(u64::MAX - 1));
        assert_eq!(f.take_lowest(u64::MAX, 1, 0, u64::MAX), None);
        assert_eq!(f.take_lowest(2, 1 << 63, 0, u64::MAX), Some(1 << 63));
    }
}
