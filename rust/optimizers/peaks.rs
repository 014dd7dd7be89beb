//! Bounds of parameter and state magnitudes, and the arithmetic of proving an update finite
//! from them (`train::guard` relies on it to skip checking most steps).

use std::marker::PhantomData;

use crate::scalar::Scalar;

/// The most state buffers a parameter can have (RMSprop, centred, with momentum: the square
/// average, the momentum buffer and the gradient average).
pub const MAX_BUFFERS: usize = 3;

/// Upper bounds of `|value|` over parameters and each of their state buffers (0 for a buffer
/// the optimizer does not have), in f64.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Peaks {
    pub param: f64,
    pub state: [f64; MAX_BUFFERS],
}

impl Peaks {
    pub const ZERO: Peaks = Peaks {
        param: 0.0,
        state: [0.0; MAX_BUFFERS],
    };

    /// The elementwise larger of the two (a NaN wins).
    pub fn max(self, o: Peaks) -> Peaks {
        let m = |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        };
        Peaks {
            param: m(self.param, o.param),
            state: std::array::from_fn(|i| m(self.state[i], o.state[i])),
        }
    }

    /// Bounds of a parameter and its first `state.len()` buffers (the others 0).
    pub fn of(param: f64, state: &[f64]) -> Peaks {
        let mut peaks = Peaks {
            param,
            ..Peaks::ZERO
        };
        peaks.state[..state.len()].copy_from_slice(state);
        peaks
    }
}

/// How much a moment `β·m + (1-β)·g` can exceed `max(|m|, |g|)` through rounding (three
/// roundings of at most 2⁻²⁴ each in f32), with room to spare; also the slack of a sum of two
/// non-negative terms.
pub(super) const BLEND_ROUNDING: f64 = 1.0 + 1e-6;

/// A proof in progress that one update in float type `T` stays finite: every intermediate's
/// bound is [`Bounds::see`]n, and [`Bounds::finish`] accepts if all of them and the results
/// stay below a sixteenth of `T`'s largest value (room for rounding). A NaN bound (from an
/// infinite input) is never accepted.
pub(super) struct Bounds<T> {
    worst: f64,
    _t: PhantomData<T>,
}

impl<T: Scalar> Bounds<T> {
    pub(super) fn new() -> Self {
        Bounds {
            worst: 0.0,
            _t: PhantomData,
        }
    }

    /// `|x|` of a hyperparameter as the kernel sees it: rounded to `T`.
    pub(super) fn of(x: f64) -> f64 {
        T::of(x).f64().abs()
    }

    /// Records the bound `v` of an intermediate; returns it.
    pub(super) fn see(&mut self, v: f64) -> f64 {
        self.worst = if v.is_nan() {
            f64::INFINITY
        } else {
            self.worst.max(v)
        };
        v
    }

    /// The bounds `after` of what the update writes, if it is proven finite.
    pub(super) fn finish(mut self, after: Peaks) -> Option<Peaks> {
        self.see(after.param);
        for s in after.state {
            self.see(s);
        }
        (self.worst < T::max_value().f64() / 16.0).then_some(after)
    }
}

/// A check of [`super::Rule::update_bounds`] for the rules' tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernels::Grad;
    use crate::optimizers::OptimizerConfig;

    /// Runs `steps` updates from values within the bounds, as the guard does: bounds carried
    /// from step to step, or failing that measured; checks every value stays within them.
    /// Returns how many steps needed a measurement.
    pub(crate) fn bounds_hold<T: Scalar>(config: &OptimizerConfig, grad: f64, steps: u64) -> u64 {
        let n = 97;
        let wave =
            |k: usize, scale: f64| -> T { T::of(scale * ((k * 7919 % 200) as f64 / 100.0 - 1.0)) };
        let mut param: Vec<T> = (0..n).map(|k| wave(k, 2.0)).collect();
        let per = config.buffers_per_parameter();
        let mut state: Vec<Vec<T>> = vec![vec![T::zero(); n]; per];
        let peak = |v: &[T]| v.iter().fold(0.0f64, |m, x| m.max(x.f64().abs()));
        let mut peaks = Peaks::of(2.0, &[]);
        let mut measured = 0;
        for t in 1..=steps {
            let g: Vec<T> = (0..n).map(|k| wave(k + t as usize, grad)).collect();
            peaks = config
                .update_bounds::<T>(t, grad, peaks)
                .unwrap_or_else(|| {
                    measured += 1;
                    let exact: Vec<f64> = state.iter().map(|s| peak(s)).collect();
                    let exact = Peaks::of(peak(&param), &exact);
                    config
                        .update_bounds::<T>(t, grad, exact)
                        .expect("proven from exact bounds")
                });
            let mut views: Vec<&mut [T]> = state.iter_mut().map(|s| &mut s[..]).collect();
            config.update(t, &mut param, Grad::Dense(&g), &mut views);
            assert!(peak(&param) <= peaks.param, "{config}: param at step {t}");
            for (i, s) in state.iter().enumerate() {
                assert!(peak(s) <= peaks.state[i], "{config}: state {i} at step {t}");
            }
        }
        measured
    }
}
