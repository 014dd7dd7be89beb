//! The `Network` class: one engine network of either float type.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use numpy::Element;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::arrays::{to_matrix, Matrix, TargetArray, Vector};
use super::detached;
use super::errors::value_error;
use super::optimizers::{Optimizer, StateOf};
use crate::error::{Error, Result};
use crate::losses::argmax;
use crate::network::{Network, NetworkSpec, Workspace};
use crate::rng::Rng;
use crate::scalar::Scalar;
use crate::threads;
use crate::train::{self, Dataset, EpochReport, FitConfig, Hooks};
use crate::{Activation, Init, Loss};

/// How often the waiting thread looks for Ctrl-C; the loop itself checks a flag every batch.
const SIGNAL_POLL: Duration = Duration::from_millis(5);

/// A float type the binding can serve.
pub trait Dtype: Scalar + Element + StateOf {}
impl<T: Scalar + Element + StateOf> Dtype for T {}

enum AnyNetwork {
    F32(Network<f32>),
    F64(Network<f64>),
}

/// Runs `$body` with `$net` bound to the typed network.
macro_rules! dispatch {
    ($any:expr, $net:ident => $body:expr) => {
        match $any {
            AnyNetwork::F32($net) => $body,
            AnyNetwork::F64($net) => $body,
        }
    };
}

/// One epoch as returned to Python: (loss, val_loss, val_accuracy, seconds).
type EpochRow = (f64, Option<f64>, Option<f64>, f64);

/// The engine network behind `ferroprop.Network`. Arrays arrive converted to the network's
/// dtype in C order; class labels as int64.
#[pyclass(name = "Network", module = "ferroprop._core")]
pub struct PyNetwork {
    net: AnyNetwork,
    /// Shuffles for `fit(seed=None)`: advances across calls, reproducible from the net's seed.
    rng: Rng,
}

#[pymethods]
impl PyNetwork {
    #[new]
    #[pyo3(signature = (widths, activations, loss, dtype, init, seed))]
    fn new(
        widths: Vec<i64>,
        activations: Vec<String>,
        loss: &str,
        dtype: &str,
        init: &str,
        seed: u64,
    ) -> PyResult<Self> {
        if let Some(w) = widths.iter().find(|&&w| w <= 0) {
            return Err(value_error(format!(
                "widths: every width must be a positive integer, got {w} in {widths:?}"
            )));
        }
        // One name stands for every hidden layer; it is parsed even when there are none.
        let mut activations = activations
            .iter()
            .map(|a| Activation::parse(a))
            .collect::<Result<Vec<_>>>()?;
        if let [only] = activations[..] {
            activations = vec![only; widths.len().saturating_sub(2)];
        }
        let spec = NetworkSpec {
            widths: widths.iter().map(|&w| w as usize).collect(),
            activations,
            loss: Loss::parse(loss)?,
            init: Init::parse(init)?,
            seed,
        };
        let net = match dtype {
            "float32" => AnyNetwork::F32(Network::new(&spec)?),
            "float64" => AnyNetwork::F64(Network::new(&spec)?),
            _ => {
                return Err(value_error(format!(
                    "dtype: expected 'float32' or 'float64', got {dtype:?}"
                )))
            }
        };
        Ok(PyNetwork {
            net,
            rng: Rng::new(seed, 2),
        })
    }

    #[getter]
    fn widths(&self) -> Vec<usize> {
        dispatch!(&self.net, n => n.widths())
    }

