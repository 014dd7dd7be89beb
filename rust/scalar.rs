//! The floating-point types a network can be built from (f32, f64).

use std::fmt::Debug;

use crate::kernels::GemmElem;

/// A float the engine computes in. One generic implementation serves f32 and f64.
pub trait Scalar:
    num_traits::Float
    + Default
    + Debug
    + Send
    + Sync
    + std::iter::Sum
    + GemmElem
    + crate::error::ZeroBits
    + 'static
{
    /// NumPy's name for the type, used in messages.
    const NAME: &'static str;

    /// Converts from f64, rounding to nearest.
    fn of(x: f64) -> Self;

    /// Widens to f64 (exact for both types).
    fn f64(self) -> f64;

    /// Inputs of `kernels::math::exp` are clamped to `[EXP_MIN, EXP_MAX]` (normal results).
    const EXP_MIN: Self;
    const EXP_MAX: Self;
    /// ln 2 split so that `n · LN2_HI` is exact for the `n` that occur.
    const LN2_HI: Self;
    const LN2_LO: Self;
    /// Taylor coefficients of `e^r`, highest degree first.
    const EXP_TAYLOR: &'static [Self];
    /// Taylor coefficients of `tanh(x)/x` in powers of `x²`, highest first.
    const TANH_TAYLOR: &'static [Self];

    /// `2^n` for an integral `n` in the normal exponent range, built from its bits.
    fn pow2(n: Self) -> Self;

    /// The bits of `|x|` as an unsigned integer, ordered as the magnitudes are (a NaN above
    /// infinity): a running maximum of them vectorises as an integer max, where a float max
    /// (which must skip NaNs) would not.
    type Magnitude: Copy + Ord + Default + Debug + Send + Sync;
    fn magnitude(self) -> Self::Magnitude;
    /// The `|x|` whose [`Self::magnitude`] is `m`, widened to f64 (NaN for a NaN's).
    fn from_magnitude(m: Self::Magnitude) -> f64;
}

/// 1/k! for k = 13 down to 0.
const INV_FACTORIALS: [f64; 14] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// Taylor coefficients of tanh(x)/x in powers of x², for x^16 down to x^0.
const TANH_SERIES: [f64; 9] = [
    6_404_582.0 / 10_854_718_875.0,
    -929_569.0 / 638_512_875.0,
    21_844.0 / 6_081_075.0,
    -1_382.0 / 155_925.0,
    62.0 / 2_835.0,
    -17.0 / 315.0,
    2.0 / 15.0,
    -1.0 / 3.0,
    1.0,
];

/// The f64 tables rounded to f32 (const-evaluated).
const fn to_f32<const N: usize>(v: [f64; N]) -> [f32; N] {
    let mut out = [0f32; N];
    let mut i = 0;
    while i < N {
        out[i] = v[i] as f32;
        i += 1;
    }
    out
}
const INV_FACTORIALS_F32: [f32; 14] = to_f32(INV_FACTORIALS);
const TANH_SERIES_F32: [f32; 9] = to_f32(TANH_SERIES);

impl Scalar for f32 {
    const NAME: &'static str = "float32";
    const EXP_MIN: f32 = -87.3;
    const EXP_MAX: f32 = 88.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Degree 7 is enough for f32 on |r| ≤ ln2/2; degree 8 of tanh/x below 1/8.
    const EXP_TAYLOR: &'static [f32] = INV_FACTORIALS_F32.split_at(6).1;
    const TANH_TAYLOR: &'static [f32] = TANH_SERIES_F32.split_at(4).1;

    #[inline(always)]
    fn pow2(n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) as u32) << 23)
    }

    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }

    #[inline(always)]
    fn f64(self) -> f64 {
        f64::from(self)
    }

    type Magnitude = u32;

    #[inline(always)]
    fn magnitude(self) -> u32 {
        self.to_bits() & 0x7fff_ffff
    }

    #[inline(always)]
    fn from_magnitude(m: u32) -> f64 {
        f64::from(f32::from_bits(m))
    }
}

impl Scalar for f64 {
    const NAME: &'static str = "float64";
    const EXP_MIN: f64 = -708.0;
    const EXP_MAX: f64 = 709.0;
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const EXP_TAYLOR: &'static [f64] = &INV_FACTORIALS;
    const TANH_TAYLOR: &'static [f64] = &TANH_SERIES;

    #[inline(always)]
    fn pow2(n: f64) -> f64 {
        f64::from_bits(((n as i64 + 1023) as u64) << 52)
    }

    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }

    type Magnitude = u64;

    #[inline(always)]
    fn magnitude(self) -> u64 {
        self.to_bits() & 0x7fff_ffff_ffff_ffff
    }

    #[inline(always)]
    fn from_magnitude(m: u64) -> f64 {
        f64::from_bits(m)
    }
}
