"""The ``ferroprop`` command line: ``ferroprop train`` and ``ferroprop predict``.

``ferroprop train`` trains an MLP with :class:`ferroprop.Network` on Fashion-MNIST (Debian's
``dataset-fashion-mnist``) or on the user's own ``.npz``/``.csv``/``.parquet`` file (preprocessed
by default: ``ferroprop.preprocessing``), shows a progress bar per epoch and reports the test
accuracy (R² and MAE for regression); ``ferroprop predict`` applies a saved model, and the
preprocessing it stores, to a file.
Also runnable as ``python -m ferroprop``. Exit codes: 0 success, 1 training diverged,
2 bad usage or bad input (a one-line message, no traceback; also for data or a network too
large for memory), 3 an internal error of the engine (a bug: a one-line message), 130
interrupted.

This module holds ``main`` and the argument parser; the rest is in ``options`` (defaults and
argument types), ``data`` (reading, checking and splitting the data), ``npz`` (reading ``.npz``
files without trusting their headers), ``labels`` (class labels and regression targets),
``tables`` (reading ``.csv`` and ``.parquet`` tables), ``progress`` (the per-epoch bars),
``train`` and ``predict`` (the two commands) and ``errors``
(``CLIError`` and the path checks).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import NoReturn

import ferroprop

from ..datasets import DEFAULT_FASHION_MNIST_DIR
from . import demo, export, predict, train
from .errors import CLIError
from .options import (
    ACTIVATIONS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    MAX_SIZE,
    MAX_THREADS,
    activation_names,
    column_names,
    fraction,
    hidden_widths,
    positive_float,
    seed,
    size,
    thread_count,
)
from .steering import SCHEDULES

__all__ = ["main"]

EXIT_DIVERGED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command killed by it
_EXIT_CODES = (
    "exit codes: 0 success, 1 training diverged, 2 bad usage or bad input (also data or a "
    "network too large for memory), 3 internal error of the engine (please report it), "
    "130 interrupted, 141 output closed early (e.g. `| head`)"
)
# What the engine raises for its own bugs (`ferroprop.InternalError`, a RuntimeError, in builds
# that have it).
_INTERNAL_ERRORS = (getattr(ferroprop, "InternalError", RuntimeError), RuntimeError)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line (the full usage is a --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ferroprop",
        description="Train multilayer perceptrons on the CPU with ferroprop, and predict.",
        epilog=_EXIT_CODES,
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,predict,demo}")
    sub.required = True

    t = sub.add_parser(
        "train",
        help="train an MLP (default: on Fashion-MNIST) and report its test accuracy",
        description=(
            "Train an MLP and report its test accuracy. Without --data it trains on "
            "Fashion-MNIST (Debian package dataset-fashion-mnist) with defaults that reach "
            "about 0.90 test accuracy. A --data table is preprocessed by default, with "
            "statistics of the training rows: numeric columns imputed (median) and "
            "standardised, text and boolean columns one-hot encoded, missing cells (empty, NA, "
            "N/A, NaN, nan, null) imputed with an indicator; the model file keeps it all for "
            "`ferroprop predict`."
        ),
        epilog=_EXIT_CODES,
    )
    data = t.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="FILE",
        help=".npz (arrays X, y; optional X_test, y_test), .csv with a header row, or "
        ".parquet (needs pyarrow) (default: Fashion-MNIST)",
    )
    data.add_argument(
        "--target",
        metavar="COLUMN",
        help="the label column of a .csv or .parquet (default: the last one)",
    )
    data.add_argument(
        "--no-preprocess",
        action="store_true",
        help="feed the --data features as they are: no imputation, standardisation or one-hot "
        "encoding (every feature must then be a number)",
    )
    data.add_argument(
        "--categorical",
        type=column_names,
        default=[],
        metavar="COL,...",
        help="one-hot encode these numeric-looking columns (x0, x1, ... for a .npz) instead of "
        "standardising them",
    )
    data.add_argument(
        "--data-dir",
        metavar="DIR",
        default=str(DEFAULT_FASHION_MNIST_DIR),
        help="directory with the Fashion-MNIST IDX files (default: %(default)s)",
    )
    data.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="classification (cross-entropy; labels are classes, ints or strings) or "
        "regression (mse; reports R² and MAE); auto: regression for numeric targets with a "
        "fractional value or many distinct values (> 20 and > one per 20 rows), else "
        "classification (default: %(default)s)",
    )
    data.add_argument(
        "--val-fraction",
        type=fraction,
        default=DEFAULT_VAL_FRACTION,
        help="share of the training data held out to show the validation accuracy per "
        "epoch; 0 to train on all of it (default: %(default)s)",
    )
    data.add_argument(
        "--test-fraction",
        type=fraction,
        default=DEFAULT_TEST_FRACTION,
        help="share held out as test set when --data has no X_test/y_test (default: %(default)s)",
    )

    model = t.add_argument_group("model and training")
    model.add_argument(
        "--hidden",
        type=hidden_widths,
        default=list(DEFAULT_HIDDEN),
        metavar="W1,W2,...",
        help=f"hidden layer widths, each in 1..{MAX_SIZE}, or 'none' "
        f"(default: {','.join(map(str, DEFAULT_HIDDEN))})",
    )
    model.add_argument(
        "--activation",
        type=activation_names,
        default=["relu"],
        metavar="NAME",
        help=f"hidden activation: {', '.join(ACTIVATIONS)}; or one per layer, "
        "comma-separated (default: relu)",
    )
    model.add_argument(
        "--normalization",
        choices=("none", "layer", "batch"),
        default="none",
        help="a LayerNorm or BatchNorm between each hidden Dense and its activation "
        "(default: %(default)s)",
    )
    model.add_argument(
        "--dropout",
        type=fraction,
        default=0.0,
        metavar="P",
        help="a Dropout(P) after each hidden activation, P in [0, 1) (default: 0, none)",
    )
    model.add_argument(
        "--optimizer",
        choices=tuple(DEFAULT_LR),
        default="adam",
        help="adam, sgd (with Nesterov momentum 0.9), rmsprop or adagrad, with torch's "
        "defaults otherwise (default: %(default)s)",
    )
    model.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="initial learning rate (default: "
        + ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LR.items())
        + ")",
    )
    model.add_argument(
        "--lr-schedule",
        choices=tuple(SCHEDULES),
        default="cosine",
        help="the learning rate per epoch (per batch for onecycle): "
        + "; ".join(f"{name}: {text}" for name, text in SCHEDULES.items()).replace("%", "%%")
        + " (default: %(default)s)",
    )
    model.add_argument(
        "--early-stopping",
        type=size,
        default=None,
        metavar="PATIENCE",
        help="stop when the validation loss has not decreased for PATIENCE epochs, and keep "
        "the weights of its best epoch (needs --val-fraction > 0; default: off)",
    )
    model.add_argument(
        "--clip-grad-norm",
        type=positive_float,
        default=None,
        metavar="MAX",
        help="scale the gradients down when their global L2 norm exceeds MAX, before each "
        "update (torch's clip_grad_norm_; default: off)",
    )
    model.add_argument(
        "--epochs",
        type=size,
        default=DEFAULT_EPOCHS,
        help=f"passes over the training data, 1..{MAX_SIZE} (default: %(default)s)",
    )
    model.add_argument(
        "--batch-size",
        type=size,
        default=DEFAULT_BATCH_SIZE,
        help=f"mini-batch size, 1..{MAX_SIZE} (default: %(default)s)",
    )
    model.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seeds initialisation, shuffles and splits, 0..2**64-1 (default: %(default)s)",
    )
    model.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        help=f"worker threads, 1..{MAX_THREADS} (default: the library's, FERROPROP_NUM_THREADS "
        "or all cores)",
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
        "per-epoch loss, accuracy, val loss and accuracy, lr, diagnostics with "
        "--diagnostics, the config) as JSON",
    )
    out.add_argument(
        "--diagnostics",
        action="store_true",
        help="record per-layer diagnostics (gradient and weight norms, update ratios, dead or "
        "saturated units): print their table after training, warn of training problems on "
        "stderr, and add them to --metrics-out",
    )
    out.add_argument(
        "--plot",
        metavar="PATH",
        help="draw the training curves (and the diagnostics) to PATH: PNG, or another format "
        "matplotlib writes after the extension (.svg, .pdf, ...); needs matplotlib "
        "(pip install ferroprop[plot])",
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
        epilog=_EXIT_CODES,
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by --save")
    p.add_argument(
        "--data",
        metavar="FILE",
        required=True,
        help=".npz (array X), .csv with a header row, or .parquet; a model trained with "
        "preprocessing finds its columns by name, in any order, and drops its target column",
    )
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="a column to drop before predicting (e.g. the label), if present; only needed "
        "for models trained with --no-preprocess",
    )
    p.add_argument(
        "--out", metavar="FILE", default="-", help="output .csv ('-' = stdout; default '-')"
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write the class probabilities (classification models)",
    )
    demo.add_parser(sub, _EXIT_CODES)
    export.add_parser(sub, _EXIT_CODES)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``ferroprop train|predict`` with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit code (see ``_EXIT_CODES``); every error is one line on stderr, without a
    traceback.
    """
    started = time.perf_counter()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    prefix = f"ferroprop {args.command}: error:"
    try:
        if args.command == "train":
            return train.run(args, started)
        if args.command == "demo":
            return demo.run(args)
        if args.command == "export":
            return export.run(args)
        return predict.run(args)
    except CLIError as exc:
        print(f"{prefix} {_one_line(exc, limit=None)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:  # what was too big is named where it can be; this is the rest
        print(f"{prefix} out of memory", file=sys.stderr)
        return EXIT_USAGE
    except _INTERNAL_ERRORS as exc:
        print(
            f"{prefix} internal error ({type(exc).__name__}): {_one_line(exc)} "
            "(a bug in ferroprop; please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("\nferroprop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `ferroprop predict ... | head`: stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _one_line(exc: BaseException, limit: int | None = 300) -> str:
    """The message of `exc` on one line, clipped to `limit` characters."""
    text = str(exc).replace("\r", " ").replace("\n", " ")
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
