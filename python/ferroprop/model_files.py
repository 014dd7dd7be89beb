"""Model files: safetensors files holding a model's parameters, with its description as metadata.

A ferroprop model file is a plain safetensors file whose `__metadata__` holds four strings:

- `format`: always `"ferroprop"`;
- `kind`: what to rebuild, `"Network"`, `"Sequential"`, `"MLPClassifier"` or `"MLPRegressor"`;
- `ferroprop_version`: the version that wrote it;
- `config`: a JSON object with the architecture, hyperparameters and classes, as the kind needs.

The tensors are little-endian float32, float64 or int64 arrays (`weights.0`, `biases.0`, … for a
network). Writes are atomic: the bytes go to a temporary file in the target's directory (an
unnamed O_TMPFILE one on Linux, which a SIGKILL leaves behind only in the instant it is named),
which is fsynced and then renamed over the target, so a crash leaves either the old file or the
new one.

Reading never trusts the file: anything that is not a well-formed model file — truncated,
corrupted, hostile — raises `ValueError` naming the path, before any large allocation.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from ._atomic_write import atomic_write
from ._core import __version__

#: The `kind` values a model file may hold.
KINDS = ("Network", "Sequential", "MLPClassifier", "MLPRegressor")
#: Files larger than this are refused before being read.
MAX_FILE_BYTES = 4 * 2**30
#: The safetensors crate's own limit on the JSON header.
MAX_HEADER_BYTES = 100_000_000
#: Architectures with more parameters than this are refused before anything is allocated.
MAX_PARAMETERS = 2**31

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_DTYPE_NAMES = {"float32": _DTYPES["F32"], "float64": _DTYPES["F64"], "int64": _DTYPES["I64"]}
_METADATA_KEYS = ("format", "kind", "ferroprop_version", "config")
#: Tensors with more dimensions than this are refused (NumPy 1 allows 32).
_MAX_NDIM = 32


class _Invalid(ValueError):
    """A reason the bytes are not a model file; turned into the path-naming ValueError."""


# -- writing ------------------------------------------------------------------------------------


def write_model_file(
    path: str | os.PathLike[str],
    kind: str,
    tensors: Mapping[str, np.ndarray],
    config: dict[str, Any],
) -> None:
    """Writes a model file atomically.

    Args:
        path: the file to create or replace.
        kind: one of `KINDS`.
        tensors: name → C-contiguous float32, float64 or int64 array.
        config: a JSON-serialisable dict (no NaN or inf) describing the model.

    Raises:
        ValueError / TypeError: bad arguments; nothing is written.
        OSError: the write failed; the target is untouched and no temporary file is left.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for name, arr in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"tensors: invalid tensor name {name!r}")
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"tensors[{name!r}]: expected a numpy array, got {type(arr).__name__}")
        if arr.dtype.newbyteorder("<") not in _DTYPES.values():
            raise ValueError(
                f"tensors[{name!r}]: expected float32, float64 or int64, got {arr.dtype}"
            )
        if not arr.flags.c_contiguous:
            raise ValueError(f"tensors[{name!r}]: expected a C-contiguous array")
        arrays[name] = arr
    metadata = {
        "format": "ferroprop",
        "kind": kind,
        "ferroprop_version": __version__,
        "config": json.dumps(config, allow_nan=False, sort_keys=True),
    }
    import safetensors.numpy

    data = _canonical_header(safetensors.numpy.save(arrays, metadata=metadata))
    atomic_write(os.fspath(path), data)


