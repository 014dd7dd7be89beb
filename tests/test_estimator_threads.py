"""The estimators' prediction methods are safe to call from many threads at once.

scikit-learn's `predict`, `predict_proba` and `score` only read a fitted estimator, so callers
share one estimator between threads (a web server, `joblib` with the threading backend). Here
8 threads make 100 mixed calls each on one fitted estimator, started together by a barrier:
none may raise (before the fix, 300-726 of 400 calls raised `RuntimeError: Already borrowed`,
every prediction pushing the parameters into the one core network), and every result must be
bitwise identical to the serial one. Editing `coefs_` in place, or replacing them, between
calls must still be honoured, checked against the NumPy reference (float64, rtol 1e-10).
"""

from __future__ import annotations

import pickle
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import ferroprop as fp
from reference import ReferenceMLP

N_THREADS = 8
CALLS_PER_THREAD = 100
RTOL = 1e-10  # float64 parity with the NumPy reference


def make_data(n: int = 120, n_features: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (n, n_features) float64, 3-class labels and 2-column regression targets."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, n_features))
    labels = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    targets = np.column_stack([X[:, 0] - 2 * X[:, 2], np.sin(X[:, 3])])
    return X, labels, targets


def fitted(kind: str) -> Any:
    """A small fitted MLPClassifier (3 string classes) or MLPRegressor (2 outputs), float64."""
    X, labels, targets = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "classifier":
            return fp.MLPClassifier((16, 8), max_iter=30, random_state=0).fit(X, labels)
        est = fp.MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=30, random_state=0)
        return est.fit(X, targets)


def calls(est: Any, kind: str) -> dict[str, Callable[[np.ndarray], Any]]:
    """The read-only methods to hammer, each a function of X."""
    _, labels, targets = make_data()
    y = labels if kind == "classifier" else targets
    methods: dict[str, Callable[[np.ndarray], Any]] = {
        "predict": est.predict,
        "score": lambda X: est.score(X, y),
    }
    if kind == "classifier":
        methods["predict_proba"] = est.predict_proba
    return methods


def run_threads(work: Callable[[int], list[tuple[str, Any]]]) -> list[list[tuple[str, Any]]]:
    """Runs `work(thread_index)` in N_THREADS threads started together; re-raises the first
    exception any thread raised (with the count of failed threads)."""
    barrier = threading.Barrier(N_THREADS)
    results: list[list[tuple[str, Any]]] = [[] for _ in range(N_THREADS)]
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError(f"{len(errors)} of {N_THREADS} threads raised") from errors[0]
    return results


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_concurrent_predictions_match_serial(kind: str) -> None:
    est = fitted(kind)
    X, _, _ = make_data()
    methods = calls(est, kind)
    names = list(methods)
    serial = {name: call(X) for name, call in methods.items()}

    def work(i: int) -> list[tuple[str, Any]]:
        out = []
        for j in range(CALLS_PER_THREAD):
            name = names[(i + j) % len(names)]  # every method runs alongside every other
            out.append((name, methods[name](X)))
        return out

    results = run_threads(work)
    n_results = 0
    for per_thread in results:
        assert len(per_thread) == CALLS_PER_THREAD
        for name, value in per_thread:
            np.testing.assert_array_equal(value, serial[name], err_msg=name)
            n_results += 1
    assert n_results == N_THREADS * CALLS_PER_THREAD


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_concurrent_predictions_on_distinct_inputs(kind: str) -> None:
    """Each thread predicts its own rows; each result equals that slice's serial result."""
    est = fitted(kind)
    X, _, _ = make_data(n=N_THREADS * 16)
    chunks = np.split(X, N_THREADS)
    serial = [est.predict(chunk) for chunk in chunks]

    def work(i: int) -> list[tuple[str, Any]]:
        return [("predict", est.predict(chunks[i])) for _ in range(CALLS_PER_THREAD)]

    for i, per_thread in enumerate(run_threads(work)):
        for _, value in per_thread:
            np.testing.assert_array_equal(value, serial[i])


def reference_forward(est: Any, X: np.ndarray) -> np.ndarray:
    """The output activations of `est`'s current `coefs_`/`intercepts_`, in NumPy."""
    loss = "cross_entropy" if getattr(est, "out_activation_", "") == "softmax" else "mse"
    ref = ReferenceMLP(est.coefs_, est.intercepts_, est.activation, loss)
    return ref.forward(X)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.max(np.abs(expected)))


