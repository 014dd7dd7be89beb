//! RMSprop, as `torch.optim.RMSprop`: optional momentum, optional centring.

use std::fmt;

use super::peaks::{Bounds, BLEND_ROUNDING};
use super::{check_lr, check_non_negative, py_bool, split, Peaks, Rule};
use crate::error::Result;
use crate::kernels::{self, Grad, RmspropStep};
use crate::scalar::Scalar;

/// RMSprop's hyperparameters. State per parameter, in this order: the square average, the
/// momentum buffer (when `momentum > 0`), the gradient average (when `centered`); all start
/// at 0, as torch's.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsProp {
    pub lr: f64,
    /// Smoothing constant of the averages.
    pub alpha: f64,
    pub eps: f64,
    /// Coupled L2 (added to the gradient).
    pub weight_decay: f64,
    pub momentum: f64,
    /// Normalise by an estimate of the gradient's variance instead of its second moment.
    pub centered: bool,
}

impl Rule for RmsProp {
    fn check(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_non_negative("alpha", self.alpha)?;
        check_non_negative("eps", self.eps)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_non_negative("momentum", self.momentum)
    }

    fn buffers(&self) -> usize {
        1 + usize::from(self.momentum > 0.0) + usize::from(self.centered)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn lr_mut(&mut self) -> &mut f64 {
        &mut self.lr
    }

    fn update<T: Scalar>(
        &self,
        _t: u64,
        param: &mut [T],
        grad: Grad<'_, T>,
        buffers: &mut [&mut [T]],
    ) {
        let weight = T::of(1.0 - self.alpha);
        let step = RmspropStep {
            lr: T::of(self.lr),
            alpha: T::of(self.alpha),
            eps: T::of(self.eps),
            weight_decay: T::of(self.weight_decay),
            momentum: T::of(self.momentum),
            lerp_weight: weight,
            lerp_low: weight.abs() < T::of(0.5),
        };
        let [sq, second, third] = split(buffers);
        // Without momentum the gradient average comes second, and the third is empty.
        let (mom, ga) = if self.momentum > 0.0 {
            (second, third)
        } else {
            (third, second)
        };
        kernels::rmsprop(param, grad, sq, mom, ga, step);
    }

    fn update_bounds<T: Scalar>(&self, _t: u64, grad: f64, before: Peaks) -> Option<Peaks> {
        let of = Bounds::<T>::of;
        let mut b = Bounds::<T>::new();
        let eps = of(self.eps);
        // α > 1 extrapolates: the square average may turn negative and its root NaN. eps = 0
        // may divide by zero.
        if of(self.alpha) > 1.0 || eps == 0.0 {
            return None;
        }
        let (p, [s_sq, s1, s2]) = (before.param, before.state);
        let momentum = self.momentum > 0.0;
        let (s_mom, s_ga) = if momentum { (s1, s2) } else { (0.0, s1) };
        let g = b.see(grad + of(self.weight_decay) * p);
        let gg = b.see(g * g);
        // Both averages blend their old value with the new one (`lerp` too: `ga + w·(g - ga)`
        // with w in [0, 1] is between them), up to a few roundings.
        let sq = s_sq.max(gg) * BLEND_ROUNDING;
        let ga = if self.centered {
            b.see(g + s_ga);
            let ga = s_ga.max(g) * BLEND_ROUNDING;
            let ga2 = b.see(ga * ga);
            b.see(sq + ga2);
            ga
        } else {
            0.0
        };
        // The denominator `√var + eps` is at least eps; uncentred, also at least
        // `√((1-α)·g²)` for the element's own `g`, unless that square underflows.
        let mut ratio = b.see(g / eps);
        let w = (T::one() - T::of(self.alpha)).f64();
        if !self.centered && w > 0.0 {
            let tiny = T::min_positive_value().f64() / w;
            let underflowing = tiny.sqrt().max(tiny) * BLEND_ROUNDING;
            ratio = ratio.min(w.sqrt().recip().max(underflowing / eps));
        }
        let ratio = ratio * BLEND_ROUNDING;
        let buf = b.see(of(self.momentum) * s_mom + ratio);
        let step = b.see(of(self.lr) * if momentum { buf } else { ratio });
        let after = match (momentum, self.centered) {
            (true, true) => Peaks::of(p + step, &[sq, buf, ga]),
            (true, false) => Peaks::of(p + step, &[sq, buf]),
            (false, true) => Peaks::of(p + step, &[sq, ga]),
            (false, false) => Peaks::of(p + step, &[sq]),
        };
        b.finish(after)
    }
}

impl fmt::Display for RmsProp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RmsProp {
            lr,
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
        } = self;
        write!(
            f,
            "RMSprop(lr={lr:?}, alpha={alpha:?}, eps={eps:?}, weight_decay={weight_decay:?}, \
             momentum={momentum:?}, centered={})",
            py_bool(*centered)
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
        for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.9, true)] {
            for wd in [0.0, 0.1] {
                let c = OptimizerConfig::rmsprop(0.01, 0.99, 1e-8, wd, momentum, centered).unwrap();
                let measured = bounds_hold::<f32>(&c, 3.0, 50) + bounds_hold::<f64>(&c, 3.0, 50);
                // Uncentred, |g| / √((1-α)·g²) bounds each step by lr·10: carried bounds
                // never need measuring.
                if !centered {
                    assert_eq!(measured, 0, "{c}");
                }
            }
        }
    }

    #[test]
    fn proven_only_far_from_overflow() {
        let small = Peaks::of(3.0, &[1.0, 1.0, 1.0]);
        for (momentum, centered) in [(0.0, false), (0.9, true)] {
            let c = OptimizerConfig::rmsprop(0.01, 0.99, 1e-8, 0.1, momentum, centered).unwrap();
            assert!(c.update_bounds::<f32>(1, 10.0, small).is_some());
            // g/eps overflows float32's room; g² overflows float32.
            assert!(c.update_bounds::<f32>(1, 1e30, small).is_none());
            assert!(c.update_bounds::<f64>(1, 1e30, small).is_some());
            assert!(c.update_bounds::<f64>(1, f64::INFINITY, small).is_none());
        }
        let no_eps = OptimizerConfig::rmsprop(0.01, 0.99, 0.0, 0.0, 0.0, false).unwrap();
        assert!(no_eps.update_bounds::<f64>(1, 1.0, small).is_none());
        let extrapolating = OptimizerConfig::rmsprop(0.01, 1.5, 1e-8, 0.0, 0.0, false).unwrap();
        assert!(extrapolating.update_bounds::<f64>(1, 1.0, small).is_none());
    }
}
