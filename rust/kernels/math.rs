//! `exp`, `tanh` and the logistic function from arithmetic alone, so loops over them vectorise
//! (libm calls do not) and every instruction-set path computes the same bits.
//!
//! Each uses only IEEE-exact operations (+, −, ×, ÷, fused multiply-add, floor), whose results
//! do not depend on vector width.

use crate::scalar::Scalar;

/// `e^x`: `x = n·ln2 + r`, `|r| ≤ ln2/2`, Taylor polynomial for `e^r`, scaled by `2^n`.
/// Relative error about 1 ulp over the range where the result is a normal number; inputs below
/// it give the smallest normal instead of a subnormal or zero.
#[inline(always)]
pub fn exp<T: Scalar>(x: T) -> T {
    let x = x.max(T::EXP_MIN).min(T::EXP_MAX);
    let n = (x * T::of(std::f64::consts::LOG2_E) + T::of(0.5)).floor();
    // r = x − n·ln2 in two steps (ln2 split in a high part exact in T and a low correction).
    let r = (-n).mul_add(T::LN2_HI, x);
    let r = (-n).mul_add(T::LN2_LO, r);
    let coefficients = T::EXP_TAYLOR;
    let mut p = coefficients[0];
    for &c in &coefficients[1..] {
        p = p.mul_add(r, c);
    }
    p * T::pow2(n)
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid<T: Scalar>(x: T) -> T {
    T::one() / (T::one() + exp(-x))
}

/// `tanh x`: `(1 − e^{−2|x|}) / (1 + e^{−2|x|})` with the sign of x, and an odd Taylor
/// polynomial near zero where that quotient would lose digits to cancellation.
#[inline(always)]
pub fn tanh<T: Scalar>(x: T) -> T {
    let ax = x.abs();
    let e = exp(T::of(-2.0) * ax);
    let far = (T::one() - e) / (T::one() + e);
    let x2 = x * x;
    let coefficients = T::TANH_TAYLOR;
    let mut p = coefficients[0];
    for &c in &coefficients[1..] {
        p = p.mul_add(x2, c);
    }
    let near = p * ax;
    let magnitude = if ax < T::of(0.125) { near } else { far };
    magnitude.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        for i in -2000..2000 {
            let x = i as f64 * 0.05;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 5e-16, "f64 exp({x}): {rel}");
            let xf = x as f32;
            if xf > -80.0 && xf < 80.0 {
                let relf = (exp(xf) - xf.exp()).abs() / xf.exp();
                assert!(relf < 3e-7, "f32 exp({xf}): {relf}");
            }
        }
        assert!(exp(-1e4f64) >= 0.0 && exp(1e4f64).is_finite());
    }

    #[test]
    fn tanh_and_sigmoid_match_libm() {
        for i in -4000..4000 {
            let x = i as f64 * 0.003_7;
            let err = (tanh(x) - x.tanh()).abs();
            assert!(err <= 1e-15 * x.tanh().abs(), "f64 tanh({x}) err {err}");
            let xf = x as f32;
            assert!(
                (tanh(xf) - xf.tanh()).abs() <= 5e-7 * xf.tanh().abs(),
                "f32 tanh({xf})"
            );
            let s = 1.0 / (1.0 + (-x).exp());
            assert!((sigmoid(x) - s).abs() <= 1e-15 * s, "sigmoid({x})");
        }
        assert_eq!(tanh(0.0f64), 0.0);
        assert_eq!(tanh(50.0f32), 1.0);
    }
}
