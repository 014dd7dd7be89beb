"""What `Network` and `Sequential` share: one engine network (`_core.Network`) and the calls
that run it — inference, the loss, named tensors, one step, the training loop."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import _core
from ._validation import (
    as_count,
    as_labels,
    as_matrix,
    as_numeric,
    as_seed,
    as_values,
    as_vector,
    native,
)
from ._warn import attributed_to, caller
from .callback_list import CallbackList
from .diagnostics import Thresholds, Watcher
from .graph import graph as _graph
from .history import History
from .summary import Summary, summarize

_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}

#: `fit`'s per-epoch callback: (epoch, loss, val_loss, val_accuracy, seconds).
EpochCallback = Callable[[int, float, float | None, float | None, float], None]


def dtype_name(dtype: Any) -> str:
    """`dtype` as 'float32' or 'float64'; ValueError otherwise."""
    try:
        name = np.dtype(dtype).name
    except TypeError as err:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}") from err
    if name not in _DTYPES:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    return name


class Model:
    """Base class of `Network` and `Sequential`: a stack of layers in the Rust engine."""

    _core: _core.Network
    _dtype: np.dtype
    _seed: int

    # -- description --------------------------------------------------------------------------

    @property
    def loss_name(self) -> str:
        return self._core.loss_name

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def layers(self) -> list[_core.Layer]:
        """The layers, as built (for `Network`: the Dense/activation stack it stands for)."""
        return list(self._core.layers)

    def summary(self) -> Summary:
        """A Keras-like table of the layers (output shapes, parameters, FLOPs per sample): a
        `ferroprop.summary.Summary`, printed as the table, with `.rows` and totals."""
        return summarize(self._core)

    def graph(self, format: str = "dot", path: str | os.PathLike[str] | None = None) -> str:
        """The graph of one training step as Graphviz DOT (`format="svg"`: rendered by `dot`),
        also written to `path` if given; see `ferroprop.graph`."""
        return _graph(self._core, format, path)

    @property
    def training_steps(self) -> int:
        """Training steps taken (`step` and `fit` count them): the step number that keys the
        next dropout masks. Saved with the model."""
        return self._core.training_steps

    def _dropout_keep(self, index: int, rows: int) -> np.ndarray:
        """The keep mask `(rows, units)` (bool) the Dropout at `index` uses for a batch of `rows`
        rows at the next training step (a testing aid: `forward(training=True)` multiplies by it
        and by `1/(1-p)`)."""
        return self._core._dropout_keep(as_count(index, "index"), as_count(rows, "rows"))

    # -- named tensors ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, with the names and layouts of a
        `torch.nn.Sequential` built from the same layers (a Dense weight is `(out, in)`;
        `num_batches_tracked` a 0-d int64 array), so
        `torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})` works."""
        return {name: _entry(value) for name, value in self._core.state_dict()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copies in every entry of `state_dict` (names and layouts as `state_dict()` gives them;
        float arrays are converted to the network's dtype, as torch copies them).

        Raises:
            TypeError: not a mapping, a float entry that is not a float array, a counter that
                is not an integer.
            ValueError: a missing, unexpected or mis-shaped entry (named), a non-finite value,
                a negative variance or count. Nothing is copied then.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        entries: list[tuple[str, Any]] = []
        for name, value in state_dict.items():
            if not isinstance(name, str):
                raise TypeError(f"state_dict: expected str keys, got {name!r}")
            arr = as_numeric(value, f"state_dict[{name!r}]")
            if name.endswith("num_batches_tracked"):
                if arr.ndim != 0 or arr.dtype.kind not in "iu":
                    raise TypeError(
                        f"state_dict[{name!r}]: expected a 0-d integer array or an int, "
                        f"got {arr.dtype} of shape {arr.shape}"
                    )
                entries.append((name, int(arr)))
            elif arr.dtype.kind == "f":
                entries.append((name, native(arr, self._dtype)))
            else:
                raise TypeError(
                    f"state_dict[{name!r}]: expected a float array (converted to "
                    f"{self._dtype.name}, as torch's load_state_dict copies), got {arr.dtype}"
                )
        self._core.load_state_dict(entries)

    # -- inference ----------------------------------------------------------------------------

    def _x(self, X: Any, name: str = "X") -> np.ndarray:
        return as_matrix(X, self._dtype, name)

    def _y(self, y: Any, name: str = "y") -> np.ndarray:
        if self.loss_name in ("cross_entropy", "log_loss"):
            return as_labels(y, name)
        return as_values(y, self._dtype, self._core.widths[-1], name)

    def _w(self, w: Any) -> np.ndarray | None:
        return None if w is None else as_vector(w, self._dtype, "sample_weight")

    def forward(self, X: Any, training: bool = False) -> np.ndarray:
        """Output activations `(n, n_out)` for `X (n, n_in)`: class probabilities for
        cross_entropy, per-output probabilities for binary_cross_entropy, values for mse.

        In evaluation mode (the default) Dropout is the identity and BatchNorm uses its running
        statistics; `training=True` runs every row as one training batch (batch statistics, the
        dropout masks of the next step) without changing any running statistic."""
        if not isinstance(training, bool | np.bool_):
            raise TypeError(f"training: expected True or False, got {type(training).__name__}")
        return self._core.forward(self._x(X), bool(training))

    def to_onnx(
        self,
        path: str | os.PathLike[str],
        *,
        input_name: str = "X",
        dtype: Any = None,
        fold_batch_norm: bool = True,
    ) -> Any:
        """Writes the network in evaluation mode as an ONNX model (opset 17), atomically, and
        returns it (an `onnx.ModelProto`). Needs the `onnx` package (`pip install
        ferroprop[onnx]`).

        The graph maps `input_name (N, n_in)` (dynamic batch `N`) to `output (N, n_out)`, the
        `forward` outputs, plus `label (N,)` int64, the `predict` class indices, for
        cross_entropy and log_loss. Dropout is left out; BatchNorm uses its running
        statistics, folded into the preceding Dense unless `fold_batch_norm=False` (or there
        is none). The ops per layer are listed in `ferroprop._onnx._graph`.

        Args:
            path: the file to write.
            input_name: the input's name.
            dtype: the graph's float type, float32 or float64; None: the network's.
            fold_batch_norm: fold each BatchNorm into the Dense before it.

        Raises:
            ImportError: onnx is not installed.
            TypeError, ValueError: a bad argument (the message names it).
            OSError: `path` cannot be written (it is left as it was).
        """
        from ._onnx import export_model

        return export_model(self, path, input_name, dtype, fold_batch_norm)

    def predict(self, X: Any) -> np.ndarray:
        """Class indices `(n,)` int64 for cross_entropy; the `forward` outputs otherwise
        (evaluation mode)."""
        return self._core.predict(self._x(X))

    def loss(self, X: Any, y: Any) -> float:
        """The mean loss of `X (n, n_in)` against `y`, in evaluation mode."""
        return self._core.loss(self._x(X), self._y(y))

    def _named_gradients(
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        x, y, w = self._x(X), self._y(y), self._w(sample_weight)
        loss, grads = self._core.gradients(x, y, w)
        return loss, dict(grads)

    # -- training -------------------------------------------------------------------------------

    def step(self, X: Any, y: Any, optimizer: _core.Optimizer) -> float:
        """One optimizer update on the batch `(X, y)` in training mode (BatchNorm's running
        statistics are updated as by a PyTorch training step); returns the batch's loss before
        the update."""
        _check_optimizer(optimizer)
        return self._core.step(self._x(X), self._y(y), optimizer)

    def fit(
        self,
        X: Any,
        y: Any,
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: _core.Optimizer | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        validation_data: tuple[Any, Any] | None = None,
        verbose: bool = False,
        callback: EpochCallback | None = None,
        sample_weight: Any = None,
        *,
        schedule: _core.Schedule | None = None,
        callbacks: Any = None,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        validation_split: float | None = None,
        diagnostics: bool | Thresholds = False,
    ) -> History:
        """Mini-batch training, looped in Rust with the GIL released.

        Each epoch visits every row of `X (n, n_in)` once, in a fresh seeded order when
        `shuffle`; the last partial batch is used. `optimizer` defaults to `SGD(lr=0.01)` and
        keeps its state across calls. `seed=None` draws shuffles from the network's own
        generator (reproducible from its seed); an integer fixes them. Ctrl-C stops between
        batches with the parameters of the last completed step and raises KeyboardInterrupt.
        A non-finite loss raises `DivergenceError` naming the epoch and batch (unless a
        `TerminateOnNaN` callback turns it into a quiet stop). Validation runs in evaluation
        mode. `sample_weight (n,)` weights each row's loss (see `ferroprop.losses`).

        Args:
            schedule: a learning-rate schedule (`ferroprop.schedules`), stepped inside the
                loop per batch or per epoch as PyTorch steps it.
            callbacks: `ferroprop.callbacks` objects or anything with
                `on_epoch_end(epoch, logs)` (epoch 0-based, as Keras; a true return stops),
                called after each epoch.
            callback: the older per-epoch hook `callback(epoch, loss, val_loss,
                val_accuracy, seconds)` (epoch from 1), called after the `verbose` line.
            clip_grad_norm, clip_grad_value: clip the gradients before each update, by their
                global L2 norm or elementwise (`torch.nn.utils.clip_grad_norm_` /
                `clip_grad_value_`); one of them.
            validation_split: validate on this fraction of the rows, the last ones (as Keras),
                and train on the others; not with `validation_data`.
            diagnostics: True (or `ferroprop.diagnostics.Thresholds(...)` to move the
                thresholds) records per-layer diagnostics in `History.diagnostics` and warns
                (`TrainingWarning`, once per kind) of vanishing gradients, dead units, too
                large updates and overfitting.

        Returns:
            The `History`: loss, metrics (accuracy, or mae and r2), their validation twins,
            lr, seconds and diagnostics per epoch.
        """
        optimizer = _core.SGD(lr=0.01) if optimizer is None else optimizer
        _check_optimizer(optimizer)
        epochs = as_count(epochs, "epochs")
        batch_size = as_count(batch_size, "batch_size", 1)
        seed = None if seed is None else as_seed(seed)

        if schedule is not None and not isinstance(schedule, _core.Schedule):
            raise TypeError(
                f"schedule: expected a ferroprop schedule ({', '.join(_core.SCHEDULES)}), "
                f"got {type(schedule).__name__}"
            )
        thresholds = _thresholds(diagnostics)
        X, y, sw = self._x(X), self._y(y), self._w(sample_weight)
        x_val = y_val = None
        if validation_data is not None:
            if validation_split is not None:
                raise ValueError("validation_split, validation_data: give one of them, not both")
            if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
                raise ValueError("validation_data: expected a pair (X_val, y_val)")
            x_val = self._x(validation_data[0], "X_val")
            y_val = self._y(validation_data[1], "y_val")
        elif validation_split is not None:
            cut = _split_point(validation_split, len(X))
            X, x_val, y, y_val = X[:cut], X[cut:], y[:cut], y[cut:]
            sw = None if sw is None else sw[:cut]
        hooks = [_print_epoch(epochs, len(X))] if verbose else []
        if callback is not None:
            if not callable(callback):
                raise TypeError(f"callback: expected a callable, got {type(callback).__name__}")
            hooks.append(_legacy(callback))
        watcher = None if thresholds is None else Watcher(thresholds)
        run = CallbackList(callbacks, self, watcher)
        # The loop calls back from a thread whose stack lacks this caller's line.
        origin = caller()

        def on_epoch(logs: dict[str, Any]) -> bool:
            with attributed_to(origin):
                for hook in hooks:
                    hook(logs)
                return run.epoch_end(logs["epoch"] - 1, logs)

        run.begin()
        try:
            self._core.fit(
                X,
                y,
                epochs,
                batch_size,
                optimizer,
                shuffle=bool(shuffle),
                seed=seed,
                x_val=x_val,
                y_val=y_val,
                on_epoch=on_epoch,
                sample_weight=sw,
                schedule=schedule,
                clip_grad_norm=_optional_float(clip_grad_norm, "clip_grad_norm"),
                clip_grad_value=_optional_float(clip_grad_value, "clip_grad_value"),
                diagnostics=thresholds is not None,
            )
        except _core.DivergenceError as err:
            if not run.divergence(err):
                raise
        run.end()
        return run.history


def _thresholds(diagnostics: Any) -> Thresholds | None:
    """`fit`'s `diagnostics`: None when off, else the warning thresholds."""
    if isinstance(diagnostics, Thresholds):
        return diagnostics
    if isinstance(diagnostics, bool | np.bool_):
        return Thresholds() if diagnostics else None
    raise TypeError(
        "diagnostics: expected True, False or ferroprop.diagnostics.Thresholds(...), "
        f"got {type(diagnostics).__name__}"
    )


def _optional_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def _split_point(fraction: Any, rows: int) -> int:
    """Where `validation_split` cuts `rows` rows: the training rows before, at least one row
    on each side."""
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float | np.floating)
        or not 0.0 < float(fraction) < 1.0
    ):
        raise ValueError(f"validation_split: expected a number in (0, 1), got {fraction!r}")
    cut = rows - int(rows * float(fraction))
    if cut == rows or cut == 0:
        raise ValueError(
            f"validation_split: {fraction} of {rows} rows leaves no rows to "
            f"{'validate on' if cut == rows else 'train on'}"
        )
    return cut


def _legacy(callback: EpochCallback) -> Callable[[dict[str, Any]], None]:
    """The `callback(epoch, loss, val_loss, val_accuracy, seconds)` form, from the logs."""

    def hook(logs: dict[str, Any]) -> None:
        callback(
            logs["epoch"],
            logs["loss"],
            logs.get("val_loss"),
            logs.get("val_accuracy"),
            logs["seconds"],
        )

    return hook


def _entry(value: Any) -> np.ndarray:
    """A `state_dict` value: an array, or a counter as a 0-d int64 array (torch's tensor(n))."""
    return value if isinstance(value, np.ndarray) else np.array(value, dtype=np.int64)


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, _core.Optimizer):
        raise TypeError(
            f"optimizer: expected a ferroprop optimizer ({', '.join(_core.OPTIMIZERS)}), "
            f"got {type(optimizer).__name__}"
        )


def _print_epoch(epochs: int, rows: int) -> Callable[[dict[str, Any]], None]:
    """The `fit(verbose=True)` hook: one line per epoch."""

    def report(logs: dict[str, Any]) -> None:
        parts = [f"epoch {logs['epoch']}/{epochs}", f"loss {logs['loss']:.4f}"]
        for name in ("accuracy", "mae", "r2", "val_loss", "val_accuracy", "val_mae", "val_r2"):
            if name in logs:
                parts.append(f"{name} {logs[name]:.4f}")
        seconds = logs["seconds"]
        parts.append(f"lr {logs['lr']:.3g}")
        parts.append(f"{seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} samples/s)")
        print("  ".join(parts), flush=True)

    return report
