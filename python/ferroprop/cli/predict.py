"""``ferroprop predict``: apply a saved model to the rows of a file and write the predictions
as CSV."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import warnings
from pathlib import Path

import numpy as np

from .. import Network, load
from ..preprocessing import TablePreprocessor, UnseenCategoryWarning
from .data import csv_columns, features
from .errors import CLIError, check_writable, existing_file
from .npz import load_npz
from .tables import TABLE_SUFFIXES, read_table


def _preprocessed(prep: TablePreprocessor, path: Path) -> np.ndarray:
    """The rows of `path` through the model's preprocessing: a table's columns by name (any
    order; the training target and other extra columns ignored), a .npz's X by position. A
    missing feature column is an error naming it; categories unseen in training give one
    warning line on stderr."""
    suffix = path.suffix.lower()
    source: np.ndarray | dict[str, np.ndarray]
    if suffix == ".npz":
        arrays, files = load_npz(path, ("X",))
        if "X" not in arrays:
            raise CLIError(f"{path}: no array X (arrays: {', '.join(files) or '-'})")
        source = features(arrays["X"], f"{path}: X", allow_nan=True)
        if source.shape[1] != len(prep.columns):
            raise CLIError(
                f"{path}: X has {source.shape[1]} columns, but the model was trained on "
                f"{len(prep.columns)} ({', '.join(prep.column_names)})"
            )
    elif suffix in TABLE_SUFFIXES:
        table = read_table(path, unnamed=True)
        absent = [name for name in prep.column_names if name not in table.columns]
        if absent:
            s = "s" if len(absent) > 1 else ""
            need = prep.column_names
            shown = ", ".join(need[:8]) + (", ..." if len(need) > 8 else "")
            raise CLIError(
                f"{path}: missing feature column{s} {', '.join(map(repr, absent))} "
                f"(the model needs {len(need)}: {shown})"
            )
        source = table.columns
    else:
        raise CLIError(
            f"{path}: unsupported file type {suffix or '(none)'}; use .npz, .csv or .parquet"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnseenCategoryWarning)
        try:
            X = prep.transform(source)
        except ValueError as exc:
            raise CLIError(f"{path}: {exc}") from None
    for w in caught:
        if issubclass(w.category, UnseenCategoryWarning):
            print(f"ferroprop predict: warning: {path}: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return X


def run(args: argparse.Namespace) -> int:
    """``ferroprop predict`` with parsed ``args``: one CSV row per input row, the predicted class
    (its name when the model file has class names) or values, and with ``--proba`` the class
    probabilities. Returns the exit code; raises CLIError for bad input."""
    model_path = existing_file(args.model)
    path = existing_file(args.data)
    if args.out != "-":
        check_writable(args.out, "--out")
    try:
        net = load(str(model_path))
    except ValueError as exc:  # the message names the file
        raise CLIError(f"cannot load the model: {exc}") from None
    except OSError as exc:
        raise CLIError(f"{model_path}: cannot load the model: {exc.strerror or exc}") from None
    except MemoryError:
        raise CLIError(f"{model_path}: not enough memory to load the model") from None
    if not isinstance(net, Network):
        raise CLIError(
            f"{model_path}: holds a {type(net).__name__}, not a Network; load it in Python with "
            "ferroprop.load and call its predict"
        )

    suffix = path.suffix.lower()
    if net.preprocessing is not None:
        X = _preprocessed(net.preprocessing, path)
        n_cols_hint = ""
    elif suffix == ".npz":
        arrays, files = load_npz(path, ("X",))
        if "X" not in arrays:
            raise CLIError(f"{path}: no array X (arrays: {', '.join(files) or '-'})")
        X = features(arrays["X"], f"{path}: X")
        n_cols_hint = ""
    elif suffix == ".csv":
        try:
            X, _, _ = csv_columns(path, args.target, need_target=False)
        except CLIError as exc:
            if args.target is None and "is not a number" in str(exc):
                raise CLIError(f"{exc}; pass --target COLUMN to drop the label column") from None
            raise
        n_cols_hint = (
            "; pass --target COLUMN to drop the label column" if args.target is None else ""
        )
    else:
        raise CLIError(f"{path}: unsupported file type {suffix or '(none)'}; use .npz or .csv")
    if len(X) == 0:
        raise CLIError(f"{path}: no rows to predict")
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
    # A model saved with class names (string labels) predicts those names, not indices.
    class_names: list[str] | None = getattr(net, "class_names", None)
    digits = "%.9g" if net.dtype == np.float32 else "%.17g"
    columns: list[np.ndarray] = []
    header: list[str] = []
    formats: list[str] = []
    if pred.ndim == 1:
        header.append("prediction")
        if class_names is not None and pred.dtype.kind in "iu":
            columns.append(np.array(class_names, dtype=object)[pred])
            formats.append("%s")
        else:
            columns.append(pred)
            formats.append("%d" if pred.dtype.kind in "iu" else digits)
    else:
        header += [f"prediction_{j}" for j in range(pred.shape[1])]
        columns += list(pred.T)
        formats += ["%d" if pred.dtype.kind in "iu" else digits] * pred.shape[1]
    if args.proba:
        proba = np.asarray(net.forward(X))
        if class_names is not None and len(class_names) == proba.shape[1]:
            header += [f"proba_{name}" for name in class_names]
        else:
            header += [f"proba_{j}" for j in range(proba.shape[1])]
        columns += list(proba.T)
        formats += [digits] * proba.shape[1]

    buf = io.StringIO()
    # The csv module quotes the names that need it (commas, quotes, line breaks).
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    cells = [
        [fmt % value for value in column.tolist()]
        for column, fmt in zip(columns, formats, strict=True)
    ]
    writer.writerows(zip(*cells, strict=True))
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
