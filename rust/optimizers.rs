//! SGD, Adam and AdamW with `torch.optim`'s exact semantics, and scikit-learn's SGD and Adam
//! (`sklearn.neural_network._stochastic_optimizers`) with theirs.
//!
//! A config holds the hyperparameters; an [`OptimizerState`] holds what persists between steps
//! (momentum buffers, moments, the step count), one slot per parameter tensor.

use crate::error::{zeros, Error, Result};
use crate::kernels::Shared;
use crate::kernels::{self, AdamStep, Grad, SgdStep, SklearnAdamStep, SklearnSgdStep};
use crate::network::Network;
use crate::scalar::Scalar;

/// Hyperparameters of an optimizer.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerConfig {
    /// `torch.optim.SGD` (dampening 0); weight decay is coupled (added to the gradient).
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// `torch.optim.Adam` (coupled L2) or, with `decoupled`, `torch.optim.AdamW`.
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    },
    /// scikit-learn's `SGDOptimizer`: velocity `v = μ·v - lr·g`; its L2 term lives in the
    /// gradient (see `Network::batch_gradients`).
    SklearnSgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
    },
    /// scikit-learn's `AdamOptimizer`: `eps` added to the uncorrected `√v`.
    SklearnAdam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
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

impl OptimizerConfig {
    pub fn sgd(lr: f64, momentum: f64, nesterov: bool, weight_decay: f64) -> Result<Self> {
        check_lr(lr)?;
        check_non_negative("momentum", momentum)?;
        check_non_negative("weight_decay", weight_decay)?;
        if nesterov && momentum <= 0.0 {
            return Err(Error::value(
                "nesterov: Nesterov momentum requires momentum > 0",
            ));
        }
        Ok(OptimizerConfig::Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        })
    }

    pub fn adam(
        lr: f64,
        (beta1, beta2): (f64, f64),
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> Result<Self> {
        check_lr(lr)?;
        for (name, b) in [("betas[0]", beta1), ("betas[1]", beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::value(format!(
                    "{name}: expected a value in [0, 1), got {b}"
                )));
            }
        }
        check_non_negative("eps", eps)?;
        check_non_negative("weight_decay", weight_decay)?;
        Ok(OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
        })
    }

    /// scikit-learn's SGD (`momentum` in [0, 1]).
    pub fn sklearn_sgd(lr: f64, momentum: f64, nesterov: bool) -> Result<Self> {
        check_lr(lr)?;
        check_unit("momentum", momentum, true)?;
        Ok(OptimizerConfig::SklearnSgd {
            lr,
            momentum,
            nesterov,
        })
    }

    /// scikit-learn's Adam (`beta_1`, `beta_2` in [0, 1), `epsilon` > 0).
    pub fn sklearn_adam(lr: f64, beta1: f64, beta2: f64, eps: f64) -> Result<Self> {
        check_lr(lr)?;
        check_unit("beta_1", beta1, false)?;
        check_unit("beta_2", beta2, false)?;
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::value(format!(
                "epsilon: expected a positive finite value, got {eps}"
            )));
        }
        Ok(OptimizerConfig::SklearnAdam {
            lr,
            beta1,
            beta2,
            eps,
        })
    }

    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::SklearnSgd { lr, .. }
            | OptimizerConfig::SklearnAdam { lr, .. } => *lr,
        }
    }

    /// Changes the learning rate (for schedules); the state is kept.
    pub fn set_lr(&mut self, new: f64) -> Result<()> {
        check_lr(new)?;
        match self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::SklearnSgd { lr, .. }
            | OptimizerConfig::SklearnAdam { lr, .. } => *lr = new,
        }
        Ok(())
    }

    /// How many state buffers each parameter needs.
    pub fn buffers_per_parameter(&self) -> usize {
        match self {
            OptimizerConfig::Sgd { momentum, .. } if *momentum > 0.0 => 1,
            OptimizerConfig::Sgd { .. } => 0,
            OptimizerConfig::SklearnSgd { .. } => 1,
            OptimizerConfig::Adam { .. } | OptimizerConfig::SklearnAdam { .. } => 2,
        }
    }

    /// One update of `param` from `grad` at step `t` (1-based), given this parameter's
    /// buffers (`[momentum]`, `[]`, or `[m, v]`). Elementwise, so any split of a parameter
    /// into ranges updates it exactly as a whole.
    pub fn update<T: Scalar>(
        &self,
        t: u64,
        param: &mut [T],
        grad: Grad<'_, T>,
        buffers: &mut [&mut [T]],
    ) {
        match *self {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                let step = SgdStep {
                    lr: T::of(lr),
                    momentum: T::of(momentum),
                    weight_decay: T::of(weight_decay),
                    nesterov,
                    first: t == 1,
                };
                let buf = buffers.first_mut().map_or(&mut [][..], |b| &mut b[..]);
                kernels::sgd(param, grad, buf, step);
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => {
                let t = t as f64;
                let step = AdamStep {
                    beta1: T::of(beta1),
                    beta2: T::of(beta2),
                    eps: T::of(eps),
                    step_size: T::of(lr / (1.0 - beta1.powf(t))),
                    bias_correction2_sqrt: T::of((1.0 - beta2.powf(t)).sqrt()),
                    weight_decay: T::of(if decoupled { 0.0 } else { weight_decay }),
                    decay_factor: T::of(if decoupled {
                        1.0 - lr * weight_decay
                    } else {
                        1.0
                    }),
                };
                let (m, v) = buffers.split_at_mut(1);
                kernels::adam(param, grad, m[0], v[0], step);
            }
            OptimizerConfig::SklearnSgd {
                lr,
                momentum,
                nesterov,
            } => {
                let step = SklearnSgdStep {
                    lr: T::of(lr),
                    momentum: T::of(momentum),
                    nesterov,
                };
                kernels::sklearn_sgd(param, grad, buffers[0], step);
            }
            OptimizerConfig::SklearnAdam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let t = t as f64;
                let step = SklearnAdamStep {
                    beta1: T::of(beta1),
                    beta2: T::of(beta2),
                    eps: T::of(eps),
                    lr: T::of(lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t))),
                };
                let (m, v) = buffers.split_at_mut(1);
                kernels::sklearn_adam(param, grad, m[0], v[0], step);
            }
        }
    }
}

