//! Optimizer updates: one pass over a parameter, its gradient and its state.

use super::simd::vectorised;
use super::stats::UpdateSums;
use crate::scalar::Scalar;

/// A parameter's gradient: stored; or stored, with the update's sums taken as it runs
/// (diagnostics); or — for a batch of one row — the outer product `a ⊗ dz` (row `i` is
/// `a[i]·dz`), which the update computes row by row instead of storing.
#[derive(Debug)]
pub enum Grad<'a, T> {
    Dense(&'a [T]),
    /// For each block of `block` elements (the last may be shorter), the update writes
    /// `(Σ(Δθ)², Σθ², Σg²)` (θ before the update) to the block's three slots of `sums`.
    Watched {
        grad: &'a [T],
        block: usize,
        sums: &'a mut [f64],
    },
    Outer {
        a: &'a [T],
        dz: &'a [T],
    },
}

/// Runs `$span(range, gradient values)` over the whole of parameter `$p`: once for a stored
/// gradient; per group of [`UpdateSums::GROUP`] for a watched one, noting each group's values
/// before and after; per row for an outer product, whose values `fma(a_i, dz_j, 0)` (bitwise
/// what the GEMM computes for a batch of one) are formed in registers as the row is updated.
/// With `$skip_zero_rows`, rows whose `a_i` is zero are skipped (valid when a zero gradient
/// leaves the parameter unchanged). A macro, not a closure: closures would not inherit the
/// kernels' target features.
macro_rules! for_each_row {
    ($p:ident, $grad:expr, $skip_zero_rows:expr, |$r:ident, $g:ident| $span:expr) => {
        match $grad {
            Grad::Dense(dense) => {
                let ($r, $g) = (0..$p.len(), dense.iter().copied());
                $span
            }
            Grad::Watched {
                grad,
                block,
                sums: out,
            } => {
                const GROUP: usize = UpdateSums::<f32>::GROUP;
                let len = $p.len().min(grad.len());
                let starts = (0..len).step_by(block.max(1));
                for (start, slots) in starts.zip(out.chunks_exact_mut(3)) {
                    let end = (start + block).min(len);
                    let mut sums = UpdateSums::default();
                    let groups = start + (end - start) / GROUP * GROUP;
                    for first in (start..groups).step_by(GROUP) {
                        let r = first..first + GROUP;
                        let mut old = [T::zero(); GROUP];
                        old.copy_from_slice(&$p[r.clone()]);
                        let ($r, $g) = (r.clone(), grad[r.clone()].iter().copied());
                        $span;
                        sums.add_group(&old, &$p[r.clone()], &grad[r]);
                    }
                    let tail = groups..end;
                    let mut old = [T::zero(); GROUP];
                    let old = &mut old[..tail.len()];
                    old.copy_from_slice(&$p[tail.clone()]);
                    let ($r, $g) = (tail.clone(), grad[tail.clone()].iter().copied());
                    $span;
                    sums.add_tail(old, &$p[tail.clone()], &grad[tail]);
                    let (change, norm, squares) = sums.totals();
                    slots.copy_from_slice(&[change, norm, squares]);
                }
            }
            Grad::Outer { a, dz } => {
                let cols = dz.len();
                for (i, &ai) in a.iter().enumerate() {
                    if $skip_zero_rows && ai == T::zero() {
                        continue;
                    }
                    let $r = i * cols..(i + 1) * cols;
                    let $g = dz.iter().map(|&d| ai.mul_add(d, T::zero()));
                    $span
                }
            }
        }
    };
}

/// The scalars of one SGD step: `torch.optim.SGD` (dampening 0) or, with `velocity`,
/// scikit-learn's `SGDOptimizer`.
#[derive(Clone, Copy, Debug)]
pub struct SgdStep<T> {
    pub lr: T,
    pub momentum: T,
    /// Coupled L2 added to the gradient (torch's form only).
    pub weight_decay: T,
    pub nesterov: bool,
    /// The first step sets torch's momentum buffer to the gradient instead of blending.
    pub first: bool,
    /// scikit-learn's velocity form `v = μ·v - lr·g`, `p += v` (or `μ·v - lr·g`): the rate
    /// is applied before the blend, not after, so it rounds differently from torch's.
    pub velocity: bool,
}

