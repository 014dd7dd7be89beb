//! scikit-learn's `squared_error` (`MLPRegressor`): identity output, half the squared error
//! averaged over outputs, weighted mean over rows. Its gradient, as scikit-learn computes it,
//! is `(output - y) · w / Σw`: that of the sum over outputs, not of the average.

use super::util::{self, row_total};
use super::{LossFn, Targets};
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct SquaredError;

impl LossFn for SquaredError {
    const NAME: &'static str = "squared_error";

    fn output<T: Scalar>(self, _z: &mut [T], _cols: usize) {}

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
        util::sklearn_values(z, cols, targets, weights, total, |p, y| {
            0.5 * ((y - p) * (y - p)).f64() / cols as f64
        })
    }
}
