//! PyTorch's `BCEWithLogitsLoss`: sigmoid outputs, multi-label targets in [0, 1], mean over
//! all elements.

use super::util::{self, element_total};
use super::{LossFn, Targets};
use crate::activations::sigmoid;
use crate::error::Result;
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct BinaryCrossEntropy;

impl LossFn for BinaryCrossEntropy {
    const NAME: &'static str = "binary_cross_entropy";
    const CLASSIFIES: bool = true;

    fn output<T: Scalar>(self, z: &mut [T], _cols: usize) {
        z.iter_mut().for_each(|v| *v = sigmoid(*v));
    }

    fn check_values<T: Scalar>(self, y: &[T]) -> Result<()> {
        util::check_unit_interval(Self::NAME, y)
    }

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
        util::elementwise(z, cols, targets, weights, total, |x, y, factor| {
            // max(x, 0) - x·y + log(1 + e^-|x|): BCE from logits without overflow.
            let term = x.max(T::zero()) - x * y + (-x.abs()).exp().ln_1p();
            (term.f64(), (sigmoid(x) - y) * factor)
        })
    }

    fn correct<T: Scalar>(self, z: &[T], cols: usize, targets: &Targets<'_, T>) -> Option<usize> {
        Some(util::count_subset(z, cols, targets))
    }
}
