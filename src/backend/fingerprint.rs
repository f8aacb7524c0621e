//! A fast fingerprint of bytes, to notice that a buffer changed.

/// A fingerprint of bytes, to notice that a buffer changed: eight lanes of Fletcher-style sums
/// (each lane a running sum of its 64-bit words and a sum of those sums). Any change to a
/// single word changes its lane's running sum, and the sum of sums notices words moved; the
/// lanes are independent, so the loop vectorizes and a page takes tens of nanoseconds, where a
/// word-at-a-time hash takes hundreds. Not a defence against crafted collisions, which a
/// driver's stray write is not.
#[derive(Default)]
pub(super) struct Fingerprint {
    sums: [u64; LANES],
    sums_of_sums: [u64; LANES],
    len: u64,
}

const LANES: usize = 8;
const CHUNK: usize = LANES * 8;

impl Fingerprint {
    /// Add `bytes` as the next part. Where the CPU has AVX2, the same code compiled for it
    /// (four lanes to a register instead of two): half the instructions per byte.
    pub(super) fn add(&mut self, bytes: &[u8]) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.add_avx2(bytes) };
        }
        self.add_any(bytes)
    }

    /// [`Fingerprint::add`] for a CPU with AVX2.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    #[target_feature(enable = "avx2")]
    unsafe fn add_avx2(&mut self, bytes: &[u8]) {
        self.add_any(bytes)
    }

    #[inline(always)]
    fn add_any(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(CHUNK);
        for chunk in &mut chunks {
            self.add_chunk(chunk.try_into().expect("chunks_exact"));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; CHUNK];
            last[..rest.len()].copy_from_slice(rest);
            self.add_chunk(&last);
        }
        // The length separates a part from the next, and trailing zeros from padding.
        self.len = self
            .len
            .wrapping_mul(31)
            .wrapping_add(bytes.len() as u64 + 1);
    }

    /// Add the bytes of `segments`, joined, as one part: the same as [`Fingerprint::add`] of
    /// them joined, without joining them (a buffer's bytes with a write's in place of some).
    pub(super) fn add_joined(&mut self, segments: [&[u8]; 3]) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.add_joined_avx2(segments) };
        }
        self.add_joined_any(segments)
    }

    /// [`Fingerprint::add_joined`] for a CPU with AVX2.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    #[target_feature(enable = "avx2")]
    unsafe fn add_joined_avx2(&mut self, segments: [&[u8]; 3]) {
        self.add_joined_any(segments)
    }

    #[inline(always)]
    fn add_joined_any(&mut self, segments: [&[u8]; 3]) {
        // Bytes of a chunk that straddles two segments.
        let mut carry = [0u8; CHUNK];
        let mut filled = 0;
        let mut total = 0;
        for mut segment in segments {
            total += segment.len();
            if filled > 0 {
                let n = (CHUNK - filled).min(segment.len());
                carry[filled..filled + n].copy_from_slice(&segment[..n]);
                filled += n;
                segment = &segment[n..];
                if filled < CHUNK {
                    continue;
                }
                // Full: added; `filled` is set below from what this segment leaves over.
                self.add_chunk(&carry);
            }
            let mut chunks = segment.chunks_exact(CHUNK);
            for chunk in &mut chunks {
                self.add_chunk(chunk.try_into().expect("chunks_exact"));
            }
            let rest = chunks.remainder();
            carry[..rest.len()].copy_from_slice(rest);
            filled = rest.len();
        }
        if filled > 0 {
            carry[filled..].fill(0);
            self.add_chunk(&carry);
        }
        self.len = self.len.wrapping_mul(31).wrapping_add(total as u64 + 1);
    }

    #[inline(always)]
    fn add_chunk(&mut self, chunk: &[u8; CHUNK]) {
        for lane in 0..LANES {
            let word = u64::from_le_bytes(chunk[lane * 8..][..8].try_into().expect("8 bytes"));
            self.sums[lane] = self.sums[lane].wrapping_add(word);
            self.sums_of_sums[lane] = self.sums_of_sums[lane].wrapping_add(self.sums[lane]);
        }
    }

    /// The sums folded into one word: each salted by its position and put through a bijective
    /// mixer, independently (so the mixes run in parallel), then combined. Changes to several
    /// sums cancel out only by a 1-in-2^64 chance, unlike through an add-and-multiply hash.
    /// Straight-line code over the salts worked out at compile time: this runs at every
    /// hand-off, and most buffers are small.
    pub(super) const fn finish(&self) -> u64 {
        let mut h = mix(self.len ^ SALTS[2 * LANES]);
        let mut lane = 0;
        while lane < LANES {
            h ^= mix(self.sums[lane] ^ SALTS[lane]);
            h ^= mix(self.sums_of_sums[lane] ^ SALTS[LANES + lane]);
            lane += 1;
        }
        h
    }

    /// The fingerprint of no bytes at all ([`Fingerprint::finish`] of nothing added): what a
    /// buffer the CPU owns whole has for its device-owned parts.
    pub(super) const EMPTY: u64 = Fingerprint {
        sums: [0; LANES],
        sums_of_sums: [0; LANES],
        len: 0,
    }
    .finish();
}

