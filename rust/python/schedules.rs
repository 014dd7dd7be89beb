//! The learning-rate schedule classes (`ferroprop.schedules`): a base class holding one
//! [`Schedule`] and its state, and one subclass per schedule, each only a constructor.

use std::sync::Mutex;

use numpy::{PyArray1, ToPyArray};
use pyo3::prelude::*;
use pyo3::types::PyAny;

use super::errors::{guarded, type_error};
use super::extract::{flag_or, integer, integers, optional_integer, real, real_or};
use crate::schedules::{optional_count, Anneal, OneCycleLr, Schedule, ScheduleState, NAMES};

/// A learning-rate schedule and its state (the epochs and batches it has stepped), carried
/// from one `fit` to the next as a torch scheduler object is.
#[pyclass(subclass, frozen, name = "Schedule", module = "ferroprop._core")]
pub struct PySchedule {
    inner: Mutex<(Schedule, ScheduleState)>,
}

fn with(schedule: Schedule) -> PySchedule {
    PySchedule {
        inner: Mutex::new((schedule, ScheduleState::default())),
    }
}

impl PySchedule {
    fn get(&self) -> std::sync::MutexGuard<'_, (Schedule, ScheduleState)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The schedule `obj` stands for and its state now, for a fit.
pub fn snapshot(obj: &Bound<'_, PyAny>) -> PyResult<(Schedule, ScheduleState)> {
    match obj.cast::<PySchedule>() {
        Ok(s) => Ok(s.get().get().clone()),
        Err(_) => Err(type_error(format!(
            "schedule: expected a ferroprop schedule ({}), got {}",
            NAMES.join(", "),
            obj.get_type().name()?
        ))),
    }
}

/// Stores the state a fit left into the schedule object `obj`.
pub fn store(obj: &Bound<'_, PyAny>, state: ScheduleState) -> PyResult<()> {
    if let Ok(s) = obj.cast::<PySchedule>() {
        s.get().get().1 = state;
    }
    Ok(())
}

#[pymethods]
impl PySchedule {
    fn __repr__(&self) -> String {
        self.get().0.to_string()
    }

    /// The schedule's class name.
    #[getter]
    fn name(&self) -> &'static str {
        self.get().0.name()
    }

    /// The metric ReduceLROnPlateau watches (None for the others).
    #[getter]
    fn monitor(&self) -> Option<String> {
        self.get().0.monitor().map(str::to_owned)
    }

    /// Epochs stepped so far (across fits).
    #[getter]
    fn last_epoch(&self) -> u64 {
        self.get().1.epochs
    }

    /// Batches stepped so far (across fits).
    #[getter]
    fn steps(&self) -> u64 {
        self.get().1.steps
    }

    /// Starts over: the next fit takes the optimizer's lr as the base again.
    fn reset(&self) {
        self.get().1 = ScheduleState::default();
    }

    /// The lr of every batch of `epochs` epochs of `steps_per_epoch` batches, simulated from a
    /// fresh state with base lr `lr` (`metrics`: the monitored value after each epoch, for
    /// ReduceLROnPlateau).
    #[pyo3(signature = (lr, epochs, steps_per_epoch, metrics = None))]
    fn lrs<'py>(
        &self,
        py: Python<'py>,
        lr: &Bound<'py, PyAny>,
        epochs: &Bound<'py, PyAny>,
        steps_per_epoch: &Bound<'py, PyAny>,
        metrics: Option<Vec<f64>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        guarded("Schedule.lrs", || {
            let lr = real(lr, "lr")?;
            let epochs = count(epochs, "epochs")?;
            let steps_per_epoch = count(steps_per_epoch, "steps_per_epoch")?;
            let schedule = self.get().0.clone();
            let lrs = schedule.lrs(lr, epochs, steps_per_epoch, metrics.as_deref())?;
            Ok(lrs.to_pyarray(py))
        })
    }
}

