"""Turning user input into the arrays the Rust core borrows, with errors that name the argument.

The core takes aligned, native-byte-order, C-contiguous arrays of the network's dtype (int64
for class labels). Any legal NumPy array is accepted — unaligned, byte-swapped, strided,
Fortran-ordered, read-only, memory-mapped, empty — and copied only when it does not already
fit, so an array that fits is passed through without a copy.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

_NUMERIC_KINDS = "biuf"
#: The largest value an integer argument may take (the core's counters are 64-bit).
MAX_INT = 2**63 - 1


def native(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`arr` converted to `dtype` in native byte order, C-contiguous and aligned: `arr` itself
    when it already is, else a fresh copy."""
    if type(arr) is np.ndarray and arr.dtype == dtype:  # the common case, checked cheaply
        flags = arr.flags
        if flags.c_contiguous and flags.aligned:
            return arr
    out = np.asarray(arr, dtype=dtype)
    flags = out.flags
    if flags.c_contiguous and flags.aligned and out.dtype.isnative:
        return out
    return np.array(out, dtype=out.dtype.newbyteorder("="), order="C", copy=True)


def as_numeric(a: Any, name: str) -> np.ndarray:
    """`a` as an ndarray of a numeric dtype; TypeError otherwise."""
    arr = np.asarray(a)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def as_matrix(a: Any, dtype: np.dtype, name: str) -> np.ndarray:
    """`a` as a C-contiguous 2-D array of `dtype`, shape (n_samples, n_features)."""
    arr = as_numeric(a, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n_samples, n_features), got shape {arr.shape}"
        )
    return native(arr, dtype)


def as_vector(a: Any, dtype: np.dtype, name: str) -> np.ndarray:
    """`a` as a contiguous 1-D array of `dtype`."""
    arr = as_numeric(a, name)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return native(arr, dtype)


def as_labels(y: Any, name: str) -> np.ndarray:
    """Class indices as int64, shape (n_samples,). Floats must hold whole numbers."""
    arr = as_numeric(y, name)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected class indices of shape (n_samples,), got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: contains NaN or inf; expected integer class indices")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected integer class indices, got fractional values")
    if arr.size and arr.dtype.kind in "uf" and arr.max() > MAX_INT:
        raise ValueError(f"{name}: class index {arr.max()} is too large for int64")
    return native(arr, np.dtype(np.int64))


def as_values(y: Any, dtype: np.dtype, n_out: int, name: str) -> np.ndarray:
    """Float targets, shape (n_samples, n_out); (n_samples,) is accepted when n_out is 1."""
    arr = as_numeric(y, name)
    if arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape (n_samples, {n_out}), got {arr.shape}")
    if arr.shape[1] != n_out:
        raise ValueError(
            f"{name}: expected {n_out} columns (the network's output width), got {arr.shape[1]}"
        )
    return native(arr, dtype)


def as_count(v: Any, name: str, low: int = 0, high: int = MAX_INT) -> int:
    """An integer argument in `[low, high]`: any Python or NumPy integer (not a bool);
    TypeError for other types, ValueError naming `name` when out of range."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(v).__name__}")
    v = int(v)
    if not low <= v <= high:
        raise ValueError(f"{name}: expected an integer in [{low}, {high}], got {v}")
    return v


def as_seed(v: Any, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**64)."""
    return as_count(v, name, 0, 2**64 - 1)


def as_names(v: Any, count: int, name: str) -> list[str]:
    """A list with one name for each of `count` places. A single name comes back as `[name]`:
    the core applies it to every place and validates it even when `count` is 0."""
    if isinstance(v, str):
        return [v]
    if not isinstance(v, Sequence) or not all(isinstance(s, str) for s in v):
        raise TypeError(f"{name}: expected a name or a list of names, got {v!r}")
    if len(v) != count:
        raise ValueError(
            f"{name}: expected one name per hidden layer ({count}), got {len(v)}: {list(v)!r}"
        )
    return list(v)
