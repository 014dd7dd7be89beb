//! Losses, each fused with the output activation it implies. Two families:
//!
//! - PyTorch's definitions (mean reduction): softmax + cross-entropy, sigmoid + binary
//!   cross-entropy, identity + MSE.
//! - scikit-learn's (`sklearn.neural_network._base`): softmax + `log_loss`, logistic +
//!   `binary_log_loss`, identity + halved `squared_error`, exp + halved `poisson` deviance. Their
//!   values are computed exactly as scikit-learn computes them (probabilities clipped to
//!   `[eps, 1 - eps]` in the log losses), they take per-sample weights, and every one has the
//!   canonical-link gradient `dL/dz = (output - y) · w / Σw`.

use crate::activations::sigmoid;
use crate::error::{Error, Result};
use crate::kernels;
use crate::scalar::Scalar;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax output; targets are class indices; mean over samples.
    CrossEntropy,
    /// Sigmoid output; multi-label targets in [0, 1]; from logits; mean over all elements.
    BinaryCrossEntropy,
    /// Identity output; mean of squared errors over all elements (not halved).
    Mse,
    /// scikit-learn's `log_loss`: softmax output; targets are class indices.
    LogLoss,
    /// scikit-learn's `binary_log_loss`: logistic outputs, targets in [0, 1], summed over outputs.
    BinaryLogLoss,
    /// scikit-learn's `squared_error`: identity output; half the squared error, averaged over
    /// outputs (its gradient, as scikit-learn computes it, is that of the sum over outputs).
    SquaredError,
    /// scikit-learn's `poisson`: exp output; half the Poisson deviance, summed over outputs.
    Poisson,
}

/// Training targets for `rows` samples.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// One class index per sample (cross-entropy).
    Classes(&'a [i64]),
    /// `rows × n_out` values, row-major (binary cross-entropy, MSE).
    Values(&'a [T]),
}

impl<T> Targets<'_, T> {
    /// The rows `start..end` as a view.
    pub fn slice(&self, start: usize, end: usize, cols: usize) -> Targets<'_, T> {
        match *self {
            Targets::Classes(c) => Targets::Classes(&c[start..end]),
            Targets::Values(v) => Targets::Values(&v[start * cols..end * cols]),
        }
    }
}

impl Loss {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cross_entropy" => Ok(Loss::CrossEntropy),
            "binary_cross_entropy" => Ok(Loss::BinaryCrossEntropy),
            "mse" => Ok(Loss::Mse),
            "log_loss" => Ok(Loss::LogLoss),
            "binary_log_loss" => Ok(Loss::BinaryLogLoss),
            "squared_error" => Ok(Loss::SquaredError),
            "poisson" => Ok(Loss::Poisson),
            _ => Err(Error::value(format!(
                "loss: unknown name {name:?}; expected 'cross_entropy', \
                 'binary_cross_entropy', 'mse' or scikit-learn's 'log_loss', \
                 'binary_log_loss', 'squared_error', 'poisson'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross_entropy",
            Loss::BinaryCrossEntropy => "binary_cross_entropy",
            Loss::Mse => "mse",
            Loss::LogLoss => "log_loss",
            Loss::BinaryLogLoss => "binary_log_loss",
            Loss::SquaredError => "squared_error",
            Loss::Poisson => "poisson",
        }
    }

    /// Whether the targets are class indices.
    pub fn wants_classes(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::LogLoss)
    }

    /// Whether this is one of scikit-learn's losses (which take sample weights).
    pub fn is_sklearn(self) -> bool {
        matches!(
            self,
            Loss::LogLoss | Loss::BinaryLogLoss | Loss::SquaredError | Loss::Poisson
        )
    }

