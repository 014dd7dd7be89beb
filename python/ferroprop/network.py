"""`Network`: a multilayer perceptron whose forward, backward and training loop run in Rust."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._model import _DTYPES, History, Model, dtype_name
from ._validation import as_count, as_matrix, as_names, as_seed, as_vector
from .model_files import (
    register,
    reject_extra_tensors,
    require,
    require_list,
    require_widths,
    tensor,
    write_model_file,
)
from .preprocessing import TablePreprocessor
from .preprocessing_state import TENSORS as PREPROCESSING_TENSORS

__all__ = ["History", "Network"]

#: `normalization=` values and the layer each inserts after every hidden Dense.
NORMALIZATIONS = {"layer": _core.LayerNorm, "batch": _core.BatchNorm}


class Network(Model):
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
        seed: seeds initialisation, dropout masks and the shuffles of `fit(seed=None)`; same
            seed, same weights on every machine.
        dropout: a `Dropout(dropout)` after every hidden activation (0: none).
        normalization: None, "layer" or "batch": a `LayerNorm()` or `BatchNorm()` between every
            hidden Dense and its activation.

    The network is the stack `Dense, [norm], Activation, [Dropout]` per hidden layer, then a
    Dense (see `layers` and `state_dict()`); with the defaults, `[Dense, Activation] * n, Dense`.
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str | Sequence[str] = "relu",
        loss: str | _core.Loss = "cross_entropy",
        dtype: Any = "float32",
        init: str = "glorot",
        seed: int = 0,
        dropout: float = 0.0,
        normalization: str | None = None,
    ) -> None:
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence | np.ndarray):
            raise TypeError(f"widths: expected a list of integers, got {widths!r}")
        widths = [as_count(w, "widths", 1) for w in widths]
        if len(widths) < 2:
            raise ValueError(f"widths: expected at least [n_in, n_out], got {widths}")
        for name, value in (("init", init),):
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected a name (str), got {value!r}")
        if normalization is not None and normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization: expected None, 'layer' or 'batch', got {normalization!r}"
            )
        activations = as_names(activation, len(widths) - 2, "activation")
        name = dtype_name(dtype)
        self._dtype = _DTYPES[name]
        self._init = init
        self._seed = as_seed(seed)
        self._dropout = float(_core.Dropout(dropout).p) if dropout != 0.0 else 0.0
        self._normalization = normalization
        if self._dropout == 0.0 and normalization is None:
            self._core = _core.Network(widths, activations, loss, name, init, self._seed)
        else:
            layers = _stack(widths, activations, init, self._dropout, normalization)
            self._core = _core.Network.stack(layers, widths[0], loss, name, self._seed)
        self._class_names: list[str] | None = None
        self._preprocessing: TablePreprocessor | None = None

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
    def class_names(self) -> list[str] | None:
        """The class names a model file stored (`save(path, class_names=...)`), one per output
        in class-index order; None when the network was not loaded from a file holding them."""
        return None if self._class_names is None else list(self._class_names)

    @property
    def preprocessing(self) -> TablePreprocessor | None:
        """The table preprocessing a model file stored (`save(path, preprocessing=...)`, as
        `ferroprop train --data` does): `net.predict(net.preprocessing.transform(columns))`
        predicts from raw columns. None when the file held none."""
        return self._preprocessing

    @property
    def dropout(self) -> float:
        return self._dropout

    @property
    def normalization(self) -> str | None:
        return self._normalization

    def __repr__(self) -> str:
        extra = ""
        if self._dropout:
            extra += f", dropout={self._dropout!r}"
        if self._normalization is not None:
            extra += f", normalization={self._normalization!r}"
        return (
            f"Network({self.widths}, activation={self.activations}, loss={self.loss_name!r}, "
            f"dtype={self._dtype.name!r}{extra})"
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

    def save(
        self,
        path: str | os.PathLike[str],
        class_names: Sequence[str] | None = None,
        preprocessing: TablePreprocessor | None = None,
    ) -> None:
        """Writes the network to a safetensors model file, atomically (see `ferroprop.load`).

        The file holds `weights.{l}` and `biases.{l}` and, as metadata, the widths, activations,
        loss, dtype, init, seed and ferroprop version. `ferroprop.load(path)` rebuilds the
        network with bitwise-identical parameters; optimizer state and the position of the
        network's own shuffling generator are not saved (a loaded network restarts it from seed).

        `class_names` (cross_entropy only): one string per output, the name of class index `i`
        at position `i`; stored in the file and exposed as `class_names` after loading. None
        keeps the network's own `class_names` (those of the file it was loaded from, if any).

        `preprocessing`: a fitted `ferroprop.preprocessing.TablePreprocessor` producing the
        network's inputs, stored as `preprocessing.*` tensors and a `preprocessing` JSON entry
        and exposed as `preprocessing` after loading. None keeps the network's own.
        """
        prep = self._preprocessing if preprocessing is None else preprocessing
        if prep is not None and (
            not isinstance(prep, TablePreprocessor) or prep.n_features != self.widths[0]
        ):
            raise ValueError(
                "preprocessing: expected a fitted TablePreprocessor giving "
                f"{self.widths[0]} features, got {prep!r}"
            )
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
        # The normalisation layers' tensors under their state_dict names.
        tensors.update(self._norm_entries())
        config: dict[str, Any] = {
            "widths": self.widths,
            "activations": self.activations,
            "loss": self.loss_name,
            "dtype": self._dtype.name,
            "init": self._init,
            "seed": self._seed,
            "training_steps": self.training_steps,
        }
        if self._dropout:
            config["dropout"] = self._dropout
        if self._normalization is not None:
            config["normalization"] = self._normalization
        spec = self._core.loss_spec
        if spec != _core.make_loss(spec.name):  # parameters off their defaults
            config["loss_params"] = spec.params
        if names is not None:
            config["class_names"] = list(names)
        if prep is not None:
            prep_tensors, config["preprocessing"] = prep.to_state()
            tensors.update(prep_tensors)
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
        # Absent from files written before these options existed.
        dropout = require(config, "dropout", float) if "dropout" in config else 0.0
        normalization = None
        if "normalization" in config:
            normalization = require(config, "normalization", str)
        steps = require(config, "training_steps", int) if "training_steps" in config else 0
        weights, biases, names = [], [], []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            weights.append(tensor(tensors, f"weights.{i}", (fan_in, fan_out), dtype))
            biases.append(tensor(tensors, f"biases.{i}", (fan_out,), dtype))
            names += [f"weights.{i}", f"biases.{i}"]
        net = cls(
            widths,
            activation=activations,
            loss=loss_spec,
            dtype=dtype,
            init=init,
            seed=seed,
            dropout=dropout,
            normalization=normalization,
        )
        state = {}
        for key, value in net._norm_entries().items():
            want = "int64" if value.dtype.kind == "i" else dtype
            state[key] = tensor(tensors, key, value.shape, want)
            names.append(key)
        preprocessing = None  # absent from files saved without it
        if "preprocessing" in config:
            preprocessing = TablePreprocessor.from_state(
                tensors, config["preprocessing"], n_features=widths[0]
            )
            names += PREPROCESSING_TENSORS
        reject_extra_tensors(tensors, names)
        net._class_names = class_names
        net._preprocessing = preprocessing
        net.set_parameters(weights, biases)
        if state:
            full = net.state_dict()
            full.update(state)
            net.load_state_dict(full)
        net._core.training_steps = as_count(steps, "config['training_steps']")
        return net

    def _norm_entries(self) -> dict[str, np.ndarray]:
        """The `state_dict()` entries of the normalisation layers (those a model file stores
        beside `weights.{l}` and `biases.{l}`)."""
        dense = {str(i) for i, layer in enumerate(self._core.layers) if layer.kind == "Dense"}
        return {k: v for k, v in self.state_dict().items() if k.split(".")[0] not in dense}

    # -- gradients ------------------------------------------------------------------------------

    def gradients(
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """`(loss, dW, db)`: the mean loss over all rows in training mode (weighted by
        `sample_weight (n,)`, see `ferroprop.losses`) and its gradients, shaped like `weights`
        and `biases`. `named_gradients` gives every parameter's."""
        x, y, w = self._x(X), self._y(y), self._w(sample_weight)
        loss, (dw, db) = self._core.dense_gradients(x, y, w)
        return loss, dw, db

    def named_gradients(
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """`(loss, grads)` with `grads` keyed and laid out like the trainable entries of
        `state_dict()` (normalisation layers included)."""
        return self._named_gradients(X, y, sample_weight)


def _stack(
    widths: list[int],
    activations: list[str],
    init: str,
    dropout: float,
    normalization: str | None,
) -> list[_core.Layer]:
    """`Dense, [norm], Activation, [Dropout]` per hidden layer, then the output Dense."""
    hidden = activations * (len(widths) - 2) if len(activations) == 1 else activations
    layers: list[_core.Layer] = []
    for units, act in zip(widths[1:-1], hidden, strict=True):
        layers.append(_core.Dense(units, init))
        if normalization is not None:
            layers.append(NORMALIZATIONS[normalization]())
        layers.append(_core.Activation(act))
        if dropout:
            layers.append(_core.Dropout(dropout))
    layers.append(_core.Dense(widths[-1], init))
    return layers


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


register("Network", Network._from_model_file)
