//! Losses, each fused with the output activation (link) it implies: one file per loss behind
//! one trait, [`LossFn`], and the closed enum [`Loss`] that the engine holds and dispatches
//! through statically (one `match`, in [`dispatch!`]). Two families:
//!
//! - PyTorch's definitions (`reduction="mean"`): softmax + cross-entropy (with optional label
//!   smoothing), sigmoid + binary cross-entropy, and identity + MSE, Huber, L1.
//! - scikit-learn's (`sklearn.neural_network._base`): softmax + `log_loss`, logistic +
//!   `binary_log_loss`, identity + halved `squared_error`, exp + halved `poisson` deviance. Their
//!   values are computed exactly as scikit-learn computes them (probabilities clipped to
//!   `[eps, 1 - eps]` in the log losses), and every one has the canonical-link gradient
//!   `dL/dz = (output - y) · w / Σw`.
//!
//! Every loss takes per-sample weights `w_i`. The weighted mean reduces to the unweighted one
//! when every weight is 1:
//!
//! - per-element means (binary_cross_entropy, mse, huber, l1):
//!   `Σ_i w_i Σ_j l_ij / (k · Σ_i w_i)` over `k` outputs (unweighted: over all `n·k` elements);
//! - cross_entropy: `Σ_i w_i l_i / Σ_i w_i` (unweighted: over the `n` rows);
//! - scikit-learn's losses: `Σ_i w_i l_i / Σ_i w_i`, as scikit-learn weighs them.
//!
//! Adding a loss: a file with a type implementing [`LossFn`], a variant of [`Loss`], a line in
//! [`dispatch!`] and one in [`Loss::with_params`].

mod binary_cross_entropy;
mod binary_log_loss;
mod cross_entropy;
mod huber;
mod l1;
mod log_loss;
mod mse;
mod poisson;
mod squared_error;
#[cfg(test)]
mod tests;
mod util;

use crate::error::{Error, Result};
use crate::kernels;
use crate::scalar::Scalar;
pub use util::argmax;

/// One loss: its output link, its per-element or per-row term with the gradient, its
/// reduction, its target checks and its accuracy. Implemented by one type per file; the
/// engine reaches it through [`Loss`].
pub trait LossFn: Copy {
    /// The name [`Loss::parse`] takes and model files store.
    const NAME: &'static str;
    /// Whether the targets are class indices (else `rows × cols` floats).
    const CLASSES: bool = false;
    /// Whether the loss classifies: [`LossFn::correct`] counts, and accuracy is its metric.
    const CLASSIFIES: bool = false;

    /// The parameters and their values, in constructor order (empty for most losses).
    fn params(self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Applies the output link to logits `z` (rows × cols) in place.
    fn output<T: Scalar>(self, z: &mut [T], cols: usize);

    /// Checks float targets beyond shape and finiteness (ranges); errors name `y`.
    fn check_values<T: Scalar>(self, _y: &[T]) -> Result<()> {
        Ok(())
    }

    /// What the mean loss of `rows` samples with `cols` outputs divides by; `weight_sum` is
    /// the sum of the sample weights when there are any.
    fn total(self, rows: usize, cols: usize, weight_sum: Option<f64>) -> f64;

    /// Overwrites logits `z` (rows × cols) with the gradient of the mean loss over `total`
    /// and returns this block's loss summed (weighted by `weights`, one per row) over its
    /// terms. The targets have passed [`Loss::validate`].
    fn sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        weights: Option<&[T]>,
        total: f64,
    ) -> f64;

    /// Correct predictions among the rows of logits `z`, for the losses that classify.
    fn correct<T: Scalar>(
        self,
        _z: &[T],
        _cols: usize,
        _targets: &Targets<'_, T>,
    ) -> Option<usize> {
        None
    }
}

