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
use crate::error::{filled, zeros, Error, Result};
use crate::init::Init;
use std::ops::Range;

use crate::kernels::{self, MatRef, Shared};
use crate::losses::{Loss, Targets};
use crate::rng::Rng;
use crate::scalar::Scalar;
use crate::threads::{self, Team};

/// Rows per block when evaluating large inputs: memory stays bounded, and per-block sums make
/// the loss independent of the number of threads.
pub const EVAL_BLOCK: usize = 256;
/// Rows are split between threads in multiples of this (the microkernel's height).
pub const ROW_UNIT: usize = 8;
/// Below this many multiply-adds a call runs on one thread.
const PARALLEL_MIN_FMAS: usize = 1 << 22;
/// Below this many multiply-adds per step a fit runs on one thread.
const STEP_PARALLEL_MIN_FMAS: usize = 1 << 20;

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

/// Each buffer as a [`Shared`] view.
fn shared_all<T>(buffers: &mut [Vec<T>]) -> Vec<Shared<'_, T>> {
    buffers.iter_mut().map(|b| Shared::new(b)).collect()
}

/// Gradients of the mean loss, shaped like the parameters.
#[derive(Clone, Debug)]
pub struct Gradients<T> {
    pub weights: Vec<Vec<T>>,
    pub biases: Vec<Vec<T>>,
}

impl<T: Scalar> Gradients<T> {
    /// The buffers shared by a team.
    pub fn view(&mut self) -> GradientsView<'_, T> {
        GradientsView {
            weights: shared_all(&mut self.weights),
            biases: shared_all(&mut self.biases),
        }
    }
}

/// Gradient buffers written by a team, each member its own rows.
pub struct GradientsView<'a, T> {
    pub weights: Vec<Shared<'a, T>>,
    pub biases: Vec<Shared<'a, T>>,
}

/// The parameters as seen by a team: read by every member in the forward and delta passes,
/// updated row by row by their owners after a barrier.
pub struct ParamsView<'a, T> {
    pub weights: Vec<Shared<'a, T>>,
    pub biases: Vec<Shared<'a, T>>,
}

/// Per-layer buffers for a batch of up to `rows` samples, reused by every step.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    rows: usize,
    /// Pre-activations per layer (rows × fan_out).
    z: Vec<Vec<T>>,
    /// Activations per hidden layer (rows × fan_out).
    a: Vec<Vec<T>>,
    /// `dL/dZ` per layer (rows × fan_out).
    dz: Vec<Vec<T>>,
}

impl<T: Scalar> Workspace<T> {
    /// Buffers for batches of up to `rows` samples of `net`.
    pub fn new(net: &Network<T>, rows: usize) -> Result<Self> {
        let per_layer = |layers: &[Dense<T>]| -> Result<Vec<Vec<T>>> {
            layers
                .iter()
                .map(|l| {
                    zeroed(rows.checked_mul(l.fan_out), || {
                        format!("the activations of {rows} rows")
                    })
                })
                .collect()
        };
        let hidden = net.layers.len() - 1;
        Ok(Workspace {
            rows,
            z: per_layer(&net.layers)?,
            a: per_layer(&net.layers[..hidden])?,
            dz: per_layer(&net.layers)?,
        })
    }

    /// The buffers shared by a team.
    pub fn view(&mut self) -> WorkspaceView<'_, T> {
        WorkspaceView {
            rows: self.rows,
            z: shared_all(&mut self.z),
            a: shared_all(&mut self.a),
            dz: shared_all(&mut self.dz),
        }
    }
}

