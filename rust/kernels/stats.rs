//! Sums and counts for training diagnostics: f64 sums over [`LANES`] interleaved partials added
//! in a fixed order (the same bits on every instruction set), and per-unit counts over rows.

use super::simd::vectorised;
use crate::activations::Activation;
use crate::scalar::Scalar;

/// Partial sums per kernel call: enough independent chains to vectorise and to hide the
/// latency of the additions (four 512-bit registers of f64; with 8, one register, each sum
/// waited on the previous one and the diagnostics cost a fifth of a step).
const LANES: usize = 32;

/// `Σ` of the partials, then the tail, in that order.
#[inline(always)]
fn total(acc: [f64; LANES], tail: f64) -> f64 {
    acc.iter().sum::<f64>() + tail
}

/// The sums of one update of a parameter, `Σ(Δθ)²`, `Σθ²` (θ before the update) and `Σg²`,
/// taken by the optimizer's kernel as it updates (a [`super::Grad::Watched`] gradient), group
/// of [`LANES`] by group while the values are in registers. Each is summed over [`LANES`]
/// interleaved partials in the parameters' type (converting every element to f64 cost more
/// than the rest of the diagnostics; a partial adds up a few hundred squares, so f32 keeps
/// ~1e-6 relative), and the partials in f64.
#[derive(Clone, Copy, Debug)]
pub struct UpdateSums<T> {
    change: [T; LANES],
    norm: [T; LANES],
    grad: [T; LANES],
    /// The same three over the elements after the last full group.
    tail: [T; 3],
}

impl<T: Scalar> Default for UpdateSums<T> {
    fn default() -> Self {
        UpdateSums {
            change: [T::zero(); LANES],
            norm: [T::zero(); LANES],
            grad: [T::zero(); LANES],
            tail: [T::zero(); 3],
        }
    }
}

impl<T: Scalar> UpdateSums<T> {
    /// How many elements [`UpdateSums::add_group`] takes.
    pub const GROUP: usize = LANES;

    /// Adds one group: the values `old` before the update, `new` after it, the gradient `grad`
    /// it used (each [`LANES`] long). The difference is exact when the two are within a factor
    /// of 2.
    #[inline(always)]
    pub fn add_group(&mut self, old: &[T; LANES], new: &[T], grad: &[T]) {
        let (new, grad) = (&new[..LANES], &grad[..LANES]);
        for l in 0..LANES {
            let d = new[l] - old[l];
            self.change[l] = d.mul_add(d, self.change[l]);
            self.norm[l] = old[l].mul_add(old[l], self.norm[l]);
            self.grad[l] = grad[l].mul_add(grad[l], self.grad[l]);
        }
    }

    /// Adds the elements after the last full group, in order.
    #[inline(always)]
    pub fn add_tail(&mut self, old: &[T], new: &[T], grad: &[T]) {
        for ((&x, &y), &g) in old.iter().zip(new).zip(grad) {
            let d = y - x;
            self.tail[0] = d.mul_add(d, self.tail[0]);
            self.tail[1] = x.mul_add(x, self.tail[1]);
            self.tail[2] = g.mul_add(g, self.tail[2]);
        }
    }

    /// `(Σ(Δθ)², Σθ², Σg²)`.
    pub fn totals(&self) -> (f64, f64, f64) {
        // Four chains per sum: a block's totals are taken for every block of every step.
        let mut sums = [[0.0f64; 4]; 3];
        for (sum, acc) in sums.iter_mut().zip([&self.change, &self.norm, &self.grad]) {
            for four in acc.chunks_exact(4) {
                for (s, x) in sum.iter_mut().zip(four) {
                    *s += x.f64();
                }
            }
        }
        let total = |s: [f64; 4], tail: T| (s[0] + s[1]) + (s[2] + s[3]) + tail.f64();
        (
            total(sums[0], self.tail[0]),
            total(sums[1], self.tail[1]),
            total(sums[2], self.tail[2]),
        )
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
        let n = 5 * LANES + 7;
        let old: Vec<f32> = (0..n).map(|i| (i % 91) as f32 * 0.5 - 4.0).collect();
        let new: Vec<f32> = old.iter().map(|x| x * 1.5 + 0.25).collect();
        let g: Vec<f32> = old.iter().map(|x| x - 1.0).collect();
        let mut sums = UpdateSums::default();
        let groups = n / LANES * LANES;
        for start in (0..groups).step_by(LANES) {
            let r = start..start + LANES;
            let before: &[f32; LANES] = old[r.clone()].try_into().unwrap();
            sums.add_group(before, &new[r.clone()], &g[r]);
        }
        sums.add_tail(&old[groups..], &new[groups..], &g[groups..]);
        let (d, o, gg) = sums.totals();
        let plain = |f: &dyn Fn(usize) -> f64| (0..n).map(f).sum::<f64>();
        let pd = plain(&|i| ((new[i] - old[i]) as f64).powi(2));
        let po = plain(&|i| (old[i] as f64).powi(2));
        let pg = plain(&|i| (g[i] as f64).powi(2));
        assert!((d - pd).abs() < 1e-6 * pd && (gg - pg).abs() < 1e-6 * pg);
        assert!((o - po).abs() < 1e-6 * po && (squares(&old) - po).abs() < 1e-12 * po);
        let s = sum(&old);
        assert!((s - old.iter().map(|&x| x as f64).sum::<f64>()).abs() < 1e-12 * po);
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
