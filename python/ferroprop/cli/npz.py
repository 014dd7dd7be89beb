"""Reading ``.npz`` files without trusting them: each array's ``.npy`` header is read and checked
(no Python objects; a declared size its zip member can actually hold) before the array is
allocated, so a 100-byte file declaring a (10**6, 10**6) array is refused, not a MemoryError."""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from .errors import CLIError

# What reading a damaged zip can raise: zipfile's own errors, a bad deflate stream, an
# unsupported compression method, an encrypted member (RuntimeError), a truncated member.
_ZIP_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)
_CHUNK = 2**24  # bytes copied per read, so a large array is never held twice


def load_npz(path: Path, keys: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays `keys` that the .npz at `path` holds (absent ones are left out), and the names
    of all its arrays. Raises CLIError for anything that is not a readable .npz of plain
    (non-object) arrays whose headers match their data."""
    try:
        with zipfile.ZipFile(path) as archive:
            # As numpy.load names them: "X.npy" is the array X.
            members = {_array_name(name): name for name in archive.namelist()}
            arrays = {
                key: _read_array(archive, members[key], f"{path}: {key}")
                for key in keys
                if key in members
            }
            return arrays, list(members)
    except CLIError:
        raise
    except _ZIP_ERRORS as exc:
        raise CLIError(f"{path}: cannot read .npz (expected a zip of .npy arrays): {exc}") from None


def _array_name(member: str) -> str:
    return member[: -len(".npy")] if member.endswith(".npy") else member


def _read_array(archive: zipfile.ZipFile, member: str, what: str) -> np.ndarray:
    info = archive.getinfo(member)
    with archive.open(info) as f:
        try:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        except ValueError as exc:
            raise CLIError(f"{what}: not a .npy array: {exc}") from None
        if dtype.hasobject:
            raise CLIError(
                f"{what}: holds Python objects (dtype {dtype}), which ferroprop does not load "
                "(save numbers or strings)"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        available = info.file_size - f.tell()
        if nbytes > available:
            raise CLIError(
                f"{what}: the header declares shape {shape} of {dtype} ({nbytes} bytes), but the "
                f"file holds only {max(available, 0)} bytes of data for it"
            )
        array = np.empty(shape[::-1] if fortran_order else shape, dtype=dtype)
        _read_into(f, array.reshape(-1).view(np.uint8), what)
    return array.T if fortran_order else array


def _read_into(f: IO[bytes], buffer: np.ndarray, what: str) -> None:
    done = 0
    while done < len(buffer):
        chunk = f.read(min(_CHUNK, len(buffer) - done))
        if not chunk:
            raise CLIError(f"{what}: the data ends early (truncated file?)")
        buffer[done : done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        done += len(chunk)
