//! `Network.fit`: the epoch loop, with the GIL released, Ctrl-C watched from the main thread
//! and the callback run between epochs while nothing holds the network or the optimizer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::access::{CallbackScope, Typed};
use super::arrays::Vector;
use super::errors::value_error;
use super::network::{borrow_data, borrow_weights, PyNetwork};
use super::optimizers::Optimizer;
use super::schedules;
use crate::error::{Error, Result};
use crate::network::Metrics;
use crate::rng::Rng;
use crate::threads;
use crate::train::{Clip, Dataset, EpochReport, FitConfig, Hooks, Trainer};

/// How often the waiting thread looks for Ctrl-C; the loop itself checks a flag every batch.
const SIGNAL_POLL: Duration = Duration::from_millis(5);

/// `Network.fit`'s arguments, as extracted.
pub struct FitArgs<'a, 'py> {
    pub x: &'a Bound<'py, PyAny>,
    pub y: &'a Bound<'py, PyAny>,
    pub epochs: u64,
    pub batch_size: u64,
    pub optimizer: &'a Optimizer,
    pub shuffle: bool,
    pub seed: Option<u64>,
    pub x_val: Option<Bound<'py, PyAny>>,
    pub y_val: Option<Bound<'py, PyAny>>,
    pub on_epoch: Option<Py<PyAny>>,
    pub order: Option<Bound<'py, PyAny>>,
    pub sample_weight: Option<Bound<'py, PyAny>>,
    pub alpha: f64,
    pub finite_checked: bool,
    pub clip_grad_norm: Option<f64>,
    pub clip_grad_value: Option<f64>,
    pub diagnostics: bool,
    pub schedule: Option<Bound<'py, PyAny>>,
}

/// An epoch's report as the `logs` dict `fit` returns and passes to `on_epoch`: `epoch`,
/// `loss`, `seconds`, `lr`, the metrics that apply (`accuracy` or `mae` and `r2`, each with
/// its `val_` twin and `val_loss` given validation data) and, with diagnostics,
/// `diagnostics`: `{layer: {metric: value}}`.
fn logs<'py>(py: Python<'py>, r: &EpochReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", r.epoch)?;
    d.set_item("loss", r.loss)?;
    let put = |prefix: &str, m: &Metrics| -> PyResult<()> {
        for (name, v) in [("accuracy", m.accuracy), ("mae", m.mae), ("r2", m.r2)] {
            if let Some(v) = v {
                d.set_item(format!("{prefix}{name}"), v)?;
            }
        }
        Ok(())
    };
    put("", &r.metrics)?;
    if let Some(v) = r.val_loss {
        d.set_item("val_loss", v)?;
    }
    if let Some(m) = &r.val_metrics {
        put("val_", m)?;
    }
    d.set_item("lr", r.lr)?;
    d.set_item("seconds", r.seconds)?;
    if let Some(layers) = &r.diagnostics {
        let diag = PyDict::new(py);
        for layer in layers {
            let values = PyDict::new(py);
            for (name, v) in &layer.values {
                values.set_item(*name, *v)?;
            }
            diag.set_item(layer.layer.to_string(), values)?;
        }
        d.set_item("diagnostics", diag)?;
    }
    Ok(d)
}

/// A visiting order: int64 indices, converted to `usize` (range and repeats are checked by
/// the trainer).
fn borrow_order(order: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let v = Vector::<i64>::borrow(order, "order", "int64 row indices")?;
    v.data()
        .iter()
        .map(|&i| {
            usize::try_from(i)
                .map_err(|_| value_error(format!("order: row indices must be >= 0, got {i}")))
        })
        .collect()
}

fn is_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let main = threading.call_method0("main_thread")?;
    Ok(main.is(&threading.call_method0("current_thread")?))
}

/// Stops the loop before the next batch once the watcher saw Ctrl-C.
struct StopFlag<'a>(&'a AtomicBool);

