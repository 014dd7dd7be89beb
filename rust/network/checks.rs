//! Validation of what a network is given: shapes, finiteness, targets, sample weights.

use super::Network;
use crate::error::{Error, Result};
use crate::kernels;
use crate::losses::Targets;
use crate::scalar::Scalar;

impl<T: Scalar> Network<T> {
    /// Checks `x` holds `rows` (possibly 0) finite rows of `n_inputs` features.
    pub fn check_inputs(&self, x: &[T], rows: usize, cols: usize) -> Result<()> {
        self.check_inputs_shape(x, rows, cols)?;
        // The vectorised scan first; the position only when there is something to report.
        if let Some(i) = (!kernels::all_finite(x))
            .then(|| x.iter().position(|v| !v.is_finite()))
            .flatten()
        {
            return Err(Error::value(format!(
                "X: contains a non-finite value (NaN or inf) at row {}, column {}",
                i / cols,
                i % cols
            )));
        }
        Ok(())
    }

    /// Checks `x` holds `rows` rows of `n_inputs` features (not their values).
    pub fn check_inputs_shape(&self, x: &[T], rows: usize, cols: usize) -> Result<()> {
        self.check_width(cols)?;
        if Some(x.len()) != rows.checked_mul(cols) {
            return Err(Error::value(format!(
                "X: expected {rows} × {cols} = rows × features values, got {}",
                x.len()
            )));
        }
        Ok(())
    }

    /// Checks an input of `rows × cols` fits the network for training or a loss (`rows > 0`,
    /// `cols = n_inputs`).
    pub fn check_shape(&self, rows: usize, cols: usize) -> Result<()> {
        if rows == 0 {
            return Err(Error::value(
                "X: expected at least one row, got an empty array",
            ));
        }
        self.check_width(cols)
    }

    /// Checks rows of `cols` features fit the network's input.
    pub fn check_width(&self, cols: usize) -> Result<()> {
        if cols != self.n_inputs() {
            return Err(Error::value(format!(
                "X: expected {} features per row (the network's input width), got {cols}",
                self.n_inputs()
            )));
        }
        Ok(())
    }

    /// Checks a training batch of `rows` rows can be normalised: BatchNorm's statistics need
    /// more than one row (PyTorch's rule).
    pub fn check_training_rows(&self, rows: usize, name: &str) -> Result<()> {
        if rows < 2 && self.has_batch_norm() {
            return Err(Error::value(format!(
                "{name}: BatchNorm expected more than 1 value per channel when training, got a \
                 batch of {rows} row"
            )));
        }
        Ok(())
    }

    /// Checks `x` and `targets` together.
    pub fn check_data(
        &self,
        x: &[T],
        rows: usize,
        cols: usize,
        targets: &Targets<'_, T>,
    ) -> Result<()> {
        self.check_shape(rows, cols)?;
        self.check_inputs(x, rows, cols)?;
        self.loss.validate(targets, rows, self.n_outputs())
    }

    /// Checks sample weights (any loss takes them): one per row, finite (scikit-learn accepts
    /// negative weights too).
    pub fn check_weights(&self, weights: Option<&[T]>, rows: usize, name: &str) -> Result<()> {
        let Some(w) = weights else { return Ok(()) };
        if w.len() != rows {
            return Err(Error::value(format!(
                "{name}: expected {rows} weights (one per row of X), got {}",
                w.len()
            )));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::value(format!(
                "{name}: weights must be finite; position {i} holds {:?}",
                w[i]
            )));
        }
        Ok(())
    }
}

/// Checks scikit-learn's L2 factor: finite and `>= 0`.
pub(crate) fn check_alpha(alpha: f64) -> Result<()> {
    if alpha.is_finite() && alpha >= 0.0 {
        Ok(())
    } else {
        Err(Error::value(format!(
            "alpha: expected a finite value >= 0, got {alpha}"
        )))
    }
}
