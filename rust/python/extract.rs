//! Extracting Python arguments with errors that name the argument (PyO3's own say only what
//! type was wrong).

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyString};

use super::errors::{type_error, value_error};

/// A real number: a Python or NumPy int or float (anything with `__float__` but text).
/// TypeError for other types, ValueError for an int too large for a float.
pub fn real(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyBool>()
    {
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

/// An integer (Python's or NumPy's, not a bool or a float) in the range of i64: TypeError for
/// other types, ValueError beyond the range. The engine checks the value itself.
pub fn integer(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    let wrong = || {
        type_error(format!(
            "{name}: expected an integer, got {}",
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyFloat>() {
        return Err(wrong());
    }
    obj.extract::<i64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            value_error(format!("{name}: {obj} is out of range"))
        } else {
            wrong()
        }
    })
}

/// [`integer`], or None when the argument was not given (or is None).
pub fn optional_integer(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<i64>> {
    match obj {
        Some(o) if !o.is_none() => integer(o, name).map(Some),
        _ => Ok(None),
    }
}

/// A sequence of [`integer`]s (not text).
pub fn integers(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<i64>> {
    let wrong = || {
        type_error(format!(
            "{name}: expected a sequence of integers, got {}",
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(wrong());
    }
    let items = obj.try_iter().map_err(|_| wrong())?;
    items
        .enumerate()
        .map(|(i, item)| integer(&item?, &format!("{name}[{i}]")))
        .collect()
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
