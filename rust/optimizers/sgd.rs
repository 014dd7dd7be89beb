//! Stochastic gradient descent with optional (Nesterov) momentum: `torch.optim.SGD`, and
//! scikit-learn's `SGDOptimizer` as its velocity-form setting.

use std::fmt;

use super::peaks::Bounds;
use super::{check_lr, check_non_negative, check_unit, py_bool, split, Peaks, Rule};
use crate::error::{Error, Result};
use crate::kernels::{self, Grad, SgdStep};
use crate::scalar::Scalar;

/// SGD's hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    /// Coupled L2 (added to the gradient); 0 in the velocity form, whose L2 term scikit-learn
    /// puts in the gradient itself (see `Network::batch_gradients`).
    pub weight_decay: f64,
    /// scikit-learn's form `v = μ·v - lr·g`, `p += v` (Nesterov: `p += μ·v - lr·g`), with a
    /// buffer even at momentum 0 and `momentum` in [0, 1]; torch's is `buf = μ·buf + g`,
    /// `p -= lr·buf`, which rounds differently.
    pub velocity: bool,
}

impl Sgd {
    pub fn torch(lr: f64, momentum: f64, nesterov: bool, weight_decay: f64) -> Self {
        Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
            velocity: false,
        }
    }

    pub fn sklearn(lr: f64, momentum: f64, nesterov: bool) -> Self {
        Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay: 0.0,
            velocity: true,
        }
    }
}

impl Rule for Sgd {
    fn check(&self) -> Result<()> {
        check_lr(self.lr)?;
        if self.velocity {
            return check_unit("momentum", self.momentum, true);
        }
        check_non_negative("momentum", self.momentum)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && self.momentum <= 0.0 {
            return Err(Error::value(
                "nesterov: Nesterov momentum requires momentum > 0",
            ));
        }
        Ok(())
    }

    fn buffers(&self) -> usize {
        usize::from(self.velocity || self.momentum > 0.0)
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
        let step = SgdStep {
            lr: T::of(self.lr),
            momentum: T::of(self.momentum),
            weight_decay: T::of(self.weight_decay),
            nesterov: self.nesterov,
            first: t == 1,
            velocity: self.velocity,
        };
        let [buf] = split(buffers);
        kernels::sgd(param, grad, buf, step);
    }

    fn update_bounds<T: Scalar>(&self, _t: u64, grad: f64, before: Peaks) -> Option<Peaks> {
        let of = Bounds::<T>::of;
        let mut b = Bounds::<T>::new();
        let (p, s0) = (before.param, before.state[0]);
        let (lr, momentum) = (of(self.lr), of(self.momentum));
        if self.velocity {
            let lg = b.see(lr * grad);
            let velocity = momentum * s0 + lg;
            let update = b.see(if self.nesterov {
                momentum * velocity + lg
            } else {
                velocity
            });
            return b.finish(Peaks::of(p + update, &[velocity]));
        }
        let g = b.see(grad + of(self.weight_decay) * p);
        let buf = b.see(momentum * s0 + g);
        let d = b.see(if self.nesterov {
            g + momentum * buf
        } else {
            buf
        });
        let step = b.see(lr * d);
        let kept = if self.momentum > 0.0 { buf } else { 0.0 };
        b.finish(Peaks::of(p + step, &[kept]))
    }
}

impl fmt::Display for Sgd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
            velocity,
        } = self;
        let nesterov = py_bool(*nesterov);
        if *velocity {
            write!(
                f,
                "SklearnSGD(lr={lr:?}, momentum={momentum:?}, nesterov={nesterov})"
            )
        } else {
            write!(
                f,
                "SGD(lr={lr:?}, momentum={momentum:?}, nesterov={nesterov}, \
                 weight_decay={weight_decay:?})"
            )
        }
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
            OptimizerConfig::sgd(0.05, 0.0, false, 0.0),
            OptimizerConfig::sgd(0.05, 0.9, true, 0.01),
            OptimizerConfig::sklearn_sgd(0.05, 0.9, true),
            OptimizerConfig::sklearn_sgd(0.05, 0.0, false),
        ];
        for c in configs.map(Result::unwrap) {
            bounds_hold::<f32>(&c, 3.0, 50);
            bounds_hold::<f64>(&c, 3.0, 50);
        }
    }

    #[test]
    fn rates_finite_in_f64_but_not_f32_are_not_proven() {
        let small = Peaks::of(3.0, &[1.0]);
        let huge = OptimizerConfig::sgd(1e39, 0.0, false, 0.0).unwrap();
        assert!(huge.update_bounds::<f64>(1, 1.0, small).is_some());
        assert!(huge.update_bounds::<f32>(1, 1.0, small).is_none());
        let sklearn = OptimizerConfig::sklearn_sgd(0.1, 0.9, true).unwrap();
        let after = sklearn.update_bounds::<f32>(1, 2.0, small).unwrap();
        // |v| ≤ 0.9·1 + 0.1·2; |p| ≤ 3 + 0.9·|v| + 0.2.
        assert!((after.state[0] - 1.1).abs() < 1e-6 && (after.param - 4.19).abs() < 1e-6);
        assert!(sklearn.update_bounds::<f32>(1, 2e38, small).is_none());
    }
}