    #[getter]
    fn activations(&self) -> Vec<&'static str> {
        dispatch!(&self.net, n => n.activations().iter().map(|a| a.name()).collect())
    }

    #[getter]
    fn loss_name(&self) -> &'static str {
        dispatch!(&self.net, n => n.loss_kind().name())
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        match self.net {
            AnyNetwork::F32(_) => f32::NAME,
            AnyNetwork::F64(_) => f64::NAME,
        }
    }

    /// Copies of the weights, each `(fan_in, fan_out)`.
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        dispatch!(&self.net, n => {
            let arrays = n
                .layers()
                .iter()
                .map(|l| to_matrix(py, l.weight.clone(), l.fan_in, l.fan_out))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, arrays)
        })
    }

    /// Copies of the biases, each `(fan_out,)`.
    fn biases<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        dispatch!(&self.net, n => {
            PyList::new(py, n.layers().iter().map(|l| numpy::PyArray1::from_vec(py, l.bias.clone())))
        })
    }

    fn set_parameters(
        &mut self,
        weights: Vec<Bound<'_, PyAny>>,
        biases: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        dispatch!(&mut self.net, n => set_parameters(n, &weights, &biases))
    }

    /// Output activations `(n, n_out)` for `x (n, n_in)`.
    fn forward<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        dispatch!(&self.net, n => forward(py, n, x))
    }

    /// Class indices `(n,)` int64 for cross_entropy (argmax of the outputs); for the other
    /// losses the outputs, as `forward`.
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        dispatch!(&self.net, n => predict(py, n, x))
    }

    /// Mean loss of `x` against `y`.
    fn loss(&self, py: Python<'_>, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<f64> {
        dispatch!(&self.net, n => loss(py, n, x, y))
    }

    /// `(loss, [dW…], [db…])` of the mean loss over all rows of `x` (weighted by
    /// `sample_weight`, plus scikit-learn's L2 term when `alpha > 0`).
    #[pyo3(signature = (x, y, sample_weight = None, alpha = 0.0))]
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        sample_weight: Option<Bound<'py, PyAny>>,
        alpha: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        check_alpha(alpha)?;
        dispatch!(&self.net, n => gradients(py, n, x, y, sample_weight.as_ref(), alpha))
    }

    /// One optimizer update on the batch `(x, y)`; returns the loss before it.
    fn step(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        optimizer: &Bound<'_, Optimizer>,
    ) -> PyResult<f64> {
        let mut opt = optimizer.borrow_mut();
        dispatch!(&mut self.net, n => step(py, n, &mut opt, x, y))
    }

    /// Trains for `epochs`; returns `[(loss, val_loss, val_accuracy, seconds), …]` per epoch.
    /// `on_epoch(epoch, loss, val_loss, val_accuracy, seconds)` is called after each epoch.
    /// `order` (int64, a permutation of the rows) fixes the visiting order of every epoch;
    /// `sample_weight` and `alpha` are scikit-learn's (see `gradients`). `finite_checked` skips
    /// the scan of `x` for NaN/inf when the caller has already made it (scikit-learn's
    /// `validate_data`): a full pass over the data on every call of an epoch-at-a-time loop.
    #[pyo3(signature = (
        x, y, epochs, batch_size, optimizer, shuffle, seed, x_val, y_val, on_epoch,
        order = None, sample_weight = None, alpha = 0.0, finite_checked = false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: i64,
        batch_size: i64,
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
    ) -> PyResult<Vec<EpochRow>> {
        check_alpha(alpha)?;
        let order = order.map(|o| borrow_order(&o)).transpose()?;
        let epochs = usize::try_from(epochs)
            .map_err(|_| value_error(format!("epochs: expected an integer >= 0, got {epochs}")))?;
        let batch_size = usize::try_from(batch_size)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| {
                value_error(format!(
                    "batch_size: expected a positive integer, got {batch_size}"
                ))
            })?;
        let validation = match (x_val, y_val) {
            (Some(xv), Some(yv)) => Some((xv, yv)),
            (None, None) => None,
            _ => {
                return Err(value_error(
                    "validation_data: expected a pair (X_val, y_val)",
                ))
            }
        };
        let mut fresh;
        let rng = match seed {
            Some(s) => {
                fresh = Rng::new(s, 1);
                &mut fresh
            }
            None => &mut self.rng,
        };
        let mut opt = optimizer.borrow_mut();
        let settings = FitConfig {
            epochs,
            batch_size,
            shuffle,
            alpha,
        };
        let main_thread = is_main_thread(py)?;
        let on_epoch = on_epoch.as_ref();
        let (result, interrupt) = dispatch!(&mut self.net, n => {
            let run = FitRun {
                settings,
                order: order.as_deref(),
                main_thread,
                on_epoch,
                finite_checked,
            };
            fit(py, n, &mut opt, x, y, sample_weight.as_ref(), validation.as_ref(), run, rng)?
        });
        // Ctrl-C wins even if the last batch finished meanwhile: the user asked to stop.
        match (result, interrupt) {
            (_, Some(err)) => Err(err),
            (result, None) => Ok(result?
                .into_iter()
                .map(|r| (r.loss, r.val_loss, r.val_accuracy, r.seconds))
                .collect()),
        }
    }
}

