//! The mini-batch training loop: shuffle, gather, forward, loss, backward, update.
//!
//! A [`Trainer`] holds what one `fit` needs across epochs (buffers, the visiting order, the
//! thread pool it started on) and runs one epoch per call, so its driver can hand control
//! back between epochs (callbacks, schedules, saving) with the network in a consistent state.

mod guard;
mod probe;
mod settings;
mod stepper;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use self::guard::Guard;
pub use self::probe::{LayerReport, SATURATED_DERIVATIVE, SATURATED_ROWS};
use self::probe::{MemberProbe, Probe};
pub use self::settings::{Clip, EpochReport, FitConfig, Hooks, NoHooks};
use self::stepper::{Leader, Outcome, StepBuffers, Stepper};
use crate::error::{filled, zeros, Error, Result};
use crate::losses::Targets;
use crate::network::{MetricSums, MetricTotals, Network, TensorInfo, Workspace, EVAL_BLOCK};
use crate::optimizers::{OptimizerConfig, OptimizerState};
use crate::rng::Rng;
use crate::scalar::Scalar;
use crate::schedules::{Schedule, ScheduleState};
use crate::threads::{self, Pool};

pub use crate::network::Dataset;

/// What one member's epoch returns: the summed training loss and, for validation data, the
/// mean loss and accuracy.
type EpochSums = (f64, Option<(f64, Option<f64>)>);

/// One `fit` in progress: everything that lives from one epoch to the next.
pub struct Trainer<T> {
    settings: FitConfig,
    /// The pool the fit started on (None when it runs on the calling thread alone).
    pool: Option<Arc<Pool>>,
    members: usize,
    batch_rows: usize,
    /// The parameters' shapes, which must not change between epochs.
    shapes: Vec<TensorInfo>,
    buffers: StepBuffers<T>,
    order: Vec<usize>,
    order_given: bool,
    val_sums: Vec<(f64, Option<usize>)>,
    val_metric_sums: Vec<f64>,
    metrics: MetricTotals,
    val_metrics: Option<MetricTotals>,
    probe: Option<Probe>,
    /// The learning-rate schedule and its state (carried across epochs and fits).
    schedule: Option<(Schedule, ScheduleState)>,
    epochs_done: usize,
}

impl<T: Scalar> Trainer<T> {
    /// Checks the data and settings and allocates the buffers. `order` (a permutation of the
    /// rows: how scikit-learn's estimators shuffle) fixes every epoch's visiting order.
    pub fn new(
        net: &Network<T>,
        train: &Dataset<'_, T>,
        validation: Option<&Dataset<'_, T>>,
        settings: FitConfig,
        order: Option<&[usize]>,
    ) -> Result<Self> {
        crate::network::check_alpha(settings.alpha)?;
        if settings.batch_size == 0 {
            return Err(Error::value(
                "batch_size: expected a positive integer, got 0",
            ));
        }
        if settings.inputs_checked {
            net.check_shape(train.rows, train.cols)?;
            net.check_inputs_shape(train.x, train.rows, train.cols)?;
            net.loss_kind()
                .validate(&train.targets, train.rows, net.n_outputs())?;
        } else {
            net.check_data(train.x, train.rows, train.cols, &train.targets)?;
        }
        net.check_weights(train.weights, train.rows, "sample_weight")?;
        if let Some(v) = validation {
            net.check_data(v.x, v.rows, v.cols, &v.targets)
                .map_err(|e| Error::value(format!("validation_data: {e}")))?;
        }
        let order_given = order.is_some();
        let order = match order {
            Some(o) => check_order(o, train.rows)?,
            None => {
                let mut o = zeros(Some(train.rows), "the visiting order")?;
                o.iter_mut().enumerate().for_each(|(i, v)| *v = i);
                o
            }
        };
        let batch_rows = settings.batch_size.min(train.rows);
        if net.has_batch_norm() {
            let last = match train.rows % batch_rows {
                0 => batch_rows,
                r => r,
            };
            if last < 2 {
                return Err(Error::value(format!(
                    "batch_size: BatchNorm expected more than 1 value per channel when \
                     training; {} rows in batches of {} leave a batch of 1 row",
                    train.rows, settings.batch_size
                )));
            }
        }
        let members = net.members_for_steps(batch_rows);
        let pool = if members > 1 {
            Some(threads::current()?)
        } else {
            None
        };
        let val_blocks = validation.map_or(0, |v| v.rows.div_ceil(EVAL_BLOCK));
        let clip = settings.clip.map(Clip::checked).transpose()?;
        let probe = (settings.diagnostics || matches!(clip, Some(Clip::Norm(_))))
            .then(|| Probe::new(net, batch_rows, settings.diagnostics))
            .transpose()?;
        let width = MetricSums::width(net.n_outputs());
        Ok(Trainer {
            settings,
            pool,
            members,
            batch_rows,
            shapes: net.param_info().to_vec(),
            buffers: StepBuffers::new(net, batch_rows)?,
            order,
            order_given,
            val_sums: filled(Some(val_blocks), (0.0, Some(0)), "validation sums")?,
            val_metric_sums: zeros(val_blocks.checked_mul(width), "validation sums")?,
            metrics: MetricTotals::new(net, &train.targets, train.rows),
            val_metrics: validation.map(|v| MetricTotals::new(net, &v.targets, v.rows)),
            probe,
            schedule: None,
            epochs_done: 0,
        })
    }