    /// Checks that `targets` fit `rows` samples of a network with `n_out` outputs.
    pub fn validate<T: Scalar>(
        self,
        targets: &Targets<'_, T>,
        rows: usize,
        n_out: usize,
    ) -> Result<()> {
        match (self, targets) {
            (Loss::CrossEntropy | Loss::LogLoss, Targets::Classes(c)) => {
                if c.len() != rows {
                    return Err(Error::value(format!(
                        "y: expected {rows} labels (one per row of X), got {}",
                        c.len()
                    )));
                }
                if let Some((i, &bad)) = c
                    .iter()
                    .enumerate()
                    .find(|&(_, &v)| v < 0 || v as u64 >= n_out as u64)
                {
                    return Err(Error::value(format!(
                        "y: class index {bad} at position {i} is out of range; expected \
                         0 <= y < {n_out} (the network's output width)"
                    )));
                }
                Ok(())
            }
            (_, Targets::Values(v)) if !self.wants_classes() => {
                if v.len() != rows * n_out {
                    return Err(Error::value(format!(
                        "y: expected shape ({rows}, {n_out}) (rows of X, network outputs), \
                         got {} values",
                        v.len()
                    )));
                }
                if let Some(i) = (!kernels::all_finite(v))
                    .then(|| v.iter().position(|x| !x.is_finite()))
                    .flatten()
                {
                    return Err(Error::value(format!(
                        "y: contains a non-finite value (NaN or inf) at flat index {i}"
                    )));
                }
                if matches!(self, Loss::BinaryCrossEntropy | Loss::BinaryLogLoss) {
                    if let Some(i) = v.iter().position(|&x| x < T::zero() || x > T::one()) {
                        return Err(Error::value(format!(
                            "y: {} targets must lie in [0, 1]; flat index {i} holds {:?}",
                            self.name(),
                            v[i]
                        )));
                    }
                }
                if self == Loss::Poisson {
                    if let Some(i) = v.iter().position(|&x| x < T::zero()) {
                        return Err(Error::value(format!(
                            "y: poisson targets must be >= 0; flat index {i} holds {:?}",
                            v[i]
                        )));
                    }
                }
                Ok(())
            }
            (_, Targets::Values(_)) => Err(Error::value(format!(
                "y: {} expects integer class indices of shape (n,)",
                self.name()
            ))),
            (_, Targets::Classes(_)) => Err(Error::value(format!(
                "y: {} expects float targets of shape (n, {n_out})",
                self.name()
            ))),
        }
    }

    /// Applies the output activation to logits `z` (rows × cols) in place.
    pub fn output<T: Scalar>(self, z: &mut [T], cols: usize) {
        match self {
            Loss::CrossEntropy | Loss::LogLoss => kernels::softmax_rows(z, cols),
            Loss::BinaryCrossEntropy | Loss::BinaryLogLoss => {
                z.iter_mut().for_each(|v| *v = sigmoid(*v))
            }
            Loss::Mse | Loss::SquaredError => {}
            Loss::Poisson => z.iter_mut().for_each(|v| *v = v.exp()),
        }
    }

    /// What the mean loss of `rows` samples with `cols` outputs divides by: the number of
    /// terms (PyTorch's losses), or the sum of the sample weights — `rows` without weights —
    /// (scikit-learn's).
    pub fn total<T: Scalar>(self, rows: usize, cols: usize, weights: Option<&[T]>) -> f64 {
        match self {
            Loss::CrossEntropy => rows as f64,
            Loss::BinaryCrossEntropy | Loss::Mse => (rows * cols) as f64,
            _ => weights.map_or(rows as f64, |w| w.iter().map(|v| v.f64()).sum()),
        }
    }

