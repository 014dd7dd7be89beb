//! Optimizer classes: hyperparameters plus the state that persists across `step`/`fit` calls.

use pyo3::prelude::*;

use super::errors::type_error;
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
pub trait StateOf: Sized {
    fn state_of(any: &mut AnyState) -> PyResult<&mut OptimizerState<Self>>;
}

macro_rules! state_of {
    ($t:ty, $variant:ident, $other:literal) => {
        impl StateOf for $t {
            fn state_of(any: &mut AnyState) -> PyResult<&mut OptimizerState<$t>> {
                if let AnyState::Unused = any {
                    *any = AnyState::$variant(OptimizerState::new());
                }
                match any {
                    AnyState::$variant(s) => Ok(s),
                    _ => Err(type_error(concat!(
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

/// Base class of SGD, Adam and AdamW.
#[pyclass(subclass, module = "ferroprop._core")]
pub struct Optimizer {
    pub config: OptimizerConfig,
    pub state: AnyState,
}

#[pymethods]
impl Optimizer {
    /// The learning rate; may be changed between steps (schedules). The state is kept.
    #[getter]
    fn lr(&self) -> f64 {
        self.config.lr()
    }

    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        Ok(self.config.set_lr(lr)?)
    }

    /// Number of updates applied so far.
    #[getter]
    fn steps(&self) -> u64 {
        match &self.state {
            AnyState::Unused => 0,
            AnyState::F32(s) => s.steps(),
            AnyState::F64(s) => s.steps(),
        }
    }

    /// Forgets the state (buffers, moments, step count), as a fresh optimizer.
    fn reset(&mut self) {
        self.state = AnyState::Unused;
    }

    fn __repr__(&self) -> String {
        match &self.config {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => format!(
                "SGD(lr={lr:?}, momentum={momentum:?}, nesterov={}, weight_decay={weight_decay:?})",
                if *nesterov { "True" } else { "False" }
            ),
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => format!(
                "{}(lr={lr:?}, betas=({beta1:?}, {beta2:?}), eps={eps:?}, weight_decay={weight_decay:?})",
                if *decoupled { "AdamW" } else { "Adam" }
            ),
            OptimizerConfig::SklearnSgd {
                lr,
                momentum,
                nesterov,
            } => format!(
                "SklearnSGD(lr={lr:?}, momentum={momentum:?}, nesterov={})",
                if *nesterov { "True" } else { "False" }
            ),
            OptimizerConfig::SklearnAdam {
                lr,
                beta1,
                beta2,
                eps,
            } => format!(
                "SklearnAdam(lr={lr:?}, beta_1={beta1:?}, beta_2={beta2:?}, epsilon={eps:?})"
            ),
        }
    }
}

fn with_config(config: OptimizerConfig) -> Optimizer {
    Optimizer {
        config,
        state: AnyState::Unused,
    }
}

/// Stochastic gradient descent with optional (Nesterov) momentum, as `torch.optim.SGD`.
#[pyclass(extends = Optimizer, name = "SGD", module = "ferroprop._core")]
pub struct Sgd;

#[pymethods]
impl Sgd {
    #[new]
    #[pyo3(signature = (lr, momentum = 0.0, nesterov = false, weight_decay = 0.0))]
    fn new(
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let config = OptimizerConfig::sgd(lr, momentum, nesterov, weight_decay)?;
        Ok(PyClassInitializer::from(with_config(config)).add_subclass(Sgd))
    }
}

/// Adam with coupled L2 weight decay, as `torch.optim.Adam`.
#[pyclass(extends = Optimizer, module = "ferroprop._core")]
pub struct Adam;

#[pymethods]
impl Adam {
    #[new]
    #[pyo3(signature = (lr = 1e-3, betas = (0.9, 0.999), eps = 1e-8, weight_decay = 0.0))]
    fn new(
        lr: f64,
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let config = OptimizerConfig::adam(lr, betas, eps, weight_decay, false)?;
        Ok(PyClassInitializer::from(with_config(config)).add_subclass(Adam))
    }
}

/// Adam with decoupled weight decay, as `torch.optim.AdamW`.
#[pyclass(extends = Optimizer, module = "ferroprop._core")]
pub struct AdamW;

#[pymethods]
impl AdamW {
    #[new]
    #[pyo3(signature = (lr = 1e-3, betas = (0.9, 0.999), eps = 1e-8, weight_decay = 0.01))]
    fn new(
        lr: f64,
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let config = OptimizerConfig::adam(lr, betas, eps, weight_decay, true)?;
        Ok(PyClassInitializer::from(with_config(config)).add_subclass(AdamW))
    }
}

/// scikit-learn's `SGDOptimizer` (velocity form), for `ferroprop.MLPClassifier`/`MLPRegressor`.
#[pyclass(extends = Optimizer, name = "SklearnSGD", module = "ferroprop._core")]
pub struct SklearnSgd;

#[pymethods]
impl SklearnSgd {
    #[new]
    #[pyo3(signature = (lr, momentum, nesterov))]
    fn new(lr: f64, momentum: f64, nesterov: bool) -> PyResult<PyClassInitializer<Self>> {
        let config = OptimizerConfig::sklearn_sgd(lr, momentum, nesterov)?;
        Ok(PyClassInitializer::from(with_config(config)).add_subclass(SklearnSgd))
    }
}

/// scikit-learn's `AdamOptimizer`, for `ferroprop.MLPClassifier`/`MLPRegressor`.
#[pyclass(extends = Optimizer, name = "SklearnAdam", module = "ferroprop._core")]
pub struct SklearnAdam;

#[pymethods]
impl SklearnAdam {
    #[new]
    #[pyo3(signature = (lr, beta_1, beta_2, epsilon))]
    fn new(lr: f64, beta_1: f64, beta_2: f64, epsilon: f64) -> PyResult<PyClassInitializer<Self>> {
        let config = OptimizerConfig::sklearn_adam(lr, beta_1, beta_2, epsilon)?;
        Ok(PyClassInitializer::from(with_config(config)).add_subclass(SklearnAdam))
    }
}
