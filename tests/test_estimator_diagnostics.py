"""`MLPClassifier` / `MLPRegressor(diagnostics=...)`: the figures equal those of
`Network.fit(diagnostics=True)` driven the same way and a NumPy reference; training is unchanged
bit for bit; the TrainingWarnings fire once per kind at the caller's line; the parameter and
`diagnostics_` survive clone, pickling and model files."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import ferroprop as fp
from ferroprop import _core
from ferroprop.diagnostics import Thresholds
from ferroprop.model_files import read_model_file, write_model_file
from ferroprop.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)


def _data(n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6))
    labels = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)
    return X, labels, X @ rng.normal(size=6) + np.sin(X[:, 0])


def _as_dict(diagnostics: Any) -> dict[str, dict[str, list[float]]]:
    return {layer: dict(metrics) for layer, metrics in diagnostics.items()}


def _training_warnings(fit: Any) -> list[tuple[str, str]]:
    """Calls `fit()`; returns each TrainingWarning as (message, file it is attributed to)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", fp.TrainingWarning)
        fit()
    return [(str(w.message), w.filename) for w in caught if w.category is fp.TrainingWarning]


# -- the figures ----------------------------------------------------------------------------


def _glorot_state(widths: list[int], activation: str, seed: int) -> dict[str, np.ndarray]:
    """The estimators' initial weights (scikit-learn's Glorot uniform, drawn in its order from
    `RandomState(random_state)`) as the `state_dict` of a `Network` of `widths`."""
    rng = np.random.RandomState(seed)
    factor = 2.0 if activation == "logistic" else 6.0
    state = {}
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        bound = np.sqrt(factor / (fan_in + fan_out))
        state[f"{2 * i}.weight"] = rng.uniform(-bound, bound, (fan_in, fan_out)).T
        state[f"{2 * i}.bias"] = rng.uniform(-bound, bound, fan_out)
    return state


# An estimator without shuffling, L2 term or stopping rule is `Network.fit` with scikit-learn's
# optimizer, from the same initial weights.
_SAME_AS_NETWORK = {
    "alpha": 0.0,
    "shuffle": False,
    "n_iter_no_change": np.inf,
    "batch_size": 40,
    "max_iter": 6,
    "random_state": 0,
}


def _network_twin(est: Any, X: np.ndarray, y: np.ndarray, **fit_kw: Any) -> fp.History:
    """`Network.fit(diagnostics=True)` of the network `est` trains, driven as `est` drives it."""
    classifier = isinstance(est, MLPClassifier)
    widths = [X.shape[1], *est.hidden_layer_sizes, 3 if classifier else 1]
    net = fp.Network(
        widths,
        activation=est.activation,
        loss="log_loss" if classifier else "squared_error",
        dtype="float64",
    )
    net.load_state_dict(_glorot_state(widths, est.activation, est.random_state))
    if est.solver == "adam":
        optimizer = _core.SklearnAdam(est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)
    else:
        optimizer = _core.SklearnSGD(est.learning_rate_init, est.momentum, est.nesterovs_momentum)
    return net.fit(
        X,
        y,
        epochs=est.max_iter,
        batch_size=est.batch_size,
        optimizer=optimizer,
        shuffle=False,
        diagnostics=est.diagnostics,
        **fit_kw,
    )


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_figures_equal_network_fits(kind: str, solver: str, activation: str) -> None:
    X, labels, values = _data()
    cls, y = (MLPClassifier, labels) if kind == "classifier" else (MLPRegressor, values)
    est = cls(
        hidden_layer_sizes=(8, 5),
        activation=activation,
        solver=solver,
        diagnostics=True,
        **_SAME_AS_NETWORK,
    )
    est.fit(X, y)
    hist = _network_twin(est, X, y)
    # The same engine doing the same arithmetic: equal bit for bit.
    assert est.loss_curve_ == hist.loss
    assert est.diagnostics_.epochs == hist.diagnostics.epochs == [1, 2, 3, 4, 5, 6]
    assert _as_dict(est.diagnostics_) == _as_dict(hist.diagnostics)
    metric = "dead_fraction" if activation == "relu" else "saturated_fraction"
    assert list(est.diagnostics_["1"]) == ["mean", "std", metric]
    assert est.diagnostics_.table() == hist.diagnostics.table()


