//! `pytorch_warmup.LinearWarmup`: per batch, the wrapped schedule's lr times the dampening
//! factor `min(1, (step + 1) / warmup_period)` (step: global batch, 0-based). The wrapped
//! schedule (any, a warmup or ReduceLROnPlateau too) sees the undampened lr, as under
//! `pytorch_warmup`'s `with warmup.dampening(): scheduler.step()`; without one the base lr is
//! dampened.

use std::fmt;

use super::{positive_int, Rule, Schedule, ScheduleState};
use crate::error::Result;
use crate::optimizers::OptimizerConfig;

/// LinearWarmup's arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearWarmup {
    pub warmup_period: u64,
    pub schedule: Option<Box<Schedule>>,
}

impl Schedule {
    /// `LinearWarmup(warmup_period, schedule=None)`.
    pub fn linear_warmup(warmup_period: i64, schedule: Option<Schedule>) -> Result<Self> {
        Self::checked(Schedule::Warmup(LinearWarmup {
            warmup_period: positive_int("warmup_period", warmup_period)?,
            schedule: schedule.map(Box::new),
        }))
    }
}

impl LinearWarmup {
    /// `min(1, (step + 1) / warmup_period)`.
    pub fn factor(&self, step: u64) -> f64 {
        (((step as f64) + 1.0) / self.warmup_period as f64).min(1.0)
    }
}

impl Rule for LinearWarmup {
    fn check(&self) -> Result<()> {
        positive_int(
            "warmup_period",
            i64::try_from(self.warmup_period).unwrap_or(0),
        )?;
        Ok(())
    }

    fn lr(&self, state: &ScheduleState, base_lr: f64, step: u64) -> f64 {
        let inner = self
            .schedule
            .as_ref()
            .map_or(base_lr, |s| s.lr_of(state, base_lr, step));
        inner * self.factor(step)
    }

    fn momentum(&self, state: &ScheduleState, step: u64) -> Option<f64> {
        self.schedule
            .as_ref()
            .and_then(|s| s.momentum_of(state, step))
    }

    fn begin(
        &self,
        state: &mut ScheduleState,
        config: &OptimizerConfig,
        epochs: u64,
        steps_per_epoch: u64,
    ) -> Result<()> {
        match &self.schedule {
            Some(s) => s.begin(state, config, epochs as usize, steps_per_epoch as usize),
            None => Ok(()),
        }
    }

    fn end_epoch(
        &self,
        state: &mut ScheduleState,
        metrics: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<()> {
        match &self.schedule {
            Some(s) => s.end_epoch_of(state, metrics),
            None => Ok(()),
        }
    }

    fn monitor(&self) -> Option<&str> {
        self.schedule.as_ref().and_then(|s| s.monitor())
    }
}

impl fmt::Display for LinearWarmup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LinearWarmup(warmup_period={}, schedule=",
            self.warmup_period
        )?;
        match &self.schedule {
            Some(s) => write!(f, "{s})"),
            None => f.write_str("None)"),
        }
    }
}
