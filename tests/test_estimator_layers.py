"""`MLPClassifier` / `MLPRegressor` with `dropout` and `normalization` (extras beyond
scikit-learn): fitting, evaluation-mode prediction, fitted state, persistence and bad values."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import ferroprop as fp
from ferroprop.model_files import read_model_file, write_model_file
from ferroprop.sklearn import MLPClassifier, MLPRegressor

LAYOUTS = {
    "dropout": {"dropout": 0.2},
    "layer": {"normalization": "layer"},
    "batch": {"normalization": "batch"},
    "batch+dropout": {"normalization": "batch", "dropout": 0.2},
}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)


def _data(dtype: str = "float64", n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)).astype(dtype)
    labels = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)
    return X, labels, X @ rng.normal(size=6) + np.sin(X[:, 0])


def _est(kind: str, **kw):  # noqa: ANN202
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    return cls(**{"hidden_layer_sizes": (8, 5), "max_iter": 15, "random_state": 0, **kw})


def _fit(kind: str, X: np.ndarray, labels: np.ndarray, values: np.ndarray, **kw):  # noqa: ANN202
    return _est(kind, **kw).fit(X, labels if kind == "classifier" else values)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_fit_and_predict(kind: str, layout: str, solver: str, dtype: str) -> None:
    X, labels, values = _data(dtype)
    params = {**LAYOUTS[layout], "solver": solver}
    if solver == "lbfgs" and "dropout" in params:
        with pytest.raises(ValueError, match="stochastic solver"):
            _fit(kind, X, labels, values, **params)
        return
    est = _fit(kind, X, labels, values, **params)
    assert est.coefs_[0].dtype == dtype
    pred = est.predict(X)
    assert pred.shape == (len(X),)
    assert np.isfinite(est.score(X, labels if kind == "classifier" else values))
    if kind == "classifier":
        proba = est.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
        assert set(pred) <= set(est.classes_)
    if "normalization" in params:
        assert [len(layer["weight"]) for layer in est.norm_state_] == [8, 5]
        assert all(layer["weight"].dtype == dtype for layer in est.norm_state_)
        assert not np.array_equal(est.norm_state_[0]["weight"], np.ones(8))  # trained
    else:
        assert not hasattr(est, "norm_state_")
    np.testing.assert_array_equal(est.predict(X), pred)  # evaluation mode: deterministic


def test_defaults_are_scikit_learns_network() -> None:
    X, labels, _ = _data()
    est = _est("classifier").fit(X, labels)
    assert est.get_params()["dropout"] == 0.0 and est.get_params()["normalization"] is None
    assert [layer.kind for layer in est._net.layers] == ["Dense", "Activation"] * 2 + ["Dense"]
    assert not hasattr(est, "norm_state_")


def test_dropout_changes_the_fit_reproducibly() -> None:
    X, labels, _ = _data()
    plain = _est("classifier").fit(X, labels)
    runs = [_est("classifier", dropout=0.2).fit(X, labels) for _ in range(2)]
    for a, b in zip(runs[0].coefs_, runs[1].coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(plain.coefs_[0], runs[0].coefs_[0])
    other = _est("classifier", dropout=0.2, random_state=1).fit(X, labels)
    assert not np.allclose(other.coefs_[0], runs[0].coefs_[0])


def _manual_forward(est, X: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """The network in evaluation mode, in NumPy: BatchNorm with its running statistics."""
    a = X.astype(np.float64)
    for w, b, norm in zip(est.coefs_[:-1], est.intercepts_[:-1], est.norm_state_, strict=True):
        z = a @ w + b
        z = (z - norm["running_mean"]) / np.sqrt(norm["running_var"] + 1e-5)
        a = np.maximum(z * norm["weight"] + norm["bias"], 0)
    z = a @ est.coefs_[-1] + est.intercepts_[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_batch_norm_predicts_in_evaluation_mode(solver: str) -> None:
    X, labels, _ = _data()
    est = _est("classifier", solver=solver, normalization="batch").fit(X, labels)
    assert est.norm_state_[0]["num_batches_tracked"] > 0
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba, _manual_forward(est, X), rtol=1e-10, atol=1e-12)
    # The same state in a `ferroprop.Network` of the same stack.
    net = fp.Network([6, 8, 5, 3], loss="log_loss", dtype="float64", normalization="batch")
    state = {}
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        state[f"{3 * i}.weight"], state[f"{3 * i}.bias"] = w.T, b
    for i, layer in enumerate(est.norm_state_):
        state.update({f"{3 * i + 1}.{k}": v for k, v in layer.items()})
    net.load_state_dict(state)
    np.testing.assert_array_equal(net.forward(X), proba)
    assert not np.allclose(net.forward(X, training=True), proba)


def test_lbfgs_batch_norm_keeps_the_training_sets_statistics() -> None:
    X, labels, _ = _data()
    est = _est("classifier", solver="lbfgs", normalization="batch").fit(X, labels)
    z = X @ est.coefs_[0] + est.intercepts_[0]
    np.testing.assert_allclose(est.norm_state_[0]["running_mean"], z.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(est.norm_state_[0]["running_var"], z.var(axis=0, ddof=1), rtol=1e-9)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickle_and_model_file_round_trips(kind: str, tmp_path) -> None:  # noqa: ANN001
    X, labels, values = _data()
    est = _fit(kind, X, labels, values, normalization="batch", dropout=0.2)
    path = tmp_path / "model.safetensors"
    est.save(path)
    copies = [pickle.loads(pickle.dumps(est)), fp.load(path)]
    predict = "predict_proba" if kind == "classifier" else "predict"
    for copy in copies:
        assert copy.get_params() == est.get_params()
        np.testing.assert_array_equal(getattr(copy, predict)(X), getattr(est, predict)(X))
        for a, b in zip(copy.norm_state_, est.norm_state_, strict=True):
            assert list(a) == list(b)
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
    # Both resume the masks where the fit stopped (and a fresh optimizer): the same model.
    y = labels if kind == "classifier" else values
    for copy in copies:
        copy.partial_fit(X, y)
    for a, b in zip(copies[0].coefs_, copies[1].coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_file_refuses_bad_norm_tensors(tmp_path) -> None:  # noqa: ANN001
    X, labels, _ = _data()
    path = tmp_path / "model.safetensors"
    _est("classifier", normalization="batch").fit(X, labels).save(path)
    kind, tensors, config = read_model_file(path)
    bad = dict(tensors, **{"norm.0.running_var": -tensors["norm.0.running_var"]})
    bad_steps = dict(config, fitted={**config["fitted"], "training_steps": -1})
    bad_steps["params"] = {**config["params"], "dropout": 0.1}
    cases = [
        (bad, config, "expected values >= 0"),
        ({k: v for k, v in tensors.items() if k != "norm.1.bias"}, config, "missing"),
        (dict(tensors, **{"norm.0.weight": tensors["norm.0.weight"][:3]}), config, "shape"),
        (tensors, dict(config, params={**config["params"], "normalization": None}), "unexpected"),
        (tensors, bad_steps, "training_steps"),
    ]
    for tensors_, config_, message in cases:
        write_model_file(path, kind, tensors_, config_)
        with pytest.raises(ValueError, match=message):
            fp.load(path)


def test_partial_fit_and_warm_start_continue() -> None:
    X, labels, values = _data()
    est = MLPRegressor(
        hidden_layer_sizes=(8,), batch_size=40, random_state=0, normalization="batch", dropout=0.3
    )
    for call in (1, 2):
        est.partial_fit(X, values)
        assert est._net.training_steps == 3 * call  # the masks' step counter goes on
        assert est.norm_state_[0]["num_batches_tracked"] == 3 * call
    first = est.norm_state_[0]["running_mean"].copy()
    est.set_params(warm_start=True, max_iter=2).fit(X, values)
    assert est.norm_state_[0]["num_batches_tracked"] == 12
    assert not np.array_equal(first, est.norm_state_[0]["running_mean"])
    est.set_params(warm_start=False).fit(X, values)  # a fresh fit starts again
    assert est.norm_state_[0]["num_batches_tracked"] == 6


def test_params_clone_and_set_params() -> None:
    est = MLPClassifier(dropout=0.3, normalization="layer")
    twin = clone(est)
    assert twin.get_params()["dropout"] == 0.3 and twin.get_params()["normalization"] == "layer"
    twin.set_params(dropout=0.1, normalization="batch")
    assert (twin.dropout, twin.normalization) == (0.1, "batch")
    assert MLPRegressor(normalization="batch").get_params()["normalization"] == "batch"


@pytest.mark.parametrize(
    "params",
    [{"dropout": 1.0}, {"dropout": -0.1}, {"dropout": "0.2"}, {"normalization": "group"}],
)
def test_bad_values_raise(params: dict) -> None:
    X, labels, values = _data()
    with pytest.raises(ValueError, match=next(iter(params))):
        MLPClassifier(**params).fit(X, labels)
    with pytest.raises(ValueError, match=next(iter(params))):
        MLPRegressor(**params).fit(X, values)


def test_incompatible_uses_raise() -> None:
    X, labels, _ = _data(n=121)
    with pytest.raises(ValueError, match="batch of 1 row"):
        _est("classifier", normalization="batch", batch_size=40).fit(X, labels)
    with pytest.raises(ValueError, match="n_samples=1"):
        _est("classifier", normalization="batch", solver="lbfgs").fit(X[:1], labels[:1])
    est = _est("classifier", normalization="layer").fit(X, labels)
    est.set_params(normalization="batch")
    with pytest.raises(ValueError, match="does not match the fitted model"):
        est.predict(X)
    est.set_params(normalization=None)
    with pytest.raises(ValueError, match="normalization=None"):
        est.predict(X)


def test_learns_digits() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
    plain = MLPClassifier(random_state=0, max_iter=50).fit(X_train, y_train)
    est = MLPClassifier(normalization="batch", dropout=0.1, random_state=0, max_iter=50)
    accuracy = est.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy >= 0.93
    assert accuracy >= plain.score(X_test, y_test) - 0.02
