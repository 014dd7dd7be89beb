//! Optimizer updates: one pass over a parameter, its gradient and its state.

use super::simd::vectorised;

/// The scalars of one SGD step (`torch.optim.SGD`, dampening 0).
#[derive(Clone, Copy, Debug)]
pub struct SgdStep<T> {
    pub lr: T,
    pub momentum: T,
    pub weight_decay: T,
    pub nesterov: bool,
    /// The first step sets the momentum buffer to the gradient instead of blending.
    pub first: bool,
}

vectorised! {
    /// `p -= lr · d` where `g = grad + wd·p`, `buf = μ·buf + g` (or `g` on the first step) and
    /// `d = g + μ·buf` (Nesterov) or `buf`. `buf` is empty when momentum is 0.
    pub fn sgd<T>(p: &mut [T], grad: &[T], buf: &mut [T], s: SgdStep<T>) {
        debug_assert_eq!(p.len(), grad.len());
        if buf.is_empty() {
            if s.weight_decay == T::zero() {
                for (pi, &gi) in p.iter_mut().zip(grad) {
                    *pi = *pi - s.lr * gi;
                }
            } else {
                for (pi, &gi) in p.iter_mut().zip(grad) {
                    let g = gi + s.weight_decay * *pi;
                    *pi = *pi - s.lr * g;
                }
            }
            return;
        }
        debug_assert_eq!(buf.len(), p.len());
        for ((pi, &gi), bi) in p.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let g = gi + s.weight_decay * *pi;
            *bi = if s.first { g } else { s.momentum * *bi + g };
            let d = if s.nesterov { g + s.momentum * *bi } else { *bi };
            *pi = *pi - s.lr * d;
        }
    }
}

/// The scalars of one Adam/AdamW step, bias corrections already folded in (as torch does).
#[derive(Clone, Copy, Debug)]
pub struct AdamStep<T> {
    pub beta1: T,
    pub beta2: T,
    pub eps: T,
    /// `lr / (1 - β1^t)`.
    pub step_size: T,
    /// `√(1 - β2^t)`.
    pub bias_correction2_sqrt: T,
    /// Coupled L2 added to the gradient (Adam); 0 for AdamW.
    pub weight_decay: T,
    /// Decoupled shrink factor `1 - lr·wd` applied to `p` first (AdamW); 1 for Adam.
    pub decay_factor: T,
}

vectorised! {
    /// One Adam step over a parameter with first and second moments `m`, `v`.
    pub fn adam<T>(p: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], s: AdamStep<T>) {
        debug_assert!(p.len() == grad.len() && p.len() == m.len() && p.len() == v.len());
        let one = T::one();
        for (((pi, &gi), mi), vi) in p.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
            let param = *pi * s.decay_factor;
            let g = gi + s.weight_decay * param;
            *mi = s.beta1 * *mi + (one - s.beta1) * g;
            *vi = s.beta2 * *vi + (one - s.beta2) * g * g;
            let denom = vi.sqrt() / s.bias_correction2_sqrt + s.eps;
            *pi = param - s.step_size * (*mi / denom);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_first_step_copies_gradient() {
        let mut p = vec![1.0f64];
        let mut buf = vec![123.0];
        let step = SgdStep {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
            first: true,
        };
        sgd(&mut p, &[2.0], &mut buf, step);
        assert_eq!(buf, vec![2.0]);
        assert!((p[0] - 0.8).abs() < 1e-15);
        sgd(
            &mut p,
            &[2.0],
            &mut buf,
            SgdStep {
                first: false,
                ..step
            },
        );
        assert!((buf[0] - 3.8).abs() < 1e-15);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction the first step is lr·sign(g) (up to eps).
        let (b1, b2, lr) = (0.9f64, 0.999f64, 0.01);
        let mut p = vec![0.5];
        let (mut m, mut v) = (vec![0.0], vec![0.0]);
        let step = AdamStep {
            beta1: b1,
            beta2: b2,
            eps: 1e-12,
            step_size: lr / (1.0 - b1),
            bias_correction2_sqrt: (1.0 - b2).sqrt(),
            weight_decay: 0.0,
            decay_factor: 1.0,
        };
        adam(&mut p, &[-3.0], &mut m, &mut v, step);
        assert!((p[0] - 0.51).abs() < 1e-9);
    }
}