/// Upper bounds of `|value|` over parameters and each of their state buffers (0 for a buffer
/// the optimizer does not have), in f64.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Peaks {
    pub param: f64,
    pub state: [f64; 2],
}

impl Peaks {
    pub const ZERO: Peaks = Peaks {
        param: 0.0,
        state: [0.0; 2],
    };

    /// The elementwise larger of the two (a NaN wins).
    pub fn max(self, o: Peaks) -> Peaks {
        let m = |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        };
        Peaks {
            param: m(self.param, o.param),
            state: [m(self.state[0], o.state[0]), m(self.state[1], o.state[1])],
        }
    }
}

impl OptimizerConfig {
    /// Proves step `t` of [`Self::update`] in float type `T` stays finite when every gradient
    /// is at most `grad` in magnitude and every parameter and state value at most
    /// `before.param` / `before.state[i]`, and returns bounds of the values it writes. Bounds
    /// every intermediate of the kernels in f64, with the hyperparameters rounded to `T` as the
    /// kernels see them, against a sixteenth of `T`'s largest value (room for rounding). `None`
    /// means "not proven", not "will overflow": the loop then takes the checked path
    /// (`train::guard`).
    pub fn update_bounds<T: Scalar>(&self, t: u64, grad: f64, before: Peaks) -> Option<Peaks> {
        let of = |x: f64| T::of(x).f64().abs();
        let limit = T::max_value().f64() / 16.0;
        let (p, [s0, s1]) = (before.param, before.state);
        let (intermediates, after): ([f64; 6], Peaks) = match *self {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                let g = grad + of(weight_decay) * p;
                let b = of(momentum) * s0 + g;
                let d = if nesterov { g + of(momentum) * b } else { b };
                let step = of(lr) * d;
                let kept = if momentum > 0.0 { b } else { 0.0 };
                ([g, b, d, step, 0.0, 0.0], peaks(p + step, kept, 0.0))
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => {
                let tf = t as f64;
                let decay = if decoupled {
                    of(1.0 - lr * weight_decay)
                } else {
                    1.0
                };
                let param = p * decay.max(1.0);
                let g = grad
                    + if decoupled {
                        0.0
                    } else {
                        of(weight_decay) * param
                    };
                // The moments blend their old value with the new gradient (or its square):
                // no larger than either, up to three roundings.
                let gg = g * g;
                let (m, v) = (s0.max(g) * BLEND_ROUNDING, s1.max(gg) * BLEND_ROUNDING);
                let eps = of(eps);
                if eps == 0.0 {
                    return None;
                }
                let sqrt_v = v.sqrt() / of((1.0 - beta2.powf(tf)).sqrt()).max(f64::MIN_POSITIVE);
                let ratio = m / eps;
                let step = of(lr / (1.0 - beta1.powf(tf))) * ratio;
                (
                    [param, g, gg, sqrt_v, ratio, step],
                    peaks(param + step, m, v),
                )
            }
            OptimizerConfig::SklearnSgd {
                lr,
                momentum,
                nesterov,
            } => {
                let lg = of(lr) * grad;
                let velocity = of(momentum) * s0 + lg;
                let update = if nesterov {
                    of(momentum) * velocity + lg
                } else {
                    velocity
                };
                (
                    [lg, update, 0.0, 0.0, 0.0, 0.0],
                    peaks(p + update, velocity, 0.0),
                )
            }
            OptimizerConfig::SklearnAdam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let tf = t as f64;
                let gg = grad * grad;
                let (m, v) = (s0.max(grad) * BLEND_ROUNDING, s1.max(gg) * BLEND_ROUNDING);
                let eps = of(eps);
                if eps == 0.0 {
                    return None;
                }
                let rate = of(lr * (1.0 - beta2.powf(tf)).sqrt() / (1.0 - beta1.powf(tf)));
                let step = rate * m / eps;
                (
                    [gg, v.sqrt() + eps, rate * m, step, 0.0, 0.0],
                    peaks(p + step, m, v),
                )
            }
        };
        let worst = intermediates
            .into_iter()
            .chain([after.param, after.state[0], after.state[1]])
            .fold(0.0, f64::max);
        // NaN (from an infinite input) fails the comparison too.
        (worst < limit).then_some(after)
    }
}

