//! GEMM `C = A·B` on strided views: packed panels, a register-blocked microkernel per
//! instruction set, threads over disjoint output blocks.
//!
//! Every output element is one FMA chain over `k` in increasing order, started from zero
//! (later `k` blocks resume the chain from the stored value). No path, tile size or thread
//! count changes that order, so the result is bitwise the same on all of them.

use std::cell::RefCell;
use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use super::lanes::{Avx2, Avx512};
use super::lanes::{Lanes, Portable};
use super::simd::dispatch;
use super::SendPtr;
use crate::threads;

/// Depth of one packed block: a `KC × NR` B panel stays in L1 while A panels stream past it.
const KC: usize = 256;
/// Rows of A packed at once (a multiple of every MR below).
const MC: usize = 96;
/// Below this many multiply-adds a product runs on one thread (waking another costs more).
const PARALLEL_MIN_FMAS: usize = 1 << 20;
/// Largest microkernel tile (MR × NR elements), for edge-tile staging.
const MAX_TILE: usize = 256;

/// A read-only matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A view with explicit strides; panics if it would reach outside `data` (a caller bug).
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * rs + (cols - 1) * cs < data.len(),
                "MatRef out of bounds"
            );
        }
        MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> T {
        debug_assert!(i < self.rows && j < self.cols);
        // SAFETY: in bounds by the check in `new`.
        unsafe { *self.data.get_unchecked(i * self.rs + j * self.cs) }
    }
}

/// Element types with GEMM instantiations for each instruction set.
pub trait GemmElem: Copy + Default + Send + Sync + 'static {
    /// Computes `C[rows, cols]` of `a·b` (all of `k`) into `c` with row stride `ldc`.
    ///
    /// # Safety
    /// `c` must be valid for writes at `i·ldc + j` for every `i` in `rows`, `j` in `cols`,
    /// and no other thread may touch those elements meanwhile.
    unsafe fn gemm_block(
        c: *mut Self,
        ldc: usize,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        rows: Range<usize>,
        cols: Range<usize>,
    );
}

