//! Adagrad, as `torch.optim.Adagrad`: a running sum of squared gradients per element, and a
//! rate that decays with the step count.

use std::fmt;

use super::peaks::{Bounds, BLEND_ROUNDING};
use super::{check_lr, check_non_negative, split, Peaks, Rule, MAX_BUFFERS};
use crate::error::Result;
use crate::kernels::{self, AdagradStep, Grad};
use crate::scalar::Scalar;

/// Adagrad's hyperparameters. One state buffer per parameter, the sum of squared gradients,
/// starting at `initial_accumulator_value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adagrad {
    pub lr: f64,
    /// Step `t` uses the rate `lr / (1 + (t - 1)·lr_decay)`.
    pub lr_decay: f64,
    /// Coupled L2 (added to the gradient).
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
}

impl Adagrad {
    /// The rate of step `t`, as torch computes it (in double precision).
    fn clr(&self, t: u64) -> f64 {
        self.lr / (1.0 + (t as f64 - 1.0) * self.lr_decay)
    }
}

impl Rule for Adagrad {
    fn check(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_non_negative("lr_decay", self.lr_decay)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        check_non_negative("eps", self.eps)
    }

    fn buffers(&self) -> usize {
        1
    }

    fn initial_values(&self) -> [f64; MAX_BUFFERS] {
        [self.initial_accumulator_value, 0.0, 0.0]
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
        let step = AdagradStep {
            clr: T::of(self.clr(t)),
            eps: T::of(self.eps),
            weight_decay: T::of(self.weight_decay),
        };
        let [sum] = split(buffers);
        kernels::adagrad(param, grad, sum, step);
    }

    fn update_bounds<T: Scalar>(&self, t: u64, grad: f64, before: Peaks) -> Option<Peaks> {
        let of = Bounds::<T>::of;
        let mut b = Bounds::<T>::new();
        let eps = of(self.eps);
        if eps == 0.0 {
            // 0/0 when the sum is still 0.
            return None;
        }
        let p = before.param;
        let g = b.see(grad + of(self.weight_decay) * p);
        let sum = (before.state[0] + b.see(g * g)) * BLEND_ROUNDING;
        // The sum only grows from a value >= 0, so `√sum + eps` is at least eps, and at least
        // `|g|` for the element's own `g` unless `g²` underflows.
        let underflowing = T::min_positive_value().f64().sqrt() * BLEND_ROUNDING;
        let ratio = b.see(g / eps).min(1f64.max(underflowing / eps)) * BLEND_ROUNDING;
        let step = b.see(of(self.clr(t)) * ratio);
        b.finish(Peaks::of(p + step, &[sum]))
    }
}

impl fmt::Display for Adagrad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Adagrad {
            lr,
            lr_decay,
            weight_decay,
            initial_accumulator_value,
            eps,
        } = self;
        write!(
            f,
            "Adagrad(lr={lr:?}, lr_decay={lr_decay:?}, weight_decay={weight_decay:?}, \
             initial_accumulator_value={initial_accumulator_value:?}, eps={eps:?})"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::peaks::tests::bounds_hold;
    use crate::optimizers::OptimizerConfig;

    #[test]
    fn bounds_follow_the_sum_and_the_decayed_rate() {
        let c = OptimizerConfig::adagrad(0.5, 1.0, 0.0, 0.25, 1e-2).unwrap();
        let before = Peaks::of(1.0, &[0.25]);
        // Step 3: rate 0.5 / 3; |g| ≤ 2 so the sum ≤ 4.25, and |g| / (√sum + eps) ≤ 1.
        let after = c.update_bounds::<f64>(3, 2.0, before).unwrap();
        assert!((after.state[0] - 4.25).abs() < 1e-4);
        assert!((after.param - (1.0 + 0.5 / 3.0)).abs() < 1e-6);
        // And every value an update writes is within them.
        let (mut p, mut sum) = (vec![1.0f64, -1.0, 0.5], vec![0.25; 3]);
        c.update(
            3,
            &mut p,
            Grad::Dense(&[2.0, -2.0, 0.0]),
            &mut [&mut sum[..]],
        );
        assert!(p.iter().all(|x| x.abs() <= after.param));
        assert!(sum.iter().all(|x| x.abs() <= after.state[0]));
    }

    #[test]
    fn carried_bounds_hold_without_measuring() {
        for (lr_decay, wd, init) in [(0.0, 0.0, 0.0), (0.5, 0.1, 0.1)] {
            let c = OptimizerConfig::adagrad(0.01, lr_decay, wd, init, 1e-10).unwrap();
            assert_eq!(bounds_hold::<f32>(&c, 3.0, 50), 0, "{c}");
            assert_eq!(bounds_hold::<f64>(&c, 3.0, 50), 0, "{c}");
        }
    }

    #[test]
    fn proven_only_far_from_overflow() {
        let small = Peaks::of(3.0, &[1.0]);
        let c = OptimizerConfig::adagrad(0.01, 0.0, 0.1, 0.0, 1e-10).unwrap();
        assert!(c.update_bounds::<f32>(1, 10.0, small).is_some());
        assert!(c.update_bounds::<f32>(1, 1e25, small).is_none());
        assert!(c.update_bounds::<f64>(1, 1e25, small).is_some());
        assert!(c.update_bounds::<f64>(1, f64::NAN, small).is_none());
        let no_eps = OptimizerConfig::adagrad(0.01, 0.0, 0.0, 1.0, 0.0).unwrap();
        assert!(no_eps.update_bounds::<f64>(1, 1.0, small).is_none());
    }
}
