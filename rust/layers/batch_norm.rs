//! `BatchNorm(momentum, eps)`: as `torch.nn.BatchNorm1d(n)`. In training each feature is
//! normalised with the batch's mean and biased variance, and a training step blends them into
//! the running statistics (the unbiased variance into `running_var`); in evaluation the running
//! statistics normalise.
//!
//! ```text
//! forward   μ = mean_rows(x),  σ² = mean_rows((x-μ)²),  r = 1/√(σ²+ε),  x̂ = (x-μ)·r,  y = γ⊙x̂ + β
//! backward  dβ = Σ_rows dy,  dγ = Σ_rows dy⊙x̂,  dx = γ·r·(dy - dβ/N - x̂·dγ/N)
//! step      running_mean ← (1-m)·running_mean + m·μ,  running_var ← (1-m)·running_var + m·σ²·N/(N-1)
//! ```
//! The column sums span every member's rows: members meet at a barrier, each sums its own
//! columns over all rows in row order, and meet again. The result does not depend on the team.

use std::ops::Range;

use super::{Io, LayerOps, Mode, Pass, Tensors};
use crate::kernels::{self, MatRef, Shared};
use crate::scalar::Scalar;

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub momentum: f64,
    pub eps: f64,
    pub width: usize,
    /// Indices of `γ` and `β` among the parameters, of the running statistics among the
    /// buffers, and of `num_batches_tracked` among the network's counters.
    pub weight: usize,
    pub bias: usize,
    pub running_mean: usize,
    pub running_var: usize,
    pub count: usize,
}

/// Per-feature statistics of a batch, in `stats`: which block of `width` values.
const MEAN: usize = 0;
const VAR: usize = 1;
const RSTD: usize = 2;
const MEAN_DY: usize = 3;
const MEAN_DY_XHAT: usize = 4;
const STATS: usize = 5;

impl BatchNorm {
    fn stat<'a, T>(&self, io: &Io<'a, T>, which: usize, cols: Range<usize>) -> &'a mut [T] {
        let at = which * self.width;
        // SAFETY: callers own `cols` of every statistic between two barriers.
        unsafe { io.stats.part(at + cols.start..at + cols.end) }
    }

    /// Every feature's value of one statistic, for reading.
    ///
    /// # Safety
    /// No member may write the statistics meanwhile.
    unsafe fn stat_all<'a, T>(&self, io: &Io<'a, T>, which: usize) -> &'a [T] {
        let at = which * self.width;
        &io.stats.read()[at..at + self.width]
    }

    /// This member's columns (a share of the features, the same split in both passes).
    fn columns(&self, pass: &Pass) -> Range<usize> {
        pass.team.share(self.width, 8)
    }

    /// Blends the batch statistics of the last training pass into the running statistics.
    ///
    /// # Safety
    /// After a training pass over `rows` rows; only one thread calls this, while no member
    /// reads the buffers.
    pub unsafe fn update_running<T: Scalar>(&self, rows: usize, io: &Io<T>, buffers: &[Shared<T>]) {
        let n = self.width;
        let m = T::of(self.momentum);
        let keep = T::of(1.0 - self.momentum);
        let unbias = T::of(rows as f64 / (rows as f64 - 1.0));
        let (mean, var) = (self.stat_all(io, MEAN), self.stat_all(io, VAR));
        let running_mean = buffers[self.running_mean].part(0..n);
        for (r, &b) in running_mean.iter_mut().zip(mean.iter()) {
            *r = keep * *r + m * b;
        }
        let running_var = buffers[self.running_var].part(0..n);
        for (r, &v) in running_var.iter_mut().zip(var.iter()) {
            *r = keep * *r + m * (v * unbias);
        }
    }
}

impl LayerOps for BatchNorm {
    fn width(&self) -> usize {
        self.width
    }

    fn scratch(&self, rows: usize) -> (Option<usize>, usize) {
        (rows.checked_mul(self.width), STATS * self.width)
    }

    /// Per unit (training), forward 8 (mean 1, variance 3, `x̂` 2, `γ⊙x̂ + β` 2); backward 3
    /// (`dβ` 1, `dγ` 2) + 5 for `dx = γ·r·(dy - dβ/N - x̂·dγ/N)` (per-feature factors once per
    /// batch) unless this is the first layer. The running-statistics update is per feature per
    /// batch, not counted.
    fn flops(&self, _fan_in: usize, input_grad: bool) -> (u64, u64) {
        let n = self.width as u64;
        (8 * n, (3 + if input_grad { 5 } else { 0 }) * n)
    }

