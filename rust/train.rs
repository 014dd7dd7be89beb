//! The mini-batch training loop: shuffle, gather, forward, loss, backward, update.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::kernels::{self, Grad, MatRef, Shared};
use crate::losses::Targets;
use crate::network::{
    Gradients, GradientsView, Labels, Network, ParamsView, Workspace, WorkspaceView, EVAL_BLOCK,
    ROW_UNIT,
};
use crate::optimizers::{OptimizerConfig, OptimizerState};
use crate::rng::Rng;
use crate::scalar::Scalar;
use crate::threads::{self, Team};

pub use crate::network::Dataset;

/// How to train.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    /// scikit-learn's L2 penalty `alpha/2·Σ‖W‖²` over each batch's total (0 for none).
    pub alpha: f64,
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean per-sample training loss, each batch's loss taken before its update.
    pub loss: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
}

/// Calls from the loop to its driver: between batches (to notice Ctrl-C) and after each epoch.
pub trait Hooks {
    /// Return an error (typically [`Error::Interrupted`]) to stop before the next batch.
    fn poll(&mut self) -> Result<()> {
        Ok(())
    }

    fn epoch_end(&mut self, _report: &EpochReport) -> Result<()> {
        Ok(())
    }
}

/// Hooks that do nothing.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Everything a team needs for training steps: buffers allocated once per fit (none per
/// step) and shared views of them. Members write disjoint rows, separated by barriers.
struct Stepper<'a, T> {
    /// The architecture; the parameters are reached only through `params`.
    net: Network<T>,
    params: ParamsView<'a, T>,
    slots: Vec<Vec<Shared<'a, T>>>,
    config: &'a OptimizerConfig,
    ws: WorkspaceView<'a, T>,
    grads: GradientsView<'a, T>,
    x: Shared<'a, T>,
    classes: Shared<'a, i64>,
    values: Shared<'a, T>,
    weights: Shared<'a, T>,
    block_losses: Shared<'a, f64>,
    alpha: f64,
    /// Per member: whether everything it computed in this step is finite.
    finite: Vec<AtomicBool>,
}

/// The buffers behind a [`Stepper`], for batches of up to `rows` samples.
struct StepBuffers<T> {
    ws: Workspace<T>,
    grads: Gradients<T>,
    x: Vec<T>,
    classes: Vec<i64>,
    values: Vec<T>,
    weights: Vec<T>,
    block_losses: Vec<f64>,
}

impl<T: Scalar> StepBuffers<T> {
    fn new(net: &Network<T>, rows: usize) -> Self {
        StepBuffers {
            ws: Workspace::new(net, rows),
            grads: net.zero_gradients(),
            x: vec![T::zero(); rows * net.n_inputs()],
            classes: vec![0; rows],
            values: vec![T::zero(); rows * net.n_outputs()],
            weights: vec![T::zero(); rows],
            block_losses: vec![0.0; rows.div_ceil(ROW_UNIT)],
        }
    }
}

impl<'a, T: Scalar> Stepper<'a, T> {
    /// Splits `net` into what members read (its shape) and what they update (its parameters).
    fn new(
        net: &'a mut Network<T>,
        config: &'a OptimizerConfig,
        state: &'a mut OptimizerState<T>,
        buffers: &'a mut StepBuffers<T>,
        alpha: f64,
    ) -> Self {
        Stepper {
            net: net.shape_only(),
            params: net.params_mut(),
            slots: state.slots_view(),
            config,
            ws: buffers.ws.view(),
            grads: buffers.grads.view(),
            x: Shared::new(&mut buffers.x),
            classes: Shared::new(&mut buffers.classes),
            values: Shared::new(&mut buffers.values),
            weights: Shared::new(&mut buffers.weights),
            block_losses: Shared::new(&mut buffers.block_losses),
            alpha,
            finite: (0..threads::num_threads().unwrap_or(1))
                .map(|_| AtomicBool::new(true))
                .collect(),
        }
    }