vectorised! {
    /// torch's form: `p -= lr · d` where `g = grad + wd·p`, `buf = μ·buf + g` (or `g` on the
    /// first step) and `d = g + μ·buf` (Nesterov) or `buf`; `buf` is empty when momentum is 0.
    /// The velocity form: `v = μ·v - lr·g`, then `p += μ·v - lr·g` (Nesterov) or `p += v`.
    pub fn sgd<T>(p: &mut [T], grad: Grad<'_, T>, buf: &mut [T], s: SgdStep<T>) {
        // Plain SGD leaves a parameter with zero gradient exactly as it was.
        let unchanged_by_zero = buf.is_empty() && s.weight_decay == T::zero();
        for_each_row!(p, grad, unchanged_by_zero, |r, g| {
            let b: &mut [T] = if buf.is_empty() { &mut [] } else { &mut buf[r.clone()] };
            sgd_span(&mut p[r], g, b, s)
        })
    }
}

/// The SGD update of one span with its gradient values.
#[inline(always)]
fn sgd_span<T: Scalar>(p: &mut [T], grad: impl Iterator<Item = T>, buf: &mut [T], s: SgdStep<T>) {
    if buf.is_empty() {
        for (pi, gi) in p.iter_mut().zip(grad) {
            *pi = *pi - s.lr * (gi + s.weight_decay * *pi);
        }
    } else if s.velocity {
        // Operation for operation as NumPy evaluates scikit-learn's code (no fused
        // multiply-adds).
        for ((pi, gi), vi) in p.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let velocity = s.momentum * *vi - s.lr * gi;
            *vi = velocity;
            let update = if s.nesterov {
                s.momentum * velocity - s.lr * gi
            } else {
                velocity
            };
            *pi = *pi + update;
        }
    } else {
        for ((pi, gi), bi) in p.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let g = gi + s.weight_decay * *pi;
            *bi = if s.first { g } else { s.momentum * *bi + g };
            let d = if s.nesterov {
                g + s.momentum * *bi
            } else {
                *bi
            };
            *pi = *pi - s.lr * d;
        }
    }
}

/// The scalars of one Adam/AdamW step, bias corrections already folded in (as torch does),
/// or, with `sklearn`, of scikit-learn's `AdamOptimizer`.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep<T> {
    pub beta1: T,
    pub beta2: T,
    pub eps: T,
    /// `lr / (1 - β1^t)`; scikit-learn's: `lr · √(1 - β2^t) / (1 - β1^t)`, so that `eps` is
    /// added to the uncorrected `√v`.
    pub step_size: T,
    /// `√(1 - β2^t)` (torch's form only).
    pub bias_correction2_sqrt: T,
    /// Coupled L2 added to the gradient (Adam); 0 for AdamW and scikit-learn's.
    pub weight_decay: T,
    /// Decoupled shrink factor `1 - lr·wd` applied to `p` first (AdamW); 1 otherwise.
    pub decay_factor: T,
    /// scikit-learn's form: `p += -step_size·m / (√v + eps)` in NumPy's order of operations,
    /// which rounds differently from torch's `p -= step_size · (m / (√v / bc2 + eps))`.
    pub sklearn: bool,
}

vectorised! {
    /// One Adam step over a parameter with first and second moments `m`, `v`.
    pub fn adam<T>(p: &mut [T], grad: Grad<'_, T>, m: &mut [T], v: &mut [T], s: AdamStep<T>) {
        for_each_row!(p, grad, false, |r, g| {
            adam_span(&mut p[r.clone()], g, &mut m[r.clone()], &mut v[r], s)
        })
    }
}

/// The Adam update of one span with its gradient values.
#[inline(always)]
fn adam_span<T: Scalar>(
    p: &mut [T],
    grad: impl Iterator<Item = T>,
    m: &mut [T],
    v: &mut [T],
    s: AdamStep<T>,
) {
    let one = T::one();
    let rows = p.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut());
    if s.sklearn {
        for (((pi, gi), mi), vi) in rows {
            *mi = s.beta1 * *mi + (one - s.beta1) * gi;
            *vi = s.beta2 * *vi + (one - s.beta2) * (gi * gi);
            *pi = *pi + (-s.step_size * *mi) / (vi.sqrt() + s.eps);
        }
        return;
    }
    for (((pi, gi), mi), vi) in rows {
        let param = *pi * s.decay_factor;
        let g = gi + s.weight_decay * param;
        *mi = s.beta1 * *mi + (one - s.beta1) * g;
        *vi = s.beta2 * *vi + (one - s.beta2) * g * g;
        let denom = vi.sqrt() / s.bias_correction2_sqrt + s.eps;
        *pi = param - s.step_size * (*mi / denom);
    }
}

