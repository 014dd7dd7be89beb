"""The data of ``ferroprop train`` and ``ferroprop predict``: ``.npz``, ``.csv`` and ``.parquet``
files and Fashion-MNIST, checked and turned into float features (preprocessed by default, see
``ferroprop.preprocessing``: fitted on the training rows only), class indices or regression
targets, and split into train / validation / test."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist
from ..preprocessing import TablePreprocessor, UnseenCategoryWarning, column_kinds
from .errors import CLIError, existing_file
from .labels import detect_task, encode_classes, label_cells, regression_targets, rows
from .npz import load_npz
from .tables import TABLE_SUFFIXES, Table, read_csv, read_table

#: Features while the rows are split: a matrix, or columns by name (to be preprocessed).
Features = np.ndarray | dict[str, np.ndarray]


@dataclass
class Dataset:
    """Features and targets, split into train / validation / test.

    With ``target_scale`` (regression with preprocessing) the training and validation targets
    are standardised, ``(y - mean) / scale``, and the test targets are not: the trainer folds
    the scale into the output layer after training."""

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
    task: str = "classification"
    preprocessing: TablePreprocessor | None = None
    target_scale: tuple[np.ndarray, np.ndarray] | None = None


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
    header, rows = read_csv(path)
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


def features(X: np.ndarray, what: str, allow_nan: bool = False) -> np.ndarray:
    """`X` as a float64 (samples, features) matrix with at least one row and one column; NaN
    (a missing value, to be imputed) only when `allow_nan`."""
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
    if not (np.isfinite(X) | (allow_nan & np.isnan(X))).all():
        raise CLIError(f"{what}: contains {'' if allow_nan else 'NaN or '}infinite values")
    return X


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out), both sorted: round(fraction * n) rows held out, at least one
    when fraction > 0."""
    n_out = max(1, int(round(fraction * n))) if fraction > 0 else 0
    perm = rng.permutation(n)
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def _fashion_mnist(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    try:
        return load_fashion_mnist(args.data_dir)
    except FileNotFoundError as exc:
        what = str(exc).split(" Install them", 1)[0]
        raise CLIError(
            f"{what} Install Fashion-MNIST with `apt-get install -y dataset-fashion-mnist` "
            f"(Debian/Ubuntu, as root; installs into {DEFAULT_FASHION_MNIST_DIR}), or pass "
            "--data-dir DIR (a directory with train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
            "t10k-labels-idx1-ubyte.gz), "
            "or train on your own data with --data FILE.npz|FILE.csv|FILE.parquet."
        ) from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _npz_data(path: Path, allow_nan: bool) -> tuple[np.ndarray, ...]:
    """X, y and (or None) X_test, y_test of a training .npz."""
    arrays, files = load_npz(path, ("X", "y", "X_test", "y_test"))
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise CLIError(
            f"{path}: no array {' or '.join(missing)} (arrays: {', '.join(files) or '-'})"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise CLIError(f"{path}: X_test and y_test must come together")
    X = features(arrays["X"], f"{path}: X", allow_nan)
    raw_y = arrays["y"]
    X_test = raw_test = None
    if "X_test" in arrays:
        X_test = features(arrays["X_test"], f"{path}: X_test", allow_nan)
        raw_test = arrays["y_test"]
        if X_test.shape[1] != X.shape[1]:
            raise CLIError(f"{path}: X_test has {X_test.shape[1]} features but X has {X.shape[1]}")
        if rows(raw_test, f"{path}: y_test") != len(X_test):
            raise CLIError(f"{path}: X_test has {len(X_test)} rows but y_test has {len(raw_test)}")
    if rows(raw_y, f"{path}: y") != len(X):
        raise CLIError(f"{path}: X has {len(X)} rows but y has {len(raw_y)}")
    return X, raw_y, X_test, raw_test


def npz_columns(X: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of a .npz matrix, named by position: x0, x1, ..."""
    return {f"x{j}": X[:, j] for j in range(X.shape[1])}


def _target_name(table: Table, target: str | None) -> str:
    if target is None:
        return table.names[-1]
    if target not in table.columns:
        raise CLIError(f"{table.path}: no column {target!r} (columns: {', '.join(table.names)})")
    return target


def _table_matrix(table: Table, names: list[str]) -> np.ndarray:
    """The columns `names` of a Parquet table as a float64 matrix (--no-preprocess)."""
    out = np.empty((table.n_rows, len(names)))
    for j, name in enumerate(names):
        try:
            out[:, j] = np.asarray(table.columns[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise CLIError(
                f"{table.path}: column {name!r} is not numeric (feature columns must be numeric "
                "with --no-preprocess)"
            ) from None
    return features(out, str(table.path))


def _rows(X: Features, idx: np.ndarray) -> Features:
    if isinstance(X, dict):
        return {name: column[idx] for name, column in X.items()}
    return X[idx]


def _n_rows(X: Features) -> int:
    return len(next(iter(X.values()))) if isinstance(X, dict) else len(X)


def _kinds(X: Features, categorical: list[str], target: str | None) -> dict[str, str]:
    """The kinds of the feature columns, found on every row of the file."""
    assert isinstance(X, dict)
    if target is not None and target in categorical:
        raise CLIError(f"--categorical: {target!r} is the target column, not a feature")
    try:
        return column_kinds(X, categorical)
    except ValueError as exc:
        raise CLIError(f"--{exc}") from None


def _standardised(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale (> 0) of regression targets (n,) or (n, k), as (k,) arrays."""
    y2 = y.reshape(len(y), -1)
    mean, scale = y2.mean(axis=0), y2.std(axis=0)
    return mean, np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)


def load_train_data(args: argparse.Namespace) -> Dataset:
    """The training data the options ask for, split into train / validation / test, and (unless
    --no-preprocess) preprocessed with statistics of the training rows."""
    rng = np.random.default_rng(args.seed)
    X_test: Features | None = None
    raw_test = None
    feature_names: list[str] = []
    target: str | None = None
    preprocess = args.data is not None and not args.no_preprocess
    if args.categorical and not preprocess:
        raise CLIError("--categorical needs --data and preprocessing (not --no-preprocess)")
    X: Features
    if args.data is None:
        X, raw_y, X_test, raw_test = _fashion_mnist(args)
        name = "Fashion-MNIST"
    else:
        path = existing_file(args.data)
        name = path.name
        suffix = path.suffix.lower()
        if suffix == ".npz":
            X, raw_y, X_test, raw_test = _npz_data(path, allow_nan=preprocess)
            if preprocess:
                X = npz_columns(X)
                X_test = None if X_test is None else npz_columns(X_test)
        elif suffix == ".csv" and not preprocess:
            X, cells, feature_names = csv_columns(path, args.target, need_target=True)
            raw_y = np.array(cells)
        elif suffix in TABLE_SUFFIXES:
            table = read_table(path)
            target = _target_name(table, args.target)
            feature_names = [n for n in table.names if n != target]
            if not feature_names:
                raise CLIError(f"{path}: no feature columns besides the target {target!r}")
            raw_y = label_cells(table.columns[target])
            if preprocess:
                X = table.take(None, feature_names)
            else:
                X = _table_matrix(table, feature_names)
        else:
            raise CLIError(
                f"{path}: unsupported file type {suffix or '(none)'}; use .npz, .csv or .parquet"
            )
    kinds = _kinds(X, args.categorical, target) if preprocess else None

    task = args.task
    if task == "auto":
        task = "classification" if args.data is None else detect_task(raw_y)
    if X_test is None:
        if args.test_fraction <= 0:
            raise CLIError("--test-fraction must be > 0 when the data has no test set")
        keep, held = _split(_n_rows(X), args.test_fraction, rng)
        if len(held) == 0 or len(keep) == 0:
            raise CLIError(
                f"{name}: {_n_rows(X)} rows are too few for --test-fraction {args.test_fraction}"
            )
        X, X_test, raw_test, raw_y = _rows(X, keep), _rows(X, held), raw_y[held], raw_y[keep]

    what = f"{name}: {'y' if target is None else target}"
    class_names = None
    if task == "classification":
        (y, y_test), class_names, n_outputs = encode_classes([raw_y, raw_test], what)
    else:
        (y, y_test), n_outputs = regression_targets([raw_y, raw_test], what)
    if args.data is None:
        n_outputs = max(n_outputs, 10)  # Fashion-MNIST has ten classes, whatever a file holds

    X_val = y_val = None
    if args.val_fraction > 0:
        keep, held = _split(_n_rows(X), args.val_fraction, rng)
        if len(held) == 0 or len(keep) == 0:
            raise CLIError(
                f"{name}: {_n_rows(X)} training rows are too few for --val-fraction "
                f"{args.val_fraction}"
            )
        X_val, y_val, X, y = _rows(X, held), y[held], _rows(X, keep), y[keep]

    prep = None
    target_scale = None
    if preprocess:
        assert isinstance(X, dict) and isinstance(X_test, dict) and kinds is not None
        prep = TablePreprocessor(target=target)
        try:
            prep.fit(X, kinds=kinds)  # the training rows only
            with warnings.catch_warnings():  # categories only held-out rows have: all zeros
                warnings.simplefilter("ignore", UnseenCategoryWarning)
                X, X_test = prep.transform(X), prep.transform(X_test)
                X_val = None if X_val is None else prep.transform(X_val)
        except ValueError as exc:
            raise CLIError(f"{name}: {exc}") from None
        feature_names = prep.feature_names
        if task == "regression":
            target_scale = _standardised(y)
            mean, scale = target_scale
            shape = y.shape
            y = ((y.reshape(len(y), -1) - mean) / scale).reshape(shape)
            if y_val is not None:
                y_val = ((y_val.reshape(len(y_val), -1) - mean) / scale).reshape(y_val.shape)

    dtype = np.dtype(args.dtype)

    def cast(a: np.ndarray | None) -> np.ndarray | None:
        # Converted once here, so that fit needs no copy.
        return None if a is None else np.ascontiguousarray(a, dtype=dtype)

    def cast_y(a: np.ndarray | None) -> np.ndarray | None:
        if a is None or task == "classification":
            return a
        return cast(a)

    return Dataset(
        name=name,
        X_train=cast(X),  # type: ignore[arg-type]
        y_train=cast_y(y),  # type: ignore[arg-type]
        X_test=cast(X_test),  # type: ignore[arg-type]
        y_test=cast_y(y_test),  # type: ignore[arg-type]
        X_val=cast(X_val),  # type: ignore[arg-type]
        y_val=cast_y(y_val),
        class_names=class_names,
        n_outputs=n_outputs,
        feature_names=feature_names,
        task=task,
        preprocessing=prep,
        target_scale=target_scale,
    )