    /// One step on rows `idx` of `data` as step number `t` (1-based) of the optimizer: gather,
    /// gradients, then — only if every member found everything finite — the update. Returns
    /// the batch's mean loss (on the leader) and whether the update happened.
    ///
    /// # Safety
    /// Every member of `team` must call this with the same arguments.
    unsafe fn step(
        &self,
        team: &Team<'_>,
        data: &Dataset<'_, T>,
        idx: &[usize],
        t: u64,
    ) -> (f64, bool) {
        let rows = idx.len();
        let (n_in, n_out) = (data.cols, self.net.n_outputs());
        let mine = team.share(rows, ROW_UNIT);
        for r in mine.clone() {
            let src = idx[r];
            self.x
                .part(r * n_in..(r + 1) * n_in)
                .copy_from_slice(&data.x[src * n_in..(src + 1) * n_in]);
            match data.targets {
                Targets::Classes(c) => self.classes.part(r..r + 1)[0] = c[src],
                Targets::Values(v) => self
                    .values
                    .part(r * n_out..(r + 1) * n_out)
                    .copy_from_slice(&v[src * n_out..(src + 1) * n_out]),
            }
            if let Some(w) = data.weights {
                self.weights.part(r..r + 1)[0] = w[src];
            }
        }
        let labels = |range: Range<usize>| {
            let weights = data.weights.map(|_| &*self.weights.part(range.clone()));
            let targets = match data.targets {
                Targets::Classes(_) => Targets::Classes(&*self.classes.part(range)),
                Targets::Values(_) => {
                    Targets::Values(&*self.values.part(range.start * n_out..range.end * n_out))
                }
            };
            (targets, weights)
        };
        // What the batch's mean divides by, summed in batch order by every member alike.
        let total = match data.weights {
            Some(w) => idx.iter().map(|&i| w[i].f64()).sum(),
            None => self.net.loss_kind().total::<T>(rows, n_out, None),
        };
        let x = self.x.matrix(rows, n_in);
        if rows == 1 && team.size() == 1 && self.alpha == 0.0 {
            return self.step_one(x, labels, total, t);
        }
        let (mut loss, finite) = self.net.batch_gradients(
            team,
            &self.params,
            x,
            rows,
            labels,
            total,
            self.alpha,
            &self.ws,
            &self.grads,
            self.block_losses,
        );
        if team.is_leader() {
            // Read before the barrier below, after which the parameters change.
            loss += self.net.l2_penalty(&self.params, self.alpha, total);
        }
        self.finite[team.id()].store(finite, Ordering::Relaxed);
        team.sync();
        if !self.finite[..team.size()]
            .iter()
            .all(|f| f.load(Ordering::Relaxed))
        {
            return (loss, false);
        }
        // Each member updates the weight rows whose gradients it computed; the leader the biases.
        for (l, layer) in self.net.layers().iter().enumerate() {
            let r = team.share(layer.fan_in, ROW_UNIT);
            let span = r.start * layer.fan_out..r.end * layer.fan_out;
            let grad = Grad::Dense(self.grads.weights[l].part(span.clone()));
            self.update(2 * l, t, &self.params.weights[l], grad, span);
            if team.is_leader() {
                self.update_bias(l, t);
            }
        }
        (loss, true)
    }

    /// Updates layer `l`'s bias from its stored gradient.
    unsafe fn update_bias(&self, l: usize, t: u64) {
        let bias = &self.params.biases[l];
        let grad = Grad::Dense(self.grads.biases[l].part(0..bias.len()));
        self.update(2 * l + 1, t, bias, grad, 0..bias.len());
    }

    /// A step on a batch of one row, alone: the weight gradients are outer products that the
    /// update forms row by row instead of storing (a third of the memory traffic). Finiteness
    /// is checked without them: the largest element is `max|a| · max|dz|`.
    unsafe fn step_one(
        &self,
        x: MatRef<'_, T>,
        labels: impl Fn(Range<usize>) -> Labels<'a, T>,
        total: f64,
        t: u64,
    ) -> (f64, bool) {
        let team = Team::solo();
        self.net.deltas(
            &team,
            &self.params,
            x,
            1,
            labels,
            total,
            &self.ws,
            self.block_losses,
        );
        let loss = self.net.batch_loss(1, total, self.block_losses);
        let x = &self.x.read()[..self.net.n_inputs()];
        let mut finite = loss.is_finite() && self.net.bias_gradients(1, &self.ws, &self.grads);
        for l in 0..self.net.layers().len() {
            let (a, dz) = self.net.row_factors(l, x, &self.ws);
            finite &= kernels::all_finite(a) && kernels::all_finite(dz);
            finite &= (kernels::max_abs(a) * kernels::max_abs(dz)).is_finite();
        }
        if !finite {
            return (loss, false);
        }
        for (l, layer) in self.net.layers().iter().enumerate() {
            let (a, dz) = self.net.row_factors(l, x, &self.ws);
            self.update(
                2 * l,
                t,
                &self.params.weights[l],
                Grad::Outer { a, dz },
                0..layer.fan_in * layer.fan_out,
            );
            self.update_bias(l, t);
        }
        (loss, true)
    }

    /// Updates elements `span` of parameter tensor `index` from `grad` (which covers `span`).
    unsafe fn update(
        &self,
        index: usize,
        t: u64,
        param: &Shared<'_, T>,
        grad: Grad<'_, T>,
        span: Range<usize>,
    ) {
        let mut buffers: [&mut [T]; 2] = [&mut [], &mut []];
        let slot = &self.slots[index];
        for (dst, buf) in buffers.iter_mut().zip(slot) {
            *dst = buf.part(span.clone());
        }
        self.config
            .update(t, param.part(span), grad, &mut buffers[..slot.len()]);
    }
}