/// The scalars of one `torch.optim.RMSprop` step.
#[derive(Clone, Copy, Debug)]
pub struct RmspropStep<T> {
    pub lr: T,
    pub alpha: T,
    pub eps: T,
    pub weight_decay: T,
    pub momentum: T,
    /// The weight `1 - α` of the centred gradient average's `lerp`, and which of torch's two
    /// `lerp` formulas it takes (`|w| < 0.5`: `a + w·(b - a)`, else `b - (b - a)·(1 - w)`).
    pub lerp_weight: T,
    pub lerp_low: bool,
}

vectorised! {
    /// One RMSprop step: `g = grad + wd·p`, `sq = α·sq + (1-α)·g²`, `avg = √sq + eps` (centred:
    /// `ga = lerp(ga, g, 1-α)`, `avg = √max(sq - ga², 0) + eps`), then `p -= lr·g/avg`, or with
    /// momentum `buf = μ·buf + g/avg`, `p -= lr·buf`. `mom` and `ga` are empty when the rule
    /// has no momentum or is not centred. Where torch would take the root of a negative
    /// rounding residue `sq - ga²` (and write NaN) this takes 0: otherwise bitwise torch's.
    pub fn rmsprop<T>(
        p: &mut [T],
        grad: Grad<'_, T>,
        sq: &mut [T],
        mom: &mut [T],
        ga: &mut [T],
        s: RmspropStep<T>,
    ) {
        for_each_row!(p, grad, false, |r, g| {
            let mom: &mut [T] = if mom.is_empty() { &mut [] } else { &mut mom[r.clone()] };
            let ga: &mut [T] = if ga.is_empty() { &mut [] } else { &mut ga[r.clone()] };
            rmsprop_span(&mut p[r.clone()], g, &mut sq[r], mom, ga, s)
        })
    }
}

/// The RMSprop update of one span: one loop per combination of buffers, so each vectorises.
#[inline(always)]
fn rmsprop_span<T: Scalar>(
    p: &mut [T],
    grad: impl Iterator<Item = T>,
    sq: &mut [T],
    mom: &mut [T],
    ga: &mut [T],
    s: RmspropStep<T>,
) {
    let rows = p.iter_mut().zip(grad).zip(sq.iter_mut());
    match (mom.is_empty(), ga.is_empty()) {
        (true, true) => {
            for ((pi, gi), qi) in rows {
                let g = gi + s.weight_decay * *pi;
                let avg = rms_avg(g, qi, None, s);
                *pi = *pi - s.lr * (g / avg);
            }
        }
        (true, false) => {
            for (((pi, gi), qi), ai) in rows.zip(ga.iter_mut()) {
                let g = gi + s.weight_decay * *pi;
                let avg = rms_avg(g, qi, Some(ai), s);
                *pi = *pi - s.lr * (g / avg);
            }
        }
        (false, true) => {
            for (((pi, gi), qi), bi) in rows.zip(mom.iter_mut()) {
                let g = gi + s.weight_decay * *pi;
                let avg = rms_avg(g, qi, None, s);
                *bi = s.momentum * *bi + g / avg;
                *pi = *pi - s.lr * *bi;
            }
        }
        (false, false) => {
            for ((((pi, gi), qi), bi), ai) in rows.zip(mom.iter_mut()).zip(ga.iter_mut()) {
                let g = gi + s.weight_decay * *pi;
                let avg = rms_avg(g, qi, Some(ai), s);
                *bi = s.momentum * *bi + g / avg;
                *pi = *pi - s.lr * *bi;
            }
        }
    }
}

