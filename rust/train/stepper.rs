//! One training step on a team: gather the batch, gradients, then the guarded update.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::guard::Guard;
use crate::error::{filled, Result};
use crate::kernels::{self, Grad, MatRef, Peaks, Shared};
use crate::losses::Targets;
use crate::network::{
    Dataset, Gradients, GradientsView, Labels, Network, ParamsView, Workspace, WorkspaceView,
    ROW_UNIT,
};
use crate::optimizers::{OptimizerConfig, OptimizerState};
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
}

impl<T: Scalar> StepBuffers<T> {
    pub(super) fn new(net: &Network<T>, rows: usize) -> Result<Self> {
        let what = "a training batch";
        Ok(StepBuffers {
            ws: Workspace::new(net, rows)?,
            grads: net.zero_gradients()?,
            x: filled(rows.checked_mul(net.n_inputs()), T::zero(), what)?,
            classes: filled(Some(rows), 0, what)?,
            values: filled(rows.checked_mul(net.n_outputs()), T::zero(), what)?,
            weights: filled(Some(rows), T::zero(), what)?,
            block_losses: filled(Some(rows.div_ceil(ROW_UNIT)), 0.0, what)?,
        })
    }
}

/// One parameter tensor as a team sees it: the values, their gradient, the optimizer's state.
struct Tensor<'a, T> {
    param: Shared<'a, T>,
    grad: Shared<'a, T>,
    state: Vec<Shared<'a, T>>,
}

/// What each member tells the others at a step's barriers.
#[derive(Default)]
struct MemberNote {
    /// Largest gradient magnitude (f64 bits; infinite if anything was not finite).
    grad: AtomicU64,
    /// Largest parameter and state magnitudes this member owns (f64 bits).
    peaks: [AtomicU64; 3],
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
    /// Per parameter tensor (W0, b0, W1, b1, …): the parameter, its gradient, its state.
    tensors: Vec<Tensor<'a, T>>,
    config: &'a OptimizerConfig,
    ws: WorkspaceView<'a, T>,
    grads: GradientsView<'a, T>,
    x: Shared<'a, T>,
    classes: Shared<'a, i64>,
    values: Shared<'a, T>,
    weights: Shared<'a, T>,
    block_losses: Shared<'a, f64>,
    alpha: f64,
    /// One per possible member (the pool's size).
    notes: Vec<MemberNote>,
}

impl<'a, T: Scalar> Stepper<'a, T> {
    /// Splits `net` into what members read (its shape) and what they update (its parameters),
    /// for teams of up to `max_members`.
    pub(super) fn new(
        net: &'a mut Network<T>,
        config: &'a OptimizerConfig,
        state: &'a mut OptimizerState<T>,
        buffers: &'a mut StepBuffers<T>,
        alpha: f64,
        max_members: usize,
    ) -> Self {
        let shape = net.shape_only();
        let params = net.params_mut();
        let grads = buffers.grads.view();
        let mut slots = state.slots_view().into_iter();
        let mut tensors = Vec::new();
        for l in 0..params.weights.len() {
            for (param, grad) in [
                (params.weights[l], grads.weights[l]),
                (params.biases[l], grads.biases[l]),
            ] {
                let state = slots.next().unwrap_or_default();
                tensors.push(Tensor { param, grad, state });
            }
        }
        Stepper {
            net: shape,
            params,
            tensors,
            config,
            ws: buffers.ws.view(),
            grads,
            x: Shared::new(&mut buffers.x),
            classes: Shared::new(&mut buffers.classes),
            values: Shared::new(&mut buffers.values),
            weights: Shared::new(&mut buffers.weights),
            block_losses: Shared::new(&mut buffers.block_losses),
            alpha,
            notes: (0..max_members.max(1))
                .map(|_| MemberNote::default())
                .collect(),
        }
    }

    /// The spans of each parameter tensor `team`'s member owns: its rows of every weight
    /// (those whose gradient rows it computes), and every bias for the leader.
    pub(super) fn owned(&self, team: &Team<'_>) -> Vec<(usize, Range<usize>)> {
        let mut spans = Vec::with_capacity(self.tensors.len());
        for (l, layer) in self.net.layers().iter().enumerate() {
            let r = team.share(layer.fan_in, ROW_UNIT);
            spans.push((2 * l, r.start * layer.fan_out..r.end * layer.fan_out));
            if team.is_leader() {
                spans.push((2 * l + 1, 0..layer.fan_out));
            }
        }
        spans
    }

