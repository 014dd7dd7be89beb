//! The fully connected network: parameters, the forward pass and the backward pass.
//!
//! Layer `l` computes `Z_l = A_{l-1}·W_l + b_l` with `W_l` stored `(fan_in, fan_out)` row-major
//! (scikit-learn's `coefs_` layout), then `A_l = act(Z_l)` for hidden layers. The output layer's
//! activation belongs to the loss. The backward pass is the chain rule written out:
//!
//! ```text
//! dZ_L     = d(mean loss)/dZ_L                   (fused in the loss kernel)
//! dW_l     = A_{l-1}ᵀ · dZ_l,   db_l = Σ_rows dZ_l
//! dA_{l-1} = dZ_l · W_lᵀ,       dZ_{l-1} = dA_{l-1} ⊙ act'(Z_{l-1})
//! ```
//!
//! By job: this file holds the types and the parameters; [`workspace`] the per-batch buffers
//! and the views a team shares; `checks.rs` the validation of inputs; `evaluate.rs` inference
//! and evaluation; `passes.rs` the team-parallel forward, delta and gradient passes.

mod checks;
mod evaluate;
mod passes;
pub mod workspace;

use crate::activations::Activation;
use crate::error::{zeros, Error, Result};
use crate::init::Init;
use crate::kernels::Shared;
use crate::losses::{Loss, Targets};
use crate::rng::Rng;
use crate::scalar::Scalar;

pub use workspace::{Gradients, GradientsView, ParamsView, Workspace, WorkspaceView};

/// Rows per block when evaluating large inputs: memory stays bounded, and per-block sums make
/// the loss independent of the number of threads.
pub const EVAL_BLOCK: usize = 256;
/// Rows are split between threads in multiples of this (the microkernel's height).
pub const ROW_UNIT: usize = 8;

/// A zeroed vector of `len` elements, or [`Error::Memory`] naming `what` (a network too large
/// for memory must raise, not abort the interpreter).
fn zeroed<T: Scalar>(len: Option<usize>, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    zeros(len, &what())
}

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

/// What a network is made of.
#[derive(Clone, Debug)]
pub struct NetworkSpec {
    /// `[n_in, h1, …, n_out]`.
    pub widths: Vec<usize>,
    /// One per hidden layer (`widths.len() - 2` of them).
    pub activations: Vec<Activation>,
    pub loss: Loss,
    pub init: Init,
    pub seed: u64,
}

/// One fully connected layer.
#[derive(Clone, Debug)]
pub struct Dense<T> {
    pub fan_in: usize,
    pub fan_out: usize,
    /// `(fan_in, fan_out)` row-major.
    pub weight: Vec<T>,
    pub bias: Vec<T>,
    /// Identity for the output layer (its activation is the loss's).
    pub activation: Activation,
}

/// A multilayer perceptron in float type `T`.
#[derive(Clone, Debug)]
pub struct Network<T> {
    layers: Vec<Dense<T>>,
    loss: Loss,
}

impl<T: Scalar> Network<T> {
    /// Builds and initialises a network; the same spec gives the same weights on any machine.
    pub fn new(spec: &NetworkSpec) -> Result<Self> {
        let widths = &spec.widths;
        if widths.len() < 2 {
            return Err(Error::value(format!(
                "widths: expected at least [n_in, n_out], got {widths:?}"
            )));
        }
        if let Some(w) = widths.iter().find(|&&w| w == 0) {
            return Err(Error::value(format!(
                "widths: every width must be positive, got {w} in {widths:?}"
            )));
        }
        let hidden = widths.len() - 2;
        if spec.activations.len() != hidden {
            return Err(Error::value(format!(
                "activation: expected one name per hidden layer ({hidden}), got {}",
                spec.activations.len()
            )));
        }
        let mut rng = Rng::new(spec.seed, 0);
        let layers = (0..=hidden)
            .map(|l| {
                let (fan_in, fan_out) = (widths[l], widths[l + 1]);
                let own = spec.activations.get(l).copied();
                let near = own.or_else(|| spec.activations.last().copied());
                let mut weight = zeroed(fan_in.checked_mul(fan_out), || {
                    format!("the weights of a network of widths {widths:?}")
                })?;
                Init::fill(
                    spec.init.bound(fan_in, fan_out, near),
                    &mut rng,
                    &mut weight,
                );
                Ok(Dense {
                    fan_in,
                    fan_out,
                    weight,
                    bias: zeroed(Some(fan_out), || {
                        format!("the biases of a network of widths {widths:?}")
                    })?,
                    activation: own.unwrap_or(Activation::Identity),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Network {
            layers,
            loss: spec.loss,
        })
    }

    pub fn layers(&self) -> &[Dense<T>] {
        &self.layers
    }

    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    /// `[n_in, h1, …, n_out]`.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.n_inputs())
            .chain(self.layers.iter().map(|l| l.fan_out))
            .collect()
    }

    pub fn n_inputs(&self) -> usize {
        self.layers[0].fan_in
    }

    pub fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].fan_out
    }

