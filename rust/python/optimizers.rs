//! Optimizer classes: hyperparameters plus the state that persists across `step`/`fit` calls.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;

use super::errors::guarded;
use super::extract::{flag_or, pair_or, real, real_or};
use crate::error::{Error, Result};
use crate::optimizers::{OptimizerConfig, OptimizerState};

/// State for whichever dtype the optimizer was first used with.
#[derive(Clone, Debug, Default)]
pub enum AnyState {
    #[default]
    Unused,
    F32(OptimizerState<f32>),
    F64(OptimizerState<f64>),
}

/// Access to the state of one float type.
pub trait StateOf: crate::scalar::Scalar {
    fn state_of(any: &mut AnyState) -> Result<&mut OptimizerState<Self>>;
}

macro_rules! state_of {
    ($t:ty, $variant:ident, $other:literal) => {
        impl StateOf for $t {
            fn state_of(any: &mut AnyState) -> Result<&mut OptimizerState<$t>> {
                if let AnyState::Unused = any {
                    *any = AnyState::$variant(OptimizerState::new());
                }
                match any {
                    AnyState::$variant(s) => Ok(s),
                    _ => Err(Error::value(concat!(
                        "optimizer: its state holds ",
                        $other,
                        " buffers; create a new optimizer for this network"
                    ))),
                }
            }
        }
    };
}
state_of!(f32, F32, "float64");
state_of!(f64, F64, "float32");

/// An optimizer's state and the network it belongs to.
#[derive(Default)]
pub struct Slot {
    /// The id of the network whose moments and step count `state` holds.
    owner: Option<u64>,
    state: AnyState,
}

/// Base class of SGD, Adam, AdamW, RMSprop and Adagrad. Shared safely between threads: the
/// hyperparameters and the state sit behind their own locks, so a `fit` callback may change
/// `lr` between epochs while the fit holds the state only for the length of an epoch.
#[pyclass(subclass, frozen, module = "ferroprop._core")]
pub struct Optimizer {
    config: Mutex<OptimizerConfig>,
    slot: Mutex<Slot>,
    /// The process whose threads use the optimizer; another one is a forked child, which
    /// checks on first use that no parent thread held the state at the fork.
    pid: AtomicU32,
    /// Set in a forked child that inherited the state mid-update.
    inherited_busy: AtomicBool,
    fork_check: Mutex<()>,
}

impl Optimizer {
    /// In a forked child, on first use: refuses the state if a parent thread held it at the
    /// fork (it may be half-updated, and its lock would never be released). Callers check this
    /// before taking a network's lock, so the refusal does not count against the network.
    pub fn check_fork(&self) -> Result<()> {
        let me = std::process::id();
        if self.pid.load(Ordering::Acquire) != me {
            let _checking = self.fork_check.lock().unwrap_or_else(|e| e.into_inner());
            if self.pid.load(Ordering::Acquire) != me {
                if self.slot.try_lock().is_err() {
                    self.inherited_busy.store(true, Ordering::Release);
                }
                self.pid.store(me, Ordering::Release);
            }
        }
        if self.inherited_busy.load(Ordering::Acquire) {
            return Err(Error::value(
                "optimizer: another thread was using it when this process was forked, so its \
                 state may be half written; create a new optimizer",
            ));
        }
        Ok(())
    }

    /// The hyperparameters now.
    pub fn config(&self) -> OptimizerConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the lr (unchecked: a schedule may reach 0) and the momentum a schedule left, as
    /// torch's schedulers leave them in the optimizer's parameter groups.
    pub fn set_scheduled(&self, lr: f64, momentum: Option<f64>) {
        let mut config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        config.set_scheduled_lr(lr);
        if let Some(m) = momentum {
            // The schedule only cycles between momenta `begin` checked for this optimizer.
            let _ = config.set_momentum(m);
        }
    }

    /// Runs `f` on the hyperparameters and the `T` state of network `network` (waiting while
    /// another call uses the state). An optimizer serves one network: its moments and step
    /// count are that network's, so a second network is refused (until `reset`).
    pub fn with_state<T: StateOf, R>(
        &self,
        network: u64,
        f: impl FnOnce(&OptimizerConfig, &mut OptimizerState<T>) -> Result<R>,
    ) -> Result<R> {
        self.check_fork()?;
        let config = self.config();
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.owner {
            Some(owner) if owner != network => {
                return Err(Error::value(
                    "optimizer: it holds the moments and step count of another network; use \
                     one optimizer per network (or call optimizer.reset() first)",
                ))
            }
            _ => {}
        }
        let fresh = matches!(slot.state, AnyState::Unused);
        let state = T::state_of(&mut slot.state)?;
        let result = f(&config, state);
        if result.is_err() && fresh && state.steps() == 0 {
            // Nothing was applied (bad data, a first step that diverged): stay unbound.
            *slot = Slot::default();
        } else {
            slot.owner = Some(network);
        }
        result
    }
}

