//! The team-parallel passes of a training step: forward and delta passes over a member's rows,
//! then its rows of each weight gradient.

use std::ops::Range;

use super::{Dataset, Gradients, GradientsView, Labels, Network, ParamsView, Workspace};
use super::{WorkspaceView, ROW_UNIT};
use crate::error::{zeros, Error, Result};
use crate::kernels::{self, MatRef, Shared};
use crate::scalar::Scalar;
use crate::threads::{self, Team};

impl<T: Scalar> Network<T> {
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
        threads::members_for_call(self.fmas(rows))
    }

    /// How many threads training steps of `rows` samples are worth: a fit wakes its team once,
    /// then each step costs three barriers of well under a microsecond.
    pub fn members_for_steps(&self, rows: usize) -> usize {
        threads::members_for_steps(self.fmas(rows))
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
    pub(super) unsafe fn forward_rows(
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
    pub(super) unsafe fn backprop_rows(
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