fn set_parameters<T: Dtype>(
    net: &mut Network<T>,
    weights: &[Bound<'_, PyAny>],
    biases: &[Bound<'_, PyAny>],
) -> PyResult<()> {
    let layers = net.layers();
    if weights.len() != layers.len() || biases.len() != layers.len() {
        return Err(value_error(format!(
            "weights, biases: expected {} arrays each (one per layer), got {} and {}",
            layers.len(),
            weights.len(),
            biases.len()
        )));
    }
    let mut w = Vec::with_capacity(weights.len());
    for (i, (obj, layer)) in weights.iter().zip(layers).enumerate() {
        let m = Matrix::<T>::borrow(obj, &format!("weights[{i}]"))?;
        if (m.rows, m.cols) != (layer.fan_in, layer.fan_out) {
            return Err(value_error(format!(
                "weights[{i}]: expected shape ({}, {}), got ({}, {})",
                layer.fan_in, layer.fan_out, m.rows, m.cols
            )));
        }
        w.push(m);
    }
    let b = biases
        .iter()
        .enumerate()
        .map(|(i, obj)| Vector::<T>::borrow(obj, &format!("biases[{i}]"), T::NAME))
        .collect::<PyResult<Vec<_>>>()?;
    let w: Vec<&[T]> = w.iter().map(|m| m.data()).collect();
    let b: Vec<&[T]> = b.iter().map(|v| v.data()).collect();
    Ok(net.set_parameters(&w, &b)?)
}

fn forward<'py, T: Dtype>(
    py: Python<'py>,
    net: &Network<T>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = Matrix::<T>::borrow(x, "X")?;
    let (data, rows, cols, n_out) = (x.data(), x.rows, x.cols, net.n_outputs());
    let out = detached(py, || -> Result<Vec<T>> {
        net.check_inputs(data, rows, cols)?;
        let mut out = vec![T::zero(); rows * n_out];
        net.forward(data, rows, &mut out)?;
        Ok(out)
    })?;
    Ok(to_matrix(py, out, rows, n_out)?.into_any())
}

fn predict<'py, T: Dtype>(
    py: Python<'py>,
    net: &Network<T>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if !net.loss_kind().wants_classes() {
        return forward(py, net, x);
    }
    let x = Matrix::<T>::borrow(x, "X")?;
    let (data, rows, cols, n_out) = (x.data(), x.rows, x.cols, net.n_outputs());
    let classes = detached(py, || -> Result<Vec<i64>> {
        net.check_inputs(data, rows, cols)?;
        let mut out = vec![T::zero(); rows * n_out];
        net.forward(data, rows, &mut out)?;
        Ok(out
            .chunks_exact(n_out)
            .map(|row| argmax(row) as i64)
            .collect())
    })?;
    Ok(numpy::PyArray1::from_vec(py, classes).into_any())
}

/// Borrows `(x, y)` and checks they match each other in length.
fn borrow_data<'py, T: Dtype>(
    net: &Network<T>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    names: (&str, &str),
) -> PyResult<(Matrix<'py, T>, TargetArray<'py, T>)> {
    let xm = Matrix::<T>::borrow(x, names.0)?;
    let ym = TargetArray::<T>::borrow(y, net.loss_kind().wants_classes(), names.1)?;
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

fn loss<T: Dtype>(
    py: Python<'_>,
    net: &Network<T>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let (xm, ym) = borrow_data(net, x, y, ("X", "y"))?;
    let (data, rows, cols, targets) = (xm.data(), xm.rows, xm.cols, ym.view());
    Ok(detached(py, || -> Result<f64> {
        net.check_data(data, rows, cols, &targets)?;
        Ok(net.evaluate(data, rows, &targets)?.0)
    })?)
}

fn gradients<'py, T: Dtype>(
    py: Python<'py>,
    net: &Network<T>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    alpha: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let (xm, ym) = borrow_data(net, x, y, ("X", "y"))?;
    let sw = borrow_weights::<T>(sample_weight)?;
    let data = Dataset {
        x: xm.data(),
        rows: xm.rows,
        cols: xm.cols,
        targets: ym.view(),
        weights: sw.as_ref().map(|w| w.data()),
    };
    let (loss, grads) = detached(py, || -> Result<_> {
        net.check_data(data.x, data.rows, data.cols, &data.targets)?;
        net.check_weights(data.weights, data.rows, "sample_weight")?;
        let mut ws = Workspace::new(net, data.rows);
        let mut grads = net.zero_gradients();
        let loss = net.loss_and_gradients(&data, alpha, &mut ws, &mut grads)?;
        Ok((loss, grads))
    })?;
    let dw = grads
        .weights
        .into_iter()
        .zip(net.layers())
        .map(|(g, l)| to_matrix(py, g, l.fan_in, l.fan_out))
        .collect::<PyResult<Vec<_>>>()?;
    let db: Vec<_> = grads
        .biases
        .into_iter()
        .map(|g| numpy::PyArray1::from_vec(py, g))
        .collect();
    Ok((loss, PyList::new(py, dw)?, PyList::new(py, db)?)
        .into_pyobject(py)?
        .into_any())
}

fn step<T: Dtype>(
    py: Python<'_>,
    net: &mut Network<T>,
    opt: &mut Optimizer,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let (xm, ym) = borrow_data(net, x, y, ("X", "y"))?;
    let (data, rows, cols, targets) = (xm.data(), xm.rows, xm.cols, ym.view());
    let config = &opt.config;
    let state = T::state_of(&mut opt.state)?;
    Ok(detached(py, || -> Result<f64> {
        net.check_data(data, rows, cols, &targets)?;
        train::step(net, config, state, data, rows, &targets)
    })?)
}

