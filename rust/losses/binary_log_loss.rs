//! scikit-learn's `binary_log_loss` (`MLPClassifier` with two classes or multi-label):
//! logistic outputs, targets in [0, 1], the clipped log loss summed over outputs, weighted
//! mean over rows.

use super::util::{self, clip, row_total, xlogy};
use super::{LossFn, Targets};
use crate::activations::sigmoid;
use crate::error::Result;
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct BinaryLogLoss;

impl LossFn for BinaryLogLoss {
    const NAME: &'static str = "binary_log_loss";
    const CLASSIFIES: bool = true;

    fn output<T: Scalar>(self, z: &mut [T], _cols: usize) {
        z.iter_mut().for_each(|v| *v = sigmoid(*v));
    }

    fn check_values<T: Scalar>(self, y: &[T]) -> Result<()> {
        util::check_unit_interval(Self::NAME, y)
    }

    fn total(self, rows: usize, _cols: usize, weight_sum: Option<f64>) -> f64 {
        row_total(rows, weight_sum)
    }

    fn sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        weights: Option<&[T]>,
        total: f64,
    ) -> f64 {
        self.output(z, cols);
        util::sklearn_values(z, cols, targets, weights, total, |p, y| {
            -(xlogy(y, clip(p)) + xlogy(T::one() - y, T::one() - clip(p))).f64()
        })
    }

    fn correct<T: Scalar>(self, z: &[T], cols: usize, targets: &Targets<'_, T>) -> Option<usize> {
        Some(util::count_subset(z, cols, targets))
    }
}
