//! Loss objects (`ferroprop.losses`): one frozen class per engine loss, holding its
//! parameters. Their constructors validate through the engine ([`Loss::with_params`]), so
//! Python and Rust accept exactly the same values; a network takes a loss object or a name.

use std::hash::{DefaultHasher, Hash, Hasher};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use super::errors::{guarded, type_error};
use super::extract::{real, real_or};
use crate::losses::Loss;

/// Base class of the loss objects; construct one of its subclasses (`ferroprop.losses`).
#[pyclass(subclass, frozen, name = "Loss", module = "ferroprop._core")]
pub struct PyLoss {
    loss: Loss,
}

#[pymethods]
impl PyLoss {
    /// The loss's name, as `Network(loss=...)` and model files take it.
    #[getter]
    fn name(&self) -> &'static str {
        self.loss.name()
    }

    /// The parameters and their values, `{name: value}` in constructor order.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.loss.params() {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let args: Vec<String> = self
            .loss
            .params()
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        format!("{}({})", class_name(self.loss), args.join(", "))
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.loss == other.loss
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.loss.name().hash(&mut h);
        for (_, value) in self.loss.params() {
            // + 0.0 maps -0.0 to 0.0, which compare equal.
            (value + 0.0).to_bits().hash(&mut h);
        }
        h.finish()
    }

    /// Pickles as `(class, (parameter values…))`.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let values: Vec<f64> = slf.get().loss.params().iter().map(|p| p.1).collect();
        Ok((slf.get_type().into_any(), PyTuple::new(slf.py(), values)?))
    }
}

/// The loss `obj` stands for: a loss name (str) or a loss object. TypeError for anything
/// else, ValueError (from the engine) for an unknown name.
pub fn extract_loss(obj: &Bound<'_, PyAny>) -> PyResult<Loss> {
    if let Ok(name) = obj.cast::<PyString>() {
        return Ok(Loss::parse(name.to_str()?)?);
    }
    if let Ok(loss) = obj.cast::<PyLoss>() {
        return Ok(loss.get().loss);
    }
    let kind = obj
        .get_type()
        .name()
        .map_or_else(|_| "an object".to_string(), |n| n.to_string());
    Err(type_error(format!(
        "loss: expected a loss name (str) or a ferroprop.losses object, got {kind}"
    )))
}

/// Defines one subclass of `Loss` per engine loss (Rust type, Python name, engine name,
/// parameters with defaults, docstring), [`loss_object`] and [`class_name`].
macro_rules! loss_classes {
    ($(
        $(#[doc = $doc:literal])*
        $class:ident = $py_name:literal for $name:literal ($($param:ident = $default:expr),*) $sig:literal;
    )*) => {
        $(
            $(#[doc = $doc])*
            #[pyclass(extends = PyLoss, frozen, name = $py_name, module = "ferroprop._core")]
            pub struct $class;

            #[pymethods]
            impl $class {
                #[new]
                #[pyo3(signature = ($($param = None),*), text_signature = $sig)]
                fn new($($param: Option<&Bound<'_, PyAny>>),*) -> PyResult<PyClassInitializer<Self>> {
                    guarded(concat!($py_name, "()"), || {
                        let params: &[(&str, f64)] = &[
                            $((stringify!($param), real_or($param, stringify!($param), $default)?)),*
                        ];
                        let loss = Loss::with_params($name, params)?;
                        Ok(PyClassInitializer::from(PyLoss { loss }).add_subclass($class))
                    })
                }
            }
        )*

        /// The loss object for `loss`, an instance of its class.
        pub fn loss_object(py: Python<'_>, loss: Loss) -> PyResult<Py<PyAny>> {
            let base = PyClassInitializer::from(PyLoss { loss });
            match loss.name() {
                $($name => Ok(Py::new(py, base.add_subclass($class))?.into_any()),)*
                other => Err(crate::error::Error::Internal(format!(
                    "loss_object: no class for the loss {other:?}"
                ))
                .into()),
            }
        }

        /// The Python class name of `loss`'s objects.
        fn class_name(loss: Loss) -> &'static str {
            match loss.name() {
                $($name => $py_name,)*
                _ => "Loss",
            }
        }
    };
}

loss_classes! {
    /// PyTorch's `CrossEntropyLoss(label_smoothing=ε)`: softmax outputs, class-index targets;
    /// the target distribution is `(1-ε)·onehot + ε/K`. ε in [0, 1].
    CrossEntropy = "CrossEntropy" for "cross_entropy" (label_smoothing = 0.0) "(label_smoothing=0.0)";
    /// PyTorch's `BCEWithLogitsLoss`: sigmoid outputs, targets in [0, 1].
    BinaryCrossEntropy = "BinaryCrossEntropy" for "binary_cross_entropy" () "()";
    /// PyTorch's `MSELoss`: identity outputs, mean squared error (not halved).
    Mse = "MSE" for "mse" () "()";
    /// scikit-learn's `log_loss`: softmax outputs, class-index targets.
    LogLoss = "LogLoss" for "log_loss" () "()";
    /// scikit-learn's `binary_log_loss`: logistic outputs, targets in [0, 1].
    BinaryLogLoss = "BinaryLogLoss" for "binary_log_loss" () "()";
    /// scikit-learn's `squared_error`: identity outputs, half the squared error.
    SquaredError = "SquaredError" for "squared_error" () "()";
    /// scikit-learn's `poisson`: exp outputs, half the Poisson deviance, targets >= 0.
    Poisson = "Poisson" for "poisson" () "()";
    /// PyTorch's `HuberLoss(delta)`: identity outputs; quadratic below `delta`, linear above.
    /// `delta` > 0.
    Huber = "Huber" for "huber" (delta = 1.0) "(delta=1.0)";
    /// PyTorch's `L1Loss`: identity outputs, mean absolute error.
    L1 = "L1" for "l1" () "()";
}

/// The loss object called `name` with `params` (`{name: number}`, the others at their
/// defaults), as a model file stores it. ValueError naming an unknown loss or parameter or a
/// value out of range; TypeError for a value that is not a number.
#[pyfunction]
#[pyo3(signature = (name, params = None))]
pub fn make_loss(
    py: Python<'_>,
    name: &str,
    params: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    guarded("make_loss", || {
        let mut given: Vec<(String, f64)> = Vec::new();
        if let Some(params) = params {
            for (key, value) in params.iter() {
                let key: String = key
                    .extract()
                    .map_err(|_| type_error("params: expected parameter names (str)"))?;
                let value = real(&value, &key)?;
                given.push((key, value));
            }
        }
        let given: Vec<(&str, f64)> = given.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        loss_object(py, Loss::with_params(name, &given)?)
    })
}
