//! The layers a network is a stack of: one file per layer behind one trait, [`LayerOps`],
//! dispatched through the closed enum [`Layer`] so the hot path stays static.
//!
//! A layer reads its input (the previous layer's output, or the batch) and writes its output
//! rows into its own buffers; backward, it reads the gradient of the loss with respect to its
//! output and writes the gradient with respect to its input into the previous layer's gradient
//! buffer. Row-local layers work on the member's own rows only; BatchNorm, whose statistics
//! span the batch, meets the team at barriers and splits its columns between members, each
//! column summed in row order by one member, so results do not depend on the team's size.
//!
//! An [`Activation`] right after a [`Dense`] is fused into it (GEMM output → bias →
//! activation while the rows are in cache); it keeps its own index, name and place in
//! `state_dict` but runs no pass of its own.

pub mod activation;
pub mod batch_norm;
pub mod dense;
pub mod dropout;
pub mod layer_norm;

use std::ops::Range;

pub use activation::ActivationLayer;
pub use batch_norm::BatchNorm;
pub use dense::Dense;
pub use dropout::Dropout;
pub use layer_norm::LayerNorm;

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::{MatRef, Shared};
use crate::scalar::Scalar;
use crate::threads::Team;

/// A layer as a user describes it: its kind and hyperparameters (widths come from the stack).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    Dense { units: usize, init: Init },
    Activation(Activation),
    Dropout { p: f64 },
    LayerNorm { eps: f64 },
    BatchNorm { momentum: f64, eps: f64 },
}

impl LayerSpec {
    /// The layer kinds, as `ferroprop.layers` names them.
    pub const KINDS: [&'static str; 5] =
        ["Dense", "Activation", "Dropout", "LayerNorm", "BatchNorm"];

    pub fn dense(units: usize, init: Init) -> Result<Self> {
        if units == 0 {
            return Err(Error::value("units: expected a positive integer, got 0"));
        }
        Ok(LayerSpec::Dense { units, init })
    }

    pub fn dropout(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::value(format!(
                "p: expected a dropout probability in [0, 1), got {p}"
            )));
        }
        Ok(LayerSpec::Dropout { p })
    }

    pub fn layer_norm(eps: f64) -> Result<Self> {
        check_eps(eps)?;
        Ok(LayerSpec::LayerNorm { eps })
    }

    pub fn batch_norm(momentum: f64, eps: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&momentum) {
            return Err(Error::value(format!(
                "momentum: expected a value in [0, 1], got {momentum}"
            )));
        }
        check_eps(eps)?;
        Ok(LayerSpec::BatchNorm { momentum, eps })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "Dense",
            LayerSpec::Activation(_) => "Activation",
            LayerSpec::Dropout { .. } => "Dropout",
            LayerSpec::LayerNorm { .. } => "LayerNorm",
            LayerSpec::BatchNorm { .. } => "BatchNorm",
        }
    }
}

fn check_eps(eps: f64) -> Result<()> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(Error::value(format!(
            "eps: expected a positive finite value, got {eps}"
        )))
    }
}

/// A layer of a built network: its hyperparameters, widths, and the indices of its tensors in
/// the network's flat lists of parameters and buffers.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    Dense(Dense),
    Activation(ActivationLayer),
    Dropout(Dropout),
    LayerNorm(LayerNorm),
    BatchNorm(BatchNorm),
}

/// Training (batch statistics, dropout masks keyed by seed and step) or evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Eval,
    Train { seed: u64, step: u64 },
}

/// One member's view of a pass over a batch.
pub struct Pass<'a, 't> {
    pub team: &'a Team<'t>,
    /// The batch's rows (every buffer is laid out for them).
    pub rows: usize,
    /// This member's rows.
    pub mine: Range<usize>,
    pub mode: Mode,
}

impl Pass<'_, '_> {
    pub fn training(&self) -> bool {
        matches!(self.mode, Mode::Train { .. })
    }
}

/// The network's tensors as a team sees them (see [`Shared`]).
pub struct Tensors<'a, 'b, T> {
    pub params: &'b [Shared<'a, T>],
    pub buffers: &'b [Shared<'a, T>],
}

/// A layer's buffers for one batch: its output, the gradient of the loss with respect to it,
/// and what the layer keeps between its passes (`aux`: per row; `stats`: per feature).
#[derive(Clone, Copy)]
pub struct Io<'a, T> {
    pub out: Shared<'a, T>,
    pub grad: Shared<'a, T>,
    pub aux: Shared<'a, T>,
    pub stats: Shared<'a, T>,
}

/// What every layer does. Methods marked `unsafe` follow the team discipline of [`Shared`]:
/// every member calls them in the same order with the same arguments.
pub trait LayerOps {
    /// Output features per row.
    fn width(&self) -> usize;

    /// Elements of `aux` for a batch of `rows` rows, and of `stats`.
    fn scratch(&self, rows: usize) -> (Option<usize>, usize);

