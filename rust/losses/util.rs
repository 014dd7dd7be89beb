//! What several losses share: the reductions (PyTorch's per-element and per-row means,
//! scikit-learn's weighted rows), target checks, accuracy counts and small math helpers.

use super::Targets;
use crate::error::{Error, Result};
use crate::scalar::Scalar;

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

/// `x · ln(y)`, defined as 0 where `x` is 0 (scipy's `xlogy`).
pub(super) fn xlogy<T: Scalar>(x: T, y: T) -> T {
    if x == T::zero() {
        T::zero()
    } else {
        x * y.ln()
    }
}

/// scikit-learn's clipping of probabilities to `[eps, 1 - eps]` inside its logs.
pub(super) fn clip<T: Scalar>(p: T) -> T {
    p.max(T::epsilon()).min(T::one() - T::epsilon())
}

/// What a per-element mean divides by: `rows · cols` terms, or `cols · Σw`.
pub(super) fn element_total(rows: usize, cols: usize, weight_sum: Option<f64>) -> f64 {
    weight_sum.map_or((rows * cols) as f64, |s| s * cols as f64)
}

/// What a per-row mean divides by: `rows`, or `Σw`.
pub(super) fn row_total(rows: usize, weight_sum: Option<f64>) -> f64 {
    weight_sum.unwrap_or(rows as f64)
}

/// The float targets, which [`super::Loss::validate`] has checked a value loss is given.
pub(super) fn values<'a, T>(targets: &Targets<'a, T>) -> &'a [T] {
    match *targets {
        Targets::Values(v) => v,
        Targets::Classes(_) => &[],
    }
}

/// The class indices, which [`super::Loss::validate`] has checked a class loss is given.
pub(super) fn classes<'a, T>(targets: &Targets<'a, T>) -> &'a [i64] {
    match *targets {
        Targets::Classes(c) => c,
        Targets::Values(_) => &[],
    }
}

/// A PyTorch per-element mean: `term(z, y, factor)` gives an element's loss (in f64) and its
/// gradient already multiplied by `factor`, which is `1/total` times the row's weight. Without
/// weights the terms are summed in element order; with them, each row's sum is weighted.
/// Returns NaN for targets of the wrong size (which validation rules out).
pub(super) fn elementwise<T: Scalar>(
    z: &mut [T],
    cols: usize,
    targets: &Targets<'_, T>,
    weights: Option<&[T]>,
    total: f64,
    term: impl Fn(T, T, T) -> (f64, T),
) -> f64 {
    let y = values(targets);
    if y.len() != z.len() {
        return f64::NAN;
    }
    let mut sum = 0.0;
    match weights {
        None => {
            let scale = T::of(1.0 / total);
            for (zi, &yi) in z.iter_mut().zip(y) {
                let (value, grad) = term(*zi, yi, scale);
                sum += value;
                *zi = grad;
            }
        }
        Some(w) => {
            let scale = 1.0 / total;
            for ((zr, yr), &wi) in z.chunks_exact_mut(cols).zip(y.chunks_exact(cols)).zip(w) {
                let factor = T::of(wi.f64() * scale);
                let mut row = 0.0;
                for (zi, &yi) in zr.iter_mut().zip(yr) {
                    let (value, grad) = term(*zi, yi, factor);
                    row += value;
                    *zi = grad;
                }
                sum += wi.f64() * row;
            }
        }
    }
    sum
}

/// scikit-learn's reduction over the rows of the outputs `p` (the link already applied):
/// `row_term(i, row)` returns row `i`'s loss and leaves `output - y` in it, which is then
/// scaled by `w_i / total`. Returns `Σ_i w_i · term_i`.
pub(super) fn sklearn_rows<T: Scalar>(
    p: &mut [T],
    cols: usize,
    weights: Option<&[T]>,
    total: f64,
    mut row_term: impl FnMut(usize, &mut [T]) -> f64,
) -> f64 {
    let scale = 1.0 / total;
    let mut sum = 0.0;
    for (i, row) in p.chunks_exact_mut(cols).enumerate() {
        let w = weights.map_or(T::one(), |w| w[i]);
        let factor = T::of(w.f64() * scale);
        let term = row_term(i, row);
        sum += w.f64() * term;
        row.iter_mut().for_each(|v| *v = *v * factor);
    }
    sum
}

