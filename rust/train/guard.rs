//! The divergence guard: an update never leaves a non-finite parameter or state value.
//!
//! Every update kernel reports the largest magnitudes it wrote, and every gradient pass the
//! largest gradient. From those, [`OptimizerConfig::update_is_safe`] proves (almost always)
//! that the next update cannot overflow, and it runs unchecked: the guard costs no pass over
//! memory. When the proof fails — values within a few powers of two of overflow, or a rate
//! that overflows the dtype — each member backs up what it owns, updates, checks, and every
//! member restores its backup if any of them wrote a non-finite value. Either way the
//! parameters after a failed step are bitwise those before it.
//!
//! [`OptimizerConfig::update_is_safe`]: crate::optimizers::OptimizerConfig::update_is_safe

use std::ops::Range;

use super::stepper::Stepper;
use crate::error::{filled, Result};
use crate::kernels::{self, Peaks};
use crate::scalar::Scalar;
use crate::threads::Team;

/// One member's guard: the peaks of what it owns, and its backup for the checked path.
pub(super) struct Guard<T> {
    /// Upper bounds of `|value|` over the member's parameter spans and their state.
    pub(super) peaks: Peaks<f64>,
    backup: Vec<T>,
}

impl<T: Scalar> Guard<T> {
    /// The guard of `team`'s member, with exact peaks of what it owns (one pass over it).
    ///
    /// # Safety
    /// Nothing may write the member's spans meanwhile.
    pub(super) unsafe fn new(stepper: &Stepper<'_, T>, team: &Team<'_>) -> Self {
        let mut peaks = Peaks::<f64>::zero();
        for (index, span) in stepper.owned(team) {
            for (i, values) in stepper.values(index, span).iter().enumerate() {
                let peak = kernels::finite_max_abs(values).f64();
                match i {
                    0 => peaks.param = peaks.param.max(peak),
                    i => peaks.state[i - 1] = peaks.state[i - 1].max(peak),
                }
            }
        }
        Guard {
            peaks,
            backup: Vec::new(),
        }
    }

    /// Copies the member's spans into the backup (allocated on first use).
    ///
    /// # Safety
    /// As [`Stepper::values`]: `owned` must be this member's spans.
    pub(super) unsafe fn save(
        &mut self,
        stepper: &Stepper<'_, T>,
        owned: &[(usize, Range<usize>)],
    ) -> Result<()> {
        let len: usize = owned
            .iter()
            .map(|(i, s)| {
                stepper
                    .values(*i, s.clone())
                    .iter()
                    .map(|v| v.len())
                    .sum::<usize>()
            })
            .sum();
        if self.backup.len() < len {
            self.backup = filled(Some(len), T::zero(), "a backup of the parameters")?;
        }
        let mut at = 0;
        for (index, span) in owned {
            for values in stepper.values(*index, span.clone()) {
                self.backup[at..at + values.len()].copy_from_slice(values);
                at += values.len();
            }
        }
        Ok(())
    }

    /// Whether every value of the member's spans is finite.
    ///
    /// # Safety
    /// As [`Self::save`].
    pub(super) unsafe fn all_finite(
        &self,
        stepper: &Stepper<'_, T>,
        owned: &[(usize, Range<usize>)],
    ) -> bool {
        owned.iter().all(|(index, span)| {
            stepper
                .values(*index, span.clone())
                .iter()
                .all(|v| kernels::all_finite(v))
        })
    }

    /// Puts the backup made by [`Self::save`] back.
    ///
    /// # Safety
    /// As [`Self::save`], with the same `owned`.
    pub(super) unsafe fn restore(&self, stepper: &Stepper<'_, T>, owned: &[(usize, Range<usize>)]) {
        let mut at = 0;
        for (index, span) in owned {
            for values in stepper.values(*index, span.clone()) {
                let n = values.len();
                values.copy_from_slice(&self.backup[at..at + n]);
                at += n;
            }
        }
    }
}
