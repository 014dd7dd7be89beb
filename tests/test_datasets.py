"""IDX parsing in ferroprop.datasets, on tiny synthetic files and (if present) the real ones."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import require_fashion_mnist
from ferroprop import datasets

REAL_DIR = Path("/usr/share/datasets/fashion-mnist")

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    """IDX header: two zero bytes, type code, ndim, then big-endian uint32 dims."""
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 ``array`` (any shape) as IDX: magic, big-endian uint32 dims, data."""
    return _header(0x08, array.shape) + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write(directory: Path, stem: str, payload: bytes, gz: bool = True) -> Path:
    path = directory / (stem + ".gz" if gz else stem)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def make_dataset(directory: Path, gz: bool = True, rows: int = 4, cols: int = 3):
    """Write a 5-train / 2-test dataset of ``rows x cols`` images; return the raw arrays."""
    rng = np.random.default_rng(0)
    raw = {
        "train_images": rng.integers(0, 256, (5, rows, cols), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 5, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (2, rows, cols), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 2, dtype=np.uint8),
    }
    # Make sure both ends of the pixel range occur.
    raw["train_images"][0, 0, 0] = 0
    raw["train_images"][0, 0, 1] = 255
    for key, arr in raw.items():
        write(directory, NAMES[key], idx_bytes(arr), gz=gz)
    return raw


def check_loaded(loaded, raw) -> None:
    X_train, y_train, X_test, y_test = loaded
    for X, images in ((X_train, raw["train_images"]), (X_test, raw["test_images"])):
        n = images.shape[0]
        assert X.shape == (n, images.shape[1] * images.shape[2])
        assert X.dtype == np.float32
        assert X.flags.c_contiguous
        assert X.min() >= 0.0 and X.max() <= 1.0
        np.testing.assert_allclose(X, images.reshape(n, -1) / 255.0, rtol=1e-6)
    for y, labels in ((y_train, raw["train_labels"]), (y_test, raw["test_labels"])):
        assert y.dtype == np.int64
        assert y.shape == labels.shape
        np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_synthetic_roundtrip(tmp_path: Path, gz: bool) -> None:
    raw = make_dataset(tmp_path, gz=gz)
    check_loaded(datasets.load_fashion_mnist(tmp_path), raw)


def test_str_path_and_28x28(tmp_path: Path) -> None:
    raw = make_dataset(tmp_path, rows=28, cols=28)
    loaded = datasets.load_fashion_mnist(str(tmp_path))
    check_loaded(loaded, raw)
    assert loaded[0].shape == (5, 784)
    assert loaded[0][0, 1] == 1.0 and loaded[0][0, 0] == 0.0


def test_mixed_gzipped_and_plain(tmp_path: Path) -> None:
    raw = make_dataset(tmp_path, gz=True)
    # Replace one file by its un-gzipped form.
    (tmp_path / (NAMES["test_labels"] + ".gz")).unlink()
    write(tmp_path, NAMES["test_labels"], idx_bytes(raw["test_labels"]), gz=False)
    check_loaded(datasets.load_fashion_mnist(tmp_path), raw)


def test_missing_directory_mentions_apt_get(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        datasets.load_fashion_mnist(tmp_path / "does-not-exist")


def test_missing_file_is_named(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    (tmp_path / (NAMES["train_labels"] + ".gz")).unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte") as info:
        datasets.load_fashion_mnist(tmp_path)
    assert "apt-get" in str(info.value) and "path=" in str(info.value)


MALFORMED = {
    "bad magic": b"\x01\x02\x08\x03" + struct.pack(">3I", 5, 4, 3) + bytes(60),
    "unknown type code": _header(0x42, (5, 4, 3)) + bytes(60),
    "truncated data": _header(0x08, (5, 4, 3)) + bytes(59),
    "trailing data": _header(0x08, (5, 4, 3)) + bytes(61),
    "truncated header": _header(0x08, (5, 4, 3))[:9],
    "too short": b"\x00\x00",
    "zero dims": _header(0x08, ()),
    "1-D images": _header(0x08, (60,)) + bytes(60),
    "float images": _header(0x0D, (5, 4, 3)) + bytes(240),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_images_raise_value_error_naming_file(tmp_path: Path, payload: bytes) -> None:
    make_dataset(tmp_path)
    write(tmp_path, NAMES["train_images"], payload)
    with pytest.raises(ValueError, match=re.escape(NAMES["train_images"])):
        datasets.load_fashion_mnist(tmp_path)


def test_malformed_labels(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    # A 2-D "label" file is well-formed IDX but not a label file.
    write(tmp_path, NAMES["test_labels"], _header(0x08, (2, 1)) + bytes(2))
    with pytest.raises(ValueError, match=re.escape(NAMES["test_labels"])):
        datasets.load_fashion_mnist(tmp_path)


def test_not_really_gzip(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    (tmp_path / (NAMES["train_labels"] + ".gz")).write_bytes(b"this is not gzip data")
    with pytest.raises(ValueError, match=re.escape(NAMES["train_labels"])):
        datasets.load_fashion_mnist(tmp_path)


def test_count_mismatch_between_images_and_labels(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    write(tmp_path, NAMES["train_labels"], idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match=re.escape(NAMES["train_labels"])):
        datasets.load_fashion_mnist(tmp_path)


def test_demo_runs_on_synthetic_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ferroprop import demo

    make_dataset(tmp_path, rows=28, cols=28)
    argv = ["--epochs", "2", "--batch-size", "2", "--data-dir", str(tmp_path), "--seed", "1"]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST: 4 train / 1 validation / 2 test rows" in out
    assert "epoch 2/2" in out and "test accuracy" in out and "samples/s" in out


@pytest.mark.fashion_mnist
def test_real_fashion_mnist() -> None:
    require_fashion_mnist()
    X_train, y_train, X_test, y_test = datasets.load_fashion_mnist()
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for X in (X_train, X_test):
        assert X.dtype == np.float32 and X.flags.c_contiguous
        assert X.min() == 0.0 and X.max() == 1.0
    for y in (y_train, y_test):
        assert y.dtype == np.int64
        assert y.min() == 0 and y.max() == 9
    # Fashion-MNIST is balanced: 6000 / 1000 of each class.
    np.testing.assert_array_equal(np.bincount(y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 1000))


def test_load_digits_split() -> None:
    pytest.importorskip("sklearn")
    X_train, y_train, X_test, y_test = datasets.load_digits_split(test_size=0.25, seed=0)
    assert X_train.shape[1] == X_test.shape[1] == 64
    assert len(X_train) + len(X_test) == 1797
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() >= 0.0 and X_train.max() <= 1.0
    assert set(np.unique(y_train)) == set(range(10))
    # Same seed, same split.
    np.testing.assert_array_equal(datasets.load_digits_split(seed=0)[1], y_train)
