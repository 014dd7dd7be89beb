//! A network: a stack of layers (see [`crate::layers`]) ending in a Dense, whose output the
//! loss turns into predictions. Its tensors live here as flat lists: the parameters (each
//! Dense's `W` and `b`, each normalisation's `γ` and `β`), the buffers (BatchNorm's running
//! statistics) and the counters (BatchNorm's `num_batches_tracked`). The backward pass is the
//! chain rule, layer by layer from the loss down:
//!
//! ```text
//! dY_last  = d(mean loss)/dY_last                 (fused in the loss kernel)
//! dX_k     = layer_k.backward(dY_k) = dY_{k-1}    (each layer's own rule)
//! dθ_k     = from dY_k and layer k's input        (Dense: Xᵀ·dZ and Σ_rows dZ)
//! ```
//!
//! By job: this file holds the types, construction and the parameters; [`workspace`] the
//! per-batch buffers and the views a team shares; `state.rs` the named tensors in torch's
//! layout; `checks.rs` the validation of inputs; `evaluate.rs` inference and evaluation;
//! `passes.rs` the team-parallel forward, backward and gradient passes.

mod checks;
mod evaluate;
mod metrics;
mod passes;
mod spec;
mod state;
mod summary;
pub mod workspace;

use crate::activations::Activation;
use crate::error::{zeros, Error, Result};
use crate::init::Init;
use crate::kernels::Shared;
use crate::layers::{
    ActivationLayer, BatchNorm, Dense, Dropout, Layer, LayerNorm, LayerOps, LayerSpec,
};
use crate::losses::{Loss, Targets};
use crate::rng::Rng;
use crate::scalar::Scalar;

pub(crate) use checks::check_alpha;
pub use metrics::{MetricSums, MetricTotals, Metrics};
pub use spec::{NetworkSpec, StackSpec};
pub use state::{StateEntry, StateRef, StateValues};
pub use summary::SummaryRow;

use spec::init_neighbour;
pub use workspace::{Gradients, GradientsView, ParamsView, Workspace, WorkspaceView};

/// Rows per block when evaluating large inputs: memory stays bounded, and per-block sums make
/// the loss independent of the number of threads.
pub const EVAL_BLOCK: usize = 256;
/// Rows are split between threads in multiples of this (the microkernel's height).
pub const ROW_UNIT: usize = 8;

/// Samples and their targets, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Dataset<'a, T> {
    pub x: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub targets: Targets<'a, T>,
    /// One weight per sample (scikit-learn's losses only).
    pub weights: Option<&'a [T]>,
}

/// The targets of a range of a batch's rows, and their sample weights if any.
pub type Labels<'t, T> = (Targets<'t, T>, Option<&'t [T]>);

/// A named tensor's description: `shape` as the engine stores it (a Dense weight is
/// `(fan_in, fan_out)`).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A network in float type `T`.
#[derive(Clone, Debug)]
pub struct Network<T> {
    input_dim: usize,
    layers: Vec<Layer>,
    /// The layers that run passes of their own, in order (fused activations are not).
    stages: Vec<usize>,
    param_info: Vec<TensorInfo>,
    params: Vec<Vec<T>>,
    buffer_info: Vec<TensorInfo>,
    buffers: Vec<Vec<T>>,
    /// BatchNorm's `num_batches_tracked`, one per BatchNorm layer.
    counts: Vec<i64>,
    loss: Loss,
    seed: u64,
    /// Training steps taken (the step number of the dropout masks).
    steps: u64,
}

impl<T: Scalar> Network<T> {
    /// Builds and initialises a plain MLP; the same spec gives the same weights on any machine.
    pub fn new(spec: &NetworkSpec) -> Result<Self> {
        Self::stack(&spec.stack()?)
    }