/// The salt of each word `finish` folds, by its position from 1: the sums, the sums of sums,
/// the length.
const SALTS: [u64; 2 * LANES + 1] = {
    let mut salts = [0; 2 * LANES + 1];
    let mut i = 0;
    while i < salts.len() {
        salts[i] = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        i += 1;
    }
    salts
};

/// splitmix64's finalizer: a bijection on 64-bit words that spreads every input bit.
const fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fold as first written (each word salted by its position from 1, mixed, XORed):
    /// the straight-line `finish` must be the same function, so it detects what it detected.
    fn folded(f: &Fingerprint) -> u64 {
        let words = f.sums.iter().chain(&f.sums_of_sums).chain([&f.len]);
        words.zip(1u64..).fold(0, |h, (&w, i)| {
            h ^ mix(w ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        })
    }

    #[test]
    fn the_avx2_path_fingerprints_as_the_portable_one() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 31 + i / 3) as u8).collect();
        for len in [0, 1, 63, 64, 65, 1000, 2048, 4096, 5000] {
            let (mut fast, mut portable) = (Fingerprint::default(), Fingerprint::default());
            fast.add(&bytes[..len]);
            portable.add_any(&bytes[..len]);
            assert_eq!(fast.finish(), portable.finish(), "{len} bytes");
        }
    }

    #[test]
    fn joined_segments_fingerprint_as_their_bytes_joined() {
        let bytes: Vec<u8> = (0..700u32).map(|i| (i * 17 + i / 5) as u8).collect();
        let cuts = [0, 1, 7, 63, 64, 65, 100, 128, 129, 300, 699, 700];
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a) {
                let mut joined = Fingerprint::default();
                joined.add(b"before");
                joined.add_joined([&bytes[..a], &bytes[a..b], &bytes[b..]]);
                let mut whole = Fingerprint::default();
                whole.add(b"before");
                whole.add(&bytes);
                assert_eq!(joined.finish(), whole.finish(), "cut at {a} and {b}");
                let mut portable = Fingerprint::default();
                portable.add(b"before");
                portable.add_joined_any([&bytes[..a], &bytes[a..b], &bytes[b..]]);
                assert_eq!(portable.finish(), whole.finish(), "cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn finish_is_the_positional_fold_and_empty_is_nothing_added() {
        let mut f = Fingerprint::default();
        assert_eq!(f.finish(), folded(&f));
        assert_eq!(Fingerprint::EMPTY, folded(&f));
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 13 + i / 7) as u8).collect();
        for part in bytes.chunks(333) {
            f.add(part);
            assert_eq!(f.finish(), folded(&f));
            assert_ne!(f.finish(), Fingerprint::EMPTY);
        }
    }
}
