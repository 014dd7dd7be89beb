//! Softmax and the fused softmax-cross-entropy.

use super::math;
use super::simd::vectorised;
use crate::scalar::Scalar;

vectorised! {
    /// Replaces each row of `z` (rows × cols) by its softmax, shifted by the row max.
    pub fn softmax_rows<T>(z: &mut [T], cols: usize) {
        for row in z.chunks_exact_mut(cols) {
            softmax_in_place(row);
        }
    }
}

/// Softmax of one row in place; returns `log Σ exp(z - max)` and the max, i.e. the pieces of
/// `logsumexp(z)`.
#[inline(always)]
fn softmax_in_place<T: Scalar>(row: &mut [T]) -> (T, T) {
    let max = row.iter().copied().fold(T::neg_infinity(), T::max);
    let mut sum = T::zero();
    for v in row.iter_mut() {
        *v = math::exp(*v - max);
        sum = sum + *v;
    }
    let inv = T::one() / sum;
    for v in row.iter_mut() {
        *v = *v * inv;
    }
    (sum.ln(), max)
}

vectorised! {
    /// For logits `z` (rows × cols) and class indices `labels`, overwrites `z` with
    /// `dL/dz = (softmax(z) - onehot(label)) · scale` and returns `Σ_rows (logsumexp(z) - z[label])`
    /// accumulated in f64. `scale` is `1/batch` for the mean loss.
    pub fn softmax_cross_entropy<T>(z: &mut [T], cols: usize, labels: &[i64], scale: T) -> f64 {
        let mut total = 0.0f64;
        for (row, &label) in z.chunks_exact_mut(cols).zip(labels) {
            let label = label as usize;
            let z_label = row[label];
            let (log_sum, max) = softmax_in_place(row);
            total += (log_sum + max - z_label).f64();
            row[label] = row[label] - T::one();
            for v in row.iter_mut() {
                *v = *v * scale;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one_and_gradient_rows_to_zero() {
        let mut p = vec![1.0f64, 2.0, 3.0, 1000.0, 0.0, -1000.0];
        softmax_rows(&mut p, 3);
        assert!((p[..3].iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(p[3], 1.0);

        let mut z = vec![1.0f64, 2.0, 3.0];
        let loss = softmax_cross_entropy(&mut z, 3, &[0], 1.0);
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        assert!((loss - (lse - 1.0)).abs() < 1e-14);
        assert!(z.iter().sum::<f64>().abs() < 1e-15);
        assert!(z[0] < 0.0);
    }
}
