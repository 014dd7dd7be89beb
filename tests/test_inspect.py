"""Seeing the model: `summary()`, `graph()` and `fp.gradcheck`."""

from __future__ import annotations

import importlib
import re
import shutil
from typing import Any

import numpy as np
import pytest

import ferroprop as fp
from ferroprop import layers as L

# `fp.gradcheck` is the function; the module holds the private hooks the tests use.
gradcheck_module = importlib.import_module("ferroprop.gradcheck")


def _every_kind() -> fp.Sequential:
    return fp.Sequential(
        [
            L.Dense(6),
            L.BatchNorm(),
            L.Activation("tanh"),
            L.Dropout(0.25),
            L.Dense(5),
            L.LayerNorm(),
            L.Activation("gelu"),
            L.Dense(3),
        ],
        input_dim=4,
    )


NETS = {
    "plain": lambda: fp.Network([7, 5, 4, 3]),
    "batch_dropout": lambda: fp.Network([7, 5, 4, 3], normalization="batch", dropout=0.2),
    "layer_float64": lambda: fp.Network([7, 5, 2], normalization="layer", dtype="float64"),
    "sequential": _every_kind,
}


# -- summary ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", NETS.values(), ids=NETS.keys())
def test_summary_counts_every_state_dict_element(make: Any) -> None:
    net = make()
    s = net.summary()
    state = net.state_dict()
    assert s.total_params == sum(v.size for v in state.values())
    grads = net._named_gradients(np.zeros((4, net._core.widths[0])), np.zeros(4, np.int64))[1]
    assert s.trainable_params == sum(g.size for g in grads.values())
    assert s.non_trainable_params == s.total_params - s.trainable_params
    assert [r["index"] for r in s.rows] == [str(i) for i in range(len(net.layers))]
    for row in s.rows:
        mine = [v.size for k, v in state.items() if k.split(".")[0] == row["index"]]
        assert row["params"] + row["buffers"] == sum(mine)
    assert s.flops_forward == sum(r["flops_forward"] for r in s.rows) > 0
    assert str(s) == repr(s)
    assert "Total params" in str(s)


def test_summary_rows_show_layers_and_shapes() -> None:
    net = fp.Network([784, 256, 10])
    rows = net.summary().rows
    assert [r["kind"] for r in rows] == [layer.kind for layer in net.layers]
    assert [r["layer"] for r in rows] == [repr(layer) for layer in net.layers]
    assert [r["output_shape"] for r in rows] == [(None, 256), (None, 256), (None, 10)]
    assert rows[0]["input_shape"] == (None, 784)


def test_dense_flops_follow_the_gemm_formulas() -> None:
    i, h, o = 784, 256, 10
    rows = fp.Network([i, h, o], activation="relu").summary().rows
    # The first Dense computes no dX (nothing below needs it): dW and db only.
    assert rows[0]["flops_forward"] == 2 * i * h + h
    assert rows[0]["flops_backward"] == 2 * i * h + h
    assert rows[2]["flops_forward"] == 2 * h * o + o
    assert rows[2]["flops_backward"] == 2 * h * o + o + 2 * h * o
    assert rows[1]["flops_forward"] == h  # relu: one compare per unit


def test_summary_flops_scale_with_width() -> None:
    small = _every_kind().summary()
    big = fp.Sequential(
        [L.Dense(12), L.BatchNorm(), L.Activation("tanh"), L.Dropout(0.25), L.Dense(5)],
        input_dim=4,
    ).summary()
    assert big.rows[1]["flops_forward"] == 2 * small.rows[1]["flops_forward"]


# -- graph --------------------------------------------------------------------------------------

_NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(?:, [\w=]+)*\];$')
_EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label="((?:[^"\\]|\\.)*)"(?:, [\w=]+)*\];$')
_SHAPE = re.compile(r"^\((B(, \d+)*)?\)$")