/// One optimizer step on a batch; leaves the parameters untouched if the loss or a gradient is
/// not finite. Data must have passed `Network::check_data`.
pub fn step<T: Scalar>(
    net: &mut Network<T>,
    config: &OptimizerConfig,
    state: &mut OptimizerState<T>,
    x: &[T],
    rows: usize,
    targets: &Targets<'_, T>,
) -> Result<f64> {
    state.bind(config, net)?;
    let t = state.steps() + 1;
    let members = net.members_for(rows);
    let mut buffers = StepBuffers::new(net, rows);
    let data = Dataset {
        x,
        rows,
        cols: net.n_inputs(),
        targets: *targets,
        weights: None,
    };
    let order: Vec<usize> = (0..rows).collect();
    let stepper = Stepper::new(net, config, state, &mut buffers, 0.0);
    // SAFETY: every member runs the same step.
    let (loss, done) = threads::team(members, |team| unsafe {
        stepper.step(team, &data, &order, t)
    })?;
    drop(stepper);
    if !done {
        return Err(Error::Diverged { at: None, loss });
    }
    state.set_steps(t);
    Ok(loss)
}

/// Trains `net` for `fit.epochs` epochs on a team of threads. Data must have passed
/// `Network::check_data`. Each epoch visits every row once: in the caller's `order` when given
/// (a permutation of the rows: how scikit-learn's estimators shuffle), else in an order drawn
/// from `rng` when shuffling; the last partial batch is used, not dropped. The parameters after
/// each step do not depend on the number of threads.
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Scalar>(
    net: &mut Network<T>,
    config: &OptimizerConfig,
    state: &mut OptimizerState<T>,
    train: &Dataset<'_, T>,
    validation: Option<&Dataset<'_, T>>,
    fit: FitConfig,
    order: Option<&[usize]>,
    rng: &mut Rng,
    hooks: &mut (dyn Hooks + Send),
) -> Result<Vec<EpochReport>> {
    if fit.batch_size == 0 {
        return Err(Error::value(
            "batch_size: expected a positive integer, got 0",
        ));
    }
    let given = order.is_some();
    let mut order = match order {
        Some(o) => check_order(o, train.rows)?,
        None => (0..train.rows).collect(),
    };
    state.bind(config, net)?;
    let first_step = state.steps();
    let batch_rows = fit.batch_size.min(train.rows);
    let members = net.members_for_steps(batch_rows);
    let mut buffers = StepBuffers::new(net, batch_rows);
    let order_view = Shared::new(&mut order);
    let val_blocks = validation.map_or(0, |v| v.rows.div_ceil(EVAL_BLOCK));
    let mut val_sums = vec![(0.0, Some(0)); val_blocks];
    let val_sums = Shared::new(&mut val_sums);
    let stepper = Stepper::new(net, config, state, &mut buffers, fit.alpha);
    let leader = Mutex::new((rng, hooks));
    let halt = AtomicBool::new(false);
    // Steps completed, kept by the leader so an interrupted fit still records them.
    let completed = AtomicU64::new(first_step);

    let outcome = threads::team(members, |team| -> Result<Vec<EpochReport>> {
        let mut eval_ws = validation.map(|v| Workspace::new(&stepper.net, v.rows.min(EVAL_BLOCK)));
        let mut reports = Vec::with_capacity(fit.epochs);
        let mut t = first_step;
        // The leader alone touches the generator, the hooks and the reports.
        let mut lead = team
            .is_leader()
            .then(|| leader.lock().unwrap_or_else(|e| e.into_inner()));
        for epoch in 1..=fit.epochs {
            let started = Instant::now();
            let mut loss_sum = 0.0;
            for (b, start) in (0..train.rows).step_by(batch_rows).enumerate() {
                if let Some((rng, hooks)) = lead.as_deref_mut() {
                    if b == 0 && fit.shuffle && !given {
                        // SAFETY: members read the order only after the barrier below.
                        rng.shuffle(unsafe { order_view.part(0..train.rows) });
                    }
                    if hooks.poll().is_err() {
                        halt.store(true, Ordering::Relaxed);
                    }
                }
                team.sync();
                if halt.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
                // SAFETY: the order is written only before the barrier above.
                let idx =
                    unsafe { &order_view.read()[start..(start + batch_rows).min(train.rows)] };
                t += 1;
                // SAFETY: every member runs the same step.
                let (loss, done) = unsafe { stepper.step(team, train, idx, t) };
                if !done {
                    return Err(Error::Diverged {
                        at: Some((epoch, b + 1)),
                        loss,
                    });
                }
                completed.store(t, Ordering::Relaxed);
                loss_sum += loss * idx.len() as f64;
            }
            team.sync();
            let (val_loss, val_accuracy) = match (validation, eval_ws.as_mut()) {
                (Some(v), Some(ws)) => {
                    // SAFETY: parameters are not written until the next step's barrier.
                    unsafe {
                        stepper
                            .net
                            .evaluate_in(team, &stepper.params, v, ws, val_sums)
                    };
                    team.sync();
                    // SAFETY: every member has written its blocks (barrier above).
                    let (loss, acc) = stepper.net.combine(unsafe { val_sums.read() }, v.rows);
                    (Some(loss), acc)
                }
                _ => (None, None),
            };
            if let Some((_, hooks)) = lead.as_deref_mut() {
                let report = EpochReport {
                    epoch,
                    loss: loss_sum / train.rows as f64,
                    val_loss,
                    val_accuracy,
                    seconds: started.elapsed().as_secs_f64(),
                };
                if hooks.epoch_end(&report).is_err() {
                    halt.store(true, Ordering::Relaxed);
                }
                reports.push(report);
            }
        }
        Ok(reports)
    });
    drop(stepper);
    // Steps that completed before an interruption or divergence count too.
    state.set_steps(completed.load(Ordering::Relaxed));
    outcome?
}

