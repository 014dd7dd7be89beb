"""The estimators inside scikit-learn's tooling, and what ferroprop adds to scikit-learn's API."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import warnings

import joblib
import numpy as np
import pytest
from sklearn import neural_network as sk_nn
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ferroprop.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)


def test_pipeline_and_cross_val_score(digits) -> None:  # noqa: ANN001
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=30, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.85


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(digits, n_jobs: int) -> None:  # noqa: ANN001
    X, y = digits
    grid = GridSearchCV(
        MLPClassifier(max_iter=20, random_state=0),
        {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1e-1]},
        cv=2,
        n_jobs=n_jobs,
    )
    grid.fit(X, y)
    assert grid.best_params_["hidden_layer_sizes"] == (32,)
    assert grid.best_score_ > 0.7
    assert grid.score(X, y) > 0.9


def test_clone_keeps_params_and_drops_state(digits) -> None:  # noqa: ANN001
    X, y = digits
    est = MLPClassifier((16,), solver="sgd", momentum=0.5, class_weight="balanced").fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "coefs_")


@pytest.mark.parametrize(
    "est", [MLPClassifier((16,), max_iter=10), MLPRegressor(hidden_layer_sizes=(16,), max_iter=10)]
)
def test_pickle_and_joblib_round_trips(digits, tmp_path, est) -> None:  # noqa: ANN001
    X, y = digits
    est = clone(est).set_params(random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    # The unpickled model keeps training.
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == 1


def test_class_weight(digits) -> None:  # noqa: ANN001
    X, y = digits
    # Rare positives: 'balanced' weights them up, raising their recall.
    y_rare = (y == 3).astype(int)
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    plain = MLPClassifier(**kw).fit(X, y_rare)
    balanced = MLPClassifier(class_weight="balanced", **kw).fit(X, y_rare)
    recall = lambda m: (m.predict(X)[y_rare == 1] == 1).mean()  # noqa: E731
    assert recall(balanced) > recall(plain)
    # A dict is the same as the equivalent sample weights.
    weights = {0: 1.0, 1: 4.0}
    a = MLPClassifier(class_weight=weights, **kw).fit(X, y_rare)
    b = MLPClassifier(**kw).fit(X, y_rare, sample_weight=np.where(y_rare == 1, 4.0, 1.0))
    for ca, cb in zip(a.coefs_, b.coefs_, strict=True):
        np.testing.assert_array_equal(ca, cb)


@pytest.mark.parametrize("activation", ["leaky_relu", "gelu"])
def test_extra_activations_learn(digits, activation: str) -> None:  # noqa: ANN001
    X, y = digits
    est = MLPClassifier((32,), activation=activation, max_iter=30, random_state=0).fit(X, y)
    assert est.score(X, y) > 0.9


def test_validation_data_records_a_loss_curve(digits) -> None:  # noqa: ANN001
    X, y = digits
    est = MLPClassifier((32,), max_iter=12, random_state=0)
    est.fit(X[:1200], y[:1200], validation_data=(X[1200:], y[1200:]))
    assert len(est.validation_loss_curve_) == est.n_iter_ == 12
    assert est.validation_loss_curve_[-1] < est.validation_loss_curve_[0]
    # The curve is the unpenalised log-loss of the validation rows.
    proba = est.predict_proba(X[1200:])
    expected = -np.mean(np.log(proba[np.arange(len(proba)), y[1200:]]))
    assert est.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-9)
    # Early stopping scores the given set instead of splitting the training data.
    es = MLPClassifier((32,), early_stopping=True, max_iter=200, random_state=0)
    es.fit(X[:1200], y[:1200], validation_data=(X[1200:], y[1200:]))
    assert es.n_iter_ < 200
    assert es.best_validation_score_ == pytest.approx(es.score(X[1200:], y[1200:]))
    # lbfgs has no epochs: one entry, the final model's.
    lb = MLPClassifier((16,), solver="lbfgs", max_iter=20, random_state=0)
    lb.fit(X[:1200], y[:1200], validation_data=(X[1200:], y[1200:]))
    assert len(lb.validation_loss_curve_) == 1
    # A later fit without it forgets the curve.
    est.fit(X, y)
    assert not hasattr(est, "validation_loss_curve_")


def test_partial_fit_with_early_stopping_on_a_fixed_validation_set(digits) -> None:  # noqa: ANN001
    X, y = digits
    est = MLPClassifier((32,), early_stopping=True, n_iter_no_change=2, tol=0.05, random_state=0)
    with pytest.raises(ValueError, match="validation_data"):
        est.partial_fit(X, y, classes=np.arange(10))
    est = clone(est)
    est.partial_fit(X[:1200], y[:1200], classes=np.arange(10), validation_data=(X[1200:], y[1200:]))
    calls = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while not any("early stopping" in str(w.message) for w in caught) and calls < 50:
            est.partial_fit(X[:1200], y[:1200])
            calls += 1
    assert calls < 50
    assert len(est.validation_scores_) == calls - 1
    assert est.score(X[1200:], y[1200:]) == pytest.approx(est.best_validation_score_)


def test_regressor_extras(digits) -> None:  # noqa: ANN001
    X, y = make_regression(300, 8, noise=1.0, random_state=0)
    est = MLPRegressor(
        hidden_layer_sizes=(32,), max_iter=50, random_state=0, learning_rate_init=0.01
    )
    est.fit(X[:200], y[:200], validation_data=(X[200:], y[200:]))
    assert len(est.validation_loss_curve_) == est.n_iter_
    pred = est.predict(X[200:])
    assert est.validation_loss_curve_[-1] == pytest.approx(0.5 * np.mean((pred - y[200:]) ** 2))


def test_keyboard_interrupt_keeps_weights_with_a_warning() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 64))
    y = (X[:, 0] > 0).astype(int)
    est = MLPClassifier((256, 256), max_iter=10_000, tol=0.0, n_iter_no_change=10_000)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.warns(UserWarning, match="interrupted by user"):
        est.fit(X, y)
    timer.join()
    assert 0 < est.n_iter_ < 10_000
    assert all(np.isfinite(c).all() for c in est.coefs_)
    assert est.score(X, y) > 0.9


def test_divergence_raises_sklearns_error() -> None:
    X = np.array([[1e30, -1e30], [1e30, 1e30]] * 10)
    y = np.array([1e30, -1e30] * 10)
    # A fixed seed: with some (5 of 0..39), every ReLU starts dead and nothing diverges.
    est = MLPRegressor(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0, max_iter=5, random_state=0
    )
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        est.fit(X, y)


def test_verbose_prints_sklearns_lines(digits, capsys) -> None:  # noqa: ANN001
    X, y = digits
    MLPClassifier((8,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


def test_bad_parameters_are_clear_errors(digits) -> None:  # noqa: ANN001
    X, y = digits
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(10, 0)).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier(max_iter=1).fit(X, y, sample_weight=np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="validation_data"):
        MLPClassifier(max_iter=1).fit(X, y, validation_data=(X, np.full(len(y), 99)))
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson", max_iter=1).fit(X, -np.ones(len(y)))
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=np.arange(10))


def test_core_does_not_import_sklearn() -> None:
    code = (
        "import sys, numpy as np, ferroprop as fp\n"
        "net = fp.Network([2, 3, 2]); net.fit(np.zeros((4, 2)), np.zeros(4, dtype=int), epochs=1)\n"
        "assert 'sklearn' not in sys.modules\n"
        "assert fp.MLPClassifier.__module__ == 'ferroprop.sklearn'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- behaviours a scikit-learn user relies on (from a review against its source) -------------


def _tiny() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    return X, (X[:, 0] > 0).astype(int)


def test_partial_fit_trains_on_after_a_plateau_like_sklearn() -> None:
    X, y = _tiny()
    runs = []
    for cls in (MLPClassifier, sk_nn.MLPClassifier):
        est = cls(hidden_layer_sizes=(5,), random_state=0, tol=10.0, n_iter_no_change=2)
        for _ in range(8):
            est.partial_fit(X, y, classes=[0, 1])
        runs.append((est.t_, len(est.loss_curve_), est.coefs_[0]))
    assert runs[0][:2] == runs[1][:2] == (480, 8)
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-9)


def test_pickling_leaves_the_live_estimator_alone() -> None:
    X, y = _tiny()
    est, ref = (MLPClassifier(hidden_layer_sizes=(5,), random_state=0) for _ in range(2))
    for _ in range(3):
        est.partial_fit(X, y, classes=[0, 1])
        ref.partial_fit(X, y, classes=[0, 1])
    pickle.dumps(est)
    est.partial_fit(X, y)
    ref.partial_fit(X, y)
    np.testing.assert_array_equal(est.coefs_[0], ref.coefs_[0])


def test_edited_coefs_and_activation_are_used_like_sklearn() -> None:
    X, y = _tiny()
    ours = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    theirs = sk_nn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    for est in (ours, theirs):
        est.coefs_[-1][:] = 0
        est.intercepts_[-1][:] = 0
    np.testing.assert_array_equal(ours.predict_proba(X[:2])[:, 1], [0.5, 0.5])
    for est in (ours, theirs):
        est.coefs_[-1][:] = 0.3
        est.set_params(activation="identity")
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)


def test_dtype_can_change_between_calls() -> None:
    X, y = _tiny()
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    est.fit(X.astype(np.float32), y)
    est.partial_fit(X, y)
    assert est.predict(X).shape == (60,)


def test_divergence_with_early_stopping_restores_the_best_weights() -> None:
    X, y = _tiny()
    est = MLPRegressor(
        hidden_layer_sizes=(20,),
        solver="sgd",
        learning_rate_init=10.0,
        random_state=0,
        max_iter=30,
        early_stopping=True,
    )
    with pytest.warns(ConvergenceWarning, match="diverged"):
        est.fit(X * 100, X[:, 0] * 1e3)
    assert all(np.isfinite(c).all() for c in est.coefs_)


def test_schedule_is_fixed_when_the_optimizer_is_made_like_sklearn() -> None:
    X, y = _tiny()
    models = []
    for cls in (MLPClassifier, sk_nn.MLPClassifier):
        est = cls(hidden_layer_sizes=(5,), solver="sgd", learning_rate="invscaling", random_state=0)
        est.partial_fit(X, y, classes=[0, 1])
        est.set_params(learning_rate_init=0.1, power_t=0.1)
        est.partial_fit(X, y)
        est.partial_fit(X, y)
        models.append(est)
    np.testing.assert_allclose(models[0].coefs_[0], models[1].coefs_[0], rtol=1e-9)


def test_negative_sample_weights_are_accepted_like_sklearn() -> None:
    X, y = _tiny()
    w = np.ones(len(y))
    w[0] = -1.0
    kw = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    ours = MLPRegressor(**kw).fit(X, X[:, 0], sample_weight=w)
    theirs = sk_nn.MLPRegressor(**kw).fit(X, X[:, 0], sample_weight=w)
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-9)
