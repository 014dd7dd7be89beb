"""The data of ``ferroprop train`` and ``ferroprop predict``: ``.npz`` and ``.csv`` files and
Fashion-MNIST, checked and turned into float features, class indices or regression targets, and
split into train / validation / test."""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist
from .errors import CLIError, existing_file
from .labels import encode_classes, regression_targets, rows
from .npz import load_npz


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
    class_names: list[str] | None = None  # the labels of the class indices, unless 0..K-1
    n_outputs: int = 0
    feature_names: list[str] = field(default_factory=list)


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


def csv_columns(
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


def features(X: np.ndarray, what: str) -> np.ndarray:
    """`X` as a float64 (samples, features) matrix with at least one row and one column."""
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise CLIError(f"{what}: expected a 2-D array (samples, features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise CLIError(f"{what}: expected numbers, got dtype {X.dtype}")
    if X.shape[0] == 0:
        raise CLIError(f"{what}: no rows (shape {X.shape})")
    if X.shape[1] == 0:
        raise CLIError(f"{what}: no feature columns (shape {X.shape})")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise CLIError(f"{what}: contains NaN or infinite values")
    return X


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out), both sorted: round(fraction * n) rows held out, at least one
    when fraction > 0."""
    n_out = max(1, int(round(fraction * n))) if fraction > 0 else 0
    perm = rng.permutation(n)
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def load_train_data(args: argparse.Namespace) -> Dataset:
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
        path = existing_file(args.data)
        name = path.name
        suffix = path.suffix.lower()
        if suffix == ".npz":
            arrays, files = load_npz(path, ("X", "y", "X_test", "y_test"))
            missing = [k for k in ("X", "y") if k not in arrays]
            if missing:
                raise CLIError(
                    f"{path}: no array {' or '.join(missing)} (arrays: {', '.join(files) or '-'})"
                )
            if ("X_test" in arrays) != ("y_test" in arrays):
                raise CLIError(f"{path}: X_test and y_test must come together")
            X = features(arrays["X"], f"{path}: X")
            raw_y = arrays["y"]
            if "X_test" in arrays:
                X_test = features(arrays["X_test"], f"{path}: X_test")
                raw_test = arrays["y_test"]
                if X_test.shape[1] != X.shape[1]:
                    raise CLIError(
                        f"{path}: X_test has {X_test.shape[1]} features but X has {X.shape[1]}"
                    )
            if rows(raw_y, f"{path}: y") != len(X):
                raise CLIError(f"{path}: X has {len(X)} rows but y has {len(raw_y)}")
        elif suffix == ".csv":
            X, cells, feature_names = csv_columns(path, args.target, need_target=True)
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
        elif rows(raw_test, f"{path}: y_test") != len(X_test):
            raise CLIError(f"{path}: X_test has {len(X_test)} rows but y_test has {len(raw_test)}")

    what = f"{name}: y"
    class_names = None
    if args.task == "classification":
        (y, y_test), class_names, n_outputs = encode_classes([raw_y, raw_test], what)
    else:
        (y, y_test), n_outputs = regression_targets([raw_y, raw_test], what)
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
        # Converted once here, so that fit needs no copy.
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