def _parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Nodes `{name: label}` and edges `[(a, b, label)]` of the DOT `graph()` writes, checking
    its structure: one digraph, balanced braces outside strings, only known statements."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = 0
    for ch in unquoted:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    lines = text.strip().splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    nodes: dict[str, str] = {}
    edges = []
    for line in lines[1:-1]:
        if m := _EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        elif m := _NODE.match(line):
            assert m[1] not in nodes
            nodes[m[1]] = m[2]
        else:
            assert re.match(r"^\s*(rankdir|node|edge)\b.*;$", line), line
    for a, b, label in edges:
        assert a in nodes and b in nodes
        assert _SHAPE.match(label), label
    return nodes, edges


@pytest.mark.parametrize("make", NETS.values(), ids=NETS.keys())
def test_graph_has_a_forward_and_a_backward_node_per_layer(make: Any) -> None:
    net = make()
    nodes, edges = _parse_dot(net.graph())
    n = len(net.layers)
    assert len(nodes) == 2 * n + 3
    assert len(edges) == 3 * n + 2
    for i, layer in enumerate(net.layers):
        assert nodes[f"f{i}"].startswith(f"{layer.kind} {i}:")
        assert nodes[f"b{i}"].startswith(f"∂ {layer.kind} {i}")
    assert {"x", "loss", "dloss"} <= set(nodes)
    assert net.loss_name in nodes["loss"] and net.loss_name in nodes["dloss"]


def test_graph_labels_carry_the_parameter_gradients() -> None:
    net = fp.Network([784, 256, 10])
    nodes, edges = _parse_dot(net.graph("dot"))
    assert "matmul + bias" in nodes["f0"] and "W (784, 256)" in nodes["f0"]
    assert "dW = Xᵀ·dZ (784, 256)" in nodes["b0"] and "dX" not in nodes["b0"]
    assert "dX = dZ·Wᵀ" in nodes["b2"] and "db = Σ dZ (10,)" in nodes["b2"]
    assert "relu" in nodes["f1"]
    assert ("x", "f0", "(B, 784)") in edges and ("loss", "dloss", "()") in edges
    assert ("dloss", "b2", "(B, 10)") in edges


def test_graph_writes_path_and_checks_arguments(tmp_path: Any) -> None:
    net = _every_kind()
    target = tmp_path / "g.dot"
    text = net.graph(path=target)
    assert target.read_text("utf-8") == text
    with pytest.raises(ValueError, match="format"):
        net.graph(format="png")
    with pytest.raises(TypeError, match="path"):
        net.graph(path=3)  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_svg(tmp_path: Any) -> None:
    svg = _every_kind().graph(format="svg", path=tmp_path / "g.svg")
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "g.svg").read_text("utf-8") == svg


def test_graph_svg_without_dot_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        _every_kind().graph(format="svg")


# -- gradcheck ----------------------------------------------------------------------------------


