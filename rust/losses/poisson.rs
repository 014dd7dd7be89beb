//! scikit-learn's `poisson` (`MLPRegressor(loss="poisson")`): exp output, targets >= 0, half
//! the Poisson deviance `y·log(y/p) - y + p` summed over outputs, weighted mean over rows.

use super::util::{self, row_total, xlogy};
use super::{LossFn, Targets};
use crate::error::{Error, Result};
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct Poisson;

impl LossFn for Poisson {
    const NAME: &'static str = "poisson";

    fn output<T: Scalar>(self, z: &mut [T], _cols: usize) {
        z.iter_mut().for_each(|v| *v = v.exp());
    }

    fn check_values<T: Scalar>(self, y: &[T]) -> Result<()> {
        if let Some(i) = y.iter().position(|&x| x < T::zero()) {
            return Err(Error::value(format!(
                "y: poisson targets must be >= 0; flat index {i} holds {:?}",
                y[i]
            )));
        }
        Ok(())
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
            (xlogy(y, y / p) - y + p).f64()
        })
    }
}
