//! Learning-rate schedules with `torch.optim.lr_scheduler` semantics (and `pytorch_warmup`'s
//! `LinearWarmup`), one concept per file, behind one trait ([`Rule`]) and a closed enum
//! ([`Schedule`]) that dispatches statically, as the optimizers do.
//!
//! A [`Schedule`] holds the arguments and never changes; a [`ScheduleState`] holds what a torch
//! scheduler object accumulates (base lr, batches and epochs stepped, ReduceLROnPlateau's
//! counters, OneCycleLR's resolved `total_steps`). The state persists across `fit` calls.
//!
//! Stepping, as PyTorch users step them: `OneCycleLR` and `LinearWarmup`'s dampening factor
//! change every batch; `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR` and
//! `ReduceLROnPlateau` every epoch (the lr of epoch `e`, 0-based, is torch's after `e` calls
//! of `scheduler.step()`).
//!
//! The training loop calls, per fit: [`Schedule::begin`] once, [`Schedule::config_at`] for
//! every batch (a pure function of the state) and [`Schedule::end_epoch`] after every epoch.

mod epochwise;
mod one_cycle;
mod plateau;
#[cfg(test)]
mod tests;
mod warmup;

use std::fmt;

pub use epochwise::{CosineAnnealingLr, ExponentialLr, MultiStepLr, StepLr};
pub use one_cycle::{optional_count, Anneal, OneCycleLr};
pub use plateau::{Mode, PlateauState, ReduceLrOnPlateau, ThresholdMode, MONITORS};
pub use warmup::LinearWarmup;

use crate::error::{Error, Result};
use crate::optimizers::OptimizerConfig;

/// The names of the schedules the Python package offers, as its classes are called.
pub const NAMES: [&str; 7] = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "OneCycleLR",
    "LinearWarmup",
    "ReduceLROnPlateau",
];

/// The most batches [`Schedule::lrs`] simulates (2^27 learning rates, 1 GiB).
pub const MAX_SIMULATED: u64 = 1 << 27;

/// What a schedule accumulates, as a torch scheduler object does; starts empty
/// (`Default`), persists across fits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduleState {
    /// The optimizer's lr at the first [`Schedule::begin`] (torch's `base_lrs`).
    pub base_lr: Option<f64>,
    /// The optimizer's momentum (or beta1) at the first [`Schedule::begin`], if it has one.
    pub base_momentum: Option<f64>,
    /// Batches stepped so far, across fits.
    pub steps: u64,
    /// Epochs completed so far, across fits (torch's `last_epoch` for per-epoch schedules).
    pub epochs: u64,
    /// OneCycleLR's `total_steps`, resolved by the first [`Schedule::begin`].
    pub total_steps: Option<u64>,
    /// ReduceLROnPlateau's counters and current lr.
    pub plateau: PlateauState,
}

/// What every schedule provides. Arguments are checked once, by [`Rule::check`], when a
/// schedule is made; the other methods may assume them valid.
pub trait Rule: Clone + fmt::Debug + fmt::Display + PartialEq {
    /// Validates the arguments; errors name the argument.
    fn check(&self) -> Result<()>;

    /// The learning rate of global batch `step` (0-based, across fits) during epoch
    /// `state.epochs`, from the base lr. Finite and >= 0 for valid arguments.
    fn lr(&self, state: &ScheduleState, base_lr: f64, step: u64) -> f64;

    /// The momentum (or beta1) of batch `step`, for schedules that cycle it.
    fn momentum(&self, _state: &ScheduleState, _step: u64) -> Option<f64> {
        None
    }

    /// Prepares a fit of `epochs` × `steps_per_epoch` batches (see [`Schedule::begin`]).
    fn begin(
        &self,
        _state: &mut ScheduleState,
        _config: &OptimizerConfig,
        _epochs: u64,
        _steps_per_epoch: u64,
    ) -> Result<()> {
        Ok(())
    }

