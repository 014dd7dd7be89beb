"""The ``ferroprop`` command line: ``ferroprop train`` and ``ferroprop predict``.

``ferroprop train`` trains an MLP with :class:`ferroprop.Network` on Fashion-MNIST (Debian's
``dataset-fashion-mnist``) or on the user's own ``.npz``/``.csv`` file, shows a progress bar per
epoch and reports the test accuracy; ``ferroprop predict`` applies a saved model to a file.
Also runnable as ``python -m ferroprop``. Exit codes: 0 success, 1 training diverged,
2 bad usage or bad input (a one-line message, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import SGD, Adam, DivergenceError, Network, get_num_threads, set_num_threads
from .datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist

__all__ = ["main"]

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "logistic", "identity")

# The defaults of `ferroprop train`, chosen so that it reaches >= 0.89 test accuracy on
# Fashion-MNIST in well under 30 s of training on a 2-core machine (measurements: see the
# report that introduced this module; about 0.90 in about 10 s).
DEFAULT_HIDDEN = (256, 128)
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.2


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""


# -- argument types ---------------------------------------------------------------------------


def _hidden(text: str) -> list[int]:
    """``"256,128"`` -> ``[256, 128]``; ``""`` or ``"none"`` -> no hidden layer."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    widths = []
    for part in text.split(","):
        try:
            width = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated positive integers such as 256,128, got {text!r}"
            ) from None
        if width <= 0:
            raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
        widths.append(width)
    return widths


def _activation(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in ACTIVATIONS:
            raise argparse.ArgumentTypeError(
                f"unknown activation {name!r} (choose from {', '.join(ACTIVATIONS)}, "
                "or a comma-separated list with one per hidden layer)"
            )
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferroprop",
        description="Train multilayer perceptrons on the CPU with ferroprop, and predict.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,predict}")
    sub.required = True

    t = sub.add_parser(
        "train",
        help="train an MLP (default: on Fashion-MNIST) and report its test accuracy",
        description=(
            "Train an MLP and report its test accuracy. Without --data it trains on "
            "Fashion-MNIST (Debian package dataset-fashion-mnist) with defaults that reach "
            "about 0.90 test accuracy."
        ),
    )
    data = t.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="FILE",
        help=".npz (arrays X, y; optional X_test, y_test) or .csv with a header row "
        "(default: Fashion-MNIST)",
    )
    data.add_argument(
        "--target", metavar="COLUMN", help="the label column of a .csv (default: the last one)"
    )
    data.add_argument(
        "--data-dir",
        metavar="DIR",
        default=str(DEFAULT_FASHION_MNIST_DIR),
        help="directory with the Fashion-MNIST IDX files (default: %(default)s)",
    )
    data.add_argument(
        "--task",
        choices=("classification", "regression"),
        default="classification",
        help="classification (cross-entropy; labels are classes, ints or strings) or "
        "regression (mse) (default: %(default)s)",
    )
    data.add_argument(
        "--val-fraction",
        type=_fraction,
        default=DEFAULT_VAL_FRACTION,
        help="share of the training data held out to show the validation accuracy per "
        "epoch; 0 to train on all of it (default: %(default)s)",
    )
    data.add_argument(
        "--test-fraction",
        type=_fraction,
        default=DEFAULT_TEST_FRACTION,
        help="share held out as test set when --data has no X_test/y_test (default: %(default)s)",
    )

    model = t.add_argument_group("model and training")
    model.add_argument(
        "--hidden",
        type=_hidden,
        default=list(DEFAULT_HIDDEN),
        metavar="W1,W2,...",
        help=f"hidden layer widths, or 'none' (default: {','.join(map(str, DEFAULT_HIDDEN))})",
    )
    model.add_argument(
        "--activation",
        type=_activation,
        default=["relu"],
        metavar="NAME",
        help=f"hidden activation: {', '.join(ACTIVATIONS)}; or one per layer, "
        "comma-separated (default: relu)",
    )
    model.add_argument(
        "--optimizer",
        choices=("adam", "sgd"),
        default="adam",
        help="adam, or sgd with Nesterov momentum 0.9 (default: %(default)s)",
    )
    model.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help=f"initial learning rate (default: adam {DEFAULT_LR['adam']:g}, "
        f"sgd {DEFAULT_LR['sgd']:g})",
    )
    model.add_argument(
        "--lr-schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="cosine: decay the learning rate per epoch from --lr towards 0 (default: %(default)s)",
    )
    model.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULT_EPOCHS,
        help="passes over the training data (default: %(default)s)",
    )
    model.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="mini-batch size (default: %(default)s)",
    )
    model.add_argument(
        "--seed",
        type=_nonneg_int,
        default=0,
        help="seeds initialisation, shuffles and splits (default: %(default)s)",
    )
    model.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="worker threads (default: the library's, FERROPROP_NUM_THREADS or all cores)",
    )
    model.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="precision of the parameters and arithmetic (default: %(default)s)",
    )

    out = t.add_argument_group("output")
    out.add_argument("--save", metavar="PATH", help="save the trained network (safetensors format)")
    out.add_argument(
        "--metrics-out",
        metavar="FILE",
        help="write the metrics (test_accuracy, train_seconds, samples_per_second, "
        "per-epoch loss and val accuracy, the config) as JSON",
    )
    out.add_argument(
        "--progress",
        choices=("auto", "tqdm", "plain", "none"),
        default="auto",
        help="per-epoch progress: auto = a tqdm bar when tqdm is installed and stderr is a "
        "terminal, else a plain one-line bar (one line per epoch when stdout is not a "
        "terminal) (default: %(default)s)",
    )

    p = sub.add_parser(
        "predict",
        help="predict with a saved model",
        description="Apply a model saved by `ferroprop train --save` to the rows of a file.",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by --save")
    p.add_argument(
        "--data", metavar="FILE", required=True, help=".npz (array X) or .csv with a header row"
    )
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="a .csv column to drop before predicting (e.g. the label), if present",
    )
    p.add_argument(
        "--out", metavar="FILE", default="-", help="output .csv ('-' = stdout; default '-')"
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write the class probabilities (classification models)",
    )
    return parser


