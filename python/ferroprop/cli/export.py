"""``ferroprop export MODEL OUT``: convert a saved model (``.safetensors``, any kind
``ferroprop.load`` reads) to ONNX with its ``to_onnx``."""

from __future__ import annotations

import argparse
import sys

from .. import model_files
from .errors import CLIError, check_writable, existing_file

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction, epilog: str) -> None:
    """Adds the ``export`` command to ``subparsers``; ``epilog`` is shown under its --help."""
    p = subparsers.add_parser(
        "export",
        help="convert a saved model to ONNX",
        description=(
            "Convert a model file (written by `ferroprop train --save`, Network.save, "
            "Sequential.save or an estimator's save) to an ONNX model (opset 17; needs the "
            "onnx package: pip install ferroprop[onnx])."
        ),
        epilog=epilog,
    )
    p.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    p.add_argument("out", metavar="OUT", help="the .onnx file to write")
    p.add_argument(
        "--input-name", default="X", help="the graph's input name (default: %(default)s)"
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="the graph's float type (default: the model's)",
    )


def run(args: argparse.Namespace) -> int:
    """``ferroprop export`` with parsed ``args``. Returns the exit code; raises CLIError for bad
    input (a missing or invalid model file, an unwritable OUT, onnx not installed)."""
    path = existing_file(args.model)
    check_writable(args.out, "OUT")
    try:
        model = model_files.load(path)
        model.to_onnx(args.out, input_name=args.input_name, dtype=args.dtype)
    except (ImportError, ValueError, TypeError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote {args.out} ({type(model).__name__}, input {args.input_name!r})")
    prep = getattr(model, "preprocessing", None)
    if prep is not None:
        # The graph starts at the network: scaling, imputation and one-hot encoding stay out.
        print(
            f"note: {args.model} holds the table preprocessing of `ferroprop train`; the ONNX "
            f"input is its {len(prep.feature_names)} output features, not the table's columns "
            "(apply ferroprop.load(MODEL).preprocessing.transform(columns) first)",
            file=sys.stderr,
        )
    return 0
