"""End-to-end learning: the network must actually fit small classic problems.

Settings are generous (wide hidden layers, enough epochs) and seeds are fixed, so each test is
deterministic and far from its threshold rather than tuned to barely pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

import ferroprop as fp


def _accuracy(pred: NDArray, y: NDArray) -> float:
    return float(np.mean(np.asarray(pred) == y))


def test_xor_reaches_full_accuracy() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    net = fp.Network([2, 16, 2], activation="tanh", loss="cross_entropy", seed=0)
    hist = net.fit(X, y, epochs=300, batch_size=4, optimizer=fp.Adam(lr=0.05), seed=0)
    assert _accuracy(net.predict(X), y) == 1.0
    assert hist.loss[-1] < 0.05 < hist.loss[0]


@pytest.fixture(scope="module")
def digits() -> tuple[NDArray, NDArray, NDArray, NDArray]:
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)  # pixel values are 0..16
    return model_selection.train_test_split(X, y.astype(np.int64), test_size=0.25, random_state=0)


def test_digits_test_accuracy(digits: tuple[NDArray, NDArray, NDArray, NDArray]) -> None:
    X_train, X_test, y_train, y_test = digits
    net = fp.Network([64, 128, 10], activation="relu", loss="cross_entropy", seed=0)
    epochs = 30
    hist = net.fit(
        X_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        optimizer=fp.Adam(lr=1e-3),
        seed=0,
        validation_data=(X_test, y_test),
    )
    accuracy = _accuracy(net.predict(X_test), y_test)
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f}"

    # The per-epoch history is complete, and its last validation entries describe the final net.
    assert len(hist.loss) == len(hist.val_loss) == len(hist.val_accuracy) == epochs
    assert hist.val_accuracy[-1] == pytest.approx(accuracy, abs=1e-12)
    assert hist.val_loss[-1] == pytest.approx(net.loss(X_test, y_test), rel=1e-4)
    assert hist.loss[-1] < hist.loss[0] / 5


def test_binary_cross_entropy_multilabel() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (512, 4)).astype(np.float32)
    # Three labels: two linear ones and one XOR-like one that needs the hidden layer.
    y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 2] * X[:, 3] > 0], axis=1)
    y = y.astype(np.float32)
    net = fp.Network([4, 32, 3], activation="tanh", loss="binary_cross_entropy", seed=0)
    hist = net.fit(X, y, epochs=150, batch_size=32, optimizer=fp.Adam(lr=0.01), seed=0)

    probs = np.asarray(net.forward(X))
    assert probs.shape == y.shape and np.all((probs >= 0) & (probs <= 1))
    per_label = np.mean((probs > 0.5) == (y > 0.5), axis=0)
    assert np.all(per_label >= 0.95), f"per-label training accuracy {per_label}"
    assert hist.loss[-1] < hist.loss[0] / 4


def test_mse_regression_fits_sine() -> None:
    X = np.linspace(-np.pi, np.pi, 256, dtype=np.float32)[:, None]
    y = np.sin(X)
    net = fp.Network([1, 32, 1], activation="tanh", loss="mse", seed=0)
    net.fit(X, y, epochs=300, batch_size=32, optimizer=fp.Adam(lr=0.01), seed=0)
    mse = net.loss(X, y)
    # sin(x) has variance 0.5 here, so this is a better than 98% fit.
    assert mse < 1e-2, f"final MSE {mse:.2e}"
    np.testing.assert_allclose(net.predict(X), net.forward(X))  # identity output for mse


@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss", "squared_error", "poisson"])
def test_sklearn_losses_train_through_network(loss: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 4))
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    y = {
        "log_loss": labels,
        "binary_log_loss": labels[:, None].astype(float),
        "squared_error": X[:, :1] * 2.0,
        "poisson": np.exp(X[:, :1] / 2.0),
    }[loss]
    net = fp.Network([4, 16, 2 if loss == "log_loss" else 1], activation="tanh", loss=loss)
    before = net.loss(X, y)
    net.fit(X, y, epochs=30, batch_size=32, optimizer=fp.Adam(1e-2), seed=0)
    assert net.loss(X, y) < 0.5 * before
