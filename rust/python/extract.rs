//! Extracting Python arguments with errors that name the argument (PyO3's own say only what
//! type was wrong).

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::errors::{type_error, value_error};

/// A real number: a Python or NumPy int or float (anything with `__float__` but text).
/// TypeError for other types, ValueError for an int too large for a float.
pub fn real(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(type_error(format!(
            "{name}: expected a number, got {}",
            type_name(obj)
        )));
    }
    obj.extract::<f64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            value_error(format!("{name}: {obj} is too large for a float"))
        } else {
            type_error(format!("{name}: expected a number, got {}", type_name(obj)))
        }
    })
}

/// [`real`], or `default` when the argument was not given.
pub fn real_or(obj: Option<&Bound<'_, PyAny>>, name: &str, default: f64) -> PyResult<f64> {
    obj.map_or(Ok(default), |o| real(o, name))
}

/// A bool (Python's or NumPy's), or `default` when not given.
pub fn flag_or(obj: Option<&Bound<'_, PyAny>>, name: &str, default: bool) -> PyResult<bool> {
    obj.map_or(Ok(default), |o| {
        o.extract::<bool>().map_err(|_| {
            type_error(format!(
                "{name}: expected True or False, got {}",
                type_name(o)
            ))
        })
    })
}

/// A pair of reals (any sequence of two), or `default` when not given.
pub fn pair_or(
    obj: Option<&Bound<'_, PyAny>>,
    name: &str,
    default: (f64, f64),
) -> PyResult<(f64, f64)> {
    let Some(obj) = obj else { return Ok(default) };
    let bad = || {
        type_error(format!(
            "{name}: expected a pair of numbers, got {}",
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(bad());
    }
    let len = obj.len().map_err(|_| bad())?;
    if len != 2 {
        return Err(value_error(format!(
            "{name}: expected a pair of numbers, got {len} values"
        )));
    }
    let item = |i: usize| -> PyResult<f64> {
        real(
            &obj.get_item(i).map_err(|_| bad())?,
            &format!("{name}[{i}]"),
        )
    };
    Ok((item(0)?, item(1)?))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "an object".to_string(), |n| n.to_string())
}
