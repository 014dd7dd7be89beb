//! Borrowing NumPy arrays as slices, without copying. The Python layer hands over aligned,
//! native-order, C-contiguous arrays (copying only those that are not); anything else is
//! refused here with an error naming the argument, never read as an empty slice.

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
        let [rows, cols] = [array.shape()[0], array.shape()[1]];
        Ok(Matrix {
            array: readonly(array, name)?,
            rows,
            cols,
        })
    }

    pub fn data(&self) -> &[T] {
        // `readonly` checked the slice is available.
        self.array.as_slice().unwrap_or_default()
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
        Ok(Vector {
            array: readonly(array, name)?,
        })
    }

    pub fn data(&self) -> &[T] {
        // `readonly` checked the slice is available.
        self.array.as_slice().unwrap_or_default()
    }
}

/// A read-only borrow of `array`, checked to be viewable as one slice (aligned and
/// C-contiguous) and not written through a mutable borrow elsewhere.
fn readonly<'py, T: Element, D: numpy::ndarray::Dimension>(
    array: &Bound<'py, numpy::PyArray<T, D>>,
    name: &str,
) -> PyResult<numpy::PyReadonlyArray<'py, T, D>> {
    let ro = array
        .try_readonly()
        .map_err(|e| value_error(format!("{name}: cannot be read now ({e})")))?;
    if ro.as_slice().is_err() {
        return Err(value_error(format!(
            "{name}: expected an aligned, C-contiguous array"
        )));
    }
    Ok(ro)
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

/// A C-contiguous array of any dimension, borrowed read-only (a `state_dict` entry).
pub struct Tensor<'py, T: Element> {
    array: numpy::PyReadonlyArrayDyn<'py, T>,
    pub shape: Vec<usize>,
}

impl<'py, T: Element + Scalar> Tensor<'py, T> {
    pub fn borrow(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        let array = obj
            .cast::<numpy::PyArrayDyn<T>>()
            .map_err(|_| type_error(format!("{name}: expected a {} NumPy array", T::NAME)))?;
        let shape = array.shape().to_vec();
        Ok(Tensor {
            array: readonly(array, name)?,
            shape,
        })
    }

    pub fn data(&self) -> &[T] {
        // `readonly` checked the slice is available.
        self.array.as_slice().unwrap_or_default()
    }
}

/// A new array of `shape` owning `data`.
pub fn to_array<'py, T: Element>(
    py: Python<'py>,
    data: Vec<T>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, data)
        .reshape(shape.to_vec())?
        .into_any())
}
