"""`xor`: a network without a hidden layer cannot learn XOR; one hidden layer can.

The four points of XOR are not linearly separable, and a network without a hidden layer is a
linear classifier (softmax of `X·W + b`): its best cross-entropy is that of answering 50/50
everywhere, ln 2. One hidden layer of tanh units bends the boundary and gets all four right.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import Adam, Network
from .outcome import Outcome

__all__ = ["NAME", "PANELS", "SUMMARY", "draw", "run"]

NAME = "xor"
SUMMARY = "no hidden layer cannot learn XOR; one hidden layer reaches 100%"
#: Panels of the figure `draw` fills.
PANELS = 1

_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
_Y = np.array([0, 1, 1, 0], dtype=np.int64)
_HIDDEN = 8
_EPOCHS = 500
_LR = 0.05
_LINEAR, _DEEP = "no hidden layer", f"one hidden layer ({_HIDDEN} tanh)"


def run(seed: int = 0) -> Outcome:
    """Trains `[2, 2]` and `[2, 8, 2]` (tanh) on the four XOR points, full batch, Adam(0.05),
    500 epochs, and reports each one's final loss and accuracy.

    Args:
        seed: seeds the initial weights.

    Returns:
        The `Outcome`; numbers `no_hidden_loss`, `no_hidden_accuracy`, `hidden_loss`,
        `hidden_accuracy`.
    """
    histories, numbers = {}, {}
    for label, key, widths in ((_LINEAR, "no_hidden", [2, 2]), (_DEEP, "hidden", [2, _HIDDEN, 2])):
        net = Network(widths, activation="tanh", seed=seed)
        histories[label] = net.fit(
            _X, _Y, epochs=_EPOCHS, batch_size=len(_X), optimizer=Adam(lr=_LR), shuffle=False
        )
        numbers[f"{key}_loss"] = net.loss(_X, _Y)
        numbers[f"{key}_accuracy"] = float(np.mean(net.predict(_X) == _Y))
    right = round(numbers["no_hidden_accuracy"] * len(_X))
    text = (
        f"A network without a hidden layer (widths [2, 2], a linear classifier) cannot separate "
        f"XOR: after {_EPOCHS} epochs its loss is {numbers['no_hidden_loss']:.3f} (answering 50/50 "
        f"for every point costs ln 2 = {math.log(2):.3f}) and it gets {right} of the 4 points "
        f"right. With one hidden layer of {_HIDDEN} tanh units the loss falls to "
        f"{numbers['hidden_loss']:.2g} and the accuracy is {numbers['hidden_accuracy']:.0%}."
    )
    return Outcome(NAME, text, numbers, histories)


def draw(outcome: Outcome, axes: list[Any]) -> None:
    """The training loss of both networks per epoch (log scale)."""
    (ax,) = axes
    for label, hist in outcome.histories.items():
        ax.plot(hist.epochs, hist.loss, label=label)
    ax.set_yscale("log")
    ax.set_title("XOR: training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize="small")
