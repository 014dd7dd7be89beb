"""Preprocessing of tables for a network: what a person would otherwise do by hand with
scikit-learn's ``SimpleImputer``, ``StandardScaler`` and ``OneHotEncoder`` in a
``ColumnTransformer``, in NumPy only, and stored in a model file as plain tensors and JSON.

A *column* is a 1-D array (or list) of cells: text (the cells of a CSV), numbers, or booleans.

- **Kinds.** A column is *numeric* when every cell that is not missing parses as a number;
  otherwise, and for booleans (``true``/``false`` in any case, or a bool array), it is
  *categorical*. ``categorical=[...]`` makes numeric-looking columns categorical (their cells are
  then compared as text: ``3`` and ``3.0`` are two categories).
- **Missing cells** are ``None``, NaN, and the texts of ``MISSING_TOKENS`` (compared without
  regard to case): the empty cell, ``NA``, ``N/A``, ``NaN``, ``nan``, ``null``.
- **Numeric columns** are imputed with the median of the rows ``fit`` saw, then standardised
  with their mean and standard deviation (a constant column is only centred). A column with a
  missing cell among those rows also gets an indicator feature ``NAME_missing`` (1 or 0).
- **Categorical columns** are one-hot encoded, one feature ``NAME=VALUE`` per category of the rows
  ``fit`` saw (numbers in numeric order first, then text in sorted order), plus ``NAME=<missing>``
  when some of them were missing. A category ``fit`` did not see (or a missing cell where ``fit``
  saw none) gives all zeros and an ``UnseenCategoryWarning``.

``transform`` takes the columns by name (a mapping, in any order, with other columns ignored) or
positionally (a 2-D array). ``to_state`` and ``from_state`` turn the fitted preprocessing into
float64 tensors and a JSON-serialisable dict and back, checking everything they read
(see ``ferroprop.preprocessing_state``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MISSING_CATEGORY",
    "MISSING_TOKENS",
    "NumericColumn",
    "CategoricalColumn",
    "TablePreprocessor",
    "UnseenCategoryWarning",
    "column_kinds",
]

#: The texts that mean "missing" (compared case-insensitively), besides None and NaN.
MISSING_TOKENS = ("", "NA", "N/A", "NaN", "nan", "null")
#: The category name, in feature names, of missing cells of a categorical column.
MISSING_CATEGORY = "<missing>"
_MISSING = sorted({t.lower() for t in MISSING_TOKENS})
_BOOLEANS = frozenset({"true", "false"})


class UnseenCategoryWarning(UserWarning):
    """``transform`` met categories that ``fit`` did not see: their one-hot features are zero."""


@dataclass(frozen=True)
class NumericColumn:
    """A fitted numeric column: ``(value or fill - center) / scale``, and an indicator feature
    of missing cells when ``indicator``."""

    name: str
    center: float
    scale: float
    fill: float
    indicator: bool

    def feature_names(self) -> list[str]:
        return [self.name, f"{self.name}_missing"] if self.indicator else [self.name]


@dataclass(frozen=True)
class CategoricalColumn:
    """A fitted categorical column: one-hot over ``categories``, then ``<missing>`` when
    ``missing``."""

    name: str
    categories: tuple[str, ...]
    missing: bool

    def feature_names(self) -> list[str]:
        names = [f"{self.name}={c}" for c in self.categories]
        return names + [f"{self.name}={MISSING_CATEGORY}"] if self.missing else names


Column = NumericColumn | CategoricalColumn


# -- cells ------------------------------------------------------------------------------------


def _as_array(values: Any, name: str) -> np.ndarray:
    """A column as a 1-D array: numbers and bools as they are; anything else as text with
    missing cells as ""."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"column {name!r}: expected one cell per row, got shape {arr.shape}")
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.kind == "O":
        arr = np.array(["" if _none_or_nan(v) else str(v) for v in arr.tolist()], dtype=str)
    elif arr.dtype.kind == "S":
        arr = np.char.decode(arr, "utf-8")
    elif arr.dtype.kind != "U":
        raise ValueError(f"column {name!r}: expected numbers or text, got dtype {arr.dtype}")
    arr = np.char.strip(arr.astype(str))
    return np.where(_missing_text(arr), "", arr)


def _none_or_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _missing_text(cells: np.ndarray) -> np.ndarray:
    return np.isin(np.char.lower(cells), _MISSING)


def _numbers(arr: np.ndarray) -> np.ndarray | None:
    """The column as float64 with NaN for missing cells, or None when a cell is not a number."""
    if arr.dtype.kind == "b":
        return None
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    try:
        return np.where(arr == "", "nan", arr).astype(np.float64)
    except ValueError:
        return None


