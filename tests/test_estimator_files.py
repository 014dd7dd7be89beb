"""`MLPClassifier.save` / `MLPRegressor.save` and `ferroprop.load`: round trips and bad files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import ferroprop as fp
from ferroprop.model_files import read_model_file, write_model_file
from ferroprop.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _fit(est, X, y):  # noqa: ANN001, ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


CASES = {
    "string labels adam f64": (MLPClassifier((16,), max_iter=4, random_state=0), "strings"),
    "binary lbfgs f32": (MLPClassifier((8, 4), solver="lbfgs", max_iter=5), "binary"),
    "multilabel sgd": (MLPClassifier((8,), solver="sgd", max_iter=3, random_state=1), "multilabel"),
    "class_weight dict": (
        MLPClassifier((8,), class_weight={0: 2.0, 1: 1.0}, max_iter=3, random_state=0),
        "binary_int",
    ),
    "regressor early stopping": (
        MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5, random_state=0),
        "values",
    ),
    "poisson": (MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=3), "counts"),
}


def _targets(kind: str, y: np.ndarray) -> np.ndarray:
    return {
        "strings": np.array(["zero", "one", "two"])[y % 3],
        "binary": y > 4,
        "binary_int": (y > 4).astype(int),
        "multilabel": np.stack([y > 4, y % 2 == 0], axis=1).astype(int),
        "values": y.astype(float),
        "counts": (y % 4).astype(float),
    }[kind]


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip(digits, tmp_path, case: str) -> None:  # noqa: ANN001
    X, y = digits
    est, kind = CASES[case]
    if "f32" in case:
        X = X.astype(np.float32)
    est = _fit(est, X, _targets(kind, y))
    path = tmp_path / "model.safetensors"
    est.save(path)
    loaded = fp.load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, est.coefs_ + est.intercepts_, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for attr in ("n_iter_", "n_outputs_", "n_layers_", "out_activation_", "loss_", "t_"):
        assert getattr(loaded, attr) == getattr(est, attr), attr
    for attr in ("classes_", "loss_curve_", "validation_scores_"):
        if hasattr(est, attr) and getattr(est, attr) is not None:
            np.testing.assert_array_equal(getattr(loaded, attr), getattr(est, attr))
    kind_, _, config = read_model_file(path)
    assert kind_ == type(est).__name__
    assert config["params"]["hidden_layer_sizes"] == list(est.hidden_layer_sizes)


def test_loaded_model_keeps_training(digits, tmp_path) -> None:  # noqa: ANN001
    X, y = digits
    est = _fit(MLPClassifier((16,), max_iter=3, random_state=0), X, y)
    est.save(tmp_path / "m.safetensors")
    loaded = fp.load(tmp_path / "m.safetensors")
    loaded.partial_fit(X, y)
    assert len(loaded.loss_curve_) == 4
    assert loaded.t_ == est.t_ + len(X)


def _tampered(tmp_path, digits, edit) -> str:  # noqa: ANN001
    X, y = digits
    est = _fit(MLPClassifier((8,), max_iter=2, random_state=0), X, y)
    path = tmp_path / "good.safetensors"
    est.save(path)
    kind, tensors, config = read_model_file(path)
    new_kind = edit(tensors, config)
    kind = new_kind if isinstance(new_kind, str) else kind
    bad = tmp_path / "bad.safetensors"
    write_model_file(bad, kind, tensors, config)
    return str(bad)


BAD_EDITS = {
    "unknown parameter": lambda t, c: c["params"].update(gamma=1.0),
    "invalid parameter value": lambda t, c: c["params"].update(activation="swish"),
    "huge hidden layer": lambda t, c: c["params"].update(hidden_layer_sizes=[2**40]),
    "hidden layer not int": lambda t, c: c["params"].update(hidden_layer_sizes=["8"]),
    "missing tensor": lambda t, c: t.pop("coefs.1"),
    "extra tensor": lambda t, c: t.update(extra=np.zeros(2)),
    "wrong tensor shape": lambda t, c: t.update({"coefs.0": np.zeros((64, 9))}),
    "nan weight": lambda t, c: t["coefs.0"].__setitem__((0, 0), np.nan),
    "classes do not fit outputs": lambda t, c: c["classes"].update(values=[0, 1, 2]),
    "bad class dtype": lambda t, c: c["classes"].update(dtype="not a dtype"),
    "void class dtype": lambda t, c: c["classes"].update(dtype="V8"),
    "dtype text numpy would parse as code": lambda t, c: c["classes"].update(dtype=",i8"),
    "huge string dtype": lambda t, c: c["classes"].update(dtype="S2000000000"),
    "huge unicode dtype": lambda t, c: c["classes"].update(dtype="U100000000"),
    "bad y_type": lambda t, c: c["classes"].update(y_type="continuous"),
    "bad output activation": lambda t, c: c["fitted"].update(out_activation="softplus"),
    "missing fitted": lambda t, c: c.pop("fitted"),
    "wrong dtype": lambda t, c: c["fitted"].update(dtype="float16"),
    "regressor kind for classifier": lambda t, c: "MLPRegressor",
    "n_iter not int": lambda t, c: c["fitted"].update(n_iter="many"),
    "loss curve of strings": lambda t, c: c["fitted"].update(loss_curve=["x"]),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_bad_estimator_files_raise_value_error(digits, tmp_path, case: str) -> None:  # noqa: ANN001
    bad = _tampered(tmp_path, digits, BAD_EDITS[case])
    with pytest.raises(ValueError, match="bad.safetensors"):
        fp.load(bad)
