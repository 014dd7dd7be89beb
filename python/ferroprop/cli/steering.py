"""What steers and watches the one ``fit`` of ``ferroprop train``: the ``--lr-schedule``
schedules, ``--early-stopping``, the callback that draws the progress, the display of training
warnings (``--diagnostics``), and ``--plot``.

The schedules, with ``E`` epochs of ``B`` batches and ``--lr`` ``lr``:

- ``cosine`` (the default): ``CosineAnnealingLR(T_max=E)``, stepped per epoch: epoch ``e``
  (from 0) trains at ``lr * (1 + cos(pi * e / E)) / 2``.
- ``constant``: ``lr`` throughout.
- ``step``: ``StepLR(step_size=ceil(E / 3), gamma=0.1)``: lr, lr/10, lr/100 over the three
  thirds of the epochs (the classic "divide by 10 twice" recipe).
- ``onecycle``: ``OneCycleLR(max_lr=lr, total_steps=E * B)``, stepped per batch (torch's
  defaults: from lr/25 up to lr over 30 % of the steps, then down to lr/25e4); with adam and
  sgd it cycles beta1 / the momentum too, rmsprop (no momentum) and adagrad keep theirs.
- ``plateau``: ``ReduceLROnPlateau(factor=0.1, patience=2)`` on ``val_loss`` (``loss`` with
  ``--val-fraction 0``): lr/10 after 2 epochs without improvement.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from ..callbacks import EarlyStopping
from ..diagnostics import TrainingWarning
from ..history import Diagnostics, History, layer_order
from ..plotting import figure_format, plot_history
from ..schedules import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau, Schedule, StepLR
from .errors import CLIError, check_writable
from .progress import Progress, rate

#: `--lr-schedule`'s choices and their `--help` text (the module docstring has the details).
SCHEDULES = {
    "cosine": "from --lr towards 0 along a half cosine, per epoch (CosineAnnealingLR)",
    "constant": "--lr throughout",
    "step": "divided by 10 after each third of the epochs (StepLR)",
    "onecycle": "warm up to --lr over 30% of the batches, then anneal (OneCycleLR)",
    "plateau": "divided by 10 after 2 epochs without a lower val_loss (loss with "
    "--val-fraction 0) (ReduceLROnPlateau)",
}
STEP_GAMMA = 0.1
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 2
#: The optimizers whose momentum (Adam's beta1) `onecycle` cycles, as torch's OneCycleLR does.
CYCLED_MOMENTUM = ("adam", "sgd")


def make_schedule(
    name: str, epochs: int, steps_per_epoch: int, lr: float, optimizer: str, monitor: str
) -> Schedule | None:
    """The schedule `--lr-schedule name` stands for (None for `constant`).

    Args:
        name: a key of `SCHEDULES`.
        epochs, steps_per_epoch: the length of the training (batches per epoch).
        lr: the base (for `onecycle`, the peak) learning rate.
        optimizer: the `--optimizer` name (decides whether `onecycle` cycles the momentum).
        monitor: what `plateau` watches: "val_loss" or "loss".

    Raises:
        ValueError: an unknown `name`.
    """
    if name == "constant":
        return None
    if name == "cosine":
        return CosineAnnealingLR(T_max=epochs)
    if name == "step":
        return StepLR(step_size=math.ceil(epochs / 3), gamma=STEP_GAMMA)
    if name == "onecycle":
        return OneCycleLR(
            max_lr=lr,
            total_steps=epochs * steps_per_epoch,
            cycle_momentum=optimizer in CYCLED_MOMENTUM,
        )
    if name == "plateau":
        return ReduceLROnPlateau(factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, monitor=monitor)
    raise ValueError(f"name: expected one of {', '.join(SCHEDULES)}, got {name!r}")


class EpochReporter:
    """`fit`'s callback in `ferroprop train`: draws each epoch on the progress bar.

    Args:
        progress: the bar (`make_progress`).
        rows: training rows per epoch (for the samples/s).
    """

    def __init__(self, progress: Progress, rows: int) -> None:
        self.progress = progress
        self.rows = rows

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        self.progress.update(
            logs["epoch"], logs["loss"], logs.get("val_accuracy"), rate(self.rows, logs["seconds"])
        )


def early_stopping(patience: int | None, has_validation: bool) -> EarlyStopping | None:
    """`--early-stopping patience`: an `EarlyStopping` on val_loss that restores the best
    epoch's weights, or None without the option.

    Raises:
        CLIError: there is no validation data to watch.
    """
    if patience is None:
        return None
    if not has_validation:
        raise CLIError("--early-stopping watches the validation loss: it needs --val-fraction > 0")
    return EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)


def early_stopping_note(stopper: EarlyStopping, epochs_run: int) -> str | None:
    """The line saying where `stopper` stopped and which weights it restored, or None when
    the last epoch was the best."""
    best = stopper.best_epoch + 1
    if stopper.stopped_epoch == 0 and best == epochs_run:
        return None
    if stopper.stopped_epoch:
        where = f"early stopping after epoch {epochs_run}: no lower val_loss for {stopper.patience}"
        where += " epochs"
    else:
        where = f"no early stop; the lowest val_loss was at epoch {best}"
    return f"{where}; restored the weights of epoch {best} (val_loss {stopper.best:.4f})"


@contextlib.contextmanager
def training_warnings(progress: Progress) -> Iterator[None]:
    """Within it, each `TrainingWarning` (issued once per kind by `fit`'s watcher) is shown as
    one line `ferroprop train: warning: ...` on stderr, through the progress bar; other
    warnings as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", TrainingWarning)
        shown = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: Any = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, TrainingWarning):
                progress.write(f"ferroprop train: warning: {message}")
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def check_plot(path: str | None) -> None:
    """Refuses a `--plot` path before training: not writable, an extension matplotlib cannot
    write, or matplotlib missing.

    Raises:
        CLIError: the message names the problem (and `pip install ferroprop[plot]`).
    """
    if path is None:
        return
    check_writable(path, "--plot")
    try:
        figure_format(path)
    except ImportError as exc:
        raise CLIError(f"--plot: {exc}") from None
    except ValueError as exc:
        raise CLIError(f"--plot {path}: {str(exc).removeprefix('path: ')}") from None


def write_plot(hist: History, path: str) -> None:
    """`fp.plot_history(hist, path)`, its failures as CLIError."""
    try:
        plot_history(hist, path)
    except (ImportError, ValueError, OSError, RuntimeError) as exc:
        raise CLIError(f"--plot {path}: {exc}") from None


def diagnostics_json(diagnostics: Diagnostics) -> dict[str, dict[str, list[float | None]]]:
    """`{layer: {metric: [one value per epoch]}}`, layers in order, NaN (an epoch that did not
    report the metric) as None so that the JSON stays valid."""
    return {
        layer: {
            metric: [None if math.isnan(v) else v for v in values]
            for metric, values in diagnostics[layer].items()
        }
        for layer in sorted(diagnostics, key=layer_order)
    }
