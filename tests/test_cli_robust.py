"""The command line against hostile data and options: every problem exits 2 (1 for divergence,
3 for an engine bug) with one line on stderr, never a traceback. Each CLI call runs in a
subprocess with a timeout, so that a hang fails the test instead of hanging it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format

import ferroprop
from ferroprop.cli import main as cli_main
from ferroprop.cli.errors import CLIError
from ferroprop.cli.labels import encode_classes

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "FERROPROP_NUM_THREADS": "1"}
#: What fp.set_num_threads accepts (four per CPU), so what --threads does.
MAX_THREADS = ferroprop.max_threads()
QUICK = ["--hidden", "8", "--epochs", "1", "--progress", "none"]
FAST = ["--hidden", "16", "--epochs", "15", "--lr", "0.01", "--batch-size", "32", "--progress"]
FAST += ["none"]


def _cli(args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m ferroprop ARGS`, or `python -c SCRIPT ARGS`, in a subprocess."""
    command = ["-m", "ferroprop"] if script is None else ["-c", script]
    return subprocess.run(
        [sys.executable, *command, *args], capture_output=True, text=True, timeout=60, env=ENV
    )


def _fails(args: list[str], message: str, code: int = 2, script: str | None = None) -> str:
    """Runs the CLI and checks it exits `code` with one stderr line holding `message`."""
    proc = _cli(args, script)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, (args, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ferroprop") and "error:" in lines[0], lines[0]
    assert message in lines[0], lines[0]
    return lines[0]


def _blobs(labels: np.ndarray, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well separated Gaussian blobs, one per label, in len(labels) dimensions."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(labels), size=n)
    X = 3.0 * np.eye(len(labels))[k] + rng.normal(scale=0.5, size=(n, len(labels)))
    return X, labels[k]


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


# -- data files ---------------------------------------------------------------------------------

X40 = np.random.default_rng(0).normal(size=(40, 3))
Y40 = np.arange(40) % 2


def _bad_npz(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.npz"
    if case == "not a zip":  # numpy.load fell back to unpickling: a misleading message
        path.write_bytes(b"hello, not a zip file at all")
    elif case == "huge declared shape":  # MemoryError allocating 7.3 TiB
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("X.npy", _npy_header((10**6, 10**6)) + b"\0" * 64)
            z.writestr("y.npy", _npy_header((10,), "<i8") + b"\0" * 80)
    elif case == "truncated member":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("X.npy", _npy_header((40, 3)) + b"\0" * 100)
    elif case == "member not .npy":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("X.npy", b"just some bytes")
    elif case == "0-d y":  # TypeError: len() of unsized object
        _npz(path, X=X40, y=np.array(3))
    elif case == "structured y":  # trained on the labels' repr
        _npz(path, X=X40, y=np.zeros(40, dtype=[("a", "<i4")]))
    elif case == "object y":
        _npz(path, X=X40, y=np.array([None] * 40, dtype=object))
    elif case == "non-UTF-8 bytes y":  # UnicodeDecodeError
        _npz(path, X=X40, y=np.array([b"\xff\xfe", b"a"] * 20))
    elif case == "uint64 y":  # cast to -1: "class index -1 is out of range" from fit
        _npz(path, X=X40, y=np.array([2**64 - 1, 0] * 20, dtype=np.uint64))
    elif case == "1e300 y":  # cast to -2**63
        _npz(path, X=X40, y=np.array([1e300, 0.0] * 20))
    elif case == "empty arrays":  # max() of an empty sequence
        e = np.zeros((0, 3))
        _npz(path, X=e, y=np.zeros(0, int), X_test=e, y_test=np.zeros(0, int))
    elif case == "empty test set":
        _npz(path, X=X40, y=Y40, X_test=np.zeros((0, 3)), y_test=np.zeros(0, int))
    elif case == "no feature columns":
        _npz(path, X=np.zeros((40, 0)), y=Y40)
    elif case == "unseen test label":
        _npz(path, X=X40, y=Y40, X_test=X40[:4], y_test=np.array([0, 1, 2, 1]))
    elif case == "NaN labels":
        _npz(path, X=X40, y=np.where(Y40 == 1, np.nan, 0.0))
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not a zip", "cannot read .npz (expected a zip of .npy arrays)"),
        ("huge declared shape", "X: the header declares shape (1000000, 1000000)"),
        ("truncated member", "but the file holds only 100 bytes"),
        ("member not .npy", "X: not a .npy array"),
        ("0-d y", "y: expected one value per row, got a single value"),
        ("structured y", "expected numbers or strings as class labels, got dtype"),
        ("object y", "y: holds Python objects"),
        ("non-UTF-8 bytes y", "labels are bytes that are not UTF-8 text"),
        ("uint64 y", "label 18446744073709551615 is larger than 2**63 - 1"),
        ("1e300 y", "label 1e+300 is too large to be an exact integer class label"),
        ("empty arrays", "X: no rows"),
        ("empty test set", "X_test: no rows"),
        ("no feature columns", "X: no feature columns"),
        ("NaN labels", "labels contain NaN"),
    ],
)
def test_bad_npz_data(tmp_path: Path, case: str, message: str) -> None:
    path = _bad_npz(tmp_path, case)
    line = _fails(["train", "--data", str(path), "--val-fraction", "0", *QUICK], message)
    assert str(path) in line or path.name in line


def test_a_test_label_unseen_in_training_is_a_class(tmp_path: Path) -> None:
    # As scikit-learn's score: a class only the test set has is never predicted, so it counts
    # as an error; it is not a reason to refuse the data.
    path = _bad_npz(tmp_path, "unseen test label")
    metrics = tmp_path / "m.json"
    proc = _cli(["train", "--data", str(path), "--metrics-out", str(metrics), *QUICK])
    assert proc.returncode == 0, proc.stderr


def test_predict_refuses_bad_npz(tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    ferroprop.Network([3, 4, 2]).save(model)
    for case, message in [("not a zip", "cannot read .npz"), ("huge declared shape", "declares")]:
        _fails(["predict", str(model), "--data", str(_bad_npz(tmp_path, case))], message)


def test_regression_refuses_structured_targets(tmp_path: Path) -> None:
    path = _npz(tmp_path / "r.npz", X=X40, y=np.zeros(40, dtype=[("a", "<f8")]))
    _fails(["train", "--data", str(path), "--task", "regression", *QUICK], "must be numbers")


# -- class labels -------------------------------------------------------------------------------


def _predicted_labels(model: Path, data: Path, *extra: str) -> list[str]:
    proc = _cli(["predict", str(model), "--data", str(data), *extra])
    assert proc.returncode == 0, proc.stderr
    table = list(csv.reader(io.StringIO(proc.stdout)))
    assert table[0] == ["prediction"]
    return [row[0] for row in table[1:]]


def test_large_integer_labels_are_classes_not_output_widths(tmp_path: Path) -> None:
    # Label 50000000 used to ask for a 50,000,001-output network.
    X, y = _blobs(np.array([3, 50_000_000, 7]))
    data = _npz(tmp_path / "big.npz", X=X, y=y)
    model, metrics = tmp_path / "m.safetensors", tmp_path / "m.json"
    proc = _cli(["train", "--data", str(data), *FAST, "--save", str(model), "--metrics-out",
                 str(metrics)])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    m = json.loads(metrics.read_text())
    assert m["config"]["widths"] == [3, 16, 3]
    assert m["class_names"] == ["3", "7", "50000000"] and m["test_accuracy"] > 0.9
    predicted = _predicted_labels(model, data)
    assert set(predicted) <= {"3", "7", "50000000"}
    assert np.mean(np.array(predicted) == y.astype(str)) > 0.9


def test_label_beyond_int64_in_a_csv(tmp_path: Path) -> None:
    # 99999999999999999999999 raised OverflowError; it is a class name like any text.
    big = "99999999999999999999999"
    X, y = _blobs(np.array(["-5", big]))
    data = tmp_path / "big.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "label"])
        w.writerows([*map(str, row), label] for row, label in zip(X, y, strict=True))
    model = tmp_path / "m.safetensors"
    proc = _cli(["train", "--data", str(data), *FAST, "--save", str(model)])
    assert proc.returncode == 0, proc.stderr
    assert ferroprop.load(model).class_names == ["-5", big]  # numeric order
    predicted = _predicted_labels(model, data, "--target", "label")
    assert np.mean(np.array(predicted) == y) > 0.9


@pytest.mark.parametrize(
    ("parts", "codes", "names", "n_out"),
    [
        ([np.array([0, 2, 1, 2]), np.array([1])], [[0, 2, 1, 2], [1]], None, 3),
        ([np.array([True, False]), np.array([True])], [[1, 0], [1]], None, 2),
        ([np.array([5, -1, 5]), np.array([-1])], [[1, 0, 1], [0]], ["-1", "5"], 2),
        ([np.array([2.0, 4.0]), np.array([4], np.uint8)], [[0, 1], [1]], ["2", "4"], 2),
        ([np.array(["10", "9", "x"]), np.array([9])], [[1, 0, 2], [0]], ["9", "10", "x"], 3),
        ([np.array([b"b", b"a"]), np.array(["a"])], [[1, 0], [0]], ["a", "b"], 2),
        ([np.array([1, 2]), np.array(["1"])], [[0, 1], [0]], ["1", "2"], 2),
        ([np.array(["7"]), np.array(["7"])], [[0], [0]], ["7"], 2),
    ],
)
def test_encode_classes(parts: list, codes: list, names: list | None, n_out: int) -> None:
    coded, got_names, got_n = encode_classes(parts, "y")
    assert [c.tolist() for c in coded] == codes
    assert got_names == names and got_n == n_out
    assert all(c.dtype == np.int64 for c in coded)


def test_encode_classes_refuses_fractions() -> None:
    with pytest.raises(CLIError, match="--task regression"):
        encode_classes([np.array([0.5, 1.0]), np.array([1.0])], "y")


# -- options ------------------------------------------------------------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--threads", HUGE, f"--threads: expected an integer in [1, {MAX_THREADS}]"),
        ("--threads", "0", f"--threads: expected an integer in [1, {MAX_THREADS}]"),
        (
            "--threads",
            str(MAX_THREADS + 1),
            f"--threads: expected an integer in [1, {MAX_THREADS}]",
        ),
        ("--batch-size", HUGE, "--batch-size: expected an integer in [1, 2147483647]"),
        ("--batch-size", "2147483648", "--batch-size: expected an integer in [1, 2147483647]"),
        ("--epochs", HUGE, "--epochs: expected an integer in [1, 2147483647]"),  # ran forever
        ("--epochs", "-3", "--epochs: expected an integer in [1, 2147483647]"),
        ("--hidden", HUGE, "--hidden: layer widths must be integers in [1, 2147483647]"),
        ("--hidden", "8,2147483648", "--hidden: layer widths must be integers"),
        ("--seed", "-1", "--seed: expected an integer in [0, 18446744073709551615]"),
        ("--seed", str(2**64), "--seed: expected an integer in [0, 18446744073709551615]"),
        ("--lr", "nan", "--lr: expected a positive number"),
        ("--lr", "inf", "--lr: expected a positive number"),
        ("--lr", "1e400", "--lr: expected a positive number"),
        ("--lr", "", "--lr: expected a positive number"),
        ("--lr", "0", "--lr: expected a positive number"),
        ("--val-fraction", "nan", "--val-fraction: expected a number in [0, 1)"),
        ("--test-fraction", "-0.1", "--test-fraction: expected a number in [0, 1)"),
        ("--activation", "", "unknown activation ''"),
        ("--activation", "rélu", "unknown activation 'rélu'"),
        ("--hidden", "8,,8", "--hidden: expected comma-separated positive integers"),
        ("--progress", "", "--progress: invalid choice"),
    ],
)
def test_option_values_are_range_checked(option: str, value: str, message: str) -> None:
    line = _fails(["train", option, value], message)
    assert "(see ferroprop train --help)" in line