#[pymethods]
impl Optimizer {
    /// The learning rate; may be changed between steps (schedules), also from a `fit`
    /// callback. The state is kept.
    #[getter]
    fn lr(&self) -> f64 {
        self.config().lr()
    }

    #[setter]
    fn set_lr(&self, lr: &Bound<'_, PyAny>) -> PyResult<()> {
        guarded("Optimizer.lr", || {
            let lr = real(lr, "lr")?;
            let mut config = self.config.lock().unwrap_or_else(|e| e.into_inner());
            Ok(config.set_lr(lr)?)
        })
    }

    /// Number of updates applied so far (waits for an epoch in progress to end).
    #[getter]
    fn steps(&self, py: Python<'_>) -> PyResult<u64> {
        self.check_fork()?;
        Ok(py.detach(
            || match &self.slot.lock().unwrap_or_else(|e| e.into_inner()).state {
                AnyState::Unused => 0,
                AnyState::F32(s) => s.steps(),
                AnyState::F64(s) => s.steps(),
            },
        ))
    }

    /// Forgets the state (buffers, moments, step count) and the network it belonged to, as a
    /// fresh optimizer (waits for an epoch in progress to end).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        guarded("Optimizer.reset", || {
            self.check_fork()?;
            py.detach(|| *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Slot::default());
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        self.config().to_string()
    }
}

fn with_config(config: OptimizerConfig) -> Optimizer {
    Optimizer {
        config: Mutex::new(config),
        slot: Mutex::new(Slot::default()),
        pid: AtomicU32::new(std::process::id()),
        inherited_busy: AtomicBool::new(false),
        fork_check: Mutex::new(()),
    }
}

/// Stochastic gradient descent with optional (Nesterov) momentum, as `torch.optim.SGD`.
#[pyclass(extends = Optimizer, frozen, name = "SGD", module = "ferroprop._core")]
pub struct Sgd;

#[pymethods]
impl Sgd {
    #[new]
    #[pyo3(
        signature = (lr, momentum = None, nesterov = None, weight_decay = None),
        text_signature = "(lr, momentum=0.0, nesterov=False, weight_decay=0.0)"
    )]
    fn new(
        lr: &Bound<'_, PyAny>,
        momentum: Option<&Bound<'_, PyAny>>,
        nesterov: Option<&Bound<'_, PyAny>>,
        weight_decay: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("SGD()", || {
            let config = OptimizerConfig::sgd(
                real(lr, "lr")?,
                real_or(momentum, "momentum", 0.0)?,
                flag_or(nesterov, "nesterov", false)?,
                real_or(weight_decay, "weight_decay", 0.0)?,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(Sgd))
        })
    }
}

/// Adam with coupled L2 weight decay, as `torch.optim.Adam`.
#[pyclass(extends = Optimizer, frozen, module = "ferroprop._core")]
pub struct Adam;

#[pymethods]
impl Adam {
    #[new]
    #[pyo3(
        signature = (lr = None, betas = None, eps = None, weight_decay = None),
        text_signature = "(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"
    )]
    fn new(
        lr: Option<&Bound<'_, PyAny>>,
        betas: Option<&Bound<'_, PyAny>>,
        eps: Option<&Bound<'_, PyAny>>,
        weight_decay: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("Adam()", || {
            let config = OptimizerConfig::adam(
                real_or(lr, "lr", 1e-3)?,
                pair_or(betas, "betas", (0.9, 0.999))?,
                real_or(eps, "eps", 1e-8)?,
                real_or(weight_decay, "weight_decay", 0.0)?,
                false,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(Adam))
        })
    }
}

/// Adam with decoupled weight decay, as `torch.optim.AdamW`.
#[pyclass(extends = Optimizer, frozen, module = "ferroprop._core")]
pub struct AdamW;

#[pymethods]
impl AdamW {
    #[new]
    #[pyo3(
        signature = (lr = None, betas = None, eps = None, weight_decay = None),
        text_signature = "(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"
    )]
    fn new(
        lr: Option<&Bound<'_, PyAny>>,
        betas: Option<&Bound<'_, PyAny>>,
        eps: Option<&Bound<'_, PyAny>>,
        weight_decay: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("AdamW()", || {
            let config = OptimizerConfig::adam(
                real_or(lr, "lr", 1e-3)?,
                pair_or(betas, "betas", (0.9, 0.999))?,
                real_or(eps, "eps", 1e-8)?,
                real_or(weight_decay, "weight_decay", 0.01)?,
                true,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(AdamW))
        })
    }
}

