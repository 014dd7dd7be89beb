//! `LayerNorm(eps)`: as `torch.nn.LayerNorm(n)`, each row normalised over its features, then
//! scaled and shifted by learnable `γ` (ones) and `β` (zeros):
//!
//! ```text
//! forward   μ = mean(x),  σ² = mean((x-μ)²),  r = 1/√(σ²+ε),  x̂ = (x-μ)·r,  y = γ⊙x̂ + β
//! backward  g = dy⊙γ,  dx = r·(g - mean(g) - x̂·mean(g⊙x̂)),  dγ = Σ_rows dy⊙x̂,  dβ = Σ_rows dy
//! ```
//! Row sums run in feature order and column sums in row order: the same bits for any team.

use super::{Io, LayerOps, Pass, Tensors};
use crate::kernels::{self, MatRef, Shared};
use crate::scalar::Scalar;

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub eps: f64,
    pub width: usize,
    /// Indices of `γ` and `β` among the network's parameters.
    pub weight: usize,
    pub bias: usize,
}

impl LayerNorm {
    /// `x̂` (rows × width) then `r` (rows) in `aux`, for a batch of `rows`.
    fn split(&self, rows: usize) -> (std::ops::Range<usize>, usize) {
        (0..rows * self.width, rows * self.width)
    }
}

impl LayerOps for LayerNorm {
    fn width(&self) -> usize {
        self.width
    }

    fn scratch(&self, rows: usize) -> (Option<usize>, usize) {
        (rows.checked_mul(self.width + 1), 0)
    }

    /// Per unit, forward 8 (mean 1, variance 3, `x̂` 2, `γ⊙x̂ + β` 2); backward 3 (`dγ` 2,
    /// `dβ` 1) + 8 for `dx` (`g` 1, its two means 3, `r·(g - mean(g) - x̂·…)` 4) unless this
    /// is the first layer.
    fn flops(&self, _fan_in: usize, input_grad: bool) -> (u64, u64) {
        let n = self.width as u64;
        (8 * n, (3 + if input_grad { 8 } else { 0 }) * n)
    }

    unsafe fn forward<T: Scalar>(&self, pass: &Pass, t: &Tensors<T>, input: MatRef<T>, io: &Io<T>) {
        let n = self.width;
        let (xhat_at, rstd_at) = self.split(pass.rows);
        let (gamma, beta) = (t.params[self.weight].read(), t.params[self.bias].read());
        let inv_n = T::of(1.0 / n as f64);
        let eps = T::of(self.eps);
        for r in pass.mine.clone() {
            let x = input.row_slice(r..r + 1);
            let mean = x.iter().fold(T::zero(), |s, &v| s + v) * inv_n;
            let var = x
                .iter()
                .fold(T::zero(), |s, &v| s + (v - mean) * (v - mean))
                * inv_n;
            let rstd = T::one() / (var + eps).sqrt();
            io.aux.part(rstd_at + r..rstd_at + r + 1)[0] = rstd;
            let xhat = io
                .aux
                .part(xhat_at.start + r * n..xhat_at.start + (r + 1) * n);
            let out = io.out.part(r * n..(r + 1) * n);
            for j in 0..n {
                xhat[j] = (x[j] - mean) * rstd;
                out[j] = gamma[j] * xhat[j] + beta[j];
            }
        }
    }

    unsafe fn backward<T: Scalar>(
        &self,
        pass: &Pass,
        t: &Tensors<T>,
        _input: MatRef<T>,
        io: &Io<T>,
        grad_in: Option<Shared<T>>,
        _grads: &[Shared<T>],
    ) {
        let Some(grad_in) = grad_in else { return };
        let n = self.width;
        let (_, rstd_at) = self.split(pass.rows);
        let gamma = t.params[self.weight].read();
        let inv_n = T::of(1.0 / n as f64);
        let (aux, grad) = (io.aux.read(), io.grad.read());
        for r in pass.mine.clone() {
            let rstd = aux[rstd_at + r];
            let xhat = &aux[r * n..(r + 1) * n];
            let dy = &grad[r * n..(r + 1) * n];
            let (mut sum, mut dot) = (T::zero(), T::zero());
            for j in 0..n {
                let g = dy[j] * gamma[j];
                sum = sum + g;
                dot = dot + g * xhat[j];
            }
            let (m1, m2) = (sum * inv_n, dot * inv_n);
            let dx = grad_in.part(r * n..(r + 1) * n);
            for j in 0..n {
                dx[j] = rstd * (dy[j] * gamma[j] - m1 - xhat[j] * m2);
            }
        }
    }

    unsafe fn vector_gradients<T: Scalar>(
        &self,
        rows: usize,
        io: &Io<T>,
        grads: &[Shared<T>],
    ) -> f64 {
        let n = self.width;
        let (dgamma, dbeta) = (grads[self.weight].part(0..n), grads[self.bias].part(0..n));
        dgamma.fill(T::zero());
        let (aux, grad) = (io.aux.read(), io.grad.read());
        for (dy, xhat) in grad[..rows * n].chunks_exact(n).zip(aux.chunks_exact(n)) {
            for j in 0..n {
                dgamma[j] = dgamma[j] + dy[j] * xhat[j];
            }
        }
        kernels::column_sums(dbeta, &grad[..rows * n]);
        kernels::finite_max_abs(dgamma).max(kernels::finite_max_abs(dbeta))
    }
}