    /// The parameter tensor `index` and its state buffers, elements `span`, for writing.
    ///
    /// # Safety
    /// Only the member owning `span` may call this, between the barriers of an update.
    pub(super) unsafe fn values(&self, index: usize, span: Range<usize>) -> Vec<&'a mut [T]> {
        let tensor = &self.tensors[index];
        std::iter::once(&tensor.param)
            .chain(&tensor.state)
            .map(|b| b.part(span.clone()))
            .collect()
    }

    /// One step on rows `idx` of `data` as step number `t` (1-based) of the optimizer: gather,
    /// gradients, then — only if everything is finite and stays so — the update. Returns the
    /// batch's mean loss (on the leader) and how the step ended.
    ///
    /// # Safety
    /// Every member of `team` must call this with the same arguments (and its own `guard`,
    /// made by [`Guard::new`] for this stepper and team).
    pub(super) unsafe fn step(
        &self,
        team: &Team<'_>,
        data: &Dataset<'_, T>,
        idx: &[usize],
        t: u64,
        guard: &mut Guard<T>,
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
        let total = match data.weights {
            Some(w) => idx.iter().map(|&i| w[i].f64()).sum(),
            None => self.net.loss_kind().total::<T>(rows, n_out, None),
        };
        let x = self.x.matrix(rows, n_in);
        if rows == 1 && team.size() == 1 && self.alpha == 0.0 {
            return self.step_one(x, labels, total, t, guard);
        }
        let (mut loss, grad_peak) = self.net.batch_gradients(
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
        let dense =
            |index: usize, span: Range<usize>| Grad::Dense(self.tensors[index].grad.part(span));
        let outcome = self.update(team, t, grad_peak, guard, dense);
        (loss, outcome)
    }

    /// A step on a batch of one row, alone: the weight gradients are outer products that the
    /// update forms row by row instead of storing (a third of the memory traffic). Their
    /// largest element is at most `max|a| · max|dz|`.
    unsafe fn step_one(
        &self,
        x: MatRef<'_, T>,
        labels: impl Fn(Range<usize>) -> Labels<'a, T>,
        total: f64,
        t: u64,
        guard: &mut Guard<T>,
    ) -> (f64, Outcome) {
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
        let mut peak = self.net.bias_gradients(1, &self.ws, &self.grads);
        for l in 0..self.net.layers().len() {
            let (a, dz) = self.net.row_factors(l, x, &self.ws);
            let outer = kernels::finite_max_abs(a).f64() * kernels::finite_max_abs(dz).f64();
            peak = peak.max(outer);
        }
        if !loss.is_finite() {
            peak = f64::INFINITY;
        }
        let grad = |index: usize, span: Range<usize>| {
            if index % 2 == 1 {
                return Grad::Dense(self.tensors[index].grad.part(span));
            }
            let (a, dz) = self.net.row_factors(index / 2, x, &self.ws);
            Grad::Outer { a, dz }
        };
        // Plain SGD skips rows of zero inputs, which the update's peaks then miss: keep the
        // earlier peaks as a bound for them.
        let before = guard.peaks;
        let outcome = self.update(&team, t, peak, guard, grad);
        guard.peaks = guard.peaks.max(before);
        (loss, outcome)
    }

    /// The update of every span this member owns from `grad(index, span)`, once every
    /// member's gradients are known finite: unchecked when [`OptimizerConfig::update_is_safe`]
    /// proves it stays finite, else checked against a backup and undone if it does not.
    unsafe fn update<'g>(
        &self,
        team: &Team<'_>,
        t: u64,
        grad_peak: f64,
        guard: &mut Guard<T>,
        grad: impl Fn(usize, Range<usize>) -> Grad<'g, T>,
    ) -> Outcome {
        let note = &self.notes[team.id()];
        note.grad.store(grad_peak.to_bits(), Ordering::Relaxed);
        let [p, s0, s1] = &note.peaks;
        p.store(guard.peaks.param.to_bits(), Ordering::Relaxed);
        s0.store(guard.peaks.state[0].to_bits(), Ordering::Relaxed);
        s1.store(guard.peaks.state[1].to_bits(), Ordering::Relaxed);
        team.sync();
        let notes = &self.notes[..team.size()];
        let load = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        let grad_peak = notes.iter().map(|n| load(&n.grad)).fold(0.0, f64::max);
        if !grad_peak.is_finite() {
            return Outcome::NonFinite;
        }
        let before = notes.iter().fold(Peaks::zero(), |acc, n| {
            acc.max(Peaks {
                param: load(&n.peaks[0]),
                state: [load(&n.peaks[1]), load(&n.peaks[2])],
            })
        });
        let owned = self.owned(team);
        if self.config.update_is_safe::<T>(t, grad_peak, before) {
            guard.peaks = self.apply(&owned, t, &grad);
            return Outcome::Done;
        }
        // The checked path: rare (values near the overflow threshold, an infinite rate).
        note.saved
            .store(guard.save(self, &owned).is_ok(), Ordering::Relaxed);
        team.sync();
        if !notes.iter().all(|n| n.saved.load(Ordering::Relaxed)) {
            return Outcome::OutOfMemory;
        }
        let peaks = self.apply(&owned, t, &grad);
        note.finite
            .store(guard.all_finite(self, &owned), Ordering::Relaxed);
        team.sync();
        if notes.iter().all(|n| n.finite.load(Ordering::Relaxed)) {
            guard.peaks = peaks;
            Outcome::Done
        } else {
            guard.restore(self, &owned);
            Outcome::NonFinite
        }
    }

    /// Applies the optimizer to `owned`; returns the largest magnitudes written.
    unsafe fn apply<'g>(
        &self,
        owned: &[(usize, Range<usize>)],
        t: u64,
        grad: &impl Fn(usize, Range<usize>) -> Grad<'g, T>,
    ) -> Peaks<f64> {
        let mut peaks = Peaks::zero();
        for (index, span) in owned {
            let mut values = self.values(*index, span.clone());
            let Some((param, state)) = values.split_first_mut() else {
                continue;
            };
            let p = self
                .config
                .update(t, param, grad(*index, span.clone()), state);
            peaks = peaks.max(Peaks {
                param: p.param.f64(),
                state: [p.state[0].f64(), p.state[1].f64()],
            });
        }
        peaks
    }
}
