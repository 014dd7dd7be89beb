//! Which instruction set the kernels use, chosen once at run time.
//!
//! One binary runs on any x86-64: each kernel is compiled three times (AVX-512, AVX2+FMA,
//! portable) from one `#[inline(always)]` body, and [`isa`] picks the best the CPU has.
//! `FERROPROP_SIMD=scalar|avx2|avx512` forces a path (clamped to what the CPU supports).
//! Every path performs the same floating-point operations in the same order, so results are
//! bitwise identical whichever runs.

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Scalar = 1,
    Avx2 = 2,
    Avx512 = 3,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Isa::Scalar),
            2 => Some(Isa::Avx2),
            3 => Some(Isa::Avx512),
            _ => None,
        }
    }
}

/// 0 until detection ran; then the chosen path.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The best path this CPU supports.
pub fn best_supported() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
        {
            return Isa::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// The path in use: `FERROPROP_SIMD` if set (and supported), else the best supported.
#[inline]
pub fn isa() -> Isa {
    if let Some(isa) = Isa::from_u8(CHOSEN.load(Ordering::Relaxed)) {
        return isa;
    }
    let requested = std::env::var("FERROPROP_SIMD")
        .ok()
        .and_then(|v| Isa::parse(&v));
    force(requested.unwrap_or(Isa::Avx512))
}

/// Uses `want`, or the best supported path below it; returns the path now in use.
pub fn force(want: Isa) -> Isa {
    let chosen = want.min(best_supported());
    CHOSEN.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// Calls the `$avx512`, `$avx2` or `$scalar` instantiation of a kernel for the current path.
macro_rules! dispatch {
    ($avx512:expr, $avx2:expr, $scalar:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            match $crate::kernels::simd::isa() {
                // SAFETY: `isa()` only reports paths the CPU supports.
                $crate::kernels::simd::Isa::Avx512 => unsafe { $avx512 },
                $crate::kernels::simd::Isa::Avx2 => unsafe { $avx2 },
                $crate::kernels::simd::Isa::Scalar => $scalar,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $scalar
        }
    }};
}
pub(crate) use dispatch;

/// Defines `pub fn $name<T: Scalar>(args) -> ret` from a body compiled three times (AVX-512,
/// AVX2+FMA, portable) and dispatched on [`isa`]. The body is plain scalar Rust that the
/// compiler vectorises; it must not call libm (use `kernels::math`) so all paths agree.
macro_rules! vectorised {
    ($(#[$meta:meta])* pub fn $name:ident<T>($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        pub fn $name<T: $crate::scalar::Scalar>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body<T: $crate::scalar::Scalar>($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            unsafe fn avx512<T: $crate::scalar::Scalar>($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<T: $crate::scalar::Scalar>($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            $crate::kernels::simd::dispatch!(avx512($($arg),*), avx2($($arg),*), body($($arg),*))
        }
    };
}
pub(crate) use vectorised;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_forcing_clamps() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse("neon"), None);
        assert!(force(Isa::Avx512) <= best_supported());
    }
}