/// A workspace written by a team, each member its own rows (see [`Shared`]).
pub struct WorkspaceView<'a, T> {
    rows: usize,
    z: Vec<Shared<'a, T>>,
    a: Vec<Shared<'a, T>>,
    dz: Vec<Shared<'a, T>>,
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

    /// Checks `x` holds `rows` (possibly 0) finite rows of `n_inputs` features.
    pub fn check_inputs(&self, x: &[T], rows: usize, cols: usize) -> Result<()> {
        self.check_inputs_shape(x, rows, cols)?;
        // The vectorised scan first; the position only when there is something to report.
        if let Some(i) = (!kernels::all_finite(x))
            .then(|| x.iter().position(|v| !v.is_finite()))
            .flatten()
        {
            return Err(Error::value(format!(
                "X: contains a non-finite value (NaN or inf) at row {}, column {}",
                i / cols,
                i % cols
            )));
        }
        Ok(())
    }

    /// Checks `x` holds `rows` rows of `n_inputs` features (not their values).
    pub fn check_inputs_shape(&self, x: &[T], rows: usize, cols: usize) -> Result<()> {
        self.check_width(cols)?;
        if Some(x.len()) != rows.checked_mul(cols) {
            return Err(Error::value(format!(
                "X: expected {rows} × {cols} = rows × features values, got {}",
                x.len()
            )));
        }
        Ok(())
    }

    /// Checks an input of `rows × cols` fits the network for training or a loss (`rows > 0`,
    /// `cols = n_inputs`).
    pub fn check_shape(&self, rows: usize, cols: usize) -> Result<()> {
        if rows == 0 {
            return Err(Error::value(
                "X: expected at least one row, got an empty array",
            ));
        }
        self.check_width(cols)
    }

    /// Checks rows of `cols` features fit the network's input.
    pub fn check_width(&self, cols: usize) -> Result<()> {
        if cols != self.n_inputs() {
            return Err(Error::value(format!(
                "X: expected {} features per row (the network's input width), got {cols}",
                self.n_inputs()
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
        self.check_shape(rows, cols)?;
        self.check_inputs(x, rows, cols)?;
        self.loss.validate(targets, rows, self.n_outputs())
    }

    /// Checks sample weights: scikit-learn's losses only, one per row, finite (scikit-learn
    /// accepts negative weights too).
    pub fn check_weights(&self, weights: Option<&[T]>, rows: usize, name: &str) -> Result<()> {
        let Some(w) = weights else { return Ok(()) };
        if !self.loss.is_sklearn() {
            return Err(Error::value(format!(
                "{name}: sample weights need one of scikit-learn's losses, not {}",
                self.loss.name()
            )));
        }
        if w.len() != rows {
            return Err(Error::value(format!(
                "{name}: expected {rows} weights (one per row of X), got {}",
                w.len()
            )));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::value(format!(
                "{name}: weights must be finite; position {i} holds {:?}",
                w[i]
            )));
        }
        Ok(())
    }

    /// Output activations for `x` (rows × n_in, checked by [`Self::check_inputs`]) into `out`
    /// (rows × n_out): probabilities for the cross-entropies, raw values for MSE. Large inputs
    /// are split across the thread pool in blocks of rows.
    pub fn forward(&self, x: &[T], rows: usize, out: &mut [T]) -> Result<()> {
        let (n_in, n_out) = (self.n_inputs(), self.n_outputs());
        self.check_inputs(x, rows, n_in)?;
        if Some(out.len()) != rows.checked_mul(n_out) {
            return Err(Error::value(format!(
                "out: expected {rows} × {n_out} values, got {}",
                out.len()
            )));
        }
        if rows == 0 {
            return Ok(());
        }
        let out = Shared::new(out);
        let params = self.params();
        let make = || Workspace::new(self, rows.min(EVAL_BLOCK));
        threads::team_with(self.members_for(rows), make, |team, ws| {
            let ws = ws.view();
            for block in team.share(rows.div_ceil(EVAL_BLOCK), 1) {
                let (start, end) = (block * EVAL_BLOCK, ((block + 1) * EVAL_BLOCK).min(rows));
                let n = end - start;
                let xb = MatRef::row_major(&x[start * n_in..end * n_in], n, n_in);
                // SAFETY: this member alone owns the workspace and these output rows.
                unsafe {
                    self.forward_rows(&params, xb, 0..n, &ws);
                    let dst = out.part(start * n_out..end * n_out);
                    dst.copy_from_slice(&ws.z[self.layers.len() - 1].read()[..n * n_out]);
                    self.loss.output(dst, n_out);
                }
            }
        })
    }

    /// Mean loss and, except for MSE, the accuracy of `x` against `targets` (both checked
    /// here). Summed per fixed block of rows, so the result does not depend on the number of
    /// threads.
    pub fn evaluate(
        &self,
        x: &[T],
        rows: usize,
        targets: &Targets<'_, T>,
    ) -> Result<(f64, Option<f64>)> {
        self.check_data(x, rows, self.n_inputs(), targets)?;
        let data = Dataset {
            x,
            rows,
            cols: self.n_inputs(),
            targets: *targets,
            weights: None,
        };
        let mut sums = filled(
            Some(rows.div_ceil(EVAL_BLOCK)),
            (0.0, Some(0)),
            "block sums",
        )?;
        let shared = Shared::new(&mut sums);
        let params = self.params();
        let make = || Workspace::new(self, rows.min(EVAL_BLOCK));
        threads::team_with(self.members_for(rows), make, |team, ws| {
            // SAFETY: every member evaluates the same data; nothing writes the parameters.
            unsafe { self.evaluate_in(team, &params, &data, ws, shared) }
        })?;
        Ok(self.combine(&sums, rows))
    }

    /// This member's share of the blocks of `data`: summed loss and correct predictions per
    /// block into `sums` (one slot per block of [`EVAL_BLOCK`] rows).
    ///
    /// # Safety
    /// Every member of `team` must call this with the same `data` and `sums`, and nothing may
    /// write the parameters meanwhile.
    pub(crate) unsafe fn evaluate_in(
        &self,
        team: &Team<'_>,
        params: &ParamsView<'_, T>,
        data: &Dataset<'_, T>,
        ws: &mut Workspace<T>,
        sums: Shared<'_, (f64, Option<usize>)>,
    ) {
        let (n_in, n_out) = (self.n_inputs(), self.n_outputs());
        let mine = team.share(data.rows.div_ceil(EVAL_BLOCK), 1);
        for (block, slot) in mine.clone().zip(sums.part(mine)) {
            let (start, end) = (
                block * EVAL_BLOCK,
                ((block + 1) * EVAL_BLOCK).min(data.rows),
            );
            let n = end - start;
            let xb = MatRef::row_major(&data.x[start * n_in..end * n_in], n, n_in);
            self.forward_rows(params, xb, 0..n, &ws.view());
            let targets = data.targets.slice(start, end, n_out);
            let logits = &mut ws.z[self.layers.len() - 1][..n * n_out];
            let correct = self.loss.correct(logits, n_out, &targets);
            *slot = (
                self.loss.sum_and_grad(logits, n_out, &targets, None, 1.0),
                correct,
            );
        }
    }

    /// Mean loss and accuracy from per-block sums, added in block order.
    pub(crate) fn combine(&self, sums: &[(f64, Option<usize>)], rows: usize) -> (f64, Option<f64>) {
        let total: f64 = sums.iter().map(|s| s.0).sum();
        let correct = sums.iter().try_fold(0, |acc, s| s.1.map(|c| acc + c));
        let mean = total / self.loss.total::<T>(rows, self.n_outputs(), None);
        (mean, correct.map(|c| c as f64 / rows as f64))
    }

    /// Mean loss over one batch and its gradients into `grads` (the L2 penalty
    /// `alpha/2·Σ‖W‖²` over the same total included when `alpha > 0`), on a team of threads
    /// when the batch is large. The data, `ws` (for at least `data.rows` rows) and `grads`
    /// (shaped like the parameters) are checked here.
    pub fn loss_and_gradients(
        &self,
        data: &Dataset<'_, T>,
        alpha: f64,
        ws: &mut Workspace<T>,
        grads: &mut Gradients<T>,
    ) -> Result<f64> {
        let rows = data.rows;
        self.check_data(data.x, rows, data.cols, &data.targets)?;
        self.check_weights(data.weights, rows, "sample_weight")?;
        let fits = ws.rows >= rows
            && grads.weights.len() == self.layers.len()
            && grads.biases.len() == self.layers.len()
            && self
                .layers
                .iter()
                .zip(&grads.weights)
                .zip(&grads.biases)
                .all(|((l, w), b)| w.len() == l.weight.len() && b.len() == l.bias.len());
        if !fits {
            return Err(Error::value(
                "ws, grads: expected a workspace for the batch's rows and gradients shaped like \
                 the parameters",
            ));
        }
        let mut blocks = zeros(Some(rows.div_ceil(ROW_UNIT)), "block losses")?;
        let x = MatRef::row_major(data.x, rows, self.n_inputs());
        let (ws, grads, blocks) = (ws.view(), grads.view(), Shared::new(&mut blocks));
        let n_out = self.n_outputs();
        let total = self.loss.total(rows, n_out, data.weights);
        let params = self.params();
        let labels = |r: Range<usize>| {
            let weights = data.weights.map(|w| &w[r.clone()]);
            (data.targets.slice(r.start, r.end, n_out), weights)
        };
        threads::team(self.members_for(rows), |team| {
            // SAFETY: every member runs the same call; nothing else touches the buffers.
            let (loss, _) = unsafe {
                self.batch_gradients(
                    team, &params, x, rows, labels, total, alpha, &ws, &grads, blocks,
                )
            };
            loss
        })
        .map(|loss| loss + self.l2_penalty(&params, alpha, total))
    }

    /// `alpha/2 · Σ‖W‖² / total`: scikit-learn's L2 term (weights only, not biases), summed in
    /// a fixed order.
    pub(crate) fn l2_penalty(&self, params: &ParamsView<'_, T>, alpha: f64, total: f64) -> f64 {
        if alpha == 0.0 {
            return 0.0;
        }
        // SAFETY: callers hold the parameters still (no member writes them meanwhile).
        let squares: f64 = params
            .weights
            .iter()
            .map(|w| kernels::sum_squares(unsafe { w.read() }))
            .sum();
        0.5 * alpha * squares / total
    }

    /// How many threads one call on `rows` samples is worth: waking a thread costs tens of
    /// microseconds.
    pub fn members_for(&self, rows: usize) -> usize {
        if self.fmas(rows) >= PARALLEL_MIN_FMAS {
            usize::MAX
        } else {
            1
        }
    }

    /// How many threads training steps of `rows` samples are worth: a fit wakes its team once,
    /// then each step costs three barriers of well under a microsecond.
    pub fn members_for_steps(&self, rows: usize) -> usize {
        if self.fmas(rows) >= STEP_PARALLEL_MIN_FMAS {
            usize::MAX
        } else {
            1
        }
    }

    /// Multiply-adds of one forward pass over `rows` samples.
    fn fmas(&self, rows: usize) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len())
            .sum::<usize>()
            .saturating_mul(rows)
    }

    /// Loss and gradients of one batch by one member of `team`: the forward and delta passes
    /// over this member's rows of the batch, a barrier, then this member's rows of each weight
    /// gradient (the leader also takes the biases and the loss). Returns the mean loss (valid
    /// on the leader) and the largest gradient magnitude this member computed (infinite if
    /// anything it computed, the leader's loss included, is not finite).
    ///
    /// `x` holds the batch's `rows` inputs; `labels(range)` gives the targets (and sample
    /// weights) of those rows; `total` is what the mean divides by ([`Loss::total`]). With
    /// `alpha > 0` the weight gradients include scikit-learn's L2 term `alpha·W / total` (the
    /// returned loss does not: see [`Self::l2_penalty`]).
    /// Every element comes out the same whatever the team's size.
    ///
    /// # Safety
    /// Every member of `team` must call this with the same arguments, and nothing else may
    /// touch the buffers meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn batch_gradients<'t>(
        &self,
        team: &Team<'_>,
        params: &ParamsView<'_, T>,
        x: MatRef<'_, T>,
        rows: usize,
        labels: impl Fn(Range<usize>) -> Labels<'t, T>,
        total: f64,
        alpha: f64,
        ws: &WorkspaceView<'_, T>,
        grads: &GradientsView<'_, T>,
        block_losses: Shared<'_, f64>,
    ) -> (f64, f64)
    where
        T: 't,
    {
        self.deltas(team, params, x, rows, labels, total, ws, block_losses);
        team.sync();
        let decay = T::of(alpha / total);

        let mut peak = 0.0f64;
        for (l, layer) in self.layers.iter().enumerate() {
            let input = if l == 0 {
                x
            } else {
                ws.a[l - 1].matrix(rows, layer.fan_in)
            };
            let dz = ws.dz[l].matrix(rows, layer.fan_out);
            let r = team.share(layer.fan_in, ROW_UNIT);
            T::gemm_block(
                grads.weights[l].as_mut_ptr(),
                layer.fan_out,
                input.t(),
                dz,
                r.clone(),
                0..layer.fan_out,
            );
            let span = r.start * layer.fan_out..r.end * layer.fan_out;
            let dw = grads.weights[l].part(span.clone());
            if alpha != 0.0 {
                kernels::add_scaled(dw, decay, &params.weights[l].read()[span]);
            }
            peak = peak.max(kernels::finite_max_abs(dw));
        }
        let mut loss = f64::NAN;
        if team.is_leader() {
            peak = peak.max(self.bias_gradients(rows, ws, grads));
            loss = self.batch_loss(rows, total, block_losses);
            if !loss.is_finite() {
                peak = f64::INFINITY;
            }
        }
        (loss, peak)
    }

    /// This member's share of the forward and delta passes of a batch: `z`, `a` and `dz` of
    /// its rows, and the loss summed per block of [`ROW_UNIT`] rows into `block_losses`.
    ///
    /// # Safety
    /// As [`Self::batch_gradients`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn deltas<'t>(
        &self,
        team: &Team<'_>,
        params: &ParamsView<'_, T>,
        x: MatRef<'_, T>,
        rows: usize,
        labels: impl Fn(Range<usize>) -> Labels<'t, T>,
        total: f64,
        ws: &WorkspaceView<'_, T>,
        block_losses: Shared<'_, f64>,
    ) where
        T: 't,
    {
        let last = self.layers.len() - 1;
        let n_out = self.n_outputs();
        let mine = team.share(rows, ROW_UNIT);
        self.forward_rows(params, x, mine.clone(), ws);
        for start in mine.clone().step_by(ROW_UNIT) {
            let end = (start + ROW_UNIT).min(mine.end);
            let dz = ws.dz[last].part(start * n_out..end * n_out);
            dz.copy_from_slice(&ws.z[last].read()[start * n_out..end * n_out]);
            let (targets, weights) = labels(start..end);
            let sum = self.loss.sum_and_grad(dz, n_out, &targets, weights, total);
            block_losses.part(start / ROW_UNIT..start / ROW_UNIT + 1)[0] = sum;
        }
        self.backprop_rows(params, mine, ws);
    }

    /// The mean loss of a batch from its per-block sums, added in block order.
    ///
    /// # Safety
    /// Every member must have finished [`Self::deltas`] (a barrier).
    pub(crate) unsafe fn batch_loss(
        &self,
        rows: usize,
        total: f64,
        block_losses: Shared<'_, f64>,
    ) -> f64 {
        block_losses.read()[..rows.div_ceil(ROW_UNIT)]
            .iter()
            .sum::<f64>()
            / total
    }

    /// Every bias gradient (column sums of the deltas); their largest magnitude (infinite if
    /// one is not finite).
    ///
    /// # Safety
    /// Every member must have finished [`Self::deltas`]; only one thread may call this.
    pub(crate) unsafe fn bias_gradients(
        &self,
        rows: usize,
        ws: &WorkspaceView<'_, T>,
        grads: &GradientsView<'_, T>,
    ) -> f64 {
        let mut peak = 0.0f64;
        for (l, layer) in self.layers.iter().enumerate() {
            let db = grads.biases[l].part(0..layer.fan_out);
            kernels::column_sums(db, &ws.dz[l].read()[..rows * layer.fan_out]);
            peak = peak.max(kernels::finite_max_abs(db));
        }
        peak
    }

    /// For a batch of one row after [`Self::deltas`]: layer `l`'s input row and output delta,
    /// whose outer product is its weight gradient.
    ///
    /// # Safety
    /// The deltas must be complete and not written meanwhile.
    pub(crate) unsafe fn row_factors<'w>(
        &self,
        l: usize,
        x: &'w [T],
        ws: &WorkspaceView<'w, T>,
    ) -> (&'w [T], &'w [T]) {
        let layer = &self.layers[l];
        let input = if l == 0 {
            &x[..layer.fan_in]
        } else {
            &ws.a[l - 1].read()[..layer.fan_in]
        };
        (input, &ws.dz[l].read()[..layer.fan_out])
    }

    /// The forward pass for rows `rows` of the batch `x` into `ws` (z and a of every layer).
    ///
    /// # Safety
    /// No other thread may touch these rows of `ws` meanwhile.
    unsafe fn forward_rows(
        &self,
        params: &ParamsView<'_, T>,
        x: MatRef<'_, T>,
        rows: Range<usize>,
        ws: &WorkspaceView<'_, T>,
    ) {
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let input = if l == 0 {
                x
            } else {
                ws.a[l - 1].matrix(ws.rows, layer.fan_in)
            };
            let w = params.weights[l].matrix(layer.fan_in, layer.fan_out);
            T::gemm_block(
                ws.z[l].as_mut_ptr(),
                layer.fan_out,
                input,
                w,
                rows.clone(),
                0..layer.fan_out,
            );
            let span = rows.start * layer.fan_out..rows.end * layer.fan_out;
            let a: &mut [T] = if l < last {
                ws.a[l].part(span.clone())
            } else {
                &mut []
            };
            kernels::bias_activation(
                ws.z[l].part(span),
                a,
                params.biases[l].read(),
                layer.activation,
            );
        }
    }

    /// Hidden-layer deltas for rows `rows`: `dZ_{l-1} = (dZ_l · W_lᵀ) ⊙ act'(Z_{l-1})`.
    ///
    /// # Safety
    /// No other thread may touch these rows of `ws` meanwhile.
    unsafe fn backprop_rows(
        &self,
        params: &ParamsView<'_, T>,
        rows: Range<usize>,
        ws: &WorkspaceView<'_, T>,
    ) {
        for l in (1..self.layers.len()).rev() {
            let (layer, below) = (&self.layers[l], &self.layers[l - 1]);
            let dz = ws.dz[l].matrix(ws.rows, layer.fan_out);
            let wt = params.weights[l].matrix(layer.fan_in, layer.fan_out).t();
            T::gemm_block(
                ws.dz[l - 1].as_mut_ptr(),
                layer.fan_in,
                dz,
                wt,
                rows.clone(),
                0..layer.fan_in,
            );
            let span = rows.start * below.fan_out..rows.end * below.fan_out;
            kernels::activation_backward(
                ws.dz[l - 1].part(span.clone()),
                &ws.z[l - 1].read()[span.clone()],
                &ws.a[l - 1].read()[span],
                below.activation,
            );
        }
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
        let losses = [
            Loss::CrossEntropy,
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