def _canonical_header(data: bytes) -> bytes:
    """`data` with its JSON header's keys sorted, so the same model always gives the same bytes
    (safetensors writes the metadata from a hash map, in an order that changes from run to run).
    The header keeps its length, so the tensor offsets stay valid."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(text) > n:  # not expected (same content, same compact encoding); keep the original
        return data
    return data[:8] + text.ljust(n, b" ") + data[8 + n :]


# -- reading ------------------------------------------------------------------------------------


def read_model_file(path: str | os.PathLike[str]) -> tuple[str, dict[str, np.ndarray], dict]:
    """Reads and validates a model file: returns `(kind, tensors, config)`.

    The tensors are fresh, writable, aligned float32, float64 or int64 arrays; `config` is the
    decoded JSON object. Only the container is checked here: that the config and tensors fit the
    kind is up to the builder (see `require` and `tensor`).

    The file is read in three steps: the 8-byte header length, the JSON header, which is checked
    whole (metadata, dtypes, shapes, and offsets that tile exactly the bytes after the header),
    and only then the tensor data, straight into arrays of the sizes the header declared. So a
    hostile file costs at most its header's bytes before it is refused, and a valid one costs
    its tensors and nothing more.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: the file cannot be opened.
        ValueError: the file is not a valid ferroprop model file (the message names the path).
    """
    name = os.fsdecode(os.fspath(path))
    # Checked before opening too: opening a FIFO would block.
    if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
        raise _error(name, "not a regular file")
    with open(path, "rb") as f:  # a directory raises IsADirectoryError here
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _error(name, "not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise _error(name, f"file is {st.st_size} bytes, more than the {MAX_FILE_BYTES} limit")
        return _read(f, st.st_size, name)


def _error(name: str, reason: str) -> ValueError:
    return ValueError(f"{name}: not a valid ferroprop model file: {reason}")


def _parse(data: bytes, name: str) -> tuple[str, dict[str, np.ndarray], dict]:
    """`read_model_file` on bytes already in memory; `name` labels errors."""
    return _read(io.BytesIO(data), len(data), name)


def _read(stream: BinaryIO, size: int, name: str) -> tuple[str, dict[str, np.ndarray], dict]:
    """`read_model_file` on an open stream of `size` bytes. Raises only ValueError (and
    MemoryError, for a valid file too large for this process)."""
    try:
        kind, config, layout = _read_header(stream, size)
        return kind, _read_tensors(stream, layout), config
    except _Invalid as err:
        raise _error(name, _clip(str(err))) from None
    except MemoryError:
        raise
    except Exception as err:  # numpy, json, recursion: never let them escape
        raise _error(name, _clip(f"{type(err).__name__}: {err}")) from err


class _Entry(NamedTuple):
    """One tensor of the header: where its bytes are and what they hold."""

    begin: int
    end: int
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]


def _read_header(stream: BinaryIO, size: int) -> tuple[str, dict, list[_Entry]]:
    """The kind, the config and the tensors' layout (sorted by offset) of a file of `size` bytes
    whose stream is at its start; leaves the stream at the first tensor byte."""
    if size < 8:
        raise _Invalid(f"file is {size} bytes, too short for a safetensors header")
    header_len = int.from_bytes(_read_exactly(stream, 8), "little")
    if header_len > size - 8:
        raise _Invalid(
            f"header length {header_len} exceeds the {size - 8} bytes after it (truncated file?)"
        )
    if header_len > MAX_HEADER_BYTES:
        raise _Invalid(f"header length {header_len} exceeds the {MAX_HEADER_BYTES} byte limit")
    try:
        header = json.loads(_read_exactly(stream, header_len).decode("utf-8"))
    except RecursionError:
        raise _Invalid("header JSON is nested too deeply") from None
    except ValueError as err:  # not UTF-8, not JSON, an integer with too many digits
        raise _Invalid(f"header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise _Invalid(f"header is a JSON {type(header).__name__}, expected an object")
    kind, config = _read_metadata(header.get("__metadata__"))
    entries = [_entry(tname, info) for tname, info in header.items() if tname != "__metadata__"]
    return kind, config, _tiled(entries, size - 8 - header_len)


def _read_metadata(metadata: Any) -> tuple[str, dict]:
    """The kind and decoded config of the header's `__metadata__`."""
    if not isinstance(metadata, dict):
        raise _Invalid("header has no __metadata__ object")
    for key in _METADATA_KEYS:
        if key not in metadata:
            raise _Invalid(f"metadata has no {key!r} entry")
    for key, value in metadata.items():  # safetensors metadata is string to string
        if not isinstance(value, str):
            raise _Invalid(f"metadata[{_show(key)}]: expected a string, got {_show(value)}")
    if metadata["format"] != "ferroprop":
        raise _Invalid(f"metadata['format'] is {_show(metadata['format'])}, not 'ferroprop'")
    kind = metadata["kind"]
    if kind not in KINDS:
        raise _Invalid(f"unknown kind {_show(kind)}; expected one of {', '.join(KINDS)}")
    try:
        config = json.loads(metadata["config"], parse_constant=_reject_constant)
    except _Invalid:
        raise
    except RecursionError:
        raise _Invalid("metadata['config'] is nested too deeply") from None
    except ValueError as err:
        raise _Invalid(f"metadata['config'] is not JSON ({err})") from None
    if not isinstance(config, dict):
        raise _Invalid(f"metadata['config'] is a JSON {type(config).__name__}, expected an object")
    return kind, config


