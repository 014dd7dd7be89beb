//! A minimal vector abstraction so one kernel body serves AVX-512, AVX2 and portable code.
//!
//! Every operation maps to one IEEE operation per lane (FMA is fused in every path, `mul_add`
//! in the portable one), which is what makes the paths bitwise identical.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Vectors of `N` lanes of `T` for one instruction set. Methods are unsafe because they may
/// use instructions the caller must have checked the CPU supports, and take raw pointers.
pub trait Lanes<T: Copy>: Copy {
    const N: usize;
    type V: Copy;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: T) -> Self::V;
    unsafe fn load(p: *const T) -> Self::V;
    unsafe fn store(p: *mut T, v: Self::V);
    /// `a·b + c`, rounded once.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The scalar `a·b + c`, rounded once (for tails).
    #[inline(always)]
    unsafe fn fma1(a: T, b: T, c: T) -> T
    where
        T: num_traits::Float,
    {
        a.mul_add(b, c)
    }
}

/// One lane of plain scalar code: the fallback on any CPU.
#[derive(Clone, Copy)]
pub struct Portable;

macro_rules! portable {
    ($t:ty) => {
        impl Lanes<$t> for Portable {
            const N: usize = 1;
            type V = $t;
            #[inline(always)]
            unsafe fn zero() -> $t {
                0.0
            }
            #[inline(always)]
            unsafe fn splat(x: $t) -> $t {
                x
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $t {
                *p
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $t) {
                *p = v
            }
            #[inline(always)]
            unsafe fn fma(a: $t, b: $t, c: $t) -> $t {
                a.mul_add(b, c)
            }
        }
    };
}
portable!(f32);
portable!(f64);

/// 256-bit AVX2 + FMA vectors.
#[derive(Clone, Copy)]
pub struct Avx2;

/// 512-bit AVX-512F vectors.
#[derive(Clone, Copy)]
pub struct Avx512;

macro_rules! x86 {
    ($isa:ty, $t:ty, $n:expr, $v:ty, $zero:ident, $splat:ident, $load:ident, $store:ident, $fma:ident) => {
        #[cfg(target_arch = "x86_64")]
        impl Lanes<$t> for $isa {
            const N: usize = $n;
            type V = $v;
            #[inline(always)]
            unsafe fn zero() -> $v {
                $zero()
            }
            #[inline(always)]
            unsafe fn splat(x: $t) -> $v {
                $splat(x)
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $v {
                $load(p)
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $v) {
                $store(p, v)
            }
            #[inline(always)]
            unsafe fn fma(a: $v, b: $v, c: $v) -> $v {
                $fma(a, b, c)
            }
        }
    };
}
x86!(
    Avx2,
    f32,
    8,
    __m256,
    _mm256_setzero_ps,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps
);
x86!(
    Avx2,
    f64,
    4,
    __m256d,
    _mm256_setzero_pd,
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_fmadd_pd
);
x86!(
    Avx512,
    f32,
    16,
    __m512,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps
);
x86!(
    Avx512,
    f64,
    8,
    __m512d,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd
);
