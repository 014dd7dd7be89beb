"""The classic experiments of neural-network training, runnable: `ferroprop demo NAME` or
`ferroprop.experiments.run(NAME)`.

>>> from ferroprop import experiments
>>> outcome = experiments.run("xor", plot="xor.png")  # doctest: +SKIP
>>> print(outcome.report())                          # doctest: +SKIP

- `xor`: a network without a hidden layer cannot learn XOR; one hidden layer reaches 100%.
- `vanishing`: through 8 sigmoid layers the first layer's gradient vanishes (and the
  diagnostics warn); ReLU, or BatchNorm before each sigmoid, keeps it.
- `dead-relu`: too large a learning rate kills most ReLU units of a layer (and the
  diagnostics warn); a smaller rate or leaky_relu does not.
- `overfitting`: a wide network on 1,000 Fashion-MNIST rows: the training loss falls while
  the validation loss rises; Dropout or early stopping close the gap (needs Debian's
  `dataset-fashion-mnist`).
- `learning-rate`: one network at five learning rates, the final loss of each; the largest
  diverges.

Each experiment is a module with `run(seed=0) -> Outcome` (seeded, deterministic, a few
seconds at most), `draw(outcome, axes)` filling its figure's `PANELS` panels, `NAME` and
`SUMMARY` (the one line `ferroprop demo --list` shows). The `TrainingWarning`s a run issues
are collected into its numbers (`…_warned`) instead of being shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import dead_relu, learning_rate, overfitting, vanishing, xor
from ._plot import panels, require_matplotlib, save_png
from .outcome import Outcome

__all__ = ["EXPERIMENTS", "SUMMARIES", "Outcome", "plot_outcome", "run"]

_MODULES = {
    module.NAME: module for module in (xor, vanishing, dead_relu, overfitting, learning_rate)
}

#: The experiments by name: each `f(seed=0) -> Outcome`.
EXPERIMENTS: dict[str, Callable[..., Outcome]] = {
    name: module.run for name, module in _MODULES.items()
}
#: One line per experiment saying what it shows.
SUMMARIES: dict[str, str] = {name: module.SUMMARY for name, module in _MODULES.items()}


def run(name: str, *, plot: str | os.PathLike[str] | None = None, seed: int = 0) -> Outcome:
    """Runs experiment `name` and, given `plot`, writes its figure there as a PNG.

    Args:
        name: a key of `EXPERIMENTS`.
        plot: where to write the figure (atomically), or None. matplotlib is checked before
            the experiment runs.
        seed: seeds the experiment's data and initial weights.

    Returns:
        The experiment's `Outcome`.

    Raises:
        TypeError: `name` is not a str.
        ValueError: `name` is not an experiment (the message lists them).
        ImportError: `plot` is given but matplotlib is not installed.
        FileNotFoundError: `overfitting` without Fashion-MNIST installed.
    """
    _check_name(name)
    if plot is not None:
        require_matplotlib()
    outcome = EXPERIMENTS[name](seed=seed)
    if plot is not None:
        plot_outcome(outcome, plot)
    return outcome


def plot_outcome(outcome: Outcome, path: str | os.PathLike[str] | None = None) -> Any:
    """Draws an experiment's outcome as one matplotlib figure (e.g. the loss curves of the
    compared runs; see each module's `draw`), and writes it to `path` as a PNG when given.

    Returns:
        The `matplotlib.figure.Figure` (standalone: pyplot does not keep it).

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: `outcome.name` is not an experiment.
    """
    _check_name(outcome.name)
    module = _MODULES[outcome.name]
    fig, axes = panels(module.PANELS)
    module.draw(outcome, axes)
    fig.suptitle(f"ferroprop demo {outcome.name}")
    if path is not None:
        save_png(fig, path)
    return fig


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"name: expected an experiment name (str), got {name!r}")
    if name not in EXPERIMENTS:
        raise ValueError(
            f"name: unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}"
        )