# -- data -------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Features and targets, split into train / validation / test."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    class_names: list[str] | None = None  # set when string labels were mapped to indices
    n_outputs: int = 0
    feature_names: list[str] = field(default_factory=list)


def _existing_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such file")
    if not p.is_file():
        raise CLIError(f"{path}: not a file")
    return p


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a .csv, cells stripped; blank lines skipped; ragged rows rejected."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise CLIError(f"{path}: empty file (expected a header row)")
            header = [h.strip() for h in header]
            rows = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise CLIError(
                        f"{path}, line {reader.line_num}: {len(row)} fields, "
                        f"but the header has {len(header)}"
                    )
                rows.append([cell.strip() for cell in row])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CLIError(f"{path}: cannot read CSV: {exc}") from None
    if not rows:
        raise CLIError(f"{path}: no data rows after the header")
    return header, rows


def _numeric(cells: list[list[str]], names: list[str], path: Path) -> np.ndarray:
    """Rows of strings -> float64 matrix; errors name the first bad cell."""
    try:
        X = np.array(cells, dtype=np.float64).reshape(len(cells), len(names))
    except ValueError:
        for i, row in enumerate(cells):
            for j, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise CLIError(
                        f"{path}: data row {i + 1}, column {names[j]!r}: {cell!r} is not a "
                        "number (feature columns must be numeric)"
                    ) from None
        raise
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CLIError(
            f"{path}: data row {i + 1}, column {names[j]!r}: {cells[i][j]!r} is not finite"
        )
    return X


