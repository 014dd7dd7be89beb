"""The estimators' fitted state and the core networks that hold it: the normalisation layers'
entries (`norm_state_`), the full `load_state_dict` list of a core stack, and the cache of the
network `predict` uses."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from .._model import _entry
from .._validation import native

#: The entries of each normalisation layer in `norm_state_` (torch's names, in its order).
_NORM_KEYS = {
    "layer": ("weight", "bias"),
    "batch": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
}
_NORM_KINDS = {"LayerNorm": "layer", "BatchNorm": "batch"}
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _core_activation(name: str) -> str:
    """The core's canonical name for a hidden activation (scikit-learn's `logistic`)."""
    return "sigmoid" if name == "logistic" else name


def _dense(X: Any) -> Any:
    """Sparse inputs are densified: the engine's kernels are dense."""
    return X.toarray() if scipy.sparse.issparse(X) else X


# A `norm_state_`: per hidden layer, its normalisation layer's entries (name → array).
_NormState = list[dict[str, np.ndarray]]
# (core network, (dtype, activation, loss, normalization) it was built for, snapshots of the
# coefs, intercepts and norm state it holds)
_PredictionEntry = tuple[
    Any, tuple[str, str, str, str | None], list[np.ndarray], list[np.ndarray], _NormState
]


class _PredictionCache:
    """Holds the `_PredictionEntry` of `_BaseMLP._prediction_network`: the prediction network
    with snapshots of the parameters it holds; the entry is replaced whole, never modified.
    The holder stays the same object, so predicting leaves the estimator's `__dict__`
    unchanged (as scikit-learn's checks require); it pickles and deep-copies as an empty
    cache (core networks do not pickle; the first prediction rebuilds one)."""

    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: _PredictionEntry | None = None

    def __reduce__(self) -> tuple[type, tuple]:
        return (_PredictionCache, ())


def _same_arrays(current: Any, snapshot: list[np.ndarray]) -> bool:
    """Whether the arrays of `current` hold exactly the values of `snapshot` (same count,
    shapes, dtypes). Reads only: safe while other threads read too. (A snapshot is finite:
    the core refuses non-finite parameters, so NaN never needs to equal NaN here.)"""
    if len(current) != len(snapshot):
        return False
    for a, b in zip(current, snapshot, strict=True):
        if not isinstance(a, np.ndarray) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not np.array_equal(a, b):
            return False
    return True


def _copy_norm(state: _NormState) -> _NormState:
    return [{k: np.array(v, copy=True) for k, v in layer.items()} for layer in state]


def _same_norm(current: Any, snapshot: _NormState) -> bool:
    """`_same_arrays` for a `norm_state_` (a list of dicts)."""
    if not isinstance(current, list) or len(current) != len(snapshot):
        return False
    for a, b in zip(current, snapshot, strict=True):
        if not isinstance(a, dict) or list(a) != list(b):
            return False
        if not _same_arrays(list(a.values()), list(b.values())):
            return False
    return True


def _initial_norm(normalization: str, units: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    """A fresh normalisation layer's entries, as torch initialises them."""
    layer = {"weight": np.ones(units, dtype), "bias": np.zeros(units, dtype)}
    if normalization == "batch":
        layer["running_mean"] = np.zeros(units, dtype)
        layer["running_var"] = np.ones(units, dtype)
        layer["num_batches_tracked"] = np.array(0, dtype=np.int64)
    return layer


def _state_entries(
    net: Any, coefs: list[np.ndarray], intercepts: list[np.ndarray], norm: _NormState
) -> list[tuple[str, Any]]:
    """The full `load_state_dict` list of a core stack from the estimator's fitted state."""
    dtype = np.dtype(net.dtype)
    entries: list[tuple[str, Any]] = []
    dense = normal = 0
    for i, layer in enumerate(net.layers):
        if layer.kind == "Dense":
            entries.append((f"{i}.weight", native(np.transpose(coefs[dense]), dtype)))
            entries.append((f"{i}.bias", native(intercepts[dense], dtype)))
            dense += 1
        elif layer.kind in _NORM_KINDS:
            for key, value in norm[normal].items():
                if key == "num_batches_tracked":
                    entries.append((f"{i}.{key}", int(value)))
                else:
                    entries.append((f"{i}.{key}", native(value, dtype)))
            normal += 1
    return entries


def _norm_from(net: Any) -> _NormState:
    """The normalisation layers' entries of a core stack, one dict per layer."""
    kinds = [layer.kind for layer in net.layers]
    state: _NormState = [{} for kind in kinds if kind in _NORM_KINDS]
    positions = [i for i, kind in enumerate(kinds) if kind in _NORM_KINDS]
    for name, value in net.state_dict():
        index, key = name.split(".", 1)
        if kinds[int(index)] in _NORM_KINDS:
            state[positions.index(int(index))][key] = _entry(value)
    return state


def prediction_network(est: Any) -> Any:
    """A core network holding `est`'s current `coefs_`/`intercepts_`, for prediction only.

    Prediction never mutates a network another thread may be using (scikit-learn's
    `predict`, `predict_proba` and `score` are safe to call from many threads at once):
    a prediction network is built once per set of parameters, published together with a
    snapshot of the parameters it holds, and never changed afterwards. Each call compares
    the current `coefs_`/`intercepts_` (which a user may have edited in place or replaced,
    as scikit-learn allows) with the snapshot, a read-only pass over the parameters; only
    when they differ (or the dtype, activation or loss changed) is a fresh network built
    and published. Threads still holding the previous network finish with it undisturbed,
    and all threads run their forward passes concurrently (the core releases the GIL).
    """
    key = (
        est._dtype().name,
        _core_activation(est.activation),
        est._engine_loss(),
        est.normalization,
    )
    cache = est.__dict__.get("_prediction_cache")
    if cache is None:  # an estimator unpickled from an older ferroprop
        cache = est._prediction_cache = _PredictionCache()
    entry = cache.entry  # read once: another thread may publish a new entry meanwhile
    if entry is not None:
        net, entry_key, coefs, intercepts, norm = entry
        if (
            entry_key == key
            and _same_arrays(est.coefs_, coefs)
            and _same_arrays(est.intercepts_, intercepts)
            and _same_norm(getattr(est, "norm_state_", []), norm)
        ):
            return net
    coefs = [np.array(c, copy=True) for c in est.coefs_]
    intercepts = [np.array(b, copy=True) for b in est.intercepts_]
    norm = _copy_norm(est._norm_state())
    dtype = np.dtype(key[0])
    widths = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    # Dropout is the identity in evaluation: the prediction network has none.
    net = est._new_network(widths, key[0], (est.normalization, 0.0))
    if est.normalization is None:
        net.set_parameters(
            [native(c, dtype) for c in coefs],
            [native(b, dtype) for b in intercepts],
        )
    else:
        net.load_state_dict(_state_entries(net, coefs, intercepts, norm))
    # One assignment: readers see all or none.
    cache.entry = (net, key, coefs, intercepts, norm)
    return net