macro_rules! gemm_elem {
    ($t:ty, $mr512:expr, $nv512:expr, $mr256:expr, $nv256:expr) => {
        impl GemmElem for $t {
            unsafe fn gemm_block(
                c: *mut $t,
                ldc: usize,
                a: MatRef<'_, $t>,
                b: MatRef<'_, $t>,
                rows: Range<usize>,
                cols: Range<usize>,
            ) {
                dispatch!(
                    block_avx512::<$t, $mr512, $nv512>(c, ldc, a, b, rows, cols),
                    block_avx2::<$t, $mr256, $nv256>(c, ldc, a, b, rows, cols),
                    block::<$t, Portable, 4, 4>(c, ldc, a, b, rows, cols)
                )
            }
        }
    };
}
// AVX-512: 8 rows × 2 vectors (32 f32 / 16 f64) = 16 accumulators of 32 registers.
// AVX2: 6 rows × 2 vectors = 12 accumulators of 16 registers.
gemm_elem!(f32, 8, 2, 6, 2);
gemm_elem!(f64, 8, 2, 6, 2);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn block_avx512<T: Copy + Default, const MR: usize, const NV: usize>(
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
) where
    Avx512: Lanes<T>,
{
    block::<T, Avx512, MR, NV>(c, ldc, a, b, rows, cols)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2<T: Copy + Default, const MR: usize, const NV: usize>(
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
) where
    Avx2: Lanes<T>,
{
    block::<T, Avx2, MR, NV>(c, ldc, a, b, rows, cols)
}

thread_local! {
    /// Packing buffers, grown once per thread and reused: no allocation per product.
    static PACK: RefCell<(Vec<u64>, Vec<u64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A `len`-element `T` buffer carved from `store` (8-byte aligned, enough for f32 and f64).
fn carve<T>(store: &mut Vec<u64>, len: usize) -> *mut T {
    let words = (len * std::mem::size_of::<T>()).div_ceil(8);
    if store.len() < words {
        store.resize(words, 0);
    }
    store.as_mut_ptr().cast()
}

/// The single-threaded blocked product for one output block.
#[inline(always)]
unsafe fn block<T: Copy + Default, S: Lanes<T>, const MR: usize, const NV: usize>(
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
) {
    let nr = NV * S::N;
    let k = a.cols;
    let ncols = cols.len();
    let n_panels = ncols.div_ceil(nr);
    PACK.with(|cell| {
        // A fresh pair if this thread is somehow already packing (never in practice).
        let mut spare = (Vec::new(), Vec::new());
        let mut guard = cell.try_borrow_mut();
        let (store_a, store_b) = match guard.as_mut() {
            Ok(g) => {
                let (a, b) = &mut **g;
                (a, b)
            }
            Err(_) => (&mut spare.0, &mut spare.1),
        };
        let pa = carve::<T>(store_a, MC * KC);
        let pb = carve::<T>(store_b, n_panels * nr * KC);
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            pack_b(pb, b, p0, kc, cols.start, ncols, nr, S::N);
            for i0 in rows.clone().step_by(MC) {
                let mc = MC.min(rows.end - i0);
                pack_a(pa, a, i0, mc, p0, kc, MR);
                for jp in 0..n_panels {
                    let tile_cols = nr.min(ncols - jp * nr);
                    let bp = pb.add(jp * nr * kc);
                    for ip in 0..mc.div_ceil(MR) {
                        let tile_rows = MR.min(mc - ip * MR);
                        let cp = c.add((i0 + ip * MR) * ldc + cols.start + jp * nr);
                        let ap = pa.add(ip * MR * kc);
                        let acc = p0 > 0;
                        // A last panel one vector wide was packed narrow: use a narrow kernel.
                        if tile_cols <= S::N {
                            micro::<T, S, MR, 1>(kc, ap, bp, cp, ldc, tile_rows, tile_cols, acc);
                        } else {
                            micro::<T, S, MR, NV>(kc, ap, bp, cp, ldc, tile_rows, tile_cols, acc);
                        }
                    }
                }
            }
        }
    });
}

/// Packs `A[i0..i0+mc, p0..p0+kc]` as panels of `mr` rows: panel-major, then `p`, then row;
/// rows past the end are zero.
#[inline(always)]
unsafe fn pack_a<T: Copy + Default>(
    dst: *mut T,
    a: MatRef<'_, T>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    mr: usize,
) {
    for ip in 0..mc.div_ceil(mr) {
        let panel = dst.add(ip * mr * kc);
        for r in 0..mr {
            let i = ip * mr + r;
            if i < mc {
                for p in 0..kc {
                    *panel.add(p * mr + r) = a.at(i0 + i, p0 + p);
                }
            } else {
                for p in 0..kc {
                    *panel.add(p * mr + r) = T::default();
                }
            }
        }
    }
}

/// Packs `B[p0..p0+kc, j0..j0+nc]` as panels of `nr` columns: panel-major, then `p`, then
/// column; columns past the end are zero. A last panel at most `n1` wide is packed `n1` wide.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn pack_b<T: Copy + Default>(
    dst: *mut T,
    b: MatRef<'_, T>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    nr: usize,
    n1: usize,
) {
    for jp in 0..nc.div_ceil(nr) {
        let panel = dst.add(jp * nr * kc);
        let width = nr.min(nc - jp * nr);
        let stride = if width <= n1 { n1 } else { nr };
        for p in 0..kc {
            let row = panel.add(p * stride);
            for j in 0..width {
                *row.add(j) = b.at(p0 + p, j0 + jp * nr + j);
            }
            for j in width..stride {
                *row.add(j) = T::default();
            }
        }
    }
}

/// One `MR × NR` tile: `C (+)= Σ_p a[p] ⊗ b[p]` over `kc` packed steps. `accumulate` resumes
/// the chains from C (later k blocks); edge tiles go through a staging buffer.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn micro<T: Copy + Default, S: Lanes<T>, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    let nr = NV * S::N;
    debug_assert!(MR * nr <= MAX_TILE);
    let full = rows == MR && cols == nr;
    // Edge tiles are staged so vector loads and stores stay in bounds; only the valid part of
    // the stage is copied back, so it needs no initialisation.
    let mut staging = std::mem::MaybeUninit::<[T; MAX_TILE]>::uninit();
    let stage = staging.as_mut_ptr().cast::<T>();
    let (tile, ld) = if full { (c, ldc) } else { (stage, nr) };
    let mut acc = [[S::zero(); NV]; MR];
    if accumulate {
        if !full {
            for i in 0..MR {
                for j in 0..nr {
                    let inside = i < rows && j < cols;
                    *stage.add(i * nr + j) = if inside {
                        *c.add(i * ldc + j)
                    } else {
                        T::default()
                    };
                }
            }
        }
        for (i, row) in acc.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                *x = S::load(tile.add(i * ld + v * S::N));
            }
        }
    }
    for p in 0..kc {
        let bp = b.add(p * nr);
        let mut bv = [S::zero(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = S::load(bp.add(v * S::N));
        }
        let ap = a.add(p * MR);
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = S::splat(*ap.add(i));
            for (x, &bx) in row.iter_mut().zip(&bv) {
                *x = S::fma(ai, bx, *x);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            S::store(tile.add(i * ld + v * S::N), x);
        }
    }
    if !full {
        for i in 0..rows {
            for j in 0..cols {
                *c.add(i * ldc + j) = *stage.add(i * nr + j);
            }
        }
    }
}

