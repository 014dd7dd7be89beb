"""skl2onnx's output contract for `MLPClassifier` / `MLPRegressor` (skl2onnx 1.20 with
`options={"zipmap": False}`), so that code written for skl2onnx's exports runs unchanged:

- classifier: `label (N,)` — int64 for integer, bool or integral float classes, string for
  string classes (float classes with a fraction: double, where skl2onnx would truncate) — and
  `probabilities (N, n_classes)` in the graph's float type; binary: the two columns
  `[1 - p, p]`, the label `classes_[p > 0.5]`; multilabel: `label (N, n_classes)` int64 0/1
  (`p > 0.5`) and the per-label probabilities.
- regressor: `variable (N, n_outputs)` (exp applied for `loss="poisson"`, which skl2onnx
  cannot export).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from . import check_options, finish, require_onnx
from ._graph import Graph, layers, link

LABEL, PROBABILITIES, VARIABLE = "label", "probabilities", "variable"


def _classes(classes: np.ndarray) -> np.ndarray:
    """`classes_` as the label tensor's values: int64, str (object) or float64.

    Raises:
        TypeError: classes that are neither all numbers nor all strings.
    """
    kind = classes.dtype.kind
    if kind in "biu":
        return classes.astype(np.int64)
    if kind == "f":
        integral = np.all(np.isfinite(classes)) and np.all(classes == np.round(classes))
        return classes.astype(np.int64 if integral else np.float64)
    items = classes.tolist()
    if all(isinstance(c, str) for c in items):
        return np.array(items, dtype=object)
    if all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in items):
        return np.array(items, dtype=np.int64)
    raise TypeError(f"classes_: expected integer or string class labels, got {classes!r}")


def export(est: Any, path: str | os.PathLike[str], input_name: str, dtype: Any) -> Any:
    """Exports the fitted estimator `est` (see the module docstring); returns the model.

    Raises:
        sklearn.exceptions.NotFittedError: `est` is not fitted.
        ImportError, TypeError, ValueError: as `ferroprop._onnx.check_options` and `finish`.
    """
    onnx = require_onnx()
    check_is_fitted(est)
    graph_dtype = check_options(path, input_name, dtype, np.dtype(est._dtype()))
    net = est._prediction_network()
    g = Graph(onnx, graph_dtype)
    logits = layers(g, input_name, net)
    n_in, n_out = net.widths[0], net.widths[-1]
    float_type = g.elem_type
    if not is_classifier(est):
        link(g, net.loss_name, logits, VARIABLE)
        outputs = [(VARIABLE, float_type, ["N", n_out])]
        return finish(g, input_name, n_in, outputs, path, "ferroprop MLPRegressor")
    int64 = onnx.TensorProto.INT64
    multilabel = getattr(est._label_binarizer, "y_type_", "") == "multilabel-indicator"
    softmax = net.loss_name == "log_loss"
    if multilabel:
        p = link(g, net.loss_name, logits, PROBABILITIES)
        g.node("Cast", [g.node("Greater", [p, g.const(0.5, "half")])], LABEL, to=int64)
        outputs = [(LABEL, int64, ["N", n_out]), (PROBABILITIES, float_type, ["N", n_out])]
        return finish(g, input_name, n_in, outputs, path, "ferroprop MLPClassifier")
    classes = _classes(np.asarray(est.classes_))
    if softmax:  # the first most probable class
        p = link(g, net.loss_name, logits, PROBABILITIES)
        index = g.node("ArgMax", [p], axis=1, keepdims=0)
    else:  # binary: one logistic output
        p = link(g, net.loss_name, logits)
        negative = g.node("Sub", [g.const(1.0, "one"), p])
        g.node("Concat", [negative, p], PROBABILITIES, axis=1)
        above = g.node("Cast", [g.node("Greater", [p, g.const(0.5, "half")])], to=int64)
        index = g.node("Reshape", [above, g.const([-1], "flat", np.int64)])
    g.node("Gather", [g.const(classes, "classes", classes.dtype), index], LABEL, axis=0)
    label_type = onnx.helper.np_dtype_to_tensor_dtype(classes.dtype)
    outputs = [(LABEL, label_type, ["N"]), (PROBABILITIES, float_type, ["N", len(classes)])]
    return finish(g, input_name, n_in, outputs, path, "ferroprop MLPClassifier")