    /// Adds a learning-rate schedule (in `state`, continued from earlier fits) for the
    /// `settings.epochs` epochs of this fit with `config`'s optimizer; checks that what it
    /// monitors is measured. [`Self::schedule_state`] gives the state back afterwards.
    pub fn with_schedule(
        mut self,
        schedule: Schedule,
        mut state: ScheduleState,
        config: &OptimizerConfig,
        has_validation: bool,
    ) -> Result<Self> {
        if let Some(name) = schedule.monitor() {
            let metric = name.strip_prefix("val_").unwrap_or(name);
            let measured = match metric {
                "loss" => true,
                "accuracy" => self.metrics.metrics().accuracy.is_some(),
                _ => self.metrics.metrics().mae.is_some(),
            };
            if !measured {
                return Err(Error::value(format!(
                    "schedule: ReduceLROnPlateau monitors {name:?}, which this loss does not \
                     measure"
                )));
            }
            if name.starts_with("val_") && !has_validation {
                return Err(Error::value(format!(
                    "schedule: ReduceLROnPlateau monitors {name:?} but fit has no validation \
                     data; pass validation_data or monitor='{metric}'"
                )));
            }
        }
        let steps = self.order.len().div_ceil(self.batch_rows);
        schedule.begin(&mut state, config, self.settings.epochs, steps)?;
        self.schedule = Some((schedule, state));
        Ok(self)
    }

    /// The schedule's state now (None without a schedule).
    pub fn schedule_state(&self) -> Option<&ScheduleState> {
        self.schedule.as_ref().map(|(_, s)| s)
    }

    /// Epochs completed so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Runs the next epoch on a team of threads: each row visited once, in the caller's order,
    /// in an order drawn from `rng` when shuffling, or in row order; the last partial batch is
    /// used. `train` and `validation` must be those given to [`Self::new`], `net` the same
    /// network (its parameters may have been changed in between). The parameters after each
    /// step do not depend on the number of threads. A step whose loss, gradients or update
    /// are not finite stops the epoch with [`Error::Diverged`], leaving the parameters and
    /// `state` exactly as before that step.
    #[allow(clippy::too_many_arguments)]
    pub fn epoch(
        &mut self,
        net: &mut Network<T>,
        config: &OptimizerConfig,
        state: &mut OptimizerState<T>,
        train: &Dataset<'_, T>,
        validation: Option<&Dataset<'_, T>>,
        rng: &mut Rng,
        hooks: &mut (dyn Hooks + Send),
    ) -> Result<EpochReport> {
        if net.param_info() != self.shapes.as_slice() {
            return Err(Error::Internal(
                "fit: the network changed shape between epochs".into(),
            ));
        }
        state.bind(config, net)?;
        let epoch = self.epochs_done + 1;
        let started = Instant::now();
        let first_step = state.steps();
        let first_mask = net.training_steps();
        let (rows, batch_rows, settings) = (train.rows, self.batch_rows, self.settings);
        let shuffle = settings.shuffle && !self.order_given;
        let max_members = self.pool.as_ref().map_or(1, |p| p.size());
        self.metrics.clear();
        let (probe_view, probe_totals) = match self.probe.as_mut() {
            Some(p) => {
                let (v, t) = p.split();
                (Some(v), Some(t))
            }
            None => (None, None),
        };
        let stepper = Stepper::new(
            net,
            state,
            &mut self.buffers,
            (settings.alpha, settings.clip),
            probe_view,
            max_members,
        );
        let order = crate::kernels::Shared::new(&mut self.order);
        let val_sums = crate::kernels::Shared::new(&mut self.val_sums);
        let val_metric_sums = crate::kernels::Shared::new(&mut self.val_metric_sums);
        let leader = Mutex::new((
            rng,
            hooks,
            Leader {
                metrics: &mut self.metrics,
                probe: probe_totals,
            },
        ));
        let halt = AtomicBool::new(false);
        // Steps completed, kept by the leader so an interrupted epoch still records them.
        let completed = AtomicU64::new(first_step);
        let schedule = self.schedule.as_ref();
        // The optimizer's settings for batch `b` of this epoch.
        let config_for = |b: usize| -> std::borrow::Cow<'_, OptimizerConfig> {
            match schedule {
                Some((s, st)) => std::borrow::Cow::Owned(s.config_at(st, config, b as u64)),
                None => std::borrow::Cow::Borrowed(config),
            }
        };
        let make = || -> Result<Member<T>> {
            Ok(Member {
                eval: validation
                    .map(|v| Workspace::for_eval(&stepper.net, v.rows.min(EVAL_BLOCK)))
                    .transpose()?,
                probe: members_probe(&stepper),
            })
        };

