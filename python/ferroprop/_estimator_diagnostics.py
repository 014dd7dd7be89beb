"""The `diagnostics` parameter of `MLPClassifier` / `MLPRegressor` (`ferroprop.sklearn`): the
fitted record `diagnostics_` and the training warnings of `Network.fit(diagnostics=True)`.

The estimators run the engine one epoch per call (scikit-learn's stopping rules sit between
epochs), so `Network.fit`'s `CallbackList` never sees their whole run. A `Recorder` does its two
diagnostic parts epoch by epoch instead: it appends each epoch's per-layer figures to the
estimator's `Diagnostics`, and runs a `Watcher` over the run so far (training loss, validation
loss when there is one, the figures), which warns once per kind per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._model import _thresholds
from .diagnostics import Thresholds, Watcher
from .history import Diagnostics, History

__all__ = ["Recorder", "recorder_for"]


class Recorder:
    """Records an estimator's diagnostics one epoch at a time and warns as `Network.fit` does.

    One per run: a `fit` call, or a `partial_fit` call and the `partial_fit` calls that follow
    it (each warning kind fires at most once per run).

    Args:
        diagnostics: the record every epoch is appended to (the estimator's `diagnostics_`; it
            may already hold the epochs of earlier runs).
        thresholds: when to warn.
        skip: directories whose frames the warnings skip besides ferroprop's (see
            `ferroprop.diagnostics.warn_user`), so that they point at the caller's line.

    Raises:
        TypeError: `diagnostics` is not a `Diagnostics`, `thresholds` not a `Thresholds`.
    """

    def __init__(
        self, diagnostics: Diagnostics, thresholds: Thresholds, skip: Sequence[str] = ()
    ) -> None:
        if not isinstance(diagnostics, Diagnostics):
            raise TypeError(
                f"diagnostics: expected a Diagnostics, got {type(diagnostics).__name__}"
            )
        self.diagnostics = diagnostics
        self.watcher = Watcher(thresholds, skip)
        self.run = History()  # this run's epochs: what the watcher reads

    def epoch_end(
        self, epoch: int, logs: Mapping[str, Any], loss: float, val_loss: float | None
    ) -> None:
        """Records one epoch and issues the warnings that newly apply.

        Args:
            epoch: the epoch's 1-based position in the estimator's `loss_curve_`.
            logs: the engine's logs of that epoch, with its `diagnostics`.
            loss: the epoch's training loss (the estimator's `loss_`).
            val_loss: the loss on the validation data, or None without any.

        Raises:
            KeyError: `logs` has no `diagnostics` (the engine ran without them).
        """
        figures = logs["diagnostics"]
        self.diagnostics._append(epoch, figures)
        self.run.append(
            {"epoch": epoch, "loss": loss, "val_loss": val_loss, "diagnostics": figures}
        )
        self.watcher.epoch_end(self.run)


def recorder_for(
    setting: Any,
    record: Diagnostics | None,
    previous: Recorder | None,
    new_run: bool,
    skip: Sequence[str] = (),
) -> Recorder | None:
    """The `Recorder` of an estimator's epoch loop.

    Args:
        setting: the `diagnostics` parameter: False, True or a `Thresholds`.
        record: the estimator's `diagnostics_` so far (None: start a new record).
        previous: the estimator's last recorder, or None.
        new_run: a `fit` call (a new run of warnings) rather than a `partial_fit` call.
        skip: as for `Recorder`.

    Returns:
        None when `setting` is off; else `previous`, its thresholds set from `setting`, when
        it goes on (neither `new_run` nor another record); else a new recorder on `record`.

    Raises:
        TypeError: `setting` is neither a bool nor a `Thresholds`.
    """
    thresholds = _thresholds(setting)
    if thresholds is None:
        return None
    if record is None:
        record = Diagnostics()
    if new_run or previous is None or previous.diagnostics is not record:
        return Recorder(record, thresholds, skip)
    previous.watcher.thresholds = thresholds  # set_params between partial_fit calls
    return previous
