//! The `Network` class: one engine network of either float type.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::access::{AnyNetwork, Shared, Typed};
use super::arrays::{to_array, to_matrix, Matrix, TargetArray, Vector};
use super::errors::{guarded, value_error};
use super::fit::{self, FitArgs};
use super::layers::{layer_object, spec_of};
use super::losses::{extract_loss, loss_object};
use super::optimizers::Optimizer;
use super::tensors::{entries_to_python, forward_training, gradients, load_state_dict};
use crate::error::{zeros, Result};
use crate::layers::{LayerOps, LayerSpec};
use crate::network::{Network, NetworkSpec, StackSpec};
use crate::rng::Rng;
use crate::scalar::Scalar;
use crate::train;
use crate::{Activation, Init, Loss};

/// Runs `$body` with `T` bound to the network's float type.
macro_rules! typed {
    ($self:expr, $t:ident => $body:expr) => {
        match $self.dtype {
            "float32" => {
                type $t = f32;
                $body
            }
            _ => {
                type $t = f64;
                $body
            }
        }
    };
}

/// A summary row as returned to Python (see `Network::summary_rows`).
pub type SummaryTuple = (usize, &'static str, usize, usize, usize, usize, u64, u64);

/// The engine network behind `ferroprop.Network`. Arrays arrive converted to the network's
/// dtype, aligned and in C order; class labels as int64. Safe to share between threads (see
/// `access`).
#[pyclass(name = "Network", module = "ferroprop._core", frozen)]
pub struct PyNetwork {
    pub(super) shared: Shared,
    /// Shuffles for `fit(seed=None)`: advances across calls, reproducible from the net's seed.
    pub(super) rng: Mutex<Rng>,
    pub(super) widths: Vec<usize>,
    activations: Vec<&'static str>,
    specs: Vec<LayerSpec>,
    loss: Loss,
    dtype: &'static str,
}

#[pymethods]
impl PyNetwork {
    #[new]
    #[pyo3(signature = (widths, activations, loss, dtype, init, seed))]
    fn new(
        py: Python<'_>,
        widths: Vec<i64>,
        activations: Vec<String>,
        loss: &Bound<'_, PyAny>,
        dtype: &str,
        init: &str,
        seed: u64,
    ) -> PyResult<Self> {
        guarded("Network()", || {
            if let Some(w) = widths.iter().find(|&&w| w <= 0) {
                return Err(value_error(format!(
                    "widths: every width must be a positive integer, got {w} in {widths:?}"
                )));
            }
            let activations = activations
                .iter()
                .map(|a| Activation::parse(a))
                .collect::<Result<Vec<_>>>()?;
            let spec = NetworkSpec {
                widths: widths.iter().map(|&w| w as usize).collect(),
                activations,
                loss: extract_loss(loss)?,
                init: Init::parse(init)?,
                seed,
            };
            Self::build(py, spec.stack()?, dtype)
        })
    }

    /// A network from a list of layers (`ferroprop.layers`) on inputs of `input_dim`
    /// features.
    #[staticmethod]
    #[pyo3(signature = (layers, input_dim, loss, dtype, seed))]
    fn stack(
        py: Python<'_>,
        layers: Vec<Bound<'_, PyAny>>,
        input_dim: i64,
        loss: &Bound<'_, PyAny>,
        dtype: &str,
        seed: u64,
    ) -> PyResult<Self> {
        guarded("Sequential()", || {
            let layers = layers
                .iter()
                .enumerate()
                .map(|(i, l)| spec_of(l, &format!("layers[{i}]")))
                .collect::<PyResult<Vec<_>>>()?;
            let input_dim = usize::try_from(input_dim).unwrap_or(0);
            let spec = StackSpec {
                input_dim,
                layers,
                loss: extract_loss(loss)?,
                seed,
            };
            Self::build(py, spec, dtype)
        })
    }

    /// The layers, as built (new objects of `ferroprop.layers`).
    #[getter]
    fn layers(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.specs.iter().map(|&s| layer_object(py, s)).collect()
    }

    /// Training steps taken (`step`/`fit`); the step number of the next dropout masks.
    #[getter]
    fn training_steps(&self, py: Python<'_>) -> PyResult<u64> {
        guarded(
            "Network.training_steps",
            || typed!(self, T => self.read_detached::<T, _>(py, |n| Ok(n.training_steps()))),
        )
    }

    #[setter]
    fn set_training_steps(&self, py: Python<'_>, steps: u64) -> PyResult<()> {
        guarded("Network.training_steps", || {
            typed!(self, T => {
                self.shared.check_available()?;
                Ok(py.detach(|| self.shared.write::<T, _>(|n| {
                    n.set_training_steps(steps);
                    Ok(())
                }))?)
            })
        })
    }

    /// `[(name, array or int), …]` in torch's names, layouts and order (copies).
    fn state_dict<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Py<PyAny>)>> {
        guarded("Network.state_dict", || {
            typed!(self, T => {
                let entries = self.read_detached::<T, _>(py, |n| n.state_dict())?;
                entries_to_python(py, entries)
            })
        })
    }

    /// Replaces every entry from `[(name, array or int), …]` (arrays of the network's dtype,
    /// C order): names, shapes and values are checked before anything is copied.
    fn load_state_dict(
        &self,
        py: Python<'_>,
        entries: Vec<(String, Bound<'_, PyAny>)>,
    ) -> PyResult<()> {
        guarded(
            "Network.load_state_dict",
            || typed!(self, T => load_state_dict::<T>(py, self, &entries)),
        )
    }

    /// The keep mask `(rows, width)` (bool) of the Dropout at `index` for a batch of `rows`
    /// rows at the next training step.
    fn _dropout_keep<'py>(
        &self,
        py: Python<'py>,
        index: usize,
        rows: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded("Network._dropout_keep", || {
            typed!(self, T => {
                let (keep, width) = self.read_detached::<T, _>(py, |n| {
                    let width = n.layers().get(index).map_or(0, |l| l.width());
                    Ok((n.dropout_keep(index, rows, n.training_steps())?, width))
                })?;
                to_array(py, keep, &[rows, width])
            })
        })
    }

    /// One tuple per layer: `(index, kind, fan_in, width, params, buffers, flops_forward,
    /// flops_backward)`, FLOPs per sample of a training step (see `ferroprop.summary`).
    fn summary_rows(&self, py: Python<'_>) -> PyResult<Vec<SummaryTuple>> {
        guarded("Network.summary_rows", || {
            typed!(self, T => self.read_detached::<T, _>(py, |n| {
                Ok(n.summary_rows()
                    .into_iter()
                    .map(|r| {
                        (r.index, r.kind, r.fan_in, r.width, r.params, r.buffers,
                         r.flops_forward, r.flops_backward)
                    })
                    .collect())
            }))
        })
    }

    #[getter]
    fn widths(&self) -> Vec<usize> {
        self.widths.clone()
    }

    #[getter]
    fn activations(&self) -> Vec<&'static str> {
        self.activations.clone()
    }

    #[getter]
    fn loss_name(&self) -> &'static str {
        self.loss.name()
    }

    /// The loss object (`ferroprop.losses`), with its parameters.
    #[getter]
    fn loss_spec(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        loss_object(py, self.loss)
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype
    }

    /// Copies of the weights, each `(fan_in, fan_out)`.
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guarded("Network.weights", || {
            typed!(self, T => {
                let copies: Vec<Vec<T>> = self.read_detached::<T, _>(py, |n| {
                    n.dense_layers().map(|d| copy(n.param(d.weight))).collect()
                })?;
                let shapes = self.widths.windows(2);
                let arrays = copies
                    .into_iter()
                    .zip(shapes)
                    .map(|(w, s)| to_matrix(py, w, s[0], s[1]))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, arrays)
            })
        })
    }

    /// Copies of the biases, each `(fan_out,)`.
    fn biases<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guarded("Network.biases", || {
            typed!(self, T => {
                let copies: Vec<Vec<T>> = self.read_detached::<T, _>(py, |n| {
                    n.dense_layers().map(|d| copy(n.param(d.bias))).collect()
                })?;
                PyList::new(py, copies.into_iter().map(|b| numpy::PyArray1::from_vec(py, b)))
            })
        })
    }

    fn set_parameters(
        &self,
        py: Python<'_>,
        weights: Vec<Bound<'_, PyAny>>,
        biases: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        guarded(
            "Network.set_parameters",
            || typed!(self, T => set_parameters::<T>(py, self, &weights, &biases)),
        )
    }

    /// Output activations `(n, n_out)` for `x (n, n_in)`, in evaluation mode or, with
    /// `training`, in training mode over all rows as one batch.
    #[pyo3(signature = (x, training = false))]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        training: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded("Network.forward", || {
            typed!(self, T => if training {
                forward_training::<T>(py, self, x)
            } else {
                forward::<T>(py, self, x, false)
            })
        })
    }

    /// Class indices `(n,)` int64 for cross_entropy (argmax of the outputs); for the other
    /// losses the outputs, as `forward`.
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        guarded(
            "Network.predict",
            || typed!(self, T => forward::<T>(py, self, x, self.loss.wants_classes())),
        )
    }

    /// Mean loss of `x` against `y`.
    fn loss(&self, py: Python<'_>, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<f64> {
        guarded("Network.loss", || {
            typed!(self, T => {
                let (xm, ym) = borrow_data::<T>(self, x, y, ("X", "y"))?;
                let (data, rows, targets) = (xm.data(), xm.rows, ym.view());
                self.read_detached::<T, _>(py, |n| Ok(n.evaluate(data, rows, &targets)?.0))
            })
        })
    }

    /// `(loss, [(name, gradient), …])` of the mean loss over all rows of `x` in training mode
    /// (weighted by `sample_weight`, plus scikit-learn's L2 term when `alpha > 0`), named and
    /// laid out like the trainable entries of `state_dict`.
    #[pyo3(signature = (x, y, sample_weight = None, alpha = 0.0))]
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        sample_weight: Option<Bound<'py, PyAny>>,
        alpha: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded(
            "Network.gradients",
            || typed!(self, T => gradients::<T>(py, self, x, y, sample_weight.as_ref(), alpha, true)),
        )
    }

    /// `(loss, [dW…], [db…])`: as `gradients`, for the Dense layers only, each `dW` laid out
    /// `(fan_in, fan_out)` like `weights()` (what `ferroprop.Network` and the estimators use).
    #[pyo3(signature = (x, y, sample_weight = None, alpha = 0.0))]
    fn dense_gradients<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        sample_weight: Option<Bound<'py, PyAny>>,
        alpha: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded(
            "Network.dense_gradients",
            || typed!(self, T => gradients::<T>(py, self, x, y, sample_weight.as_ref(), alpha, false)),
        )
    }

    /// One optimizer update on the batch `(x, y)`; returns the loss before it.
    fn step(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        optimizer: &Bound<'_, Optimizer>,
    ) -> PyResult<f64> {
        guarded("Network.step", || {
            typed!(self, T => {
                let (xm, ym) = borrow_data::<T>(self, x, y, ("X", "y"))?;
                let (data, rows, targets) = (xm.data(), xm.rows, ym.view());
                let opt = optimizer.get();
                opt.check_fork()?;
                self.shared.check_available()?;
                let id = self.shared.id;
                py.detach(|| {
                    self.shared.write::<T, _>(|n| {
                        opt.with_state::<T, _>(id, |config, state| {
                            train::step(n, config, state, data, rows, &targets)
                        })
                    })
                })
                .map_err(PyErr::from)
            })
        })
    }

    /// Trains for `epochs`; returns `[(loss, val_loss, val_accuracy, seconds), …]` per epoch.
    /// `on_epoch(epoch, loss, val_loss, val_accuracy, seconds)` is called after each epoch,
    /// with the network free to be read, saved or changed. `order` (int64, a permutation of
    /// the rows) fixes the visiting order of every epoch; `sample_weight` and `alpha` are
    /// scikit-learn's (see `gradients`). `finite_checked` skips the scan of `x` for NaN/inf
    /// when the caller has already made it (scikit-learn's `validate_data`).
    #[pyo3(signature = (
        x, y, epochs, batch_size, optimizer, *, shuffle = true, seed = None, x_val = None,
        y_val = None, on_epoch = None, order = None, sample_weight = None, alpha = 0.0,
        finite_checked = false, clip_grad_norm = None, clip_grad_value = None,
        diagnostics = false, schedule = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: u64,
        batch_size: u64,
        optimizer: &Bound<'_, Optimizer>,
        shuffle: bool,
        seed: Option<u64>,
        x_val: Option<Bound<'_, PyAny>>,
        y_val: Option<Bound<'_, PyAny>>,
        on_epoch: Option<Py<PyAny>>,
        order: Option<Bound<'_, PyAny>>,
        sample_weight: Option<Bound<'_, PyAny>>,
        alpha: f64,
        finite_checked: bool,
        clip_grad_norm: Option<f64>,
        clip_grad_value: Option<f64>,
        diagnostics: bool,
        schedule: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Py<PyDict>>> {
        guarded("Network.fit", || {
            let args = FitArgs {
                x,
                y,
                epochs,
                batch_size,
                optimizer: optimizer.get(),
                shuffle,
                seed,
                x_val,
                y_val,
                on_epoch,
                order,
                sample_weight,
                alpha,
                finite_checked,
                clip_grad_norm,
                clip_grad_value,
                diagnostics,
                schedule,
            };
            typed!(self, T => fit::fit::<T>(py, self, args))
        })
    }
}

