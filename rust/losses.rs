//! Losses, each fused with the output activation it implies (PyTorch's definitions, mean
//! reduction): softmax + cross-entropy, sigmoid + binary cross-entropy, identity + MSE.

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
            _ => Err(Error::value(format!(
                "loss: unknown name {name:?}; expected 'cross_entropy', \
                 'binary_cross_entropy' or 'mse'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross_entropy",
            Loss::BinaryCrossEntropy => "binary_cross_entropy",
            Loss::Mse => "mse",
        }
    }

    /// Whether the targets are class indices.
    pub fn wants_classes(self) -> bool {
        self == Loss::CrossEntropy
    }

    /// Checks that `targets` fit `rows` samples of a network with `n_out` outputs.
    pub fn validate<T: Scalar>(
        self,
        targets: &Targets<'_, T>,
        rows: usize,
        n_out: usize,
    ) -> Result<()> {
        match (self, targets) {
            (Loss::CrossEntropy, Targets::Classes(c)) => {
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
            (Loss::BinaryCrossEntropy | Loss::Mse, Targets::Values(v)) => {
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
                if self == Loss::BinaryCrossEntropy {
                    if let Some(i) = v.iter().position(|&x| x < T::zero() || x > T::one()) {
                        return Err(Error::value(format!(
                            "y: binary_cross_entropy targets must lie in [0, 1]; flat index {i} \
                             holds {:?}",
                            v[i]
                        )));
                    }
                }
                Ok(())
            }
            (Loss::CrossEntropy, Targets::Values(_)) => Err(Error::value(
                "y: cross_entropy expects integer class indices of shape (n,)",
            )),
            (_, Targets::Classes(_)) => Err(Error::value(format!(
                "y: {} expects float targets of shape (n, {n_out})",
                self.name()
            ))),
        }
    }

    /// Applies the output activation to logits `z` (rows × cols) in place.
    pub fn output<T: Scalar>(self, z: &mut [T], cols: usize) {
        match self {
            Loss::CrossEntropy => kernels::softmax_rows(z, cols),
            Loss::BinaryCrossEntropy => z.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Loss::Mse => {}
        }
    }

    /// How many terms the mean loss averages over for `rows` samples of `cols` outputs.
    pub fn count(self, rows: usize, cols: usize) -> usize {
        match self {
            Loss::CrossEntropy => rows,
            Loss::BinaryCrossEntropy | Loss::Mse => rows * cols,
        }
    }

    /// Overwrites logits `z` (rows × cols) with `d(loss)/dz · (count / total)` — the gradient
    /// of the mean over `total` terms — and returns the loss summed over this block's terms.
    pub fn sum_and_grad<T: Scalar>(
        self,
        z: &mut [T],
        cols: usize,
        targets: &Targets<'_, T>,
        total: usize,
    ) -> f64 {
        let scale = T::of(1.0 / total as f64);
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

    /// Counts correct predictions from logits: argmax = label (cross-entropy), every output on
    /// the right side of 0.5 (binary cross-entropy, subset accuracy). None for MSE.
    pub fn correct<T: Scalar>(
        self,
        z: &[T],
        cols: usize,
        targets: &Targets<'_, T>,
    ) -> Option<usize> {
        match (self, targets) {
            (Loss::CrossEntropy, Targets::Classes(c)) => Some(
                z.chunks_exact(cols)
                    .zip(c.iter())
                    .filter(|(row, &label)| argmax(row) == label as usize)
                    .count(),
            ),
            (Loss::BinaryCrossEntropy, Targets::Values(y)) => Some(
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
        let s = Loss::BinaryCrossEntropy.sum_and_grad(&mut z, 2, &Targets::Values(&y), 2);
        let naive = -(sigmoid(0.3f64).ln()) - (1.0 - sigmoid(-1.2f64)).ln();
        assert!((s - naive).abs() < 1e-14);

        let mut z = vec![3.0f64];
        let s = Loss::Mse.sum_and_grad(&mut z, 1, &Targets::Values(&[1.0]), 1);
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
