//! PyTorch's `L1Loss`: identity output, mean absolute error over all elements. Its gradient
//! is `sign(z - y)`, 0 where the residual is 0 (as `torch.sign`).

use super::util::{self, element_total};
use super::{LossFn, Targets};
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct L1;

impl LossFn for L1 {
    const NAME: &'static str = "l1";

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
            let sign = if r > T::zero() {
                T::one()
            } else if r < T::zero() {
                -T::one()
            } else {
                T::zero()
            };
            (r.abs().f64(), sign * factor)
        })
    }
}
