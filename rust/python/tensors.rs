//! What crosses the boundary as named tensors: `state_dict` entries both ways and the
//! gradients (named in torch's layout, or the Dense ones in the engine's), and the outputs of a
//! training-mode forward pass.

use pyo3::prelude::*;
use pyo3::types::PyList;

use super::access::Typed;
use super::arrays::{to_array, to_matrix, Matrix, Tensor};
use super::errors::value_error;
use super::network::{borrow_data, borrow_weights, PyNetwork};
use crate::error::zeros;
use crate::network::{StateEntry, StateRef, StateValues, Workspace};
use crate::train::Dataset;

pub(super) fn gradients<'py, T: Typed>(
    py: Python<'py>,
    this: &PyNetwork,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    alpha: f64,
    named: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (xm, ym) = borrow_data::<T>(this, x, y, ("X", "y"))?;
    let sw = borrow_weights::<T>(sample_weight)?;
    let data = Dataset {
        x: xm.data(),
        rows: xm.rows,
        cols: xm.cols,
        targets: ym.view(),
        weights: sw.as_ref().map(|w| w.data()),
    };
    /// The gradients as they go to Python: named, or the Dense ones by kind.
    enum Out<T> {
        Named(Vec<StateEntry<T>>),
        Dense(Vec<(Vec<T>, usize, usize)>, Vec<Vec<T>>),
    }
    let (loss, out) = this.read_detached::<T, _>(py, |net| {
        // `loss_and_gradients` checks the data; this names X before allocating.
        net.check_shape(data.rows, data.cols)?;
        let mut ws = Workspace::new(net, data.rows)?;
        let mut grads = net.zero_gradients()?;
        let loss = net.loss_and_gradients(&data, alpha, &mut ws, &mut grads)?;
        if named {
            return Ok((loss, Out::Named(net.gradient_dict(grads)?)));
        }
        let dense: Vec<_> = net.dense_layers().cloned().collect();
        let mut tensors: Vec<Option<Vec<T>>> = grads.tensors.into_iter().map(Some).collect();
        let mut take = |i: usize| tensors[i].take().unwrap_or_default();
        let dw = dense
            .iter()
            .map(|d| (take(d.weight), d.fan_in, d.fan_out))
            .collect();
        let db = dense.iter().map(|d| take(d.bias)).collect();
        Ok((loss, Out::Dense(dw, db)))
    })?;
    let out = match out {
        Out::Named(entries) => entries_to_python(py, entries)?
            .into_pyobject(py)?
            .into_any(),
        Out::Dense(dw, db) => {
            let dw = dw
                .into_iter()
                .map(|(g, r, c)| to_matrix(py, g, r, c))
                .collect::<PyResult<Vec<_>>>()?;
            let db: Vec<_> = db
                .into_iter()
                .map(|g| numpy::PyArray1::from_vec(py, g))
                .collect();
            (PyList::new(py, dw)?, PyList::new(py, db)?)
                .into_pyobject(py)?
                .into_any()
        }
    };
    Ok((loss, out).into_pyobject(py)?.into_any())
}

/// State entries as `(name, array or int)` pairs.
pub(super) fn entries_to_python<T: Typed>(
    py: Python<'_>,
    entries: Vec<StateEntry<T>>,
) -> PyResult<Vec<(String, Py<PyAny>)>> {
    entries
        .into_iter()
        .map(|e| {
            let value = match e.values {
                StateValues::Float(v) => to_array(py, v, &e.shape)?.unbind(),
                StateValues::Count(c) => c.into_pyobject(py)?.into_any().unbind(),
            };
            Ok((e.name, value))
        })
        .collect()
}

pub(super) fn load_state_dict<T: Typed>(
    py: Python<'_>,
    this: &PyNetwork,
    entries: &[(String, Bound<'_, PyAny>)],
) -> PyResult<()> {
    let mut tensors = Vec::with_capacity(entries.len());
    let mut counts = Vec::new();
    for (name, value) in entries {
        let what = format!("state_dict[{name:?}]");
        if value.is_instance_of::<pyo3::types::PyInt>() {
            counts.push((
                name.as_str(),
                value.extract::<i64>().map_err(|_| {
                    value_error(format!("{what}: expected a count that fits in int64"))
                })?,
            ));
        } else {
            tensors.push((name.as_str(), Tensor::<T>::borrow(value, &what)?));
        }
    }
    let refs: Vec<(&str, StateRef<'_, T>)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                *n,
                StateRef::Float {
                    shape: &t.shape,
                    data: t.data(),
                },
            )
        })
        .chain(counts.iter().map(|&(n, c)| (n, StateRef::Count(c))))
        .collect();
    this.shared.check_available()?;
    Ok(py.detach(|| this.shared.write::<T, _>(|n| n.load_state_dict(&refs)))?)
}

/// The outputs for `x` in training mode.
pub(super) fn forward_training<'py, T: Typed>(
    py: Python<'py>,
    this: &PyNetwork,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = Matrix::<T>::borrow(x, "X")?;
    let (data, rows, cols) = (x.data(), x.rows, x.cols);
    let n_out = this.widths[this.widths.len() - 1];
    let out = this.read_detached::<T, _>(py, |net| {
        net.check_shape(rows, cols)?; // names X before allocating
        let mut out = zeros(rows.checked_mul(n_out), "the outputs")?;
        net.forward_training(data, rows, &mut out)?;
        Ok(out)
    })?;
    Ok(to_matrix(py, out, rows, n_out)?.into_any())
}
