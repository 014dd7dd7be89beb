//! `Dropout(p)`: inverted dropout as `torch.nn.Dropout` — in training each unit is kept with
//! probability `1 - p` and scaled by `1 / (1 - p)`, else zeroed; in evaluation the identity.
//!
//! The mask is not drawn from a stream but computed from a counter-based hash of
//! `(network seed, layer index, step number, row, unit)` (64-bit per row, 32-bit per unit, so it
//! vectorises), so it is the same bits for any
//! thread count and any SIMD path, and the same for two passes at the same step (two
//! `gradients()` calls see one mask).

use super::{Io, LayerOps, Mode, Pass, Tensors};
use crate::kernels::{self, MatRef, Shared};
use crate::scalar::Scalar;

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub p: f64,
    pub width: usize,
    /// The layer's index in the stack: part of the mask's key.
    pub index: usize,
}

/// splitmix64's finaliser: a bijective mix of 64 bits.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The keep decisions of one layer at one step: a key per row, from which
/// [`kernels::unit_draw`] draws each unit.
#[derive(Clone, Copy, Debug)]
pub struct Mask {
    key: u64,
    /// A unit is dropped when its 24-bit uniform draw falls below this (`⌈p · 2²⁴⌉`).
    threshold: u32,
}

impl Mask {
    pub fn new(seed: u64, layer: usize, step: u64, p: f64) -> Self {
        let key = mix(mix(mix(seed ^ GOLDEN) ^ layer as u64).wrapping_add(step));
        Mask {
            key,
            threshold: (p * (1u32 << 24) as f64).ceil() as u32,
        }
    }

    /// The key of one row.
    #[inline(always)]
    pub fn row(&self, row: usize) -> u32 {
        (mix(self.key ^ mix(row as u64)) >> 32) as u32
    }

    #[inline(always)]
    pub fn keep(&self, row_key: u32, unit: usize) -> bool {
        kernels::kept(kernels::unit_draw(row_key, unit as u32), self.threshold)
    }

    /// Row `row`'s mask as factors (`scale` where kept, else 0).
    pub fn factors<T: Scalar>(&self, row: usize, scale: T, out: &mut [T]) {
        kernels::dropout_factors(out, self.row(row), self.threshold, scale);
    }
}

impl Dropout {
    /// The mask this layer uses in training at `step`.
    pub fn mask(&self, seed: u64, step: u64) -> Mask {
        Mask::new(seed, self.index, step, self.p)
    }
}

impl LayerOps for Dropout {
    fn width(&self) -> usize {
        self.width
    }

    /// `aux` holds the mask as factors (`1/(1-p)` or 0), one per element.
    fn scratch(&self, rows: usize) -> (Option<usize>, usize) {
        (rows.checked_mul(self.width), 0)
    }

    /// One multiply per unit each way (by the mask's `0` or `1/(1-p)`); no backward work for a
    /// first layer.
    fn flops(&self, _fan_in: usize, input_grad: bool) -> (u64, u64) {
        let n = self.width as u64;
        (n, if input_grad { n } else { 0 })
    }

    unsafe fn forward<T: Scalar>(
        &self,
        pass: &Pass,
        _t: &Tensors<T>,
        input: MatRef<T>,
        io: &Io<T>,
    ) {
        let n = self.width;
        let span = pass.mine.start * n..pass.mine.end * n;
        let x = input.row_slice(pass.mine.clone());
        let out = io.out.part(span.clone());
        let Mode::Train { seed, step } = pass.mode else {
            out.copy_from_slice(x);
            return;
        };
        let mask = self.mask(seed, step);
        let scale = T::of(1.0 / (1.0 - self.p));
        let factors = io.aux.part(span);
        for (r, row) in pass.mine.clone().zip(factors.chunks_exact_mut(n)) {
            mask.factors(r, scale, row);
        }
        kernels::multiply(out, x, factors);
    }

    unsafe fn backward<T: Scalar>(
        &self,
        pass: &Pass,
        _t: &Tensors<T>,
        _input: MatRef<T>,
        io: &Io<T>,
        grad_in: Option<Shared<T>>,
        _grads: &[Shared<T>],
    ) {
        let Some(grad_in) = grad_in else { return };
        let span = pass.mine.start * self.width..pass.mine.end * self.width;
        let (grad, factors) = (&io.grad.read()[span.clone()], &io.aux.read()[span.clone()]);
        kernels::multiply(grad_in.part(span), grad, factors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_rate_is_one_minus_p_and_masks_differ_by_key() {
        let mask = Mask::new(7, 2, 0, 0.3);
        let kept = (0..1000)
            .flat_map(|r| {
                let key = mask.row(r);
                (0..100).map(move |j| mask.keep(key, j))
            })
            .filter(|&k| k)
            .count();
        // 10⁵ draws: σ ≈ 145.
        assert!((kept as f64 - 70_000.0).abs() < 600.0, "{kept}");
        let other = Mask::new(7, 2, 1, 0.3);
        let same = (0..64)
            .filter(|&j| mask.keep(mask.row(0), j) == other.keep(other.row(0), j))
            .count();
        assert!(same < 64);
        let none = Mask::new(7, 2, 0, 0.0);
        assert!((0..1000).all(|j| none.keep(none.row(3), j)));
    }
}
