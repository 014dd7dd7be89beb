"""Small dataset loaders used by the demo, the tests and the README.

Only numpy is required. scikit-learn is imported lazily by
:func:`load_digits_split`, so it stays an optional dependency.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_FASHION_MNIST_DIR", "load_digits_split", "load_fashion_mnist"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# IDX type code -> big-endian numpy dtype. Fashion-MNIST only uses 0x08,
# but the other codes are part of the format and cheap to support.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_HOW_TO_GET = (
    "Install them with `apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu, "
    f"installs into {DEFAULT_FASHION_MNIST_DIR}), or pass path= a directory "
    "containing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
    "(un-gzipped files are accepted too)."
)


def _read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped) into a numpy array.

    Layout: two zero bytes, a type code, the number of dimensions ``d``,
    then ``d`` big-endian uint32 sizes, then the data in C order.

    Returns:
        Array of shape ``dims`` in native byte order.

    Raises:
        ValueError: naming ``path`` if the header or the size is inconsistent.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:  # e.g. truncated or not really gzip
        raise ValueError(f"{path}: cannot read IDX file: {exc}") from exc

    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()} (the first two bytes must be zero)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX file declares zero dimensions")

    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        raise ValueError(
            f"{path}: IDX dims {dims} need {expected} data bytes but the file has {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=False)


def _find(directory: Path, stem: str) -> Path | None:
    """Return ``directory/stem.gz`` or ``directory/stem``, whichever exists."""
    for name in (stem + ".gz", stem):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _images(path: Path) -> np.ndarray:
    """Load an idx3 uint8 image file as float32 ``(n, rows*cols)`` in [0, 1]."""
    raw = _read_idx(path)
    if raw.ndim != 3 or raw.dtype != np.uint8:
        raise ValueError(f"{path}: expected a 3-D uint8 image file, got {raw.ndim}-D {raw.dtype}")
    # Divide in float32 so the result is exactly x/255 rounded once.
    X = raw.reshape(raw.shape[0], -1).astype(np.float32)
    X /= np.float32(255.0)
    return np.ascontiguousarray(X)


def _labels(path: Path) -> np.ndarray:
    """Load an idx1 uint8 label file as int64 ``(n,)``."""
    raw = _read_idx(path)
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise ValueError(f"{path}: expected a 1-D uint8 label file, got {raw.ndim}-D {raw.dtype}")
    return raw.astype(np.int64)


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load Fashion-MNIST from its four IDX files.

    Args:
        path: directory holding the files; defaults to
            ``/usr/share/datasets/fashion-mnist`` (Debian's
            ``dataset-fashion-mnist`` package).

    Returns:
        ``(X_train, y_train, X_test, y_test)``: ``X_*`` float32, C-contiguous,
        shape ``(n, 784)`` with values in [0, 1]; ``y_*`` int64, shape
        ``(n,)`` with values in 0..9. Normally ``n`` is 60000 / 10000.

    Raises:
        FileNotFoundError: if the directory or any of the files is missing;
            the message explains how to get them.
        ValueError: if a file is not well-formed IDX, or images and labels
            disagree in count; the message names the file.
    """
    directory = Path(path) if path is not None else DEFAULT_FASHION_MNIST_DIR
    if not directory.is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST directory {directory} does not exist. {_HOW_TO_GET}"
        )
    found: dict[str, Path] = {}
    missing = []
    for key, stem in _FASHION_MNIST_FILES.items():
        p = _find(directory, stem)
        if p is None:
            missing.append(stem + ".gz")
        else:
            found[key] = p
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files missing from {directory}: {', '.join(missing)}. {_HOW_TO_GET}"
        )

    X_train = _images(found["train_images"])
    y_train = _labels(found["train_labels"])
    X_test = _images(found["test_images"])
    y_test = _labels(found["test_labels"])
    for X, y, xp, yp in (
        (X_train, y_train, found["train_images"], found["train_labels"]),
        (X_test, y_test, found["test_images"], found["test_labels"]),
    ):
        if len(X) != len(y):
            raise ValueError(f"{xp} has {len(X)} images but {yp} has {len(y)} labels")
    return X_train, y_train, X_test, y_test


def load_digits_split(
    test_size: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, split into train and test sets.

    Args:
        test_size: fraction of the 1797 samples held out for testing.
        seed: seed of the stratified shuffle split.

    Returns:
        ``(X_train, y_train, X_test, y_test)``: ``X_*`` float32, C-contiguous,
        shape ``(n, 64)`` with values in [0, 1] (pixels / 16); ``y_*`` int64
        ``(n,)`` in 0..9.

    Raises:
        ImportError: if scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError("load_digits_split needs scikit-learn: pip install scikit-learn") from exc

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    return (
        np.ascontiguousarray(X_train),
        y_train,
        np.ascontiguousarray(X_test),
        y_test,
    )
