"""Targets of ``ferroprop train``: class labels encoded as class indices (as scikit-learn's
``LabelEncoder`` does), or regression targets checked and made float.

Class labels may be integers (any range: 50000000 is a class, not an output width), integral
floats, booleans or text. The classes are the distinct labels in sorted order (numbers
numerically) of the training and test labels together — a test label the training data lacks
is a class the network never predicts, which counts as an error, as in scikit-learn's
``score``; label ``classes[i]`` becomes index ``i``. When the classes are exactly 0..K-1 the
indices are the labels and no names are needed; otherwise the model file keeps the names, so
that ``ferroprop predict`` prints the original labels.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import CLIError

_INT64_MAX = 2**63 - 1
_EXACT_FLOAT_INT = 2**53  # beyond this a float64 no longer holds every integer
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def rows(array: np.ndarray, what: str) -> int:
    """The number of rows of `array`, which must have at least one dimension."""
    if array.ndim == 0:
        raise CLIError(f"{what}: expected one value per row, got a single value (a 0-d array)")
    return len(array)


def _label_keys(raw: np.ndarray, what: str) -> np.ndarray:
    """1-D class labels as int64 (numbers, and text that is all integers) or str."""
    if raw.ndim != 1:
        raise CLIError(f"{what}: class labels must be 1-D, got shape {raw.shape}")
    kind = raw.dtype.kind
    if kind == "b":
        return raw.astype(np.int64)
    if kind in "iu":
        if kind == "u" and raw.size and int(raw.max()) > _INT64_MAX:
            raise CLIError(f"{what}: label {int(raw.max())} is larger than 2**63 - 1")
        return raw.astype(np.int64)
    if kind == "f":
        if not np.isfinite(raw).all():
            raise CLIError(f"{what}: labels contain NaN or infinite values")
        if not (raw == np.round(raw)).all():
            raise CLIError(
                f"{what}: labels are not class labels (non-integer numbers); "
                "use --task regression for numeric targets"
            )
        if raw.size and float(np.abs(raw).max()) > _EXACT_FLOAT_INT:
            raise CLIError(
                f"{what}: label {float(np.abs(raw).max()):g} is too large to be an exact "
                "integer class label (the limit is 2**53 for floats; store integers)"
            )
        return raw.astype(np.int64)
    if kind == "S":
        try:
            texts = [b.decode("utf-8") for b in raw.tolist()]
        except UnicodeDecodeError as exc:
            raise CLIError(f"{what}: labels are bytes that are not UTF-8 text ({exc})") from None
        raw = np.array(texts, dtype=str)
    elif kind != "U":
        raise CLIError(
            f"{what}: expected numbers or strings as class labels, got dtype {raw.dtype}"
        )
    texts = raw.tolist()
    if all(_INTEGER_TEXT.fullmatch(t) for t in texts):
        values = [int(t) for t in texts]
        if all(-_INT64_MAX - 1 <= v <= _INT64_MAX for v in values):
            return np.array(values, dtype=np.int64)
    return raw.astype(str)


def _label_order(name: str) -> tuple[int, float, str]:
    """Numbers in numeric order, before other names."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def encode_classes(
    parts: list[np.ndarray], what: str
) -> tuple[list[np.ndarray], list[str] | None, int]:
    """Class labels of train (`parts[0]`) and test -> int64 class indices, the class names (None
    when the classes are 0..K-1) and the number of outputs (at least 2). The classes are those
    of every part."""
    keys = [_label_keys(raw, what) for raw in parts]
    if any(k.dtype.kind == "U" for k in keys):  # mixed text and numbers compare as text
        keys = [k.astype(str) for k in keys]
    if keys[0].size == 0:
        raise CLIError(f"{what}: no training labels")
    every = np.concatenate(keys)
    if every.dtype.kind == "U":
        classes = np.array(sorted(set(every.tolist()), key=_label_order), dtype=str)
        index = {name: i for i, name in enumerate(classes.tolist())}
        coded = [np.array([index[s] for s in k.tolist()], dtype=np.int64) for k in keys]
    else:
        classes = np.unique(every)
        coded = [np.searchsorted(classes, k).astype(np.int64) for k in keys]
    identity = classes.dtype.kind == "i" and np.array_equal(classes, np.arange(len(classes)))
    names = None if identity else [str(c) for c in classes.tolist()]
    return coded, names, max(len(classes), 2)


def regression_targets(parts: list[np.ndarray], what: str) -> tuple[list[np.ndarray], int]:
    """Regression targets of train and test as float64 (n,) or (n, k), and k."""
    out = []
    for raw in parts:
        if raw.dtype.kind not in "biufUS":
            raise CLIError(f"{what}: regression targets must be numbers, got dtype {raw.dtype}")
        try:
            y = raw.astype(np.float64)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise CLIError(f"{what}: regression targets must be numeric") from None
        if y.ndim not in (1, 2):
            raise CLIError(f"{what}: expected targets (n,) or (n, k), got shape {y.shape}")
        if not np.isfinite(y).all():
            raise CLIError(f"{what}: targets contain NaN or infinite values")
        out.append(y)
    n_out = 1 if out[0].ndim == 1 else out[0].shape[1]
    if any((1 if y.ndim == 1 else y.shape[1]) != n_out for y in out):
        raise CLIError(f"{what}: train and test targets have different widths")
    if n_out == 0:
        raise CLIError(f"{what}: targets have no columns")
    return out, n_out


#: With ``--task auto``, integer targets with more distinct values than this (and than one per
#: ``_ROWS_PER_CLASS`` rows) are regression targets.
_MAX_AUTO_CLASSES = 20
_ROWS_PER_CLASS = 20


def detect_task(raw: np.ndarray) -> str:
    """``--task auto``: "regression" for numeric targets that are 2-D, have a fractional value,
    or have many distinct values (more than 20 and more than one per 20 rows); otherwise
    "classification" (text, booleans, a few integers — and anything malformed, which the class
    encoding then reports)."""
    if raw.dtype.kind not in "iufU":
        return "classification"
    try:
        y = raw.astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        return "classification"
    if y.size == 0 or not np.isfinite(y).all():
        return "classification"
    if y.ndim == 2:
        return "regression"
    if y.ndim != 1:
        return "classification"
    if not (y == np.round(y)).all():
        return "regression"
    distinct = len(np.unique(y))
    many = distinct > max(_MAX_AUTO_CLASSES, len(y) // _ROWS_PER_CLASS)
    return "regression" if many else "classification"


def label_cells(column: np.ndarray) -> np.ndarray:
    """A table's target column as labels: numbers as they are, anything else as text (the
    Python values of a Parquet column; None as "")."""
    if column.dtype.kind != "O":
        return column
    return np.array(["" if v is None else str(v) for v in column.tolist()], dtype=str)