macro_rules! schedule_class {
    ($(#[$doc:meta])* $rust:ident, $name:literal) => {
        $(#[$doc])*
        #[pyclass(extends = PySchedule, frozen, name = $name, module = "ferroprop._core")]
        pub struct $rust;
    };
}

schedule_class!(
    /// `torch.optim.lr_scheduler.StepLR`: lr × gamma every `step_size` epochs.
    StepLr,
    "StepLR"
);
schedule_class!(
    /// `MultiStepLR`: lr × gamma at each milestone epoch.
    MultiStepLr,
    "MultiStepLR"
);
schedule_class!(
    /// `ExponentialLR`: lr × gamma every epoch.
    ExponentialLr,
    "ExponentialLR"
);
schedule_class!(
    /// `CosineAnnealingLR`: cosine from lr to eta_min over T_max epochs.
    CosineLr,
    "CosineAnnealingLR"
);
schedule_class!(
    /// `OneCycleLR`: the 1cycle policy, stepped per batch.
    OneCycle,
    "OneCycleLR"
);
schedule_class!(
    /// Linear warm-up over `warmup_period` batches, multiplying another schedule's lr.
    Warmup,
    "LinearWarmup"
);
schedule_class!(
    /// `ReduceLROnPlateau`: lr × factor when the monitored metric stops improving.
    Plateau,
    "ReduceLROnPlateau"
);

fn init<S: pyo3::PyClass<BaseType = PySchedule>>(s: Schedule, sub: S) -> PyClassInitializer<S> {
    PyClassInitializer::from(with(s)).add_subclass(sub)
}

#[pymethods]
impl StepLr {
    #[new]
    #[pyo3(signature = (step_size, gamma = None), text_signature = "(step_size, gamma=0.1)")]
    fn new(
        step_size: &Bound<'_, PyAny>,
        gamma: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("StepLR()", || {
            let step_size = integer(step_size, "step_size")?;
            let gamma = real_or(gamma, "gamma", 0.1)?;
            Ok(init(Schedule::step_lr(step_size, gamma)?, StepLr))
        })
    }
}

#[pymethods]
impl MultiStepLr {
    #[new]
    #[pyo3(signature = (milestones, gamma = None), text_signature = "(milestones, gamma=0.1)")]
    fn new(
        milestones: &Bound<'_, PyAny>,
        gamma: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("MultiStepLR()", || {
            let milestones = integers(milestones, "milestones")?;
            let s = Schedule::multi_step_lr(&milestones, real_or(gamma, "gamma", 0.1)?)?;
            Ok(init(s, MultiStepLr))
        })
    }
}

#[pymethods]
impl ExponentialLr {
    #[new]
    fn new(gamma: &Bound<'_, PyAny>) -> PyResult<PyClassInitializer<Self>> {
        guarded("ExponentialLR()", || {
            Ok(init(
                Schedule::exponential_lr(real(gamma, "gamma")?)?,
                ExponentialLr,
            ))
        })
    }
}

#[pymethods]
impl CosineLr {
    #[new]
    #[pyo3(signature = (T_max, eta_min = None), text_signature = "(T_max, eta_min=0.0)")]
    #[allow(non_snake_case)]
    fn new(
        T_max: &Bound<'_, PyAny>,
        eta_min: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("CosineAnnealingLR()", || {
            let T_max = integer(T_max, "T_max")?;
            let s = Schedule::cosine_annealing_lr(T_max, real_or(eta_min, "eta_min", 0.0)?)?;
            Ok(init(s, CosineLr))
        })
    }
}

#[pymethods]
impl OneCycle {
    #[new]
    #[pyo3(signature = (
        max_lr, total_steps = None, epochs = None, steps_per_epoch = None, pct_start = None,
        anneal_strategy = "cos", cycle_momentum = None, base_momentum = None,
        max_momentum = None, div_factor = None, final_div_factor = None, three_phase = None,
    ), text_signature = "(max_lr, total_steps=None, epochs=None, steps_per_epoch=None, \
        pct_start=0.3, anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85, \
        max_momentum=0.95, div_factor=25.0, final_div_factor=10000.0, three_phase=False)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_lr: &Bound<'_, PyAny>,
        total_steps: Option<&Bound<'_, PyAny>>,
        epochs: Option<&Bound<'_, PyAny>>,
        steps_per_epoch: Option<&Bound<'_, PyAny>>,
        pct_start: Option<&Bound<'_, PyAny>>,
        anneal_strategy: &str,
        cycle_momentum: Option<&Bound<'_, PyAny>>,
        base_momentum: Option<&Bound<'_, PyAny>>,
        max_momentum: Option<&Bound<'_, PyAny>>,
        div_factor: Option<&Bound<'_, PyAny>>,
        final_div_factor: Option<&Bound<'_, PyAny>>,
        three_phase: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("OneCycleLR()", || {
            let d = OneCycleLr::new(real(max_lr, "max_lr")?);
            let args = OneCycleLr {
                total_steps: optional_count(
                    "total_steps",
                    optional_integer(total_steps, "total_steps")?,
                )?,
                epochs: optional_count("epochs", optional_integer(epochs, "epochs")?)?,
                steps_per_epoch: optional_count(
                    "steps_per_epoch",
                    optional_integer(steps_per_epoch, "steps_per_epoch")?,
                )?,
                pct_start: real_or(pct_start, "pct_start", d.pct_start)?,
                anneal_strategy: Anneal::parse(anneal_strategy)?,
                cycle_momentum: flag_or(cycle_momentum, "cycle_momentum", d.cycle_momentum)?,
                base_momentum: real_or(base_momentum, "base_momentum", d.base_momentum)?,
                max_momentum: real_or(max_momentum, "max_momentum", d.max_momentum)?,
                div_factor: real_or(div_factor, "div_factor", d.div_factor)?,
                final_div_factor: real_or(
                    final_div_factor,
                    "final_div_factor",
                    d.final_div_factor,
                )?,
                three_phase: flag_or(three_phase, "three_phase", d.three_phase)?,
                ..d
            };
            Ok(init(Schedule::one_cycle_lr(args)?, OneCycle))
        })
    }
}

