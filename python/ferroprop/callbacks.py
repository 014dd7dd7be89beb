"""Keras-style training callbacks and `CallbackList`, the dispatcher `fit` drives.

`fit(callbacks=[...])` accepts these built-ins and any object with an
`on_epoch_end(epoch, logs)` method (`epoch` 0-based, as Keras; `logs` the engine's dict, see
`ferroprop.history`); `set_model`, `on_train_begin`, `on_train_end` and `on_divergence` are
called when present. A callback stops training by returning True from `on_epoch_end` or, as
in Keras, by setting `model.stop_training = True`.

The model is used by duck typing: `state_dict()`, `load_state_dict()` and `save(path)`.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import re
from collections.abc import Mapping
from typing import IO, Any

from .callback_list import CallbackList
from .diagnostics import warn_user

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "ModelCheckpoint",
    "TerminateOnNaN",
]

#: `mode="auto"`: the direction of each metric (`val_` stripped).
_DIRECTIONS = {"loss": "min", "mae": "min", "accuracy": "max", "r2": "max"}


class Callback:
    """Base class of the callbacks: every hook does nothing. `self.model` is the model being
    trained (set by `set_model` before `on_train_begin`)."""

    def __init__(self) -> None:
        self.model: Any = None

    def set_model(self, model: Any) -> None:
        """Called once by `fit` before training, with the model being trained."""
        self.model = model

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called when `fit` starts."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> bool | None:
        """Called after each epoch: `epoch` 0-based, `logs` that epoch's metrics. Returning
        True stops training."""
        return None

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Called when `fit` ends, with the last epoch's logs (also after an early stop)."""

    def on_divergence(self, error: BaseException) -> bool:
        """Called when the engine raised `DivergenceError` (a non-finite loss; the parameters
        are those of the last finite step). True: handled, stop training quietly."""
        return False

    def _stop(self) -> bool:
        """Sets `model.stop_training` (Keras's flag) where the model allows; returns True."""
        if self.model is not None:
            try:
                self.model.stop_training = True
            except AttributeError:
                pass
        return True