/// A loss and its parameters. `Copy`, so a network holds it by value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Softmax output; targets are class indices; mean over samples. `label_smoothing` ε
    /// mixes the one-hot target with the uniform one: `(1-ε)·onehot + ε/K` (PyTorch's).
    CrossEntropy { label_smoothing: f64 },
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
    /// Identity output; PyTorch's `HuberLoss(delta)`: `½r²` for `|r| < delta`, else
    /// `delta·(|r| - ½delta)`; mean over all elements.
    Huber { delta: f64 },
    /// Identity output; PyTorch's `L1Loss`: mean absolute error over all elements.
    L1,
}

/// Runs `$body` with `$l` bound to the [`LossFn`] value that `$loss` stands for.
macro_rules! dispatch {
    ($loss:expr, $l:ident => $body:expr) => {
        match $loss {
            Loss::CrossEntropy { label_smoothing } => {
                let $l = cross_entropy::CrossEntropy { label_smoothing };
                $body
            }
            Loss::BinaryCrossEntropy => {
                let $l = binary_cross_entropy::BinaryCrossEntropy;
                $body
            }
            Loss::Mse => {
                let $l = mse::Mse;
                $body
            }
            Loss::LogLoss => {
                let $l = log_loss::LogLoss;
                $body
            }
            Loss::BinaryLogLoss => {
                let $l = binary_log_loss::BinaryLogLoss;
                $body
            }
            Loss::SquaredError => {
                let $l = squared_error::SquaredError;
                $body
            }
            Loss::Poisson => {
                let $l = poisson::Poisson;
                $body
            }
            Loss::Huber { delta } => {
                let $l = huber::Huber { delta };
                $body
            }
            Loss::L1 => {
                let $l = l1::L1;
                $body
            }
        }
    };
}

