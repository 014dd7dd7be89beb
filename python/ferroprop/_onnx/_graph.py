"""A core network's layers as ONNX nodes (opset 17), computing what ferroprop computes.

Every table here is keyed by the names `ferroprop._core` exports (`ACTIVATIONS`, `LAYERS`,
`LOSSES`); a test checks that each name `_core` lists has an entry, so a new activation, layer
kind or loss cannot be exported silently wrong.

Ops per layer (float32 / float64; the graph's type is the model's):

- Dense: `MatMul` + `Add` (a BatchNorm right after it folded into its weights and bias).
- Activation: identity (no node), `Relu`, leaky_relu as `LeakyRelu(alpha=0.01)` / in float64
  `Max(z, 0) + 0.01·Min(z, 0)` (the attribute `alpha` is a float32, which would round 0.01),
  `Sigmoid` (sigmoid, logistic; in float64 `1 / (1 + Exp(-z))`, see `sigmoid`), `Tanh`, gelu
  as ferroprop's tanh approximation `0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³)))` from
  `Mul`/`Add`/`Tanh` (opset 17 has no `Gelu`).
- Dropout: no node (the identity in evaluation).
- LayerNorm: `LayerNormalization(axis=-1)` / in float64 composed from `ReduceMean`, `Sub`,
  `Mul`, `Add`, `Sqrt`, `Div` (its `epsilon` attribute is a float32).
- BatchNorm (evaluation form, running statistics): folded into the preceding Dense; else
  `BatchNormalization` / in float64 `γ·((x - μ) / √(σ² + ε)) + β` from `Sub`/`Div`/`Mul`/`Add`
  (again the float32 `epsilon` attribute).
- The loss's output link: `Softmax(axis=1)`, `Sigmoid` (as above), `Identity` or `Exp`.

Constants are initializers of the model's dtype, rounded as ferroprop rounds them (`T::of`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: ONNX opset and IR version of the exported graphs (IR 8 is opset 17's).
OPSET = 17
IR_VERSION = 8

LEAKY_SLOPE = 0.01
GELU_C = 0.7978845608028654  # √(2/π)
GELU_A = 0.044715


class Graph:
    """Nodes and initializers under construction, every tensor of one float dtype.

    Args:
        onnx: the `onnx` module (imported by the caller: an optional dependency).
        dtype: float32 or float64, the type of every float tensor.
    """

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"_{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c", dtype: Any = None) -> str:
        """An initializer holding `value` (in the graph's dtype unless `dtype` is given)."""
        name = self._name(hint)
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        """Appends `op(inputs)`; returns its output's name (`output`, or a fresh one)."""
        out = output if output is not None else self._name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], **attrs))
        return out

    @property
    def names(self) -> set[str]:
        """Every tensor name the graph defines."""
        return {n for node in self.nodes for n in node.output} | {
            init.name for init in self.initializers
        }

    def is_double(self) -> bool:
        return self.dtype == np.float64


# -- activations --------------------------------------------------------------------------------


def _leaky_relu(g: Graph, x: str) -> str:
    if not g.is_double():
        return g.node("LeakyRelu", [x], alpha=LEAKY_SLOPE)
    zero = g.const(0.0, "zero")
    pos = g.node("Max", [x, zero])
    neg = g.node("Mul", [g.node("Min", [x, zero]), g.const(LEAKY_SLOPE, "slope")])
    return g.node("Add", [pos, neg])


def sigmoid(g: Graph, x: str, output: str | None = None) -> str:
    """`Sigmoid`; in float64 `1 / (1 + exp(-x))` as the engine computes it (onnxruntime's
    double `Sigmoid` is accurate to 2e-16 absolute only: below ~1e-16 it returns 0)."""
    if not g.is_double():
        return g.node("Sigmoid", [x], output)
    e = g.node("Exp", [g.node("Neg", [x])])
    return g.node("Div", [g.const(1.0, "one"), g.node("Add", [g.const(1.0, "one"), e])], output)


def _gelu(g: Graph, x: str) -> str:
    # In ferroprop's order: u = C·(z + ((A·z)·z)·z), 0.5·z·(1 + tanh u).
    cube = g.node("Mul", [g.node("Mul", [g.node("Mul", [g.const(GELU_A, "gelu_a"), x]), x]), x])
    u = g.node("Mul", [g.const(GELU_C, "gelu_c"), g.node("Add", [x, cube])])
    one_plus = g.node("Add", [g.const(1.0, "one"), g.node("Tanh", [u])])
    return g.node("Mul", [g.node("Mul", [g.const(0.5, "half"), x]), one_plus])


#: Activation name (`_core.ACTIVATIONS`, aliases included) → its nodes.
ACTIVATIONS: dict[str, Callable[[Graph, str], str]] = {
    "identity": lambda g, x: x,
    "relu": lambda g, x: g.node("Relu", [x]),
    "leaky_relu": _leaky_relu,
    "sigmoid": sigmoid,
    "logistic": sigmoid,
    "tanh": lambda g, x: g.node("Tanh", [x]),
    "gelu": _gelu,
}