        let body =
            |team: &threads::Team<'_>, own: &mut Member<T>| -> Result<EpochSums> {
                // SAFETY: nothing writes the parameters before the first step's barriers.
                let mut guard = unsafe { Guard::new(&stepper, team) };
                let mut lead = team
                    .is_leader()
                    .then(|| leader.lock().unwrap_or_else(|e| e.into_inner()));
                let mut loss_sum = 0.0;
                let mut t = first_step;
                for (b, start) in (0..rows).step_by(batch_rows).enumerate() {
                    if let Some((rng, hooks, _)) = lead.as_deref_mut() {
                        if b == 0 && shuffle {
                            // SAFETY: members read the order only after the barrier below.
                            rng.shuffle(unsafe { order.part(0..rows) });
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
                    let idx = unsafe { &order.read()[start..(start + batch_rows).min(rows)] };
                    t += 1;
                    let steps = (t, first_mask + b as u64);
                    let sums = lead.as_deref_mut().map(|(_, _, l)| l);
                    let step_config = config_for(b);
                    // SAFETY: every member runs the same step with its own guard and probe.
                    let (loss, outcome) = unsafe {
                        stepper.step(
                            team,
                            train,
                            idx,
                            steps,
                            &step_config,
                            &mut guard,
                            own.probe.as_mut(),
                            sums,
                        )
                    };
                    match outcome {
                        Outcome::Done => {}
                        Outcome::NonFinite => {
                            return Err(Error::Diverged {
                                at: Some((epoch, b + 1)),
                                loss,
                            })
                        }
                        Outcome::OutOfMemory => return Err(Error::Memory(
                            "could not allocate a backup of the parameters for a checked update"
                                .into(),
                        )),
                    }
                    completed.store(t, Ordering::Relaxed);
                    loss_sum += loss * idx.len() as f64;
                }
                if let (Some(view), Some(p)) = (&stepper.probe, own.probe.as_mut()) {
                    view.merge(p);
                }
                team.sync();
                let val = match (validation, own.eval.as_mut()) {
                    (Some(v), Some(ws)) => {
                        // SAFETY: parameters are not written until the team ends.
                        unsafe {
                            stepper.net.evaluate_in(
                                team,
                                &stepper.params,
                                v,
                                ws,
                                val_sums,
                                Some(val_metric_sums),
                            )
                        };
                        team.sync();
                        // SAFETY: every member has written its blocks (barrier above).
                        Some(stepper.net.combine(unsafe { val_sums.read() }, v.rows))
                    }
                    _ => None,
                };
                Ok((loss_sum, val))
            };
        let outcome = match &self.pool {
            Some(pool) => pool.team_with(self.members, make, body),
            None => threads::team_with(1, make, body),
        };
        drop(stepper);
        // Steps that completed before an interruption or divergence count too.
        let done = completed.load(Ordering::Relaxed);
        state.set_steps(done);
        net.count_steps(done - first_step);
        let batches = rows.div_ceil(batch_rows);
        let last = config_for(batches.saturating_sub(1));
        let (last_lr, last_momentum) = (last.lr(), last.momentum());
        let (loss_sum, val) = match outcome {
            Ok(Ok(sums)) => sums,
            Ok(Err(e)) | Err(e) => {
                if let Some((_, st)) = self.schedule.as_mut() {
                    st.steps += done - first_step; // the steps taken count, not the epoch
                }
                return Err(e);
            }
        };
        self.epochs_done = epoch;
        let val_metrics = self.val_metrics.as_mut().map(|m| {
            m.clear();
            m.add(&self.val_metric_sums, validation.map_or(0, |v| v.rows));
            m.metrics()
        });
        let report = EpochReport {
            epoch,
            loss: loss_sum / rows as f64,
            val_loss: val.map(|v| v.0),
            val_accuracy: val.and_then(|v| v.1),
            seconds: started.elapsed().as_secs_f64(),
            metrics: self.metrics.metrics(),
            val_metrics,
            lr: last_lr,
            momentum: last_momentum,
            diagnostics: self
                .probe
                .as_mut()
                .filter(|p| p.records())
                .map(|p| p.report(net)),
        };
        if let Some((s, st)) = self.schedule.as_mut() {
            s.end_epoch(st, batches as u64, &|name| report.metric(name))?;
        }
        Ok(report)
    }
}