/// Every loss name, in the order of [`Loss`]'s variants (Python's `_core.LOSSES`).
pub const NAMES: [&str; 9] = [
    cross_entropy::CrossEntropy::NAME,
    binary_cross_entropy::BinaryCrossEntropy::NAME,
    mse::Mse::NAME,
    log_loss::LogLoss::NAME,
    binary_log_loss::BinaryLogLoss::NAME,
    squared_error::SquaredError::NAME,
    poisson::Poisson::NAME,
    huber::Huber::NAME,
    l1::L1::NAME,
];

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
    /// PyTorch's cross-entropy without label smoothing (its default).
    pub const CROSS_ENTROPY: Loss = Loss::CrossEntropy {
        label_smoothing: 0.0,
    };
    /// PyTorch's Huber loss with its default `delta = 1`.
    pub const HUBER: Loss = Loss::Huber { delta: 1.0 };

    /// The loss called `name`, with its default parameters.
    pub fn parse(name: &str) -> Result<Self> {
        Self::with_params(name, &[])
    }

    /// The loss called `name` with the parameters `params` (name, value) set and the others at
    /// their defaults. Unknown names, unknown parameters and values out of range are errors
    /// naming them.
    pub fn with_params(name: &str, params: &[(&str, f64)]) -> Result<Self> {
        let mut given = util::Params::new(name, params);
        let loss = match name {
            "cross_entropy" => Loss::cross_entropy(given.take("label_smoothing", 0.0))?,
            "binary_cross_entropy" => Loss::BinaryCrossEntropy,
            "mse" => Loss::Mse,
            "log_loss" => Loss::LogLoss,
            "binary_log_loss" => Loss::BinaryLogLoss,
            "squared_error" => Loss::SquaredError,
            "poisson" => Loss::Poisson,
            "huber" => Loss::huber(given.take("delta", 1.0))?,
            "l1" => Loss::L1,
            _ => {
                let names = NAMES.map(|n| format!("'{n}'")).join(", ");
                return Err(Error::value(format!(
                    "loss: unknown name {name:?}; expected one of {names}"
                )));
            }
        };
        given.finish()?;
        Ok(loss)
    }

    /// Cross-entropy with label smoothing `label_smoothing` in [0, 1] (0: plain).
    pub fn cross_entropy(label_smoothing: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&label_smoothing) {
            return Err(Error::value(format!(
                "label_smoothing: expected a number in [0, 1], got {label_smoothing}"
            )));
        }
        Ok(Loss::CrossEntropy { label_smoothing })
    }

    /// The Huber loss with threshold `delta`, positive and finite (PyTorch refuses `delta <= 0`).
    pub fn huber(delta: f64) -> Result<Self> {
        if !(delta.is_finite() && delta > 0.0) {
            return Err(Error::value(format!(
                "delta: expected a positive finite number, got {delta}"
            )));
        }
        Ok(Loss::Huber { delta })
    }

    pub fn name(self) -> &'static str {
        fn name_of<L: LossFn>(_: L) -> &'static str {
            L::NAME
        }
        dispatch!(self, l => name_of(l))
    }

    /// The parameters and their values, in constructor order (empty for most losses).
    pub fn params(self) -> Vec<(&'static str, f64)> {
        dispatch!(self, l => l.params())
    }

    /// Whether the targets are class indices.
    /// Whether the loss classifies (accuracy is its metric; else MAE and R²).
    pub fn classifies(self) -> bool {
        fn classifies<L: LossFn>(_: L) -> bool {
            L::CLASSIFIES
        }
        dispatch!(self, l => classifies(l))
    }

    pub fn wants_classes(self) -> bool {
        fn classes<L: LossFn>(_: L) -> bool {
            L::CLASSES
        }
        dispatch!(self, l => classes(l))
    }

    /// Whether this is one of scikit-learn's losses (the ones `ferroprop.sklearn` uses, with
    /// its L2 term).
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
        match (self.wants_classes(), targets) {
            (true, Targets::Classes(c)) => util::check_classes(c, rows, n_out),
            (false, Targets::Values(v)) => {
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
                dispatch!(self, l => l.check_values(v))
            }
            (true, Targets::Values(_)) => Err(Error::value(format!(
                "y: {} expects integer class indices of shape (n,)",
                self.name()
            ))),
            (false, Targets::Classes(_)) => Err(Error::value(format!(
                "y: {} expects float targets of shape (n, {n_out})",
                self.name()
            ))),
        }
    }

    /// Applies the output activation to logits `z` (rows × cols) in place.
    pub fn output<T: Scalar>(self, z: &mut [T], cols: usize) {
        dispatch!(self, l => l.output(z, cols))
    }

    /// What the mean loss of `rows` samples with `cols` outputs divides by: the number of
    /// terms without weights; with weights, their sum (times `cols` for the per-element
    /// means). See the module's documentation.
    pub fn total<T: Scalar>(self, rows: usize, cols: usize, weights: Option<&[T]>) -> f64 {
        let weight_sum = weights.map(|w| w.iter().map(|v| v.f64()).sum());
        self.total_of(rows, cols, weight_sum)
    }

    /// [`Self::total`] given the sum of the weights (summed by the caller, in its order).
    pub fn total_of(self, rows: usize, cols: usize, weight_sum: Option<f64>) -> f64 {
        dispatch!(self, l => l.total(rows, cols, weight_sum))
    }

    /// Overwrites logits `z` (rows × cols) with the gradient of the mean loss over `total`
    /// (see [`Self::total`]) and returns this block's loss summed (weighted by `weights`, one
    /// per row) over its terms.
    pub fn sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        weights: Option<&[T]>,
        total: f64,
    ) -> f64 {
        dispatch!(self, l => l.sum_and_grad(z, cols, targets, weights, total))
    }

    /// Counts correct predictions from logits: argmax = label (the softmax losses), every
    /// output on the right side of 0.5 (the sigmoid ones, subset accuracy). None for
    /// regression losses.
    pub fn correct<T: Scalar>(
        self,
        z: &[T],
        cols: usize,
        targets: &Targets<'_, T>,
    ) -> Option<usize> {
        dispatch!(self, l => l.correct(z, cols, targets))
    }
}
