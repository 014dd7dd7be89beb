"""`Network`: a multilayer perceptron whose forward, backward and training loop run in Rust."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core
from ._validation import (
    as_count,
    as_labels,
    as_matrix,
    as_names,
    as_seed,
    as_values,
    as_vector,
)
from .model_files import (
    register,
    reject_extra_tensors,
    require,
    require_list,
    require_widths,
    tensor,
    write_model_file,
)

_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


@dataclasses.dataclass
class History:
    """Per-epoch record of a `fit` call.

    `loss` is the mean training loss (each batch's loss taken before its update);
    `val_loss` and `val_accuracy` are filled when `validation_data` is given (accuracy for the
    cross-entropies only); `seconds` is each epoch's wall time.
    """

    loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_accuracy: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)


def _dtype_name(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError as err:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}") from err
    if name not in _DTYPES:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    return name


class Network:
    """A fully connected network `[n_in, h1, …, n_out]` trained by backpropagation.

    Layer `l` computes `A_l = act(A_{l-1} @ W_l + b_l)` with `W_l` of shape `(fan_in, fan_out)`
    (scikit-learn's `coefs_` layout). The output activation follows the loss: softmax for
    `cross_entropy`, sigmoid for `binary_cross_entropy`, identity for `mse`.

    Args:
        widths: layer widths `[n_in, h1, …, n_out]`, all positive.
        activation: hidden activation, one of identity, relu, leaky_relu, sigmoid (logistic),
            tanh, gelu; or a list with one name per hidden layer.
        loss: `cross_entropy` (targets: class indices `(n,)`), `binary_cross_entropy`
            (targets: 0/1 `(n, n_out)`), `mse`, `huber` or `l1` (targets: `(n, n_out)`, or
            `(n,)` if n_out is 1); or scikit-learn's `log_loss` (class indices),
            `binary_log_loss`, `squared_error` (halved) and `poisson` (exp output), as its
            estimators define them. A name (`ferroprop.losses.NAMES`) or a loss object with
            parameters, e.g. `ferroprop.losses.Huber(delta=0.5)` (see `ferroprop.losses`).
        dtype: `float32` or `float64`; inputs are converted to it.
        init: `glorot` (uniform; scikit-learn's rule) or `he` (Kaiming uniform). Biases start at 0.
        seed: seeds initialisation (and the shuffles of `fit(seed=None)`); same seed, same
            weights on every machine.
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str | Sequence[str] = "relu",
        loss: str | _core.Loss = "cross_entropy",
        dtype: Any = "float32",
        init: str = "glorot",
        seed: int = 0,
    ) -> None:
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence | np.ndarray):
            raise TypeError(f"widths: expected a list of integers, got {widths!r}")
        widths = [as_count(w, "widths", 1) for w in widths]
        if len(widths) < 2:
            raise ValueError(f"widths: expected at least [n_in, n_out], got {widths}")
        for name, value in (("init", init),):
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected a name (str), got {value!r}")
        activations = as_names(activation, len(widths) - 2, "activation")
        name = _dtype_name(dtype)
        self._dtype = _DTYPES[name]
        self._init = init
        self._seed = as_seed(seed)
        self._core = _core.Network(widths, activations, loss, name, init, as_seed(seed))
        self._class_names: list[str] | None = None

    # -- description --------------------------------------------------------------------------

    @property
    def widths(self) -> list[int]:
        """`[n_in, h1, …, n_out]`."""
        return list(self._core.widths)

    @property
    def activations(self) -> list[str]:
        """The hidden activations, one per hidden layer."""
        return list(self._core.activations)

    @property
    def loss_name(self) -> str:
        return self._core.loss_name

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def class_names(self) -> list[str] | None:
        """The class names a model file stored (`save(path, class_names=...)`), one per output
        in class-index order; None when the network was not loaded from a file holding them."""
        return None if self._class_names is None else list(self._class_names)

    def __repr__(self) -> str:
        return (
            f"Network({self.widths}, activation={self.activations}, loss={self.loss_name!r}, "
            f"dtype={self._dtype.name!r})"
        )

    # -- parameters ---------------------------------------------------------------------------

    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of the weight matrices, each `(fan_in, fan_out)`."""
        return self._core.weights()

    @property
    def biases(self) -> list[np.ndarray]:
        """Copies of the bias vectors, each `(fan_out,)`."""
        return self._core.biases()

    def set_parameters(self, weights: Sequence[Any], biases: Sequence[Any]) -> None:
        """Copies in new parameters: `weights[l]` `(fan_in, fan_out)`, `biases[l]` `(fan_out,)`."""
        for name, seq in (("weights", weights), ("biases", biases)):
            if not isinstance(seq, Sequence):
                raise TypeError(f"{name}: expected a list of arrays, got {type(seq).__name__}")
        w = [as_matrix(a, self._dtype, f"weights[{i}]") for i, a in enumerate(weights)]
        b = [as_vector(a, self._dtype, f"biases[{i}]") for i, a in enumerate(biases)]
        self._core.set_parameters(w, b)

    # -- model files ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], class_names: Sequence[str] | None = None) -> None:
        """Writes the network to a safetensors model file, atomically (see `ferroprop.load`).

        The file holds `weights.{l}` and `biases.{l}` and, as metadata, the widths, activations,
        loss, dtype, init, seed and ferroprop version. `ferroprop.load(path)` rebuilds the
        network with bitwise-identical parameters; optimizer state and the position of the
        network's own shuffling generator are not saved (a loaded network restarts it from seed).

        `class_names` (cross_entropy only): one string per output, the name of class index `i`
        at position `i`; stored in the file and exposed as `class_names` after loading. None
        keeps the network's own `class_names` (those of the file it was loaded from, if any).
        """
        names = (
            self._class_names
            if class_names is None
            else _check_class_names(class_names, self.loss_name, self.widths[-1])
        )
        weights, biases = self.weights, self.biases
        tensors: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            tensors[f"weights.{i}"] = w
            tensors[f"biases.{i}"] = b
        config = {
            "widths": self.widths,
            "activations": self.activations,
            "loss": self.loss_name,
            "dtype": self._dtype.name,
            "init": self._init,
            "seed": self._seed,
        }
        spec = self._core.loss_spec
        if spec != _core.make_loss(spec.name):  # parameters off their defaults
            config["loss_params"] = spec.params
        if names is not None:
            config["class_names"] = list(names)
        write_model_file(path, "Network", tensors, config)

    @classmethod
    def _from_model_file(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Network:
        """Rebuilds a saved network from `read_model_file`'s tensors and config, checking every
        field and tensor (shapes against the config, before anything is allocated)."""
        widths = require_widths(config, "widths")
        activations = require_list(config, "activations", str)
        loss = require(config, "loss", str)
        dtype = require(config, "dtype", str)
        init = require(config, "init", str)
        seed = require(config, "seed", int)
        params = require(config, "loss_params", dict) if "loss_params" in config else None
        try:
            loss_spec = _core.make_loss(loss, params)
        except (ValueError, TypeError) as err:
            where = "loss_params" if params and loss in _core.LOSSES else "loss"
            raise ValueError(f"config[{where!r}]: {err}") from err
        if dtype not in _DTYPES:
            raise ValueError(f"config['dtype']: expected 'float32' or 'float64', got {dtype!r}")
        if len(activations) != len(widths) - 2:
            raise ValueError(
                f"config['activations']: expected {len(widths) - 2} names (one per hidden "
                f"layer), got {len(activations)}"
            )
        class_names = None  # absent from files saved without class names
        if "class_names" in config:
            class_names = _check_class_names(
                require_list(config, "class_names", str),
                loss,
                widths[-1],
                "config['class_names']",
            )
        weights, biases, names = [], [], []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            weights.append(tensor(tensors, f"weights.{i}", (fan_in, fan_out), dtype))
            biases.append(tensor(tensors, f"biases.{i}", (fan_out,), dtype))
            names += [f"weights.{i}", f"biases.{i}"]
        reject_extra_tensors(tensors, names)
        net = cls(widths, activation=activations, loss=loss_spec, dtype=dtype, init=init, seed=seed)
        net._class_names = class_names
        net.set_parameters(weights, biases)
        return net

    # -- inference and gradients ----------------------------------------------------------------

    def _x(self, X: Any, name: str = "X") -> np.ndarray:
        return as_matrix(X, self._dtype, name)

    def _y(self, y: Any, name: str = "y") -> np.ndarray:
        if self.loss_name in ("cross_entropy", "log_loss"):
            return as_labels(y, name)
        return as_values(y, self._dtype, self.widths[-1], name)

    def forward(self, X: Any) -> np.ndarray:
        """Output activations `(n, n_out)` for `X (n, n_in)`: class probabilities for
        cross_entropy, per-output probabilities for binary_cross_entropy, values for mse."""
        return self._core.forward(self._x(X))

    def predict(self, X: Any) -> np.ndarray:
        """Class indices `(n,)` int64 for cross_entropy; the `forward` outputs otherwise."""
        return self._core.predict(self._x(X))

    def loss(self, X: Any, y: Any) -> float:
        """The mean loss of `X (n, n_in)` against `y`."""
        return self._core.loss(self._x(X), self._y(y))

    def gradients(
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """`(loss, dW, db)`: the mean loss over all rows (weighted by `sample_weight (n,)`, see
        `ferroprop.losses`) and its gradients, shaped like `weights` and `biases`."""
        return self._core.gradients(self._x(X), self._y(y), self._w(sample_weight))

    def _w(self, w: Any) -> np.ndarray | None:
        return None if w is None else as_vector(w, self._dtype, "sample_weight")

    # -- training -------------------------------------------------------------------------------

    def step(self, X: Any, y: Any, optimizer: _core.Optimizer) -> float:
        """One optimizer update on the batch `(X, y)`; returns the batch's loss before it."""
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
        callback: Callable[[int, float, float | None, float | None, float], None] | None = None,
        sample_weight: Any = None,
    ) -> History:
        """Mini-batch training, looped in Rust with the GIL released.

        Each epoch visits every row of `X (n, n_in)` once, in a fresh seeded order when
        `shuffle`; the last partial batch is used. `optimizer` defaults to `SGD(lr=0.01)` and
        keeps its state across calls. `seed=None` draws shuffles from the network's own
        generator (reproducible from its seed); an integer fixes them. Ctrl-C stops between
        batches with the parameters of the last completed step and raises KeyboardInterrupt.
        A non-finite loss raises `DivergenceError` naming the epoch and batch.
        `callback(epoch, loss, val_loss, val_accuracy, seconds)` is called after each epoch
        (epoch counted from 1; val_* None without validation data), after the `verbose` line.
        `sample_weight (n,)` weights each row's loss (see `ferroprop.losses`).
        """
        optimizer = _core.SGD(lr=0.01) if optimizer is None else optimizer
        _check_optimizer(optimizer)
        epochs = as_count(epochs, "epochs")
        batch_size = as_count(batch_size, "batch_size", 1)
        seed = None if seed is None else as_seed(seed)
        x_val = y_val = None
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
                raise ValueError("validation_data: expected a pair (X_val, y_val)")
            x_val = self._x(validation_data[0], "X_val")
            y_val = self._y(validation_data[1], "y_val")
        X, y = self._x(X), self._y(y)
        report = _print_epoch(epochs, len(X)) if verbose else None
        if callback is not None:
            if not callable(callback):
                raise TypeError(f"callback: expected a callable, got {type(callback).__name__}")
            if report is not None:
                printer, user = report, callback

                def report(*row: Any) -> None:
                    printer(*row)
                    user(*row)

            else:
                report = callback
        sw = self._w(sample_weight)
        rows = self._core.fit(
            X, y, epochs, batch_size, optimizer, bool(shuffle), seed, x_val, y_val, report, None, sw
        )
        hist = History()
        for loss, val_loss, val_acc, seconds in rows:
            hist.loss.append(loss)
            hist.seconds.append(seconds)
            if val_loss is not None:
                hist.val_loss.append(val_loss)
            if val_acc is not None:
                hist.val_accuracy.append(val_acc)
        return hist