/// Updates one element's square average (and centred gradient average) from `g`; returns the
/// denominator `√(variance estimate) + eps`.
#[inline(always)]
fn rms_avg<T: Scalar>(g: T, sq: &mut T, ga: Option<&mut T>, s: RmspropStep<T>) -> T {
    *sq = s.alpha * *sq + (T::one() - s.alpha) * g * g;
    let var = match ga {
        None => *sq,
        Some(ga) => {
            *ga = if s.lerp_low {
                *ga + s.lerp_weight * (g - *ga)
            } else {
                g - (g - *ga) * (T::one() - s.lerp_weight)
            };
            let d = *sq - *ga * *ga;
            // Keeps a NaN (`NaN < 0` is false) for the guard to see.
            if d < T::zero() {
                T::zero()
            } else {
                d
            }
        }
    };
    var.sqrt() + s.eps
}

/// The scalars of one `torch.optim.Adagrad` step.
#[derive(Clone, Copy, Debug)]
pub struct AdagradStep<T> {
    /// `lr / (1 + (t - 1)·lr_decay)`.
    pub clr: T,
    pub eps: T,
    pub weight_decay: T,
}

vectorised! {
    /// One Adagrad step: `g = grad + wd·p`, `sum += g²`, `p -= clr · g / (√sum + eps)`.
    pub fn adagrad<T>(p: &mut [T], grad: Grad<'_, T>, sum: &mut [T], s: AdagradStep<T>) {
        // A zero gradient adds 0 to the sum and subtracts `clr · 0` from the parameter
        // (bitwise no change), unless it is 0/0 (sum and eps both 0).
        let unchanged_by_zero = s.weight_decay == T::zero() && s.eps > T::zero();
        for_each_row!(p, grad, unchanged_by_zero, |r, g| {
            let rows = p[r.clone()].iter_mut().zip(g).zip(sum[r].iter_mut());
            for ((pi, gi), si) in rows {
                let g = gi + s.weight_decay * *pi;
                *si = *si + g * g;
                *pi = *pi - s.clr * (g / (si.sqrt() + s.eps));
            }
        })
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
            velocity: false,
        };
        sgd(&mut p, Grad::Dense(&[2.0]), &mut buf, step);
        assert_eq!(buf, vec![2.0]);
        assert!((p[0] - 0.8).abs() < 1e-15);
        let later = SgdStep {
            first: false,
            ..step
        };
        sgd(&mut p, Grad::Dense(&[2.0]), &mut buf, later);
        assert!((buf[0] - 3.8).abs() < 1e-15);
    }

    #[test]
    fn outer_gradients_update_like_stored_ones() {
        // A zero input row is skipped by plain SGD; the result must not change.
        let (a, dz) = ([0.5f64, 0.0, 3.0], [1.5, -0.25]);
        let dense: Vec<f64> = a
            .iter()
            .flat_map(|&ai| dz.iter().map(move |&d| ai.mul_add(d, 0.0)))
            .collect();
        let nesterov = SgdStep {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: true,
            first: true,
            velocity: false,
        };
        let plain = SgdStep {
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            ..nesterov
        };
        for (step, buffer) in [(nesterov, 6), (plain, 0)] {
            let (mut p1, mut b1) = (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![0.0; buffer]);
            let (mut p2, mut b2) = (p1.clone(), b1.clone());
            sgd(&mut p1, Grad::Dense(&dense), &mut b1, step);
            sgd(&mut p2, Grad::Outer { a: &a, dz: &dz }, &mut b2, step);
            assert_eq!((p1, b1), (p2, b2));
        }
    }

    #[test]
    fn watched_gradients_update_like_stored_ones_and_sum_the_change() {
        // Two full groups and a tail.
        let n = 2 * UpdateSums::<f64>::GROUP + 5;
        let start: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let g: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
        let step = AdamStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step_size: 0.1,
            bias_correction2_sqrt: 0.5,
            weight_decay: 0.01,
            decay_factor: 1.0,
            sklearn: false,
        };
        let (mut p1, mut m1, mut v1) = (start.clone(), vec![0.1; n], vec![0.2; n]);
        let (mut p2, mut m2, mut v2) = (p1.clone(), m1.clone(), v1.clone());
        adam(&mut p1, Grad::Dense(&g), &mut m1, &mut v1, step);
        // Blocks of 40 elements: a group and a tail each, the last block shorter.
        let block = UpdateSums::<f64>::GROUP + 8;
        let mut sums = vec![0.0; 3 * n.div_ceil(block)];
        let watched = Grad::Watched {
            grad: &g,
            block,
            sums: &mut sums,
        };
        adam(&mut p2, watched, &mut m2, &mut v2, step);
        assert_eq!((&p1, &m1, &v1), (&p2, &m2, &v2));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * b;
        for (k, slots) in sums.chunks_exact(3).enumerate() {
            let r = k * block..((k + 1) * block).min(n);
            let plain = |f: &dyn Fn(usize) -> f64| r.clone().map(f).sum::<f64>();
            assert!(close(slots[0], plain(&|i| (p1[i] - start[i]).powi(2))));
            assert!(close(slots[1], plain(&|i| start[i] * start[i])));
            assert!(close(slots[2], plain(&|i| g[i] * g[i])));
        }
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
            sklearn: false,
        };
        adam(&mut p, Grad::Dense(&[-3.0]), &mut m, &mut v, step);
        assert!((p[0] - 0.51).abs() < 1e-9);
    }

    /// A 3×2 parameter's gradient as an outer product (a zero row included) and stored.
    fn outer_and_dense() -> ([f64; 3], [f64; 2], Vec<f64>) {
        let (a, dz) = ([0.5f64, 0.0, 3.0], [1.5, -0.25]);
        let dense = a
            .iter()
            .flat_map(|&ai| dz.iter().map(move |&d| ai.mul_add(d, 0.0)))
            .collect();
        (a, dz, dense)
    }

    #[test]
    fn rmsprop_and_adagrad_take_outer_gradients_like_stored_ones() {
        let (a, dz, dense) = outer_and_dense();
        let start = vec![1.0, -2.0, 3.0, 4.0, -5.0, 6.0];
        for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.9, true)] {
            let step = RmspropStep {
                lr: 0.01,
                alpha: 0.99,
                eps: 1e-8,
                weight_decay: 0.1,
                momentum,
                lerp_weight: 1.0 - 0.99,
                lerp_low: true,
            };
            let buffer = |on: bool| vec![0.25; if on { 6 } else { 0 }];
            let mut one = (
                start.clone(),
                vec![0.5; 6],
                buffer(momentum > 0.0),
                buffer(centered),
            );
            let mut two = one.clone();
            let (p, sq, mom, ga) = (&mut one.0, &mut one.1, &mut one.2, &mut one.3);
            rmsprop(p, Grad::Dense(&dense), sq, mom, ga, step);
            let (p, sq, mom, ga) = (&mut two.0, &mut two.1, &mut two.2, &mut two.3);
            rmsprop(p, Grad::Outer { a: &a, dz: &dz }, sq, mom, ga, step);
            assert_eq!(one, two);
            assert_ne!(one.0, start);
        }
        for weight_decay in [0.0, 0.1] {
            // Without weight decay the zero row is skipped.
            let step = AdagradStep {
                clr: 0.01,
                eps: 1e-10,
                weight_decay,
            };
            let mut one = (start.clone(), vec![0.1; 6]);
            let mut two = one.clone();
            adagrad(&mut one.0, Grad::Dense(&dense), &mut one.1, step);
            adagrad(&mut two.0, Grad::Outer { a: &a, dz: &dz }, &mut two.1, step);
            assert_eq!(one, two);
        }
    }

    #[test]
    fn centred_rmsprop_never_roots_a_negative_residue() {
        // A constant gradient makes `sq - ga²` a rounding residue, below 0 for some elements.
        let step = RmspropStep {
            lr: 0.01,
            alpha: 0.5,
            eps: 1e-30,
            weight_decay: 0.0,
            momentum: 0.0,
            lerp_weight: 0.5,
            lerp_low: false,
        };
        let (mut p, mut sq, mut ga) = (vec![0.0f32; 64], vec![0.0; 64], vec![0.0; 64]);
        let g: Vec<f32> = (0..64).map(|i| 0.1 + i as f32 * 0.37).collect();
        for _ in 0..100 {
            rmsprop(&mut p, Grad::Dense(&g), &mut sq, &mut [], &mut ga, step);
        }
        assert!(p.iter().all(|x| x.is_finite()), "{p:?}");
    }
}
