"""`net.graph()`: the computational graph of one training step, as Graphviz DOT (or SVG).

Nodes, for a stack of `L` layers — `2·L + 3` in all:

- `x`: the input batch X `(B, n_in)`;
- `f{i}`, one per layer: its forward op (Dense: "matmul + bias" with W `(in, out)` in the
  math layout `Z = X·W + b`; `state_dict` stores torch's `(out, in)`), in stack order;
- `loss`: the loss's forward (the output activation it implies and the reduction);
- `dloss`: the loss's backward, `∂L/∂Z` of the last layer's output;
- `b{i}`, one per layer: the backward node the chain rule creates, with the parameter gradients
  it produces and their shapes (`dW (in, out)`, `db (out,)`, `dγ`, `dβ`); the first layer's
  computes no input gradient (nothing below needs it), as the engine runs it.

Edges — `3·L + 2` in all, each labelled with the shape of the tensor it carries (`B` the batch
size): `x → f0`, `f{i} → f{i+1}`, `f{L-1} → loss` (activations); `loss → dloss` (the scalar
loss, `()`); `dloss → b{L-1}`, `b{i} → b{i-1}` (gradients, red); and `f{i} → b{i}` (dashed:
what layer `i` saves for its backward — a Dense its input, the others their output or `x̂`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from . import _core
from ._atomic_write import atomic_write

__all__ = ["FORMATS", "graph"]

#: `graph(format=...)` values.
FORMATS = ("dot", "svg")

# The loss's forward and backward (∂L/∂Z, unweighted) by name; unknown names get a generic one.
_LOSS_OPS = {
    "cross_entropy": ("softmax + NLL, mean over B", "dZ = (softmax(Z) − onehot(y)) / B"),
    "log_loss": ("softmax + log loss, mean over B", "dZ = (softmax(Z) − onehot(y)) / B"),
    "binary_cross_entropy": ("sigmoid + BCE, mean over B·K", "dZ = (σ(Z) − y) / (B·K)"),
    "binary_log_loss": ("sigmoid + log loss, Σ outputs, mean over B", "dZ = (σ(Z) − y) / B"),
    "mse": ("mean (Z − y)² over B·K", "dZ = 2·(Z − y) / (B·K)"),
    "squared_error": ("½ (Z − y)², mean over B and K", "dZ = (Z − y) / B"),
    "poisson": ("exp(Z) − y·Z (half deviance), Σ outputs", "dZ = (exp(Z) − y) / B"),
    "huber": ("Huber(Z − y; δ), mean over B·K", "dZ = clip(Z − y, −δ, δ) / (B·K)"),
    "l1": ("|Z − y|, mean over B·K", "dZ = sign(Z − y) / (B·K)"),
}


def graph(
    core: _core.Network, format: str = "dot", path: str | os.PathLike[str] | None = None
) -> str:
    """The graph of one training step of `core` (see the module docstring).

    Args:
        core: the engine network.
        format: "dot" (Graphviz source) or "svg" (rendered by the `dot` program).
        path: if given, the output is also written there, atomically.

    Returns:
        The DOT or SVG text.

    Raises:
        TypeError: `core` is not a `_core.Network`, or `path` is not a path.
        ValueError: an unknown `format`.
        RuntimeError: `format="svg"` and the `dot` program is missing or fails.
        OSError: writing `path` failed (nothing is left behind).
    """
    if not isinstance(core, _core.Network):
        raise TypeError(f"core: expected a ferroprop._core.Network, got {type(core).__name__}")
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    text = to_dot(core)
    if format == "svg":
        text = _render_svg(text)
    if path is not None:
        atomic_write(os.fspath(path), text.encode("utf-8"))
    return text


def to_dot(core: _core.Network) -> str:
    """The DOT source of `core`'s training-step graph."""
    rows = core.summary_rows()
    layers = core.layers
    loss = core.loss_name
    n = len(layers)
    out = [
        "digraph training_step {",
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    out.append(_node("x", f"X (B, {core.widths[0]})", "shape=ellipse"))
    for (i, _kind, fan_in, width, *_), layer in zip(rows, layers, strict=True):
        fwd, bwd = _layer_ops(layer, i, fan_in, width)
        out.append(_node(f"f{i}", fwd))
        out.append(_node(f"b{i}", bwd, "color=red"))
    fwd_loss, bwd_loss = _LOSS_OPS.get(loss, (loss, "dZ = ∂L/∂Z"))
    out.append(_node("loss", f"loss: {loss}\n{fwd_loss}", "shape=octagon"))
    out.append(_node("dloss", f"∂ loss: {loss}\n{bwd_loss}", "color=red"))
    widths = [r[3] for r in rows]
    out.append(_edge("x", "f0", f"(B, {core.widths[0]})"))
    for i in range(1, n):
        out.append(_edge(f"f{i - 1}", f"f{i}", f"(B, {widths[i - 1]})"))
    out.append(_edge(f"f{n - 1}", "loss", f"(B, {widths[-1]})"))
    out.append(_edge("loss", "dloss", "()"))
    out.append(_edge("dloss", f"b{n - 1}", f"(B, {widths[-1]})", "color=red"))
    for i in range(n - 1, 0, -1):
        out.append(_edge(f"b{i}", f"b{i - 1}", f"(B, {widths[i - 1]})", "color=red"))
    for i, kind, fan_in, width, *_ in rows:
        saved = fan_in if kind == "Dense" else width
        out.append(_edge(f"f{i}", f"b{i}", f"(B, {saved})", "style=dashed"))
    out.append("}")
    return "\n".join(out) + "\n"


def _layer_ops(layer: _core.Layer, i: int, fan_in: int, width: int) -> tuple[str, str]:
    """The forward and backward labels of layer `i`."""
    kind = layer.kind
    head = f"{kind} {i}"
    dx = i > 0  # the first layer's backward computes no input gradient
    if isinstance(layer, _core.Dense):
        fwd = f"{head}: matmul + bias\nZ = X·W + b, W ({fan_in}, {width})"
        grads = f"dW = Xᵀ·dZ ({fan_in}, {width}), db = Σ dZ ({width},)"
        bwd = f"∂ {head}: " + ("dX = dZ·Wᵀ\n" if dx else "") + grads
    elif isinstance(layer, _core.Activation):
        fwd = f"{head}: {layer.name}"
        bwd = f"∂ {head}: dX = dA ⊙ {layer.name}′(X)" if dx else f"∂ {head}: (no dX)"
    elif isinstance(layer, _core.Dropout):
        fwd = f"{head}: p={layer.p:g}\nY = X ⊙ mask / (1 − p)"
        bwd = f"∂ {head}: dX = dY ⊙ mask / (1 − p)" if dx else f"∂ {head}: (no dX)"
    elif isinstance(layer, _core.LayerNorm | _core.BatchNorm):
        over = "row (features)" if isinstance(layer, _core.LayerNorm) else "column (batch)"
        fwd = f"{head}: normalise each {over}\nY = γ ⊙ x̂ + β, γ ({width},), β ({width},)"
        grads = f"dγ = Σ dY ⊙ x̂ ({width},), dβ = Σ dY ({width},)"
        bwd = f"∂ {head}: " + ("dX = r·(g − mean g − x̂·mean(g ⊙ x̂))\n" if dx else "") + grads
    else:  # a layer kind this module does not know yet: its kind and repr
        fwd, bwd = f"{head}: {layer!r}", f"∂ {head}"
    return fwd, bwd


def _node(name: str, label: str, style: str = "") -> str:
    extra = f", {style}" if style else ""
    return f'  {name} [label="{_esc(label)}"{extra}];'


def _edge(a: str, b: str, shape: str, style: str = "") -> str:
    extra = f", {style}" if style else ""
    return f'  {a} -> {b} [label="{_esc(shape)}"{extra}];'


def _esc(text: str) -> str:
    """`text` inside a DOT double-quoted string (newlines as centred line breaks)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render_svg(dot: str) -> str:
    """`dot` rendered to SVG by Graphviz's `dot -Tsvg`."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            "graph(format='svg') needs Graphviz's `dot` program, which is not on PATH: "
            "install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz` or "
            "`conda install graphviz`), or use format='dot'"
        )
    result: Any = subprocess.run(
        [exe, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, timeout=60, check=False
    )
    if result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"graph: `dot -Tsvg` failed (exit {result.returncode}): {err}")
    return result.stdout.decode("utf-8")