def _is_boolean(arr: np.ndarray) -> bool:
    if arr.dtype.kind == "b":
        return True
    if arr.dtype.kind != "U":
        return False
    present = np.unique(np.char.lower(arr[arr != ""]))
    return present.size > 0 and set(present.tolist()) <= _BOOLEANS


def _texts(arr: np.ndarray) -> np.ndarray:
    """The column as text categories, "" for missing cells (booleans lower-cased, integral
    numbers without a decimal point)."""
    if arr.dtype.kind == "b":
        return np.where(arr, "true", "false")
    if arr.dtype.kind in "iu":
        return arr.astype(str)
    if arr.dtype.kind == "f":
        return np.array([_number_text(v) for v in arr.tolist()], dtype=str)
    return np.char.lower(arr) if _is_boolean(arr) else arr


def _number_text(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _category_order(name: str) -> tuple[int, float, str]:
    """Numbers in numeric order, before other names (as the CLI orders class labels)."""
    try:
        number = float(name)
    except ValueError:
        return (1, 0.0, name)
    return (0, number, name) if math.isfinite(number) else (1, 0.0, name)


def column_kinds(columns: Mapping[str, Any], categorical: Collection[str] = ()) -> dict[str, str]:
    """``{name: "numeric" | "categorical"}`` for `columns` (see the module's rules); the names
    in `categorical` are categorical whatever their cells. A column with no cell present is
    categorical (its one feature is ``NAME=<missing>``)."""
    unknown = [c for c in categorical if c not in columns]
    if unknown:
        raise ValueError(f"categorical: no column {unknown[0]!r} (columns: {', '.join(columns)})")
    kinds = {}
    for name, values in columns.items():
        arr = _as_array(values, name)
        numbers = None if name in categorical else _numbers(arr)
        numeric = numbers is not None and not np.isnan(numbers).all()
        kinds[name] = "numeric" if numeric else "categorical"
    return kinds


# -- the preprocessor -------------------------------------------------------------------------


class TablePreprocessor:
    """Imputes, standardises and one-hot encodes the columns of a table (see the module).

    ``fit(columns)`` learns the statistics from the rows it is given (the training rows only);
    ``transform(columns)`` gives the float64 feature matrix, one column per ``feature_names``
    entry. ``target`` is the name of the label column the table had when fitting (not a feature:
    ``transform`` ignores it), kept so that a predictor can drop it.
    """

    def __init__(self, columns: list[Column] | None = None, target: str | None = None) -> None:
        self.columns: list[Column] = list(columns or [])
        self.target = target

    @property
    def column_names(self) -> list[str]:
        """The input columns, in the order of the features."""
        return [c.name for c in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """The name of each output feature: ``age``, ``age_missing``, ``city=paris``, ..."""
        return [n for c in self.columns for n in c.feature_names()]

    @property
    def n_features(self) -> int:
        return sum(len(c.feature_names()) for c in self.columns)

    def __repr__(self) -> str:
        kinds = [type(c).__name__.removesuffix("Column").lower() for c in self.columns]
        counts = ", ".join(f"{kinds.count(k)} {k}" for k in ("numeric", "categorical"))
        return f"TablePreprocessor({counts} columns -> {self.n_features} features)"

    def fit(
        self,
        columns: Mapping[str, Any],
        kinds: Mapping[str, str] | None = None,
        categorical: Collection[str] = (),
    ) -> TablePreprocessor:
        """Learns the preprocessing of `columns` (name -> cells, all of one length, at least one
        row). `kinds` gives each column's kind (as ``column_kinds`` finds it, on the whole table
        when only some rows are fitted); by default it is found on these rows, with the names in
        `categorical` categorical. Returns self."""
        if not columns:
            raise ValueError("no columns to fit")
        if kinds is None:
            kinds = column_kinds(columns, categorical)
        fitted: list[Column] = []
        n_rows = None
        for name, values in columns.items():
            arr = _as_array(values, name)
            if n_rows is None:
                n_rows = len(arr)
            if len(arr) != n_rows or n_rows == 0:
                raise ValueError(f"column {name!r}: {len(arr)} rows, expected {n_rows or '> 0'}")
            kind = kinds.get(name)
            if kind == "numeric":
                fitted.append(_fit_numeric(name, self._numbers(arr, name)))
            elif kind == "categorical":
                fitted.append(_fit_categorical(name, _texts(arr)))
            else:
                raise ValueError(f"kinds[{name!r}]: expected 'numeric' or 'categorical'")
        self.columns = fitted
        return self

    def transform(self, columns: Mapping[str, Any] | np.ndarray) -> np.ndarray:
        """The float64 ``(rows, n_features)`` features of `columns`: a mapping holding (at least)
        every fitted column by name, or a 2-D array with the fitted columns in order. Raises
        ValueError naming a missing column or a bad cell; warns ``UnseenCategoryWarning`` once
        for all the categories ``fit`` did not see."""
        if not self.columns:
            raise ValueError("the preprocessor is not fitted")
        if isinstance(columns, np.ndarray):
            if columns.ndim != 2 or columns.shape[1] != len(self.columns):
                raise ValueError(
                    f"expected a 2-D array with {len(self.columns)} columns "
                    f"({', '.join(self.column_names)}), got shape {columns.shape}"
                )
            columns = {c.name: columns[:, j] for j, c in enumerate(self.columns)}
        absent = [c.name for c in self.columns if c.name not in columns]
        if absent:
            s = "s" if len(absent) > 1 else ""
            raise ValueError(f"missing feature column{s} {', '.join(map(repr, absent))}")
        parts, unseen = [], []
        n_rows = None
        for col in self.columns:
            arr = _as_array(columns[col.name], col.name)
            if n_rows is None:
                n_rows = len(arr)
            elif len(arr) != n_rows:
                raise ValueError(f"column {col.name!r}: {len(arr)} rows, expected {n_rows}")
            if isinstance(col, NumericColumn):
                parts.append(_numeric_features(col, self._numbers(arr, col.name)))
            else:
                block, new = _one_hot(col, _texts(arr))
                parts.append(block)
                unseen += [f"{col.name}={v}" for v in new]
        if unseen:
            more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
            shown = ", ".join(unseen[:5]) + more
            warnings.warn(
                UnseenCategoryWarning(
                    f"categories not seen in training (encoded as all zeros): {shown}"
                ),
                stacklevel=2,
            )
        return np.concatenate(parts, axis=1) if parts else np.zeros((n_rows or 0, 0))

    @staticmethod
    def _numbers(arr: np.ndarray, name: str) -> np.ndarray:
        """A numeric column's cells as float64 (NaN = missing); ValueError names a bad cell."""
        numbers = _numbers(arr)
        if numbers is None:
            for i, cell in enumerate(arr.tolist()):
                if _numbers(np.array([cell])) is None:
                    raise ValueError(f"column {name!r}, row {i + 1}: {cell!r} is not a number")
            raise ValueError(f"column {name!r}: not numbers")  # bools
        if np.isinf(numbers).any():
            i = int(np.argwhere(np.isinf(numbers))[0, 0])
            raise ValueError(f"column {name!r}, row {i + 1}: {arr[i]!r} is not finite")
        return numbers

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted preprocessing as float64 tensors and a JSON-serialisable dict."""
        from .preprocessing_state import to_state

        return to_state(self)

    @classmethod
    def from_state(
        cls,
        tensors: Mapping[str, np.ndarray],
        state: Any,
        n_features: int | None = None,
    ) -> TablePreprocessor:
        """Rebuilds what ``to_state`` gave, checking every field (ValueError otherwise);
        `n_features`, when given, is the number of features the preprocessing must produce."""
        from .preprocessing_state import from_state

        return from_state(cls, tensors, state, n_features)


def _fit_numeric(name: str, x: np.ndarray) -> NumericColumn:
    missing = np.isnan(x)
    fill = float(np.median(x[~missing])) if not missing.all() else 0.0
    filled = np.where(missing, fill, x)
    center = float(filled.mean())
    scale = float(filled.std())
    if not math.isfinite(center) or not math.isfinite(scale):
        raise ValueError(f"column {name!r}: values too large to standardise")
    if scale <= 1e-12 * max(1.0, abs(center)):
        scale = 1.0  # a constant column: centred only, as StandardScaler does
    return NumericColumn(name, center, scale, fill, bool(missing.any()))


def _fit_categorical(name: str, cells: np.ndarray) -> CategoricalColumn:
    present = cells[cells != ""]
    categories = sorted(set(present.tolist()), key=_category_order)
    return CategoricalColumn(name, tuple(categories), bool(len(present) < len(cells)))


def _numeric_features(col: NumericColumn, x: np.ndarray) -> np.ndarray:
    missing = np.isnan(x)
    values = (np.where(missing, col.fill, x) - col.center) / col.scale
    if not col.indicator:
        return values[:, None]
    return np.stack([values, missing.astype(np.float64)], axis=1)


def _one_hot(col: CategoricalColumn, cells: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The one-hot block of a categorical column, and the categories in `cells` it lacks."""
    index = {c: i for i, c in enumerate(col.categories)}
    if col.missing:
        index[""] = len(col.categories)
    width = len(col.categories) + col.missing
    values, inverse = np.unique(cells, return_inverse=True)
    codes = np.array([index.get(v, -1) for v in values.tolist()], dtype=np.int64)
    rows = codes[inverse.reshape(-1)]
    block = np.zeros((len(cells), width))
    known = rows >= 0
    block[np.flatnonzero(known), rows[known]] = 1.0
    unseen = [v or MISSING_CATEGORY for v, c in zip(values.tolist(), codes, strict=True) if c < 0]
    return block, unseen
