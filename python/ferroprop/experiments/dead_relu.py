"""`dead-relu`: too large a learning rate kills most ReLU units of a layer.

A ReLU unit whose input is negative for every row outputs 0 and gets a zero gradient: once a
large update has pushed it there, nothing brings it back. The diagnostics count such units
(never positive over an epoch) and warn when more than half of a layer's are dead. A smaller
rate does not kill them, and leaky_relu units, whose negative side keeps a small slope,
still get a gradient and come back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import SGD, Network
from ..history import History, layer_order
from ._data import quadrants
from .outcome import Outcome, fired_for, training_warnings

__all__ = ["NAME", "PANELS", "SUMMARY", "draw", "run"]

NAME = "dead-relu"
SUMMARY = "too large a learning rate kills ReLU units, not leaky_relu ones"
PANELS = 2

_WIDTHS = [32, 64, 64, 4]
_ROWS, _EPOCHS, _BATCH = 512, 20, 32
_LARGE, _SMALL = 5.0, 0.5
# Clipping keeps the large rate's updates finite (leaky_relu would overflow without it) but
# does not stop the ReLU units from dying.
_CLIP = 10.0
_RUNS = (
    ("large", "relu", _LARGE),
    ("small", "relu", _SMALL),
    ("leaky", "leaky_relu", _LARGE),
)


def run(seed: int = 0) -> Outcome:
    """Trains a `[32, 64, 64, 4]` network on `quadrants` data (512 rows) for 20 epochs with
    SGD, gradients clipped to norm 10, and diagnostics: ReLU at lr 5, ReLU at lr 0.5 and
    leaky_relu at lr 5.

    Args:
        seed: seeds the data and the initial weights.

    Returns:
        The `Outcome`; per run (`large`, `small`, `leaky`) `_dead` (the largest share of dead
        units of a layer in the last epoch), `_warned` (1.0 if the dead-units warning fired),
        `_loss` (last epoch) and `_accuracy` (of the trained network on the data).
    """
    X, y = quadrants(_ROWS, _WIDTHS[0], seed)
    histories: dict[str, History] = {}
    numbers: dict[str, float] = {}
    layers: dict[str, str] = {}
    for key, activation, lr in _RUNS:
        net = Network(_WIDTHS, activation=activation, seed=seed)
        with training_warnings() as messages:
            hist = net.fit(
                X,
                y,
                epochs=_EPOCHS,
                batch_size=_BATCH,
                optimizer=SGD(lr=lr),
                clip_grad_norm=_CLIP,
                diagnostics=True,
            )
        histories[_label(activation, lr)] = hist
        layers[key], share = max(
            ((name, series[-1]) for name, series in _dead_shares(hist).items()),
            key=lambda item: item[1],
        )
        numbers[f"{key}_dead"] = share
        numbers[f"{key}_warned"] = float(any("units are dead" in m for m in messages))
        numbers[f"{key}_loss"] = hist.loss[-1]
        numbers[f"{key}_accuracy"] = float(np.mean(net.predict(X) == y))
    fired = fired_for({_label(act, lr): bool(numbers[f"{key}_warned"]) for key, act, lr in _RUNS})
    text = (
        f"At lr={_LARGE:g} (SGD, gradients clipped to norm {_CLIP:g}) {numbers['large_dead']:.0%} "
        f"of the ReLU units of layer {layers['large']!r} end up dead, never positive over an "
        f"epoch, and the network is stuck at loss {numbers['large_loss']:.3f} "
        f"({numbers['large_accuracy']:.0%} accuracy). At lr={_SMALL:g} the most in any layer is "
        f"{numbers['small_dead']:.0%} and the loss falls to {numbers['small_loss']:.2g}; "
        f"leaky_relu at lr={_LARGE:g} keeps its units alive ({numbers['leaky_dead']:.0%} never "
        f"positive), though that rate is still too large for it to learn well (loss "
        f"{numbers['leaky_loss']:.3g}, {numbers['leaky_accuracy']:.0%} accuracy). The "
        f"dead-units warning {fired}."
    )
    return Outcome(NAME, text, numbers, histories)


def _label(activation: str, lr: float) -> str:
    return f"{activation}, lr={lr:g}"


def _dead_shares(hist: History) -> dict[str, list[float]]:
    """Each ReLU (or leaky ReLU) layer's dead share per epoch, by layer name."""
    return {
        name: list(hist.diagnostics[name]["dead_fraction"])
        for name in sorted(hist.diagnostics, key=layer_order)
        if "dead_fraction" in hist.diagnostics[name]
    }


def draw(outcome: Outcome, axes: list[Any]) -> None:
    """Left: each run's largest dead share of a layer per epoch; right: the training loss per
    epoch (log scale)."""
    dead, losses = axes
    for label, hist in outcome.histories.items():
        shares = _dead_shares(hist).values()
        worst = [max(epoch) for epoch in zip(*shares, strict=True)]
        dead.plot(hist.epochs, worst, marker=".", label=label)
        losses.plot(hist.epochs, hist.loss, label=label)
    dead.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="warning threshold")
    dead.set_ylim(-0.02, 1.02)
    dead.set_title("dead units (largest share of a layer)")
    dead.set_xlabel("epoch")
    dead.set_ylabel("share never positive")
    losses.set_yscale("log")
    losses.set_title("training loss")
    losses.set_xlabel("epoch")
    losses.set_ylabel("cross-entropy")
    for ax in axes:
        ax.legend(fontsize="small")