impl PyNetwork {
    /// Builds the engine network of `spec` in `dtype`, without the GIL (initialising a large
    /// network takes a while).
    fn build(py: Python<'_>, spec: StackSpec, dtype: &str) -> PyResult<Self> {
        let dtype = match dtype {
            "float32" => f32::NAME,
            "float64" => f64::NAME,
            _ => {
                return Err(value_error(format!(
                    "dtype: expected 'float32' or 'float64', got {dtype:?}"
                )))
            }
        };
        let net = py.detach(|| -> Result<AnyNetwork> {
            Ok(match dtype {
                "float32" => AnyNetwork::F32(Network::stack(&spec)?),
                _ => AnyNetwork::F64(Network::stack(&spec)?),
            })
        })?;
        let (widths, activations) = match &net {
            AnyNetwork::F32(n) => (n.widths(), n.activations()),
            AnyNetwork::F64(n) => (n.widths(), n.activations()),
        };
        Ok(PyNetwork {
            shared: Shared::new(net),
            rng: Mutex::new(Rng::new(spec.seed, 2)),
            widths,
            activations: activations.iter().map(|a| a.name()).collect(),
            specs: spec.layers,
            loss: spec.loss,
            dtype,
        })
    }

    /// [`Shared::read`] with the GIL released, after [`Shared::check_available`].
    pub(super) fn read_detached<T: Typed, R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Network<T>) -> Result<R> + Send,
    ) -> PyResult<R> {
        self.shared.check_available()?;
        Ok(py.detach(|| self.shared.read(f))?)
    }
}

