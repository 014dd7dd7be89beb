//! The layer classes of `ferroprop.layers`: frozen descriptions whose constructors validate
//! through the engine ([`LayerSpec`]); a network is built from a list of them.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::errors::{guarded, type_error};
use super::extract::real_or;
use crate::activations::Activation;
use crate::init::Init;
use crate::layers::LayerSpec;

/// Base class of every layer.
#[pyclass(subclass, frozen, module = "ferroprop._core", name = "Layer")]
pub struct PyLayer {
    pub spec: LayerSpec,
}

#[pymethods]
impl PyLayer {
    /// The layer's kind: "Dense", "Activation", "Dropout", "LayerNorm" or "BatchNorm".
    #[getter]
    fn kind(&self) -> &'static str {
        self.spec.kind()
    }

    fn __repr__(&self) -> String {
        match self.spec {
            LayerSpec::Dense { units, init } => format!("Dense({units}, init={:?})", init.name()),
            LayerSpec::Activation(a) => format!("Activation({:?})", a.name()),
            LayerSpec::Dropout { p } => format!("Dropout(p={p:?})"),
            LayerSpec::LayerNorm { eps } => format!("LayerNorm(eps={eps:?})"),
            LayerSpec::BatchNorm { momentum, eps } => {
                format!("BatchNorm(momentum={momentum:?}, eps={eps:?})")
            }
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyLayer>()
            .is_ok_and(|o| o.get().spec == self.spec)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.__repr__().hash(&mut h);
        h.finish()
    }

    /// `(class, constructor arguments)`: layers pickle and copy.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let args = match slf.get().spec {
            LayerSpec::Dense { units, init } => (units, init.name()).into_pyobject(py)?,
            LayerSpec::Activation(a) => (a.name(),).into_pyobject(py)?,
            LayerSpec::Dropout { p } => (p,).into_pyobject(py)?,
            LayerSpec::LayerNorm { eps } => (eps,).into_pyobject(py)?,
            LayerSpec::BatchNorm { momentum, eps } => (momentum, eps).into_pyobject(py)?,
        };
        (slf.get_type(), args).into_pyobject(py)
    }
}

