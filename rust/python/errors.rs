//! Engine errors as Python exceptions.

use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;

pyo3::create_exception!(
    ferroprop,
    DivergenceError,
    pyo3::exceptions::PyFloatingPointError,
    "Training produced a non-finite loss or gradient; the parameters are those of the last \
     finite step."
);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Value(msg) => PyValueError::new_err(msg),
            Error::Diverged { .. } => DivergenceError::new_err(err.to_string()),
            Error::Interrupted => PyKeyboardInterrupt::new_err(err.to_string()),
        }
    }
}

pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

pub fn type_error(msg: impl Into<String>) -> PyErr {
    PyTypeError::new_err(msg.into())
}
