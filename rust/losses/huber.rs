//! PyTorch's `HuberLoss(delta)`: identity output; for a residual `r = z - y`,
//! `½r²` where `|r| < delta` and `delta·(|r| - ½delta)` elsewhere, mean over all elements.
//! Its gradient is `r` clamped to `[-delta, delta]` (as ATen's `huber_backward`).

use super::util::{self, element_total};
use super::{LossFn, Targets};
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct Huber {
    pub delta: f64,
}

impl LossFn for Huber {
    const NAME: &'static str = "huber";

    fn params(self) -> Vec<(&'static str, f64)> {
        vec![("delta", self.delta)]
    }

    fn output<T: Scalar>(self, _z: &mut [T], _cols: usize) {}

    fn total(self, rows: usize, cols: usize, weight_sum: Option<f64>) -> f64 {
        element_total(rows, cols, weight_sum)
    }

    fn sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        weights: Option<&[T]>,
        total: f64,
    ) -> f64 {
        let delta = T::of(self.delta);
        let half = T::of(0.5);
        util::elementwise(z, cols, targets, weights, total, |x, y, factor| {
            let r = x - y;
            let a = r.abs();
            let term = if a < delta {
                half * a * a
            } else {
                delta * (a - half * delta)
            };
            (term.f64(), r.max(-delta).min(delta) * factor)
        })
    }
}
