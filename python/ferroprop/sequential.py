"""`Sequential`: a stack of layers (`ferroprop.layers`), like `torch.nn.Sequential`, trained by
the Rust engine."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._model import _DTYPES, Model, dtype_name
from ._validation import as_count, as_seed
from .model_files import (
    MAX_PARAMETERS,
    register,
    reject_extra_tensors,
    require,
    tensor,
    write_model_file,
)

__all__ = ["Sequential"]


class Sequential(Model):
    """A network made of `layers`, applied in order to inputs of `input_dim` features.

    >>> from ferroprop import layers as L
    >>> net = Sequential([L.Dense(64), L.BatchNorm(), L.Activation("relu"), L.Dropout(0.2),
    ...                   L.Dense(10)], input_dim=784, loss="cross_entropy")

    Each layer behaves as its PyTorch counterpart (Dense ↔ `nn.Linear`, Activation ↔
    `nn.ReLU`/…, Dropout ↔ `nn.Dropout`, LayerNorm ↔ `nn.LayerNorm`, BatchNorm ↔
    `nn.BatchNorm1d`), and `state_dict()` has the names and layouts of a `torch.nn.Sequential`
    built from the same list. The last layer must be a Dense: its outputs are the logits, which
    the loss turns into predictions (softmax for cross_entropy, sigmoid for
    binary_cross_entropy, identity for mse, …).

    Args:
        layers: the layers, a non-empty list ending in a Dense.
        input_dim: features per input row.
        loss: the loss's name (as `Network`).
        dtype: `float32` or `float64`.
        seed: seeds the initial weights (Dense layers, in order, as `Network` draws them) and the
            dropout masks.

    Raises:
        TypeError: `layers` is not a list of layers.
        ValueError: an empty list, one not ending in a Dense, an unknown loss or dtype.
    """

    def __init__(
        self,
        layers: Sequence[_core.Layer],
        input_dim: int,
        loss: str = "cross_entropy",
        dtype: Any = "float32",
        seed: int = 0,
    ) -> None:
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
            raise TypeError(f"layers: expected a list of layers, got {type(layers).__name__}")
        if not isinstance(loss, str):
            raise TypeError(f"loss: expected a name (str), got {loss!r}")
        input_dim = as_count(input_dim, "input_dim", 1)
        name = dtype_name(dtype)
        self._dtype = _DTYPES[name]
        self._seed = as_seed(seed)
        self._core = _core.Network.stack(list(layers), input_dim, loss, name, self._seed)

    @property
    def input_dim(self) -> int:
        return self._core.widths[0]

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return (
            f"Sequential([{inner}], input_dim={self.input_dim}, loss={self.loss_name!r}, "
            f"dtype={self._dtype.name!r})"
        )

    def __len__(self) -> int:
        return len(self._core.layers)

    def gradients(
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """`(loss, grads)`: the mean loss over all rows of `X` as one training batch, and its
        gradient with respect to every trainable tensor, keyed and laid out like the trainable
        entries of `state_dict()`. Running statistics are left unchanged; the dropout masks are
        those of the next training step (two calls see the same). `sample_weight (n,)` weights
        each row's loss (see `ferroprop.losses`)."""
        return self._named_gradients(X, y, sample_weight)

    # -- model files ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the stack to a safetensors model file, atomically: every `state_dict()` entry
        (buffers included) as a tensor, the layers, loss, dtype, seed and training step count as
        metadata. `ferroprop.load(path)` rebuilds it with bitwise-identical tensors."""
        config = {
            "input_dim": self.input_dim,
            "layers": [_layer_config(layer) for layer in self.layers],
            "loss": self.loss_name,
            "dtype": self._dtype.name,
            "seed": self._seed,
            "training_steps": self.training_steps,
        }
        write_model_file(path, "Sequential", self.state_dict(), config)

    @classmethod
    def _from_model_file(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Sequential:
        """Rebuilds a saved stack, checking every field and tensor."""
        layers_config = require(config, "layers", list)
        layers = [_layer_from_config(c, i) for i, c in enumerate(layers_config)]
        _check_size(layers, require(config, "input_dim", int))
        dtype = require(config, "dtype", str)
        if dtype not in _DTYPES:
            raise ValueError(f"config['dtype']: expected 'float32' or 'float64', got {dtype!r}")
        net = cls(
            layers,
            input_dim=require(config, "input_dim", int),
            loss=require(config, "loss", str),
            dtype=dtype,
            seed=require(config, "seed", int),
        )
        state = {}
        for key, value in net.state_dict().items():
            want = "int64" if value.dtype.kind == "i" else dtype
            state[key] = tensor(tensors, key, value.shape, want)
        reject_extra_tensors(tensors, list(state))
        net.load_state_dict(state)
        steps = require(config, "training_steps", int)
        net._core.training_steps = as_count(steps, "config['training_steps']")
        return net


def _check_size(layers: list[_core.Layer], input_dim: int) -> None:
    """Refuses, before anything is allocated, a file describing more than `MAX_PARAMETERS`."""
    width, total = input_dim, 0
    for layer in layers:
        if isinstance(layer, _core.Dense):
            total += width * layer.units + layer.units
            width = layer.units
    if total > MAX_PARAMETERS:
        raise ValueError(
            f"config['layers']: {total} parameters exceed the limit of {MAX_PARAMETERS}"
        )


def _layer_config(layer: _core.Layer) -> dict[str, Any]:
    """A layer as JSON: its kind and constructor arguments."""
    cls, args = layer.__reduce__()
    return {"kind": layer.kind, "args": list(args)}


def _layer_from_config(config: Any, i: int) -> _core.Layer:
    where = f"config['layers'][{i}]"
    if not isinstance(config, dict) or set(config) != {"kind", "args"}:
        raise ValueError(f"{where}: expected {{'kind': ..., 'args': [...]}}, got {config!r}")
    kind, args = config["kind"], config["args"]
    if kind not in _core.LAYERS or not isinstance(args, list):
        raise ValueError(f"{where}: unknown layer {kind!r}; expected one of {_core.LAYERS}")
    if not all(isinstance(a, int | float | str) and not isinstance(a, bool) for a in args):
        raise ValueError(f"{where}: arguments must be numbers or names, got {args!r}")
    try:
        return getattr(_core, kind)(*args)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from err


register("Sequential", Sequential._from_model_file)
