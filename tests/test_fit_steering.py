"""`fit`'s in-loop measurements and controls: per-layer diagnostics, training metrics, gradient
clipping, callbacks that stop, `validation_split` — against NumPy computations over a twin
network driven one `step` at a time (the engine's gradients are checked elsewhere against the
reference; here what is checked is what the loop derives from them)."""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np
import pytest

import ferroprop as fp

RTOL = {"float64": 1e-10, "float32": 1e-4}


def _data(rows: int = 100, features: int = 6, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    y = rng.integers(0, classes, size=rows)
    return X, y


def _params(net: fp.Network) -> list[np.ndarray]:
    return [
        a.astype(np.float64) for pair in zip(net.weights, net.biases, strict=True) for a in pair
    ]


def _reference(net: fp.Network, X, y, epochs, batch, lr, clip_norm=None):
    """Each epoch's diagnostics and accuracy, stepping a twin with SGD one batch at a time:
    gradient norms before clipping, ‖Δθ‖/‖θ‖ per step, activation statistics from the
    training forward of each batch before its update."""
    twin = fp.Network(net.widths, activation="relu", dtype=net.dtype, seed=0)
    twin.set_parameters(net.weights, net.biases)
    n_layers = len(net.widths) - 1
    out = []
    for _ in range(epochs):
        grad_norm = np.zeros(n_layers)
        ratio = np.zeros(n_layers)
        acts = [[] for _ in range(n_layers - 1)]
        correct = steps = 0
        for start in range(0, len(X), batch):
            xb, yb = X[start : start + batch], y[start : start + batch]
            _, dW, db = twin.gradients(xb, yb)
            before = _params(twin)
            a = xb.astype(net.dtype)
            for i, (W, b) in enumerate(zip(twin.weights, twin.biases, strict=True)):
                a = a @ W + b
                if i < n_layers - 1:
                    a = np.maximum(a, 0)
                    acts[i].append(a.astype(np.float64))
            correct += int((a.argmax(axis=1) == yb).sum())
            grads = [g.astype(np.float64) for pair in zip(dW, db, strict=True) for g in pair]
            if clip_norm is not None:
                total = np.sqrt(sum((g**2).sum() for g in grads))
                coef = clip_norm / (total + 1e-6)
                if coef < 1:
                    c = np.dtype(net.dtype).type(coef)
                    dW = [w * c for w in dW]
                    db = [b * c for b in db]
            # SGD by hand, in the network's dtype, as the engine's update computes it.
            W = [
                w - np.dtype(net.dtype).type(lr) * g for w, g in zip(twin.weights, dW, strict=True)
            ]
            B = [b - np.dtype(net.dtype).type(lr) * g for b, g in zip(twin.biases, db, strict=True)]
            twin.set_parameters(W, B)
            after = _params(twin)
            for layer in range(n_layers):
                g = grads[2 * layer : 2 * layer + 2]
                grad_norm[layer] += np.sqrt(sum((v**2).sum() for v in g))
                old, new = before[2 * layer : 2 * layer + 2], after[2 * layer : 2 * layer + 2]
                change = sum(((n - o) ** 2).sum() for o, n in zip(old, new, strict=True))
                ratio[layer] += np.sqrt(change / sum((o**2).sum() for o in old))
            steps += 1
        final = _params(twin)
        epoch = {}
        for layer in range(n_layers):
            epoch[str(2 * layer)] = {
                "grad_norm": grad_norm[layer] / steps,
                "weight_norm": np.sqrt(
                    (final[2 * layer] ** 2).sum() + (final[2 * layer + 1] ** 2).sum()
                ),
                "update_ratio": ratio[layer] / steps,
            }
        for i, a in enumerate(acts):
            a = np.concatenate(a)
            epoch[str(2 * i + 1)] = {
                "mean": a.mean(),
                "std": a.std(),
                "dead_fraction": float(np.mean(~(a > 0).any(axis=0))),
            }
        out.append((epoch, correct / len(X)))
    return out, twin


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clip", [None, 0.05])
def test_diagnostics_and_accuracy_match_numpy(dtype: str, clip: float | None) -> None:
    X, y = _data()
    net = fp.Network([6, 7, 5, 3], activation="relu", dtype=dtype, seed=3)
    # Two dead units in the first hidden layer: a bias no input overcomes.
    b = net.biases
    b[0][:2] = -100.0
    net.set_parameters(net.weights, b)
    expected, twin = _reference(net, X, y, epochs=2, batch=16, lr=0.1, clip_norm=clip)
    hist = net.fit(
        X,
        y,
        epochs=2,
        batch_size=16,
        optimizer=fp.SGD(lr=0.1),
        shuffle=False,
        diagnostics=True,
        clip_grad_norm=clip,
    )
    tol = RTOL[dtype]
    for e, (layers, accuracy) in enumerate(expected):
        assert hist.accuracy[e] == pytest.approx(accuracy, abs=1e-12)
        for layer, metrics in layers.items():
            for metric, value in metrics.items():
                got = hist.diagnostics[layer][metric][e]
                assert got == pytest.approx(value, rel=tol, abs=tol * 1e-3), (layer, metric, e)
    assert hist.diagnostics["1"]["dead_fraction"][0] == pytest.approx(2 / 7)
    for w_fit, w_ref in zip(net.weights, twin.weights, strict=True):
        np.testing.assert_allclose(w_fit, w_ref, rtol=tol, atol=tol * 1e-3)


def test_diagnostics_do_not_change_training_and_ignore_the_thread_count() -> None:
    X, y = _data(rows=1024, features=64, classes=10)
    results = []
    previous = fp.get_num_threads()
    try:
        for threads, diagnostics in ((1, False), (1, True), (2, True)):
            fp.set_num_threads(threads)
            net = fp.Network([64, 256, 128, 10], activation="tanh", seed=1)
            hist = net.fit(
                X,
                y,
                epochs=2,
                batch_size=256,
                optimizer=fp.Adam(1e-3),
                seed=0,
                diagnostics=diagnostics,
            )
            results.append((net.weights, hist))
    finally:
        fp.set_num_threads(previous)
    for w_a, w_b in zip(results[0][0], results[1][0], strict=True):
        np.testing.assert_array_equal(w_a, w_b)
    assert len(results[0][1].diagnostics) == 0
    d1, d2 = results[1][1].diagnostics, results[2][1].diagnostics
    assert {k: dict(v) for k, v in d1.items()} == {k: dict(v) for k, v in d2.items()}


def test_regression_metrics_match_numpy() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4))
    Y = X @ rng.normal(size=(4, 2)) + 0.1 * rng.normal(size=(90, 2))
    net = fp.Network([4, 8, 2], activation="tanh", loss="mse", dtype="float64", seed=0)
    Xv, Yv = X[:30], Y[:30]
    hist = net.fit(
        X,
        Y,
        epochs=1,
        batch_size=90,
        optimizer=fp.SGD(0.01),
        shuffle=False,
        validation_data=(Xv, Yv),
    )
    pred = net.forward(Xv)
    assert hist.val_mae[0] == pytest.approx(np.abs(pred - Yv).mean(), rel=1e-10)
    r2 = np.mean(1 - ((pred - Yv) ** 2).sum(0) / ((Yv - Yv.mean(0)) ** 2).sum(0))
    assert hist.val_r2[0] == pytest.approx(r2, rel=1e-10)
    assert len(hist.mae) == len(hist.r2) == 1 and not hist.accuracy


