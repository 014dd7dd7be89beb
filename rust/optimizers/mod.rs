//! The optimizers, `torch.optim`'s semantics exactly: SGD, Adam/AdamW, RMSprop and Adagrad,
//! one file each, behind one trait ([`Rule`]). scikit-learn's SGD and Adam
//! (`sklearn.neural_network._stochastic_optimizers`) are settings of SGD and Adam.
//!
//! A config holds the hyperparameters; an [`OptimizerState`] holds what persists between steps
//! (momentum buffers, moments, the step count), one slot per parameter tensor. The closed enum
//! [`OptimizerConfig`] dispatches statically, so the hot path stays monomorphic. A new
//! optimizer is a file here with its rule, a kernel in `kernels/update.rs`, a variant below and
//! its Python class in `python/optimizers.rs`.

mod adagrad;
mod adam;
mod peaks;
mod rmsprop;
mod sgd;
mod state;

use std::fmt;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use peaks::{Peaks, MAX_BUFFERS};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;
pub use state::OptimizerState;

use crate::error::{Error, Result};
use crate::kernels::Grad;
use crate::scalar::Scalar;

/// The names of the optimizers the Python package offers, as its classes are called.
pub const NAMES: [&str; 5] = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"];

/// What every optimizer provides. Hyperparameters are checked once, by [`Rule::check`], when
/// a config is made; the other methods may assume them valid.
pub trait Rule: Clone + fmt::Debug + fmt::Display + PartialEq {
    /// Validates the hyperparameters; errors name the argument.
    fn check(&self) -> Result<()>;

    /// How many state buffers each parameter needs (at most [`MAX_BUFFERS`]).
    fn buffers(&self) -> usize;

    /// The value each state buffer starts at (0 unless the rule says otherwise).
    fn initial_values(&self) -> [f64; MAX_BUFFERS] {
        [0.0; MAX_BUFFERS]
    }

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Where the learning rate lives, for [`OptimizerConfig::set_lr`] (which checks it).
    fn lr_mut(&mut self) -> &mut f64;

    /// One update of `param` from `grad` at step `t` (1-based), given this parameter's
    /// buffers (as many as [`Rule::buffers`]). Elementwise, so any split of a parameter into
    /// ranges updates it exactly as a whole.
    fn update<T: Scalar>(
        &self,
        t: u64,
        param: &mut [T],
        grad: Grad<'_, T>,
        buffers: &mut [&mut [T]],
    );

    /// Proves step `t` of [`Rule::update`] in float type `T` stays finite when every gradient
    /// is at most `grad` in magnitude and every parameter and state value at most
    /// `before.param` / `before.state[i]`, and returns bounds of the values it writes. Bounds
    /// every intermediate of the kernel in f64, with the hyperparameters rounded to `T` as the
    /// kernel sees them (see [`peaks::Bounds`]). `None` means "not proven", not "will
    /// overflow": the loop then takes the checked path (`train::guard`).
    fn update_bounds<T: Scalar>(&self, t: u64, grad: f64, before: Peaks) -> Option<Peaks>;
}

/// Hyperparameters of an optimizer: one of the rules.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerConfig {
    Sgd(Sgd),
    Adam(Adam),
    RmsProp(RmsProp),
    Adagrad(Adagrad),
}

/// Runs `$body` with `$rule` bound to the variant's rule (static dispatch).
macro_rules! dispatch {
    ($config:expr, $rule:ident => $body:expr) => {
        match $config {
            OptimizerConfig::Sgd($rule) => $body,
            OptimizerConfig::Adam($rule) => $body,
            OptimizerConfig::RmsProp($rule) => $body,
            OptimizerConfig::Adagrad($rule) => $body,
        }
    };
}

impl OptimizerConfig {
    /// `torch.optim.SGD` (dampening 0); weight decay is coupled (added to the gradient).
    pub fn sgd(lr: f64, momentum: f64, nesterov: bool, weight_decay: f64) -> Result<Self> {
        Self::checked(OptimizerConfig::Sgd(Sgd::torch(
            lr,
            momentum,
            nesterov,
            weight_decay,
        )))
    }

