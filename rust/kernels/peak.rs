//! This CPU's single-thread fp32 FMA peak, measured: the ceiling a "% of peak" figure needs.
//!
//! The machines ferroprop is benchmarked on change between sessions (Zen 4 runs AVX-512 as two
//! 256-bit halves, Zen 5 has full 512-bit FMA units), so a percentage of a remembered peak
//! means nothing: `benches/compare.py` measures this in the same run as the figures it
//! compares with it. The loop is that of `shared/tools/fma_peak.c`: [`ACCUMULATORS`]
//! independent vector accumulators, each updated by one `vfmadd` per iteration, enough to
//! cover the FMA latency on every pipe of the CPUs seen (4 cycles × 2 pipes needs 8). It uses
//! the instruction-set path the kernels use (`FERROPROP_SIMD` included), so a forced narrower
//! path reports that path's ceiling.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

#[cfg(target_arch = "x86_64")]
use super::lanes::{Avx2, Avx512};
use super::lanes::{Lanes, Portable};
use super::simd::dispatch;

/// Independent accumulators (vector registers) in the loop: 12 plus the two constant operands
/// fit the 16 registers of AVX2 and leave AVX-512 half its 32.
pub const ACCUMULATORS: usize = 12;
/// Loop iterations between two clock reads (12 FMAs each: ~50k FMAs, a few microseconds).
const BURST: usize = 4096;
/// Short timed repetitions the duration is split into; the best one is reported (the first
/// ones may run at a lower clock, or be interrupted).
pub const REPETITIONS: u32 = 5;
/// Longest duration accepted, so a mistyped argument cannot tie a core up for hours.
pub const MAX_MILLIS: f64 = 10_000.0;
/// Widest vector in lanes of f32 (AVX-512), for the buffer the result is stored through.
const MAX_LANES: usize = 16;
/// Accumulator update `a = a·DECAY + DRIFT`: converges to 0.1, never overflows nor underflows.
const DECAY: f32 = 0.999_999;
const DRIFT: f32 = 1e-7;

/// Single-thread fp32 FMA throughput of this CPU in GFLOPS (an FMA counts as 2 FLOP): the best
/// of [`REPETITIONS`] runs of the loop, taking `millis` milliseconds in all.
///
/// Errors when `millis` is not a finite number in (0, [`MAX_MILLIS`]].
pub fn fma_peak_gflops(millis: f64) -> Result<f64> {
    if !(millis > 0.0 && millis <= MAX_MILLIS) {
        return Err(Error::value(format!(
            "millis: expected a duration in (0, {MAX_MILLIS}] milliseconds, got {millis}"
        )));
    }
    let each = Duration::from_secs_f64(millis / 1e3 / f64::from(REPETITIONS));
    let mut best = 0.0f64;
    for _ in 0..REPETITIONS {
        let start = Instant::now();
        let mut flops = 0u64;
        // At least one burst, so even a sub-microsecond request measures something.
        loop {
            flops += burst_dispatched(BURST);
            if start.elapsed() >= each {
                break;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.max(flops as f64 / secs / 1e9);
    }
    Ok(best)
}

/// [`burst`] on the path the kernels use; returns the FLOPs it performed.
fn burst_dispatched(iterations: usize) -> u64 {
    dispatch!(
        burst_avx512(iterations),
        burst_avx2(iterations),
        burst_portable(iterations)
    )
}

/// # Safety
/// The CPU must support AVX-512F, AVX-512VL, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn burst_avx512(iterations: usize) -> u64 {
    burst::<Avx512>(iterations)
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn burst_avx2(iterations: usize) -> u64 {
    burst::<Avx2>(iterations)
}

fn burst_portable(iterations: usize) -> u64 {
    // SAFETY: the portable lanes are plain scalar code, valid on any CPU.
    unsafe { burst::<Portable>(iterations) }
}

/// `iterations` rounds of one FMA into each of [`ACCUMULATORS`] independent accumulators;
/// returns the FLOPs performed. The starting values and operands pass through `black_box`, so
/// the compiler can neither fold the chains nor merge the identical ones.
///
/// # Safety
/// The CPU must support the instructions of `S`.
#[inline(always)]
unsafe fn burst<S: Lanes<f32>>(iterations: usize) -> u64 {
    debug_assert!(S::N <= MAX_LANES);
    let decay = S::splat(black_box(DECAY));
    let drift = S::splat(black_box(DRIFT));
    let mut acc = black_box([S::splat(1.0); ACCUMULATORS]);
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = S::fma(*a, decay, drift);
        }
    }
    // Keep the result alive: a sum of the accumulators (a + 1·b), stored and black-boxed.
    let one = S::splat(1.0);
    let total = acc.iter().fold(S::zero(), |sum, &a| S::fma(a, one, sum));
    let mut lanes = [0.0f32; MAX_LANES];
    S::store(lanes.as_mut_ptr(), total);
    black_box(lanes);
    (iterations * ACCUMULATORS * S::N * 2) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_positive_and_finite() {
        let gflops = fma_peak_gflops(5.0).unwrap();
        assert!(gflops.is_finite() && gflops > 0.0, "{gflops}");
    }

    #[test]
    fn bad_durations_are_refused() {
        for millis in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_MILLIS * 2.0] {
            assert!(matches!(fma_peak_gflops(millis), Err(Error::Value(_))));
        }
    }

    #[test]
    fn a_burst_counts_its_flops() {
        let lanes = match crate::kernels::simd::isa() {
            crate::kernels::simd::Isa::Avx512 => 16,
            crate::kernels::simd::Isa::Avx2 => 8,
            crate::kernels::simd::Isa::Scalar => 1,
        };
        let n = 3;
        assert_eq!(burst_dispatched(n), (n * ACCUMULATORS * lanes * 2) as u64);
    }
}
