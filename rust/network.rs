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

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels;
use crate::losses::{Loss, Targets};
use crate::rng::Rng;
use crate::scalar::Scalar;

/// Rows per block when evaluating large inputs, so memory stays bounded.
const EVAL_BLOCK: usize = 1024;

/// A zeroed vector of `len` elements, or an error when it cannot be allocated (a network too
/// large for memory must raise, not abort the interpreter).
fn zeroed<T: Scalar>(len: Option<usize>, widths: &[usize]) -> Result<Vec<T>> {
    let too_big = || {
        Error::value(format!(
            "widths: a network of widths {widths:?} does not fit in memory"
        ))
    };
    let len = len.ok_or_else(too_big)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| too_big())?;
    v.resize(len, T::zero());
    Ok(v)
}

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

/// Gradients of the mean loss, shaped like the parameters.
#[derive(Clone, Debug)]
pub struct Gradients<T> {
    pub weights: Vec<Vec<T>>,
    pub biases: Vec<Vec<T>>,
}

impl<T: Scalar> Gradients<T> {
    pub fn all_finite(&self) -> bool {
        self.weights
            .iter()
            .chain(&self.biases)
            .flatten()
            .all(|v| v.is_finite())
    }
}

/// Activations kept from the forward pass for the backward pass, sized for `rows` samples.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    rows: usize,
    /// Pre-activations per layer (rows × fan_out).
    z: Vec<Vec<T>>,
    /// Activations per hidden layer (rows × fan_out).
    a: Vec<Vec<T>>,
    /// Ping-pong buffers for `dZ` and `dA` (rows × widest layer).
    dz: Vec<T>,
    da: Vec<T>,
}

impl<T: Scalar> Workspace<T> {
    /// Buffers for batches of up to `rows` samples of `net`.
    pub fn new(net: &Network<T>, rows: usize) -> Self {
        let hidden = net.layers.len() - 1;
        let widest = net.widths().into_iter().max().unwrap_or(1);
        Workspace {
            rows,
            z: net
                .layers
                .iter()
                .map(|l| vec![T::zero(); rows * l.fan_out])
                .collect(),
            a: net.layers[..hidden]
                .iter()
                .map(|l| vec![T::zero(); rows * l.fan_out])
                .collect(),
            dz: vec![T::zero(); rows * widest],
            da: vec![T::zero(); rows * widest],
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
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
                let mut weight = zeroed(fan_in.checked_mul(fan_out), widths)?;
                Init::fill(
                    spec.init.bound(fan_in, fan_out, near),
                    &mut rng,
                    &mut weight,
                );
                Ok(Dense {
                    fan_in,
                    fan_out,
                    weight,
                    bias: zeroed(Some(fan_out), widths)?,
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

    /// Each parameter tensor with its gradient, in the order W0, b0, W1, b1, ….
    pub fn parameters_with<'a>(
        &'a mut self,
        grads: &'a Gradients<T>,
    ) -> impl Iterator<Item = (&'a mut [T], &'a [T])> + 'a {
        self.layers
            .iter_mut()
            .zip(grads.weights.iter().zip(&grads.biases))
            .flat_map(|(layer, (dw, db))| {
                [
                    (&mut layer.weight[..], &dw[..]),
                    (&mut layer.bias[..], &db[..]),
                ]
            })
    }

    /// Zeroed gradients shaped like the parameters.
    pub fn zero_gradients(&self) -> Gradients<T> {
        Gradients {
            weights: self
                .layers
                .iter()
                .map(|l| vec![T::zero(); l.weight.len()])
                .collect(),
            biases: self
                .layers
                .iter()
                .map(|l| vec![T::zero(); l.bias.len()])
                .collect(),
        }
    }

    /// Checks `x` holds `rows > 0` finite rows of `n_inputs` features.
    pub fn check_inputs(&self, x: &[T], rows: usize, cols: usize) -> Result<()> {
        if rows == 0 {
            return Err(Error::value(
                "X: expected at least one row, got an empty array",
            ));
        }
        if cols != self.n_inputs() {
            return Err(Error::value(format!(
                "X: expected {} features per row (the network's input width), got {cols}",
                self.n_inputs()
            )));
        }
        debug_assert_eq!(x.len(), rows * cols);
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::value(format!(
                "X: contains a non-finite value (NaN or inf) at row {}, column {}",
                i / cols,
                i % cols
            )));
        }
        Ok(())
    }

    /// Checks `x` and `targets` together.
    pub fn check_data(
        &self,
        x: &[T],
        rows: usize,
        cols: usize,
        targets: &Targets<'_, T>,
    ) -> Result<()> {
        self.check_inputs(x, rows, cols)?;
        self.loss.validate(targets, rows, self.n_outputs())
    }

    /// Output activations for `x` (rows × n_in) into `out` (rows × n_out): probabilities for
    /// the cross-entropies, raw values for MSE. Inputs must have passed [`Self::check_inputs`].
    pub fn forward(&self, x: &[T], rows: usize, out: &mut [T]) {
        let (n_in, n_out) = (self.n_inputs(), self.n_outputs());
        let mut ws = Workspace::new(self, rows.min(EVAL_BLOCK));
        for start in (0..rows).step_by(EVAL_BLOCK) {
            let end = (start + EVAL_BLOCK).min(rows);
            let logits = self.forward_into(&x[start * n_in..end * n_in], end - start, &mut ws);
            let dst = &mut out[start * n_out..end * n_out];
            dst.copy_from_slice(logits);
            self.loss.output(dst, n_out);
        }
    }