def _entry(tname: str, info: Any) -> _Entry:
    """A header's tensor entry, checked: a known dtype, a shape of at most `_MAX_NDIM` sizes
    >= 0 and `data_offsets` [begin, end] spanning exactly the shape's bytes."""
    what = f"tensor {_show(tname)}"
    if not isinstance(info, dict):
        raise _Invalid(f"{what}: header entry is not an object")
    dtype = info.get("dtype")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise _Invalid(f"{what}: dtype {_show(dtype)} is not supported (expected F32, F64 or I64)")
    shape = info.get("shape")
    if not _is_int_list(shape) or len(shape) > _MAX_NDIM or any(n < 0 for n in shape):
        raise _Invalid(
            f"{what}: shape {_show(shape)} is not a list of at most {_MAX_NDIM} sizes >= 0"
        )
    offsets = info.get("data_offsets")
    if not _is_int_list(offsets) or len(offsets) != 2 or not 0 <= offsets[0] <= offsets[1]:
        raise _Invalid(
            f"{what}: data_offsets {_show(offsets)} is not [begin, end] with 0 <= begin <= end"
        )
    begin, end = offsets
    nbytes = math.prod(shape) * _DTYPES[dtype].itemsize
    if end - begin != nbytes:
        raise _Invalid(
            f"{what}: data_offsets {_show(offsets)} span {end - begin} bytes, but "
            f"{dtype} {_show(shape)} takes {nbytes}"
        )
    return _Entry(begin, end, tname, _DTYPES[dtype], tuple(shape))


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def _tiled(entries: list[_Entry], data_len: int) -> list[_Entry]:
    """`entries` sorted by offset, which must tile the `data_len` bytes after the header exactly:
    no gap, no overlap, nothing left over (as safetensors requires)."""
    entries = sorted(entries, key=lambda e: (e.begin, e.end, e.name))
    position = 0
    for e in entries:
        if e.begin != position:
            problem = "overlaps the tensor before it" if e.begin < position else "leaves a gap"
            raise _Invalid(
                f"tensor {_show(e.name)}: data_offsets [{e.begin}, {e.end}] {problem} "
                f"(expected it to start at {position})"
            )
        position = e.end
    if position != data_len:
        raise _Invalid(
            f"the tensors take {position} bytes, but the file holds {data_len} after the header "
            "(truncated, or trailing data)"
        )
    return entries


def _read_tensors(stream: BinaryIO, layout: list[_Entry]) -> dict[str, np.ndarray]:
    """The tensors of `layout`, read in order straight into fresh native-endian arrays."""
    tensors: dict[str, np.ndarray] = {}
    for e in layout:
        arr = np.empty(e.shape, dtype=e.dtype.newbyteorder("="))
        _read_into(stream, arr.reshape(-1).view(np.uint8))
        if not e.dtype.isnative:  # the file is little-endian
            arr.byteswap(inplace=True)
        tensors[e.name] = arr
    return tensors


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise _Invalid("file ended early (it changed while being read?)")
    return data


def _read_into(stream: BinaryIO, buffer: np.ndarray) -> None:
    view = memoryview(buffer)
    done = 0
    while done < len(view):
        got = stream.readinto(view[done:])
        if not got:
            raise _Invalid("file ended early (it changed while being read?)")
        done += got


def _reject_constant(token: str) -> Any:
    raise _Invalid(f"metadata['config'] contains {token}, which is not valid JSON")


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int = 60) -> str:
    """A short repr for error messages (hostile files may hold huge or deep values)."""
    try:
        text = repr(value)
    except RecursionError:
        return "<a deeply nested value>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- validation helpers for builders ------------------------------------------------------------
#
# These raise ValueError without the path; `load` prefixes the path to anything a builder raises.


def require(config: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """`config[key]`, which must exist and be an instance of `kind` (bool is not an int here
    unless `kind` includes bool; an int is accepted where float is expected, as JSON allows)."""
    if key not in config:
        raise ValueError(f"config has no {key!r} entry")
    value = config[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = " or ".join(k.__name__ for k in kinds)
    if isinstance(value, bool) and bool not in kinds:
        raise ValueError(f"config[{key!r}]: expected {names}, got {_show(value)}")
    if float in kinds and int not in kinds and isinstance(value, int):
        if abs(value) > 2**1023:
            raise ValueError(f"config[{key!r}]: expected {names}, got an integer out of range")
        return float(value)
    if not isinstance(value, kinds):
        raise ValueError(f"config[{key!r}]: expected {names}, got {_show(value)}")
    return value


def require_list(
    config: Mapping[str, Any], key: str, item: type | tuple[type, ...], min_len: int = 0
) -> list:
    """`config[key]` as a list of at least `min_len` items, each an instance of `item`
    (bool excluded unless listed)."""
    value = require(config, key, list)
    items = item if isinstance(item, tuple) else (item,)
    for i, v in enumerate(value):
        if (isinstance(v, bool) and bool not in items) or not isinstance(v, items):
            names = " or ".join(k.__name__ for k in items)
            raise ValueError(f"config[{key!r}][{i}]: expected {names}, got {_show(v)}")
    if len(value) < min_len:
        raise ValueError(f"config[{key!r}]: expected at least {min_len} items, got {len(value)}")
    return value


def require_widths(config: Mapping[str, Any], key: str = "widths") -> list[int]:
    """`config[key]` as layer widths `[n_in, …, n_out]`: at least two positive ints whose
    network has at most `MAX_PARAMETERS` parameters (checked before anything is allocated)."""
    widths = require_list(config, key, int, min_len=2)
    for i, w in enumerate(widths):
        if w <= 0:
            raise ValueError(f"config[{key!r}][{i}]: expected a positive width, got {w}")
    count = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=False))
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"config[{key!r}]: {_show(widths)} has {count} parameters, "
            f"more than the {MAX_PARAMETERS} limit"
        )
    return widths