def test_figures_match_a_numpy_reference() -> None:
    """Full-batch plain SGD on one ReLU layer: each epoch is one step from the weights the
    previous epoch ended with, so every figure follows in NumPy from those weights."""
    X, labels, _ = _data()
    lr, epochs = 0.2, 4
    params = {**_SAME_AS_NETWORK, "batch_size": len(X), "solver": "sgd", "momentum": 0.0}
    est = MLPClassifier((8,), learning_rate_init=lr, diagnostics=True, **params)
    state = _glorot_state([6, 8, 3], "relu", 0)
    W1, b1, W2, b2 = (state[k].T for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
    Y = np.eye(3)[labels]
    expected: dict[str, dict[str, list[float]]] = {
        "0": {"grad_norm": [], "weight_norm": [], "update_ratio": []},
        "1": {"mean": [], "std": [], "dead_fraction": []},
        "2": {"grad_norm": [], "weight_norm": [], "update_ratio": []},
    }
    for _ in range(epochs):
        est.partial_fit(X, labels, classes=[0, 1, 2])
        z1 = X @ W1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ W2 + b2
        p = np.exp(z2 - z2.max(axis=1, keepdims=True))
        dz2 = (p / p.sum(axis=1, keepdims=True) - Y) / len(X)
        dz1 = (dz2 @ W2.T) * (z1 > 0)
        grads = {"0": (X.T @ dz1, dz1.sum(axis=0)), "2": (a1.T @ dz2, dz2.sum(axis=0))}
        params = {"0": (W1, b1), "2": (W2, b2)}
        for layer, (gw, gb) in grads.items():
            w, b = params[layer]
            grad_norm = np.sqrt(np.sum(gw**2) + np.sum(gb**2))
            expected[layer]["grad_norm"].append(grad_norm)
            expected[layer]["update_ratio"].append(lr * grad_norm / np.sqrt(np.sum(w**2) + b @ b))
        W1, b1 = W1 - lr * grads["0"][0], b1 - lr * grads["0"][1]
        W2, b2 = W2 - lr * grads["2"][0], b2 - lr * grads["2"][1]
        for layer, (w, b) in {"0": (W1, b1), "2": (W2, b2)}.items():
            expected[layer]["weight_norm"].append(np.sqrt(np.sum(w**2) + b @ b))
        expected["1"]["mean"].append(a1.mean())
        expected["1"]["std"].append(a1.std())
        expected["1"]["dead_fraction"].append(np.mean(~(z1 > 0).any(axis=0)))
    np.testing.assert_allclose(W1, est.coefs_[0], rtol=1e-12)  # the reference's weights
    assert est.diagnostics_.epochs == [1, 2, 3, 4]
    for layer, metrics in expected.items():
        assert list(est.diagnostics_[layer]) == list(metrics)
        for metric, values in metrics.items():
            np.testing.assert_allclose(
                est.diagnostics_[layer][metric], values, rtol=1e-10, atol=1e-15, err_msg=metric
            )


# -- training is unchanged --------------------------------------------------------------------

_SETTINGS = {
    "adam": {},
    "sgd adaptive": {"solver": "sgd", "learning_rate": "adaptive", "n_iter_no_change": 2},
    "sgd invscaling": {"solver": "sgd", "learning_rate": "invscaling"},
    "early stopping": {"early_stopping": True, "n_iter_no_change": 3},
    "batch norm, dropout": {"normalization": "batch", "dropout": 0.2},
    "lbfgs": {"solver": "lbfgs"},
}


def _fitted_state(est: Any) -> dict[str, Any]:
    """Every public fitted attribute but `diagnostics_`."""
    return {
        key: value
        for key, value in vars(est).items()
        if key.endswith("_") and not key.startswith("_") and key != "diagnostics_"
    }


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, strict=True)
    else:
        assert a == b or (a != a and b != b)  # NaN equals NaN here


@pytest.mark.parametrize("setting", list(_SETTINGS))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_diagnostics_change_no_bit_of_training(kind: str, setting: str) -> None:
    X, labels, values = _data()
    cls, y = (MLPClassifier, labels) if kind == "classifier" else (MLPRegressor, values)
    params = {"hidden_layer_sizes": (8, 5), "max_iter": 25, "random_state": 0, **_SETTINGS[setting]}
    assert cls().get_params()["diagnostics"] is False
    # Early stopping on a held-out split (partial_fit would need validation data).
    held_out = setting == "early stopping"
    fit_kw = {} if held_out else {"validation_data": (X[:30], y[:30])}
    off, on, moved = (
        cls(**params, diagnostics=diagnostics).fit(X, y, **fit_kw)
        for diagnostics in (False, True, Thresholds(dead_fraction=0.9))
    )
    if setting != "lbfgs" and not held_out:
        for est in (off, on, moved):
            est.partial_fit(X, y)
    assert off.diagnostics_ is None
    _assert_same(_fitted_state(on), _fitted_state(off))
    _assert_same(_fitted_state(moved), _fitted_state(off))
    if setting == "lbfgs":  # no epochs: nothing to record
        assert on.diagnostics_ is None
    else:
        assert len(on.diagnostics_.epochs) == len(on.loss_curve_)
        assert _as_dict(on.diagnostics_) == _as_dict(moved.diagnostics_)