/// scikit-learn's value losses: the loss of a row is `Σ_j term(p_j, y_j)` and its residual
/// `p - y`. Returns NaN for targets of the wrong size (which validation rules out).
pub(super) fn sklearn_values<T: Scalar>(
    p: &mut [T],
    cols: usize,
    targets: &Targets<'_, T>,
    weights: Option<&[T]>,
    total: f64,
    term: impl Fn(T, T) -> f64,
) -> f64 {
    let y = values(targets);
    if y.len() != p.len() {
        return f64::NAN;
    }
    sklearn_rows(p, cols, weights, total, |i, row| {
        let mut sum = 0.0;
        for (pi, &yi) in row.iter_mut().zip(&y[i * cols..(i + 1) * cols]) {
            sum += term(*pi, yi);
            *pi = *pi - yi;
        }
        sum
    })
}

/// Rows whose argmax is their label.
pub(super) fn count_argmax<T: Scalar>(z: &[T], cols: usize, targets: &Targets<'_, T>) -> usize {
    z.chunks_exact(cols)
        .zip(classes(targets))
        .filter(|(row, &label)| argmax(row) == label as usize)
        .count()
}

/// Rows whose every logit is on the side of 0 that its target is of 0.5 (subset accuracy).
pub(super) fn count_subset<T: Scalar>(z: &[T], cols: usize, targets: &Targets<'_, T>) -> usize {
    z.chunks_exact(cols)
        .zip(values(targets).chunks_exact(cols))
        .filter(|(zr, yr)| {
            zr.iter()
                .zip(yr.iter())
                .all(|(&zi, &yi)| (zi > T::zero()) == (yi > T::of(0.5)))
        })
        .count()
}

/// Checks class indices: one per row, each in `0..n_out`.
pub(super) fn check_classes(c: &[i64], rows: usize, n_out: usize) -> Result<()> {
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

/// Checks the targets of loss `name` lie in [0, 1].
pub(super) fn check_unit_interval<T: Scalar>(name: &str, y: &[T]) -> Result<()> {
    if let Some(i) = y.iter().position(|&x| x < T::zero() || x > T::one()) {
        return Err(Error::value(format!(
            "y: {name} targets must lie in [0, 1]; flat index {i} holds {:?}",
            y[i]
        )));
    }
    Ok(())
}

/// The parameters given for loss `loss`, taken one by one; [`Self::finish`] refuses any left.
pub(super) struct Params<'a> {
    loss: &'a str,
    given: Vec<Option<(&'a str, f64)>>,
}

impl<'a> Params<'a> {
    pub(super) fn new(loss: &'a str, given: &[(&'a str, f64)]) -> Self {
        Params {
            loss,
            given: given.iter().copied().map(Some).collect(),
        }
    }

    /// The value given for `name` (the last, if repeated), or `default`.
    pub(super) fn take(&mut self, name: &str, default: f64) -> f64 {
        let mut value = default;
        for slot in &mut self.given {
            if let Some((n, v)) = *slot {
                if n == name {
                    value = v;
                    *slot = None;
                }
            }
        }
        value
    }

    /// An error naming the first parameter the loss does not have.
    pub(super) fn finish(self) -> Result<()> {
        match self.given.into_iter().flatten().next() {
            Some((name, _)) => Err(Error::value(format!(
                "{name}: the {} loss has no parameter {name:?}",
                self.loss
            ))),
            None => Ok(()),
        }
    }
}