def test_usage_errors_are_one_line() -> None:
    _fails([], "the following arguments are required")
    _fails(["train", "--no-such-option"], "unrecognized arguments: --no-such-option")
    _fails(["predict", "m.safetensors"], "the following arguments are required: --data")


def test_help_documents_ranges_and_exit_codes() -> None:
    proc = _cli(["train", "--help"])
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert f"1..{MAX_THREADS}" in text and "1..2147483647" in text
    assert "3 internal error" in text and "1 training diverged" in text


# -- paths --------------------------------------------------------------------------------------


@pytest.fixture
def blobs_npz(tmp_path: Path) -> Path:
    X, y = _blobs(np.array([0, 1, 2]))
    return _npz(tmp_path / "blobs.npz", X=X, y=y)


def test_bad_paths(tmp_path: Path, blobs_npz: Path) -> None:
    directory = tmp_path / "dir.npz"
    directory.mkdir()
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    model = tmp_path / "m.safetensors"
    ferroprop.Network([3, 4, 3]).save(model)
    train = ["train", "--data", str(blobs_npz), *QUICK]
    _fails(["train", "--data", ""], "expected a file name, got an empty string")
    _fails(["train", "--data", str(directory)], "not a file")
    _fails(["train", "--data", str(fifo)], "not a file")  # opening it would block
    _fails(["train", "--data", str(tmp_path / "nope.npz")], "no such file")
    _fails(["train", "--data", str(tmp_path / "ünïcødé.npz")], "ünïcødé.npz: no such file")
    _fails([*train, "--save", ""], "--save: expected a file name")
    _fails([*train, "--save", str(directory)], "is a directory")
    _fails([*train, "--metrics-out", str(directory)], "is a directory")
    _fails([*train, "--save", str(tmp_path / "no" / "m.safetensors")], "does not exist")
    _fails(["predict", str(fifo), "--data", str(blobs_npz)], "not a file")
    _fails(["predict", str(directory), "--data", str(blobs_npz)], "not a file")
    _fails(["predict", str(model), "--data", str(fifo)], "not a file")
    _fails(["predict", str(model), "--data", str(blobs_npz), "--out", ""], "--out: expected")
    _fails(["predict", str(model), "--data", str(blobs_npz), "--out", str(directory)], "directory")
    _fails(["predict", str(blobs_npz), "--data", str(blobs_npz)], "not a valid ferroprop model")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "blobs.npz", "dir.npz", "fifo.npz", "m.safetensors"
    ]  # fmt: skip