/// How much a moment `β·m + (1-β)·g` can exceed `max(|m|, |g|)` through rounding (three
/// roundings of at most 2⁻²⁴ each in f32), with room to spare.
const BLEND_ROUNDING: f64 = 1.0 + 1e-6;

fn peaks(param: f64, s0: f64, s1: f64) -> Peaks {
    Peaks {
        param,
        state: [s0, s1],
    }
}

/// What an optimizer carries between steps.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState<T> {
    /// Completed steps.
    steps: u64,
    /// Per parameter tensor (in the network's order): its buffers.
    slots: Vec<Vec<Vec<T>>>,
}

impl<T: Scalar> OptimizerState<T> {
    pub fn new() -> Self {
        OptimizerState {
            steps: 0,
            slots: Vec::new(),
        }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records steps taken outside [`Self::step`] (by a team, see `train`).
    pub(crate) fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// Allocates buffers on first use; afterwards checks the network still has the same shapes.
    pub fn bind(&mut self, config: &OptimizerConfig, net: &Network<T>) -> Result<()> {
        let sizes: Vec<usize> = net.param_info().iter().map(|p| p.len()).collect();
        if self.slots.is_empty() {
            let per = config.buffers_per_parameter();
            self.slots = sizes
                .iter()
                .map(|&n| {
                    (0..per)
                        .map(|_| zeros(Some(n), "the optimizer's state"))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?;
            return Ok(());
        }
        let same = self.slots.len() == sizes.len()
            && self
                .slots
                .iter()
                .zip(&sizes)
                .all(|(s, &n)| s.iter().all(|b| b.len() == n));
        if same {
            Ok(())
        } else {
            Err(Error::value(
                "optimizer: its state belongs to a network with different parameter shapes; \
                 create a new optimizer for this network",
            ))
        }
    }

    /// The buffers of every parameter tensor, for a team to update row ranges of.
    pub(crate) fn slots_view(&mut self) -> Vec<Vec<Shared<'_, T>>> {
        self.slots
            .iter_mut()
            .map(|s| s.iter_mut().map(|b| Shared::new(b)).collect())
            .collect()
    }
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
    }

    #[test]
    fn updates_are_proven_safe_only_far_from_overflow() {
        let small = Peaks {
            param: 3.0,
            state: [1.0, 1.0],
        };
        let adam = OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.01, true).unwrap();
        assert!(adam.update_bounds::<f32>(1, 10.0, small).is_some());
        // An infinite gradient, or one whose square overflows float32, is never proven safe.
        assert!(adam.update_bounds::<f32>(1, f64::INFINITY, small).is_none());
        assert!(adam.update_bounds::<f32>(1, 1e20, small).is_none());
        assert!(adam.update_bounds::<f64>(1, 1e20, small).is_some());
        // A rate that is finite in f64 but not in f32.
        let huge = OptimizerConfig::sgd(1e39, 0.0, false, 0.0).unwrap();
        assert!(huge.update_bounds::<f64>(1, 1.0, small).is_some());
        assert!(huge.update_bounds::<f32>(1, 1.0, small).is_none());
        // eps = 0 can divide zero by zero.
        let no_eps = OptimizerConfig::adam(1e-3, (0.9, 0.999), 0.0, 0.0, false).unwrap();
        assert!(no_eps.update_bounds::<f64>(1, 1.0, small).is_none());
    }
}
