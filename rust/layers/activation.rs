//! `Activation(name)` on its own (not right after a Dense, where it is fused into the Dense):
//! `A = act(X)` forward, `dX = dA ⊙ act'(X)` backward.

use super::{Io, LayerOps, Pass, Tensors};
use crate::activations::Activation;
use crate::kernels::{self, MatRef, Shared};
use crate::scalar::Scalar;

#[derive(Clone, Debug, PartialEq)]
pub struct ActivationLayer {
    pub act: Activation,
    pub width: usize,
    /// Runs inside the Dense before it (see [`super::Dense::fused`]): no pass of its own.
    pub fused: bool,
}

impl LayerOps for ActivationLayer {
    fn width(&self) -> usize {
        self.width
    }

    fn scratch(&self, _rows: usize) -> (Option<usize>, usize) {
        (Some(0), 0)
    }

    /// [`unit_flops`] per unit; no backward work for a first layer.
    fn flops(&self, _fan_in: usize, input_grad: bool) -> (u64, u64) {
        let (f, b) = unit_flops(self.act);
        let n = self.width as u64;
        (f * n, if input_grad { b * n } else { 0 })
    }

    unsafe fn forward<T: Scalar>(
        &self,
        pass: &Pass,
        _t: &Tensors<T>,
        input: MatRef<T>,
        io: &Io<T>,
    ) {
        let span = pass.mine.start * self.width..pass.mine.end * self.width;
        let x = input.row_slice(pass.mine.clone());
        kernels::activation(io.out.part(span), x, self.act);
    }

    unsafe fn backward<T: Scalar>(
        &self,
        pass: &Pass,
        _t: &Tensors<T>,
        input: MatRef<T>,
        io: &Io<T>,
        grad_in: Option<Shared<T>>,
        _grads: &[Shared<T>],
    ) {
        let Some(grad_in) = grad_in else { return };
        let span = pass.mine.start * self.width..pass.mine.end * self.width;
        let dst = grad_in.part(span.clone());
        dst.copy_from_slice(&io.grad.read()[span.clone()]);
        let x = input.row_slice(pass.mine.clone());
        kernels::activation_backward(dst, x, &io.out.read()[span], self.act);
    }
}

/// FLOPs per unit of `act` (forward `act(z)`, backward `dA ⊙ act'(z)`), exp and tanh counting
/// one: identity 0/0, relu 1/1, leaky_relu 2/2, sigmoid 4/3 (`1/(1+e^-z)`; `dA·a·(1-a)`),
/// tanh 1/3 (`dA·(1-a²)`), gelu 9/18 (the tanh approximation and its derivative, recomputing
/// the tanh).
pub fn unit_flops(act: Activation) -> (u64, u64) {
    match act {
        Activation::Identity => (0, 0),
        Activation::Relu => (1, 1),
        Activation::LeakyRelu => (2, 2),
        Activation::Sigmoid => (4, 3),
        Activation::Tanh => (1, 3),
        Activation::Gelu => (9, 18),
    }
}
