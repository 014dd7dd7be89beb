//! The epoch metrics beside the loss: accuracy for the losses that classify, mean absolute
//! error and R² for the others. Summed per fixed block of rows (each block's sums in row
//! order, the blocks added in block order), so they do not depend on the number of threads.

use super::Network;
use crate::losses::{Loss, Targets};
use crate::scalar::Scalar;

/// Sums of one block of rows: `[correct, Σ|ŷ - y|, Σ_i (ŷ_ij - y_j)² for each output j]`.
/// [`MetricSums::width`] slots per block.
pub struct MetricSums;

impl MetricSums {
    /// Slots per block for a network with `n_out` outputs.
    pub fn width(n_out: usize) -> usize {
        2 + n_out
    }

    /// Writes the sums of the logits `z` (rows × `n_out`) against `targets` into `slot`
    /// (`width(n_out)` values): the correct count for the losses that classify, else the
    /// absolute and squared errors of the predictions (the loss's output link applied).
    pub fn block<T: Scalar>(
        loss: Loss,
        z: &[T],
        n_out: usize,
        targets: &Targets<'_, T>,
        slot: &mut [f64],
    ) {
        slot.fill(0.0);
        if loss.classifies() {
            slot[0] = loss.correct(z, n_out, targets).unwrap_or(0) as f64;
            return;
        }
        let Targets::Values(y) = targets else { return };
        let (abs, sq) = slot[1..].split_at_mut(1);
        for (row, yrow) in z.chunks_exact(n_out).zip(y.chunks_exact(n_out)) {
            for ((&zj, &yj), s) in row.iter().zip(yrow).zip(sq.iter_mut()) {
                let mut p = [zj];
                loss.output(&mut p, 1);
                let r = p[0].f64() - yj.f64();
                abs[0] += r.abs();
                *s += r * r;
            }
        }
    }
}

/// Epoch totals of [`MetricSums`] blocks, with what R² compares against.
#[derive(Clone, Debug)]
pub struct MetricTotals {
    classifies: bool,
    rows: usize,
    correct: f64,
    abs: f64,
    sq: Vec<f64>,
    /// `Σ_i (y_ij - ȳ_j)²` per output over the rows an epoch visits (all of the data).
    spread: Vec<f64>,
}

/// What an epoch reports beside the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    pub accuracy: Option<f64>,
    pub mae: Option<f64>,
    pub r2: Option<f64>,
}

impl MetricTotals {
    /// Empty totals for `net`'s loss over a dataset with `targets` of `rows` rows (whose
    /// spread R² needs: one pass, two for the mean first).
    pub fn new<T: Scalar>(net: &Network<T>, targets: &Targets<'_, T>, rows: usize) -> Self {
        let n_out = net.n_outputs();
        let classifies = net.loss_kind().classifies();
        let mut spread = vec![0.0; if classifies { 0 } else { n_out }];
        if let (false, Targets::Values(y)) = (classifies, targets) {
            let mut mean = vec![0.0; n_out];
            for row in y.chunks_exact(n_out) {
                mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v.f64());
            }
            mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
            for row in y.chunks_exact(n_out) {
                for ((s, &v), m) in spread.iter_mut().zip(row).zip(&mean) {
                    *s += (v.f64() - m) * (v.f64() - m);
                }
            }
        }
        MetricTotals {
            classifies,
            rows: 0,
            correct: 0.0,
            abs: 0.0,
            sq: vec![0.0; n_out],
            spread,
        }
    }

    /// Back to zero for the next epoch.
    pub fn clear(&mut self) {
        self.rows = 0;
        self.correct = 0.0;
        self.abs = 0.0;
        self.sq.fill(0.0);
    }

    /// Adds `blocks` (consecutive [`MetricSums`] slots, in block order) covering `rows` rows.
    pub fn add(&mut self, blocks: &[f64], rows: usize) {
        self.rows += rows;
        for slot in blocks.chunks_exact(MetricSums::width(self.sq.len())) {
            self.correct += slot[0];
            self.abs += slot[1];
            self.sq
                .iter_mut()
                .zip(&slot[2..])
                .for_each(|(s, v)| *s += v);
        }
    }

    /// Accuracy, or MAE and R² (scikit-learn's `r2_score`, outputs averaged uniformly; an
    /// output without spread scores 1 when predicted exactly, else 0).
    pub fn metrics(&self) -> Metrics {
        let n = self.rows.max(1) as f64;
        if self.classifies {
            return Metrics {
                accuracy: Some(self.correct / n),
                ..Metrics::default()
            };
        }
        let k = self.sq.len().max(1) as f64;
        let r2 = self
            .sq
            .iter()
            .zip(&self.spread)
            .map(|(&res, &tot)| match (tot > 0.0, res > 0.0) {
                (true, _) => 1.0 - res / tot,
                (false, false) => 1.0,
                (false, true) => 0.0,
            })
            .sum::<f64>()
            / k;
        Metrics {
            accuracy: None,
            mae: Some(self.abs / (n * k)),
            r2: Some(r2),
        }
    }
}