    unsafe fn forward<T: Scalar>(&self, pass: &Pass, t: &Tensors<T>, input: MatRef<T>, io: &Io<T>) {
        let n = self.width;
        let (gamma, beta) = (t.params[self.weight].read(), t.params[self.bias].read());
        if pass.mode == Mode::Eval {
            let (rm, rv) = (
                t.buffers[self.running_mean].read(),
                t.buffers[self.running_var].read(),
            );
            let eps = T::of(self.eps);
            for r in pass.mine.clone() {
                let x = input.row_slice(r..r + 1);
                let out = io.out.part(r * n..(r + 1) * n);
                for j in 0..n {
                    out[j] = gamma[j] * ((x[j] - rm[j]) / (rv[j] + eps).sqrt()) + beta[j];
                }
            }
            return;
        }
        // Every member's input rows are written before the columns are summed.
        pass.team.sync();
        let cols = self.columns(pass);
        let x = input.row_slice(0..pass.rows);
        let inv_rows = T::of(1.0 / pass.rows as f64);
        let mean = self.stat(io, MEAN, cols.clone());
        super::column_range_sums(mean, x, n, cols.clone());
        mean.iter_mut().for_each(|m| *m = *m * inv_rows);
        let var = self.stat(io, VAR, cols.clone());
        var.fill(T::zero());
        for row in x.chunks_exact(n) {
            for ((v, &xi), &m) in var.iter_mut().zip(&row[cols.clone()]).zip(mean.iter()) {
                *v = *v + (xi - m) * (xi - m);
            }
        }
        var.iter_mut().for_each(|v| *v = *v * inv_rows);
        let eps = T::of(self.eps);
        let rstd = self.stat(io, RSTD, cols.clone());
        for (s, &v) in rstd.iter_mut().zip(var.iter()) {
            *s = T::one() / (v + eps).sqrt();
        }
        pass.team.sync();
        let (mean, rstd) = (self.stat_all(io, MEAN), self.stat_all(io, RSTD));
        for r in pass.mine.clone() {
            let x = input.row_slice(r..r + 1);
            let xhat = io.aux.part(r * n..(r + 1) * n);
            let out = io.out.part(r * n..(r + 1) * n);
            for j in 0..n {
                xhat[j] = (x[j] - mean[j]) * rstd[j];
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
        grads: &[Shared<T>],
    ) {
        let n = self.width;
        // Every member's rows of dy are written before the columns are summed.
        pass.team.sync();
        let cols = self.columns(pass);
        let (grad, xhat) = (
            &io.grad.read()[..pass.rows * n],
            &io.aux.read()[..pass.rows * n],
        );
        let dbeta = grads[self.bias].part(cols.clone());
        super::column_range_sums(dbeta, grad, n, cols.clone());
        let dgamma = grads[self.weight].part(cols.clone());
        dgamma.fill(T::zero());
        for (dy, xh) in grad.chunks_exact(n).zip(xhat.chunks_exact(n)) {
            for (k, j) in cols.clone().enumerate() {
                dgamma[k] = dgamma[k] + dy[j] * xh[j];
            }
        }
        let inv_rows = T::of(1.0 / pass.rows as f64);
        for (m, &s) in self
            .stat(io, MEAN_DY, cols.clone())
            .iter_mut()
            .zip(dbeta.iter())
        {
            *m = s * inv_rows;
        }
        for (m, &s) in self
            .stat(io, MEAN_DY_XHAT, cols.clone())
            .iter_mut()
            .zip(dgamma.iter())
        {
            *m = s * inv_rows;
        }
        pass.team.sync();
        let Some(grad_in) = grad_in else { return };
        let gamma = t.params[self.weight].read();
        let rstd = self.stat_all(io, RSTD);
        let (mean_dy, mean_dyx) = (self.stat_all(io, MEAN_DY), self.stat_all(io, MEAN_DY_XHAT));
        for r in pass.mine.clone() {
            let (dy, xh) = (&grad[r * n..(r + 1) * n], &xhat[r * n..(r + 1) * n]);
            let dx = grad_in.part(r * n..(r + 1) * n);
            for j in 0..n {
                dx[j] = gamma[j] * rstd[j] * (dy[j] - mean_dy[j] - xh[j] * mean_dyx[j]);
            }
        }
    }

    /// γ's and β's gradients were summed in the backward pass; their largest magnitude.
    unsafe fn vector_gradients<T: Scalar>(
        &self,
        _rows: usize,
        _io: &Io<T>,
        grads: &[Shared<T>],
    ) -> f64 {
        let (dgamma, dbeta) = (grads[self.weight].read(), grads[self.bias].read());
        kernels::finite_max_abs(dgamma).max(kernels::finite_max_abs(dbeta))
    }
}