impl Hooks for StopFlag<'_> {
    fn poll(&mut self) -> Result<()> {
        if self.0.load(Ordering::Relaxed) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

pub fn fit<T: Typed>(
    py: Python<'_>,
    this: &PyNetwork,
    args: FitArgs<'_, '_>,
) -> PyResult<Vec<Py<PyDict>>> {
    let to_usize = |v: u64, name: &str| {
        usize::try_from(v).map_err(|_| value_error(format!("{name}: {v} is too large")))
    };
    let epochs = to_usize(args.epochs, "epochs")?;
    let batch_size = to_usize(args.batch_size, "batch_size")?;
    if batch_size == 0 {
        return Err(value_error(
            "batch_size: expected a positive integer, got 0",
        ));
    }
    let order = args.order.as_ref().map(borrow_order).transpose()?;
    let validation = match (&args.x_val, &args.y_val) {
        (Some(xv), Some(yv)) => Some((xv, yv)),
        (None, None) => None,
        _ => {
            return Err(value_error(
                "validation_data: expected a pair (X_val, y_val)",
            ))
        }
    };
    let (xm, ym) = borrow_data::<T>(this, args.x, args.y, ("X", "y"))?;
    let sw = borrow_weights::<T>(args.sample_weight.as_ref())?;
    let val = validation
        .map(|(xv, yv)| borrow_data::<T>(this, xv, yv, ("X_val", "y_val")))
        .transpose()?;
    let train_set = Dataset {
        x: xm.data(),
        rows: xm.rows,
        cols: xm.cols,
        targets: ym.view(),
        weights: sw.as_ref().map(|w| w.data()),
    };
    let val_set = val.as_ref().map(|(xv, yv)| Dataset {
        x: xv.data(),
        rows: xv.rows,
        cols: xv.cols,
        targets: yv.view(),
        weights: None,
    });
    let clip = match (args.clip_grad_norm, args.clip_grad_value) {
        (Some(_), Some(_)) => {
            return Err(value_error(
                "clip_grad_norm, clip_grad_value: give one of them, not both",
            ))
        }
        (Some(v), None) => Some(Clip::Norm(v).checked()?),
        (None, Some(v)) => Some(Clip::Value(v).checked()?),
        (None, None) => None,
    };
    let settings = FitConfig {
        epochs,
        batch_size,
        shuffle: args.shuffle,
        alpha: args.alpha,
        inputs_checked: args.finite_checked,
        clip,
        diagnostics: args.diagnostics,
    };
    let (opt, on_epoch, seed) = (args.optimizer, args.on_epoch.as_ref(), args.seed);
    let schedule = args
        .schedule
        .as_ref()
        .map(schedules::snapshot)
        .transpose()?;
    let has_validation = val_set.is_some();
    // The schedule's state and the lr and momentum of the last step, kept for after the fit.
    let kept = std::sync::Mutex::new(None);
    let main_thread = is_main_thread(py)?;
    opt.check_fork()?;
    let session = this.shared.begin_fit()?;
    let id = this.shared.id;

    let work = |stop: &AtomicBool| -> (Result<Vec<EpochReport>>, Option<PyErr>) {
        let mut fresh = seed.map(|s| Rng::new(s, 1));
        let mut run = || -> std::result::Result<Vec<EpochReport>, (Error, Option<PyErr>)> {
            let mut trainer = this
                .shared
                .read::<T, _>(|n| {
                    Trainer::new(n, &train_set, val_set.as_ref(), settings, order.as_deref())
                })
                .and_then(|t| match schedule.clone() {
                    Some((s, st)) => t.with_schedule(s, st, &opt.config(), has_validation),
                    None => Ok(t),
                })
                .map_err(|e| (e, None))?;
            let mut reports = Vec::new();
            while trainer.epochs_done() < epochs {
                let outcome = this.shared.write::<T, _>(|net| {
                    opt.with_state::<T, _>(id, |config, state| {
                        let mut own = this.rng.lock().unwrap_or_else(|e| e.into_inner());
                        let rng = fresh.as_mut().unwrap_or(&mut *own);
                        trainer.epoch(
                            net,
                            config,
                            state,
                            &train_set,
                            val_set.as_ref(),
                            rng,
                            &mut StopFlag(stop),
                        )
                    })
                });
                if let Some(st) = trainer.schedule_state() {
                    let last = outcome.as_ref().ok().map(|r| (r.lr, r.momentum));
                    *kept.lock().unwrap_or_else(|e| e.into_inner()) = Some((st.clone(), last));
                }
                let report = outcome.map_err(|e| (e, None))?;
                let mut halt = false;
                if let Some(callback) = on_epoch {
                    let _scope = CallbackScope::enter(id);
                    let answer = Python::attach(|py| -> PyResult<bool> {
                        callback.call1(py, (logs(py, &report)?,))?.is_truthy(py)
                    });
                    match answer {
                        Ok(h) => halt = h,
                        Err(e) => return Err((Error::Interrupted, Some(e))),
                    }
                }
                reports.push(report);
                if stop.load(Ordering::Relaxed) {
                    return Err((Error::Interrupted, None));
                }
                if halt {
                    break;
                }
            }
            Ok(reports)
        };
        match run() {
            Ok(r) => (Ok(r), None),
            Err((e, py_err)) => (Err(e), py_err),
        }
    };
    let mut interrupt: Option<PyErr> = None;
    let watch = |stop: &AtomicBool| {
        if main_thread && interrupt.is_none() {
            if let Err(err) = Python::attach(|py| py.check_signals()) {
                interrupt = Some(err);
                stop.store(true, Ordering::Relaxed);
            }
        }
    };
    // Only the main thread sees Ctrl-C; elsewhere the fit runs on the calling thread.
    let (result, callback_error) = py.detach(|| {
        if main_thread {
            threads::run_watched(SIGNAL_POLL, work, watch)
        } else {
            Ok(work(&AtomicBool::new(false)))
        }
    })?;
    drop(session);
    if let (Some(obj), Some((state, last))) = (
        args.schedule.as_ref(),
        kept.into_inner().unwrap_or_else(|e| e.into_inner()),
    ) {
        schedules::store(obj, state)?;
        if let Some((lr, momentum)) = last {
            opt.set_scheduled(lr, momentum);
        }
    }
    // Ctrl-C wins even if the last batch finished meanwhile: the user asked to stop; then
    // the callback's own error.
    if let Some(err) = interrupt.or(callback_error) {
        return Err(err);
    }
    result?
        .iter()
        .map(|r| logs(py, r).map(Bound::unbind))
        .collect()
}
