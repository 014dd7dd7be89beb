"""`CallbackList`: the dispatcher `fit` drives — each callback's hooks, the `History` and the
training-warning `Watcher`, one epoch at a time (re-exported by `ferroprop.callbacks`).

Callbacks are used by duck typing: anything with `on_epoch_end(epoch, logs)`; `set_model`,
`on_train_begin`, `on_train_end` and `on_divergence` are called when present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .diagnostics import Watcher
from .history import History

__all__ = ["CallbackList"]


class CallbackList:
    """The dispatcher `fit` drives: calls each callback's hooks, records the `History` and
    runs the training-warning `Watcher`.

    Protocol (what `fit` does): `begin()` before the first epoch; `epoch_end(epoch0, logs)`
    after each epoch (stop when it returns True); `divergence(err)` when the engine raised
    `DivergenceError` (True: handled — stop quietly and return the history; False: re-raise);
    `end(logs)` once training stopped (normally, early or after a handled divergence).

    Args:
        callbacks: None, or a list of callbacks: built-ins or any object with an
            `on_epoch_end(epoch, logs)` method (`set_model`, `on_train_begin`,
            `on_train_end`, `on_divergence` are called when present). One such object alone
            is accepted too.
        model: the model being trained (given to each `set_model`).
        watcher: the `ferroprop.diagnostics.Watcher` to run after each epoch, or None.

    Raises:
        TypeError: `callbacks` is not a list of such objects (the bad entry is named), or
            `watcher` is not a Watcher.
    """

    def __init__(
        self, callbacks: Iterable[Any] | None, model: Any, watcher: Watcher | None = None
    ) -> None:
        if callbacks is None:
            items: list[Any] = []
        elif callable(getattr(callbacks, "on_epoch_end", None)):
            items = [callbacks]
        elif isinstance(callbacks, str | bytes | Mapping) or not isinstance(callbacks, Iterable):
            raise TypeError(
                f"callbacks: expected a list of callbacks, got {type(callbacks).__name__}"
            )
        else:
            items = list(callbacks)
        for i, item in enumerate(items):
            if not callable(getattr(item, "on_epoch_end", None)):
                raise TypeError(
                    f"callbacks[{i}]: expected a callback with an on_epoch_end(epoch, logs) "
                    f"method, got {type(item).__name__}"
                )
        if watcher is not None and not isinstance(watcher, Watcher):
            raise TypeError(f"watcher: expected a Watcher, got {type(watcher).__name__}")
        self.callbacks = items
        self.model = model
        self.watcher = watcher
        self.history = History()
        self.last_logs: dict[str, Any] = {}

    def begin(self) -> None:
        """Before the first epoch: clears `model.stop_training`, calls `set_model(model)` and
        `on_train_begin()` of each callback that has them, resets the watcher."""
        self._set_stop(False)
        if self.watcher is not None:
            self.watcher.reset()
        for cb in self.callbacks:
            _call(cb, "set_model", self.model)
        for cb in self.callbacks:
            _call(cb, "on_train_begin", {})

    def epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> bool:
        """After an epoch (`epoch` 0-based): appends `logs` to `history`, runs the watcher,
        then each callback's `on_epoch_end(epoch, logs)`.

        Returns:
            True when training should stop: a callback returned True, or set
            `model.stop_training = True`.
        """
        logs = dict(logs)
        self.last_logs = logs
        self.history.append(logs)
        if self.watcher is not None:
            self.watcher.epoch_end(self.history)
        stop = False
        for cb in self.callbacks:
            if cb.on_epoch_end(epoch, logs) is True:
                stop = True
        return stop or getattr(self.model, "stop_training", False) is True

    def divergence(self, error: BaseException) -> bool:
        """The engine raised `error` (`DivergenceError`): calls every `on_divergence(error)`.

        Returns:
            True if one of them handled it (fit then stops quietly), False to re-raise.
        """
        handled = False
        for cb in self.callbacks:
            if _call(cb, "on_divergence", error) is True:
                handled = True
        return handled

    def end(self, logs: Mapping[str, Any] | None = None) -> None:
        """After training: each callback's `on_train_end(logs)` (default: the last epoch's
        logs)."""
        logs = self.last_logs if logs is None else dict(logs)
        for cb in self.callbacks:
            _call(cb, "on_train_end", logs)

    def _set_stop(self, value: bool) -> None:
        try:
            self.model.stop_training = value
        except AttributeError:
            pass


def _call(obj: Any, hook: str, *args: Any) -> Any:
    """`obj.hook(*args)` if `obj` has that method, else None."""
    method = getattr(obj, hook, None)
    return method(*args) if callable(method) else None