/// RMSprop, as `torch.optim.RMSprop`.
#[pyclass(extends = Optimizer, frozen, name = "RMSprop", module = "ferroprop._core")]
pub struct RmsProp;

#[pymethods]
impl RmsProp {
    #[new]
    #[pyo3(
        signature = (
            lr = None, alpha = None, eps = None, weight_decay = None, momentum = None, centered = None
        ),
        text_signature = "(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0.0, momentum=0.0, centered=False)"
    )]
    fn new(
        lr: Option<&Bound<'_, PyAny>>,
        alpha: Option<&Bound<'_, PyAny>>,
        eps: Option<&Bound<'_, PyAny>>,
        weight_decay: Option<&Bound<'_, PyAny>>,
        momentum: Option<&Bound<'_, PyAny>>,
        centered: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("RMSprop()", || {
            let config = OptimizerConfig::rmsprop(
                real_or(lr, "lr", 1e-2)?,
                real_or(alpha, "alpha", 0.99)?,
                real_or(eps, "eps", 1e-8)?,
                real_or(weight_decay, "weight_decay", 0.0)?,
                real_or(momentum, "momentum", 0.0)?,
                flag_or(centered, "centered", false)?,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(RmsProp))
        })
    }
}

/// Adagrad, as `torch.optim.Adagrad`.
#[pyclass(extends = Optimizer, frozen, module = "ferroprop._core")]
pub struct Adagrad;

#[pymethods]
impl Adagrad {
    #[new]
    #[pyo3(
        signature = (
            lr = None, lr_decay = None, weight_decay = None, initial_accumulator_value = None, eps = None
        ),
        text_signature = "(lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10)"
    )]
    fn new(
        lr: Option<&Bound<'_, PyAny>>,
        lr_decay: Option<&Bound<'_, PyAny>>,
        weight_decay: Option<&Bound<'_, PyAny>>,
        initial_accumulator_value: Option<&Bound<'_, PyAny>>,
        eps: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("Adagrad()", || {
            let config = OptimizerConfig::adagrad(
                real_or(lr, "lr", 1e-2)?,
                real_or(lr_decay, "lr_decay", 0.0)?,
                real_or(weight_decay, "weight_decay", 0.0)?,
                real_or(initial_accumulator_value, "initial_accumulator_value", 0.0)?,
                real_or(eps, "eps", 1e-10)?,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(Adagrad))
        })
    }
}

/// scikit-learn's `SGDOptimizer` (velocity form), for `ferroprop.MLPClassifier`/`MLPRegressor`.
#[pyclass(extends = Optimizer, frozen, name = "SklearnSGD", module = "ferroprop._core")]
pub struct SklearnSgd;

#[pymethods]
impl SklearnSgd {
    #[new]
    #[pyo3(signature = (lr, momentum, nesterov))]
    fn new(
        lr: &Bound<'_, PyAny>,
        momentum: &Bound<'_, PyAny>,
        nesterov: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("SklearnSGD()", || {
            let config = OptimizerConfig::sklearn_sgd(
                real(lr, "lr")?,
                real(momentum, "momentum")?,
                flag_or(Some(nesterov), "nesterov", false)?,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(SklearnSgd))
        })
    }
}

/// scikit-learn's `AdamOptimizer`, for `ferroprop.MLPClassifier`/`MLPRegressor`.
#[pyclass(extends = Optimizer, frozen, name = "SklearnAdam", module = "ferroprop._core")]
pub struct SklearnAdam;

#[pymethods]
impl SklearnAdam {
    #[new]
    #[pyo3(signature = (lr, beta_1, beta_2, epsilon))]
    fn new(
        lr: &Bound<'_, PyAny>,
        beta_1: &Bound<'_, PyAny>,
        beta_2: &Bound<'_, PyAny>,
        epsilon: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("SklearnAdam()", || {
            let config = OptimizerConfig::sklearn_adam(
                real(lr, "lr")?,
                real(beta_1, "beta_1")?,
                real(beta_2, "beta_2")?,
                real(epsilon, "epsilon")?,
            )?;
            Ok(PyClassInitializer::from(with_config(config)).add_subclass(SklearnAdam))
        })
    }
}