def test_clip_grad_value_and_bad_thresholds() -> None:
    X, y = _data()
    net = fp.Network([6, 5, 3], activation="relu", dtype="float64", seed=0)
    twin = fp.Network([6, 5, 3], activation="relu", dtype="float64", seed=0)
    net.fit(
        X, y, epochs=1, batch_size=100, optimizer=fp.SGD(0.5), shuffle=False, clip_grad_value=0.01
    )
    _, dW, db = twin.gradients(X, y)
    twin.set_parameters(
        [w - 0.5 * np.clip(g, -0.01, 0.01) for w, g in zip(twin.weights, dW, strict=True)],
        [b - 0.5 * np.clip(g, -0.01, 0.01) for b, g in zip(twin.biases, db, strict=True)],
    )
    for a, b in zip(net.weights, twin.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="clip_grad_norm"):
            net.fit(X, y, epochs=1, clip_grad_norm=bad)
    with pytest.raises(ValueError, match="clip_grad_norm, clip_grad_value"):
        net.fit(X, y, epochs=1, clip_grad_norm=1.0, clip_grad_value=1.0)


def test_a_true_return_stops_and_validation_split_takes_the_last_rows() -> None:
    X, y = _data()
    seen = []

    class Stop:
        def on_epoch_end(self, epoch: int, logs: dict) -> bool:
            seen.append((epoch, logs["val_loss"]))
            return epoch == 1

    net = fp.Network([6, 5, 3], seed=0)
    hist = net.fit(X, y, epochs=10, validation_split=0.25, callbacks=[Stop()])
    assert [e for e, _ in seen] == [0, 1] and len(hist.loss) == 2
    assert hist.val_loss[-1] == pytest.approx(net.loss(X[75:], y[75:]), rel=1e-6)
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(X, y, validation_split=1.5)
    with pytest.raises(ValueError, match="validation_split, validation_data"):
        net.fit(X, y, validation_split=0.1, validation_data=(X, y))


def test_the_dead_unit_warning_fires_once() -> None:
    X, y = _data()
    net = fp.Network([6, 8, 3], activation="relu", seed=0)
    b = net.biases
    b[0][:6] = -100.0
    net.set_parameters(net.weights, b)
    with pytest.warns(fp.TrainingWarning, match="dead") as record:
        net.fit(X, y, epochs=3, diagnostics=True)
    assert sum("dead" in str(w.message) for w in record) == 1
    # Attributed to the line that called fit, though the loop calls back from another thread.
    assert all(w.filename == __file__ for w in record), [w.filename for w in record]


def _fit_warnings(net: fp.Network, X, y, callback) -> list[tuple[str, int]]:
    """Where each warning of a 1-epoch fit with `callback` points; the fit's own line last."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        net.fit(X, y, epochs=1, callbacks=[callback])
        line = sys._getframe().f_lineno - 1
    return [(w.filename, w.lineno) for w in got] + [(__file__, line)]


def test_callback_warnings_point_at_the_fit_line_from_any_thread(tmp_path) -> None:
    X, y = _data()
    net = fp.Network([6, 4, 3], seed=0)
    # No validation data: the checkpoint warns that it cannot watch val_loss.
    checkpoint = fp.callbacks.ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True)
    results = [_fit_warnings(net, X, y, checkpoint)]
    worker = threading.Thread(target=lambda: results.append(_fit_warnings(net, X, y, checkpoint)))
    worker.start()
    worker.join()
    for *got, fit_line in results:
        assert got and all(where == fit_line for where in got), (got, fit_line)
