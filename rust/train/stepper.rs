//! One training step on a team: gather the batch, gradients, then the guarded update.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::guard::Guard;
use super::probe::{MemberProbe, ProbeView, Totals};
use super::Clip;
use crate::error::{zeros, Result};
use crate::kernels::{self, Grad, MatRef, Shared};
use crate::layers::Mode;
use crate::losses::Targets;
use crate::network::{
    Dataset, Gradients, GradientsView, Labels, MetricSums, MetricTotals, Network, ParamsView,
    Workspace, WorkspaceView, ROW_UNIT,
};
use crate::optimizers::{OptimizerConfig, OptimizerState, Peaks, MAX_BUFFERS};
use crate::scalar::Scalar;
use crate::threads::Team;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The update was applied.
    Done,
    /// The loss, a gradient or an updated value was not finite; nothing changed.
    NonFinite,
    /// The checked path could not allocate its backup; nothing changed.
    OutOfMemory,
}

/// The buffers behind a [`Stepper`], for batches of up to `rows` samples.
pub(super) struct StepBuffers<T> {
    ws: Workspace<T>,
    grads: Gradients<T>,
    x: Vec<T>,
    classes: Vec<i64>,
    values: Vec<T>,
    weights: Vec<T>,
    block_losses: Vec<f64>,
    block_metrics: Vec<f64>,
}

impl<T: Scalar> StepBuffers<T> {
    pub(super) fn new(net: &Network<T>, rows: usize) -> Result<Self> {
        let what = "a training batch";
        Ok(StepBuffers {
            ws: Workspace::new(net, rows)?,
            grads: net.zero_gradients()?,
            x: zeros(rows.checked_mul(net.n_inputs()), what)?,
            classes: zeros(Some(rows), what)?,
            values: zeros(rows.checked_mul(net.n_outputs()), what)?,
            weights: zeros(Some(rows), what)?,
            block_losses: zeros(Some(rows.div_ceil(ROW_UNIT)), what)?,
            block_metrics: zeros(
                rows.div_ceil(ROW_UNIT)
                    .checked_mul(MetricSums::width(net.n_outputs())),
                what,
            )?,
        })
    }
}

/// One parameter tensor as a team sees it: the values, their gradient, the optimizer's state.
struct Tensor<'a, T> {
    param: Shared<'a, T>,
    grad: Shared<'a, T>,
    state: Vec<Shared<'a, T>>,
}

/// A span of a parameter and the same span of each of its state buffers (parameter first).
pub(super) struct Values<'a, T> {
    parts: [&'a mut [T]; 1 + MAX_BUFFERS],
    len: usize,
}

impl<'a, T> Values<'a, T> {
    pub(super) fn all(&mut self) -> &mut [&'a mut [T]] {
        &mut self.parts[..self.len]
    }
}

/// Bounds of one member's parameters and state, as f64 bits, for the others to read.
#[derive(Default)]
struct PeakNote {
    param: AtomicU64,
    state: [AtomicU64; MAX_BUFFERS],
}

impl PeakNote {
    fn publish(&self, p: Peaks) {
        self.param.store(p.param.to_bits(), Ordering::Relaxed);
        for (note, s) in self.state.iter().zip(p.state) {
            note.store(s.to_bits(), Ordering::Relaxed);
        }
    }

    fn read(&self) -> Peaks {
        let load = |x: &AtomicU64| f64::from_bits(x.load(Ordering::Relaxed));
        Peaks {
            param: load(&self.param),
            state: std::array::from_fn(|i| load(&self.state[i])),
        }
    }
}

/// What each member tells the others at a step's barriers. Each barrier has its own fields,
/// so a fast member writing the next one never changes what a slow member still reads.
#[derive(Default)]
struct MemberNote {
    /// Largest gradient magnitude (f64 bits; infinite if anything was not finite).
    grad: AtomicU64,
    /// Bounds of what this member owns; whether they were carried forward (not measured).
    peaks: PeakNote,
    loose: AtomicBool,
    /// The same, measured, when the carried bounds did not prove the update safe.
    measured: PeakNote,
    /// The checked path: the backup was made; the update wrote finite values.
    saved: AtomicBool,
    finite: AtomicBool,
}

