//! Engine errors as Python exceptions, and the guard every entry point runs under.

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::Error;
use crate::threads::panic_message;

pyo3::create_exception!(
    ferroprop,
    DivergenceError,
    pyo3::exceptions::PyFloatingPointError,
    "Training produced a non-finite loss, gradient or parameter; the parameters are those of \
     the last finite step."
);

pyo3::create_exception!(
    ferroprop,
    InternalError,
    PyRuntimeError,
    "A bug in ferroprop (a panic caught at its edge): the message names the operation. The \
     objects involved stay usable unless the message says otherwise."
);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Value(msg) => PyValueError::new_err(msg),
            Error::Diverged { .. } => DivergenceError::new_err(err.to_string()),
            Error::Interrupted => PyKeyboardInterrupt::new_err(err.to_string()),
            Error::Memory(_) => PyMemoryError::new_err(err.to_string()),
            Error::Internal(_) => InternalError::new_err(err.to_string()),
        }
    }
}

pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

pub fn type_error(msg: impl Into<String>) -> PyErr {
    PyTypeError::new_err(msg.into())
}

pub fn busy_error(msg: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(msg.into())
}

/// Runs a binding method's body; a panic becomes `InternalError` naming `op` instead of
/// `pyo3_runtime.PanicException` (a BaseException that `except Exception` misses).
pub fn guarded<R>(op: &str, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Error::Internal(format!("{op}: {}", panic_message(payload.as_ref()))).into())
    })
}