/// `c (a.rows × b.cols, row stride ldc) = a · b`, threaded over output blocks when large.
pub fn gemm<T: GemmElem>(c: &mut [T], ldc: usize, a: MatRef<'_, T>, b: MatRef<'_, T>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    assert!(ldc >= n, "gemm: ldc < n");
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "gemm: output too small");
    if k == 0 {
        for row in c.chunks_mut(ldc).take(m) {
            row[..n].fill(T::default());
        }
        return;
    }
    let cp = SendPtr(c.as_mut_ptr());
    let parts = parts(m, n, k);
    // SAFETY: the blocks below partition the output; `c` is exclusively borrowed and large
    // enough (checked above).
    if parts == 1 {
        unsafe { T::gemm_block(cp.0, ldc, a, b, 0..m, 0..n) };
        return;
    }
    // Split the longer side into `parts` contiguous ranges (whole tiles where possible).
    let split_rows = m >= n;
    let (len, unit) = if split_rows { (m, 24) } else { (n, 32) };
    let step = len.div_ceil(parts).div_ceil(unit) * unit;
    rayon::scope(|s| {
        for start in (0..len).step_by(step) {
            let range = start..(start + step).min(len);
            s.spawn(move |_| {
                let cp = cp;
                let (rows, cols) = if split_rows {
                    (range, 0..n)
                } else {
                    (0..m, range)
                };
                unsafe { T::gemm_block(cp.0, ldc, a, b, rows, cols) };
            });
        }
    });
}

/// How many threads a product of this size is worth.
fn parts(m: usize, n: usize, k: usize) -> usize {
    let threads = threads::current_parallelism();
    if threads <= 1 || m.saturating_mul(n).saturating_mul(k) < PARALLEL_MIN_FMAS {
        return 1;
    }
    threads.min(m.max(n).div_ceil(24)).max(1)
}

/// `c (m×n) = a (m×k) · b (k×n)`, all row-major.
pub fn matmul<T: GemmElem>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize) {
    gemm(c, n, MatRef::row_major(a, m, k), MatRef::row_major(b, k, n));
}

/// `c (k×n) = aᵀ · b` for row-major `a (m×k)`, `b (m×n)`: the weight gradient `Aᵀ·dZ`.
pub fn matmul_at_b<T: GemmElem>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize) {
    gemm(
        c,
        n,
        MatRef::row_major(a, m, k).t(),
        MatRef::row_major(b, m, n),
    );
}

/// `c (m×k) = a · bᵀ` for row-major `a (m×n)`, `b (k×n)`: the input gradient `dZ·Wᵀ`.
pub fn matmul_a_bt<T: GemmElem>(c: &mut [T], a: &[T], b: &[T], m: usize, n: usize, k: usize) {
    gemm(
        c,
        k,
        MatRef::row_major(a, m, n),
        MatRef::row_major(b, k, n).t(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::simd::{self, Isa};
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                // The same chain the kernels promise: fma over p in order, from zero.
                c[i * n + j] = (0..k).fold(0.0, |acc, p| a[i * k + p].mul_add(b[p * n + j], acc));
            }
        }
        c
    }

    fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        let mut t = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    fn filled(len: usize, seed: f64) -> Vec<f64> {
        (0..len).map(|i| ((i as f64 + seed) * 0.37).sin()).collect()
    }

    const SHAPES: [(usize, usize, usize); 6] = [
        (1, 1, 1),
        (3, 5, 2),
        (17, 33, 9),
        (64, 300, 31),
        (7, 600, 70),
        (130, 20, 100),
    ];

    #[test]
    fn all_paths_equal_the_sequential_fma_chain_bitwise() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
            simd::force(isa);
            for &(m, k, n) in &SHAPES {
                let a = filled(m * k, 1.0);
                let b = filled(k * n, 2.0);
                let want = naive(&a, &b, m, k, n);
                let mut c = vec![f64::NAN; m * n];
                matmul(&mut c, &a, &b, m, k, n);
                assert_eq!(c, want, "{isa:?} {m}x{k}x{n}");

                let at = transpose(&a, m, k);
                let mut c2 = vec![f64::NAN; m * n];
                matmul_at_b(&mut c2, &at, &b, k, m, n);
                assert_eq!(c2, want, "{isa:?} at_b {m}x{k}x{n}");

                let bt = transpose(&b, k, n);
                let mut c3 = vec![f64::NAN; m * n];
                matmul_a_bt(&mut c3, &a, &bt, m, k, n);
                assert_eq!(c3, want, "{isa:?} a_bt {m}x{k}x{n}");

                let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
                let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
                let mut c32 = vec![f32::NAN; m * n];
                matmul(&mut c32, &a32, &b32, m, k, n);
                for i in 0..m {
                    for j in 0..n {
                        let chain =
                            (0..k).fold(0f32, |acc, p| a32[i * k + p].mul_add(b32[p * n + j], acc));
                        assert_eq!(c32[i * n + j].to_bits(), chain.to_bits(), "{isa:?} f32");
                    }
                }
            }
        }
        simd::force(Isa::Avx512);
    }

    #[test]
    fn threaded_products_equal_single_threaded() {
        let (m, k, n) = (200, 700, 150);
        let a = filled(m * k, 3.0);
        let b = filled(k * n, 4.0);
        let want = naive(&a, &b, m, k, n);
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = vec![0.0; m * n];
            pool.install(|| matmul(&mut c, &a, &b, m, k, n));
            assert_eq!(c, want);
        }
    }
}