class _MonitorCallback(Callback):
    """A callback comparing one monitored log value with its best so far (Keras's
    MonitorCallback)."""

    def __init__(self, monitor: str, mode: str, min_delta: float, best: float | None) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor: expected a metric name (str), got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = _DIRECTIONS.get(monitor.removeprefix("val_"), "")
            if not mode:
                raise ValueError(
                    f"monitor={monitor!r}: cannot tell whether it should be minimised or "
                    "maximised; pass mode='min' or mode='max'"
                )
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(_real(min_delta, "min_delta"))
        self.best = None if best is None else _real(best, "baseline")

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _monitored(self, logs: Mapping[str, Any] | None, what: str) -> float | None:
        """The monitored value, or None with a warning naming the available keys."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warn_user(
                f"{what} conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(k for k in logs if k != 'diagnostics')}"
            )
            return None
        return float(value)


class EarlyStopping(_MonitorCallback):
    """Stops training when the monitored metric has stopped improving (Keras semantics).

    Args:
        monitor: the logs key to watch (`val_loss`, `loss`, `val_accuracy`, `mae`, …).
        min_delta: a change smaller than this (absolute) is no improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints a line when stopping and when restoring.
        mode: "min", "max" or "auto" (losses and MAE minimised, accuracy and R² maximised).
        baseline: training also stops if the metric does not beat this within `patience`.
        restore_best_weights: at the end of training, load the parameters of the best epoch
            (copies taken through `model.state_dict()`).
        start_from_epoch: epochs of warm-up before monitoring starts.

    Raises:
        TypeError, ValueError: an argument of the wrong type or out of range (named).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta, None)
        self.patience = _count(patience, "patience")
        self.verbose = _count(verbose, "verbose")
        self.baseline = None if baseline is None else _real(baseline, "baseline")
        self.restore_best_weights = _flag(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = _count(start_from_epoch, "start_from_epoch")
        self.on_train_begin()

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Resets the state, so one instance can serve several `fit` calls."""
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights: dict[str, Any] | None = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> bool | None:
        current = self._monitored(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return None
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.state_dict()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return None
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            return self._stop()
        return None

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.",
                    flush=True,
                )
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (`model.save(path)`: an atomic write of a safetensors model file) after
    every epoch, or only when the monitored metric improved.

    Args:
        filepath: where to save; may hold `str.format` fields filled from the logs, e.g.
            `"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"` (`epoch` 1-based, as Keras).
            Missing directories are created.
        monitor: the logs key compared when `save_best_only`.
        verbose: 1 prints a line per decision.
        save_best_only: save only when `monitor` improved on the best so far.
        mode: "min", "max" or "auto" (as `EarlyStopping`).
        initial_value_threshold: the best value to beat at first (None: the first epoch saves).

    Raises:
        TypeError, ValueError: an argument of the wrong type or out of range (named).
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
        initial_value_threshold: float | None = None,
    ) -> None:
        if not isinstance(filepath, str | os.PathLike):
            raise TypeError(f"filepath: expected a path, got {type(filepath).__name__}")
        super().__init__(monitor, mode, 0, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        if not self.filepath:
            raise ValueError("filepath: expected a path, got ''")
        self.verbose = _count(verbose, "verbose")
        self.save_best_only = _flag(save_best_only, "save_best_only")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> bool | None:
        logs = logs or {}
        path = self._path(epoch, logs)
        if self._should_save(epoch, logs, path):
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            self.model.save(path)
        return None

    def _path(self, epoch: int, logs: Mapping[str, Any]) -> str:
        fields = {k: v for k, v in logs.items() if k != "diagnostics"}
        fields["epoch"] = epoch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as err:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {err!r} '
                f"(available: {', '.join(fields)})"
            ) from err

    def _should_save(self, epoch: int, logs: Mapping[str, Any], path: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: saving model to {path}", flush=True)
            return True
        current = logs.get(self.monitor)
        if current is None:
            warn_user(f"Can save best model only with {self.monitor} available.")
            return True
        current = float(current)
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {path}",
                    flush=True,
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}", flush=True)
        return False


class TerminateOnNaN(Callback):
    """Turns a non-finite loss into a quiet stop: the engine's `DivergenceError` (raised with
    the parameters of the last finite step) is answered by a line like Keras's
    "Batch N: Invalid loss, terminating training" and `fit` returns normally; a NaN/inf
    `loss` in the logs stops training at that epoch's end.

    Args:
        raise_error: re-raise instead (the `DivergenceError` propagates; a non-finite logged
            loss raises RuntimeError), as Keras's `raise_error=True`.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = _flag(raise_error, "raise_error")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> bool | None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return None
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at epoch {epoch + 1}. Loss value: {loss}. "
                "Terminating training immediately."
            )
        print(f"Epoch {epoch + 1}: Invalid loss, terminating training", flush=True)
        return self._stop()

    def on_divergence(self, error: BaseException) -> bool:
        if self.raise_error:
            return False
        found = re.search(r"at epoch (\d+), batch (\d+)", str(error))
        where = f"Epoch {found[1]}, batch {found[2]}" if found else "Batch"
        print(f"{where}: Invalid loss, terminating training", flush=True)
        self._stop()
        return True


class CSVLogger(Callback):
    """Writes one CSV row per epoch: `epoch` (0-based, as Keras) then the logs' keys sorted
    (the nested `diagnostics` and the logs' own 1-based `epoch` left out), "NA" where an epoch
    lacks a key. Each row is flushed as it is written.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (the header is written only if it is empty).

    Raises:
        TypeError, ValueError: an argument of the wrong type (named).
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(filename, str | os.PathLike):
            raise TypeError(f"filename: expected a path, got {type(filename).__name__}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator: expected one character, got {separator!r}")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = _flag(append, "append")
        self.keys: list[str] | None = None
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter | None = None
        self._header = True

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._close()
        self._header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self._header = not f.readline()
        mode = "a" if self.append else "w"
        self._file = open(self.filename, mode, newline="", encoding="utf-8")
        self.keys = None
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> bool | None:
        logs = logs or {}
        if self._file is None:
            self.on_train_begin()
        file = self._file
        assert file is not None
        if self.keys is None:
            self.keys = sorted(k for k in logs if k not in ("epoch", "diagnostics"))
        if self._writer is None:
            self._writer = csv.DictWriter(
                file, fieldnames=["epoch", *self.keys], delimiter=self.sep
            )
            if self._header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, logs.get(key, "NA")) for key in self.keys)
        self._writer.writerow(row)
        file.flush()
        return None

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        self._writer = None


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    return int(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value