    /// Overwrites logits `z` (rows × cols) with the gradient of the mean loss over `total`
    /// (see [`Self::total`]) and returns this block's loss summed (weighted) over its terms.
    /// `weights` (one per row) are only given for scikit-learn's losses.
    pub fn sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        weights: Option<&[T]>,
        total: f64,
    ) -> f64 {
        if self.is_sklearn() {
            return self.sklearn_sum_and_grad(z, cols, targets, weights, total);
        }
        let scale = T::of(1.0 / total);
        match (self, targets) {
            (Loss::CrossEntropy, Targets::Classes(c)) => {
                kernels::softmax_cross_entropy(z, cols, c, scale)
            }
            (Loss::BinaryCrossEntropy, Targets::Values(y)) => {
                let mut sum = 0.0;
                for (zi, &yi) in z.iter_mut().zip(y.iter()) {
                    let x = *zi;
                    // max(x, 0) - x·y + log(1 + e^-|x|): BCE from logits without overflow.
                    let term = x.max(T::zero()) - x * yi + (-x.abs()).exp().ln_1p();
                    sum += term.f64();
                    *zi = (sigmoid(x) - yi) * scale;
                }
                sum
            }
            (Loss::Mse, Targets::Values(y)) => {
                let mut sum = 0.0;
                let two_scale = T::of(2.0) * scale;
                for (zi, &yi) in z.iter_mut().zip(y.iter()) {
                    let r = *zi - yi;
                    sum += (r * r).f64();
                    *zi = r * two_scale;
                }
                sum
            }
            // `validate` rules these out before any kernel runs.
            _ => f64::NAN,
        }
    }

    /// scikit-learn's losses: `output - y` scaled by `w / total` for the gradient, and the
    /// value as `sklearn.neural_network._base` computes it.
    fn sklearn_sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        weights: Option<&[T]>,
        total: f64,
    ) -> f64 {
        self.output(z, cols);
        let scale = 1.0 / total;
        // scikit-learn clips probabilities to [eps, 1 - eps] inside the logs (not the gradient).
        let clip = |p: T| p.max(T::epsilon()).min(T::one() - T::epsilon());
        let mut sum = 0.0;
        for (i, row) in z.chunks_exact_mut(cols).enumerate() {
            let w = weights.map_or(T::one(), |w| w[i]);
            let factor = T::of(w.f64() * scale);
            let mut term = 0.0;
            match (self, targets) {
                (Loss::LogLoss, Targets::Classes(c)) => {
                    let label = c[i] as usize;
                    term = -clip(row[label]).ln().f64();
                    row[label] = row[label] - T::one();
                }
                (_, Targets::Values(y)) => {
                    for (p, &yi) in row.iter_mut().zip(&y[i * cols..(i + 1) * cols]) {
                        term += match self {
                            Loss::BinaryLogLoss => -(xlogy(yi, clip(*p))
                                + xlogy(T::one() - yi, T::one() - clip(*p)))
                            .f64(),
                            Loss::SquaredError => 0.5 * ((yi - *p) * (yi - *p)).f64() / cols as f64,
                            _ => (xlogy(yi, yi / *p) - yi + *p).f64(),
                        };
                        *p = *p - yi;
                    }
                }
                // `validate` rules this out before any kernel runs.
                _ => return f64::NAN,
            }
            sum += w.f64() * term;
            row.iter_mut().for_each(|v| *v = *v * factor);
        }
        sum
    }

    /// Counts correct predictions from logits: argmax = label (cross-entropy), every output on
    /// the right side of 0.5 (binary cross-entropy, subset accuracy). None for MSE.
    pub fn correct<T: Scalar>(
        self,
        z: &[T],
        cols: usize,
        targets: &Targets<'_, T>,
    ) -> Option<usize> {
        match (self, targets) {
            (Loss::CrossEntropy | Loss::LogLoss, Targets::Classes(c)) => Some(
                z.chunks_exact(cols)
                    .zip(c.iter())
                    .filter(|(row, &label)| argmax(row) == label as usize)
                    .count(),
            ),
            (Loss::BinaryCrossEntropy | Loss::BinaryLogLoss, Targets::Values(y)) => Some(
                z.chunks_exact(cols)
                    .zip(y.chunks_exact(cols))
                    .filter(|(zr, yr)| {
                        zr.iter()
                            .zip(yr.iter())
                            .all(|(&zi, &yi)| (zi > T::zero()) == (yi > T::of(0.5)))
                    })
                    .count(),
            ),
            _ => None,
        }
    }
}

/// `x · ln(y)`, defined as 0 where `x` is 0 (scipy's `xlogy`).
fn xlogy<T: Scalar>(x: T, y: T) -> T {
    if x == T::zero() {
        T::zero()
    } else {
        x * y.ln()
    }
}

/// Index of the first maximum of a row.
pub fn argmax<T: Scalar>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_naive_formula_and_mse_is_not_halved() {
        let mut z = vec![0.3f64, -1.2];
        let y = [1.0, 0.0];
        let s = Loss::BinaryCrossEntropy.sum_and_grad(&mut z, 2, &Targets::Values(&y), None, 2.0);
        let naive = -(sigmoid(0.3f64).ln()) - (1.0 - sigmoid(-1.2f64)).ln();
        assert!((s - naive).abs() < 1e-14);

        let mut z = vec![3.0f64];
        let s = Loss::Mse.sum_and_grad(&mut z, 1, &Targets::Values(&[1.0]), None, 1.0);
        assert_eq!(s, 4.0);
        assert_eq!(z[0], 4.0);
    }

    #[test]
    fn validation_names_the_problem() {
        let labels = [0i64, 3];
        let err = Loss::CrossEntropy
            .validate::<f64>(&Targets::Classes(&labels), 2, 3)
            .unwrap_err();
        assert!(err.to_string().contains("out of range"));
        let y = [0.5f64, 2.0];
        assert!(Loss::BinaryCrossEntropy
            .validate(&Targets::Values(&y), 1, 2)
            .is_err());
        assert!(Loss::Mse.validate(&Targets::Values(&y), 1, 2).is_ok());
    }
}
