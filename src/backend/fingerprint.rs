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
    pub(super) fn add(&mut self, bytes: &[u8]) {
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
    pub(super) fn finish(&self) -> u64 {
        let words = self
            .sums
            .iter()
            .chain(&self.sums_of_sums)
            .chain([&self.len]);
        words.zip(1u64..).fold(0, |h, (&w, i)| {
            h ^ mix(w ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        })
    }
}

/// splitmix64's finalizer: a bijection on 64-bit words that spreads every input bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