/// A copy of `v`, or a MemoryError.
fn copy<T: Scalar>(v: &[T]) -> Result<Vec<T>> {
    let mut out = zeros(Some(v.len()), "a copy of the parameters")?;
    out.copy_from_slice(v);
    Ok(out)
}

fn set_parameters<T: Typed>(
    py: Python<'_>,
    this: &PyNetwork,
    weights: &[Bound<'_, PyAny>],
    biases: &[Bound<'_, PyAny>],
) -> PyResult<()> {
    let layers = this.widths.len() - 1;
    if weights.len() != layers || biases.len() != layers {
        return Err(value_error(format!(
            "weights, biases: expected {layers} arrays each (one per layer), got {} and {}",
            weights.len(),
            biases.len()
        )));
    }
    let mut w = Vec::with_capacity(layers);
    for (i, (obj, s)) in weights.iter().zip(this.widths.windows(2)).enumerate() {
        let m = Matrix::<T>::borrow(obj, &format!("weights[{i}]"))?;
        if (m.rows, m.cols) != (s[0], s[1]) {
            return Err(value_error(format!(
                "weights[{i}]: expected shape ({}, {}), got ({}, {})",
                s[0], s[1], m.rows, m.cols
            )));
        }
        w.push(m);
    }
    let mut b = Vec::with_capacity(layers);
    for (i, (obj, s)) in biases.iter().zip(this.widths.windows(2)).enumerate() {
        let v = Vector::<T>::borrow(obj, &format!("biases[{i}]"), T::NAME)?;
        if v.data().len() != s[1] {
            return Err(value_error(format!(
                "biases[{i}]: expected shape ({},), got ({},)",
                s[1],
                v.data().len()
            )));
        }
        b.push(v);
    }
    let w: Vec<&[T]> = w.iter().map(|m| m.data()).collect();
    let b: Vec<&[T]> = b.iter().map(|v| v.data()).collect();
    this.shared.check_available()?;
    Ok(py.detach(|| this.shared.write::<T, _>(|n| n.set_parameters(&w, &b)))?)
}

/// The outputs for `x`, or with `classes` the predicted class of each row (int64).
fn forward<'py, T: Typed>(
    py: Python<'py>,
    this: &PyNetwork,
    x: &Bound<'py, PyAny>,
    classes: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let x = Matrix::<T>::borrow(x, "X")?;
    let (data, rows, cols) = (x.data(), x.rows, x.cols);
    if classes {
        let labels = this.read_detached::<T, _>(py, |net| {
            net.check_width(cols)?; // names X before allocating
            net.predict_classes(data, rows)
        })?;
        return Ok(numpy::PyArray1::from_vec(py, labels).into_any());
    }
    let n_out = this.widths[this.widths.len() - 1];
    let out = this.read_detached::<T, _>(py, |net| {
        net.check_width(cols)?; // `forward` checks the rest; this names X before allocating
        let mut out = zeros(rows.checked_mul(n_out), "the outputs")?;
        net.forward(data, rows, &mut out)?;
        Ok(out)
    })?;
    Ok(to_matrix(py, out, rows, n_out)?.into_any())
}

/// Borrows `(x, y)` and checks they match each other in length.
pub(super) fn borrow_data<'py, T: Typed>(
    this: &PyNetwork,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    names: (&str, &str),
) -> PyResult<(Matrix<'py, T>, TargetArray<'py, T>)> {
    let xm = Matrix::<T>::borrow(x, names.0)?;
    let ym = TargetArray::<T>::borrow(y, this.loss.wants_classes(), names.1)?;
    if ym.rows() != xm.rows {
        return Err(value_error(format!(
            "{}, {}: expected the same number of samples, got {} and {}",
            names.0,
            names.1,
            xm.rows,
            ym.rows()
        )));
    }
    Ok((xm, ym))
}

pub(super) fn borrow_weights<'py, T: Typed>(
    sample_weight: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Vector<'py, T>>> {
    sample_weight
        .map(|w| Vector::borrow(w, "sample_weight", "a float vector of the network's dtype"))
        .transpose()
}