def _targets(loss: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Targets each loss takes: classes, 0/1, positive counts, or real values."""
    if loss in ("cross_entropy", "log_loss"):
        return rng.integers(0, k, n)
    if "binary" in loss:
        return (rng.random((n, k)) < 0.5).astype(np.float64)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(np.float64)
    return rng.standard_normal((n, k))


def _problem(input_dim: int, loss: str, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((9, input_dim)), _targets(loss, 9, k, rng)


LAYER_CASES = {
    **{f"activation_{a}": [L.Dense(5), L.Activation(a), L.Dense(3)] for a in L.ACTIVATIONS},
    "dropout": [L.Dense(6), L.Activation("tanh"), L.Dropout(0.3), L.Dense(3)],
    "dropout_first": [L.Dropout(0.3), L.Dense(5), L.Activation("sigmoid"), L.Dense(3)],
    "layernorm": [L.Dense(5), L.LayerNorm(), L.Activation("gelu"), L.Dense(3)],
    "batchnorm": [L.Dense(5), L.BatchNorm(), L.Activation("tanh"), L.Dense(3)],
    "norms_first": [L.BatchNorm(), L.LayerNorm(), L.Dense(3)],
    "dense": [L.Dense(3)],
}


def test_every_layer_kind_is_covered() -> None:
    kinds = {layer.kind for case in LAYER_CASES.values() for layer in case}
    assert kinds == set(L.LAYERS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", LAYER_CASES, ids=LAYER_CASES.keys())
def test_gradcheck_passes_for_every_layer_kind(case: str, dtype: str) -> None:
    net = fp.Sequential(LAYER_CASES[case], input_dim=4, dtype=dtype, seed=3)
    X, y = _problem(4, "cross_entropy", 3)
    before = net.state_dict()
    steps = net.training_steps
    errors = fp.gradcheck(net, X, y)
    grads = net._named_gradients(X, y)[1]
    assert set(errors) == set(grads)
    # A Dense bias right before a BatchNorm has a zero gradient: its relative error compares
    # rounding noise with rounding noise, so only the others are held to it.
    live = {k for k, g in grads.items() if np.abs(g).max() > 1e-6}
    assert all(errors[k] < 1e-3 for k in live), errors
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert net.training_steps == steps and net.dtype.name == dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", fp.losses.NAMES)
def test_gradcheck_passes_for_every_loss(loss: str, dtype: str) -> None:
    net = fp.Network([4, 5, 3], activation="tanh", loss=loss, dtype=dtype, seed=1)
    X, y = _problem(4, loss, 3, seed=2)
    errors = fp.gradcheck(net, X, y)
    assert set(errors) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_gradcheck_on_a_trained_network_with_dropout_and_weights() -> None:
    net = fp.Network([4, 6, 3], activation="gelu", normalization="batch", dropout=0.3)
    X, y = _problem(4, "cross_entropy", 3)
    net.fit(X, y, epochs=2, batch_size=3, optimizer=fp.Adam(lr=0.01))
    assert net.training_steps > 0  # the twin must use the same dropout masks
    fp.gradcheck(net, X, y, sample_weight=np.linspace(0.5, 2.0, len(X)))


def test_gradcheck_max_entries_is_even_and_deterministic() -> None:
    assert list(gradcheck_module._entries(10, 3)) == [0, 4, 9]  # rounded linspace(0, 9, 3)
    assert list(gradcheck_module._entries(4, None)) == [0, 1, 2, 3]
    assert list(gradcheck_module._entries(4, 9)) == [0, 1, 2, 3]
    net = fp.Network([4, 5, 3], activation="tanh")
    X, y = _problem(4, "cross_entropy", 3)
    assert fp.gradcheck(net, X, y, max_entries=2) == fp.gradcheck(net, X, y, max_entries=2)


def test_gradcheck_names_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    real = gradcheck_module._analytic

    def planted(twin: Any, x: Any, y: Any, w: Any) -> dict[str, np.ndarray]:
        grads = real(twin, x, y, w)
        grads["2.weight"] = grads["2.weight"].copy()
        grads["2.weight"][1, 3] += 0.01
        return grads

    monkeypatch.setattr(gradcheck_module, "_analytic", planted)
    net = fp.Network([4, 5, 3], activation="tanh")
    X, y = _problem(4, "cross_entropy", 3)
    with pytest.raises(fp.GradcheckError, match=r"'2\.weight' at index \(1, 3\)") as info:
        fp.gradcheck(net, X, y)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.name == "2.weight" and err.index == (1, 3)
    assert err.analytic == pytest.approx(err.numeric + 0.01, abs=1e-6)
    # Entries the plant does not reach pass.
    fp.gradcheck(net, X, y, max_entries=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": 0.0}, ValueError, "eps"),
        ({"eps": "1"}, TypeError, "eps"),
        ({"atol": -1.0}, ValueError, "atol"),
        ({"rtol": float("nan")}, ValueError, "rtol"),
        ({"max_entries": 0}, ValueError, "max_entries"),
        ({"max_entries": 1.5}, TypeError, "max_entries"),
    ],
)
def test_gradcheck_checks_arguments(kwargs: dict, error: type, match: str) -> None:
    net = fp.Network([4, 3])
    X, y = _problem(4, "cross_entropy", 3)
    with pytest.raises(error, match=match):
        fp.gradcheck(net, X, y, **kwargs)


def test_gradcheck_rejects_a_non_network() -> None:
    with pytest.raises(TypeError, match="net"):
        fp.gradcheck(object(), np.zeros((2, 2)), np.zeros(2))  # type: ignore[arg-type]