def _csv_columns(
    path: Path, target: str | None, *, need_target: bool
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """Features (float64), the target column's raw cells (or None) and the feature names."""
    header, rows = _read_csv(path)
    if target is None:
        t = len(header) - 1 if need_target else None
    elif target in header:
        t = header.index(target)
    elif need_target:
        raise CLIError(f"{path}: no column {target!r} (columns: {', '.join(header)})")
    else:
        t = None
    keep = [j for j in range(len(header)) if j != t]
    if not keep:
        raise CLIError(f"{path}: no feature columns besides the target {header[t]!r}")
    names = [header[j] for j in keep]
    X = _numeric([[row[j] for j in keep] for row in rows], names, path)
    y = None if t is None else [row[t] for row in rows]
    return X, y, names


def _load_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            available = list(npz.files)
            return {k: np.asarray(npz[k]) for k in keys if k in available} | {
                "__files__": np.array(available)
            }
    except (OSError, ValueError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read .npz: {exc}") from None


def _features(X: np.ndarray, what: str) -> np.ndarray:
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise CLIError(f"{what}: expected a 2-D array (samples, features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise CLIError(f"{what}: expected numbers, got dtype {X.dtype}")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise CLIError(f"{what}: contains NaN or infinite values")
    return X


def _as_int_labels(raw: np.ndarray) -> np.ndarray | None:
    """Integer class indices if the labels are non-negative integers (as numbers or text)."""
    if raw.dtype.kind == "b":
        return raw.astype(np.int64)
    if raw.dtype.kind in "iu":
        return raw.astype(np.int64) if (raw.size == 0 or raw.min() >= 0) else None
    if raw.dtype.kind == "f":
        if np.isfinite(raw).all() and (raw == np.round(raw)).all() and (raw >= 0).all():
            return raw.astype(np.int64)
        return None
    if raw.dtype.kind in "US":
        text = raw.astype(str)
        if all(s.isascii() and s.isdigit() for s in text.ravel()):
            return text.astype(np.int64)
    return None


def _label_order(name: str) -> tuple[int, float, str]:
    """Numbers (such as negative integers) in numeric order, before other names."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _encode_labels(
    parts: list[np.ndarray], what: str
) -> tuple[list[np.ndarray], list[str] | None, int]:
    """Class labels of train and test -> int64 indices, the class names (string labels only)
    and the number of classes. Non-negative integers are used as indices as they are."""
    for raw in parts:
        if raw.ndim != 1:
            raise CLIError(f"{what}: class labels must be 1-D, got shape {raw.shape}")
    ints = [_as_int_labels(raw) for raw in parts]
    if all(i is not None for i in ints):
        n_classes = int(max(int(i.max()) for i in ints if i.size)) + 1  # type: ignore[union-attr]
        return ints, None, max(n_classes, 2)  # type: ignore[return-value]
    if any(raw.dtype.kind in "f" for raw in parts):
        raise CLIError(
            f"{what}: labels are not class labels (non-integer or negative numbers); "
            "use --task regression for numeric targets"
        )
    texts = [raw.astype(str) for raw in parts]
    names = sorted(set(texts[0].tolist()), key=_label_order)
    index = {name: i for i, name in enumerate(names)}
    unseen = sorted(set().union(*(set(t.tolist()) for t in texts[1:])) - set(names))
    if unseen:
        raise CLIError(f"{what}: test labels not in the training labels: {unseen[:5]}")
    coded = [np.array([index[s] for s in t.tolist()], dtype=np.int64) for t in texts]
    return coded, names, max(len(names), 2)


def _regression_targets(parts: list[np.ndarray], what: str) -> tuple[list[np.ndarray], int]:
    out = []
    for raw in parts:
        try:
            y = raw.astype(np.float64)
        except ValueError:
            raise CLIError(f"{what}: regression targets must be numeric") from None
        if y.ndim not in (1, 2):
            raise CLIError(f"{what}: expected targets (n,) or (n, k), got shape {y.shape}")
        if not np.isfinite(y).all():
            raise CLIError(f"{what}: targets contain NaN or infinite values")
        out.append(y)
    n_out = 1 if out[0].ndim == 1 else out[0].shape[1]
    if any((1 if y.ndim == 1 else y.shape[1]) != n_out for y in out):
        raise CLIError(f"{what}: train and test targets have different widths")
    return out, n_out


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out), both sorted: round(fraction * n) rows held out, at least one
    when fraction > 0."""
    n_out = max(1, int(round(fraction * n))) if fraction > 0 else 0
    perm = rng.permutation(n)
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def _load_train_data(args: argparse.Namespace) -> Dataset:
    """The training data the options ask for, split into train / validation / test."""
    rng = np.random.default_rng(args.seed)
    X_test = y_test = None
    feature_names: list[str] = []
    if args.data is None:
        try:
            X, y, X_test, y_test = load_fashion_mnist(args.data_dir)
        except FileNotFoundError as exc:
            what = str(exc).split(" Install them", 1)[0]
            raise CLIError(
                f"{what} Install Fashion-MNIST with `apt-get install -y dataset-fashion-mnist` "
                f"(Debian/Ubuntu, as root; installs into {DEFAULT_FASHION_MNIST_DIR}), or pass "
                "--data-dir DIR (a directory with train-images-idx3-ubyte.gz, "
                "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
                "t10k-labels-idx1-ubyte.gz), "
                "or train on your own data with --data FILE.npz|FILE.csv."
            ) from None
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        name, raw_y, raw_test = "Fashion-MNIST", y, y_test
    else:
        path = _existing_file(args.data)
        name = path.name
        suffix = path.suffix.lower()
        if suffix == ".npz":
            arrays = _load_npz(path, ("X", "y", "X_test", "y_test"))
            files = arrays["__files__"].tolist()
            missing = [k for k in ("X", "y") if k not in arrays]
            if missing:
                raise CLIError(
                    f"{path}: no array {' or '.join(missing)} (arrays: {', '.join(files) or '-'})"
                )
            if ("X_test" in arrays) != ("y_test" in arrays):
                raise CLIError(f"{path}: X_test and y_test must come together")
            X = _features(arrays["X"], f"{path}: X")
            raw_y = arrays["y"]
            if "X_test" in arrays:
                X_test = _features(arrays["X_test"], f"{path}: X_test")
                raw_test = arrays["y_test"]
                if X_test.shape[1] != X.shape[1]:
                    raise CLIError(
                        f"{path}: X_test has {X_test.shape[1]} features but X has {X.shape[1]}"
                    )
            if len(raw_y) != len(X):
                raise CLIError(f"{path}: X has {len(X)} rows but y has {len(raw_y)}")
        elif suffix == ".csv":
            X, cells, feature_names = _csv_columns(path, args.target, need_target=True)
            raw_y = np.array(cells)
        else:
            raise CLIError(f"{path}: unsupported file type {suffix or '(none)'}; use .npz or .csv")
        if X_test is None:
            if args.test_fraction <= 0:
                raise CLIError("--test-fraction must be > 0 when the data has no test set")
            keep, held = _split(len(X), args.test_fraction, rng)
            if len(held) == 0 or len(keep) == 0:
                raise CLIError(
                    f"{path}: {len(X)} rows are too few for --test-fraction {args.test_fraction}"
                )
            X, X_test, raw_test, raw_y = X[keep], X[held], raw_y[held], raw_y[keep]
        elif len(raw_test) != len(X_test):
            raise CLIError(f"{path}: X_test has {len(X_test)} rows but y_test has {len(raw_test)}")

    what = f"{name}: y"
    class_names = None
    if args.task == "classification":
        (y, y_test), class_names, n_outputs = _encode_labels([raw_y, raw_test], what)
    else:
        (y, y_test), n_outputs = _regression_targets([raw_y, raw_test], what)
    if args.data is None:
        n_outputs = max(n_outputs, 10)  # Fashion-MNIST has ten classes, whatever a file holds

    X_val = y_val = None
    if args.val_fraction > 0:
        keep, held = _split(len(X), args.val_fraction, rng)
        if len(held) == 0 or len(keep) == 0:
            raise CLIError(
                f"{name}: {len(X)} training rows are too few for --val-fraction {args.val_fraction}"
            )
        X_val, y_val, X, y = X[held], y[held], X[keep], y[keep]

    dtype = np.dtype(args.dtype)

    def cast(a: np.ndarray | None) -> np.ndarray | None:
        # Converted once here, so the per-epoch fit calls need no copy.
        return None if a is None else np.ascontiguousarray(a, dtype=dtype)

    def cast_y(a: np.ndarray | None) -> np.ndarray | None:
        if a is None or args.task == "classification":
            return a
        return cast(a)

    return Dataset(
        name=name,
        X_train=cast(X),  # type: ignore[arg-type]
        y_train=cast_y(y),  # type: ignore[arg-type]
        X_test=cast(X_test),  # type: ignore[arg-type]
        y_test=cast_y(y_test),  # type: ignore[arg-type]
        X_val=cast(X_val),
        y_val=cast_y(y_val),
        class_names=class_names,
        n_outputs=n_outputs,
        feature_names=feature_names,
    )


# -- progress ---------------------------------------------------------------------------------


def _rate(rows: int, seconds: float) -> float:
    return rows / max(seconds, 1e-9)


class _PlainProgress:
    """A one-line bar redrawn with a carriage return on a terminal; one line per epoch when the
    output is not a terminal (logs, pipes)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = _isatty(stream)
        self.width = 0
        if self.tty:  # something to look at during the first epoch
            self._draw(f"epoch {0:>{len(str(total))}}/{total}  [{'.' * 20}]")

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self.width))
        self.width = max(self.width, len(line))
        self.stream.flush()

    def update(self, epoch: int, loss: float, val_acc: float | None, rate: float) -> None:
        done = round(20 * epoch / self.total)
        parts = [
            f"epoch {epoch:>{len(str(self.total))}}/{self.total}",
            f"[{'#' * done}{'.' * (20 - done)}]",
            f"loss {loss:.4f}",
        ]
        if val_acc is not None:
            parts.append(f"val_acc {val_acc:.4f}")
        parts.append(f"{rate:,.0f} samples/s")
        line = "  ".join(parts)
        if self.tty:
            self._draw(line)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
        self.width = 0


class _TqdmProgress:
    """A tqdm bar over the epochs with loss, val accuracy and samples/s as postfix."""

    def __init__(self, total: int, tqdm: Any) -> None:
        self.bar = tqdm(total=total, desc="train", unit="epoch", mininterval=0, dynamic_ncols=True)

    def update(self, epoch: int, loss: float, val_acc: float | None, rate: float) -> None:
        postfix = {"loss": f"{loss:.4f}"}
        if val_acc is not None:
            postfix["val_acc"] = f"{val_acc:.4f}"
        postfix["samples/s"] = f"{rate:,.0f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()  # idempotent


class _NoProgress:
    def update(self, epoch: int, loss: float, val_acc: float | None, rate: float) -> None:
        pass

    def close(self) -> None:
        pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _progress(mode: str, total: int) -> _PlainProgress | _TqdmProgress | _NoProgress:
    """auto: a tqdm bar when tqdm is installed and stderr (where tqdm draws) is a terminal,
    else the plain bar, which writes one line per epoch when stdout is not a terminal."""
    if mode == "none":
        return _NoProgress()
    if mode == "tqdm" or (mode == "auto" and _isatty(sys.stderr)):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if mode == "tqdm":
                raise CLIError(
                    "--progress tqdm: tqdm is not installed (pip install tqdm)"
                ) from None
        else:
            return _TqdmProgress(total, tqdm)
    return _PlainProgress(total, sys.stdout)


# -- train ------------------------------------------------------------------------------------


def _check_writable(path: str, option: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CLIError(f"{option} {path}: directory {parent} does not exist")


def _epoch_seed(seed: int, epoch: int) -> int:
    """A distinct shuffle seed per (seed, epoch)."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch]).generate_state(1)[0])


def _train(args: argparse.Namespace, started: float) -> int:
    if args.save is not None:
        if not hasattr(Network, "save"):
            raise CLIError("--save: this ferroprop has no Network.save (update ferroprop)")
        _check_writable(args.save, "--save")
    if args.metrics_out is not None:
        _check_writable(args.metrics_out, "--metrics-out")
    if len(args.activation) not in (1, len(args.hidden)):
        raise CLIError(
            f"--activation: {len(args.activation)} names for {len(args.hidden)} hidden layers"
        )
    if args.threads is not None:
        set_num_threads(args.threads)

    data = _load_train_data(args)
    widths = [data.X_train.shape[1], *args.hidden, data.n_outputs]
    activation: str | list[str] = (
        args.activation[0] if len(args.activation) == 1 else args.activation
    )
    loss_name = "cross_entropy" if args.task == "classification" else "mse"
    try:
        net = Network(
            widths,
            activation=activation,
            loss=loss_name,
            dtype=args.dtype,
            init="he",
            seed=args.seed,
        )
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.optimizer == "adam":
        optimizer: Any = Adam(lr=lr)
    else:
        optimizer = SGD(lr=lr, momentum=0.9, nesterov=True)

    n_train = len(data.X_train)
    n_val = 0 if data.X_val is None else len(data.X_val)
    act_text = ",".join(args.activation)
    print(
        f"{data.name}: {n_train} train / {n_val} validation / {len(data.X_test)} test rows; "
        f"network {'-'.join(map(str, widths))} {act_text} ({loss_name}, {args.dtype}); "
        f"{args.optimizer} lr {lr:g} ({args.lr_schedule}), batch {args.batch_size}, "
        f"{args.epochs} epochs, {get_num_threads()} thread(s)",
        flush=True,
    )

    validation = None if data.X_val is None else (data.X_val, data.y_val)
    progress = _progress(args.progress, args.epochs)
    losses: list[float] = []
    val_losses: list[float] = []
    val_accs: list[float] = []
    epoch_seconds: list[float] = []
    train_seconds = 0.0
    epoch = 0

    def report(
        _e: int, loss: float, val_loss: float | None, val_acc: float | None, seconds: float
    ) -> None:
        losses.append(loss)
        epoch_seconds.append(seconds)
        if val_loss is not None:
            val_losses.append(val_loss)
        if val_acc is not None:
            val_accs.append(val_acc)
        progress.update(epoch, loss, val_acc, _rate(n_train, seconds))

    try:
        for epoch in range(1, args.epochs + 1):
            if args.lr_schedule == "cosine":
                optimizer.lr = lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / args.epochs))
            t0 = time.perf_counter()
            # One fit call per epoch: the optimizer object keeps its state across calls.
            net.fit(
                data.X_train,
                data.y_train,
                epochs=1,
                batch_size=args.batch_size,
                optimizer=optimizer,
                seed=_epoch_seed(args.seed, epoch),
                validation_data=validation,
                callback=report,
            )
            train_seconds += time.perf_counter() - t0
    except DivergenceError as exc:
        progress.close()
        print(
            f"ferroprop train: error: training diverged: {exc}; try a smaller --lr", file=sys.stderr
        )
        return 1
    finally:
        progress.close()

    metrics: dict[str, Any] = {"dataset": data.name}
    if args.task == "classification":
        test_accuracy = float(np.mean(net.predict(data.X_test) == data.y_test))
        metrics["test_accuracy"] = test_accuracy
        result = f"test accuracy {test_accuracy:.4f}"
    else:
        metrics["test_accuracy"] = None
        test_mse = net.loss(data.X_test, data.y_test)
        metrics["test_mse"] = test_mse
        result = f"test mse {test_mse:.6g}"
    samples_per_second = _rate(args.epochs * n_train, train_seconds)

    if args.save is not None:
        try:
            net.save(args.save)  # type: ignore[attr-defined]
        except OSError as exc:
            raise CLIError(f"--save {args.save}: {exc}") from None
        print(f"saved the model to {args.save}")
        if data.class_names is not None:
            print(
                "note: the model file stores no class names; `ferroprop predict` prints class "
                "indices 0.."
                f"{len(data.class_names) - 1} for: {', '.join(data.class_names)}"
            )

    wall = time.perf_counter() - started
    metrics.update(
        {
            "train_seconds": train_seconds,
            "samples_per_second": samples_per_second,
            "epochs": args.epochs,
            "wall_seconds": wall,
            "final_loss": losses[-1] if losses else None,
            "loss": losses,
            "val_loss": val_losses,
            "val_accuracy": val_accs,
            "epoch_seconds": epoch_seconds,
            "n_train": n_train,
            "n_val": n_val,
            "n_test": len(data.X_test),
            "class_names": data.class_names,
            "config": {
                "widths": widths,
                "hidden": list(args.hidden),
                "activation": act_text,
                "loss": loss_name,
                "task": args.task,
                "optimizer": args.optimizer,
                "lr": lr,
                "lr_schedule": args.lr_schedule,
                "batch_size": args.batch_size,
                "seed": args.seed,
                "threads": get_num_threads(),
                "dtype": args.dtype,
                "val_fraction": args.val_fraction,
                "data": args.data,
            },
        }
    )
    print(
        f"{result}; training {train_seconds:.2f} s ({samples_per_second:,.0f} samples/s), "
        f"wall time {wall:.2f} s"
    )
    if args.metrics_out is not None:
        try:
            with open(args.metrics_out, "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=2)
                f.write("\n")
        except OSError as exc:
            raise CLIError(f"--metrics-out {args.metrics_out}: {exc}") from None
    return 0


# -- predict ----------------------------------------------------------------------------------


def _predict(args: argparse.Namespace) -> int:
    import ferroprop

    load: Callable[[str], Network] | None = getattr(ferroprop, "load", None)
    if load is None:
        raise CLIError("this ferroprop has no ferroprop.load (update ferroprop)")
    model_path = _existing_file(args.model)
    path = _existing_file(args.data)
    if args.out != "-":
        _check_writable(args.out, "--out")
    try:
        net = load(str(model_path))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CLIError(f"{model_path}: cannot load the model: {exc}") from None

    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _load_npz(path, ("X",))
        if "X" not in arrays:
            files = ", ".join(arrays["__files__"].tolist()) or "-"
            raise CLIError(f"{path}: no array X (arrays: {files})")
        X = _features(arrays["X"], f"{path}: X")
        n_cols_hint = ""
    elif suffix == ".csv":
        try:
            X, _, _ = _csv_columns(path, args.target, need_target=False)
        except CLIError as exc:
            if args.target is None and "is not a number" in str(exc):
                raise CLIError(f"{exc}; pass --target COLUMN to drop the label column") from None
            raise
        n_cols_hint = (
            "; pass --target COLUMN to drop the label column" if args.target is None else ""
        )
    else:
        raise CLIError(f"{path}: unsupported file type {suffix or '(none)'}; use .npz or .csv")
    n_in = net.widths[0]
    if X.shape[1] != n_in:
        raise CLIError(
            f"{path}: {X.shape[1]} feature columns, but the model expects {n_in}{n_cols_hint}"
        )
    X = np.ascontiguousarray(X, dtype=net.dtype)

    if args.proba and net.loss_name == "mse":
        raise CLIError("--proba: the model is a regression (mse) model; it has no probabilities")
    pred = np.asarray(net.predict(X))
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    digits = "%.9g" if net.dtype == np.float32 else "%.17g"
    columns: list[np.ndarray] = []
    header: list[str] = []
    formats: list[str] = []
    if pred.ndim == 1:
        header.append("prediction")
        columns.append(pred)
    else:
        header += [f"prediction_{j}" for j in range(pred.shape[1])]
        columns += list(pred.T)
    formats += ["%d" if pred.dtype.kind in "iu" else digits] * (len(columns))
    if args.proba:
        proba = np.asarray(net.forward(X))
        header += [f"proba_{j}" for j in range(proba.shape[1])]
        columns += list(proba.T)
        formats += [digits] * proba.shape[1]

    buf = io.StringIO()
    # Class indices are small integers, exact in float64.
    table = np.column_stack(columns) if columns else np.empty((0, 0))
    np.savetxt(buf, table, fmt=formats, delimiter=",", header=",".join(header), comments="")
    if args.out == "-":
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()
    else:
        try:
            with open(args.out, "w", encoding="utf-8", newline="") as f:
                f.write(buf.getvalue())
        except OSError as exc:
            raise CLIError(f"--out {args.out}: {exc}") from None
        print(f"wrote {len(X)} predictions to {args.out}", file=sys.stderr)
    return 0


# -- entry point ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run ``ferroprop train|predict`` with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit code: 0 success, 1 training diverged, 2 bad usage or bad input (the message
    goes to stderr without a traceback), 130 interrupted by Ctrl-C.
    """
    started = time.perf_counter()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "train":
            return _train(args, started)
        return _predict(args)
    except CLIError as exc:
        print(f"ferroprop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nferroprop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `ferroprop predict ... | head`: stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
