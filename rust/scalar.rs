//! The floating-point types a network can be built from (f32, f64).

use std::fmt::Debug;

use crate::kernels::GemmElem;

/// A float the engine computes in. One generic implementation serves f32 and f64.
pub trait Scalar:
    num_traits::Float + Default + Debug + Send + Sync + std::iter::Sum + GemmElem + 'static
{
    /// NumPy's name for the type, used in messages.
    const NAME: &'static str;

    /// Converts from f64, rounding to nearest.
    fn of(x: f64) -> Self;

    /// Widens to f64 (exact for both types).
    fn f64(self) -> f64;
}

impl Scalar for f32 {
    const NAME: &'static str = "float32";

    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }

    #[inline(always)]
    fn f64(self) -> f64 {
        f64::from(self)
    }
}

impl Scalar for f64 {
    const NAME: &'static str = "float64";

    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
}
