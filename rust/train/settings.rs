//! What a fit is told (its configuration, the clipping) and what it tells (each epoch's
//! report, through the driver's hooks).

use super::probe::LayerReport;
use crate::error::{Error, Result};
use crate::network::Metrics;

/// How to train.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    /// scikit-learn's L2 penalty `alpha/2·Σ‖W‖²` over each batch's total (0 for none).
    pub alpha: f64,
    /// The caller has already checked the training inputs are finite (scikit-learn's
    /// `validate_data`): skips that scan, a full pass over the data on every call.
    pub inputs_checked: bool,
    /// Gradient clipping before each update.
    pub clip: Option<Clip>,
    /// Record per-layer diagnostics ([`EpochReport::diagnostics`]).
    pub diagnostics: bool,
}

/// Gradient clipping, as `torch.nn.utils`: by the global L2 norm over every parameter's
/// gradient (`clip_grad_norm_`: scaled by `max / (norm + 1e-6)` when that is below 1) or each
/// element into `[-v, v]` (`clip_grad_value_`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    Norm(f64),
    Value(f64),
}

impl Clip {
    /// Checks the threshold: positive and finite.
    pub fn checked(self) -> Result<Self> {
        let (name, v) = match self {
            Clip::Norm(v) => ("clip_grad_norm", v),
            Clip::Value(v) => ("clip_grad_value", v),
        };
        if v > 0.0 && v.is_finite() {
            Ok(self)
        } else {
            Err(Error::value(format!(
                "{name}: expected a positive finite number, got {v}"
            )))
        }
    }
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean per-sample training loss, each batch's loss taken before its update.
    pub loss: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
    /// Training metrics, each batch scored before its update (as the loss).
    pub metrics: Metrics,
    /// Validation metrics (in evaluation mode, after the epoch).
    pub val_metrics: Option<Metrics>,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// The optimizer's momentum (SGD's, RMSprop's; Adam's beta1) in the epoch's last step,
    /// which a schedule may cycle (None where there is none).
    pub momentum: Option<f64>,
    /// Per layer, with [`FitConfig::diagnostics`].
    pub diagnostics: Option<Vec<LayerReport>>,
}

impl EpochReport {
    /// A metric by its `logs` name: `loss`, `accuracy`, `mae`, `r2`, or one of those with
    /// `val_` before it; None when not measured.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let validation = name.starts_with("val_");
        let base = name.strip_prefix("val_").unwrap_or(name);
        let metrics = if validation {
            self.val_metrics?
        } else {
            self.metrics
        };
        match base {
            "loss" if validation => self.val_loss,
            "loss" => Some(self.loss),
            "accuracy" if validation => self.val_accuracy,
            "accuracy" => metrics.accuracy,
            "mae" => metrics.mae,
            "r2" => metrics.r2,
            _ => None,
        }
    }
}

/// Calls from the loop to its driver: between batches (to notice Ctrl-C) and after each epoch.
pub trait Hooks {
    /// Return an error (typically [`Error::Interrupted`]) to stop before the next batch.
    fn poll(&mut self) -> Result<()> {
        Ok(())
    }

    fn epoch_end(&mut self, _report: &EpochReport) -> Result<()> {
        Ok(())
    }
}

/// Hooks that do nothing.
pub struct NoHooks;
impl Hooks for NoHooks {}