def _check_class_names(
    class_names: Any, loss: str, n_out: int, where: str = "class_names"
) -> list[str]:
    """`class_names` as a new list of `n_out` str, for a cross_entropy network only."""
    if loss != "cross_entropy":
        raise ValueError(
            f"{where}: only a cross_entropy network has classes, this one has loss {loss!r}"
        )
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence | np.ndarray):
        raise ValueError(f"{where}: expected a list of str, got {type(class_names).__name__}")
    if isinstance(class_names, np.ndarray) and class_names.ndim != 1:
        raise ValueError(f"{where}: expected a 1-D list of str, got shape {class_names.shape}")
    if len(class_names) != n_out:
        raise ValueError(
            f"{where}: expected {n_out} names (one per output), got {len(class_names)}"
        )
    names = []
    for i, name in enumerate(class_names):
        if not isinstance(name, str):  # np.str_ is a str
            raise ValueError(f"{where}[{i}]: expected str, got {type(name).__name__}")
        names.append(str(name))
    return names


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, _core.Optimizer):
        raise TypeError(
            f"optimizer: expected ferroprop.SGD, Adam or AdamW, got {type(optimizer).__name__}"
        )


def _print_epoch(
    epochs: int, rows: int
) -> Callable[[int, float, float | None, float | None, float], None]:
    """The `fit(verbose=True)` callback: one line per epoch."""

    def report(
        epoch: int, loss: float, val_loss: float | None, val_acc: float | None, seconds: float
    ) -> None:
        parts = [f"epoch {epoch}/{epochs}", f"loss {loss:.4f}"]
        if val_loss is not None:
            parts.append(f"val_loss {val_loss:.4f}")
        if val_acc is not None:
            parts.append(f"val_accuracy {val_acc:.4f}")
        parts.append(f"{seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} samples/s)")
        print("  ".join(parts), flush=True)

    return report


register("Network", Network._from_model_file)
