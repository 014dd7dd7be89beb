//! GEMM `C = A·B` on strided views: a register-blocked microkernel per instruction set.
//! Single-threaded; callers parallelise over disjoint output blocks (see `train`).
//!
//! Every output element is one FMA chain over `k` in increasing order, started from zero
//! (later `k` blocks resume the chain from the stored value). No path, tile size or thread
//! count changes that order, so the result is bitwise the same on all of them.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Range;

use num_traits::Float;

#[cfg(target_arch = "x86_64")]
use super::lanes::{Avx2, Avx512};
use super::lanes::{Lanes, Portable};
use super::simd::dispatch;

/// Depth of one k block: a `KC × NR` B panel stays in L1 while row tiles of A stream past it.
const KC: usize = 256;
/// Largest microkernel tile (MR × NR elements), for edge-tile staging.
const MAX_TILE: usize = 256;

/// A read-only matrix view: element (i, j) is at `ptr + i·rs + j·cs`.
///
/// It holds a raw pointer rather than a slice because team members read rows of a buffer that
/// other members write elsewhere (disjoint rows, separated by barriers).
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    ptr: *const T,
    pub rows: usize,
    pub cols: usize,
    rs: usize,
    cs: usize,
    _life: PhantomData<&'a T>,
}

// SAFETY: a MatRef only reads; sharing it is like sharing `&[T]`.
unsafe impl<T: Sync> Send for MatRef<'_, T> {}
unsafe impl<T: Sync> Sync for MatRef<'_, T> {}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A view with explicit strides; panics if it would reach outside `data` (a caller bug).
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        // SAFETY: `data` is a valid slice of `data.len()` elements.
        unsafe { Self::from_raw(data.as_ptr(), data.len(), rows, cols, rs, cs) }
    }

    /// A view into `len` elements at `ptr`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid for `'a`, and the elements this view is read at must not
    /// be written while it is read.
    pub unsafe fn from_raw(
        ptr: *const T,
        len: usize,
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * rs + (cols - 1) * cs < len,
                "MatRef out of bounds"
            );
        }
        MatRef {
            ptr,
            rows,
            cols,
            rs,
            cs,
            _life: PhantomData,
        }
    }

    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// Rows `rows` of a row-major view, as one slice.
    ///
    /// # Safety
    /// No one may write those rows while the slice is alive.
    pub unsafe fn row_slice(&self, rows: std::ops::Range<usize>) -> &'a [T] {
        assert!(
            self.cs == 1 && self.rs == self.cols && rows.start <= rows.end && rows.end <= self.rows,
            "MatRef::row_slice: not row-major or out of bounds"
        );
        std::slice::from_raw_parts(self.ptr.add(rows.start * self.rs), rows.len() * self.cols)
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> T {
        debug_assert!(i < self.rows && j < self.cols);
        // SAFETY: in bounds by the check in `from_raw`.
        unsafe { *self.ptr.add(i * self.rs + j * self.cs) }
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
                    block::<$t, Portable, 4, 4, 4>(c, ldc, a, b, rows, cols)
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
unsafe fn block_avx512<T: Float + Default, const MR: usize, const NV: usize>(
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
) where
    Avx512: Lanes<T>,
{
    block::<T, Avx512, MR, NV, 4>(c, ldc, a, b, rows, cols)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2<T: Float + Default, const MR: usize, const NV: usize>(
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
) where
    Avx2: Lanes<T>,
{
    block::<T, Avx2, MR, NV, 4>(c, ldc, a, b, rows, cols)
}

thread_local! {
    /// Packing buffer for a B operand that is not row-contiguous, grown once per thread.
    static PACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
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
///
/// A is read in place through its strides (the microkernel broadcasts one element per row).
/// B is read in place when its rows are contiguous, else packed `KC` rows at a time; the
/// last, narrower column panel is always staged through a zero-padded copy.
#[inline(always)]
unsafe fn block<
    T: Float + Default,
    S: Lanes<T>,
    const MR: usize,
    const NV: usize,
    const NV1: usize,
>(
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
    let full_panels = ncols / nr;
    let tail = ncols - full_panels * nr;
    let direct = b.cs == 1;
    if k == 1 && direct {
        outer::<T, S>(c, ldc, a, b, rows, cols);
        return;
    }
    if rows.len() == 1 && direct && cols.len() >= S::N {
        gemv::<T, S>(c.add(rows.start * ldc), a, rows.start, b, cols);
        return;
    }
    PACK.with(|cell| {
        // A fresh buffer if this thread is somehow already packing (never in practice).
        let mut spare = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let store = match guard.as_mut() {
            Ok(g) => &mut **g,
            Err(_) => &mut spare,
        };
        let tail_w = tail.div_ceil(S::N) * S::N;
        let packed_w = if direct {
            tail_w
        } else {
            full_panels * nr + tail_w
        };
        let buf = carve::<T>(store, KC * packed_w.max(1));
        // Equal k blocks of at most KC (784 = 4 × 196, not 3 × 256 + 16): a short last block
        // would pay a full load and store of C for a few steps.
        let block_k = k.div_ceil(k.div_ceil(KC));
        for p0 in (0..k).step_by(block_k) {
            let kc = block_k.min(k - p0);
            // B rows p0.., columns from `cols`: (pointer, row stride) of each panel's start.
            let (bfull, bfull_rs) = if direct {
                (b.ptr.add(p0 * b.rs + cols.start), b.rs)
            } else {
                pack(buf, b, p0, kc, cols.start, ncols, packed_w);
                (buf.cast_const(), packed_w)
            };
            let (btail, btail_rs) = if direct {
                pack(buf, b, p0, kc, cols.start + full_panels * nr, tail, tail_w);
                (buf.cast_const(), tail_w)
            } else {
                (buf.cast_const().add(full_panels * nr), packed_w)
            };
            let acc = p0 > 0;
            let a_at = |i: usize| a.ptr.add(i * a.rs + p0 * a.cs);
            let mut i = rows.start;
            while i < rows.end {
                let mr = if rows.end - i >= MR { MR } else { 1 };
                // A lone row has few chains per panel, so it takes panels of `NV1` vectors.
                let width = if mr == MR { nr } else { NV1 * S::N };
                let mut j = 0;
                while j < full_panels * nr {
                    let step = if j + width <= full_panels * nr {
                        width
                    } else {
                        nr
                    };
                    let (bp, cp) = (bfull.add(j), c.add(i * ldc + cols.start + j));
                    let a_i = a_at(i);
                    match (mr == MR, step == nr) {
                        (true, _) => micro::<T, S, MR, NV>(
                            kc, a_i, a.rs, a.cs, bp, bfull_rs, cp, ldc, nr, acc,
                        ),
                        (false, false) => micro::<T, S, 1, NV1>(
                            kc, a_i, a.rs, a.cs, bp, bfull_rs, cp, ldc, step, acc,
                        ),
                        (false, true) => micro::<T, S, 1, NV>(
                            kc, a_i, a.rs, a.cs, bp, bfull_rs, cp, ldc, nr, acc,
                        ),
                    }
                    j += step;
                }
                let cp = c.add(i * ldc + cols.start + full_panels * nr);
                for v in 0..tail.div_ceil(S::N) {
                    let (bp, cp, w) = (
                        btail.add(v * S::N),
                        cp.add(v * S::N),
                        S::N.min(tail - v * S::N),
                    );
                    if mr == MR {
                        micro::<T, S, MR, 1>(
                            kc,
                            a_at(i),
                            a.rs,
                            a.cs,
                            bp,
                            btail_rs,
                            cp,
                            ldc,
                            w,
                            acc,
                        );
                    } else {
                        micro::<T, S, 1, 1>(kc, a_at(i), a.rs, a.cs, bp, btail_rs, cp, ldc, w, acc);
                    }
                }
                i += mr;
            }
        }
    });
}

/// `C = A·B` for `k = 1` (an outer product, the batch-1 weight gradient): each element is
/// `fma(a, b, 0)`, the one-step chain, without the tile machinery.
#[inline(always)]
unsafe fn outer<T: Float + Default, S: Lanes<T>>(
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
) {
    let b0 = b.ptr.add(cols.start);
    let vectors = cols.len() / S::N;
    for i in rows {
        let ai = a.at(i, 0);
        let (av, ci) = (S::splat(ai), c.add(i * ldc + cols.start));
        for v in 0..vectors {
            S::store(
                ci.add(v * S::N),
                S::fma(av, S::load(b0.add(v * S::N)), S::zero()),
            );
        }
        for j in vectors * S::N..cols.len() {
            *ci.add(j) = S::fma1(ai, *b0.add(j), T::default());
        }
    }
}

/// One row of C, `c[j] = Σ_p A[i, p]·B[p, j]`, for at least `N` columns: streams B row by row
/// (each cache line read once) with up to [`GEMV_VECTORS`] vector accumulators per pass. A pass
/// whose width is not a multiple of `N` adds one vector ending at its last column, overlapping
/// the one before: its overlapping lanes are the same chains, so they store the same bits (a
/// scalar tail kept in memory cost a failed store-to-load forward per step). Same chains, in
/// the same order, as the microkernel.
#[inline(always)]
unsafe fn gemv<T: Float + Default, S: Lanes<T>>(
    c: *mut T,
    a: MatRef<'_, T>,
    i: usize,
    b: MatRef<'_, T>,
    cols: Range<usize>,
) {
    debug_assert!(cols.len() >= S::N);
    let width = GEMV_VECTORS * S::N;
    let mut j0 = cols.start;
    while j0 < cols.end {
        let n = width.min(cols.end - j0);
        let vectors = n / S::N;
        // The overlapping vector starts at or after `cols.start` because `cols` has ≥ N columns.
        let last = (!n.is_multiple_of(S::N)).then(|| j0 + n - S::N);
        match vectors {
            0 => gemv_pass::<T, S, 0>(c, a, i, b, j0, last),
            1 => gemv_pass::<T, S, 1>(c, a, i, b, j0, last),
            2 => gemv_pass::<T, S, 2>(c, a, i, b, j0, last),
            3 => gemv_pass::<T, S, 3>(c, a, i, b, j0, last),
            4 => gemv_pass::<T, S, 4>(c, a, i, b, j0, last),
            5 => gemv_pass::<T, S, 5>(c, a, i, b, j0, last),
            6 => gemv_pass::<T, S, 6>(c, a, i, b, j0, last),
            7 => gemv_pass::<T, S, 7>(c, a, i, b, j0, last),
            _ => gemv_pass::<T, S, 8>(c, a, i, b, j0, last),
        }
        j0 += n;
    }
}

/// Vectors of columns one GEMV pass keeps in registers.
const GEMV_VECTORS: usize = 8;

/// `NV` vectors of one row of C from column `j0`, plus one more at column `last` if given.
#[inline(always)]
unsafe fn gemv_pass<T: Float + Default, S: Lanes<T>, const NV: usize>(
    c: *mut T,
    a: MatRef<'_, T>,
    i: usize,
    b: MatRef<'_, T>,
    j0: usize,
    last: Option<usize>,
) {
    let mut acc = [S::zero(); NV];
    let mut acc_last = S::zero();
    let j_last = last.unwrap_or(j0);
    for p in 0..a.cols {
        let x = a.at(i, p);
        // A zero input adds ±0, which leaves every chain unchanged (the chains start at +0 and
        // B is finite), so its row of B need not be read: sparse inputs such as images and
        // ReLU outputs skip much of the pass with bitwise the same result.
        if x == T::zero() {
            continue;
        }
        let row = b.ptr.add(p * b.rs);
        let xv = S::splat(x);
        for (v, acc) in acc.iter_mut().enumerate() {
            *acc = S::fma(xv, S::load(row.add(j0 + v * S::N)), *acc);
        }
        if last.is_some() {
            acc_last = S::fma(xv, S::load(row.add(j_last)), acc_last);
        }
    }
    for (v, &x) in acc.iter().enumerate() {
        S::store(c.add(j0 + v * S::N), x);
    }
    if last.is_some() {
        S::store(c.add(j_last), acc_last);
    }
}

/// Copies `B[p0..p0+kc, j0..j0+width]` into `dst` with row stride `ld` (≥ width), zero-padded.
#[inline(always)]
unsafe fn pack<T: Float + Default>(
    dst: *mut T,
    b: MatRef<'_, T>,
    p0: usize,
    kc: usize,
    j0: usize,
    width: usize,
    ld: usize,
) {
    for p in 0..kc {
        let row = dst.add(p * ld);
        for j in 0..width {
            *row.add(j) = b.at(p0 + p, j0 + j);
        }
        for j in width..ld {
            *row.add(j) = T::default();
        }
    }
}

/// One `MR × (NV·N)` tile: `C (+)= Σ_p A[:, p] ⊗ B[p, :]` over `kc` steps, `A[i, p]` at
/// `a[i·ars + p·acs]`, `B[p, j]` at `b[p·brs + j]`. Only the first `cols` columns are stored
/// (a narrower last tile); `accumulate` resumes the chains from C (later k blocks).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn micro<T: Float + Default, S: Lanes<T>, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const T,
    ars: usize,
    acs: usize,
    b: *const T,
    brs: usize,
    c: *mut T,
    ldc: usize,
    cols: usize,
    accumulate: bool,
) {
    let nr = NV * S::N;
    debug_assert!(MR * nr <= MAX_TILE && cols <= nr);
    let full = cols == nr;
    // A narrow tile is staged so vector loads and stores stay in bounds; only its valid part
    // is copied back, so the stage needs no initialisation.
    let mut staging = std::mem::MaybeUninit::<[T; MAX_TILE]>::uninit();
    let stage = staging.as_mut_ptr().cast::<T>();
    let (tile, ld) = if full { (c, ldc) } else { (stage, nr) };
    let mut acc = [[S::zero(); NV]; MR];
    if accumulate {
        if !full {
            for i in 0..MR {
                for j in 0..nr {
                    *stage.add(i * nr + j) = if j < cols {
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
        let bp = b.add(p * brs);
        let mut bv = [S::zero(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = S::load(bp.add(v * S::N));
        }
        let ap = a.add(p * acs);
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = S::splat(*ap.add(i * ars));
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
        for i in 0..MR {
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
    // SAFETY: `c` is exclusively borrowed and large enough (checked above).
    unsafe { T::gemm_block(c.as_mut_ptr(), ldc, a, b, 0..m, 0..n) };
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

    const SHAPES: [(usize, usize, usize); 8] = [
        (1, 1, 1),
        (3, 5, 2),
        (17, 33, 9),
        (64, 300, 31),
        (7, 600, 70),
        (130, 20, 100),
        (50, 1, 70),
        (1, 784, 100),
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
    fn output_blocks_equal_the_whole_product() {
        let (m, k, n) = (37, 300, 70);
        let a = filled(m * k, 3.0);
        let b = filled(k * n, 4.0);
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        let (av, bv) = (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n));
        for (rows, cols) in [(0..13, 0..70), (13..37, 0..21), (13..37, 21..70)] {
            unsafe { f64::gemm_block(c.as_mut_ptr(), n, av, bv, rows, cols) };
        }
        assert_eq!(c, want);
    }
}