    /// `torch.optim.Adam` (coupled L2) or, with `decoupled`, `torch.optim.AdamW`.
    pub fn adam(
        lr: f64,
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> Result<Self> {
        Self::checked(OptimizerConfig::Adam(Adam::torch(
            lr,
            betas,
            eps,
            weight_decay,
            decoupled,
        )))
    }

    /// `torch.optim.RMSprop`.
    pub fn rmsprop(
        lr: f64,
        alpha: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
        centered: bool,
    ) -> Result<Self> {
        Self::checked(OptimizerConfig::RmsProp(RmsProp {
            lr,
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
        }))
    }

    /// `torch.optim.Adagrad`.
    pub fn adagrad(
        lr: f64,
        lr_decay: f64,
        weight_decay: f64,
        initial_accumulator_value: f64,
        eps: f64,
    ) -> Result<Self> {
        Self::checked(OptimizerConfig::Adagrad(Adagrad {
            lr,
            lr_decay,
            weight_decay,
            initial_accumulator_value,
            eps,
        }))
    }

    /// scikit-learn's `SGDOptimizer` (`momentum` in [0, 1]): SGD in velocity form. Its L2
    /// term lives in the gradient (see `Network::batch_gradients`).
    pub fn sklearn_sgd(lr: f64, momentum: f64, nesterov: bool) -> Result<Self> {
        Self::checked(OptimizerConfig::Sgd(Sgd::sklearn(lr, momentum, nesterov)))
    }

    /// scikit-learn's `AdamOptimizer` (`beta_1`, `beta_2` in [0, 1), `epsilon` > 0): Adam
    /// with `eps` added to the uncorrected `√v`.
    pub fn sklearn_adam(lr: f64, beta1: f64, beta2: f64, eps: f64) -> Result<Self> {
        Self::checked(OptimizerConfig::Adam(Adam::sklearn(lr, beta1, beta2, eps)))
    }

    fn checked(config: Self) -> Result<Self> {
        dispatch!(&config, rule => rule.check())?;
        Ok(config)
    }

    pub fn lr(&self) -> f64 {
        dispatch!(self, rule => rule.lr())
    }

    /// Changes the learning rate (for schedules); the state is kept.
    pub fn set_lr(&mut self, new: f64) -> Result<()> {
        check_lr(new)?;
        dispatch!(self, rule => *rule.lr_mut() = new);
        Ok(())
    }

    /// Sets a learning rate a schedule computed: finite and >= 0 (torch lets a schedule reach
    /// 0, e.g. `CosineAnnealingLR` at `T_max` with `eta_min=0`), which the schedules
    /// guarantee; [`OptimizerConfig::set_lr`] is the checked setter for users.
    pub fn set_scheduled_lr(&mut self, lr: f64) {
        dispatch!(self, rule => *rule.lr_mut() = lr);
    }

    /// The momentum a schedule may cycle (`OneCycleLR(cycle_momentum=True)`): SGD's momentum,
    /// Adam's beta1, RMSprop's momentum. None where there is none to cycle: Adagrad, and SGD
    /// (torch form) or RMSprop at momentum 0, which keep no momentum buffer.
    pub fn momentum(&self) -> Option<f64> {
        match self {
            OptimizerConfig::Sgd(s) if s.velocity || s.momentum > 0.0 => Some(s.momentum),
            OptimizerConfig::Adam(a) => Some(a.beta1),
            OptimizerConfig::RmsProp(r) if r.momentum > 0.0 => Some(r.momentum),
            _ => None,
        }
    }

    /// Replaces the momentum [`OptimizerConfig::momentum`] reports (checked as the
    /// constructor checks it). Refused where there is none, and where the new value would
    /// change the number of state buffers (momentum 0 for SGD or RMSprop): the state is kept.
    pub fn set_momentum(&mut self, m: f64) -> Result<()> {
        if self.momentum().is_none() {
            return Err(Error::value(format!(
                "momentum: {self} has no momentum (or beta1) to set"
            )));
        }
        let mut next = self.clone();
        match &mut next {
            OptimizerConfig::Sgd(s) => s.momentum = m,
            OptimizerConfig::Adam(a) => a.beta1 = m,
            OptimizerConfig::RmsProp(r) => r.momentum = m,
            OptimizerConfig::Adagrad(_) => {}
        }
        dispatch!(&next, rule => rule.check())?;
        if next.buffers_per_parameter() != self.buffers_per_parameter() {
            return Err(Error::value(format!(
                "momentum: {m} would change the number of state buffers of {self}"
            )));
        }
        *self = next;
        Ok(())
    }

    /// How many state buffers each parameter needs.
    pub fn buffers_per_parameter(&self) -> usize {
        dispatch!(self, rule => rule.buffers())
    }

    /// The value each state buffer starts at.
    pub fn initial_values(&self) -> [f64; MAX_BUFFERS] {
        dispatch!(self, rule => rule.initial_values())
    }

    /// See [`Rule::update`].
    pub fn update<T: Scalar>(
        &self,
        t: u64,
        param: &mut [T],
        grad: Grad<'_, T>,
        buffers: &mut [&mut [T]],
    ) {
        dispatch!(self, rule => rule.update(t, param, grad, buffers))
    }

    /// See [`Rule::update_bounds`].
    pub fn update_bounds<T: Scalar>(&self, t: u64, grad: f64, before: Peaks) -> Option<Peaks> {
        dispatch!(self, rule => rule.update_bounds::<T>(t, grad, before))
    }
}

/// As Python shows the optimizer: `SGD(lr=0.1, momentum=0.0, ...)`.
impl fmt::Display for OptimizerConfig {
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

fn check_lr(lr: f64) -> Result<()> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(Error::value(format!(
            "lr: expected a positive finite learning rate, got {lr}"
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

/// `v` in [0, 1] (`closed`) or [0, 1).
fn check_unit(name: &str, v: f64, closed: bool) -> Result<()> {
    if (0.0..1.0).contains(&v) || (closed && v == 1.0) {
        Ok(())
    } else {
        let upper = if closed { "1]" } else { "1)" };
        Err(Error::value(format!(
            "{name}: expected a value in [0, {upper}, got {v}"
        )))
    }
}

/// The first `N` of a parameter's buffers, which [`Rule::buffers`] promised are there.
fn split<'b, T, const N: usize>(buffers: &'b mut [&mut [T]]) -> [&'b mut [T]; N] {
    let mut it = buffers.iter_mut();
    std::array::from_fn(|_| match it.next() {
        Some(b) => &mut b[..],
        None => Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_validate_like_torch() {
        assert!(OptimizerConfig::sgd(0.0, 0.0, false, 0.0).is_err());
        assert!(OptimizerConfig::sgd(f64::NAN, 0.0, false, 0.0).is_err());
        assert!(OptimizerConfig::sgd(0.1, 0.0, true, 0.0).is_err());
        assert!(OptimizerConfig::sgd(0.1, -0.5, false, 0.0).is_err());
        assert!(OptimizerConfig::adam(1e-3, (0.9, 1.0), 1e-8, 0.0, false).is_err());
        let mut c = OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.01, true).unwrap();
        c.set_lr(0.5).unwrap();
        assert_eq!(c.lr(), 0.5);
        assert!(c.set_lr(-1.0).is_err());
        let error = |r: Result<OptimizerConfig>| r.unwrap_err().to_string();
        assert!(
            error(OptimizerConfig::rmsprop(0.01, -0.1, 1e-8, 0.0, 0.0, false)).contains("alpha")
        );
        assert!(error(OptimizerConfig::rmsprop(0.01, 0.99, -1.0, 0.0, 0.0, false)).contains("eps"));
        assert!(
            error(OptimizerConfig::rmsprop(0.01, 0.99, 1e-8, 0.0, -1.0, false))
                .contains("momentum")
        );
        assert!(error(OptimizerConfig::adagrad(0.01, -1.0, 0.0, 0.0, 1e-10)).contains("lr_decay"));
        assert!(error(OptimizerConfig::adagrad(0.01, 0.0, 0.0, -1.0, 1e-10))
            .contains("initial_accumulator_value"));
        assert!(error(OptimizerConfig::adagrad(
            0.01,
            0.0,
            f64::INFINITY,
            0.0,
            1e-10
        ))
        .contains("weight_decay"));
    }

    #[test]
    fn buffers_and_their_initial_values() {
        let rms = |momentum, centered| {
            OptimizerConfig::rmsprop(0.01, 0.99, 1e-8, 0.0, momentum, centered)
                .unwrap()
                .buffers_per_parameter()
        };
        assert_eq!(
            [
                rms(0.0, false),
                rms(0.9, false),
                rms(0.0, true),
                rms(0.9, true)
            ],
            [1, 2, 2, 3]
        );
        let ada = OptimizerConfig::adagrad(0.01, 0.0, 0.0, 0.5, 1e-10).unwrap();
        assert_eq!(
            (ada.buffers_per_parameter(), ada.initial_values()[0]),
            (1, 0.5)
        );
        assert_eq!(
            OptimizerConfig::sklearn_sgd(0.1, 0.0, false)
                .unwrap()
                .buffers_per_parameter(),
            1
        );
        assert_eq!(
            OptimizerConfig::sgd(0.1, 0.0, false, 0.0)
                .unwrap()
                .buffers_per_parameter(),
            0
        );
    }

    #[test]
    fn shown_as_python_builds_them() {
        let show = |c: Result<OptimizerConfig>| c.unwrap().to_string();
        assert_eq!(
            show(OptimizerConfig::rmsprop(0.01, 0.99, 1e-8, 0.0, 0.9, true)),
            "RMSprop(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9, centered=True)"
        );
        assert_eq!(
            show(OptimizerConfig::adagrad(0.01, 0.0, 0.0, 0.1, 1e-10)),
            "Adagrad(lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.1, \
             eps=1e-10)"
        );
        assert_eq!(
            show(OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.01, true)),
            "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)"
        );
    }
}