    /// The hidden activations, one per hidden layer.
    pub fn activations(&self) -> Vec<Activation> {
        self.layers[..self.layers.len() - 1]
            .iter()
            .map(|l| l.activation)
            .collect()
    }

    /// Replaces every weight and bias; lengths must match the architecture.
    pub fn set_parameters(&mut self, weights: &[&[T]], biases: &[&[T]]) -> Result<()> {
        let n = self.layers.len();
        if weights.len() != n || biases.len() != n {
            return Err(Error::value(format!(
                "weights, biases: expected {n} arrays each (one per layer), got {} and {}",
                weights.len(),
                biases.len()
            )));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            if weights[l].len() != layer.weight.len() {
                return Err(Error::value(format!(
                    "weights[{l}]: expected shape ({}, {})",
                    layer.fan_in, layer.fan_out
                )));
            }
            if biases[l].len() != layer.bias.len() {
                return Err(Error::value(format!(
                    "biases[{l}]: expected shape ({},)",
                    layer.fan_out
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
        for ((layer, w), b) in self.layers.iter_mut().zip(weights).zip(biases) {
            layer.weight.copy_from_slice(w);
            layer.bias.copy_from_slice(b);
        }
        Ok(())
    }

    /// The parameters for a team that will update them.
    pub fn params_mut(&mut self) -> ParamsView<'_, T> {
        let (weights, biases) = self
            .layers
            .iter_mut()
            .map(|l| (Shared::new(&mut l.weight[..]), Shared::new(&mut l.bias[..])))
            .unzip();
        ParamsView { weights, biases }
    }

    /// The architecture without the parameters (empty weight and bias buffers): what a team
    /// reads while it updates the parameters through [`Self::params_mut`].
    pub(crate) fn shape_only(&self) -> Network<T> {
        let layers = self
            .layers
            .iter()
            .map(|l| Dense {
                weight: Vec::new(),
                bias: Vec::new(),
                ..*l
            })
            .collect();
        Network {
            layers,
            loss: self.loss,
        }
    }

    /// The parameters for a team that only reads them.
    pub fn params(&self) -> ParamsView<'_, T> {
        ParamsView {
            weights: self
                .layers
                .iter()
                .map(|l| Shared::read_only(&l.weight))
                .collect(),
            biases: self
                .layers
                .iter()
                .map(|l| Shared::read_only(&l.bias))
                .collect(),
        }
    }

    /// Zeroed gradients shaped like the parameters.
    pub fn zero_gradients(&self) -> Result<Gradients<T>> {
        let what = || "the gradients".to_string();
        Ok(Gradients {
            weights: self
                .layers
                .iter()
                .map(|l| zeroed(Some(l.weight.len()), what))
                .collect::<Result<_>>()?,
            biases: self
                .layers
                .iter()
                .map(|l| zeroed(Some(l.bias.len()), what))
                .collect::<Result<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(widths: Vec<usize>, act: Activation, loss: Loss) -> NetworkSpec {
        let hidden = widths.len() - 2;
        NetworkSpec {
            widths,
            activations: vec![act; hidden],
            loss,
            init: Init::Glorot,
            seed: 3,
        }
    }

    #[test]
    fn same_seed_same_weights_in_both_precisions() {
        let s = spec(vec![4, 5, 3], Activation::Tanh, Loss::CROSS_ENTROPY);
        let a = Network::<f64>::new(&s).unwrap();
        let b = Network::<f64>::new(&s).unwrap();
        let c = Network::<f32>::new(&s).unwrap();
        assert_eq!(a.layers[0].weight, b.layers[0].weight);
        assert_eq!(c.layers[0].weight[0], a.layers[0].weight[0] as f32);
        let bound = (6.0f64 / 9.0).sqrt();
        assert!(a.layers[0].weight.iter().all(|w| w.abs() <= bound));
        assert!(a.layers[1].bias.iter().all(|&b| b == 0.0));
    }

    #[test]
    fn bad_specs_are_errors() {
        let mut s = spec(vec![4, 0, 3], Activation::Relu, Loss::Mse);
        assert!(Network::<f32>::new(&s).is_err());
        s.widths = vec![4];
        assert!(Network::<f32>::new(&s).is_err());
        s.widths = vec![4, 1 << 62, 3];
        assert!(Network::<f32>::new(&s).is_err());
        s.widths = vec![4, 1 << 31, 1 << 31, 3];
        assert!(Network::<f32>::new(&s).is_err());
    }

    #[test]
    fn gradients_match_finite_differences() {
        let losses = [
            Loss::CROSS_ENTROPY,
            Loss::BinaryCrossEntropy,
            Loss::Mse,
            Loss::LogLoss,
            Loss::BinaryLogLoss,
            Loss::SquaredError,
            Loss::Poisson,
        ];
        for act in [Activation::Tanh, Activation::Gelu, Activation::Sigmoid] {
            for loss in losses {
                // scikit-learn's squared error averages its value over outputs but not its
                // gradient: the two agree for one output.
                let n_out = if loss == Loss::SquaredError { 1 } else { 2 };
                let mut net = Network::<f64>::new(&spec(vec![3, 4, n_out], act, loss)).unwrap();
                let x = [0.3, -1.2, 0.8, 1.1, 0.4, -0.6];
                let labels = [1i64, 0];
                let values = [1.0, 0.0, 0.0, 1.0];
                // scikit-learn's losses also take sample weights and the L2 term.
                let (weights, alpha) = if loss.is_sklearn() {
                    (Some(&[0.7, 2.0][..]), 0.3)
                } else {
                    (None, 0.0)
                };
                let data = Dataset {
                    x: &x,
                    rows: 2,
                    cols: 3,
                    targets: if loss.wants_classes() {
                        Targets::Classes(&labels[..])
                    } else {
                        Targets::Values(&values[..2 * n_out])
                    },
                    weights,
                };
                let mut ws = Workspace::new(&net, 2).unwrap();
                let mut grads = net.zero_gradients().unwrap();
                let mut objective = |net: &Network<f64>| {
                    let mut scratch = net.zero_gradients().unwrap();
                    net.loss_and_gradients(&data, alpha, &mut ws, &mut scratch)
                        .unwrap()
                };
                let mut ws2 = Workspace::new(&net, 2).unwrap();
                net.loss_and_gradients(&data, alpha, &mut ws2, &mut grads)
                    .unwrap();
                let h = 1e-6;
                for l in 0..2 {
                    for i in 0..net.layers[l].weight.len() {
                        let w0 = net.layers[l].weight[i];
                        net.layers[l].weight[i] = w0 + h;
                        let up = objective(&net);
                        net.layers[l].weight[i] = w0 - h;
                        let down = objective(&net);
                        net.layers[l].weight[i] = w0;
                        let numeric = (up - down) / (2.0 * h);
                        let analytic = grads.weights[l][i];
                        assert!(
                            (numeric - analytic).abs() < 1e-7,
                            "{act:?} {loss:?} {l} {i}: {numeric} vs {analytic}"
                        );
                    }
                }
            }
        }
    }
}