/// One member's buffers for an epoch: its evaluation workspace, its probe.
struct Member<T> {
    eval: Option<Workspace<T>>,
    probe: Option<MemberProbe>,
}

/// A member's probe, when the stepper records diagnostics.
fn members_probe<T: Scalar>(stepper: &Stepper<'_, T>) -> Option<MemberProbe> {
    stepper
        .probe
        .as_ref()
        .filter(|p| p.record)
        .map(|p| p.member())
}

/// One optimizer step on a batch (checked here); leaves the parameters and state untouched if
/// the loss, a gradient or an updated value is not finite.
pub fn step<T: Scalar>(
    net: &mut Network<T>,
    config: &OptimizerConfig,
    state: &mut OptimizerState<T>,
    x: &[T],
    rows: usize,
    targets: &Targets<'_, T>,
) -> Result<f64> {
    let data = Dataset {
        x,
        rows,
        cols: net.n_inputs(),
        targets: *targets,
        weights: None,
    };
    let settings = FitConfig {
        epochs: 1,
        batch_size: rows.max(1),
        shuffle: false,
        alpha: 0.0,
        inputs_checked: false,
        clip: None,
        diagnostics: false,
    };
    let mut trainer = Trainer::new(net, &data, None, settings, None)?;
    let report = trainer
        .epoch(
            net,
            config,
            state,
            &data,
            None,
            &mut Rng::new(0, 0),
            &mut NoHooks,
        )
        .map_err(|e| match e {
            Error::Diverged { loss, .. } => Error::Diverged { at: None, loss },
            e => e,
        })?;
    Ok(report.loss)
}

/// Trains `net` for `settings.epochs` epochs (see [`Trainer::epoch`]), calling
/// `hooks.epoch_end` after each.
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Scalar>(
    net: &mut Network<T>,
    config: &OptimizerConfig,
    state: &mut OptimizerState<T>,
    train: &Dataset<'_, T>,
    validation: Option<&Dataset<'_, T>>,
    settings: FitConfig,
    order: Option<&[usize]>,
    rng: &mut Rng,
    hooks: &mut (dyn Hooks + Send),
) -> Result<Vec<EpochReport>> {
    let mut trainer = Trainer::new(net, train, validation, settings, order)?;
    let mut reports = Vec::new();
    for _ in 0..settings.epochs {
        let report = trainer.epoch(net, config, state, train, validation, rng, hooks)?;
        hooks.epoch_end(&report)?;
        reports.push(report);
    }
    Ok(reports)
}

/// The caller's visiting order, checked to be a permutation of `0..rows`.
fn check_order(order: &[usize], rows: usize) -> Result<Vec<usize>> {
    if order.len() != rows {
        return Err(Error::value(format!(
            "order: expected {rows} indices (one per row), got {}",
            order.len()
        )));
    }
    let mut seen = zeros(Some(rows), "the visiting order")?;
    for &i in order {
        if i >= rows || std::mem::replace(&mut seen[i], true) {
            return Err(Error::value(format!(
                "order: expected a permutation of 0..{rows}; {i} is out of range or repeated"
            )));
        }
    }
    let mut copy = zeros(Some(rows), "the visiting order")?;
    copy.copy_from_slice(order);
    Ok(copy)
}

#[cfg(test)]
mod tests;
