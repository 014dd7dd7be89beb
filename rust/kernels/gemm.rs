//! Matrix products on row-major slices, delegated to the `gemm` crate.

use crate::scalar::Scalar;
use crate::threads;

/// `c (m×n) = a (m×k) · b (k×n)`.
pub fn matmul<T: Scalar>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize) {
    let (k_, n_) = (k as isize, n as isize);
    gemm_strided(c, a, (k_, 1), b, (n_, 1), m, k, n);
}

/// `c (k×n) = aᵀ · b` for `a (m×k)`, `b (m×n)`: the weight gradient `Aᵀ·dZ`.
pub fn matmul_at_b<T: Scalar>(c: &mut [T], a: &[T], b: &[T], m: usize, k: usize, n: usize) {
    // aᵀ is (k×m) with row stride 1 and column stride k.
    gemm_strided(c, a, (1, k as isize), b, (n as isize, 1), k, m, n);
}

/// `c (m×k) = a · bᵀ` for `a (m×n)`, `b (k×n)`: the input gradient `dZ·Wᵀ`.
pub fn matmul_a_bt<T: Scalar>(c: &mut [T], a: &[T], b: &[T], m: usize, n: usize, k: usize) {
    // bᵀ is (n×k) with row stride 1 and column stride n.
    gemm_strided(c, a, (n as isize, 1), b, (1, n as isize), m, n, k);
}

/// `c (m×n) = lhs (m×k) · rhs (k×n)` where lhs and rhs are given as (row stride, column stride).
#[allow(clippy::too_many_arguments)]
fn gemm_strided<T: Scalar>(
    c: &mut [T],
    lhs: &[T],
    (lhs_rs, lhs_cs): (isize, isize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (isize, isize),
    m: usize,
    k: usize,
    n: usize,
) {
    // The bounds below are what make the raw-pointer call sound.
    assert!(c.len() >= m * n, "matmul: output too small");
    assert!(
        lhs.len() >= m * k && rhs.len() >= k * n,
        "matmul: input too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(T::zero());
        return;
    }
    let threads = threads::current_parallelism();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index the strides reach lies inside the slices checked above; `c` is
    // exclusively borrowed and does not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
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

    fn close(x: &[f64], y: &[f64]) {
        for (a, b) in x.iter().zip(y) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn the_three_products_match_a_naive_loop() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 2), (17, 33, 9), (64, 70, 31)] {
            let a = filled(m * k, 1.0);
            let b = filled(k * n, 2.0);
            let mut c = vec![f64::NAN; m * n];
            matmul(&mut c, &a, &b, m, k, n);
            close(&c, &naive(&a, &b, m, k, n));

            // aᵀ·b with a stored (k×m)
            let at = transpose(&a, m, k);
            let mut c2 = vec![f64::NAN; m * n];
            matmul_at_b(&mut c2, &at, &b, k, m, n);
            close(&c2, &naive(&a, &b, m, k, n));

            // a·bᵀ with b stored (n×k)
            let bt = transpose(&b, k, n);
            let mut c3 = vec![f64::NAN; m * n];
            matmul_a_bt(&mut c3, &a, &bt, m, k, n);
            close(&c3, &naive(&a, &b, m, k, n));
        }
    }
}
