"""`Network.to_onnx` / `Sequential.to_onnx`: every layer kind, activation and loss, float32 and
float64, run by onnxruntime on 1 and 1,000 random rows against ferroprop's `forward` and
`predict`, with `onnx.checker` passing and a dynamic batch dimension.

Errors are conftest's `relative_error`, max|a - b| / max|b| per output (an output near zero
carries the rounding of the values it was summed from, so no elementwise relative bound holds
for it); the largest per dtype is logged in the end-of-run summary under "onnxruntime"."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import ferroprop as fp
from conftest import ERROR_LOG, relative_error
from ferroprop import _core
from ferroprop import layers as L
from ferroprop._onnx import _graph

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

DTYPES = ("float32", "float64")
TOL = {"float32": 1e-5, "float64": 1e-12}
ROWS = (1, 1000)
ACTIVATIONS = list(_core.ACTIVATIONS)
LOSSES = list(_core.LOSSES)


def _randomise(net: fp.Sequential | fp.Network, seed: int) -> None:
    """Random parameters and running statistics (variances in [0.5, 2]), so that no
    normalisation layer is the identity it starts as."""
    rng = np.random.default_rng(seed)
    state = net.state_dict()
    for key, value in state.items():
        if value.dtype.kind != "f":
            continue
        if key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, value.shape)
        else:
            state[key] = rng.normal(scale=0.7, size=value.shape)
    net.load_state_dict(state)


def _every_layer(act: str, loss: str, dtype: str, n_out: int = 3) -> fp.Sequential:
    """A stack with every layer kind: BatchNorm first (not foldable), after a Dense (folded)
    and after an activation, LayerNorm, Dropout."""
    layers = [
        L.BatchNorm(),
        L.Dense(16),
        L.BatchNorm(),
        L.Activation(act),
        L.Dropout(0.3),
        L.Dense(12),
        L.LayerNorm(),
        L.Activation(act),
        L.BatchNorm(eps=1e-3),
        L.Dense(n_out),
    ]
    net = fp.Sequential(layers, input_dim=5, loss=loss, dtype=dtype, seed=3)
    _randomise(net, 7)
    return net


def _run(path: Path, X: np.ndarray, name: str = "X") -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: X})


def _check(net: fp.Sequential | fp.Network, path: Path, what: str, **kw: object) -> None:
    """Exports `net`, checks the model, and compares onnxruntime with `forward`/`predict`."""
    model = net.to_onnx(path, **kw)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert model.opset_import[0].version == 17
    dtype = net.dtype.name
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "N" and not batch.HasField("dim_value")
    rng = np.random.default_rng(0)
    for rows in ROWS:
        X = rng.normal(size=(rows, net._core.widths[0])).astype(dtype)
        outputs = _run(path, X)
        assert outputs[0].dtype == net.dtype and outputs[0].shape == (rows, net._core.widths[-1])
        err = relative_error(outputs[0], net.forward(X))
        ERROR_LOG.record(dtype, "onnxruntime", err, f"{what}, {rows} rows", "test_onnx")
        assert err <= TOL[dtype], f"{what}, {rows} rows: {err:.3e}"
        if net.loss_name in ("cross_entropy", "log_loss"):
            assert len(outputs) == 2 and outputs[1].dtype == np.int64
            np.testing.assert_array_equal(outputs[1], net.predict(X))
        else:
            assert len(outputs) == 1


def test_every_name_core_lists_has_an_export() -> None:
    """A new activation, layer kind or loss in `_core` must get an ONNX export here."""
    assert set(_core.ACTIVATIONS) <= set(_graph.ACTIVATIONS)
    assert set(_core.LAYERS) <= set(_graph.LAYERS)
    assert set(_core.LOSSES) <= set(_graph.LOSS_LINKS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_layer_and_activation(act: str, fold: bool, dtype: str, tmp_path: Path) -> None:
    net = _every_layer(act, "cross_entropy", dtype)
    _check(net, tmp_path / "m.onnx", f"{act} fold={fold}", fold_batch_norm=fold)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_link(loss: str, dtype: str, tmp_path: Path) -> None:
    _check(_every_layer("gelu", loss, dtype), tmp_path / "m.onnx", f"loss {loss}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalization", [None, "layer", "batch"])
def test_network(normalization: str | None, dtype: str, tmp_path: Path) -> None:
    net = fp.Network(
        [6, 10, 8, 4],
        activation=["tanh", "leaky_relu"],
        loss="cross_entropy",
        dtype=dtype,
        dropout=0.2 if normalization else 0.0,
        normalization=normalization,
    )
    _randomise(net, 1)
    _check(net, tmp_path / "n.onnx", f"Network normalization={normalization}")


def test_folding_leaves_no_batch_norm_after_a_dense(tmp_path: Path) -> None:
    net = _every_layer("relu", "mse", "float32")
    ops = [n.op_type for n in net.to_onnx(tmp_path / "a.onnx").graph.node]
    assert ops.count("BatchNormalization") == 2  # the first layer's and the one after relu
    assert "Dropout" not in ops and "LayerNormalization" in ops
    ops = [n.op_type for n in net.to_onnx(tmp_path / "b.onnx", fold_batch_norm=False).graph.node]
    assert ops.count("BatchNormalization") == 3


def test_float64_avoids_float32_attributes(tmp_path: Path) -> None:
    """In float64, ops whose constants are float32 attributes are composed instead."""
    ops = {
        n.op_type
        for n in _every_layer("leaky_relu", "mse", "float64")
        .to_onnx(tmp_path / "m.onnx", fold_batch_norm=False)
        .graph.node
    }
    assert not ops & {"LeakyRelu", "LayerNormalization", "BatchNormalization", "Sigmoid"}


def test_dtype_and_input_name(tmp_path: Path) -> None:
    net = _every_layer("relu", "binary_cross_entropy", "float64")
    path = tmp_path / "m.onnx"
    model = net.to_onnx(path, dtype="float32", input_name="features")
    assert model.graph.input[0].name == "features"
    assert [o.name for o in model.graph.output] == ["output"]
    X = np.random.default_rng(1).normal(size=(50, 5))
    (out,) = _run(path, X.astype(np.float32), "features")
    assert out.dtype == np.float32
    assert relative_error(out, net.forward(X)) <= 1e-5


def test_bad_arguments(tmp_path: Path) -> None:
    net = fp.Network([3, 4, 2])
    path = tmp_path / "m.onnx"
    with pytest.raises(TypeError, match="path"):
        net.to_onnx(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="input_name"):
        net.to_onnx(path, input_name=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_name"):
        net.to_onnx(path, input_name="")
    with pytest.raises(ValueError, match="input_name"):
        net.to_onnx(path, input_name="output")
    with pytest.raises(ValueError, match="dtype"):
        net.to_onnx(path, dtype="int8")
    with pytest.raises(TypeError, match="fold_batch_norm"):
        net.to_onnx(path, fold_batch_norm="yes")  # type: ignore[arg-type]
    assert not path.exists()
    with pytest.raises(ValueError, match="not a regular file"):
        net.to_onnx(tmp_path)
    fifo = tmp_path / "fifo"  # a stand-in for /dev/null, which a rename would replace
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        net.to_onnx(fifo)
    assert not fifo.is_file()
    fifo.unlink()
    with pytest.raises(OSError):
        net.to_onnx(tmp_path / "missing" / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_missing_onnx_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install ferroprop\[onnx\]"):
        fp.Network([3, 4, 2]).to_onnx("unused.onnx")
