//! Row-wise elementwise kernels: bias + activation, its backward, column sums, finiteness.

use super::simd::vectorised;
use crate::activations::Activation;

/// Runs `$body` with `$k` bound to the constant variant `$act`, one copy per activation, so
/// each copy's loop inlines its activation and vectorises.
macro_rules! per_activation {
    ($act:expr, |$k:ident| $body:expr) => {
        match $act {
            Activation::Identity => {
                let $k = Activation::Identity;
                $body
            }
            Activation::Relu => {
                let $k = Activation::Relu;
                $body
            }
            Activation::LeakyRelu => {
                let $k = Activation::LeakyRelu;
                $body
            }
            Activation::Sigmoid => {
                let $k = Activation::Sigmoid;
                $body
            }
            Activation::Tanh => {
                let $k = Activation::Tanh;
                $body
            }
            Activation::Gelu => {
                let $k = Activation::Gelu;
                $body
            }
        }
    };
}

vectorised! {
    /// Adds `bias` to every row of `z` (rows × bias.len()) and writes `act(z)` into `a`.
    /// `a` may be empty when the activation's output is not needed (the output layer).
    pub fn bias_activation<T>(z: &mut [T], a: &mut [T], bias: &[T], act: Activation) {
        let cols = bias.len();
        debug_assert!(cols > 0 && z.len().is_multiple_of(cols));
        debug_assert!(a.is_empty() || a.len() == z.len());
        if a.is_empty() {
            for zr in z.chunks_exact_mut(cols) {
                for (zi, &bi) in zr.iter_mut().zip(bias) {
                    *zi = *zi + bi;
                }
            }
            return;
        }
        per_activation!(act, |k| {
            for (zr, ar) in z.chunks_exact_mut(cols).zip(a.chunks_exact_mut(cols)) {
                for ((zi, ai), &bi) in zr.iter_mut().zip(ar.iter_mut()).zip(bias) {
                    *zi = *zi + bi;
                    *ai = k.apply(*zi);
                }
            }
        })
    }
}

vectorised! {
    /// `a = act(z)` elementwise (an activation that is not fused into a Dense).
    pub fn activation<T>(a: &mut [T], z: &[T], act: Activation) {
        debug_assert!(a.len() == z.len());
        per_activation!(act, |k| {
            for (ai, &zi) in a.iter_mut().zip(z) {
                *ai = k.apply(zi);
            }
        })
    }
}

vectorised! {
    /// `out = x ⊙ m` elementwise (dropout's mask, forward and backward).
    pub fn multiply<T>(out: &mut [T], x: &[T], m: &[T]) {
        for ((o, &xi), &mi) in out.iter_mut().zip(x).zip(m) {
            *o = xi * mi;
        }
    }
}

vectorised! {
    /// Turns `dA` into `dZ = dA ⊙ act'(z)` in place, given `z` and `a = act(z)`.
    pub fn activation_backward<T>(grad: &mut [T], z: &[T], a: &[T], act: Activation) {
        debug_assert!(grad.len() == z.len() && z.len() == a.len());
        if act == Activation::Identity {
            return;
        }
        per_activation!(act, |k| {
            for ((g, &zi), &ai) in grad.iter_mut().zip(z).zip(a) {
                *g = *g * k.derivative(zi, ai);
            }
        })
    }
}

vectorised! {
    /// Whether every element is finite (no early exit, so it vectorises).
    pub fn all_finite<T>(v: &[T]) -> bool {
        v.iter().fold(true, |ok, x| ok & x.is_finite())
    }
}

vectorised! {
    /// The largest `|v_i|` if every element is finite, else infinity (one pass, no early
    /// exit; an integer max of the magnitudes' bits, so it vectorises).
    pub fn finite_max_abs<T>(v: &[T]) -> f64 {
        let m = v.iter().fold(T::Magnitude::default(), |m, x| m.max(x.magnitude()));
        let peak = T::from_magnitude(m);
        if peak.is_finite() {
            peak
        } else {
            f64::INFINITY
        }
    }
}

vectorised! {
    /// `dst[j] = Σ_i src[i, j]` over the rows of `src` (rows × dst.len()), in row order.
    pub fn column_sums<T>(dst: &mut [T], src: &[T]) {
        let cols = dst.len();
        dst.fill(T::zero());
        for row in src.chunks_exact(cols) {
            for (d, &s) in dst.iter_mut().zip(row) {
                *d = *d + s;
            }
        }
    }
}

vectorised! {
    /// `Σ v²` in f64 over 8 interleaved partial sums, added in a fixed order: the same bits on
    /// every instruction set, without a serial chain of additions.
    pub fn sum_squares<T>(v: &[T]) -> f64 {
        let mut acc = [0.0f64; 8];
        let chunks = v.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += (x * x).f64();
            }
        }
        let tail: f64 = rest.iter().map(|&x| (x * x).f64()).sum();
        acc.iter().sum::<f64>() + tail
    }
}

vectorised! {
    /// `dst += a · src` (scikit-learn's L2 term added to a weight gradient).
    pub fn add_scaled<T>(dst: &mut [T], a: T, src: &[T]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = *d + a * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_then_relu() {
        let mut z = vec![1.0f64, -2.0, 0.5, -0.5];
        let mut a = vec![0.0; 4];
        bias_activation(&mut z, &mut a, &[-1.5, 1.0], Activation::Relu);
        assert_eq!(z, vec![-0.5, -1.0, -1.0, 0.5]);
        assert_eq!(a, vec![0.0, 0.0, 0.0, 0.5]);
    }

    #[test]
    fn sum_squares_matches_the_plain_sum() {
        let v: Vec<f64> = (0..37).map(|i| i as f64 * 0.25 - 3.0).collect();
        let plain: f64 = v.iter().map(|x| x * x).sum();
        assert!((sum_squares(&v) - plain).abs() < 1e-12 * plain);
        assert_eq!(sum_squares::<f32>(&[]), 0.0);
    }

    #[test]
    fn backward_and_sums() {
        let z = [1.0f64, -1.0];
        let a = [1.0f64, 0.0];
        let mut g = vec![3.0, 4.0];
        activation_backward(&mut g, &z, &a, Activation::Relu);
        assert_eq!(g, vec![3.0, 0.0]);
        let mut s = vec![9.0; 2];
        column_sums(&mut s, &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(s, vec![9.0, 12.0]);
    }
}
