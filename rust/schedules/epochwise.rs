//! The per-epoch decays: `StepLR`, `MultiStepLR`, `ExponentialLR` and `CosineAnnealingLR`,
//! in torch's closed forms (`_get_closed_form_lr`), which its recursive `get_lr` follows to
//! rounding (~1e-15 relative over hundreds of epochs). The lr of epoch `e` (0-based, the
//! `state.epochs` of the batch) is torch's after `e` calls of `scheduler.step()`.

use std::fmt;

use super::{check_non_negative, check_positive, positive_int, Rule, Schedule, ScheduleState};
use crate::error::{Error, Result};

/// `torch.optim.lr_scheduler.StepLR`: `base_lr · gamma^(e // step_size)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLr {
    pub step_size: u64,
    pub gamma: f64,
}

/// `torch.optim.lr_scheduler.MultiStepLR`: `base_lr · gamma^(number of milestones <= e)`.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    /// Strictly increasing epochs.
    pub milestones: Vec<u64>,
    pub gamma: f64,
}

/// `torch.optim.lr_scheduler.ExponentialLR`: `base_lr · gamma^e`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLr {
    pub gamma: f64,
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR`:
/// `eta_min + (base_lr - eta_min)·(1 + cos(π·e/T_max))/2`, also beyond `T_max` (torch's
/// recursive form keeps following the cosine back up).
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    pub t_max: u64,
    pub eta_min: f64,
}

impl Schedule {
    /// `StepLR(step_size, gamma=0.1)`.
    pub fn step_lr(step_size: i64, gamma: f64) -> Result<Self> {
        Self::checked(Schedule::Step(StepLr {
            step_size: positive_int("step_size", step_size)?,
            gamma,
        }))
    }

    /// `MultiStepLR(milestones, gamma=0.1)`.
    pub fn multi_step_lr(milestones: &[i64], gamma: f64) -> Result<Self> {
        let mut epochs = Vec::with_capacity(milestones.len());
        for (i, &m) in milestones.iter().enumerate() {
            let m = u64::try_from(m).map_err(|_| {
                Error::value(format!("milestones[{i}]: expected an epoch >= 0, got {m}"))
            })?;
            epochs.push(m);
        }
        Self::checked(Schedule::MultiStep(MultiStepLr {
            milestones: epochs,
            gamma,
        }))
    }

    /// `ExponentialLR(gamma)`.
    pub fn exponential_lr(gamma: f64) -> Result<Self> {
        Self::checked(Schedule::Exponential(ExponentialLr { gamma }))
    }

    /// `CosineAnnealingLR(T_max, eta_min=0.0)`.
    pub fn cosine_annealing_lr(t_max: i64, eta_min: f64) -> Result<Self> {
        Self::checked(Schedule::Cosine(CosineAnnealingLr {
            t_max: positive_int("T_max", t_max)?,
            eta_min,
        }))
    }
}

/// `gamma^k`, exact for the integer powers torch's repeated multiplication approximates.
fn power(gamma: f64, k: u64) -> f64 {
    match i32::try_from(k) {
        Ok(k) => gamma.powi(k),
        Err(_) => gamma.powf(k as f64),
    }
}

impl Rule for StepLr {
    fn check(&self) -> Result<()> {
        positive_int("step_size", i64::try_from(self.step_size).unwrap_or(0))?;
        check_positive("gamma", self.gamma)
    }

    fn lr(&self, state: &ScheduleState, base_lr: f64, _step: u64) -> f64 {
        base_lr * power(self.gamma, state.epochs / self.step_size)
    }
}

impl fmt::Display for StepLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StepLR(step_size={}, gamma={:?})",
            self.step_size, self.gamma
        )
    }
}

impl Rule for MultiStepLr {
    fn check(&self) -> Result<()> {
        if let Some(i) = self.milestones.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::value(format!(
                "milestones: expected strictly increasing epochs, got {:?} (milestones[{}] = {} \
                 is not above milestones[{i}] = {})",
                self.milestones,
                i + 1,
                self.milestones[i + 1],
                self.milestones[i]
            )));
        }
        check_positive("gamma", self.gamma)
    }

    fn lr(&self, state: &ScheduleState, base_lr: f64, _step: u64) -> f64 {
        // bisect_right: milestones at or before this epoch.
        let passed = self.milestones.partition_point(|&m| m <= state.epochs);
        base_lr * power(self.gamma, passed as u64)
    }
}

impl fmt::Display for MultiStepLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MultiStepLR(milestones={:?}, gamma={:?})",
            self.milestones, self.gamma
        )
    }
}

impl Rule for ExponentialLr {
    fn check(&self) -> Result<()> {
        check_positive("gamma", self.gamma)
    }

    fn lr(&self, state: &ScheduleState, base_lr: f64, _step: u64) -> f64 {
        base_lr * power(self.gamma, state.epochs)
    }
}

impl fmt::Display for ExponentialLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExponentialLR(gamma={:?})", self.gamma)
    }
}

impl Rule for CosineAnnealingLr {
    fn check(&self) -> Result<()> {
        positive_int("T_max", i64::try_from(self.t_max).unwrap_or(0))?;
        check_non_negative("eta_min", self.eta_min)
    }

    fn lr(&self, state: &ScheduleState, base_lr: f64, _step: u64) -> f64 {
        let e = state.epochs as f64;
        let cos = (std::f64::consts::PI * e / self.t_max as f64).cos();
        self.eta_min + (base_lr - self.eta_min) * (1.0 + cos) / 2.0
    }
}

impl fmt::Display for CosineAnnealingLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CosineAnnealingLR(T_max={}, eta_min={:?})",
            self.t_max, self.eta_min
        )
    }
}
