"""Model files for `MLPClassifier` and `MLPRegressor`: what is saved, and the checked rebuild.

The file (see `model_files`) holds `coefs.{i}` and `intercepts.{i}` and, with
`normalization`, `norm.{i}.{name}` (the entries of `norm_state_[i]`: weight and bias, and a
BatchNorm's running_mean, running_var and num_batches_tracked, a 0-d int64); its config holds
the constructor parameters (a `diagnostics` `Thresholds` as the mapping of its fields), the
fitted attributes (with dropout, the masks' seed and step count; `diagnostics_` as
`{"epochs": [...], "layers": [[layer, [[metric, [one value per epoch]], ...]], ...]}`, lists
that keep its order, or null) and, for a classifier, the classes. Files written before
`dropout`, `normalization` and `diagnostics` existed load with their defaults (and
`diagnostics_` None). Loading checks every field before building anything: a hostile file
raises ValueError, never crashes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from numbers import Integral
from typing import Any

import numpy as np

from .diagnostics import Thresholds
from .history import Diagnostics
from .model_files import (
    reject_extra_tensors,
    require,
    require_list,
    require_widths,
    tensor,
    write_model_file,
)

_Y_TYPES = ("binary", "multiclass", "multilabel-indicator")
# Class label dtypes a file may name: fixed-size numbers, or strings (sized by the values
# themselves, never by the file's dtype text).
_NUMERIC_LABELS = re.compile(r"[<>|=]?[biuf][1248]")
_STRING_LABELS = re.compile(r"[<>|=]?U[0-9]{1,6}|\|O")
_OUT_ACTIVATIONS = ("identity", "exp", "softmax", "logistic")
_NORM_KEYS = {
    "layer": ("weight", "bias"),
    "batch": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
}
_MAX_SEED = 2**63 - 1


def _number(value: Any) -> Any:
    """A float for JSON: non-finite values become the strings 'inf', '-inf', 'nan'."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _unnumber(value: Any, key: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("inf", "-inf", "nan"):
            raise ValueError(f"config[{key!r}]: expected a number, got {value[:40]!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"config[{key!r}]: expected a number, got {type(value).__name__}")
    return float(value)


def _curve(values: Any, key: str) -> list[float] | None:
    if values is None:
        return None
    if not isinstance(values, list):
        raise ValueError(f"config[{key!r}]: expected a list of numbers")
    return [_unnumber(v, key) for v in values]


def _params(est: Any) -> dict[str, Any]:
    """The constructor parameters as JSON values."""
    params = est.get_params(deep=False)
    hidden = params["hidden_layer_sizes"]
    params["hidden_layer_sizes"] = (
        [int(hidden)] if isinstance(hidden, Integral) else [int(h) for h in hidden]
    )
    if not (params["random_state"] is None or isinstance(params["random_state"], Integral)):
        params["random_state"] = None  # a RandomState instance is not saved
    params["n_iter_no_change"] = _number(params["n_iter_no_change"])
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = [[_label(k), float(v)] for k, v in params["class_weight"].items()]
    if isinstance(params.get("diagnostics"), Thresholds):
        params["diagnostics"] = dataclasses.asdict(params["diagnostics"])
    else:
        params["diagnostics"] = bool(params.get("diagnostics", False))
    return params


def _saved_thresholds(value: Any) -> Thresholds:
    """A `diagnostics` parameter saved as a mapping: the `Thresholds` of its fields."""
    fields = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = set(value) - fields
    if unknown:
        raise ValueError(
            f"config['params']['diagnostics']: unknown thresholds {sorted(unknown)[:5]}; "
            f"expected some of {sorted(fields)}"
        )
    try:
        return Thresholds(**value)
    except ValueError as err:
        raise ValueError(f"config['params']['diagnostics']: {err}") from None


def _record(diagnostics: Diagnostics | None) -> dict | None:
    """`diagnostics_` as JSON values (NaN as 'nan')."""
    if diagnostics is None:
        return None
    layers = [
        [layer, [[metric, _numbers(values)] for metric, values in metrics.items()]]
        for layer, metrics in diagnostics.items()
    ]
    return {"epochs": diagnostics.epochs, "layers": layers}


def _unrecord(value: Any) -> Diagnostics | None:
    """`diagnostics_` from `_record`'s form, checked (one number per epoch everywhere)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("config['fitted']['diagnostics']: expected a mapping or null")
    epochs = require_list(value, "epochs", int)
    columns: dict[str, dict[str, list[float]]] = {}
    for layer, metrics in _pairs(require(value, "layers", list), "diagnostics", list):
        for metric, values in _pairs(metrics, f"diagnostics[{layer!r}]", list):
            key = f"diagnostics[{layer}][{metric}]"
            curve = _curve(values, key)
            if curve is None or len(curve) != len(epochs):
                raise ValueError(f"config[{key!r}]: expected {len(epochs)} numbers, one per epoch")
            columns.setdefault(layer, {})[metric] = curve
    record = Diagnostics()
    for i, epoch in enumerate(epochs):
        record._append(
            epoch, {layer: {m: c[i] for m, c in ms.items()} for layer, ms in columns.items()}
        )
    return record


def _pairs(items: Any, key: str, kind: type) -> list[tuple[str, Any]]:
    """`[[name, value], ...]` checked: names are distinct strings, values of `kind`."""
    if not isinstance(items, list):
        raise ValueError(f"config[{key!r}]: expected a list of [name, value] pairs")
    seen: set[str] = set()
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or item[0] in seen
            or not isinstance(item[1], kind)
        ):
            raise ValueError(
                f"config[{key!r}]: expected [name, {kind.__name__}] pairs with distinct names"
            )
        seen.add(item[0])
    return [(name, value) for name, value in items]


def _label(value: Any) -> Any:
    """A class label as a JSON value (NumPy scalars to Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def save(est: Any, path: str | os.PathLike[str]) -> None:
    """Writes a fitted estimator (see `MLPClassifier.save`)."""
    tensors: dict[str, np.ndarray] = {}
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        tensors[f"coefs.{i}"] = np.ascontiguousarray(w)
        tensors[f"intercepts.{i}"] = np.ascontiguousarray(b)
    for i, layer in enumerate(est._norm_state()):
        for key, value in layer.items():
            want = np.int64 if key == "num_batches_tracked" else est.coefs_[0].dtype
            tensors[f"norm.{i}.{key}"] = np.array(value, dtype=want, order="C")  # keeps 0-d
    names = getattr(est, "feature_names_in_", None)
    fitted = {
        "dtype": est.coefs_[0].dtype.name,
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "n_outputs": int(est.n_outputs_),
        "out_activation": est.out_activation_,
        "n_iter": int(est.n_iter_),
        "t": int(getattr(est, "t_", 0)),
        "loss": _number(est.loss_),
        "best_loss": _number(getattr(est, "best_loss_", None)),
        "loss_curve": _numbers(getattr(est, "loss_curve_", None)),
        "validation_scores": _numbers(getattr(est, "validation_scores_", None)),
        "best_validation_score": _number(getattr(est, "best_validation_score_", None)),
        "validation_loss_curve": _numbers(getattr(est, "validation_loss_curve_", None)),
        "no_improvement_count": int(getattr(est, "_no_improvement_count", 0)),
        "diagnostics": _record(getattr(est, "diagnostics_", None)),
    }
    if est.dropout:
        fitted["mask_seed"] = int(getattr(est, "_mask_seed", 0))
        fitted["training_steps"] = int(getattr(est, "_mask_steps", 0))
    config = {"params": _params(est), "fitted": fitted}
    if hasattr(est, "classes_"):
        lb = est._label_binarizer
        config["classes"] = {
            "y_type": lb.y_type_,
            "values": [_label(c) for c in est.classes_],
            "dtype": est.classes_.dtype.str,
        }
    write_model_file(path, type(est).__name__, tensors, config)


def _numbers(values: Any) -> list | None:
    return None if values is None else [_number(v) for v in values]


def from_model_file(cls: type, tensors: dict[str, np.ndarray], config: dict) -> Any:
    """Rebuilds an estimator of class `cls` (`MLPClassifier` or `MLPRegressor`) from
    `read_model_file`'s output, checking every field."""
    kind = cls.__name__
    params = dict(require(config, "params", dict))
    fitted = require(config, "fitted", dict)
    hidden = require_list(params, "hidden_layer_sizes", int, min_len=1)
    params["n_iter_no_change"] = _unnumber(params.get("n_iter_no_change", 10), "n_iter_no_change")
    if params["n_iter_no_change"] != math.inf:
        params["n_iter_no_change"] = int(params["n_iter_no_change"])
    if isinstance(params.get("class_weight"), list):
        pairs = params["class_weight"]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError("config['params']['class_weight']: expected [label, weight] pairs")
        params["class_weight"] = {k: _unnumber(v, "class_weight") for k, v in pairs}
    if isinstance(params.get("diagnostics"), dict):
        params["diagnostics"] = _saved_thresholds(params["diagnostics"])
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise ValueError(f"config['params']: unknown parameters {sorted(unknown)[:5]}")
    est = cls(**{**params, "hidden_layer_sizes": tuple(hidden)})
    est._validate_params()

    dtype = require(fitted, "dtype", str)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"config['fitted']['dtype']: expected float32 or float64, got {dtype!r}")
    n_features = require(fitted, "n_features_in", int)
    n_outputs = require(fitted, "n_outputs", int)
    widths = require_widths({"widths": [n_features, *hidden, n_outputs]})
    names = []
    est.coefs_, est.intercepts_ = [], []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        est.coefs_.append(tensor(tensors, f"coefs.{i}", (fan_in, fan_out), dtype).copy())
        est.intercepts_.append(tensor(tensors, f"intercepts.{i}", (fan_out,), dtype).copy())
        names += [f"coefs.{i}", f"intercepts.{i}"]
    norm_state = _norm_state(tensors, est.normalization, hidden, dtype)
    names += [f"norm.{i}.{key}" for i, layer in enumerate(norm_state) for key in layer]
    reject_extra_tensors(tensors, names)
    if norm_state:
        est.norm_state_ = norm_state
        est._best_norm_state = [{k: v.copy() for k, v in layer.items()} for layer in norm_state]
    elif est.normalization is not None:  # no hidden layer: nothing to normalise
        est.norm_state_, est._best_norm_state = [], []
    if est.dropout:
        est._mask_seed = _count(fitted, "mask_seed", _MAX_SEED)
        est._mask_steps = _count(fitted, "training_steps", _MAX_SEED)

    est.n_features_in_ = n_features
    feature_names = fitted.get("feature_names_in")
    if feature_names is not None:
        feature_names = require_list(fitted, "feature_names_in", str)
        if len(feature_names) != n_features:
            raise ValueError("config['fitted']['feature_names_in']: one name per feature expected")
        est.feature_names_in_ = np.asarray(feature_names, dtype=object)
    est.n_outputs_ = n_outputs
    est.n_layers_ = len(widths)
    est.out_activation_ = require(fitted, "out_activation", str)
    if est.out_activation_ not in _OUT_ACTIVATIONS:
        raise ValueError(f"config['fitted']['out_activation']: unknown {est.out_activation_!r}")
    est.n_iter_ = require(fitted, "n_iter", int)
    est.t_ = require(fitted, "t", int)
    est.loss_ = _unnumber(fitted.get("loss"), "loss")
    est.best_loss_ = _unnumber(fitted.get("best_loss"), "best_loss")
    est.loss_curve_ = _curve(fitted.get("loss_curve"), "loss_curve")
    est.validation_scores_ = _curve(fitted.get("validation_scores"), "validation_scores")
    est.best_validation_score_ = _unnumber(
        fitted.get("best_validation_score"), "best_validation_score"
    )
    curve = _curve(fitted.get("validation_loss_curve"), "validation_loss_curve")
    if curve is not None:
        est.validation_loss_curve_ = curve
    if est.loss_curve_ is None:
        del est.loss_curve_, est.validation_scores_, est.best_validation_score_, est.best_loss_
    count = fitted.get("no_improvement_count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("config['fitted']['no_improvement_count']: expected an integer >= 0")
    est._no_improvement_count = count
    est.diagnostics_ = _unrecord(fitted.get("diagnostics"))
    # After early stopping the saved weights are the best ones (restore-best).
    est._best_coefs = [c.copy() for c in est.coefs_]
    est._best_intercepts = [b.copy() for b in est.intercepts_]
    est._stopped_early = False
    est._optimizer = None
    if kind == "MLPClassifier":
        _restore_classes(est, require(config, "classes", dict))
    elif est.out_activation_ not in ("identity", "exp"):
        raise ValueError("config['fitted']['out_activation']: not a regressor's output")
    est._build_network(np.dtype(dtype))
    return est


def _norm_state(
    tensors: dict[str, np.ndarray], normalization: Any, hidden: list[int], dtype: str
) -> list[dict[str, np.ndarray]]:
    """`norm_state_` from the `norm.{i}.{name}` tensors, each checked (shape, dtype, finite,
    variances and counts not negative) before use."""
    keys = _NORM_KEYS.get(normalization, ())
    state = []
    for i, units in enumerate(hidden if keys else []):
        layer = {}
        for key in keys:
            name = f"norm.{i}.{key}"
            if key == "num_batches_tracked":
                value = tensor(tensors, name, (), "int64")
            else:
                value = tensor(tensors, name, (units,), dtype)
            if key in ("running_var", "num_batches_tracked") and (value < 0).any():
                raise ValueError(f"tensor {name!r}: expected values >= 0")
            layer[key] = value.copy()
        state.append(layer)
    return state


def _count(fitted: dict, key: str, limit: int) -> int:
    """An optional integer of `fitted` in [0, limit] (0 when absent)."""
    value = fitted.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"config['fitted'][{key!r}]: expected an integer in [0, {limit}]")
    return value


def _restore_classes(est: Any, classes: dict) -> None:
    """`classes_` and the label binarizer, consistent with the output layer."""
    from sklearn.preprocessing import LabelBinarizer

    y_type = require(classes, "y_type", str)
    if y_type not in _Y_TYPES:
        raise ValueError(f"config['classes']['y_type']: expected one of {_Y_TYPES}")
    values = require_list(classes, "values", (str, int, float, bool), min_len=1)
    labels = _class_labels(values, require(classes, "dtype", str))
    n = est.n_outputs_
    expected = {"binary": n == 1 and len(labels) <= 2, "multiclass": n == len(labels) > 2}
    expected["multilabel-indicator"] = n == len(labels)
    softmax = est.out_activation_ == "softmax"
    if not expected[y_type] or softmax != (y_type == "multiclass"):
        raise ValueError(
            f"config['classes']: {len(labels)} {y_type} classes do not fit {n} "
            f"{est.out_activation_} outputs"
        )
    lb = LabelBinarizer()
    lb.classes_, lb.y_type_, lb.sparse_input_ = labels, y_type, False
    est._label_binarizer = lb
    est.classes_ = labels


def _class_labels(values: list, dtype_str: str) -> np.ndarray:
    """`classes_` from the file's values and dtype name (an allow-list: a hostile dtype text
    must not parse as code or size a huge array)."""
    if _NUMERIC_LABELS.fullmatch(dtype_str):
        if not all(isinstance(v, (int, float, bool)) for v in values):
            raise ValueError("config['classes']['values']: numeric labels expected")
        return np.asarray(values, dtype=np.dtype(dtype_str))
    if _STRING_LABELS.fullmatch(dtype_str):
        if not all(isinstance(v, str) for v in values):
            raise ValueError("config['classes']['values']: string labels expected")
        return np.asarray(values, dtype=object if dtype_str == "|O" else str)
    raise ValueError(f"config['classes']['dtype']: unsupported label dtype {dtype_str[:40]!r}")