    /// Floating-point operations per sample (row) of a training step's (forward, backward)
    /// passes, for an input of `fan_in` features. `input_grad`: whether the backward pass
    /// computes the gradient with respect to the input (false for the first layer, whose
    /// `grad_in` is None: see [`Self::backward`]; its parameter gradients are still counted).
    ///
    /// Convention: one multiply, add, compare, exp or tanh is one FLOP; a multiply-add two
    /// (so a GEMM of `m×k` by `k×n` is `2·m·k·n`). Per-row scalars (a row's `1/√(σ²+ε)`),
    /// per-feature work done once per batch (BatchNorm's statistics divided by the batch
    /// size), dropout's mask hashing and memory copies are not counted. A fused activation is
    /// counted in its own layer, not in the Dense before it.
    fn flops(&self, fan_in: usize, input_grad: bool) -> (u64, u64);

    /// Computes this member's rows of the output from the input.
    ///
    /// # Safety
    /// Every member calls this with the same arguments; the input rows of every member are
    /// complete (for layers that read other rows they meet at a barrier first).
    unsafe fn forward<T: Scalar>(&self, pass: &Pass, t: &Tensors<T>, input: MatRef<T>, io: &Io<T>);

    /// From this member's rows of `io.grad`, its rows of `grad_in` (None for the first layer:
    /// nothing below needs it). May transform `io.grad` in place (a fused activation) and write
    /// parameter gradients that it computes anyway (BatchNorm's).
    ///
    /// # Safety
    /// As [`Self::forward`], after it.
    unsafe fn backward<T: Scalar>(
        &self,
        pass: &Pass,
        t: &Tensors<T>,
        input: MatRef<T>,
        io: &Io<T>,
        grad_in: Option<Shared<T>>,
        grads: &[Shared<T>],
    );

    /// The gradients of the per-feature parameters, from every row's deltas: by one thread
    /// after the backward pass. Returns their largest magnitude (infinite if one is not finite).
    ///
    /// # Safety
    /// Every member has finished [`Self::backward`] (a barrier); only one thread calls this.
    unsafe fn vector_gradients<T: Scalar>(
        &self,
        _rows: usize,
        _io: &Io<T>,
        _grads: &[Shared<T>],
    ) -> f64 {
        0.0
    }
}

/// Runs `$body` with `$l` bound to the concrete layer inside a [`Layer`].
macro_rules! each_layer {
    ($layer:expr, |$l:ident| $body:expr) => {
        match $layer {
            Layer::Dense($l) => $body,
            Layer::Activation($l) => $body,
            Layer::Dropout($l) => $body,
            Layer::LayerNorm($l) => $body,
            Layer::BatchNorm($l) => $body,
        }
    };
}

impl LayerOps for Layer {
    fn width(&self) -> usize {
        each_layer!(self, |l| l.width())
    }

    fn scratch(&self, rows: usize) -> (Option<usize>, usize) {
        each_layer!(self, |l| l.scratch(rows))
    }

    fn flops(&self, fan_in: usize, input_grad: bool) -> (u64, u64) {
        each_layer!(self, |l| l.flops(fan_in, input_grad))
    }

    unsafe fn forward<T: Scalar>(&self, pass: &Pass, t: &Tensors<T>, input: MatRef<T>, io: &Io<T>) {
        each_layer!(self, |l| l.forward(pass, t, input, io))
    }

    unsafe fn backward<T: Scalar>(
        &self,
        pass: &Pass,
        t: &Tensors<T>,
        input: MatRef<T>,
        io: &Io<T>,
        grad_in: Option<Shared<T>>,
        grads: &[Shared<T>],
    ) {
        each_layer!(self, |l| l.backward(pass, t, input, io, grad_in, grads))
    }

    unsafe fn vector_gradients<T: Scalar>(
        &self,
        rows: usize,
        io: &Io<T>,
        grads: &[Shared<T>],
    ) -> f64 {
        each_layer!(self, |l| l.vector_gradients(rows, io, grads))
    }
}

impl Layer {
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "Dense",
            Layer::Activation(_) => "Activation",
            Layer::Dropout(_) => "Dropout",
            Layer::LayerNorm(_) => "LayerNorm",
            Layer::BatchNorm(_) => "BatchNorm",
        }
    }

    /// The spec this layer was built from.
    pub fn spec(&self) -> LayerSpec {
        match self {
            Layer::Dense(d) => LayerSpec::Dense {
                units: d.fan_out,
                init: d.init,
            },
            Layer::Activation(a) => LayerSpec::Activation(a.act),
            Layer::Dropout(d) => LayerSpec::Dropout { p: d.p },
            Layer::LayerNorm(n) => LayerSpec::LayerNorm { eps: n.eps },
            Layer::BatchNorm(n) => LayerSpec::BatchNorm {
                momentum: n.momentum,
                eps: n.eps,
            },
        }
    }
}

/// `Σ_i src[i, j]` for `j` in `cols` (rows × width, row-major) into `dst[cols]`, in row order.
pub(crate) fn column_range_sums<T: Scalar>(
    dst: &mut [T],
    src: &[T],
    width: usize,
    cols: Range<usize>,
) {
    dst.fill(T::zero());
    for row in src.chunks_exact(width) {
        for (d, &s) in dst.iter_mut().zip(&row[cols.clone()]) {
            *d = *d + s;
        }
    }
}