/// What a fit returned, and the Python error that stopped it (KeyboardInterrupt or the
/// epoch callback's), if any.
type FitOutcome = (Result<Vec<EpochReport>>, Option<PyErr>);

/// How one `fit` call runs, besides its data.
struct FitRun<'a> {
    settings: FitConfig,
    order: Option<&'a [usize]>,
    main_thread: bool,
    on_epoch: Option<&'a Py<PyAny>>,
    /// The caller has checked `x` is finite.
    finite_checked: bool,
}

/// `alpha` as scikit-learn accepts it: finite and >= 0.
fn check_alpha(alpha: f64) -> PyResult<()> {
    if alpha.is_finite() && alpha >= 0.0 {
        Ok(())
    } else {
        Err(value_error(format!(
            "alpha: expected a finite value >= 0, got {alpha}"
        )))
    }
}

fn borrow_weights<'py, T: Dtype>(
    sample_weight: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Vector<'py, T>>> {
    sample_weight
        .map(|w| Vector::borrow(w, "sample_weight", "a float vector of the network's dtype"))
        .transpose()
}

/// A visiting order: int64 indices, converted to `usize` (range and repeats are checked by
/// the training loop).
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

#[allow(clippy::too_many_arguments)]
fn fit<T: Dtype>(
    py: Python<'_>,
    net: &mut Network<T>,
    opt: &mut Optimizer,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    sample_weight: Option<&Bound<'_, PyAny>>,
    validation: Option<&(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
    run: FitRun<'_>,
    rng: &mut Rng,
) -> PyResult<FitOutcome> {
    let FitRun {
        settings,
        order,
        main_thread,
        on_epoch,
        finite_checked,
    } = run;
    let (xm, ym) = borrow_data(net, x, y, ("X", "y"))?;
    let sw = borrow_weights::<T>(sample_weight)?;
    let val = validation
        .map(|(xv, yv)| borrow_data(net, xv, yv, ("X_val", "y_val")))
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
    let config = &opt.config;
    let state = T::state_of(&mut opt.state)?;
    let mut interrupt: Option<PyErr> = None;
    let mut work = |stop: &AtomicBool| -> FitOutcome {
        let mut hooks = PyHooks {
            stop,
            on_epoch,
            error: None,
        };
        let result =
            check_fit_data(net, &train_set, val_set.as_ref(), finite_checked).and_then(|()| {
                train::fit(
                    net,
                    config,
                    state,
                    &train_set,
                    val_set.as_ref(),
                    settings,
                    order,
                    rng,
                    &mut hooks,
                )
            });
        (result, hooks.error)
    };
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
    Ok((result, interrupt.or(callback_error)))
}

fn check_fit_data<T: Dtype>(
    net: &Network<T>,
    train_set: &Dataset<'_, T>,
    val: Option<&Dataset<'_, T>>,
    finite_checked: bool,
) -> Result<()> {
    if finite_checked {
        net.check_shape(train_set.rows, train_set.cols)?;
        net.loss_kind()
            .validate(&train_set.targets, train_set.rows, net.n_outputs())?;
    } else {
        net.check_data(
            train_set.x,
            train_set.rows,
            train_set.cols,
            &train_set.targets,
        )?;
    }
    net.check_weights(train_set.weights, train_set.rows, "sample_weight")?;
    if let Some(v) = val {
        net.check_data(v.x, v.rows, v.cols, &v.targets)
            .map_err(|e| Error::value(format!("validation_data: {e}")))?;
    }
    Ok(())
}

fn is_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let main = threading.call_method0("main_thread")?;
    Ok(main.is(&threading.call_method0("current_thread")?))
}

/// The training loop's link back to Python: the stop flag set on Ctrl-C, and the per-epoch
/// callback.
struct PyHooks<'a> {
    stop: &'a AtomicBool,
    on_epoch: Option<&'a Py<PyAny>>,
    /// The callback's error, if it raised.
    error: Option<PyErr>,
}

impl Hooks for PyHooks<'_> {
    fn poll(&mut self) -> Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    fn epoch_end(&mut self, r: &EpochReport) -> Result<()> {
        if let Some(callback) = self.on_epoch {
            let args = (r.epoch, r.loss, r.val_loss, r.val_accuracy, r.seconds);
            if let Err(e) = Python::attach(|py| callback.call1(py, args).map(drop)) {
                self.error = Some(e);
                return Err(Error::Interrupted);
            }
        }
        self.poll()
    }
}
