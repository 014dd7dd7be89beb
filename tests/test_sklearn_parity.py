"""ferroprop's MLPClassifier/MLPRegressor against scikit-learn's own, same random_state.

Same initial weights, shuffles, updates, schedules and stopping rules: after several epochs the
coefficients agree to 1e-6 relative in float64 (rounding differences only) and `n_iter_` is
equal. The largest error seen is reported at the end of the run (conftest.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression

from conftest import record_parity
from ferroprop.sklearn import MLPClassifier, MLPRegressor

RTOL64 = 1e-6


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.fixture(scope="module")
def regression() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(240, 12, n_targets=2, noise=0.5, random_state=0)
    return X, y / 100.0


def _max_rel(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    """Largest |a - b| / max(|b|, 1e-3) over every element (the floor keeps near-zero weights
    from dominating through cancellation)."""
    return max(
        float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3)))
        for a, b in zip(ours, theirs, strict=True)
    )


def _fit_both(ours, theirs, X, y, **fit_kw):  # noqa: ANN001, ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning from both, by design
        ours.fit(X, y, **fit_kw)
        theirs.fit(X, y, **fit_kw)
    return ours, theirs


def _assert_same_model(ours, theirs, label: str, rtol: float = RTOL64) -> None:  # noqa: ANN001
    assert ours.n_iter_ == theirs.n_iter_, label
    assert ours.t_ == theirs.t_ if hasattr(theirs, "t_") else True
    err = _max_rel(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_)
    dtype = ours.coefs_[0].dtype.name
    record_parity(f"sklearn {label}", dtype, err)
    assert err <= rtol, f"{label}: coefficients differ by {err:.3e} relative"
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=max(rtol, 1e-9))
    if getattr(theirs, "loss_curve_", None) is not None:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=max(rtol, 1e-9))
    if getattr(theirs, "validation_scores_", None) is not None:
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)


CLASSIFIER_CASES = {
    "adam": dict(solver="adam", max_iter=8),
    "adam tanh batch 64": dict(solver="adam", activation="tanh", batch_size=64, max_iter=8),
    "adam logistic alpha": dict(solver="adam", activation="logistic", alpha=0.5, max_iter=8),
    "adam identity no shuffle": dict(
        solver="adam", activation="identity", shuffle=False, max_iter=6
    ),
    "sgd nesterov": dict(solver="sgd", max_iter=8),
    "sgd momentum": dict(solver="sgd", nesterovs_momentum=False, max_iter=8),
    "sgd plain": dict(solver="sgd", momentum=0.0, max_iter=8),
    "sgd invscaling": dict(solver="sgd", learning_rate="invscaling", max_iter=8),
    "sgd adaptive": dict(
        solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=2, max_iter=40
    ),
    "sgd constant stops on tol": dict(solver="sgd", tol=0.2, n_iter_no_change=2, max_iter=60),
    "adam early stopping": dict(
        solver="adam", early_stopping=True, alpha=0.01, n_iter_no_change=3, max_iter=80
    ),
    "sgd early stopping": dict(
        solver="sgd", early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, max_iter=40
    ),
    "lbfgs": dict(solver="lbfgs", max_iter=25),
    "lbfgs alpha": dict(solver="lbfgs", alpha=1.0, max_iter=25),
}


@pytest.mark.parametrize("case", list(CLASSIFIER_CASES))
def test_multiclass_matches_sklearn(digits, case: str) -> None:  # noqa: ANN001
    X, y = digits
    kw = dict(hidden_layer_sizes=(24, 16), random_state=3, **CLASSIFIER_CASES[case])
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X, y)
    _assert_same_model(ours, theirs, f"multiclass {case}")
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)


def test_lbfgs_stops_where_sklearn_stops(digits) -> None:  # noqa: ANN001
    # Run to convergence (gtol): the iteration count, loss and predictions agree. Over 100+
    # quasi-Newton steps the last digits of flat directions drift (~1e-3 relative in the
    # weights), so the coefficients are compared in the fixed-iteration cases above instead.
    X, y = digits
    kw = dict(hidden_layer_sizes=(24, 16), solver="lbfgs", alpha=1.0, tol=1e-3, random_state=3)
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 500
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_binary_matches_sklearn(digits, solver: str) -> None:  # noqa: ANN001
    X, y = digits
    labels = np.where(y > 4, "high", "low")
    kw = dict(hidden_layer_sizes=(20,), solver=solver, alpha=0.01, max_iter=10, random_state=0)
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X, labels)
    _assert_same_model(ours, theirs, f"binary {solver}")
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_multilabel_matches_sklearn(digits, solver: str) -> None:  # noqa: ANN001
    X, y = digits
    Y = np.stack([y > 4, y % 2 == 0, y == 7], axis=1).astype(int)
    kw = dict(hidden_layer_sizes=(20,), solver=solver, max_iter=10, random_state=1)
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X, Y)
    _assert_same_model(ours, theirs, f"multilabel {solver}")
    assert ours.out_activation_ == "logistic"
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_sample_weight_matches_sklearn(digits, solver: str, early_stopping: bool) -> None:  # noqa: ANN001
    X, y = digits
    sw = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    kw = dict(
        hidden_layer_sizes=(20,),
        solver=solver,
        alpha=0.05,
        max_iter=12,
        random_state=2,
        early_stopping=early_stopping and solver != "lbfgs",
    )
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X, y, sample_weight=sw)
    _assert_same_model(ours, theirs, f"sample_weight {solver} es={early_stopping}")


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_regressor_matches_sklearn(regression, loss: str, solver: str) -> None:  # noqa: ANN001
    X, y = regression
    if loss == "poisson":
        y = np.random.default_rng(1).poisson(np.exp(X[:, :2] / 4.0)).astype(float)
    lr = 1e-3 if solver == "sgd" else 1e-3
    kw = dict(
        loss=loss,
        hidden_layer_sizes=(16, 8),
        solver=solver,
        alpha=0.1,
        learning_rate_init=lr,
        max_iter=15,
        random_state=4,
    )
    ours, theirs = _fit_both(MLPRegressor(**kw), sk.MLPRegressor(**kw), X, y)
    _assert_same_model(ours, theirs, f"regressor {loss} {solver}")
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)


def test_regressor_early_stopping_and_sample_weight_match(regression) -> None:  # noqa: ANN001
    X, y = regression
    sw = np.random.default_rng(3).uniform(0.2, 2.0, len(y))
    kw = dict(hidden_layer_sizes=(16,), early_stopping=True, max_iter=30, random_state=5)
    ours, theirs = _fit_both(
        MLPRegressor(**kw), sk.MLPRegressor(**kw), X, y[:, 0], sample_weight=sw
    )
    _assert_same_model(ours, theirs, "regressor early stopping + sample_weight")


def test_partial_fit_and_warm_start_match(digits) -> None:  # noqa: ANN001
    X, y = digits
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", random_state=0)
    ours, theirs = MLPClassifier(**kw), sk.MLPClassifier(**kw)
    for start in range(0, 600, 200):
        ours.partial_fit(X[start : start + 200], y[start : start + 200], classes=np.arange(10))
        theirs.partial_fit(X[start : start + 200], y[start : start + 200], classes=np.arange(10))
    _assert_same_model(ours, theirs, "partial_fit")
    kw = dict(hidden_layer_sizes=(16,), warm_start=True, max_iter=3, random_state=0)
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X, y)
    _fit_both(ours, theirs, X, y)
    _assert_same_model(ours, theirs, "warm_start")


def test_float32_follows_the_input(digits) -> None:  # noqa: ANN001
    X, y = digits
    X32 = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(20,), max_iter=5, random_state=0)
    ours, theirs = _fit_both(MLPClassifier(**kw), sk.MLPClassifier(**kw), X32, y)
    assert ours.coefs_[0].dtype == np.float32
    assert ours.predict_proba(X32).dtype == np.float32
    assert ours.n_iter_ == theirs.n_iter_
    err = _max_rel(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_)
    record_parity("sklearn float32 adam", "float32", err)
    assert err < 1e-3
