//! PyTorch's `MSELoss`: identity output, mean of squared errors over all elements (not
//! halved).

use super::util::{self, element_total};
use super::{LossFn, Targets};
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct Mse;

impl LossFn for Mse {
    const NAME: &'static str = "mse";

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
        util::elementwise(z, cols, targets, weights, total, |x, y, factor| {
            let r = x - y;
            ((r * r).f64(), r * (T::of(2.0) * factor))
        })
    }
}