    /// Mean loss and, except for MSE, the accuracy of `x` against `targets`, in blocks.
    /// Inputs must have passed [`Self::check_data`].
    pub fn evaluate(&self, x: &[T], rows: usize, targets: &Targets<'_, T>) -> (f64, Option<f64>) {
        let (n_in, n_out) = (self.n_inputs(), self.n_outputs());
        let mut ws = Workspace::new(self, rows.min(EVAL_BLOCK));
        let (mut sum, mut correct) = (0.0, Some(0usize));
        for start in (0..rows).step_by(EVAL_BLOCK) {
            let end = (start + EVAL_BLOCK).min(rows);
            self.forward_into(&x[start * n_in..end * n_in], end - start, &mut ws);
            let block = targets.slice(start, end, n_out);
            let last = self.layers.len() - 1;
            let logits = &mut ws.z[last][..(end - start) * n_out];
            correct = correct
                .zip(self.loss.correct(logits, n_out, &block))
                .map(|(a, b)| a + b);
            sum += self.loss.sum_and_grad(logits, n_out, &block, 1);
        }
        let mean = sum / self.loss.count(rows, n_out) as f64;
        (mean, correct.map(|c| c as f64 / rows as f64))
    }

    /// Mean loss over one batch and its gradients into `grads`. `ws` must hold `rows` rows.
    /// Inputs must have passed [`Self::check_data`].
    pub fn loss_and_gradients(
        &self,
        x: &[T],
        rows: usize,
        targets: &Targets<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut Gradients<T>,
    ) -> f64 {
        let n_out = self.n_outputs();
        let last = self.layers.len() - 1;
        self.forward_into(x, rows, ws);

        // dZ of the output layer, fused with the loss.
        let dz = &mut ws.dz[..rows * n_out];
        dz.copy_from_slice(&ws.z[last][..rows * n_out]);
        let total = self.loss.count(rows, n_out);
        let loss = self.loss.sum_and_grad(dz, n_out, targets, total) / total as f64;

        for l in (0..=last).rev() {
            let layer = &self.layers[l];
            let input = if l == 0 {
                x
            } else {
                &ws.a[l - 1][..rows * layer.fan_in]
            };
            let dz = &ws.dz[..rows * layer.fan_out];
            kernels::matmul_at_b(
                &mut grads.weights[l],
                input,
                dz,
                rows,
                layer.fan_in,
                layer.fan_out,
            );
            kernels::column_sums(&mut grads.biases[l], dz);
            if l > 0 {
                let below = &self.layers[l - 1];
                let da = &mut ws.da[..rows * layer.fan_in];
                kernels::matmul_a_bt(da, dz, &layer.weight, rows, layer.fan_out, layer.fan_in);
                let n = rows * below.fan_out;
                kernels::activation_backward(
                    da,
                    &ws.z[l - 1][..n],
                    &ws.a[l - 1][..n],
                    below.activation,
                );
                std::mem::swap(&mut ws.dz, &mut ws.da);
            }
        }
        loss
    }

    /// The forward pass into `ws`; returns the output layer's logits (rows × n_out).
    fn forward_into<'w>(&self, x: &[T], rows: usize, ws: &'w mut Workspace<T>) -> &'w mut [T] {
        debug_assert!(rows <= ws.rows);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.a.split_at_mut(l.min(last));
            let input = if l == 0 {
                x
            } else {
                &before[l - 1][..rows * layer.fan_in]
            };
            let z = &mut ws.z[l][..rows * layer.fan_out];
            kernels::matmul(z, input, &layer.weight, rows, layer.fan_in, layer.fan_out);
            let a: &mut [T] = if l < last {
                &mut rest[0][..rows * layer.fan_out]
            } else {
                &mut []
            };
            kernels::bias_activation(z, a, &layer.bias, layer.activation);
        }
        &mut ws.z[last][..rows * self.n_outputs()]
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
        let s = spec(vec![4, 5, 3], Activation::Tanh, Loss::CrossEntropy);
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
        for act in [Activation::Tanh, Activation::Gelu, Activation::Sigmoid] {
            for loss in [Loss::CrossEntropy, Loss::BinaryCrossEntropy, Loss::Mse] {
                let mut net = Network::<f64>::new(&spec(vec![3, 4, 2], act, loss)).unwrap();
                let x = [0.3, -1.2, 0.8, 1.1, 0.4, -0.6];
                let labels = [1i64, 0];
                let values = [1.0, 0.0, 0.0, 1.0];
                let targets = if loss == Loss::CrossEntropy {
                    Targets::Classes(&labels[..])
                } else {
                    Targets::Values(&values[..])
                };
                let mut ws = Workspace::new(&net, 2);
                let mut grads = net.zero_gradients();
                net.loss_and_gradients(&x, 2, &targets, &mut ws, &mut grads);
                let h = 1e-6;
                for l in 0..2 {
                    for i in 0..net.layers[l].weight.len() {
                        let w0 = net.layers[l].weight[i];
                        net.layers[l].weight[i] = w0 + h;
                        let up = net.evaluate(&x, 2, &targets).0;
                        net.layers[l].weight[i] = w0 - h;
                        let down = net.evaluate(&x, 2, &targets).0;
                        net.layers[l].weight[i] = w0;
                        let numeric = (up - down) / (2.0 * h);
                        let analytic = grads.weights[l][i];
                        assert!(
                            (numeric - analytic).abs() < 1e-7,
                            "{act:?} {loss:?} {l} {i}"
                        );
                    }
                }
            }
        }
    }
}