/// Everything a team needs for training steps: buffers allocated once per fit (none per
/// step) and shared views of them. Members write disjoint rows, separated by barriers.
pub(super) struct Stepper<'a, T> {
    /// The architecture; the parameters are reached only through `tensors`.
    pub(super) net: Network<T>,
    pub(super) params: ParamsView<'a, T>,
    /// Per parameter tensor (the network's order): the parameter, its gradient, its state.
    tensors: Vec<Tensor<'a, T>>,
    ws: WorkspaceView<'a, T>,
    grads: GradientsView<'a, T>,
    x: Shared<'a, T>,
    classes: Shared<'a, i64>,
    values: Shared<'a, T>,
    weights: Shared<'a, T>,
    block_losses: Shared<'a, f64>,
    block_metrics: Shared<'a, f64>,
    alpha: f64,
    clip: Option<Clip>,
    /// The diagnostics' shared buffers, when the fit records them or clips by norm.
    pub(super) probe: Option<ProbeView<'a>>,
    /// One per possible member (the pool's size).
    notes: Vec<MemberNote>,
}

/// What the leader adds up over an epoch, step by step.
pub(super) struct Leader<'t> {
    pub(super) metrics: &'t mut MetricTotals,
    pub(super) probe: Option<Totals<'t>>,
}

impl<'a, T: Scalar> Stepper<'a, T> {
    /// Splits `net` into what members read (its shape) and what they update (its parameters),
    /// for teams of up to `max_members`.
    pub(super) fn new(
        net: &'a mut Network<T>,
        state: &'a mut OptimizerState<T>,
        buffers: &'a mut StepBuffers<T>,
        (alpha, clip): (f64, Option<Clip>),
        probe: Option<ProbeView<'a>>,
        max_members: usize,
    ) -> Self {
        let shape = net.shape_only();
        let params = net.params_mut();
        let grads = buffers.grads.view();
        let mut slots = state.slots_view().into_iter();
        let tensors = params
            .params
            .iter()
            .zip(&grads.tensors)
            .map(|(&param, &grad)| Tensor {
                param,
                grad,
                state: slots.next().unwrap_or_default(),
            })
            .collect();
        Stepper {
            net: shape,
            params,
            tensors,
            ws: buffers.ws.view(),
            grads,
            x: Shared::new(&mut buffers.x),
            classes: Shared::new(&mut buffers.classes),
            values: Shared::new(&mut buffers.values),
            weights: Shared::new(&mut buffers.weights),
            block_losses: Shared::new(&mut buffers.block_losses),
            block_metrics: Shared::new(&mut buffers.block_metrics),
            alpha,
            clip,
            probe,
            notes: (0..max_members.max(1))
                .map(|_| MemberNote::default())
                .collect(),
        }
    }

    /// The spans of each parameter tensor `team`'s member owns: its rows of every Dense weight
    /// (those whose gradient rows it computes), and every other tensor for the leader.
    pub(super) fn owned(&self, team: &Team<'_>) -> Vec<(usize, Range<usize>)> {
        let mut spans = Vec::with_capacity(self.tensors.len());
        let dense: Vec<_> = self.net.dense_layers().collect();
        for (index, info) in self.net.param_info().iter().enumerate() {
            match dense.iter().find(|d| d.weight == index) {
                Some(d) => {
                    let r = team.share(d.fan_in, ROW_UNIT);
                    spans.push((index, r.start * d.fan_out..r.end * d.fan_out));
                }
                None if team.is_leader() => spans.push((index, 0..info.len())),
                None => {}
            }
        }
        spans
    }

    /// The parameter tensor `index` and its state buffers (parameter first), elements `span`,
    /// for writing.
    ///
    /// # Safety
    /// Only the member owning `span` may call this, between the barriers of an update.
    pub(super) unsafe fn values(&self, index: usize, span: Range<usize>) -> Values<'a, T> {
        let tensor = &self.tensors[index];
        let mut parts: [&'a mut [T]; 1 + MAX_BUFFERS] = Default::default();
        let mut len = 0;
        for (dst, src) in parts
            .iter_mut()
            .zip(std::iter::once(&tensor.param).chain(&tensor.state))
        {
            *dst = src.part(span.clone());
            len += 1;
        }
        Values { parts, len }
    }