/// The layer of a `PyLayer` instance, or a TypeError naming `name`.
pub fn spec_of(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<LayerSpec> {
    obj.cast::<PyLayer>().map(|l| l.get().spec).map_err(|_| {
        type_error(format!(
            "{name}: expected a layer from ferroprop.layers ({}), got {}",
            LayerSpec::KINDS.join(", "),
            obj.get_type()
                .name()
                .map_or("an object".into(), |n| n.to_string())
        ))
    })
}

fn base(spec: LayerSpec) -> PyClassInitializer<PyLayer> {
    PyClassInitializer::from(PyLayer { spec })
}

#[pyclass(extends = PyLayer, frozen, module = "ferroprop._core")]
pub struct Dense;

#[pymethods]
impl Dense {
    #[new]
    #[pyo3(signature = (units, init = "glorot"))]
    fn new(units: &Bound<'_, PyAny>, init: &str) -> PyResult<PyClassInitializer<Self>> {
        guarded("Dense()", || {
            let units = units
                .extract::<i64>()
                .map_err(|_| type_error("units: expected a positive integer"))?;
            let units = usize::try_from(units).map_err(|_| {
                crate::Error::value(format!("units: expected a positive integer, got {units}"))
            })?;
            Ok(base(LayerSpec::dense(units, Init::parse(init)?)?).add_subclass(Dense))
        })
    }

    #[getter]
    fn units(slf: PyRef<'_, Self>) -> usize {
        match slf.as_super().spec {
            LayerSpec::Dense { units, .. } => units,
            _ => 0,
        }
    }

    #[getter]
    fn init(slf: PyRef<'_, Self>) -> &'static str {
        match slf.as_super().spec {
            LayerSpec::Dense { init, .. } => init.name(),
            _ => "",
        }
    }
}

#[pyclass(extends = PyLayer, frozen, module = "ferroprop._core", name = "Activation")]
pub struct ActivationLayer;

#[pymethods]
impl ActivationLayer {
    #[new]
    fn new(name: &str) -> PyResult<PyClassInitializer<Self>> {
        guarded("Activation()", || {
            Ok(base(LayerSpec::Activation(Activation::parse(name)?)).add_subclass(ActivationLayer))
        })
    }

    #[getter]
    fn name(slf: PyRef<'_, Self>) -> &'static str {
        match slf.as_super().spec {
            LayerSpec::Activation(a) => a.name(),
            _ => "",
        }
    }
}

#[pyclass(extends = PyLayer, frozen, module = "ferroprop._core")]
pub struct Dropout;

#[pymethods]
impl Dropout {
    #[new]
    #[pyo3(signature = (p = None), text_signature = "(p=0.5)")]
    fn new(p: Option<Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<Self>> {
        guarded("Dropout()", || {
            let p = real_or(p.as_ref(), "p", 0.5)?;
            Ok(base(LayerSpec::dropout(p)?).add_subclass(Dropout))
        })
    }

    #[getter]
    fn p(slf: PyRef<'_, Self>) -> f64 {
        match slf.as_super().spec {
            LayerSpec::Dropout { p } => p,
            _ => f64::NAN,
        }
    }
}

#[pyclass(extends = PyLayer, frozen, module = "ferroprop._core")]
pub struct LayerNorm;

#[pymethods]
impl LayerNorm {
    #[new]
    #[pyo3(signature = (eps = None), text_signature = "(eps=1e-05)")]
    fn new(eps: Option<Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<Self>> {
        guarded("LayerNorm()", || {
            let eps = real_or(eps.as_ref(), "eps", 1e-5)?;
            Ok(base(LayerSpec::layer_norm(eps)?).add_subclass(LayerNorm))
        })
    }

    #[getter]
    fn eps(slf: PyRef<'_, Self>) -> f64 {
        match slf.as_super().spec {
            LayerSpec::LayerNorm { eps } => eps,
            _ => f64::NAN,
        }
    }
}

#[pyclass(extends = PyLayer, frozen, module = "ferroprop._core")]
pub struct BatchNorm;

#[pymethods]
impl BatchNorm {
    #[new]
    #[pyo3(signature = (momentum = None, eps = None), text_signature = "(momentum=0.1, eps=1e-05)")]
    fn new(
        momentum: Option<Bound<'_, PyAny>>,
        eps: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        guarded("BatchNorm()", || {
            let momentum = real_or(momentum.as_ref(), "momentum", 0.1)?;
            let eps = real_or(eps.as_ref(), "eps", 1e-5)?;
            Ok(base(LayerSpec::batch_norm(momentum, eps)?).add_subclass(BatchNorm))
        })
    }

    #[getter]
    fn momentum(slf: PyRef<'_, Self>) -> f64 {
        match slf.as_super().spec {
            LayerSpec::BatchNorm { momentum, .. } => momentum,
            _ => f64::NAN,
        }
    }

    #[getter]
    fn eps(slf: PyRef<'_, Self>) -> f64 {
        match slf.as_super().spec {
            LayerSpec::BatchNorm { eps, .. } => eps,
            _ => f64::NAN,
        }
    }
}

/// A new Python layer object for `spec`.
pub fn layer_object(py: Python<'_>, spec: LayerSpec) -> PyResult<Py<PyAny>> {
    let b = base(spec);
    Ok(match spec {
        LayerSpec::Dense { .. } => Bound::new(py, b.add_subclass(Dense))?.into_any().unbind(),
        LayerSpec::Activation(_) => Bound::new(py, b.add_subclass(ActivationLayer))?
            .into_any()
            .unbind(),
        LayerSpec::Dropout { .. } => Bound::new(py, b.add_subclass(Dropout))?.into_any().unbind(),
        LayerSpec::LayerNorm { .. } => Bound::new(py, b.add_subclass(LayerNorm))?
            .into_any()
            .unbind(),
        LayerSpec::BatchNorm { .. } => Bound::new(py, b.add_subclass(BatchNorm))?
            .into_any()
            .unbind(),
    })
}
