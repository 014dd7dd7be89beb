//! PyTorch's `CrossEntropyLoss(label_smoothing=ε)` on softmax outputs, class-index targets.
//!
//! A row's loss is `(1-ε)·(-log p_y) + ε/K · Σ_k (-log p_k)`: the cross-entropy against the
//! target distribution `(1-ε)·onehot(y) + ε/K` (PyTorch's definition), whose gradient with
//! respect to the logits is `p - (1-ε)·onehot(y) - ε/K`. With ε = 0 the fused
//! softmax-cross-entropy kernel runs, unchanged.

use super::util::{self, classes, row_total};
use super::{LossFn, Targets};
use crate::kernels::{self, math};
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug)]
pub struct CrossEntropy {
    pub label_smoothing: f64,
}

impl LossFn for CrossEntropy {
    const NAME: &'static str = "cross_entropy";
    const CLASSIFIES: bool = true;
    const CLASSES: bool = true;

    fn params(self) -> Vec<(&'static str, f64)> {
        vec![("label_smoothing", self.label_smoothing)]
    }

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
        let scale = 1.0 / total;
        if self.label_smoothing == 0.0 {
            let Some(w) = weights else {
                return kernels::softmax_cross_entropy(z, cols, labels, T::of(scale));
            };
            let mut sum = 0.0;
            for ((row, label), &wi) in z.chunks_exact_mut(cols).zip(labels.chunks(1)).zip(w) {
                let factor = T::of(wi.f64() * scale);
                sum += wi.f64() * kernels::softmax_cross_entropy(row, cols, label, factor);
            }
            return sum;
        }
        let mut sum = 0.0;
        for (i, (row, &label)) in z.chunks_exact_mut(cols).zip(labels).enumerate() {
            let w = weights.map_or(1.0, |w| w[i].f64());
            sum += w * self.smoothed_row(row, label as usize, T::of(w * scale));
        }
        sum
    }

    fn correct<T: Scalar>(self, z: &[T], cols: usize, targets: &Targets<'_, T>) -> Option<usize> {
        Some(util::count_argmax(z, cols, targets))
    }
}

impl CrossEntropy {
    /// One row with label smoothing: overwrites the logits with `(p - target) · factor` and
    /// returns the row's loss. The softmax is computed as `kernels::softmax_rows` computes it.
    fn smoothed_row<T: Scalar>(self, row: &mut [T], label: usize, factor: T) -> f64 {
        let eps = self.label_smoothing;
        let k = row.len() as f64;
        let z_label = row[label];
        let max = row.iter().copied().fold(T::neg_infinity(), T::max);
        // Σ_k (max - z_k), so that Σ_k -log p_k = K·log Σ e^(z-max) + Σ_k (max - z_k): every
        // term non-negative, no cancellation.
        let mut spread = 0.0f64;
        let mut sum = T::zero();
        for v in row.iter_mut() {
            spread += (max - *v).f64();
            *v = math::exp(*v - max);
            sum = sum + *v;
        }
        let inv = T::one() / sum;
        let log_sum = sum.ln();
        let nll = (log_sum + max - z_label).f64();
        let smooth = k * log_sum.f64() + spread;
        let off = T::of(eps / k);
        let on = T::of(1.0 - eps + eps / k);
        for (j, v) in row.iter_mut().enumerate() {
            let target = if j == label { on } else { off };
            *v = (*v * inv - target) * factor;
        }
        (1.0 - eps) * nll + eps / k * smooth
    }
}