#[pymethods]
impl Warmup {
    #[new]
    #[pyo3(signature = (warmup_period, schedule = None))]
    fn new(
        warmup_period: &Bound<'_, PyAny>,
        schedule: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let inner = schedule.map(|s| snapshot(s).map(|(s, _)| s)).transpose()?;
        guarded("LinearWarmup()", || {
            let warmup_period = integer(warmup_period, "warmup_period")?;
            Ok(init(Schedule::linear_warmup(warmup_period, inner)?, Warmup))
        })
    }
}

#[pymethods]
impl Plateau {
    #[new]
    #[pyo3(signature = (
        mode = "min", factor = None, patience = None, threshold = None, threshold_mode = "rel",
        cooldown = None, min_lr = None, eps = None, monitor = "val_loss",
    ), text_signature = "(mode='min', factor=0.1, patience=10, threshold=0.0001, \
        threshold_mode='rel', cooldown=0, min_lr=0.0, eps=1e-08, monitor='val_loss')")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mode: &str,
        factor: Option<&Bound<'_, PyAny>>,
        patience: Option<&Bound<'_, PyAny>>,
        threshold: Option<&Bound<'_, PyAny>>,
        threshold_mode: &str,
        cooldown: Option<&Bound<'_, PyAny>>,
        min_lr: Option<&Bound<'_, PyAny>>,
        eps: Option<&Bound<'_, PyAny>>,
        monitor: &str,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("ReduceLROnPlateau()", || {
            let s = Schedule::reduce_lr_on_plateau(
                mode,
                real_or(factor, "factor", 0.1)?,
                optional_integer(patience, "patience")?.unwrap_or(10),
                real_or(threshold, "threshold", 1e-4)?,
                threshold_mode,
                optional_integer(cooldown, "cooldown")?.unwrap_or(0),
                real_or(min_lr, "min_lr", 0.0)?,
                real_or(eps, "eps", 1e-8)?,
                monitor,
            )?;
            Ok(init(s, Plateau))
        })
    }
}

/// A count of epochs or batches for `lrs`: an integer ≥ 0.
fn count(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    let n = integer(obj, name)?;
    usize::try_from(n).map_err(|_| {
        super::errors::value_error(format!("{name}: expected an integer >= 0, got {n}"))
    })
}
