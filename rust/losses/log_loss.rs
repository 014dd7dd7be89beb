//! scikit-learn's `log_loss` (`MLPClassifier` with more than two classes): softmax output,
//! class-index targets, `-log(clip(p_y))` per row, weighted mean over rows.

use super::util::{self, classes, clip, row_total};
use super::{LossFn, Targets};
use crate::kernels;
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct LogLoss;

impl LossFn for LogLoss {
    const NAME: &'static str = "log_loss";
    const CLASSIFIES: bool = true;
    const CLASSES: bool = true;

    fn output<T: Scalar>(self, z: &mut [T], cols: usize) {
        kernels::softmax_rows(z, cols);
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
        let labels = classes(targets);
        if labels.len() * cols != z.len() {
            return f64::NAN;
        }
        self.output(z, cols);
        util::sklearn_rows(z, cols, weights, total, |i, row| {
            let label = labels[i] as usize;
            let term = -clip(row[label]).ln().f64();
            row[label] = row[label] - T::one();
            term
        })
    }

    fn correct<T: Scalar>(self, z: &[T], cols: usize, targets: &Targets<'_, T>) -> Option<usize> {
        Some(util::count_argmax(z, cols, targets))
    }
}
