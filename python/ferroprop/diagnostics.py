"""Training warnings: a `Watcher` reads the `History` after each epoch and warns
(`TrainingWarning`) about vanishing gradients, dead ReLU units, too large updates and
overfitting, each kind at most once per `fit`.

The figures come from the per-layer diagnostics (`History.diagnostics`) and, for
overfitting, from `loss` and `val_loss`. `Thresholds` sets when each warning fires.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._warn import warn_user
from .history import layer_order

__all__ = ["Thresholds", "TrainingWarning", "Watcher", "warn_user"]


class TrainingWarning(UserWarning):
    """Something in the training curves or the layer diagnostics looks wrong (vanishing
    gradients, dead units, too large updates, overfitting). Filter it as any warning:
    `warnings.filterwarnings("ignore", category=ferroprop.TrainingWarning)`."""


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """When `Watcher` warns.

    Attributes:
        vanishing_ratio: vanishing gradients when the first parametrised layer's `grad_norm`
            is below `vanishing_ratio` × the last parametrised layer's (normalisation layers
            are not counted) ...
        vanishing_epochs: ... for this many consecutive epochs.
        dead_fraction: dead units when a ReLU layer's `dead_fraction` (share of units never
            positive over the epoch) exceeds this.
        update_ratio: too large updates when a layer's `update_ratio` (mean ‖Δθ‖/‖θ‖ per step)
            exceeds this.
        overfit_epochs: overfitting when `val_loss` rose this many epochs in a row while the
            training loss fell.

    Raises:
        ValueError: a ratio or fraction out of range, a count below 1.
    """

    vanishing_ratio: float = 1e-3
    vanishing_epochs: int = 3
    dead_fraction: float = 0.5
    update_ratio: float = 1e-1
    overfit_epochs: int = 5

    def __post_init__(self) -> None:
        for name in ("vanishing_ratio", "update_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        value = self.dead_fraction
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ValueError(f"dead_fraction: expected a number in [0, 1), got {value!r}")
        for name in ("vanishing_epochs", "overfit_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")


class Watcher:
    """Warns about training problems as epochs end; one per `fit` call (or `reset()`).

    Args:
        thresholds: when to warn; None for the defaults of `Thresholds`.
        skip: directories whose frames the warnings skip besides ferroprop's (see `warn_user`).

    Raises:
        TypeError: `thresholds` is not a `Thresholds`.
    """

    #: The warning kinds, in the order they are checked.
    KINDS = ("vanishing", "dead", "update_ratio", "overfitting")

    def __init__(self, thresholds: Thresholds | None = None, skip: Sequence[str] = ()) -> None:
        if thresholds is None:
            thresholds = Thresholds()
        if not isinstance(thresholds, Thresholds):
            raise TypeError(
                f"thresholds: expected a ferroprop.diagnostics.Thresholds, "
                f"got {type(thresholds).__name__}"
            )
        self.thresholds = thresholds
        self.skip = tuple(skip)
        self.warned: set[str] = set()

    def reset(self) -> None:
        """Forgets the warnings given, so each may fire again (a new `fit`)."""
        self.warned.clear()

    def epoch_end(self, history: Any) -> None:
        """Checks the history after its latest epoch and issues each warning kind that newly
        applies (at most once per kind since construction or `reset`).

        Args:
            history: a `ferroprop.History` (read: `loss`, `val_loss`, `diagnostics`).
        """
        for kind in self.KINDS:
            if kind in self.warned:
                continue
            message = getattr(self, f"_check_{kind}")(history)
            if message is not None:
                self.warned.add(kind)
                warn_user(message, TrainingWarning, self.skip)

    # -- the checks: each returns the warning's text or None ------------------------------------

    def _check_vanishing(self, history: Any) -> str | None:
        n = self.thresholds.vanishing_epochs
        diagnostics = _diagnostics(history)
        layers = [
            name
            for name in sorted(diagnostics, key=layer_order)
            if "grad_norm" in diagnostics[name] and "gamma_mean" not in diagnostics[name]
        ]
        if len(layers) < 2:
            return None
        first, last = layers[0], layers[-1]
        low = list(diagnostics[first]["grad_norm"])[-n:]
        high = list(diagnostics[last]["grad_norm"])[-n:]
        if len(low) < n or len(high) < n:
            return None
        ratios = [a / b if b > 0 else math.nan for a, b in zip(low, high, strict=True)]
        if not all(r < self.thresholds.vanishing_ratio for r in ratios):  # NaN: not below
            return None
        epochs = f"{n} epoch{'s' if n != 1 else ''}"
        return (
            f"layer {first!r}: gradient norm {low[-1]:.2g} is {ratios[-1]:.2g} × layer "
            f"{last!r}'s for {epochs}: vanishing gradients (sigmoid/tanh stacks; try relu, "
            "LayerNorm/BatchNorm or a smaller depth)"
        )

    def _check_dead(self, history: Any) -> str | None:
        worst = _worst(_diagnostics(history), "dead_fraction")
        if worst is None or not worst[1] > self.thresholds.dead_fraction:
            return None
        layer, share = worst
        return (
            f"layer {layer!r}: {share:.0%} of its units are dead (ReLU never positive over an "
            "epoch): learning rate too large? try a smaller lr or leaky_relu"
        )

    def _check_update_ratio(self, history: Any) -> str | None:
        worst = _worst(_diagnostics(history), "update_ratio")
        limit = self.thresholds.update_ratio
        if worst is None or not worst[1] > limit:
            return None
        layer, ratio = worst
        return (
            f"layer {layer!r}: update/weight ratio {ratio:.2g} > {limit:g}: learning rate too large"
        )

    def _check_overfitting(self, history: Any) -> str | None:
        n = self.thresholds.overfit_epochs
        loss = list(getattr(history, "loss", []))
        val = list(getattr(history, "val_loss", []))
        if len(val) != len(loss) or len(val) < n + 1:
            return None
        loss, val = loss[-n - 1 :], val[-n - 1 :]
        if all(val[i + 1] > val[i] and loss[i + 1] < loss[i] for i in range(n)):
            return (
                f"validation loss rose {n} epochs in a row while training loss fell: "
                "overfitting (try Dropout, early stopping, more data)"
            )
        return None


def _diagnostics(history: Any) -> Mapping[str, Mapping[str, Sequence[float]]]:
    return getattr(history, "diagnostics", None) or {}


def _worst(
    diagnostics: Mapping[str, Mapping[str, Sequence[float]]], metric: str
) -> tuple[str, float] | None:
    """(layer, value) with the largest latest finite `metric`, or None."""
    best: tuple[str, float] | None = None
    for layer in sorted(diagnostics, key=layer_order):
        values = diagnostics[layer].get(metric)
        if not values:
            continue
        value = values[-1]
        if math.isfinite(value) and (best is None or value > best[1]):
            best = (layer, value)
    return best