    /// The end of epoch `state.epochs` (before the counters advance).
    fn end_epoch(
        &self,
        _state: &mut ScheduleState,
        _metrics: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<()> {
        Ok(())
    }

    /// The epoch metric the schedule reads at [`Rule::end_epoch`], if any.
    fn monitor(&self) -> Option<&str> {
        None
    }
}

/// A learning-rate schedule: one of the rules.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Step(StepLr),
    MultiStep(MultiStepLr),
    Exponential(ExponentialLr),
    Cosine(CosineAnnealingLr),
    OneCycle(OneCycleLr),
    Warmup(LinearWarmup),
    Plateau(ReduceLrOnPlateau),
}

/// Runs `$body` with `$rule` bound to the variant's rule (static dispatch).
macro_rules! dispatch {
    ($schedule:expr, $rule:ident => $body:expr) => {
        match $schedule {
            Schedule::Step($rule) => $body,
            Schedule::MultiStep($rule) => $body,
            Schedule::Exponential($rule) => $body,
            Schedule::Cosine($rule) => $body,
            Schedule::OneCycle($rule) => $body,
            Schedule::Warmup($rule) => $body,
            Schedule::Plateau($rule) => $body,
        }
    };
}

impl Schedule {
    /// Checks `schedule`'s arguments (the constructors of the rules' files call this).
    pub fn checked(schedule: Self) -> Result<Self> {
        dispatch!(&schedule, rule => rule.check())?;
        Ok(schedule)
    }

