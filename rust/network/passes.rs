//! The team-parallel passes of a training step: forward, loss and backward over a member's
//! rows (BatchNorm meets the team at barriers inside them), then its share of each weight
//! gradient.

use std::ops::Range;

use super::{Dataset, Gradients, GradientsView, Labels, Network, ParamsView, Workspace};
use super::{WorkspaceView, ROW_UNIT};
use crate::error::{zeros, Error, Result};
use crate::kernels::{self, MatRef, Shared};
use crate::layers::{Layer, LayerOps, Mode, Pass};
use crate::scalar::Scalar;
use crate::threads::{self, Team};

impl<T: Scalar> Network<T> {
    /// Mean loss over one batch in training mode and its gradients into `grads` (the L2
    /// penalty `alpha/2·Σ‖W‖²` over the same total included when `alpha > 0`), on a team of
    /// threads when the batch is large. Dropout masks are those of the next training step;
    /// running statistics are left alone. The data, `ws` (for at least `data.rows` rows) and
    /// `grads` (shaped like the parameters) are checked here.
    pub fn loss_and_gradients(
        &self,
        data: &Dataset<'_, T>,
        alpha: f64,
        ws: &mut Workspace<T>,
        grads: &mut Gradients<T>,
    ) -> Result<f64> {
        let rows = data.rows;
        super::checks::check_alpha(alpha)?;
        self.check_data(data.x, rows, data.cols, &data.targets)?;
        self.check_weights(data.weights, rows, "sample_weight")?;
        self.check_training_rows(rows, "X")?;
        let fits = ws.rows >= rows
            && grads.tensors.len() == self.param_info.len()
            && grads
                .tensors
                .iter()
                .zip(&self.param_info)
                .all(|(g, p)| g.len() == p.len());
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
        let mode = self.train_mode(self.steps);
        threads::team(self.members_for(rows), |team| {
            // SAFETY: every member runs the same call; nothing else touches the buffers.
            let (loss, _) = unsafe {
                self.batch_gradients(
                    team, &params, x, rows, labels, total, alpha, mode, &ws, &grads, blocks,
                )
            };
            loss
        })
        .map(|loss| loss + self.l2_penalty(&params, alpha, total))
    }

    /// The mode of training step `step`.
    pub(crate) fn train_mode(&self, step: u64) -> Mode {
        Mode::Train {
            seed: self.seed,
            step,
        }
    }

    /// `alpha/2 · Σ‖W‖² / total`: scikit-learn's L2 term (Dense weights only), summed in a
    /// fixed order.
    pub(crate) fn l2_penalty(&self, params: &ParamsView<'_, T>, alpha: f64, total: f64) -> f64 {
        if alpha == 0.0 {
            return 0.0;
        }
        // SAFETY: callers hold the parameters still (no member writes them meanwhile).
        let squares: f64 = self
            .dense_layers()
            .map(|d| kernels::sum_squares(unsafe { params.params[d.weight].read() }))
            .sum();
        0.5 * alpha * squares / total
    }

    /// How many threads one call on `rows` samples is worth: waking a thread costs tens of
    /// microseconds.
    pub fn members_for(&self, rows: usize) -> usize {
        threads::members_for_call(self.fmas(rows))
    }

    /// How many threads training steps of `rows` samples are worth: a fit wakes its team once,
    /// then each step costs a few barriers of well under a microsecond.
    pub fn members_for_steps(&self, rows: usize) -> usize {
        threads::members_for_steps(self.fmas(rows))
    }

    /// Multiply-adds of one forward pass over `rows` samples.
    fn fmas(&self, rows: usize) -> usize {
        self.dense_layers()
            .map(|d| d.fan_in * d.fan_out)
            .sum::<usize>()
            .saturating_mul(rows)
    }

