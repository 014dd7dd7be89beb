//! Borrowing NumPy arrays as slices, without copying.

use numpy::{
    Element, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use super::errors::{type_error, value_error};
use crate::scalar::Scalar;

/// A C-contiguous 2-D array of `T`, borrowed read-only.
pub struct Matrix<'py, T: Element> {
    array: PyReadonlyArray2<'py, T>,
    pub rows: usize,
    pub cols: usize,
}

impl<'py, T: Element + Scalar> Matrix<'py, T> {
    /// Borrows `obj`, which the Python layer has already converted to `T` in C order.
    pub fn borrow(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        let array = obj
            .cast::<PyArray2<T>>()
            .map_err(|_| type_error(format!("{name}: expected a 2-D {} NumPy array", T::NAME)))?;
        if !array.is_c_contiguous() {
            return Err(value_error(format!(
                "{name}: expected a C-contiguous array"
            )));
        }
        let [rows, cols] = [array.shape()[0], array.shape()[1]];
        Ok(Matrix {
            array: array.readonly(),
            rows,
            cols,
        })
    }

    pub fn data(&self) -> &[T] {
        // C-contiguity was checked on borrow, so this cannot fail.
        self.array.as_slice().unwrap_or(&[])
    }
}

/// A C-contiguous 1-D array, borrowed read-only (class labels as int64, biases).
pub struct Vector<'py, T: Element> {
    array: PyReadonlyArray1<'py, T>,
}

impl<'py, T: Element> Vector<'py, T> {
    pub fn borrow(obj: &Bound<'py, PyAny>, name: &str, what: &str) -> PyResult<Self> {
        let array = obj
            .cast::<PyArray1<T>>()
            .map_err(|_| type_error(format!("{name}: expected a 1-D array of {what}")))?;
        if !array.is_c_contiguous() {
            return Err(value_error(format!("{name}: expected a contiguous array")));
        }
        Ok(Vector {
            array: array.readonly(),
        })
    }

    pub fn data(&self) -> &[T] {
        self.array.as_slice().unwrap_or(&[])
    }
}

/// A new `(rows, cols)` array owning `data`.
pub fn to_matrix<'py, T: Element>(
    py: Python<'py>,
    data: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    PyArray1::from_vec(py, data).reshape([rows, cols])
}

/// Targets as the loss wants them: class indices or a float matrix.
pub enum TargetArray<'py, T: Element> {
    Classes(Vector<'py, i64>),
    Values(Matrix<'py, T>),
}

impl<'py, T: Element + Scalar> TargetArray<'py, T> {
    pub fn borrow(obj: &Bound<'py, PyAny>, classes: bool, name: &str) -> PyResult<Self> {
        Ok(if classes {
            TargetArray::Classes(Vector::borrow(obj, name, "int64 class indices")?)
        } else {
            TargetArray::Values(Matrix::borrow(obj, name)?)
        })
    }

    /// Number of samples.
    pub fn rows(&self) -> usize {
        match self {
            TargetArray::Classes(l) => l.data().len(),
            TargetArray::Values(m) => m.rows,
        }
    }

    pub fn view(&self) -> crate::losses::Targets<'_, T> {
        match self {
            TargetArray::Classes(l) => crate::losses::Targets::Classes(l.data()),
            TargetArray::Values(m) => crate::losses::Targets::Values(m.data()),
        }
    }
}
