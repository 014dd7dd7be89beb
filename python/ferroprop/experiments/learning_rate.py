"""`learning-rate`: the same network trained at five learning rates.

Too small a rate barely moves the weights in the epochs given; a larger one learns faster up
to a point; too large a one overshoots until the loss is no longer a finite number, and the
engine stops that run (`DivergenceError`, reported here as "diverged", not raised).
"""

from __future__ import annotations

import math
from typing import Any

from .. import SGD, Network
from ..callbacks import Callback
from ..history import History
from ._data import quadrants
from .outcome import Outcome

__all__ = ["LEARNING_RATES", "NAME", "PANELS", "SUMMARY", "draw", "run"]

NAME = "learning-rate"
SUMMARY = "the final loss at five learning rates; the largest diverges"
PANELS = 2

#: The rates compared, smallest first.
LEARNING_RATES = (0.001, 0.01, 0.1, 1.0, 10.0)
_WIDTHS = [16, 64, 4]
_ROWS, _EPOCHS, _BATCH = 512, 30, 32


class _Divergence(Callback):
    """Turns the engine's `DivergenceError` into a quiet stop and keeps its message."""

    def __init__(self) -> None:
        super().__init__()
        self.message: str | None = None

    def on_divergence(self, error: BaseException) -> bool:
        self.message = str(error)
        return True


def run(seed: int = 0) -> Outcome:
    """Trains a `[16, 64, 4]` ReLU network on `quadrants` data (512 rows) for 30 epochs with
    SGD at each of `LEARNING_RATES`, from the same initial weights.

    Args:
        seed: seeds the data and the initial weights.

    Returns:
        The `Outcome`; per rate (`lr=0.001`, …) `loss_lr=…`, the final epoch's loss (nan if it
        diverged), and `diverged_lr=…` (1.0 if the loss became non-finite; then
        `diverged_epoch_lr=…` is the epoch it did so in); and `best_lr`, the rate with the
        lowest final loss.
    """
    X, y = quadrants(_ROWS, _WIDTHS[0], seed)
    histories: dict[str, History] = {}
    numbers: dict[str, float] = {}
    finals: dict[float, float] = {}
    for lr in LEARNING_RATES:
        net = Network(_WIDTHS, activation="relu", seed=seed)
        divergence = _Divergence()
        hist = net.fit(
            X, y, epochs=_EPOCHS, batch_size=_BATCH, optimizer=SGD(lr=lr), callbacks=[divergence]
        )
        histories[f"lr={lr:g}"] = hist
        diverged = divergence.message is not None
        finals[lr] = math.nan if diverged or not hist.loss else hist.loss[-1]
        numbers[f"loss_lr={lr:g}"] = finals[lr]
        numbers[f"diverged_lr={lr:g}"] = float(diverged)
        if diverged:
            numbers[f"diverged_epoch_lr={lr:g}"] = float(len(hist.epochs) + 1)
    finite = {lr: loss for lr, loss in finals.items() if not math.isnan(loss)}
    best = min(finite, key=finite.__getitem__) if finite else math.nan
    numbers["best_lr"] = best
    text = _text(finals, numbers, histories, best)
    return Outcome(NAME, text, numbers, histories)


def _text(
    finals: dict[float, float],
    numbers: dict[str, float],
    histories: dict[str, History],
    best: float,
) -> str:
    """Two or three sentences: the final losses, the best rate, the diverged ones."""
    parts = [
        f"lr={lr:g}: diverged in epoch {numbers[f'diverged_epoch_lr={lr:g}']:.0f}"
        if math.isnan(loss)
        else f"lr={lr:g}: {loss:.3g}"
        for lr, loss in finals.items()
    ]
    text = (
        f"The same [16, 64, 4] network, trained with SGD for {_EPOCHS} epochs from the same "
        f"initial weights, ends at these training losses: {'; '.join(parts)}."
    )
    if math.isnan(best):
        return text + " Every rate diverged."
    text += f" The best rate is {best:g}"
    smallest = min(finals)
    first = histories[f"lr={smallest:g}"].loss
    if smallest != best and not math.isnan(finals[smallest]) and first:
        text += (
            f"; at {smallest:g} the loss has only gone from {first[0]:.3g} (epoch 1) to "
            f"{finals[smallest]:.3g}"
        )
    diverged = [lr for lr, loss in finals.items() if math.isnan(loss)]
    if diverged:
        text += (
            f", and at {' and '.join(f'{lr:g}' for lr in diverged)} the updates overshoot "
            "until the loss is no longer finite"
        )
    return text + "."


def draw(outcome: Outcome, axes: list[Any]) -> None:
    """Left: the final loss against the rate (log-log; a diverged rate as a red × at the top);
    right: each rate's training loss per epoch."""
    finals, curves = axes
    rates = [lr for lr in LEARNING_RATES if f"loss_lr={lr:g}" in outcome.numbers]
    losses = [outcome.numbers[f"loss_lr={lr:g}"] for lr in rates]
    kept = [(lr, loss) for lr, loss in zip(rates, losses, strict=True) if not math.isnan(loss)]
    if kept:
        finals.plot(*zip(*kept, strict=True), marker="o", label="final loss")
    top = max((loss for _, loss in kept), default=1.0)
    lost = [lr for lr, loss in zip(rates, losses, strict=True) if math.isnan(loss)]
    if lost:
        finals.plot(lost, [top] * len(lost), "x", color="red", markersize=10, label="diverged")
    finals.set_xscale("log")
    finals.set_yscale("log")
    finals.set_title("final training loss per learning rate")
    finals.set_xlabel("learning rate")
    finals.set_ylabel("cross-entropy")
    for label, hist in outcome.histories.items():
        if hist.loss:
            diverged = outcome.numbers.get(f"diverged_{label}") == 1.0
            curves.plot(hist.epochs, hist.loss, label=label + (" (diverged)" if diverged else ""))
    curves.set_yscale("log")
    # A diverging run's loss climbs by many orders of magnitude first: keep the others readable.
    starts = [
        hist.loss[0]
        for label, hist in outcome.histories.items()
        if hist.loss and outcome.numbers.get(f"diverged_{label}") == 0.0
    ]
    if starts:
        curves.set_ylim(top=3 * max(starts))
    curves.set_title("training loss")
    curves.set_xlabel("epoch")
    curves.set_ylabel("cross-entropy")
    for ax in axes:
        ax.legend(fontsize="small")