    /// Builds and initialises a stack of layers. Dense weights are drawn in layer order from
    /// one generator seeded by `spec.seed` (the same numbers in f32 and f64), biases and `β`
    /// start at zero, `γ` and `running_var` at one.
    pub fn stack(spec: &StackSpec) -> Result<Self> {
        let specs = &spec.layers;
        if !matches!(specs.last(), Some(LayerSpec::Dense { .. })) {
            return Err(Error::value(
                "layers: expected a non-empty list of layers ending in a Dense (the output \
                 layer, whose activation is the loss's)",
            ));
        }
        if spec.input_dim == 0 {
            return Err(Error::value(
                "input_dim: expected a positive integer, got 0",
            ));
        }
        let mut net = Network {
            input_dim: spec.input_dim,
            layers: Vec::with_capacity(specs.len()),
            stages: Vec::new(),
            param_info: Vec::new(),
            params: Vec::new(),
            buffer_info: Vec::new(),
            buffers: Vec::new(),
            counts: Vec::new(),
            loss: spec.loss,
            seed: spec.seed,
            steps: 0,
        };
        let mut rng = Rng::new(spec.seed, 0);
        let mut width = spec.input_dim;
        for (i, s) in specs.iter().enumerate() {
            let layer = match *s {
                LayerSpec::Dense { units, init } => {
                    let bound = init.bound(width, units, init_neighbour(specs, i));
                    let weight = net.add_param(i, "weight", vec![width, units], 0.0)?;
                    Init::fill(bound, &mut rng, &mut net.params[weight]);
                    let bias = net.add_param(i, "bias", vec![units], 0.0)?;
                    let fused = match specs.get(i + 1) {
                        Some(LayerSpec::Activation(a)) => Some(*a),
                        _ => None,
                    };
                    Layer::Dense(Dense {
                        fan_in: width,
                        fan_out: units,
                        init,
                        weight,
                        bias,
                        fused,
                    })
                }
                LayerSpec::Activation(act) => Layer::Activation(ActivationLayer {
                    act,
                    width,
                    fused: i > 0 && matches!(specs[i - 1], LayerSpec::Dense { .. }),
                }),
                LayerSpec::Dropout { p } => Layer::Dropout(Dropout { p, width, index: i }),
                LayerSpec::LayerNorm { eps } => Layer::LayerNorm(LayerNorm {
                    eps,
                    width,
                    weight: net.add_param(i, "weight", vec![width], 1.0)?,
                    bias: net.add_param(i, "bias", vec![width], 0.0)?,
                }),
                LayerSpec::BatchNorm { momentum, eps } => {
                    let weight = net.add_param(i, "weight", vec![width], 1.0)?;
                    let bias = net.add_param(i, "bias", vec![width], 0.0)?;
                    let running_mean = net.add_buffer(i, "running_mean", width, 0.0)?;
                    let running_var = net.add_buffer(i, "running_var", width, 1.0)?;
                    net.counts.push(0);
                    Layer::BatchNorm(BatchNorm {
                        momentum,
                        eps,
                        width,
                        weight,
                        bias,
                        running_mean,
                        running_var,
                        count: net.counts.len() - 1,
                    })
                }
            };
            width = layer.width();
            if !matches!(
                layer,
                Layer::Activation(ActivationLayer { fused: true, .. })
            ) {
                net.stages.push(i);
            }
            net.layers.push(layer);
        }
        Ok(net)
    }

    fn add_param(&mut self, layer: usize, what: &str, shape: Vec<usize>, v: f64) -> Result<usize> {
        let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let data = crate::error::filled(
            len,
            T::of(v),
            &format!("the weights and biases of layer {layer}"),
        )?;
        self.param_info.push(TensorInfo {
            name: format!("{layer}.{what}"),
            shape,
        });
        self.params.push(data);
        Ok(self.params.len() - 1)
    }

    fn add_buffer(&mut self, layer: usize, what: &str, len: usize, v: f64) -> Result<usize> {
        let data = crate::error::filled(
            Some(len),
            T::of(v),
            &format!("the buffers of layer {layer}"),
        )?;
        self.buffer_info.push(TensorInfo {
            name: format!("{layer}.{what}"),
            shape: vec![len],
        });
        self.buffers.push(data);
        Ok(self.buffers.len() - 1)
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Indices of the layers that run passes (every layer but fused activations).
    pub fn stages(&self) -> &[usize] {
        &self.stages
    }

    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Training steps taken so far (`step` and `fit` count; `gradients` does not).
    pub fn training_steps(&self) -> u64 {
        self.steps
    }

    pub fn set_training_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The layer specs, as the network was built from.
    pub fn specs(&self) -> Vec<LayerSpec> {
        self.layers.iter().map(Layer::spec).collect()
    }

    /// The Dense layers, in order.
    pub fn dense_layers(&self) -> impl Iterator<Item = &Dense> {
        self.layers.iter().filter_map(|l| match l {
            Layer::Dense(d) => Some(d),
            _ => None,
        })
    }

    /// Whether training needs more than one row per batch (a BatchNorm's statistics).
    pub fn has_batch_norm(&self) -> bool {
        !self.counts.is_empty()
    }

    /// `[n_in, h1, …, n_out]`: the input width and each Dense's output width.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.input_dim)
            .chain(self.dense_layers().map(|d| d.fan_out))
            .collect()
    }