def test_partial_fit_and_warm_start_append_as_loss_curve_does() -> None:
    X, labels, _ = _data()
    params = {**_SAME_AS_NETWORK, "diagnostics": True, "max_iter": 3}
    whole = MLPClassifier((8,), **params).fit(X, labels)
    est = MLPClassifier((8,), **params)
    for _ in range(3):
        est.partial_fit(X, labels, classes=[0, 1, 2])
    assert est.loss_curve_ == whole.loss_curve_
    assert _as_dict(est.diagnostics_) == _as_dict(whole.diagnostics_)
    est.set_params(warm_start=True).fit(X, labels)  # three more epochs
    assert est.diagnostics_.epochs == [1, 2, 3, 4, 5, 6]
    assert {m: v[:3] for m, v in est.diagnostics_["0"].items()} == dict(whole.diagnostics_["0"])
    est.set_params(diagnostics=False).partial_fit(X, labels)
    assert est.diagnostics_ is None
    est.set_params(diagnostics=True).partial_fit(X, labels)  # the 8th epoch of loss_curve_
    assert est.diagnostics_.epochs == [8]
    est.set_params(warm_start=False).fit(X, labels)  # a fresh fit starts again
    assert est.diagnostics_.epochs == [1, 2, 3]
    assert _as_dict(est.diagnostics_) == _as_dict(whole.diagnostics_)


# -- warnings ---------------------------------------------------------------------------------


def _killing_relus(**kw: Any) -> MLPClassifier:
    """Plain SGD with a huge learning rate: updates far too large, most ReLU units dead."""
    params = {"solver": "sgd", "learning_rate_init": 10.0, "momentum": 0.0, "max_iter": 10}
    return MLPClassifier((16,), **{"random_state": 0, "diagnostics": True, **params, **kw})


def test_warnings_fire_once_per_kind_at_the_callers_line() -> None:
    X, labels, _ = _data()
    est = _killing_relus()
    caught = _training_warnings(lambda: est.fit(X, labels))
    assert [message.split(":")[0] for message, _ in caught] == ["layer '2'", "layer '1'"]
    assert "update/weight ratio" in caught[0][0] and "units are dead" in caught[1][0]
    assert {file for _, file in caught} == {__file__}  # not scikit-learn's `_fit_context`
    assert max(est.diagnostics_["1"]["dead_fraction"]) > 0.5
    # A new fit warns again; the partial_fit calls after it go on with its run.
    assert _training_warnings(lambda: est.fit(X, labels)) == caught
    assert _training_warnings(lambda: [est.partial_fit(X, labels) for _ in range(3)]) == []
    fresh = _killing_relus()
    calls = _training_warnings(
        lambda: [fresh.partial_fit(X, labels, classes=[0, 1, 2]) for _ in range(10)]
    )
    assert [message.split(":")[0] for message, _ in calls] == ["layer '2'", "layer '1'"]