    /// The class name Python shows (one of [`NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Step(_) => NAMES[0],
            Schedule::MultiStep(_) => NAMES[1],
            Schedule::Exponential(_) => NAMES[2],
            Schedule::Cosine(_) => NAMES[3],
            Schedule::OneCycle(_) => NAMES[4],
            Schedule::Warmup(_) => NAMES[5],
            Schedule::Plateau(_) => NAMES[6],
        }
    }

    /// Starts a fit of `epochs` epochs of `steps_per_epoch` batches with optimizer `config`.
    /// The first time (a fresh state) it records the optimizer's lr as the base lr and its
    /// momentum (or beta1) as the base momentum. OneCycleLR resolves `total_steps` (its own,
    /// or `epochs × steps_per_epoch` of its arguments, or else of this fit) and errors if
    /// this fit would step it beyond `total_steps` (torch: "Tried to step N times. The
    /// specified number of total steps is M"), or if `cycle_momentum` is on and `config` has
    /// no momentum to cycle (SGD or RMSprop with momentum 0, Adagrad). On error the state may
    /// be partly updated: discard it.
    pub fn begin(
        &self,
        state: &mut ScheduleState,
        config: &OptimizerConfig,
        epochs: usize,
        steps_per_epoch: usize,
    ) -> Result<()> {
        if state.base_lr.is_none() {
            state.base_lr = Some(config.lr());
            state.base_momentum = config.momentum();
        }
        dispatch!(self, rule => rule.begin(state, config, epochs as u64, steps_per_epoch as u64))
    }

    /// The optimizer config for batch `state.steps + batch_in_epoch` (global, 0-based) during
    /// epoch `state.epochs` (0-based): a clone of `base` with the lr (and, for OneCycleLR with
    /// `cycle_momentum`, SGD's/RMSprop's momentum or Adam's beta1) replaced. A pure function
    /// of its arguments: every thread of a team gets identical results. Call
    /// [`Schedule::begin`] first (without it the base lr is `base.lr()`).
    pub fn config_at(
        &self,
        state: &ScheduleState,
        base: &OptimizerConfig,
        batch_in_epoch: u64,
    ) -> OptimizerConfig {
        let step = state.steps.saturating_add(batch_in_epoch);
        let base_lr = state.base_lr.unwrap_or_else(|| base.lr());
        let mut config = base.clone();
        config.set_scheduled_lr(self.lr_of(state, base_lr, step));
        if let Some(m) = self.momentum_of(state, step) {
            // `begin` checked that both ends of the cycle are valid momenta for `base`, and
            // the annealing stays between them, so this cannot fail; on failure the
            // optimizer's own momentum stays.
            let _ = config.set_momentum(m);
        }
        config
    }

    /// Ends an epoch of `batches` batches: ReduceLROnPlateau reads its monitored metric
    /// through `metrics(name)` and steps (an error names the metric when it is None), then
    /// `steps` advances by `batches` and `epochs` by 1.
    pub fn end_epoch(
        &self,
        state: &mut ScheduleState,
        batches: u64,
        metrics: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<()> {
        self.end_epoch_of(state, metrics)?;
        state.steps = state.steps.saturating_add(batches);
        state.epochs = state.epochs.saturating_add(1);
        Ok(())
    }

    /// [`Rule::lr`] of the variant.
    fn lr_of(&self, state: &ScheduleState, base_lr: f64, step: u64) -> f64 {
        dispatch!(self, rule => rule.lr(state, base_lr, step))
    }

    /// [`Rule::momentum`] of the variant.
    fn momentum_of(&self, state: &ScheduleState, step: u64) -> Option<f64> {
        dispatch!(self, rule => rule.momentum(state, step))
    }

    /// [`Rule::end_epoch`] of the variant (the counters do not advance).
    fn end_epoch_of(
        &self,
        state: &mut ScheduleState,
        metrics: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<()> {
        dispatch!(self, rule => rule.end_epoch(state, metrics))
    }

    /// The epoch metric this schedule (or the one it wraps) watches, one of [`MONITORS`]:
    /// for the caller to check up front that the fit reports it.
    pub fn monitor(&self) -> Option<&str> {
        dispatch!(self, rule => rule.monitor())
    }

    /// The lr of every batch of `epochs` × `steps_per_epoch`, simulated from a fresh state
    /// with base lr `lr` (an `SGD(lr, momentum=0.9)`). A schedule that monitors a metric
    /// reads `metrics[e]` at the end of epoch `e`, so needs at least `epochs` of them.
    pub fn lrs(
        &self,
        lr: f64,
        epochs: usize,
        steps_per_epoch: usize,
        metrics: Option<&[f64]>,
    ) -> Result<Vec<f64>> {
        let config = OptimizerConfig::sgd(lr, 0.9, false, 0.0)?;
        let total = (epochs as u64)
            .checked_mul(steps_per_epoch as u64)
            .filter(|&n| n <= MAX_SIMULATED)
            .ok_or_else(|| {
                Error::value(format!(
                    "epochs × steps_per_epoch: expected at most {MAX_SIMULATED} batches, got \
                     {epochs} × {steps_per_epoch}"
                ))
            })?;
        if let Some(name) = self.monitor() {
            let given = metrics.map_or(0, <[f64]>::len);
            if given < epochs {
                return Err(Error::value(format!(
                    "metrics: {} monitors '{name}', so needs one value per epoch ({epochs}), \
                     got {given}",
                    self.name()
                )));
            }
        }
        let mut state = ScheduleState::default();
        self.begin(&mut state, &config, epochs, steps_per_epoch)?;
        let mut out = Vec::with_capacity(total as usize);
        for epoch in 0..epochs {
            for batch in 0..steps_per_epoch as u64 {
                out.push(self.config_at(&state, &config, batch).lr());
            }
            let value = metrics.and_then(|m| m.get(epoch).copied());
            self.end_epoch(&mut state, steps_per_epoch as u64, &|_| value)?;
        }
        Ok(out)
    }
}

/// As Python shows the schedule: `StepLR(step_size=30, gamma=0.1)`.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, rule => rule.fmt(f))
    }
}

/// Python's spelling of a flag.
fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// An integer argument > 0 (taken as i64 so that a negative Python int is named too).
fn positive_int(name: &str, v: i64) -> Result<u64> {
    u64::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| Error::value(format!("{name}: expected a positive integer, got {v}")))
}

/// An integer argument >= 0.
fn non_negative_int(name: &str, v: i64) -> Result<u64> {
    u64::try_from(v)
        .map_err(|_| Error::value(format!("{name}: expected a non-negative integer, got {v}")))
}

fn check_positive(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::value(format!(
            "{name}: expected a positive finite value, got {v}"
        )))
    }
}

fn check_non_negative(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::value(format!(
            "{name}: expected a finite value >= 0, got {v}"
        )))
    }
}