    /// One step on rows `idx` of `data` as step number `t` (1-based) of the optimizer and
    /// training step `mask_step` of the network (its dropout masks): gather, gradients, then —
    /// only if everything is finite and stays so — the update, and the leader's update of the
    /// running statistics. Returns the batch's mean loss (on the leader) and how the step ended.
    ///
    /// # Safety
    /// Every member of `team` must call this with the same arguments (and its own `guard`,
    /// made by [`Guard::new`] for this stepper and team, and its own `member` probe when the
    /// stepper has a probe); `leader` is the leader's, None on the others.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn step(
        &self,
        team: &Team<'_>,
        data: &Dataset<'_, T>,
        idx: &[usize],
        (t, mask_step): (u64, u64),
        config: &OptimizerConfig,
        guard: &mut Guard<T>,
        member: Option<&mut MemberProbe>,
        leader: Option<&mut Leader<'_>>,
    ) -> (f64, Outcome) {
        let rows = idx.len();
        let (n_in, n_out) = (data.cols, self.net.n_outputs());
        for r in team.share(rows, ROW_UNIT) {
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
        let weight_sum = data.weights.map(|w| idx.iter().map(|&i| w[i].f64()).sum());
        let total = self.net.loss_kind().total_of(rows, n_out, weight_sum);
        let x = self.x.matrix(rows, n_in);
        let mode = self.net.train_mode(mask_step);
        let plain = self.clip.is_none() && self.probe.is_none();
        let (loss, outcome) = if rows == 1 && team.size() == 1 && self.alpha == 0.0 && plain {
            let done = self.step_one(x, labels, total, t, config, mode, guard);
            self.score(team, rows, &labels);
            done
        } else {
            let (mut loss, grad_peak) = self.net.batch_gradients(
                team,
                &self.params,
                x,
                rows,
                labels,
                total,
                self.alpha,
                mode,
                &self.ws,
                &self.grads,
                self.block_losses,
            );
            if team.is_leader() {
                // Read before the barrier below, after which the parameters change.
                loss += self.net.l2_penalty(&self.params, self.alpha, total);
            }
            // Written before the update's first barrier, read by the leader after it.
            self.score(team, rows, &labels);
            if let (Some(probe), Some(m)) = (&self.probe, member) {
                if probe.record {
                    probe.watch(team.share(rows, ROW_UNIT), |l| self.ws.io[l].out, m);
                }
            }
            let dense =
                |index: usize, span: Range<usize>| Grad::Dense(self.tensors[index].grad.part(span));
            let outcome = self.update(team, t, config, grad_peak, guard, dense);
            (loss, outcome)
        };
        if outcome == Outcome::Done {
            let record = self.probe.as_ref().filter(|p| p.record);
            if record.is_some() {
                team.sync(); // every member's change sums written
            }
            if let Some(lead) = leader {
                let blocks = rows.div_ceil(ROW_UNIT) * MetricSums::width(self.net.n_outputs());
                lead.metrics.add(&self.block_metrics.read()[..blocks], rows);
                if let (Some(view), Some(totals)) = (record, lead.probe.as_mut()) {
                    totals.add_step(view, rows);
                }
            }
            if team.is_leader() {
                // No member reads the running statistics or writes the batch's before the
                // barrier that starts the next step.
                self.net.update_running(rows, &self.params, &self.ws);
            }
        }
        (loss, outcome)
    }

    /// This member's rows of the batch scored for the epoch's metrics ([`MetricSums`] per
    /// block of [`ROW_UNIT`] rows), from the logits the forward pass left.
    ///
    /// # Safety
    /// After this member's forward pass; the leader reads the blocks after a barrier.
    unsafe fn score<'t>(
        &self,
        team: &Team<'_>,
        rows: usize,
        labels: &impl Fn(Range<usize>) -> Labels<'t, T>,
    ) {
        let n_out = self.net.n_outputs();
        let width = MetricSums::width(n_out);
        let logits = self.ws.io[self.net.layers().len() - 1].out;
        let mine = team.share(rows, ROW_UNIT);
        for start in mine.clone().step_by(ROW_UNIT) {
            let end = (start + ROW_UNIT).min(mine.end);
            let (targets, _) = labels(start..end);
            let b = start / ROW_UNIT;
            MetricSums::block(
                self.net.loss_kind(),
                &logits.read()[start * n_out..end * n_out],
                n_out,
                &targets,
                self.block_metrics.part(b * width..(b + 1) * width),
            );
        }
    }

    /// A step on a batch of one row, alone: the weight gradients are outer products that the
    /// update forms row by row instead of storing (a third of the memory traffic). Their
    /// largest element is at most `max|a| · max|dz|`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn step_one(
        &self,
        x: MatRef<'_, T>,
        labels: impl Fn(Range<usize>) -> Labels<'a, T>,
        total: f64,
        t: u64,
        config: &OptimizerConfig,
        mode: Mode,
        guard: &mut Guard<T>,
    ) -> (f64, Outcome) {
        let team = Team::solo();
        let pass = self.net.deltas(
            &team,
            &self.params,
            x,
            1,
            labels,
            total,
            mode,
            &self.ws,
            self.block_losses,
        );
        self.net
            .backward(&pass, &self.params, x, &self.ws, &self.grads);
        let loss = self.net.batch_loss(1, total, self.block_losses);
        let mut peak = self.net.vector_gradients(1, &self.ws, &self.grads);
        for index in 0..self.tensors.len() {
            if let Some((a, dz)) = self.net.row_factors(index, x, &self.ws) {
                let outer = kernels::finite_max_abs(a) * kernels::finite_max_abs(dz);
                peak = peak.max(outer);
            }
        }
        if !loss.is_finite() {
            peak = f64::INFINITY;
        }
        let grad = |index: usize, span: Range<usize>| match self.net.row_factors(index, x, &self.ws)
        {
            Some((a, dz)) => Grad::Outer { a, dz },
            None => Grad::Dense(self.tensors[index].grad.part(span)),
        };
        let outcome = self.update(&team, t, config, peak, guard, grad);
        (loss, outcome)
    }

    /// The update of every span this member owns from `grad(index, span)`, once every
    /// member's gradients are known finite: unchecked when [`OptimizerConfig::update_bounds`]
    /// proves it stays finite (from the bounds the last step left, or failing that from a
    /// measurement), else checked against a backup and undone if it does not. Every member
    /// takes the same branches: each decision depends only on what all members published.
    #[allow(clippy::too_many_arguments)]
    unsafe fn update<'g>(
        &self,
        team: &Team<'_>,
        t: u64,
        config: &OptimizerConfig,
        grad_peak: f64,
        guard: &mut Guard<T>,
        grad: impl Fn(usize, Range<usize>) -> Grad<'g, T>,
    ) -> Outcome {
        let note = &self.notes[team.id()];
        note.grad.store(grad_peak.to_bits(), Ordering::Relaxed);
        note.peaks.publish(guard.peaks);
        note.loose.store(guard.loose, Ordering::Relaxed);
        team.sync();
        let notes = &self.notes[..team.size()];
        let grad_peak = notes
            .iter()
            .map(|n| f64::from_bits(n.grad.load(Ordering::Relaxed)))
            .fold(0.0, f64::max);
        if !grad_peak.is_finite() {
            return Outcome::NonFinite;
        }
        let grad_peak = self.condition(team, &guard.owned, grad_peak);
        let combine = |read: fn(&MemberNote) -> Peaks| {
            notes.iter().fold(Peaks::ZERO, |acc, n| acc.max(read(n)))
        };
        let mut bounds = config.update_bounds::<T>(t, grad_peak, combine(|n| n.peaks.read()));
        if bounds.is_none() && notes.iter().any(|n| n.loose.load(Ordering::Relaxed)) {
            // Bounds carried from step to step grow loose: measure, then try again.
            guard.measure(self);
            note.measured.publish(guard.peaks);
            team.sync();
            bounds = config.update_bounds::<T>(t, grad_peak, combine(|n| n.measured.read()));
        }
        if let Some(bounds) = bounds {
            self.apply(&guard.owned, t, config, &grad);
            guard.peaks = bounds;
            guard.loose = true;
            return Outcome::Done;
        }
        // The checked path: rare (values near the overflow threshold, an infinite rate).
        note.saved
            .store(guard.save(self).is_ok(), Ordering::Relaxed);
        team.sync();
        if !notes.iter().all(|n| n.saved.load(Ordering::Relaxed)) {
            return Outcome::OutOfMemory;
        }
        self.apply(&guard.owned, t, config, &grad);
        note.finite.store(guard.all_finite(self), Ordering::Relaxed);
        team.sync();
        if notes.iter().all(|n| n.finite.load(Ordering::Relaxed)) {
            guard.measure(self);
            Outcome::Done
        } else {
            guard.restore(self);
            Outcome::NonFinite
        }
    }

    /// Before the update, on finite gradients: every block's `Σg²` when the stepper has a
    /// probe (diagnostics, clipping by norm), then the clipping. Returns a bound of the
    /// gradients' magnitudes after it.
    ///
    /// # Safety
    /// Every member calls this alike with its own spans, after the gradients' barrier.
    unsafe fn condition(&self, team: &Team<'_>, owned: &[(usize, Range<usize>)], peak: f64) -> f64 {
        // Without clipping, a recording `apply` sums the gradients itself, block by block.
        if let (Some(view), Some(_)) = (&self.probe, self.clip) {
            for (index, span) in owned {
                for (b, sub) in view.blocks.of(*index, span.clone()) {
                    let g = &*self.tensors[*index].grad.part(sub);
                    view.grad_sq.part(b..b + 1)[0] = kernels::squares(g);
                }
            }
        }
        let each = |f: &dyn Fn(&mut T)| {
            for (index, span) in owned {
                self.tensors[*index]
                    .grad
                    .part(span.clone())
                    .iter_mut()
                    .for_each(f);
            }
        };
        match (self.clip, &self.probe) {
            (Some(Clip::Norm(max)), Some(view)) => {
                team.sync(); // every block's sum written
                let norm = view.grad_sq.read().iter().sum::<f64>().sqrt();
                // torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when below 1.
                let coef = max / (norm + 1e-6);
                if coef < 1.0 {
                    let c = T::of(coef);
                    each(&|g| *g = *g * c);
                }
                peak
            }
            (Some(Clip::Value(v)), _) => {
                let (hi, lo) = (T::of(v), T::of(-v));
                each(&|g| *g = g.max(lo).min(hi));
                peak.min(T::of(v).f64())
            }
            _ => peak,
        }
    }

    /// Applies the optimizer to `owned`; with a recording probe, the kernel summing each
    /// block's update as it goes.
    unsafe fn apply<'g>(
        &self,
        owned: &[(usize, Range<usize>)],
        t: u64,
        config: &OptimizerConfig,
        grad: &impl Fn(usize, Range<usize>) -> Grad<'g, T>,
    ) {
        if let Some(view) = self.probe.as_ref().filter(|p| p.record) {
            for (index, span) in owned {
                let mut values = self.values(*index, span.clone());
                if let Some((param, state)) = values.all().split_first_mut() {
                    let (first, block) = view.blocks.start(*index, span);
                    let count = span.len().div_ceil(block.max(1));
                    let sums = view.update.part(3 * first..3 * (first + count));
                    let grad = &*self.tensors[*index].grad.part(span.clone());
                    config.update(t, param, Grad::Watched { grad, block, sums }, state);
                    // With clipping, `condition` summed the gradients before clipping.
                    if self.clip.is_none() {
                        let grad_sq = view.grad_sq.part(first..first + count);
                        for (g, slots) in grad_sq.iter_mut().zip(sums.chunks_exact(3)) {
                            *g = slots[2];
                        }
                    }
                }
            }
            return;
        }
        for (index, span) in owned {
            let mut values = self.values(*index, span.clone());
            if let Some((param, state)) = values.all().split_first_mut() {
                config.update(t, param, grad(*index, span.clone()), state);
            }
        }
    }
}