@pytest.mark.parametrize("validation", [False, True])
def test_warnings_are_network_fits(validation: bool) -> None:
    """The same messages as `Network.fit(diagnostics=True)` driven the same way (overfitting
    included: 20 random labels to memorise, watched on validation data)."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 6)), rng.integers(0, 3, 20)
    X_val, y_val = rng.normal(size=(200, 6)), np.arange(200) % 3
    fit_kw = {"validation_data": (X_val, y_val)} if validation else {}
    params = {**_SAME_AS_NETWORK, "max_iter": 12, "batch_size": 10}
    est = _killing_relus(**params, learning_rate_init=3.0)
    if validation:
        est.set_params(solver="adam", learning_rate_init=0.01, hidden_layer_sizes=(64,))
    expected = [
        message for message, _ in _training_warnings(lambda: _network_twin(est, X, y, **fit_kw))
    ]
    caught = [message for message, _ in _training_warnings(lambda: est.fit(X, y, **fit_kw))]
    assert caught == expected
    assert len(caught) == (1 if validation else 2)


def test_thresholds_move_the_warnings() -> None:
    X, labels, _ = _data()
    loose = Thresholds(dead_fraction=0.9, update_ratio=100.0)
    assert _training_warnings(lambda: _killing_relus(diagnostics=loose).fit(X, labels)) == []
    strict = MLPClassifier(
        (16,), max_iter=5, random_state=0, diagnostics=Thresholds(1e-9, 3, 0.5, 1e-4)
    )
    caught = _training_warnings(lambda: strict.fit(X, labels))  # adam's ratios are ~2e-3
    assert len(caught) == 1 and "update/weight ratio" in caught[0][0]


def test_healthy_training_is_silent() -> None:
    X, labels, values = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", fp.TrainingWarning)
        MLPClassifier((16,), max_iter=30, random_state=0, diagnostics=True).fit(X, labels)
        MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0, diagnostics=True).fit(
            X, values
        )


# -- parameters and persistence ---------------------------------------------------------------


def test_params_clone_and_validation() -> None:
    thresholds = Thresholds(dead_fraction=0.2)
    for cls in (MLPClassifier, MLPRegressor):
        est = cls(diagnostics=thresholds)
        assert est.get_params()["diagnostics"] is thresholds  # stored as given
        twin = clone(est)
        assert twin.get_params()["diagnostics"] == thresholds
        assert clone(est.set_params(diagnostics=True)).get_params()["diagnostics"] is True
        assert "diagnostics=True" in repr(est)
        X, labels, values = _data(20)
        for bad in ("yes", 1, {"dead_fraction": 0.2}):
            with pytest.raises(ValueError, match="'diagnostics' parameter"):
                cls(diagnostics=bad, max_iter=2).fit(X, labels if cls is MLPClassifier else values)


def test_pickle_and_model_file_keep_the_parameter_and_the_record(tmp_path) -> None:  # noqa: ANN001
    X, labels, _ = _data()
    thresholds = Thresholds(dead_fraction=0.25, overfit_epochs=2)
    est = MLPClassifier((8,), max_iter=4, random_state=0, diagnostics=thresholds).fit(X, labels)
    path = tmp_path / "model.safetensors"
    est.save(path)
    for copy in (pickle.loads(pickle.dumps(est)), fp.load(path)):
        assert copy.get_params() == est.get_params()
        assert copy.diagnostics_.epochs == [1, 2, 3, 4]
        assert _as_dict(copy.diagnostics_) == _as_dict(est.diagnostics_)
        assert copy.diagnostics_.table() == est.diagnostics_.table()  # the order is kept
        copy.partial_fit(X, labels)  # goes on with the record
        assert copy.diagnostics_.epochs == [1, 2, 3, 4, 5]
    off = tmp_path / "off.safetensors"
    MLPClassifier((8,), max_iter=2, random_state=0).fit(X, labels).save(off)
    assert fp.load(off).diagnostics_ is None and fp.load(off).diagnostics is False


def test_model_files_without_diagnostics_and_hostile_ones(tmp_path) -> None:  # noqa: ANN001
    X, labels, _ = _data()
    path = tmp_path / "model.safetensors"
    est = MLPClassifier((8,), max_iter=3, random_state=0, diagnostics=True).fit(X, labels)
    est.save(path)
    kind, tensors, config = read_model_file(path)
    older = {
        "params": {k: v for k, v in config["params"].items() if k != "diagnostics"},
        "fitted": {k: v for k, v in config["fitted"].items() if k != "diagnostics"},
    }
    write_model_file(path, kind, tensors, {**config, **older})
    loaded = fp.load(path)
    assert loaded.diagnostics is False and loaded.diagnostics_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))

    record = config["fitted"]["diagnostics"]
    layer0 = record["layers"][0]
    short = [layer0[0], [[name, values[:-1]] for name, values in layer0[1]]]
    bad_records = {
        "one per epoch": {**record, "layers": [short, *record["layers"][1:]]},
        "distinct names": {**record, "layers": [layer0, layer0]},
        "expected a number": {**record, "layers": [[layer0[0], [["grad_norm", ["x"] * 3]]]]},
        "expected a mapping or null": [1, 2],
    }
    bad_params = {
        "unknown thresholds": {"dead": 0.5},
        "dead_fraction": {"dead_fraction": 2.0},
        "'diagnostics' parameter": "yes",
    }
    cases = [({**config["fitted"], "diagnostics": v}, config["params"], m)
             for m, v in bad_records.items()]  # fmt: skip
    cases += [(config["fitted"], {**config["params"], "diagnostics": v}, m)
              for m, v in bad_params.items()]  # fmt: skip
    for fitted, params, message in cases:
        write_model_file(path, kind, tensors, {**config, "fitted": fitted, "params": params})
        with pytest.raises(ValueError, match=message):
            fp.load(path)


# scikit-learn's own estimator checks, with diagnostics on (test_sklearn_checks.py: off).
@parametrize_with_checks(
    [MLPClassifier(max_iter=100, diagnostics=True), MLPRegressor(max_iter=100, diagnostics=True)]
)
def test_sklearn_checks_with_diagnostics_on(estimator, check) -> None:  # noqa: ANN001
    check(estimator)