#: Loss name (`_core.LOSSES`) → its output link, an ONNX op applied to the logits.
LOSS_LINKS: dict[str, str] = {
    "cross_entropy": "Softmax",
    "log_loss": "Softmax",
    "binary_cross_entropy": "Sigmoid",
    "binary_log_loss": "Sigmoid",
    "mse": "Identity",
    "squared_error": "Identity",
    "huber": "Identity",
    "l1": "Identity",
    "poisson": "Exp",
}


def link(g: Graph, loss: str, x: str, output: str | None = None) -> str:
    """The output link of `loss` applied to the logits `x`."""
    op = LOSS_LINKS.get(loss)
    if op is None:
        raise ValueError(f"loss: no ONNX export for the loss {loss!r}")
    if op == "Sigmoid":
        return sigmoid(g, x, output)
    attrs = {"axis": 1} if op == "Softmax" else {}
    return g.node(op, [x], output, **attrs)


# -- layers -------------------------------------------------------------------------------------


def _dense(g: Graph, x: str, state: dict[str, np.ndarray], key: str, bn: Any) -> str:
    """`x·W + b`; with `bn = (layer, key)` of a following BatchNorm, that folded in."""
    w = np.asarray(state[f"{key}.weight"], dtype=np.float64).T
    b = np.asarray(state[f"{key}.bias"], dtype=np.float64)
    if bn is not None:
        layer, bkey = bn
        gamma, beta, mean, var = (
            np.asarray(state[f"{bkey}.{name}"], dtype=np.float64)
            for name in ("weight", "bias", "running_mean", "running_var")
        )
        scale = gamma / np.sqrt(var + layer.eps)
        w = w * scale
        b = (b - mean) * scale + beta
    return g.node("Add", [g.node("MatMul", [x, g.const(w, "W")]), g.const(b, "b")])


def _layer_norm(g: Graph, x: str, layer: Any, state: dict[str, np.ndarray], key: str) -> str:
    gamma, beta = g.const(state[f"{key}.weight"], "gamma"), g.const(state[f"{key}.bias"], "beta")
    if not g.is_double():
        return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=layer.eps)
    mean = g.node("ReduceMean", [x], axes=[-1], keepdims=1)
    d = g.node("Sub", [x, mean])
    var = g.node("ReduceMean", [g.node("Mul", [d, d])], axes=[-1], keepdims=1)
    std = g.node("Sqrt", [g.node("Add", [var, g.const(layer.eps, "eps")])])
    xhat = g.node("Mul", [d, g.node("Div", [g.const(1.0, "one"), std])])
    return g.node("Add", [g.node("Mul", [gamma, xhat]), beta])


def _batch_norm(g: Graph, x: str, layer: Any, state: dict[str, np.ndarray], key: str) -> str:
    mean, var = state[f"{key}.running_mean"], state[f"{key}.running_var"]
    gamma, beta = g.const(state[f"{key}.weight"], "gamma"), g.const(state[f"{key}.bias"], "beta")
    if not g.is_double():
        inputs = [x, gamma, beta, g.const(mean, "mean"), g.const(var, "var")]
        return g.node("BatchNormalization", inputs, epsilon=layer.eps)
    # As the engine: γ·((x - μ) / √(σ² + ε)) + β, with √(σ² + ε) correctly rounded here.
    std = np.sqrt(var + np.asarray(layer.eps, dtype=var.dtype))
    q = g.node("Div", [g.node("Sub", [x, g.const(mean, "mean")]), g.const(std, "std")])
    return g.node("Add", [g.node("Mul", [gamma, q]), beta])


#: Layer kinds (`_core.LAYERS`) → how they are exported (Dense handled by `layers` itself).
LAYERS: dict[str, Callable[..., str] | None] = {
    "Dense": None,
    "Activation": None,
    "Dropout": None,
    "LayerNorm": _layer_norm,
    "BatchNorm": _batch_norm,
}


def layers(g: Graph, x: str, net: Any, fold_batch_norm: bool = True) -> str:
    """The nodes of every layer of the core network `net` applied to `x`; returns the logits.

    Raises:
        ValueError: a layer kind or activation without an ONNX export.
    """
    state = {k: v for k, v in net.state_dict() if isinstance(v, np.ndarray)}
    state = {k: v.astype(g.dtype) if v.dtype.kind == "f" else v for k, v in state.items()}
    stack = list(net.layers)
    i = 0
    while i < len(stack):
        layer, kind = stack[i], stack[i].kind
        if kind not in LAYERS:
            raise ValueError(f"layers[{i}]: no ONNX export for the layer kind {kind!r}")
        if kind == "Dense":
            nxt = stack[i + 1] if i + 1 < len(stack) else None
            bn = None
            if fold_batch_norm and nxt is not None and nxt.kind == "BatchNorm":
                bn = (nxt, str(i + 1))
            x = _dense(g, x, state, str(i), bn)
            i += 2 if bn is not None else 1
            continue
        if kind == "Activation":
            act = ACTIVATIONS.get(layer.name)
            if act is None:
                raise ValueError(f"layers[{i}]: no ONNX export for the activation {layer.name!r}")
            x = act(g, x)
        elif kind != "Dropout":
            export = LAYERS[kind]
            assert export is not None
            x = export(g, x, layer, state, str(i))
        i += 1
    return x