def test_in_place_edits_of_coefs_are_honoured() -> None:
    est = fitted("regressor")
    X, _, _ = make_data()
    assert_close(est.predict(X), reference_forward(est, X))

    est.coefs_[-1][:] = 0.0  # the output no longer depends on X
    pred = est.predict(X)
    np.testing.assert_array_equal(pred, np.broadcast_to(est.intercepts_[-1], pred.shape))

    est.coefs_[-1][:] = 0.3
    est.intercepts_[0][1] += 0.5
    assert_close(est.predict(X), reference_forward(est, X))

    # Replaced (not edited) lists and arrays, of the same values and of new ones.
    est.coefs_ = [c.copy() for c in est.coefs_]
    assert_close(est.predict(X), reference_forward(est, X))
    est.coefs_ = [c * 0.5 for c in est.coefs_]
    est.intercepts_ = [b - 0.1 for b in est.intercepts_]
    assert_close(est.predict(X), reference_forward(est, X))


def test_in_place_edits_honoured_by_predict_proba_and_score() -> None:
    est = fitted("classifier")
    X, labels, _ = make_data()
    assert_close(est.predict_proba(X), reference_forward(est, X))
    # Make class "c" win everywhere: a huge bias on its output.
    est.intercepts_[-1][list(est.classes_).index("c")] = 1e3
    np.testing.assert_array_equal(est.predict(X), np.full(len(X), "c"))
    assert_close(est.predict_proba(X), reference_forward(est, X))
    assert est.score(X, labels) == pytest.approx(np.mean(labels == "c"), abs=0)


def test_edit_between_concurrent_rounds() -> None:
    """Threads predict, the parameters are edited in place (no thread running), threads
    predict again: every result of the second round reflects the edit."""
    est = fitted("regressor")
    X, _, _ = make_data()
    before = est.predict(X)

    def work(i: int) -> list[tuple[str, Any]]:
        return [("predict", est.predict(X)) for _ in range(CALLS_PER_THREAD // 4)]

    for per_thread in run_threads(work):
        for _, value in per_thread:
            np.testing.assert_array_equal(value, before)
    est.coefs_[0] *= -1.0
    after = est.predict(X)
    assert_close(after, reference_forward(est, X))
    assert not np.allclose(after, before)
    for per_thread in run_threads(work):
        for _, value in per_thread:
            np.testing.assert_array_equal(value, after)


def test_non_finite_edit_is_rejected_then_recovered() -> None:
    """A NaN written into `coefs_` makes prediction raise ValueError (the core refuses
    non-finite parameters), and undoing the edit brings back the earlier predictions."""
    est = fitted("regressor")
    X, _, _ = make_data()
    before = est.predict(X)
    saved = est.intercepts_[-1][0]
    est.intercepts_[-1][0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        est.predict(X)
    est.intercepts_[-1][0] = saved
    np.testing.assert_array_equal(est.predict(X), before)


def test_prediction_network_reused_while_parameters_unchanged() -> None:
    est = fitted("classifier")
    X, _, _ = make_data()
    est.predict(X)
    net = est._prediction_network()
    est.predict_proba(X)
    assert est._prediction_network() is net
    est.coefs_[0][0, 0] += 1.0
    assert est._prediction_network() is not net


def test_prediction_leaves_training_state_alone() -> None:
    """Predicting (from threads) does not touch the training network: `partial_fit` after
    predictions trains on exactly as without them."""
    X, _, targets = make_data()
    a, b = fitted("regressor"), fitted("regressor")
    run_threads(lambda i: [("predict", a.predict(X)) for _ in range(10)])
    a.partial_fit(X, targets)
    b.partial_fit(X, targets)
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(ca, cb)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_pickled_estimator_predicts_from_threads() -> None:
    est = fitted("classifier")
    X, _, _ = make_data()
    serial = est.predict_proba(X)
    clone = pickle.loads(pickle.dumps(est))
    for per_thread in run_threads(lambda i: [("p", clone.predict_proba(X)) for _ in range(20)]):
        for _, value in per_thread:
            np.testing.assert_array_equal(value, serial)
