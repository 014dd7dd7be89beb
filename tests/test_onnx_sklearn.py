"""`MLPClassifier.to_onnx` / `MLPRegressor.to_onnx` against skl2onnx's export of
scikit-learn's estimator trained with the same `random_state` (the same model, see
test_sklearn_parity.py): the same output names, types and shapes, the same labels, the
probabilities to 1e-6; and against ferroprop's own `predict`/`predict_proba`.

The largest probability difference from skl2onnx is logged under "skl2onnx" in the
end-of-run summary."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import ERROR_LOG, relative_error

pytest.importorskip("sklearn")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from ferroprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

PROBA_TOL = 1e-6
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


TARGETS = {
    "multiclass int": lambda y: y,
    "binary int": lambda y: (y > 4).astype(np.int64) * 3 + 1,
    "multiclass str": lambda y: NAMES[y],
    "binary str": lambda y: np.where(y > 4, "big", "small"),
    "binary bool": lambda y: y > 4,
    "multilabel": lambda y: np.stack([y > 4, y % 2 == 0, y == 3], axis=1).astype(np.int64),
}


def _fit(est: object, X: np.ndarray, y: np.ndarray) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, by design
        return est.fit(X, y)  # type: ignore[attr-defined]


def _session(model: object) -> object:
    data = model if isinstance(model, str) else model.SerializeToString()  # type: ignore[attr-defined]
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _signature(model: object) -> list[tuple[str, int]]:
    return [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output]  # type: ignore[attr-defined]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target", list(TARGETS))
def test_classifier_matches_skl2onnx(digits, target: str, dtype: type, tmp_path: Path) -> None:  # noqa: ANN001
    X, y = digits
    y = TARGETS[target](y)
    kw = dict(hidden_layer_sizes=(20,), max_iter=15, random_state=0, activation="tanh")
    ours = _fit(MLPClassifier(**kw), X, y)
    theirs = _fit(sk.MLPClassifier(**kw), X, y)
    path = tmp_path / "ours.onnx"
    model = ours.to_onnx(path, dtype=dtype)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    reference = skl2onnx.to_onnx(
        theirs, X[:1].astype(dtype), options={"zipmap": False}, target_opset=17
    )
    assert [i.name for i in model.graph.input] == ["X"]
    assert _signature(model) == _signature(reference)
    Xd = X.astype(dtype)
    label, proba = _session(str(path)).run(None, {"X": Xd})
    assert label.shape == ((len(X), 3) if target == "multilabel" else (len(X),))
    assert proba.dtype == dtype and proba.shape[0] == len(X)
    # ferroprop's own predictions (float32: the model is rounded to float32 first).
    np.testing.assert_allclose(
        proba, ours.predict_proba(Xd), atol=1e-6 if dtype is np.float32 else 1e-12
    )
    if dtype is np.float64:
        np.testing.assert_array_equal(label, ours.predict(X))
    if target == "multilabel" and dtype is np.float64:
        return  # onnxruntime has no double Binarizer: skl2onnx's model does not run
    ref_label, ref_proba = _session(reference).run(None, {"X": Xd})
    np.testing.assert_array_equal(label, ref_label)
    assert label.dtype == ref_label.dtype
    err = float(np.max(np.abs(proba - ref_proba)))
    ERROR_LOG.record(np.dtype(dtype).name, "skl2onnx", err, target, "test_onnx_sklearn")
    assert err <= PROBA_TOL, f"{target}: probabilities differ by {err:.3e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_regressor(digits, loss: str, outputs: int, dtype: type, tmp_path: Path) -> None:  # noqa: ANN001
    X, y = digits
    Y = np.stack([X[:, 20] + y / 10, X[:, 30]], axis=1)[:, :outputs]
    Y = Y[:, 0] if outputs == 1 else Y
    kw = dict(hidden_layer_sizes=(15,), max_iter=15, random_state=0, loss=loss)
    ours = _fit(MLPRegressor(**kw), X, Y)
    path = tmp_path / "r.onnx"
    model = ours.to_onnx(path, dtype=dtype)
    assert _signature(model) == [
        ("variable", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
    ]
    (out,) = _session(str(path)).run(None, {"X": X.astype(dtype)})
    assert out.shape == (len(X), outputs) and out.dtype == dtype
    tol = 1e-5 if dtype is np.float32 else 1e-12
    own = relative_error(out, ours.predict(X).reshape(len(X), -1))
    assert own <= tol, f"{loss}: {own:.3e} from predict"
    if loss == "poisson" or outputs == 2:
        return  # skl2onnx exports neither the exp output nor (N, 2) shapes (it reshapes to (-1, 1))
    theirs = _fit(sk.MLPRegressor(**kw), X, Y)
    reference = skl2onnx.to_onnx(theirs, X[:1].astype(dtype), target_opset=17)
    assert _signature(model) == _signature(reference)
    (ref,) = _session(reference).run(None, {"X": X.astype(dtype)})
    assert ref.shape == out.shape
    err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
    assert err <= (1e-5 if dtype is np.float32 else 1e-6)


def test_normalization_and_dropout_export(digits, tmp_path: Path) -> None:  # noqa: ANN001
    X, y = digits
    for normalization in ("layer", "batch"):
        est = _fit(
            MLPClassifier(
                (12,), max_iter=5, random_state=0, dropout=0.1, normalization=normalization
            ),
            X,
            y,
        )
        est.to_onnx(tmp_path / "m.onnx")
        label, proba = _session(str(tmp_path / "m.onnx")).run(None, {"X": X})
        np.testing.assert_allclose(proba, est.predict_proba(X), atol=1e-12)
        np.testing.assert_array_equal(label, est.predict(X))


def test_unfitted_and_bad_arguments(digits, tmp_path: Path) -> None:  # noqa: ANN001
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().to_onnx(tmp_path / "m.onnx")
    X, y = digits
    est = _fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0), X, y)
    with pytest.raises(ValueError, match="input_name"):
        est.to_onnx(tmp_path / "m.onnx", input_name="variable")
    with pytest.raises(ValueError, match="dtype"):
        est.to_onnx(tmp_path / "m.onnx", dtype="float16")
    model = est.to_onnx(tmp_path / "m.onnx", input_name="input")
    assert model.graph.input[0].name == "input"


def test_float32_model_exports_float32(digits, tmp_path: Path) -> None:  # noqa: ANN001
    X, y = digits
    X = X.astype(np.float32)
    est = _fit(MLPClassifier((10,), max_iter=5, random_state=0), X, y)
    model = est.to_onnx(tmp_path / "m.onnx")
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    label, proba = _session(str(tmp_path / "m.onnx")).run(None, {"X": X})
    assert proba.dtype == np.float32
    assert relative_error(proba, est.predict_proba(X)) <= 1e-5
    np.testing.assert_array_equal(label, est.predict(X))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_each_sklearn_activation_matches_skl2onnx(digits, activation: str, tmp_path: Path) -> None:  # noqa: ANN001
    X, y = digits
    kw = dict(hidden_layer_sizes=(12, 8), max_iter=10, random_state=1, activation=activation)
    ours = _fit(MLPClassifier(**kw), X, y % 3)
    theirs = _fit(sk.MLPClassifier(**kw), X, y % 3)
    reference = skl2onnx.to_onnx(theirs, X[:1], options={"zipmap": False}, target_opset=17)
    label, proba = _session(ours.to_onnx(tmp_path / "m.onnx")).run(None, {"X": X})
    ref_label, ref_proba = _session(reference).run(None, {"X": X})
    np.testing.assert_array_equal(label, ref_label)
    err = float(np.max(np.abs(proba - ref_proba)))
    ERROR_LOG.record("float64", "skl2onnx", err, activation, "test_onnx_sklearn")
    assert err <= PROBA_TOL
