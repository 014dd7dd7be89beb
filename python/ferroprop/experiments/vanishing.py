"""`vanishing`: in a deep sigmoid stack the first layer's gradient vanishes; ReLU, or a
BatchNorm before each sigmoid, keeps it.

Backpropagation multiplies the gradient by the activation's derivative once per layer, and the
sigmoid's is at most 1/4: through 8 sigmoid layers the first one's gradient shrinks by orders
of magnitude and that layer stops learning. ReLU's derivative is 1 where the unit is active;
BatchNorm re-centres each sigmoid's input where its slope is largest.
"""

from __future__ import annotations

import math
from typing import Any

from .. import SGD, Network, Sequential
from .. import layers as L
from ..history import History, layer_order
from ._data import quadrants
from .outcome import Outcome, fired_for, training_warnings

__all__ = ["NAME", "PANELS", "SUMMARY", "draw", "run"]

NAME = "vanishing"
SUMMARY = "the gradient vanishes through 8 sigmoid layers, not with ReLU or BatchNorm"
PANELS = 2

_DEPTH, _WIDTH, _FEATURES, _CLASSES = 8, 32, 16, 4
_ROWS, _EPOCHS, _BATCH, _LR = 512, 10, 32, 0.1
_RUNS = (("sigmoid", "sigmoid"), ("relu", "relu"), ("batchnorm", "sigmoid + BatchNorm"))


def run(seed: int = 0) -> Outcome:
    """Trains three 8-hidden-layer stacks of width 32 on `quadrants` data (512 rows, 16
    features, 4 classes) for 10 epochs with SGD(0.1) and diagnostics: sigmoid, ReLU, and
    Dense-BatchNorm-sigmoid blocks; compares the first Dense layer's gradient norm.

    Args:
        seed: seeds the data and the initial weights.

    Returns:
        The `Outcome`; per run (`sigmoid`, `relu`, `batchnorm`) `_first_grad` and `_last_grad`
        (the first and last Dense layers' gradient norms, mean over the last epoch's steps),
        `_loss` (last epoch) and `_warned` (1.0 if the vanishing-gradient warning fired), and
        `ratio`, relu's first-layer gradient norm over sigmoid's.
    """
    X, y = quadrants(_ROWS, _FEATURES, seed)
    histories: dict[str, History] = {}
    numbers: dict[str, float] = {}
    for key, label in _RUNS:
        net = _network(key, seed)
        with training_warnings() as messages:
            hist = net.fit(
                X, y, epochs=_EPOCHS, batch_size=_BATCH, optimizer=SGD(lr=_LR), diagnostics=True
            )
        dense = _dense_layers(hist)
        histories[label] = hist
        numbers[f"{key}_first_grad"] = hist.diagnostics[dense[0]]["grad_norm"][-1]
        numbers[f"{key}_last_grad"] = hist.diagnostics[dense[-1]]["grad_norm"][-1]
        numbers[f"{key}_loss"] = hist.loss[-1]
        numbers[f"{key}_warned"] = float(any("vanishing gradients" in m for m in messages))
    numbers["ratio"] = numbers["relu_first_grad"] / numbers["sigmoid_first_grad"]
    fired = fired_for({label: bool(numbers[f"{key}_warned"]) for key, label in _RUNS})

    text = (
        f"Through {_DEPTH} sigmoid layers the first layer's gradient norm is "
        f"{numbers['sigmoid_first_grad']:.2g}, "
        f"{numbers['sigmoid_first_grad'] / numbers['sigmoid_last_grad']:.2g} × the last "
        f"layer's ({numbers['sigmoid_last_grad']:.2g}): each sigmoid scales the gradient by at "
        f"most 1/4, and the loss stays at {numbers['sigmoid_loss']:.3f} (chance: "
        f"ln {_CLASSES} = {math.log(_CLASSES):.3f}). The same stack with "
        f"ReLU gives the first layer {numbers['relu_first_grad']:.2g} "
        f"({numbers['ratio']:.2g} × more), and a BatchNorm before each sigmoid "
        f"{numbers['batchnorm_first_grad']:.2g}. The vanishing-gradient warning {fired}."
    )
    return Outcome(NAME, text, numbers, histories)


def _network(key: str, seed: int) -> Network | Sequential:
    """The stack of run `key`: 8 hidden layers of 32 units, 4 outputs."""
    if key != "batchnorm":
        return Network([_FEATURES, *[_WIDTH] * _DEPTH, _CLASSES], activation=key, seed=seed)
    blocks = [
        layer
        for _ in range(_DEPTH)
        for layer in (L.Dense(_WIDTH), L.BatchNorm(), L.Activation("sigmoid"))
    ]
    return Sequential([*blocks, L.Dense(_CLASSES)], input_dim=_FEATURES, seed=seed)


def _dense_layers(hist: History) -> list[str]:
    """The Dense layers' names, in order (the layers with a gradient but no γ)."""
    return [
        name
        for name in sorted(hist.diagnostics, key=layer_order)
        if "grad_norm" in hist.diagnostics[name] and "gamma_mean" not in hist.diagnostics[name]
    ]


def draw(outcome: Outcome, axes: list[Any]) -> None:
    """Left: each Dense layer's gradient norm in the last epoch (log scale), per run; right:
    the training loss per epoch."""
    grads, losses = axes
    for label, hist in outcome.histories.items():
        norms = [hist.diagnostics[name]["grad_norm"][-1] for name in _dense_layers(hist)]
        grads.plot(range(1, len(norms) + 1), norms, marker="o", label=label)
        losses.plot(hist.epochs, hist.loss, label=label)
    grads.set_yscale("log")
    grads.set_title("gradient norm per Dense layer (last epoch)")
    grads.set_xlabel("Dense layer (1 = first)")
    grads.set_ylabel("‖∇θ‖")
    losses.set_title("training loss")
    losses.set_xlabel("epoch")
    losses.set_ylabel("cross-entropy")
    for ax in axes:
        ax.legend(fontsize="small")
