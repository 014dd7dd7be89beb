"""A fitted ``TablePreprocessor`` as plain data, for model files (never pickle).

The tensors (float64, one entry per numeric column, in column order):
``preprocessing.center``, ``preprocessing.scale`` (> 0) and ``preprocessing.fill`` (the
median imputed for missing cells). The JSON object::

    {"version": 1, "target": "label" or null,
     "columns": [{"name": "age", "kind": "numeric", "indicator": true},
                 {"name": "city", "kind": "categorical", "categories": ["paris", "rome"],
                  "missing": false}, ...],
     "feature_names": ["age", "age_missing", "city=paris", "city=rome"]}

``from_state`` checks all of it — types, unique names, categories, finite tensors of the right
shapes, feature names matching the columns — and raises ValueError saying what is wrong, before
building anything larger than what it was given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .preprocessing import TablePreprocessor

#: The prefix of the preprocessing tensors' names in a model file.
PREFIX = "preprocessing."
TENSORS = tuple(PREFIX + n for n in ("center", "scale", "fill"))
VERSION = 1
_KEYS = {"version", "target", "columns", "feature_names"}
_NUMERIC_KEYS = {"name", "kind", "indicator"}
_CATEGORICAL_KEYS = {"name", "kind", "categories", "missing"}


def to_state(prep: TablePreprocessor) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """`prep` as ``(tensors, state)``; see the module."""
    from .preprocessing import NumericColumn

    numeric = [c for c in prep.columns if isinstance(c, NumericColumn)]
    tensors = {
        PREFIX + "center": np.array([c.center for c in numeric], dtype=np.float64),
        PREFIX + "scale": np.array([c.scale for c in numeric], dtype=np.float64),
        PREFIX + "fill": np.array([c.fill for c in numeric], dtype=np.float64),
    }
    columns: list[dict[str, Any]] = []
    for c in prep.columns:
        if isinstance(c, NumericColumn):
            columns.append({"name": c.name, "kind": "numeric", "indicator": c.indicator})
        else:
            columns.append(
                {
                    "name": c.name,
                    "kind": "categorical",
                    "categories": list(c.categories),
                    "missing": c.missing,
                }
            )
    state = {
        "version": VERSION,
        "target": prep.target,
        "columns": columns,
        "feature_names": prep.feature_names,
    }
    return tensors, state


def _fail(reason: str) -> ValueError:
    return ValueError(f"preprocessing: {reason}")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exact_keys(obj: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(f"{what}: expected a JSON object, got {type(obj).__name__}")
    missing = sorted(keys - set(obj))
    extra = sorted(set(obj) - keys)
    if missing:
        raise _fail(f"{what}: no {missing[0]!r} entry")
    if extra:
        raise _fail(f"{what}: unexpected entry {_short(extra[0])}")
    return obj


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"{what}: expected true or false, got {_short(value)}")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(f"{what}: expected a non-empty string, got {_short(value)}")
    return value


def from_state(
    cls: type[TablePreprocessor],
    tensors: Mapping[str, np.ndarray],
    state: Any,
    n_features: int | None = None,
) -> TablePreprocessor:
    """The ``TablePreprocessor`` that ``to_state`` described; ValueError for anything else."""
    from .preprocessing import CategoricalColumn, Column, NumericColumn

    state = _exact_keys(state, _KEYS, "state")
    if state["version"] != VERSION or isinstance(state["version"], bool):
        raise _fail(f"version {_short(state['version'])} is not supported (expected {VERSION})")
    target = state["target"]
    if target is not None:
        _name(target, "target")
    raw_columns = state["columns"]
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _fail(f"columns: expected a non-empty list, got {_short(raw_columns)}")
    names = state["feature_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail("feature_names: expected a list of strings")
    if n_features is not None and len(names) != n_features:
        raise _fail(f"{len(names)} feature names, but the network takes {n_features} inputs")

    n_numeric = sum(1 for c in raw_columns if isinstance(c, dict) and c.get("kind") == "numeric")
    stats = [_tensor(tensors, t, n_numeric) for t in TENSORS]
    if (stats[1] <= 0).any():
        raise _fail(f"tensor {TENSORS[1]!r}: scales must be > 0")
    columns: list[Column] = []
    seen: set[str] = set()
    k = 0
    for i, raw in enumerate(raw_columns):
        what = f"columns[{i}]"
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind == "numeric":
            raw = _exact_keys(raw, _NUMERIC_KEYS, what)
            name = _name(raw["name"], f"{what}.name")
            indicator = _flag(raw["indicator"], f"{what}.indicator")
            center, scale, fill = (float(s[k]) for s in stats)
            columns.append(NumericColumn(name, center, scale, fill, indicator))
            k += 1
        elif kind == "categorical":
            raw = _exact_keys(raw, _CATEGORICAL_KEYS, what)
            name = _name(raw["name"], f"{what}.name")
            missing = _flag(raw["missing"], f"{what}.missing")
            categories = raw["categories"]
            if not isinstance(categories, list) or not all(
                isinstance(c, str) and c for c in categories
            ):
                raise _fail(f"{what}.categories: expected a list of non-empty strings")
            if len(set(categories)) != len(categories):
                raise _fail(f"{what}.categories: a category is listed twice")
            if not categories and not missing:
                raise _fail(f"{what}: a categorical column without categories")
            columns.append(CategoricalColumn(name, tuple(categories), missing))
        else:
            raise _fail(f"{what}.kind: expected 'numeric' or 'categorical', got {_short(kind)}")
        if name in seen or name == target:
            raise _fail(f"{what}: column {name!r} is listed twice (or is the target)")
        seen.add(name)
        if len(seen) > len(names):  # each column gives at least one feature
            raise _fail(f"{len(names)} feature names for more columns")
    prep = cls(columns, target=target)
    if prep.feature_names != names:
        raise _fail("feature_names do not match the columns")
    return prep


def _tensor(tensors: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    if name not in tensors:
        raise _fail(f"tensor {name!r} is missing")
    arr = tensors[name]
    if arr.dtype != np.float64 or arr.shape != (n,):
        raise _fail(
            f"tensor {name!r}: expected float64 of shape ({n},) (one per numeric column), "
            f"got {arr.dtype} {arr.shape}"
        )
    if not all(math.isfinite(v) for v in arr.tolist()):
        raise _fail(f"tensor {name!r}: contains NaN or inf")
    return arr
