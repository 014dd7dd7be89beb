//! Inference and evaluation: outputs, mean loss and accuracy, per fixed block of rows.

use super::{Dataset, MetricSums, Network, ParamsView, Workspace, EVAL_BLOCK};
use crate::error::{filled, zeros, Error, Result};
use crate::kernels::{MatRef, Shared};
use crate::layers::{Mode, Pass};
use crate::losses::Targets;
use crate::scalar::Scalar;
use crate::threads::{self, Team};

impl<T: Scalar> Network<T> {
    /// Output activations for `x` (rows × n_in, checked by [`Self::check_inputs`]) into `out`
    /// (rows × n_out) in evaluation mode: probabilities for the cross-entropies, raw values for
    /// MSE. Large inputs are split across the thread pool in blocks of rows.
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
        let make = || Workspace::for_eval(self, rows.min(EVAL_BLOCK));
        threads::team_with(self.members_for(rows), make, |team, ws| {
            let ws = ws.view();
            for block in team.share(rows.div_ceil(EVAL_BLOCK), 1) {
                let (start, end) = (block * EVAL_BLOCK, ((block + 1) * EVAL_BLOCK).min(rows));
                let n = end - start;
                let xb = MatRef::row_major(&x[start * n_in..end * n_in], n, n_in);
                // SAFETY: this member alone owns the workspace and these output rows.
                unsafe {
                    self.forward_pass(&eval_pass(n), &params, xb, &ws);
                    let dst = out.part(start * n_out..end * n_out);
                    dst.copy_from_slice(&ws.io[self.layers.len() - 1].out.read()[..n * n_out]);
                    self.loss.output(dst, n_out);
                }
            }
        })
    }

    /// The predicted class of each row of `x` (the argmax of its outputs, the first on ties),
    /// in evaluation mode: what `predict` returns for the cross-entropies.
    pub fn predict_classes(&self, x: &[T], rows: usize) -> Result<Vec<i64>> {
        let n_out = self.n_outputs();
        self.check_inputs_shape(x, rows, self.n_inputs())?; // before allocating
        let mut out = zeros(rows.checked_mul(n_out), "the outputs")?;
        self.forward(x, rows, &mut out)?;
        let mut classes = zeros(Some(rows), "the predicted classes")?;
        for (c, row) in classes.iter_mut().zip(out.chunks_exact(n_out)) {
            *c = crate::losses::argmax(row) as i64;
        }
        Ok(classes)
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
        let make = || Workspace::for_eval(self, rows.min(EVAL_BLOCK));
        threads::team_with(self.members_for(rows), make, |team, ws| {
            // SAFETY: every member evaluates the same data; nothing writes the parameters.
            unsafe { self.evaluate_in(team, &params, &data, ws, shared, None) }
        })?;
        Ok(self.combine(&sums, rows))
    }

    /// This member's share of the blocks of `data`: summed loss and correct predictions per
    /// block into `sums` (one slot per block of [`EVAL_BLOCK`] rows), and with `metrics` each
    /// block's [`MetricSums`] (`MetricSums::width` slots per block).
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
        metrics: Option<Shared<'_, f64>>,
    ) {
        let width = MetricSums::width(self.n_outputs());
        let (n_in, n_out) = (self.n_inputs(), self.n_outputs());
        let mine = team.share(data.rows.div_ceil(EVAL_BLOCK), 1);
        for (block, slot) in mine.clone().zip(sums.part(mine)) {
            let (start, end) = (
                block * EVAL_BLOCK,
                ((block + 1) * EVAL_BLOCK).min(data.rows),
            );
            let n = end - start;
            let xb = MatRef::row_major(&data.x[start * n_in..end * n_in], n, n_in);
            let view = ws.view();
            self.forward_pass(&eval_pass(n), params, xb, &view);
            let targets = data.targets.slice(start, end, n_out);
            let logits = view.io[self.layers.len() - 1].out.part(0..n * n_out);
            let correct = self.loss.correct(logits, n_out, &targets);
            if let Some(m) = metrics {
                let slot = m.part(block * width..(block + 1) * width);
                MetricSums::block(self.loss, logits, n_out, &targets, slot);
            }
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
}

/// A pass in evaluation mode over `rows` rows by the calling thread alone.
fn eval_pass(rows: usize) -> Pass<'static, 'static> {
    const SOLO: &Team<'static> = &Team::SOLO;
    Pass {
        team: SOLO,
        rows,
        mine: 0..rows,
        mode: Mode::Eval,
    }
}

impl<T: Scalar> Network<T> {
    /// Output activations for `x` in training mode (`torch`'s `model.train()`): batch
    /// statistics and the dropout masks of the next training step, over all `rows` as one
    /// batch; running statistics are left alone.
    pub fn forward_training(&self, x: &[T], rows: usize, out: &mut [T]) -> Result<()> {
        let (n_in, n_out) = (self.n_inputs(), self.n_outputs());
        self.check_shape(rows, n_in)?;
        self.check_inputs(x, rows, n_in)?;
        self.check_training_rows(rows, "X")?;
        if Some(out.len()) != rows.checked_mul(n_out) {
            return Err(Error::value(format!(
                "out: expected {rows} × {n_out} values, got {}",
                out.len()
            )));
        }
        let mut ws = Workspace::new(self, rows)?;
        let xm = MatRef::row_major(x, rows, n_in);
        let params = self.params();
        let mode = self.train_mode(self.steps);
        {
            let view = ws.view();
            threads::team(self.members_for(rows), |team| {
                let pass = Pass {
                    team,
                    rows,
                    mine: team.share(rows, super::ROW_UNIT),
                    mode,
                };
                // SAFETY: every member runs the same pass; nothing else touches the buffers.
                unsafe { self.forward_pass(&pass, &params, xm, &view) };
            })?;
        }
        out.copy_from_slice(&ws.output(self.layers.len() - 1)[..rows * n_out]);
        self.loss.output(out, n_out);
        Ok(())
    }

    /// The keep mask (rows × width, row-major) of the Dropout at `layer` for a batch of `rows`
    /// rows at training step `step`: what its training passes multiply by, up to the scale.
    pub fn dropout_keep(&self, layer: usize, rows: usize, step: u64) -> Result<Vec<bool>> {
        let Some(crate::layers::Layer::Dropout(d)) = self.layers.get(layer) else {
            return Err(Error::value(format!(
                "index: layer {layer} is not a Dropout"
            )));
        };
        let mask = d.mask(self.seed, step);
        let mut keep = zeros(rows.checked_mul(d.width), "a dropout mask")?;
        for (r, row) in keep.chunks_exact_mut(d.width.max(1)).enumerate() {
            let key = mask.row(r);
            row.iter_mut()
                .enumerate()
                .for_each(|(j, k)| *k = mask.keep(key, j));
        }
        Ok(keep)
    }
}
