"""``ferroprop export MODEL OUT``: a saved Network, Sequential or estimator to ONNX, and its
errors (one line, exit code 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import ferroprop as fp
from conftest import relative_error
from ferroprop import cli
from ferroprop import layers as L

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _run(path: Path, X: np.ndarray, name: str = "X") -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: X})


def test_export_network(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    net = fp.Network([4, 8, 3], activation="gelu", normalization="batch", seed=2)
    net.save(tmp_path / "net.safetensors")
    out = tmp_path / "net.onnx"
    assert cli.main(["export", str(tmp_path / "net.safetensors"), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    probs, labels = _run(out, X)
    assert relative_error(probs, net.forward(X)) <= 1e-5
    np.testing.assert_array_equal(labels, net.predict(X))


def test_export_notes_a_table_preprocessing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    columns = {"age": ["31", "", "54", "22"], "city": ["paris", "lyon", "", "paris"]}
    prep = fp.preprocessing.TablePreprocessor().fit(columns)
    width = len(prep.feature_names)
    net = fp.Network([width, 4, 2], seed=1)
    net.save(tmp_path / "net.safetensors", preprocessing=prep)
    out = tmp_path / "net.onnx"
    assert cli.main(["export", str(tmp_path / "net.safetensors"), str(out)]) == 0
    assert f"input is its {width} output features" in capsys.readouterr().err
    features = prep.transform(columns).astype(np.float32)
    probs, _ = _run(out, features)
    assert relative_error(probs, net.forward(features)) <= 1e-5


def test_export_sequential_options(tmp_path: Path) -> None:
    net = fp.Sequential(
        [L.Dense(6), L.LayerNorm(), L.Activation("tanh"), L.Dense(2)], input_dim=3, loss="mse"
    )
    net.save(tmp_path / "s.safetensors")
    out = tmp_path / "s.onnx"
    argv = ["export", str(tmp_path / "s.safetensors"), str(out), "--dtype", "float64"]
    assert cli.main([*argv, "--input-name", "x"]) == 0
    X = np.random.default_rng(1).normal(size=(5, 3))
    (values,) = _run(out, X, "x")
    assert values.dtype == np.float64
    assert relative_error(values, net.forward(X)) <= 1e-5


def test_export_estimator(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from ferroprop.sklearn import MLPClassifier

    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 3))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    est = MLPClassifier((5,), max_iter=300, random_state=0).fit(X, y)
    est.save(tmp_path / "e.safetensors")
    assert cli.main(["export", str(tmp_path / "e.safetensors"), str(tmp_path / "e.onnx")]) == 0
    label, proba = _run(tmp_path / "e.onnx", X)
    np.testing.assert_array_equal(label, est.predict(X))
    np.testing.assert_allclose(proba, est.predict_proba(X), atol=1e-12)


def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:  # noqa: ANN001
    out = str(tmp_path / "m.onnx")
    assert cli.main(["export", str(tmp_path / "missing.safetensors"), out]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    assert cli.main(["export", str(bad), out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ferroprop export: error:") and err.count("\n") == 1
    fp.Network([2, 2]).save(tmp_path / "n.safetensors")
    model = str(tmp_path / "n.safetensors")
    assert cli.main(["export", model, str(tmp_path / "nodir" / "m.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["export", model, out, "--dtype", "int8"]) == 2
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.main(["export", model, out]) == 2
    assert "pip install ferroprop[onnx]" in capsys.readouterr().err
    assert not Path(out).exists()
