//! Adam: `torch.optim.Adam` (coupled L2) and `torch.optim.AdamW` (decoupled), and
//! scikit-learn's `AdamOptimizer` as a setting (`eps` on the uncorrected `√v`).

use std::fmt;

use super::peaks::{Bounds, BLEND_ROUNDING};
use super::{check_lr, check_non_negative, check_unit, split, Peaks, Rule};
use crate::error::{Error, Result};
use crate::kernels::{self, AdamStep, Grad};
use crate::scalar::Scalar;

/// Adam's hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: the weights shrink by `1 - lr·wd` before the step, instead of L2 in the gradient.
    pub decoupled: bool,
    /// scikit-learn's form: the step `lr·√(1-β2^t)/(1-β1^t) · m / (√v + eps)`, so `eps` is
    /// added to the uncorrected `√v` (torch adds it to `√v / √(1-β2^t)`); no weight decay
    /// (scikit-learn's L2 term is in the gradient), `epsilon` > 0.
    pub sklearn: bool,
}

impl Adam {
    pub fn torch(
        lr: f64,
        (beta1, beta2): (f64, f64),
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> Self {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            sklearn: false,
        }
    }

    pub fn sklearn(lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: 0.0,
            decoupled: false,
            sklearn: true,
        }
    }

    /// `1 - β^t`.
    fn correction(beta: f64, t: u64) -> f64 {
        1.0 - beta.powf(t as f64)
    }
}

impl Rule for Adam {
    fn check(&self) -> Result<()> {
        check_lr(self.lr)?;
        if self.sklearn {
            check_unit("beta_1", self.beta1, false)?;
            check_unit("beta_2", self.beta2, false)?;
            if !(self.eps.is_finite() && self.eps > 0.0) {
                return Err(Error::value(format!(
                    "epsilon: expected a positive finite value, got {}",
                    self.eps
                )));
            }
            return Ok(());
        }
        check_unit("betas[0]", self.beta1, false)?;
        check_unit("betas[1]", self.beta2, false)?;
        check_non_negative("eps", self.eps)?;
        check_non_negative("weight_decay", self.weight_decay)
    }

    fn buffers(&self) -> usize {
        2
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn lr_mut(&mut self) -> &mut f64 {
        &mut self.lr
    }

    fn update<T: Scalar>(
        &self,
        t: u64,
        param: &mut [T],
        grad: Grad<'_, T>,
        buffers: &mut [&mut [T]],
    ) {
        let (c1, c2) = (
            Self::correction(self.beta1, t),
            Self::correction(self.beta2, t),
        );
        let (lr, wd) = (self.lr, self.weight_decay);
        let step = AdamStep {
            beta1: T::of(self.beta1),
            beta2: T::of(self.beta2),
            eps: T::of(self.eps),
            step_size: T::of(if self.sklearn {
                lr * c2.sqrt() / c1
            } else {
                lr / c1
            }),
            bias_correction2_sqrt: T::of(c2.sqrt()),
            weight_decay: T::of(if self.decoupled { 0.0 } else { wd }),
            decay_factor: T::of(if self.decoupled { 1.0 - lr * wd } else { 1.0 }),
            sklearn: self.sklearn,
        };
        let [m, v] = split(buffers);
        kernels::adam(param, grad, m, v, step);
    }

    fn update_bounds<T: Scalar>(&self, t: u64, grad: f64, before: Peaks) -> Option<Peaks> {
        let of = Bounds::<T>::of;
        let mut b = Bounds::<T>::new();
        let (p, s0, s1) = (before.param, before.state[0], before.state[1]);
        let (c1, c2) = (
            Self::correction(self.beta1, t),
            Self::correction(self.beta2, t),
        );
        let eps = of(self.eps);
        if eps == 0.0 {
            // 0/0 is possible.
            return None;
        }
        if self.sklearn {
            let gg = b.see(grad * grad);
            // The moments blend their old value with the new gradient (or its square): no
            // larger than either, up to three roundings.
            let (m, v) = (s0.max(grad) * BLEND_ROUNDING, s1.max(gg) * BLEND_ROUNDING);
            b.see(v.sqrt() + eps);
            let rate = of(self.lr * c2.sqrt() / c1);
            b.see(rate * m);
            let step = b.see(rate * m / eps);
            return b.finish(Peaks::of(p + step, &[m, v]));
        }
        let decay = if self.decoupled {
            of(1.0 - self.lr * self.weight_decay)
        } else {
            1.0
        };
        let param = b.see(p * decay.max(1.0));
        let l2 = if self.decoupled {
            0.0
        } else {
            of(self.weight_decay)
        };
        let g = b.see(grad + l2 * param);
        let gg = b.see(g * g);
        let (m, v) = (s0.max(g) * BLEND_ROUNDING, s1.max(gg) * BLEND_ROUNDING);
        b.see(v.sqrt() / of(c2.sqrt()).max(f64::MIN_POSITIVE));
        let ratio = b.see(m / eps);
        let step = b.see(of(self.lr / c1) * ratio);
        b.finish(Peaks::of(param + step, &[m, v]))
    }
}

impl fmt::Display for Adam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            ..
        } = self;
        if self.sklearn {
            return write!(
                f,
                "SklearnAdam(lr={lr:?}, beta_1={beta1:?}, beta_2={beta2:?}, epsilon={eps:?})"
            );
        }
        let name = if self.decoupled { "AdamW" } else { "Adam" };
        write!(
            f,
            "{name}(lr={lr:?}, betas=({beta1:?}, {beta2:?}), eps={eps:?}, \
             weight_decay={weight_decay:?})"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::peaks::tests::bounds_hold;
    use crate::optimizers::OptimizerConfig;

    #[test]
    fn carried_bounds_hold_for_every_setting() {
        let configs = [
            OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.0, false),
            OptimizerConfig::adam(1e-3, (0.8, 0.99), 1e-8, 0.01, false),
            OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.01, true),
            OptimizerConfig::sklearn_adam(1e-3, 0.9, 0.999, 1e-8),
        ];
        for c in configs.map(Result::unwrap) {
            bounds_hold::<f32>(&c, 3.0, 50);
            bounds_hold::<f64>(&c, 3.0, 50);
        }
    }

    #[test]
    fn updates_are_proven_safe_only_far_from_overflow() {
        let small = Peaks::of(3.0, &[1.0, 1.0]);
        let adam = OptimizerConfig::adam(1e-3, (0.9, 0.999), 1e-8, 0.01, true).unwrap();
        assert!(adam.update_bounds::<f32>(1, 10.0, small).is_some());
        // An infinite gradient, or one whose square overflows float32, is never proven safe.
        assert!(adam.update_bounds::<f32>(1, f64::INFINITY, small).is_none());
        assert!(adam.update_bounds::<f32>(1, 1e20, small).is_none());
        assert!(adam.update_bounds::<f64>(1, 1e20, small).is_some());
        // eps = 0 can divide zero by zero.
        let no_eps = OptimizerConfig::adam(1e-3, (0.9, 0.999), 0.0, 0.0, false).unwrap();
        assert!(no_eps.update_bounds::<f64>(1, 1.0, small).is_none());
        let sklearn = OptimizerConfig::sklearn_adam(1e-3, 0.9, 0.999, 1e-8).unwrap();
        assert!(sklearn.update_bounds::<f32>(1, 10.0, small).is_some());
        assert!(sklearn.update_bounds::<f32>(1, 1e20, small).is_none());
    }
}