    pub fn n_inputs(&self) -> usize {
        self.input_dim
    }

    pub fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].width()
    }

    /// The activation of each Dense but the last (for a plain MLP: the hidden ones): the first
    /// activation layer after it, before the next Dense; identity when there is none.
    pub fn activations(&self) -> Vec<Activation> {
        let dense: Vec<usize> = (0..self.layers.len())
            .filter(|&i| matches!(self.layers[i], Layer::Dense(_)))
            .collect();
        dense
            .windows(2)
            .map(|w| {
                self.layers[w[0] + 1..w[1]]
                    .iter()
                    .find_map(|l| match l {
                        Layer::Activation(a) => Some(a.act),
                        _ => None,
                    })
                    .unwrap_or(Activation::Identity)
            })
            .collect()
    }

    pub fn param_info(&self) -> &[TensorInfo] {
        &self.param_info
    }

    /// The parameter tensor `index` (see [`Self::param_info`]).
    pub fn param(&self, index: usize) -> &[T] {
        &self.params[index]
    }

    pub fn param_mut(&mut self, index: usize) -> &mut [T] {
        &mut self.params[index]
    }

    /// Replaces every Dense weight and bias; lengths must match the architecture.
    pub fn set_parameters(&mut self, weights: &[&[T]], biases: &[&[T]]) -> Result<()> {
        let dense: Vec<Dense> = self.dense_layers().cloned().collect();
        let n = dense.len();
        if weights.len() != n || biases.len() != n {
            return Err(Error::value(format!(
                "weights, biases: expected {n} arrays each (one per Dense layer), got {} and {}",
                weights.len(),
                biases.len()
            )));
        }
        for (l, d) in dense.iter().enumerate() {
            if weights[l].len() != d.fan_in * d.fan_out {
                return Err(Error::value(format!(
                    "weights[{l}]: expected shape ({}, {})",
                    d.fan_in, d.fan_out
                )));
            }
            if biases[l].len() != d.fan_out {
                return Err(Error::value(format!(
                    "biases[{l}]: expected shape ({},)",
                    d.fan_out
                )));
            }
            if weights[l]
                .iter()
                .chain(biases[l].iter())
                .any(|v| !v.is_finite())
            {
                return Err(Error::value(format!(
                    "weights[{l}], biases[{l}]: parameters must be finite (no NaN or inf)"
                )));
            }
        }
        for ((d, w), b) in dense.iter().zip(weights).zip(biases) {
            self.params[d.weight].copy_from_slice(w);
            self.params[d.bias].copy_from_slice(b);
        }
        Ok(())
    }

    /// The tensors for a team that will update the parameters (and the buffers).
    pub fn params_mut(&mut self) -> ParamsView<'_, T> {
        ParamsView {
            params: self
                .params
                .iter_mut()
                .map(|p| Shared::new(&mut p[..]))
                .collect(),
            buffers: self
                .buffers
                .iter_mut()
                .map(|b| Shared::new(&mut b[..]))
                .collect(),
        }
    }

    /// The tensors for a team that only reads them.
    pub fn params(&self) -> ParamsView<'_, T> {
        ParamsView {
            params: self.params.iter().map(|p| Shared::read_only(p)).collect(),
            buffers: self.buffers.iter().map(|b| Shared::read_only(b)).collect(),
        }
    }

    /// The architecture without the tensors (empty buffers): what a team reads while it
    /// updates the tensors through [`Self::params_mut`].
    pub(crate) fn shape_only(&self) -> Network<T> {
        Network {
            input_dim: self.input_dim,
            layers: self.layers.clone(),
            stages: self.stages.clone(),
            param_info: self.param_info.clone(),
            params: Vec::new(),
            buffer_info: self.buffer_info.clone(),
            buffers: Vec::new(),
            counts: self.counts.clone(),
            loss: self.loss,
            seed: self.seed,
            steps: self.steps,
        }
    }

    /// Records `steps` more training steps: the step counter, and every BatchNorm's
    /// `num_batches_tracked`.
    pub(crate) fn count_steps(&mut self, steps: u64) {
        self.steps += steps;
        for c in &mut self.counts {
            *c = c.saturating_add(steps as i64);
        }
    }

    /// Zeroed gradients shaped like the parameters.
    pub fn zero_gradients(&self) -> Result<Gradients<T>> {
        Ok(Gradients {
            tensors: self
                .param_info
                .iter()
                .map(|p| zeros(Some(p.len()), "the gradients"))
                .collect::<Result<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests;
