//! `Dense(units)`: `Y = X·W + b`, `W` stored `(fan_in, fan_out)` row-major (scikit-learn's
//! `coefs_` layout; `state_dict` shows torch's `(out, in)`), with the activation that follows
//! it fused in when there is one:
//!
//! ```text
//! forward   Z = X·W + b,  A = act(Z)           (GEMM, then bias and activation in cache)
//! backward  dZ = dA ⊙ act'(Z),  dX = dZ·Wᵀ,  dW = Xᵀ·dZ,  db = Σ_rows dZ
//! ```

use super::{Io, LayerOps, Pass, Tensors};
use crate::activations::Activation;
use crate::init::Init;
use crate::kernels::{self, MatRef, Shared};
use crate::network::ROW_UNIT;
use crate::scalar::Scalar;

#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub fan_in: usize,
    pub fan_out: usize,
    pub init: Init,
    /// Indices of `W` and `b` among the network's parameters.
    pub weight: usize,
    pub bias: usize,
    /// The activation layer right after this one, run in this layer's passes (its output is
    /// then `A`, and `aux` holds `Z`).
    pub fused: Option<Activation>,
}

impl LayerOps for Dense {
    fn width(&self) -> usize {
        self.fan_out
    }

    fn scratch(&self, rows: usize) -> (Option<usize>, usize) {
        let z = if self.fused.is_some() {
            rows.checked_mul(self.fan_out)
        } else {
            Some(0)
        };
        (z, 0)
    }

    /// Forward `2·in·out` (`X·W`) + `out` (bias); backward `2·in·out` (`dW = Xᵀ·dZ`) + `out`
    /// (`db`) + `2·in·out` (`dX = dZ·Wᵀ`) unless this is the first layer.
    fn flops(&self, fan_in: usize, input_grad: bool) -> (u64, u64) {
        let (i, o) = (fan_in as u64, self.fan_out as u64);
        let gemm = 2 * i * o;
        (gemm + o, gemm + o + if input_grad { gemm } else { 0 })
    }

    unsafe fn forward<T: Scalar>(&self, pass: &Pass, t: &Tensors<T>, input: MatRef<T>, io: &Io<T>) {
        let rows = pass.mine.clone();
        let n = self.fan_out;
        let z = if self.fused.is_some() { io.aux } else { io.out };
        let w = t.params[self.weight].matrix(self.fan_in, n);
        T::gemm_block(z.as_mut_ptr(), n, input, w, rows.clone(), 0..n);
        let span = rows.start * n..rows.end * n;
        let bias = t.params[self.bias].read();
        match self.fused {
            Some(act) => {
                kernels::bias_activation(z.part(span.clone()), io.out.part(span), bias, act)
            }
            None => kernels::bias_activation(z.part(span), &mut [], bias, Activation::Identity),
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
        let rows = pass.mine.clone();
        let n = self.fan_out;
        if let Some(act) = self.fused {
            let span = rows.start * n..rows.end * n;
            kernels::activation_backward(
                io.grad.part(span.clone()),
                &io.aux.read()[span.clone()],
                &io.out.read()[span],
                act,
            );
        }
        let Some(grad_in) = grad_in else { return };
        let dz = io.grad.matrix(pass.rows, n);
        let wt = t.params[self.weight].matrix(self.fan_in, n).t();
        T::gemm_block(
            grad_in.as_mut_ptr(),
            self.fan_in,
            dz,
            wt,
            rows,
            0..self.fan_in,
        );
    }

    unsafe fn vector_gradients<T: Scalar>(
        &self,
        rows: usize,
        io: &Io<T>,
        grads: &[Shared<T>],
    ) -> f64 {
        let db = grads[self.bias].part(0..self.fan_out);
        kernels::column_sums(db, &io.grad.read()[..rows * self.fan_out]);
        kernels::finite_max_abs(db)
    }
}

impl Dense {
    /// This member's rows of `dW = Xᵀ·dZ` (its share of `fan_in`), plus `decay·W` (the L2 term
    /// of scikit-learn's losses) when given. Returns their largest magnitude (infinite if one is
    /// not finite).
    ///
    /// # Safety
    /// Every member has finished the backward pass (a barrier); each member calls this once.
    pub unsafe fn weight_gradient<T: Scalar>(
        &self,
        pass: &Pass,
        t: &Tensors<T>,
        input: MatRef<T>,
        io: &Io<T>,
        grads: &[Shared<T>],
        decay: Option<T>,
    ) -> f64 {
        let n = self.fan_out;
        let r = pass.team.share(self.fan_in, ROW_UNIT);
        let dw = grads[self.weight];
        let dz = io.grad.matrix(pass.rows, n);
        T::gemm_block(dw.as_mut_ptr(), n, input.t(), dz, r.clone(), 0..n);
        let span = r.start * n..r.end * n;
        let dw = dw.part(span.clone());
        if let Some(decay) = decay {
            kernels::add_scaled(dw, decay, &t.params[self.weight].read()[span]);
        }
        kernels::finite_max_abs(dw)
    }
}
