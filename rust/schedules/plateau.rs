//! `torch.optim.lr_scheduler.ReduceLROnPlateau`, stepped at the end of every epoch with the
//! epoch metric it monitors (a Keras-style `monitor` name). torch's `step(metric)` exactly:
//! an improvement beyond the threshold (rel or abs, min or max) resets the bad-epoch count;
//! during cooldown bad epochs are not counted; more than `patience` bad epochs in a row
//! reduce the lr to `max(lr · factor, min_lr)`, applied only when that lowers it by more
//! than `eps`, and start a cooldown.

use std::fmt;

use super::{check_non_negative, non_negative_int, Rule, Schedule, ScheduleState};
use crate::error::{Error, Result};

/// The epoch metrics a plateau schedule may monitor, as `fit`'s history names them.
pub const MONITORS: [&str; 8] = [
    "loss",
    "val_loss",
    "accuracy",
    "val_accuracy",
    "mae",
    "val_mae",
    "r2",
    "val_r2",
];

/// Whether lower (`min`) or higher (`max`) metrics are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Min,
    Max,
}

/// How `threshold` measures an improvement: relative to the best, or absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    Rel,
    Abs,
}

/// ReduceLROnPlateau's arguments, with torch's names and defaults (and `monitor`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    pub mode: Mode,
    pub factor: f64,
    pub patience: u64,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    pub cooldown: u64,
    pub min_lr: f64,
    pub eps: f64,
    /// One of [`MONITORS`].
    pub monitor: &'static str,
}

/// What ReduceLROnPlateau accumulates (torch's `best`, `num_bad_epochs`,
/// `cooldown_counter`, and the optimizer's lr it lowers).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlateauState {
    /// The best metric so far; None before the first (torch's `mode_worse`, ±inf).
    pub best: Option<f64>,
    pub num_bad_epochs: u64,
    pub cooldown_counter: u64,
    /// The (undampened) lr now; None until the first reduction (the base lr).
    pub lr: Option<f64>,
    /// How many reductions were applied.
    pub reductions: u64,
}

impl Schedule {
    /// `ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=1e-4,
    /// threshold_mode='rel', cooldown=0, min_lr=0.0, eps=1e-8, monitor='val_loss')`.
    #[allow(clippy::too_many_arguments)]
    pub fn reduce_lr_on_plateau(
        mode: &str,
        factor: f64,
        patience: i64,
        threshold: f64,
        threshold_mode: &str,
        cooldown: i64,
        min_lr: f64,
        eps: f64,
        monitor: &str,
    ) -> Result<Self> {
        let mode = match mode {
            "min" => Mode::Min,
            "max" => Mode::Max,
            _ => {
                return Err(Error::value(format!(
                    "mode: expected 'min' or 'max', got '{mode}'"
                )))
            }
        };
        let threshold_mode = match threshold_mode {
            "rel" => ThresholdMode::Rel,
            "abs" => ThresholdMode::Abs,
            _ => {
                return Err(Error::value(format!(
                    "threshold_mode: expected 'rel' or 'abs', got '{threshold_mode}'"
                )))
            }
        };
        let monitor = MONITORS
            .iter()
            .copied()
            .find(|&m| m == monitor)
            .ok_or_else(|| {
                Error::value(format!(
                    "monitor: expected one of {}, got '{monitor}'",
                    MONITORS.map(|m| format!("'{m}'")).join(", ")
                ))
            })?;
        Self::checked(Schedule::Plateau(ReduceLrOnPlateau {
            mode,
            factor,
            patience: non_negative_int("patience", patience)?,
            threshold,
            threshold_mode,
            cooldown: non_negative_int("cooldown", cooldown)?,
            min_lr,
            eps,
            monitor,
        }))
    }
}

impl ReduceLrOnPlateau {
    /// torch's `_is_better(a, best)`.
    fn is_better(&self, a: f64, best: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => a < best * (1.0 - self.threshold),
            (Mode::Min, ThresholdMode::Abs) => a < best - self.threshold,
            (Mode::Max, ThresholdMode::Rel) => a > best * (self.threshold + 1.0),
            (Mode::Max, ThresholdMode::Abs) => a > best + self.threshold,
        }
    }

    /// torch's `mode_worse`.
    fn worst(&self) -> f64 {
        match self.mode {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        }
    }

    /// torch's `step(current)` on `state`, whose lr is `lr` now.
    pub fn step(&self, state: &mut PlateauState, lr: f64, current: f64) {
        if self.is_better(current, state.best.unwrap_or(self.worst())) {
            state.best = Some(current);
            state.num_bad_epochs = 0;
        } else {
            state.num_bad_epochs += 1;
        }
        if state.cooldown_counter > 0 {
            state.cooldown_counter -= 1;
            state.num_bad_epochs = 0;
        }
        if state.num_bad_epochs > self.patience {
            let new = (lr * self.factor).max(self.min_lr);
            if lr - new > self.eps {
                state.lr = Some(new);
                state.reductions += 1;
            }
            state.cooldown_counter = self.cooldown;
            state.num_bad_epochs = 0;
        }
    }
}

impl Rule for ReduceLrOnPlateau {
    fn check(&self) -> Result<()> {
        if !(self.factor.is_finite() && self.factor > 0.0 && self.factor < 1.0) {
            return Err(Error::value(format!(
                "factor: expected a value in (0, 1) (factor should be < 1.0), got {}",
                self.factor
            )));
        }
        check_non_negative("threshold", self.threshold)?;
        check_non_negative("min_lr", self.min_lr)?;
        check_non_negative("eps", self.eps)
    }

    fn lr(&self, state: &ScheduleState, base_lr: f64, _step: u64) -> f64 {
        state.plateau.lr.unwrap_or(base_lr)
    }

    fn end_epoch(
        &self,
        state: &mut ScheduleState,
        metrics: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<()> {
        let Some(current) = metrics(self.monitor) else {
            let hint = match self.monitor.strip_prefix("val_") {
                Some(train) => {
                    format!("fit has no validation data; pass validation_data or monitor='{train}'")
                }
                None => "this fit does not report it; monitor='loss' is always there".into(),
            };
            return Err(Error::value(format!(
                "ReduceLROnPlateau monitors '{}' but {hint}",
                self.monitor
            )));
        };
        let Some(base_lr) = state.base_lr else {
            return Err(Error::Internal(
                "ReduceLROnPlateau: end_epoch before begin".into(),
            ));
        };
        let lr = state.plateau.lr.unwrap_or(base_lr);
        self.step(&mut state.plateau, lr, current);
        Ok(())
    }

    fn monitor(&self) -> Option<&str> {
        Some(self.monitor)
    }
}

impl fmt::Display for ReduceLrOnPlateau {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Min => "min",
            Mode::Max => "max",
        };
        let threshold_mode = match self.threshold_mode {
            ThresholdMode::Rel => "rel",
            ThresholdMode::Abs => "abs",
        };
        write!(
            f,
            "ReduceLROnPlateau(mode='{mode}', factor={:?}, patience={}, threshold={:?}, \
             threshold_mode='{threshold_mode}', cooldown={}, min_lr={:?}, eps={:?}, \
             monitor='{}')",
            self.factor,
            self.patience,
            self.threshold,
            self.cooldown,
            self.min_lr,
            self.eps,
            self.monitor
        )
    }
}