# -- training failures --------------------------------------------------------------------------


def test_non_finite_parameters_are_not_saved(tmp_path: Path, blobs_npz: Path) -> None:
    # --lr 1e39 overflowed the float32 parameters to inf/NaN without a DivergenceError: the
    # run exited 0 and saved a model that `predict` refused.
    model, metrics = tmp_path / "m.safetensors", tmp_path / "m.json"
    args = ["train", "--data", str(blobs_npz), "--lr", "1e39", *QUICK, "--save", str(model)]
    _fails([*args, "--metrics-out", str(metrics)], "training diverged", code=1)
    assert not model.exists() and not metrics.exists()


# Runs the CLI (argv[1:]) with Network.fit, or the Network constructor, raising an exception.
_RAISING = """
import sys
import ferroprop
class InternalError(RuntimeError):
    pass
ferroprop.InternalError = InternalError  # as the engine's own, in builds that have it
from ferroprop import cli
def boom(*args, **kwargs):
    raise {exception}
ferroprop.Network.{method} = boom
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("method", "exception", "code", "message"),
    [
        ("fit", "ValueError('y: bad labels')", 2, "training failed: y: bad labels"),
        ("fit", "MemoryError()", 2, "not enough memory to train the network 3-8-3"),
        ("__init__", "MemoryError()", 2, "the network 3-8-3 (59 parameters) does not fit"),
        ("fit", "InternalError('a kernel bug\\nsecond line')", 3, "a kernel bug second line"),
        ("fit", "RuntimeError('worker panicked')", 3, "internal error (RuntimeError)"),
    ],
)
def test_engine_failures(blobs_npz: Path, method: str, exception: str, code: int, message: str):
    script = _RAISING.format(method=method, exception=exception)
    _fails(["train", "--data", str(blobs_npz), *QUICK], message, code=code, script=script)


def test_predict_into_a_closed_pipe_is_not_reported_as_divergence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `ferroprop predict … | head`: writing to a pipe whose reader has gone (Python ignores
    # SIGPIPE, so the write raises BrokenPipeError).
    model, data = tmp_path / "m.safetensors", tmp_path / "d.npz"
    ferroprop.Network([3, 4, 2]).save(model)
    _npz(data, X=np.zeros((20000, 3)), y=np.zeros(20000, int))
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", encoding="utf-8") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        code = cli_main(["predict", str(model), "--data", str(data)])
    assert code == 141  # 128 + SIGPIPE, as a shell reports it; not 1 ("diverged")
