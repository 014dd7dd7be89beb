//! The divergence guard: an update never leaves a non-finite parameter or state value.
//!
//! Each member keeps bounds of the magnitudes of what it owns (parameters and optimizer
//! state), measured exactly when an epoch starts and carried forward from step to step by
//! [`OptimizerConfig::update_bounds`], which also proves — from those bounds and the largest
//! gradient, which the gradient pass finds anyway — that the next update cannot overflow. So a
//! step normally runs unchecked and the guard costs no pass over memory. When carried bounds
//! have grown too loose to prove it, every member measures and the proof is tried again; when
//! even exact bounds do not prove it — values within a few powers of two of overflow, or a
//! rate that overflows the dtype — each member backs up what it owns, updates, checks, and
//! every member restores its backup if any of them wrote a non-finite value. Either way the
//! parameters and state after a failed step are bitwise those before it.
//!
//! [`OptimizerConfig::update_bounds`]: crate::optimizers::OptimizerConfig::update_bounds

use std::ops::Range;

use super::stepper::Stepper;
use crate::error::{zeros, Result};
use crate::kernels;
use crate::optimizers::Peaks;
use crate::scalar::Scalar;
use crate::threads::Team;

/// One member's guard: the spans it owns, bounds of their values, its backup for the checked
/// path.
pub(super) struct Guard<T> {
    /// `(tensor index, element range)` of every span the member updates.
    pub(super) owned: Vec<(usize, Range<usize>)>,
    /// Upper bounds of `|value|` over the member's parameter spans and their state.
    pub(super) peaks: Peaks,
    /// Whether `peaks` were carried forward by `update_bounds` rather than measured.
    pub(super) loose: bool,
    backup: Vec<T>,
}

impl<T: Scalar> Guard<T> {
    /// The guard of `team`'s member, with exact peaks of what it owns (one pass over it).
    ///
    /// # Safety
    /// Nothing may write the member's spans meanwhile.
    pub(super) unsafe fn new(stepper: &Stepper<'_, T>, team: &Team<'_>) -> Self {
        let mut guard = Guard {
            owned: stepper.owned(team),
            peaks: Peaks::ZERO,
            loose: false,
            backup: Vec::new(),
        };
        guard.measure(stepper);
        guard
    }

    /// Sets `peaks` to the exact maxima of the member's spans (one pass over them).
    ///
    /// # Safety
    /// As [`Stepper::values`], on the member's own spans.
    pub(super) unsafe fn measure(&mut self, stepper: &Stepper<'_, T>) {
        let mut peaks = Peaks::ZERO;
        for (index, span) in &self.owned {
            let mut values = stepper.values(*index, span.clone());
            for (i, v) in values.all().iter().enumerate() {
                let peak = kernels::finite_max_abs(v);
                match i {
                    0 => peaks.param = peaks.param.max(peak),
                    i => peaks.state[i - 1] = peaks.state[i - 1].max(peak),
                }
            }
        }
        self.peaks = peaks;
        self.loose = false;
    }

    /// Copies the member's spans into the backup (allocated on first use).
    ///
    /// # Safety
    /// As [`Self::measure`].
    pub(super) unsafe fn save(&mut self, stepper: &Stepper<'_, T>) -> Result<()> {
        let mut len = 0;
        for (index, span) in &self.owned {
            len += stepper.values(*index, span.clone()).all().len() * span.len();
        }
        if self.backup.len() < len {
            self.backup = zeros(Some(len), "a backup of the parameters")?;
        }
        let mut at = 0;
        for (index, span) in &self.owned {
            for v in stepper.values(*index, span.clone()).all() {
                self.backup[at..at + v.len()].copy_from_slice(v);
                at += v.len();
            }
        }
        Ok(())
    }

    /// Whether every value of the member's spans is finite.
    ///
    /// # Safety
    /// As [`Self::measure`].
    pub(super) unsafe fn all_finite(&self, stepper: &Stepper<'_, T>) -> bool {
        self.owned.iter().all(|(index, span)| {
            stepper
                .values(*index, span.clone())
                .all()
                .iter()
                .all(|v| kernels::all_finite(v))
        })
    }

    /// Puts the backup made by [`Self::save`] back.
    ///
    /// # Safety
    /// As [`Self::measure`].
    pub(super) unsafe fn restore(&self, stepper: &Stepper<'_, T>) {
        let mut at = 0;
        for (index, span) in &self.owned {
            for v in stepper.values(*index, span.clone()).all() {
                let n = v.len();
                v.copy_from_slice(&self.backup[at..at + n]);
                at += n;
            }
        }
    }
}