/// The caller's visiting order, checked to be a permutation of `0..rows`.
fn check_order(order: &[usize], rows: usize) -> Result<Vec<usize>> {
    let mut seen = vec![false; rows];
    for &i in order {
        if i >= rows || std::mem::replace(&mut seen[i], true) {
            return Err(Error::value(format!(
                "order: expected a permutation of 0..{rows}; {i} is out of range or repeated"
            )));
        }
    }
    if order.len() != rows {
        return Err(Error::value(format!(
            "order: expected {rows} indices (one per row), got {}",
            order.len()
        )));
    }
    Ok(order.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Init, Loss, NetworkSpec};

    fn xor() -> (Vec<f64>, Vec<i64>) {
        (vec![0., 0., 0., 1., 1., 0., 1., 1.], vec![0, 1, 1, 0])
    }

    #[test]
    fn learns_xor_and_stays_reproducible() {
        let spec = NetworkSpec {
            widths: vec![2, 8, 2],
            activations: vec![Activation::Tanh],
            loss: Loss::CrossEntropy,
            init: Init::Glorot,
            seed: 1,
        };
        let (x, y) = xor();
        let data = Dataset {
            x: &x,
            rows: 4,
            cols: 2,
            targets: Targets::Classes(&y),
            weights: None,
        };
        let config = OptimizerConfig::adam(0.05, (0.9, 0.999), 1e-8, 0.0, false).unwrap();
        let fit_cfg = FitConfig {
            epochs: 300,
            batch_size: 2,
            shuffle: true,
            alpha: 0.0,
        };
        let run = || {
            let mut net = Network::<f64>::new(&spec).unwrap();
            let mut state = OptimizerState::new();
            let reports = fit(
                &mut net,
                &config,
                &mut state,
                &data,
                Some(&data),
                fit_cfg,
                None,
                &mut Rng::new(5, 1),
                &mut NoHooks,
            )
            .unwrap();
            (net, reports)
        };
        let (net, reports) = run();
        assert_eq!(reports.last().unwrap().val_accuracy, Some(1.0));
        assert!(reports.last().unwrap().loss < 0.05);
        let (again, _) = run();
        assert_eq!(net.layers()[0].weight, again.layers()[0].weight);
    }

    #[test]
    fn divergence_keeps_finite_parameters() {
        let spec = NetworkSpec {
            widths: vec![2, 4, 1],
            activations: vec![Activation::Relu],
            loss: Loss::Mse,
            init: Init::He,
            seed: 0,
        };
        let mut net = Network::<f32>::new(&spec).unwrap();
        let x = vec![1e18f32, -1e18, 1e18, 1e18];
        let y = vec![1e18f32, -1e18];
        let data = Dataset {
            x: &x,
            rows: 2,
            cols: 2,
            targets: Targets::Values(&y),
            weights: None,
        };
        let config = OptimizerConfig::sgd(1e6, 0.0, false, 0.0).unwrap();
        let fit_cfg = FitConfig {
            epochs: 50,
            batch_size: 1,
            shuffle: false,
            alpha: 0.0,
        };
        let err = fit(
            &mut net,
            &config,
            &mut OptimizerState::new(),
            &data,
            None,
            fit_cfg,
            None,
            &mut Rng::new(0, 1),
            &mut NoHooks,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Diverged { .. }));
        assert!(net
            .layers()
            .iter()
            .all(|l| l.weight.iter().chain(&l.bias).all(|v| v.is_finite())));
    }
}
