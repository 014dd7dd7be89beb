"""ONNX export of ferroprop's models (`Network.to_onnx`, `Sequential.to_onnx`, the estimators'
`to_onnx`): opset 17 graphs, built and checked with the `onnx` package (optional:
`pip install ferroprop[onnx]`), imported only when a model is exported.

`_graph` turns a core network's layers into nodes; `_estimator` adds skl2onnx's output contract
for `MLPClassifier` / `MLPRegressor`. The graph's float type is the model's dtype (or the one
asked for), its input `X` by default with a dynamic batch dimension `N`.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

from .. import __version__
from .._atomic_write import atomic_write
from .._model import dtype_name
from ._graph import IR_VERSION, OPSET, Graph, layers, link

__all__ = ["OPSET", "export_estimator", "export_model", "require_onnx"]

#: The forward output's name, and the class index output's (softmax losses).
OUTPUT, LABEL = "output", "label"


def require_onnx() -> ModuleType:
    """The `onnx` module.

    Raises:
        ImportError: onnx is not installed (the message says how to install it).
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError(
            "exporting to ONNX needs the onnx package: pip install ferroprop[onnx] "
            "(or pip install onnx)"
        ) from err
    return onnx


def check_options(path: Any, input_name: Any, dtype: Any, model_dtype: np.dtype) -> np.dtype:
    """Checks `to_onnx`'s common arguments; returns the graph's dtype.

    Raises:
        TypeError: `path` is not a str or path, `input_name` not a str.
        ValueError: `path` exists and is not a regular file (a directory, a device), an
            empty `input_name`, a `dtype` other than float32/float64.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    if os.path.exists(path) and not os.path.isfile(path):
        # The file is replaced by a rename: that would turn /dev/null into a regular file.
        raise ValueError(f"path: {os.fsdecode(os.fspath(path))!r} exists and is not a regular file")
    if not isinstance(input_name, str):
        raise TypeError(f"input_name: expected a str, got {type(input_name).__name__}")
    if not input_name:
        raise ValueError("input_name: expected a non-empty name, got ''")
    return model_dtype if dtype is None else np.dtype(dtype_name(dtype))


def finish(
    g: Graph,
    input_name: str,
    n_in: int,
    outputs: list[tuple[str, int, list[Any]]],
    path: str | os.PathLike[str],
    doc: str,
) -> Any:
    """Wraps `g` into a model with input `input_name (N, n_in)` and `outputs`
    `(name, elem_type, shape)`, checks it with `onnx.checker.check_model`, writes it to `path`
    atomically and returns it.

    Raises:
        ValueError: `input_name` is also the name of a tensor of the graph.
        OSError: the file cannot be written (`path` is left as it was).
    """
    onnx = g.onnx
    helper = onnx.helper
    if input_name in g.names:
        taken = sorted(name for name, _, _ in outputs)
        raise ValueError(f"input_name: {input_name!r} is taken (the outputs are {taken})")
    graph = helper.make_graph(
        g.nodes,
        "ferroprop",
        [helper.make_tensor_value_info(input_name, g.elem_type, ["N", n_in])],
        [helper.make_tensor_value_info(name, t, shape) for name, t, shape in outputs],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="ferroprop",
        producer_version=__version__,
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    atomic_write(os.fsdecode(os.fspath(path)), model.SerializeToString())
    return model


def export_model(
    model: Any,
    path: str | os.PathLike[str],
    input_name: str = "X",
    dtype: Any = None,
    fold_batch_norm: bool = True,
) -> Any:
    """`Network.to_onnx` / `Sequential.to_onnx` (see there)."""
    onnx = require_onnx()
    graph_dtype = check_options(path, input_name, dtype, model.dtype)
    if not isinstance(fold_batch_norm, bool | np.bool_):
        raise TypeError(
            f"fold_batch_norm: expected True or False, got {type(fold_batch_norm).__name__}"
        )
    net = model._core
    g = Graph(onnx, graph_dtype)
    logits = layers(g, input_name, net, bool(fold_batch_norm))
    probs = link(g, net.loss_name, logits, OUTPUT)
    n_in, n_out = net.widths[0], net.widths[-1]
    outputs = [(OUTPUT, g.elem_type, ["N", n_out])]
    if net.loss_name in ("cross_entropy", "log_loss"):
        g.node("ArgMax", [probs], LABEL, axis=1, keepdims=0)
        outputs.append((LABEL, onnx.TensorProto.INT64, ["N"]))
    doc = f"ferroprop {type(model).__name__}, loss {net.loss_name}"
    return finish(g, input_name, n_in, outputs, path, doc)


def export_estimator(
    est: Any, path: str | os.PathLike[str], input_name: str = "X", dtype: Any = None
) -> Any:
    """`MLPClassifier.to_onnx` / `MLPRegressor.to_onnx` (see there)."""
    from ._estimator import export

    return export(est, path, input_name, dtype)
