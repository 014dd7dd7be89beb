"""Hypothesis strategies for tests/test_properties.py: arrays of every dtype and memory layout.

`arrays(shape)` draws a `Drawn`: the object handed to the entry point (an ndarray of some dtype,
byte order, alignment, strides, writeability or backing store, or a nested list) together with
a native C-order copy of its values and what kind of input it is, so a test can say what the
entry point must do with it without re-deriving it from the layout.
"""

from __future__ import annotations

import atexit
import itertools
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# dtypes the engine must accept (converted to the network's float dtype) ...
NUMERIC_DTYPES: tuple[str, ...] = (
    "float16",
    "float32",
    "float64",
    ">f4",
    ">f8",
    "int8",
    "int16",
    "int32",
    "int64",
    ">i8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
# ... and dtypes it must refuse with a TypeError/ValueError naming the argument.
NON_NUMERIC_DTYPES: tuple[Any, ...] = (
    "complex64",
    "complex128",
    "object",
    "datetime64[s]",
    "timedelta64[ms]",
    [("a", "<f4"), ("b", "<i4")],  # structured
    "U3",
    "S2",
    "V8",
)

LAYOUTS = (
    "c",
    "fortran",
    "strided",
    "negative",
    "broadcast_rows",
    "broadcast_cols",
    "unaligned",
    "readonly",
    "memmap",
    "memmap_readonly",
    "list",
)

# Magnitudes below which a computation is "tame": parity with the reference is checked.
TAME = 10.0

_TMP = Path(tempfile.mkdtemp(prefix="ferroprop-hyp-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_COUNTER = itertools.count()


def tmp_path(suffix: str) -> Path:
    """A fresh path in this process's scratch directory (removed at exit)."""
    return _TMP / f"f{next(_COUNTER)}{suffix}"


@dataclass
class Drawn:
    """One drawn array argument."""

    obj: Any  # what the entry point receives
    values: np.ndarray | None  # native C-order copy of the values; None when not numeric
    numeric: bool  # of a dtype the engine accepts
    desc: str  # dtype and layout, for failure messages

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.values) if self.values is not None else np.shape(self.obj)

    @property
    def finite(self) -> bool:
        return self.values is not None and bool(np.all(np.isfinite(self.values)))

    @property
    def tame(self) -> bool:
        """Numeric, finite and of modest magnitude: results are compared with the reference."""
        return self.finite and (self.values.size == 0 or float(np.max(np.abs(self.values))) <= TAME)

    def __repr__(self) -> str:
        return f"<{self.desc} shape={self.shape}>"


def _specials(dtype: np.dtype) -> list[float]:
    """NaN, ±inf, the largest finite magnitudes used, denormals and signed zeros, exactly
    representable in `dtype`."""
    t = dtype.type
    finfo = np.finfo(dtype)
    big = 1e38 if float(finfo.max) > 1e38 else float(finfo.max)
    tiny = float(finfo.smallest_subnormal)
    vals = [math.nan, math.inf, -math.inf, big, -big, tiny, -tiny, 3 * tiny, 0.0, -0.0]
    return [float(t(v)) for v in vals]


def elements_for(dtype: np.dtype, regime: str = "any") -> st.SearchStrategy[Any]:
    """Values of `dtype` in a regime: "tame" (|v| <= TAME), "extreme" (also the dtype's
    finite extremes: 1e38, the integer limits, denormals) or "special" (also NaN and ±inf)."""
    native = dtype.newbyteorder("=")
    if native.kind == "b":
        return st.booleans()
    if native.kind == "f":
        width = native.itemsize * 8
        modest = st.floats(-TAME, TAME, width=width, allow_subnormal=width != 16)
        specials = _specials(native)
        if regime == "tame":
            return modest
        if regime == "extreme":
            return st.one_of(modest, st.sampled_from([v for v in specials if math.isfinite(v)]))
        return st.one_of(modest, modest, st.sampled_from(specials))
    info = np.iinfo(native)
    modest = st.integers(max(info.min, -int(TAME)), min(info.max, int(TAME)))
    if regime == "tame":
        return modest
    return st.one_of(modest, st.sampled_from([info.min, info.max]), hnp.from_dtype(native))


REGIMES = ("tame",) * 6 + ("extreme", "special", "special")


def _layout(base: np.ndarray, layout: str) -> Any:
    """An object holding `base`'s values (up to the broadcast layouts, which repeat the first
    row or column) in the given layout."""
    if layout == "c" or base.ndim == 0:
        return base.copy()
    if layout == "fortran":
        return np.asfortranarray(base)
    if layout == "strided":
        buf = np.zeros(tuple(2 * s + 1 for s in base.shape), base.dtype)
        view = buf[tuple(slice(1, None, 2) for _ in base.shape)]
        view[...] = base
        return view
    if layout == "negative":
        rev = tuple(slice(None, None, -1) for _ in base.shape)
        return np.ascontiguousarray(base[rev])[rev]
    if layout in ("broadcast_rows", "broadcast_cols") and base.size:
        if layout == "broadcast_rows" or base.ndim == 1:
            return np.broadcast_to(base[:1], base.shape)  # stride 0 along axis 0
        return np.broadcast_to(base[:, :1], base.shape)
    if layout == "unaligned":
        raw = np.zeros(base.nbytes + base.itemsize + 1, np.uint8)[1 : base.nbytes + 1]
        view = raw.view(base.dtype).reshape(base.shape)
        view[...] = base
        return view
    if layout == "readonly":
        out = base.copy()
        out.flags.writeable = False
        return out
    if layout.startswith("memmap") and base.size:
        path = tmp_path(".bin")
        base.tofile(path)
        mode = "r" if layout == "memmap_readonly" else "r+"
        return np.memmap(path, dtype=base.dtype, mode=mode, shape=base.shape)
    if layout == "list" and base.dtype.kind == "f" and base.size:  # [] would lose the shape
        return base.tolist()
    return base.copy()


@st.composite
def arrays(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    numeric_dtypes: Sequence[str] = NUMERIC_DTYPES,
    allow_non_numeric: bool = True,
    elements: Callable[[np.dtype], st.SearchStrategy[Any]] | None = None,
) -> Drawn:
    """An array argument of `shape`: any accepted dtype and byte order (sometimes a refused
    one), any layout, values from `elements(native dtype)` (default: `elements_for` in a
    drawn regime, mostly tame)."""
    # (sampled_from, not integers: hypothesis draws integer bounds such as 0 very often)
    if allow_non_numeric and draw(st.sampled_from([False] * 11 + [True])):
        dtype = np.dtype(draw(st.sampled_from(NON_NUMERIC_DTYPES)))
        if dtype.kind == "O":
            obj = np.arange(math.prod(shape), dtype=float).reshape(shape).astype(object)
        else:
            obj = np.zeros(shape, dtype)
        layout = draw(st.sampled_from(("c", "fortran", "strided", "negative", "readonly")))
        return Drawn(_layout(obj, layout), None, False, f"{dtype}/{layout}")
    dtype = np.dtype(draw(st.sampled_from(tuple(numeric_dtypes))))
    native = dtype.newbyteorder("=")
    if elements is None:
        regime = draw(st.sampled_from(REGIMES))
        strategy = elements_for(native, regime)
    else:
        strategy = elements(native)
    base = draw(hnp.arrays(native, shape, elements=strategy))
    base = base.astype(dtype)  # the drawn byte order
    layout = draw(st.sampled_from(LAYOUTS))
    obj = _layout(base, layout)
    values = np.array(obj, dtype=native) if not isinstance(obj, list) else base.astype(native)
    return Drawn(obj, np.array(values, order="C"), True, f"{dtype.str}/{layout}")


def labels_for(n_classes: int) -> Callable[[np.dtype], st.SearchStrategy[Any]]:
    """Class indices: mostly in [0, n_classes), sometimes just outside, or the dtype's limits
    (every value representable in the dtype)."""

    def elements(dtype: np.dtype) -> st.SearchStrategy[Any]:
        if dtype.kind == "b":
            return st.booleans()
        if dtype.kind == "f":
            hi = min(n_classes, 2048 if dtype.itemsize == 2 else n_classes)
            return st.one_of(
                st.integers(0, hi - 1).map(float),
                st.sampled_from([-1.0, float(n_classes), 0.5, math.nan, math.inf]),
            )
        info = np.iinfo(dtype)
        inside = st.integers(0, min(n_classes - 1, info.max))
        outside = st.sampled_from(
            [v for v in (-1, n_classes, 2**31, 2**63 - 1) if info.min <= v <= info.max]
        )
        return st.one_of(inside, inside, outside, st.sampled_from([info.min, info.max]))

    return elements
