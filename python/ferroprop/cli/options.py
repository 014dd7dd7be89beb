"""The options of ``ferroprop train``: their defaults, and the argparse types that parse them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from .. import _core

ACTIVATIONS = _core.ACTIVATIONS

# The defaults of `ferroprop train`, chosen so that it reaches >= 0.89 test accuracy on
# Fashion-MNIST in well under 30 s of training on a 2-core machine (measurements: see the
# report that introduced this module; about 0.90 in about 10 s).
DEFAULT_HIDDEN = (256, 128)
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05, "rmsprop": 1e-3, "adagrad": 0.01}
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.2

# Bounds of the integer options, checked when they are parsed (beyond them the engine would
# overflow, or a run would never end).
MAX_THREADS = _core.max_threads()  # what fp.set_num_threads accepts: four per CPU
MAX_SIZE = 2**31 - 1  # --epochs, --batch-size and each --hidden width
MAX_SEED = 2**64 - 1


def hidden_widths(text: str) -> list[int]:
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
        if not 1 <= width <= MAX_SIZE:
            raise argparse.ArgumentTypeError(
                f"layer widths must be integers in [1, {MAX_SIZE}], got {text!r}"
            )
        widths.append(width)
    return widths


def activation_names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in ACTIVATIONS:
            raise argparse.ArgumentTypeError(
                f"unknown activation {name!r} (choose from {', '.join(ACTIVATIONS)}, "
                "or a comma-separated list with one per hidden layer)"
            )
    return names


def _checked(
    convert: Callable[[str], float], ok: Callable[[float], bool], expected: str
) -> Callable[[str], Any]:
    """An argparse type: `convert(text)`, refused with "expected {expected}" unless `ok`."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def int_in(low: int, high: int) -> Callable[[str], Any]:
    """An argparse type for an integer in [low, high]."""
    return _checked(int, lambda v: low <= v <= high, f"an integer in [{low}, {high}]")


thread_count = int_in(1, MAX_THREADS)
size = int_in(1, MAX_SIZE)
seed = int_in(0, MAX_SEED)
positive_float = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
fraction = _checked(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def column_names(text: str) -> list[str]:
    """``"zip,city"`` -> ``["zip", "city"]`` (names stripped, empty ones refused)."""
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names
