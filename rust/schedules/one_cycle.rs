//! `torch.optim.lr_scheduler.OneCycleLR`, stepped every batch: torch's `get_lr` phases
//! exactly (phase ends `pct_start·total_steps - 1`, `2·pct_start·total_steps - 2`,
//! `total_steps - 1`; `_annealing_cos` or linear between the phase's ends), and the momentum
//! (or Adam's beta1) cycled inversely between `max_momentum` and `base_momentum`. The
//! optimizer's own lr is not used: the cycle starts at `max_lr / div_factor`.

use std::fmt;

use super::ScheduleState;
use super::{check_non_negative, check_positive, positive_int, py_bool, Rule, Schedule};
use crate::error::{Error, Result};
use crate::optimizers::OptimizerConfig;

/// How a phase anneals from its start to its end value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anneal {
    Cos,
    Linear,
}

impl Anneal {
    /// `'cos'` or `'linear'`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cos" => Ok(Anneal::Cos),
            "linear" => Ok(Anneal::Linear),
            _ => Err(Error::value(format!(
                "anneal_strategy: expected 'cos' or 'linear', got '{name}'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Anneal::Cos => "cos",
            Anneal::Linear => "linear",
        }
    }

    /// torch's `_annealing_cos` / `_annealing_linear` from `start` to `end` at `pct`.
    fn at(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

/// OneCycleLR's arguments, with torch's names and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLr {
    pub max_lr: f64,
    pub total_steps: Option<u64>,
    pub epochs: Option<u64>,
    pub steps_per_epoch: Option<u64>,
    pub pct_start: f64,
    pub anneal_strategy: Anneal,
    pub cycle_momentum: bool,
    pub base_momentum: f64,
    pub max_momentum: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    pub three_phase: bool,
}

impl OneCycleLr {
    /// torch's defaults, for `max_lr`.
    pub fn new(max_lr: f64) -> Self {
        OneCycleLr {
            max_lr,
            total_steps: None,
            epochs: None,
            steps_per_epoch: None,
            pct_start: 0.3,
            anneal_strategy: Anneal::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    /// `total_steps` from the arguments alone, if they give it.
    fn given_total(&self) -> Option<u64> {
        self.total_steps.or_else(|| {
            self.epochs
                .zip(self.steps_per_epoch)
                .map(|(e, s)| e.saturating_mul(s))
        })
    }

    /// (lr, momentum) at `step` of a cycle of `total` steps: torch's `get_lr`.
    fn at(&self, step: u64, total: u64) -> (f64, f64) {
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let (t, p) = (total as f64, self.pct_start);
        // (end_step, start_lr, end_lr, start_momentum, end_momentum) per phase.
        let (base_m, max_m) = (self.base_momentum, self.max_momentum);
        let phases: &[(f64, f64, f64, f64, f64)] = if self.three_phase {
            &[
                (p * t - 1.0, initial, self.max_lr, max_m, base_m),
                (2.0 * p * t - 2.0, self.max_lr, initial, base_m, max_m),
                (t - 1.0, initial, min, max_m, max_m),
            ]
        } else {
            &[
                (p * t - 1.0, initial, self.max_lr, max_m, base_m),
                (t - 1.0, self.max_lr, min, base_m, max_m),
            ]
        };
        let step = step as f64;
        let mut start_step = 0.0;
        for (i, &(end_step, lr0, lr1, m0, m1)) in phases.iter().enumerate() {
            if step <= end_step || i == phases.len() - 1 {
                // torch divides by zero here (ZeroDivisionError) when a phase is empty, e.g.
                // pct_start·total_steps = 1; the phase's end value is the limit.
                let span = end_step - start_step;
                let pct = if span == 0.0 {
                    1.0
                } else {
                    (step - start_step) / span
                };
                let anneal = self.anneal_strategy;
                return (anneal.at(lr0, lr1, pct), anneal.at(m0, m1, pct));
            }
            start_step = end_step;
        }
        (min, max_m)
    }
}

impl Schedule {
    /// `OneCycleLR(max_lr, ...)` from a filled-in [`OneCycleLr`] (see [`OneCycleLr::new`]).
    pub fn one_cycle_lr(args: OneCycleLr) -> Result<Self> {
        Self::checked(Schedule::OneCycle(args))
    }
}

/// A count argument that may be None, checked > 0 (Python passes i64).
pub fn optional_count(name: &str, v: Option<i64>) -> Result<Option<u64>> {
    v.map(|v| positive_int(name, v)).transpose()
}

impl Rule for OneCycleLr {
    fn check(&self) -> Result<()> {
        check_positive("max_lr", self.max_lr)?;
        if self.total_steps.is_none() && (self.epochs.is_some() != self.steps_per_epoch.is_some()) {
            return Err(Error::value(
                "epochs, steps_per_epoch: give both (total_steps = epochs × steps_per_epoch), \
                 or total_steps, or neither (the fit's epochs × batches per epoch)",
            ));
        }
        if !(0.0..=1.0).contains(&self.pct_start) {
            return Err(Error::value(format!(
                "pct_start: expected a value in [0, 1], got {}",
                self.pct_start
            )));
        }
        check_non_negative("base_momentum", self.base_momentum)?;
        check_non_negative("max_momentum", self.max_momentum)?;
        check_positive("div_factor", self.div_factor)?;
        check_positive("final_div_factor", self.final_div_factor)
    }

    fn lr(&self, state: &ScheduleState, _base_lr: f64, step: u64) -> f64 {
        let total = state.total_steps.or(self.given_total()).unwrap_or(step + 1);
        self.at(step, total).0
    }

    fn momentum(&self, state: &ScheduleState, step: u64) -> Option<f64> {
        let total = state.total_steps.or(self.given_total()).unwrap_or(step + 1);
        self.cycle_momentum.then(|| self.at(step, total).1)
    }

    fn begin(
        &self,
        state: &mut ScheduleState,
        config: &OptimizerConfig,
        epochs: u64,
        steps_per_epoch: u64,
    ) -> Result<()> {
        let this_fit = epochs.saturating_mul(steps_per_epoch);
        let total = match state.total_steps {
            Some(t) => t,
            None => self.given_total().unwrap_or(this_fit),
        };
        let after = state.steps.saturating_add(this_fit);
        if after > total {
            return Err(Error::value(format!(
                "OneCycleLR: Tried to step {after} times. The specified number of total steps \
                 is {total} ({} stepped before this fit of {epochs} epochs × {steps_per_epoch} \
                 batches); pass a larger total_steps, or call reset() to start a new cycle",
                state.steps
            )));
        }
        state.total_steps = Some(total);
        if self.cycle_momentum {
            check_cycle(self, config)?;
        }
        Ok(())
    }
}

/// Both ends of the momentum cycle must be valid momenta of `config`.
fn check_cycle(args: &OneCycleLr, config: &OptimizerConfig) -> Result<()> {
    if config.momentum().is_none() {
        let why = match config {
            OptimizerConfig::Adagrad(_) => {
                "Adagrad has no momentum (nor beta1) to cycle".to_string()
            }
            _ => format!("{config} has momentum=0, so no momentum buffer to cycle"),
        };
        return Err(Error::value(format!(
            "OneCycleLR: cycle_momentum=True cycles SGD's or RMSprop's momentum or Adam's beta1, \
             but {why}; pass cycle_momentum=False (or give the optimizer a momentum > 0)"
        )));
    }
    for (name, m) in [
        ("base_momentum", args.base_momentum),
        ("max_momentum", args.max_momentum),
    ] {
        let mut probe = config.clone();
        probe.set_momentum(m).map_err(|e| {
            Error::value(format!(
                "OneCycleLR: {name}={m} is not a valid momentum for {config}: {e}"
            ))
        })?;
    }
    Ok(())
}

impl fmt::Display for OneCycleLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |v: Option<u64>| v.map_or_else(|| "None".to_string(), |v| v.to_string());
        write!(
            f,
            "OneCycleLR(max_lr={:?}, total_steps={}, epochs={}, steps_per_epoch={}, \
             pct_start={:?}, anneal_strategy='{}', cycle_momentum={}, base_momentum={:?}, \
             max_momentum={:?}, div_factor={:?}, final_div_factor={:?}, three_phase={})",
            self.max_lr,
            count(self.total_steps),
            count(self.epochs),
            count(self.steps_per_epoch),
            self.pct_start,
            self.anneal_strategy.name(),
            py_bool(self.cycle_momentum),
            self.base_momentum,
            self.max_momentum,
            self.div_factor,
            self.final_div_factor,
            py_bool(self.three_phase)
        )
    }
}
