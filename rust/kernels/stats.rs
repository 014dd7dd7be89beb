//! Sums and counts for training diagnostics: f64 sums over [`LANES`] interleaved partials added
//! in a fixed order (the same bits on every instruction set), and per-unit counts over rows.

use super::simd::vectorised;
use crate::activations::Activation;

/// Partial sums per kernel call: enough independent chains to vectorise and to hide the
/// latency of the additions (four 512-bit registers of f64; with 8, one register, each sum
/// waited on the previous one and the diagnostics cost a fifth of a step).
const LANES: usize = 32;

/// `Σ` of the 8 partials, then the tail, in that order.
#[inline(always)]
fn total(acc: [f64; LANES], tail: f64) -> f64 {
    acc.iter().sum::<f64>() + tail
}

vectorised! {
    /// `(Σ (new - old)², Σ old²)`: the size of an update and of the values it changed, in one
    /// pass (the difference taken in `T`, exact when the two are within a factor of 2, then
    /// squared in f64).
    pub fn change_squares<T>(old: &[T], new: &[T]) -> (f64, f64) {
        let (mut change, mut norm) = ([0.0f64; LANES], [0.0f64; LANES]);
        let n = old.len().min(new.len());
        let (a, ra) = old[..n].as_chunks::<LANES>();
        let (b, rb) = new[..n].as_chunks::<LANES>();
        for (ca, cb) in a.iter().zip(b) {
            for (((c, o), &x), &y) in change.iter_mut().zip(norm.iter_mut()).zip(ca).zip(cb) {
                let d = (y - x).f64();
                *c += d * d;
                *o += x.f64() * x.f64();
            }
        }
        let tail_change = ra.iter().zip(rb).map(|(&x, &y)| (y - x).f64() * (y - x).f64());
        let tail_norm = ra.iter().map(|&x| x.f64() * x.f64());
        (total(change, tail_change.sum()), total(norm, tail_norm.sum()))
    }
}

vectorised! {
    /// `Σ v²` in f64.
    pub fn squares<T>(v: &[T]) -> f64 {
        let mut acc = [0.0f64; LANES];
        let (chunks, rest) = v.as_chunks::<LANES>();
        for c in chunks {
            for (acc, &x) in acc.iter_mut().zip(c) {
                *acc += x.f64() * x.f64();
            }
        }
        total(acc, rest.iter().map(|&x| x.f64() * x.f64()).sum())
    }
}

vectorised! {
    /// `Σ v` in f64.
    pub fn sum<T>(v: &[T]) -> f64 {
        let mut acc = [0.0f64; LANES];
        let (chunks, rest) = v.as_chunks::<LANES>();
        for c in chunks {
            for (acc, &x) in acc.iter_mut().zip(c) {
                *acc += x.f64();
            }
        }
        total(acc, rest.iter().map(|&x| x.f64()).sum())
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
        let (d, o) = change_squares(&old, &new);
        let pd: f64 = old
            .iter()
            .zip(&new)
            .map(|(&x, &y)| ((y - x) as f64).powi(2))
            .sum();
        let po: f64 = old.iter().map(|&x| (x as f64).powi(2)).sum();
        assert!((d - pd).abs() < 1e-12 * pd);
        assert!((o - po).abs() < 1e-12 * po && (squares(&old) - po).abs() < 1e-12 * po);
        let s = sum(&old);
        assert!((s - old.iter().map(|&x| x as f64).sum::<f64>()).abs() < 1e-12);
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
