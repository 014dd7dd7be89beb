//! Sums and counts for training diagnostics: f64 sums over 8 interleaved partials added in a
//! fixed order (the same bits on every instruction set), and per-unit counts over rows.

use super::simd::vectorised;
use crate::activations::Activation;

/// Partial sums per kernel call: enough independent chains to vectorise.
const LANES: usize = 8;

/// `Σ` of the 8 partials, then the tail, in that order.
#[inline(always)]
fn total(acc: [f64; LANES], tail: f64) -> f64 {
    acc.iter().sum::<f64>() + tail
}

vectorised! {
    /// `(Σ (new - old)², Σ old²)`: an update's size and the size of what it changed.
    pub fn change_sums<T>(old: &[T], new: &[T]) -> (f64, f64) {
        let (mut d, mut o) = ([0.0f64; LANES], [0.0f64; LANES]);
        let (a, b) = (old.chunks_exact(LANES), new.chunks_exact(LANES));
        let (ra, rb) = (a.remainder(), b.remainder());
        for (ca, cb) in a.zip(b) {
            for i in 0..LANES {
                let (x, y) = (ca[i].f64(), cb[i].f64());
                d[i] += (y - x) * (y - x);
                o[i] += x * x;
            }
        }
        let (mut td, mut to) = (0.0, 0.0);
        for (&x, &y) in ra.iter().zip(rb) {
            let (x, y) = (x.f64(), y.f64());
            td += (y - x) * (y - x);
            to += x * x;
        }
        (total(d, td), total(o, to))
    }
}

vectorised! {
    /// `(Σ v, Σ v²)`.
    pub fn sum_and_squares<T>(v: &[T]) -> (f64, f64) {
        let (mut s, mut q) = ([0.0f64; LANES], [0.0f64; LANES]);
        let chunks = v.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                let x = c[i].f64();
                s[i] += x;
                q[i] += x * x;
            }
        }
        let (mut ts, mut tq) = (0.0, 0.0);
        for &x in rest {
            ts += x.f64();
            tq += x.f64() * x.f64();
        }
        (total(s, ts), total(q, tq))
    }
}

vectorised! {
    /// For each unit `j` of the rows of `a` (rows × `counts.len()` activations of `act`): adds
    /// 1 to `counts[j]` for each row where the unit is *live* — positive, for ReLU and leaky
    /// ReLU (whose output is positive exactly when their input is) — or *saturated* — derivative
    /// below `threshold`, for sigmoid (`a(1-a)`) and tanh (`1-a²`). Other activations count
    /// nothing.
    pub fn count_units<T>(counts: &mut [u32], a: &[T], act: Activation, threshold: f64) {
        let cols = counts.len();
        let t = T::of(threshold);
        let one = T::one();
        for row in a.chunks_exact(cols) {
            match act {
                Activation::Relu | Activation::LeakyRelu => {
                    for (c, &x) in counts.iter_mut().zip(row) {
                        *c += u32::from(x > T::zero());
                    }
                }
                Activation::Sigmoid => {
                    for (c, &x) in counts.iter_mut().zip(row) {
                        *c += u32::from(x * (one - x) < t);
                    }
                }
                Activation::Tanh => {
                    for (c, &x) in counts.iter_mut().zip(row) {
                        *c += u32::from(one - x * x < t);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_the_plain_ones() {
        let old: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 4.0).collect();
        let new: Vec<f32> = old.iter().map(|x| x * 1.5 + 0.25).collect();
        let (d, o) = change_sums(&old, &new);
        let pd: f64 = old
            .iter()
            .zip(&new)
            .map(|(&x, &y)| ((y - x) as f64).powi(2))
            .sum();
        let po: f64 = old.iter().map(|&x| (x as f64).powi(2)).sum();
        assert!((d - pd).abs() < 1e-12 * pd && (o - po).abs() < 1e-12 * po);
        let (s, q) = sum_and_squares(&old);
        assert!((s - old.iter().map(|&x| x as f64).sum::<f64>()).abs() < 1e-12);
        assert!((q - po).abs() < 1e-12 * po);
    }

    #[test]
    fn counts_live_and_saturated_units() {
        let mut c = vec![0u32; 2];
        count_units(
            &mut c,
            &[1.0f64, 0.0, 2.0, -0.0, 0.0, 0.0],
            Activation::Relu,
            0.0,
        );
        assert_eq!(c, vec![2, 0]);
        let mut s = vec![0u32; 2];
        count_units(
            &mut s,
            &[0.999f64, 0.5, 0.001, 0.5],
            Activation::Sigmoid,
            0.01,
        );
        assert_eq!(s, vec![2, 0]);
    }
}
