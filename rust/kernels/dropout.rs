//! Dropout's mask: a counter-based hash of (row key, unit), 32-bit so it vectorises (AVX2's
//! `vpmulld`), integer-only so every instruction set draws the same bits.

use super::simd::vectorised;

/// The 32-bit golden ratio, spreading consecutive units over the hash's input.
const GOLDEN32: u32 = 0x9e37_79b9;

/// murmur3's 32-bit finaliser: a bijective mix of the draw for `unit` of a row.
#[inline(always)]
pub fn unit_draw(row_key: u32, unit: u32) -> u32 {
    let mut h = row_key ^ unit.wrapping_add(1).wrapping_mul(GOLDEN32);
    h = (h ^ (h >> 16)).wrapping_mul(0x85eb_ca6b);
    h = (h ^ (h >> 13)).wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Whether a unit whose draw is `draw` is kept: its top 24 bits, a uniform integer in
/// `[0, 2²⁴)`, are at least `threshold` (`⌈p·2²⁴⌉`).
#[inline(always)]
pub fn kept(draw: u32, threshold: u32) -> bool {
    (draw >> 8) >= threshold
}

vectorised! {
    /// One row's mask as factors: `factors[j] = scale` where unit `j` is kept, else 0.
    pub fn dropout_factors<T>(factors: &mut [T], row_key: u32, threshold: u32, scale: T) {
        for (j, f) in factors.iter_mut().enumerate() {
            let keep = kept(unit_draw(row_key, j as u32), threshold);
            *f = if keep { scale } else { T::zero() };
        }
    }
}