    /// Loss and gradients of one batch by one member of `team`: the forward, loss and backward
    /// passes over this member's rows of the batch, a barrier, then this member's rows of each
    /// weight gradient (the leader also takes the per-feature gradients and the loss). Returns
    /// the mean loss (valid on the leader) and the largest gradient magnitude this member
    /// computed (infinite if anything it computed, the leader's loss included, is not finite).
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
        mode: Mode,
        ws: &WorkspaceView<'_, T>,
        grads: &GradientsView<'_, T>,
        block_losses: Shared<'_, f64>,
    ) -> (f64, f64)
    where
        T: 't,
    {
        let pass = self.deltas(team, params, x, rows, labels, total, mode, ws, block_losses);
        self.backward(&pass, params, x, ws, grads);
        team.sync();
        let decay = (alpha != 0.0).then(|| T::of(alpha / total));
        let t = params.tensors();
        let mut peak = 0.0f64;
        for (p, &i) in self.stages.iter().enumerate() {
            if let Layer::Dense(d) = &self.layers[i] {
                let input = self.input_of(p, x, ws, rows);
                let g = d.weight_gradient(&pass, &t, input, &ws.io[i], &grads.tensors, decay);
                peak = peak.max(g);
            }
        }
        let mut loss = f64::NAN;
        if team.is_leader() {
            peak = peak.max(self.vector_gradients(rows, ws, grads));
            loss = self.batch_loss(rows, total, block_losses);
            if !loss.is_finite() {
                peak = f64::INFINITY;
            }
        }
        (loss, peak)
    }

    /// This member's share of the forward pass and the loss of a batch: every layer's output
    /// rows, the loss summed per block of [`ROW_UNIT`] rows into `block_losses`, and the loss
    /// gradient in the last layer's `grad`. Returns the pass, for [`Self::backward`].
    ///
    /// # Safety
    /// As [`Self::batch_gradients`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn deltas<'a, 'b, 't>(
        &self,
        team: &'a Team<'b>,
        params: &ParamsView<'_, T>,
        x: MatRef<'_, T>,
        rows: usize,
        labels: impl Fn(Range<usize>) -> Labels<'t, T>,
        total: f64,
        mode: Mode,
        ws: &WorkspaceView<'_, T>,
        block_losses: Shared<'_, f64>,
    ) -> Pass<'a, 'b>
    where
        T: 't,
    {
        let pass = Pass {
            team,
            rows,
            mine: team.share(rows, ROW_UNIT),
            mode,
        };
        self.forward_pass(&pass, params, x, ws);
        let last = &ws.io[self.layers.len() - 1];
        let n_out = self.n_outputs();
        for start in pass.mine.clone().step_by(ROW_UNIT) {
            let end = (start + ROW_UNIT).min(pass.mine.end);
            let dz = last.grad.part(start * n_out..end * n_out);
            dz.copy_from_slice(&last.out.read()[start * n_out..end * n_out]);
            let (targets, weights) = labels(start..end);
            let sum = self.loss.sum_and_grad(dz, n_out, &targets, weights, total);
            block_losses.part(start / ROW_UNIT..start / ROW_UNIT + 1)[0] = sum;
        }
        pass
    }

    /// The input of the stage at position `p` of [`Self::stages`]: the batch, or the output of
    /// the stage before it.
    ///
    /// # Safety
    /// As [`WorkspaceView::output`].
    pub(crate) unsafe fn input_of<'w>(
        &self,
        p: usize,
        x: MatRef<'w, T>,
        ws: &WorkspaceView<'w, T>,
        rows: usize,
    ) -> MatRef<'w, T> {
        match p.checked_sub(1) {
            None => x,
            Some(q) => {
                let prev = self.stages[q];
                ws.output(prev, rows, self.layers[prev].width())
            }
        }
    }

    /// Every layer's forward pass over `pass`'s rows of the batch `x` into `ws`.
    ///
    /// # Safety
    /// Every member of the pass's team calls this alike; no other thread touches `ws`.
    pub(crate) unsafe fn forward_pass(
        &self,
        pass: &Pass,
        params: &ParamsView<'_, T>,
        x: MatRef<'_, T>,
        ws: &WorkspaceView<'_, T>,
    ) {
        let t = params.tensors();
        for (p, &i) in self.stages.iter().enumerate() {
            let input = self.input_of(p, x, ws, pass.rows);
            self.layers[i].forward(pass, &t, input, &ws.io[i]);
        }
    }

    /// Every layer's backward pass over `pass`'s rows, from the loss gradient that
    /// [`Self::deltas`] left in the last layer's `grad`.
    ///
    /// # Safety
    /// As [`Self::forward_pass`], after [`Self::deltas`].
    pub(crate) unsafe fn backward(
        &self,
        pass: &Pass,
        params: &ParamsView<'_, T>,
        x: MatRef<'_, T>,
        ws: &WorkspaceView<'_, T>,
        grads: &GradientsView<'_, T>,
    ) {
        let t = params.tensors();
        for (p, &i) in self.stages.iter().enumerate().rev() {
            let input = self.input_of(p, x, ws, pass.rows);
            let grad_in = p.checked_sub(1).map(|q| ws.io[self.stages[q]].grad);
            self.layers[i].backward(pass, &t, input, &ws.io[i], grad_in, &grads.tensors);
        }
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

    /// Every per-feature gradient (biases, γ, β); their largest magnitude (infinite if one is
    /// not finite).
    ///
    /// # Safety
    /// Every member must have finished [`Self::backward`]; only one thread may call this.
    pub(crate) unsafe fn vector_gradients(
        &self,
        rows: usize,
        ws: &WorkspaceView<'_, T>,
        grads: &GradientsView<'_, T>,
    ) -> f64 {
        self.stages
            .iter()
            .map(|&i| self.layers[i].vector_gradients(rows, &ws.io[i], &grads.tensors))
            .fold(0.0, f64::max)
    }

    /// Blends the batch statistics of the last training pass into every BatchNorm's running
    /// statistics.
    ///
    /// # Safety
    /// After a training pass over `rows` rows; only one thread calls this, while no member
    /// reads the buffers.
    pub(crate) unsafe fn update_running(
        &self,
        rows: usize,
        params: &ParamsView<'_, T>,
        ws: &WorkspaceView<'_, T>,
    ) {
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::BatchNorm(bn) = layer {
                bn.update_running(rows, &ws.io[i], &params.buffers);
            }
        }
    }

    /// For a batch of one row after the backward pass: the input row and output delta of the
    /// Dense whose weight is parameter `param`, whose outer product is its weight gradient.
    /// None for any other parameter.
    ///
    /// # Safety
    /// The deltas must be complete and not written meanwhile.
    pub(crate) unsafe fn row_factors<'w>(
        &self,
        param: usize,
        x: MatRef<'w, T>,
        ws: &WorkspaceView<'w, T>,
    ) -> Option<(&'w [T], &'w [T])> {
        self.stages
            .iter()
            .enumerate()
            .find_map(|(p, &i)| match &self.layers[i] {
                Layer::Dense(d) if d.weight == param => {
                    let input = self.input_of(p, x, ws, 1).row_slice(0..1);
                    Some((input, &ws.io[i].grad.read()[..d.fan_out]))
                }
                _ => None,
            })
    }
}