def tensor(
    tensors: Mapping[str, np.ndarray],
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    finite: bool = True,
) -> np.ndarray:
    """`tensors[name]`, which must exist with exactly `shape` and `dtype` (and, when `finite`,
    hold no NaN or inf)."""
    if isinstance(dtype, str):  # np.dtype() on an arbitrary string can raise anything
        want = _DTYPE_NAMES.get(dtype)
    else:
        try:
            want = np.dtype(dtype)
        except Exception:
            want = None
    if want is None or want not in _DTYPES.values():
        raise ValueError(f"tensor {name!r}: dtype {_show(dtype)} is not float32, float64 or int64")
    if name not in tensors:
        raise ValueError(f"tensor {name!r} is missing")
    arr = tensors[name]
    if arr.dtype != want:
        raise ValueError(f"tensor {name!r}: expected dtype {want.name}, got {arr.dtype.name}")
    if arr.shape != tuple(shape):
        raise ValueError(f"tensor {name!r}: expected shape {tuple(shape)}, got {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"tensor {name!r}: contains NaN or inf")
    return arr


def reject_extra_tensors(tensors: Mapping[str, np.ndarray], expected: Iterable[str]) -> None:
    """ValueError if `tensors` holds names outside `expected`."""
    extra = sorted(set(tensors) - set(expected))
    if extra:
        shown = ", ".join(_show(n, 40) for n in extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise ValueError(f"unexpected tensors: {shown}")


# -- loading ------------------------------------------------------------------------------------


#: kind → builder(tensors, config) -> model, registered by the module that defines the kind.
_BUILDERS: dict[str, Callable[[dict[str, np.ndarray], dict], Any]] = {}
#: kind → the module whose import registers its builder, for kinds imported on demand (the
#: estimators need scikit-learn, which importing ferroprop must not).
_PROVIDERS: dict[str, str] = {}


def register(kind: str, builder: Callable[[dict[str, np.ndarray], dict], Any]) -> None:
    """Makes `load` rebuild files of `kind` (one of `KINDS`) with `builder(tensors, config)`,
    which checks every field and raises ValueError/TypeError for bad content."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    _BUILDERS[kind] = builder


def provide(kinds: Iterable[str], module: str) -> None:
    """Says that importing `module` registers the builders of `kinds` (imported by `load` when a
    file of one of them is met)."""
    for kind in kinds:
        _PROVIDERS[kind] = module


def load(path: str | os.PathLike[str]) -> Any:
    """Loads a model saved by `Network.save` or an estimator's `save`.

    Returns a `Network`, `MLPClassifier` or `MLPRegressor` (the latter two need scikit-learn),
    as the file's `kind` says.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: the file cannot be opened.
        ValueError: the file is truncated, corrupted or describes an invalid model; the message
            names the path.
        ImportError: the file holds an estimator and scikit-learn is not installed.
    """
    kind, tensors, config = read_model_file(path)
    return _build(kind, tensors, config, os.fsdecode(os.fspath(path)))


def _build(kind: str, tensors: dict[str, np.ndarray], config: dict, name: str) -> Any:
    """Rebuilds the model `read_model_file` described; builder errors get the path prefixed."""
    if kind not in _BUILDERS and kind in _PROVIDERS:
        importlib.import_module(_PROVIDERS[kind])  # registers the kind's builder
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise _error(name, f"no loader for models of kind {kind!r}")
    try:
        return builder(tensors, config)
    except _BUILD_ERRORS as err:
        raise _error(name, _clip(str(err))) from err
    except MemoryError:
        raise
    except Exception as err:
        # A builder bug, but still a file it cannot rebuild: keep `load`'s contract (the cause
        # stays chained; the fuzz harness reports these as failures).
        raise _error(name, _clip(f"{type(err).__name__}: {err}")) from err


#: What builders raise for bad content; anything else reaching `_build` is a builder bug.
_BUILD_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)


__all__ = [
    "KINDS",
    "MAX_PARAMETERS",
    "load",
    "read_model_file",
    "reject_extra_tensors",
    "require",
    "require_list",
    "require_widths",
    "tensor",
    "write_model_file",
]
