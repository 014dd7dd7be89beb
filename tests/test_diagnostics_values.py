"""The diagnostics tests/test_fit_steering.py leaves out, against NumPy over a twin network
stepped one batch at a time: `saturated_fraction` (with `mean` and `std`) of sigmoid and tanh
layers, fused into the Dense before them or on their own after a normalisation, and `gamma_mean`,
`gamma_std` (with `grad_norm` and `weight_norm`) of LayerNorm and BatchNorm layers.

The definitions (rust/train/probe.rs): a unit is saturated on a row when its derivative,
computed from its output `a` in the network's dtype — `a(1-a)` for sigmoid, `1-a²` for tanh —
is below `SATURATED_DERIVATIVE` = 0.01, and saturated for the epoch when it is so on at least
`SATURATED_ROWS` = 99% of the epoch's rows (each batch's training forward, before its update);
`saturated_fraction` is the share of the layer's units saturated for the epoch. `gamma_mean`
and `gamma_std` are the mean and population standard deviation of γ at the end of the epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import ferroprop as fp
from ferroprop import layers as L

RTOL = {"float64": 1e-10, "float32": 1e-4}
SATURATED_DERIVATIVE, SATURATED_ROWS = 0.01, 0.99
ROWS, BATCH, LR, EPOCHS = 200, 64, 0.05, 2  # batches of 64, 64, 64, 8
EPS = 1e-5  # LayerNorm's and BatchNorm's default

pytestmark = pytest.mark.filterwarnings("ignore::ferroprop.TrainingWarning")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


ACTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": (_sigmoid, lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
}


class Watch:
    """One activation layer's epoch: its outputs and per-unit counts of saturated rows."""

    def __init__(self, act: str) -> None:
        self.act, self.outputs, self.counts = act, [], 0

    def add(self, a: np.ndarray) -> None:
        derivative = ACTS[self.act][1](a)  # in the network's dtype, as the engine
        self.counts = self.counts + (derivative < SATURATED_DERIVATIVE).sum(axis=0)
        self.outputs.append(a.astype(np.float64))

    def figures(self) -> dict[str, float]:
        a = np.concatenate(self.outputs)
        saturated = self.counts >= SATURATED_ROWS * len(a)
        return {"mean": a.mean(), "std": a.std(), "saturated_fraction": saturated.mean()}


def _check(hist: fp.History, expected: list[dict[str, dict[str, float]]], dtype: str) -> None:
    tol = RTOL[dtype]
    for e, layers in enumerate(expected):
        for layer, metrics in layers.items():
            for metric, value in metrics.items():
                got = hist.diagnostics[layer][metric][e]
                assert got == pytest.approx(value, rel=tol, abs=tol * 1e-3), (layer, metric, e)


# -- fused: Network([4, 6, 3], activation) ----------------------------------------------------


def _saturating_network(act: str, dtype: str) -> tuple[fp.Network, np.ndarray, np.ndarray]:
    """Six hidden units: 0 saturated on exactly 99% of the rows (x0 = ±1 but on 2 of 200
    rows, weight 30), 1 on 98.5% (3 rows of x1 at 0), 2 and 3 always (bias ±40), 4 and 5
    hardly ever (small weights): a saturated fraction of 3/6."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(ROWS, 4))
    X[:, :2] = rng.choice([-1.0, 1.0], size=(ROWS, 2))
    X[rng.choice(ROWS, 2, replace=False), 0] = 0.0
    X[rng.choice(ROWS, 3, replace=False), 1] = 0.0
    y = rng.integers(0, 3, size=ROWS)
    net = fp.Network([4, 6, 3], activation=act, dtype=dtype, seed=2)
    W0 = np.zeros((4, 6))
    W0[0, 0] = W0[1, 1] = 30.0
    W0[:, 4:] = 0.3 * rng.normal(size=(4, 2))
    b0 = np.array([0.0, 0.0, 40.0, -40.0, 0.0, 0.0])
    net.set_parameters([W0, net.weights[1]], [b0, net.biases[1]])
    return net, X, y


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_saturated_fraction_of_a_fused_activation(act: str, dtype: str) -> None:
    net, X, y = _saturating_network(act, dtype)
    twin, _, _ = _saturating_network(act, dtype)
    opt = fp.SGD(LR)
    expected = []
    for _ in range(EPOCHS):
        watch = Watch(act)
        for start in range(0, ROWS, BATCH):
            xb, yb = X[start : start + BATCH], y[start : start + BATCH]
            W, b = twin.weights[0], twin.biases[0]
            watch.add(ACTS[act][0](xb.astype(dtype) @ W + b).astype(dtype))
            twin.step(xb, yb, opt)
        expected.append({"1": watch.figures()})
    hist = net.fit(
        X,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        optimizer=fp.SGD(LR),
        shuffle=False,
        diagnostics=True,
    )
    _check(hist, expected, dtype)
    assert hist.diagnostics["1"]["saturated_fraction"] == [0.5] * EPOCHS


# -- on their own, after LayerNorm and BatchNorm: a Sequential ---------------------------------

STACK = [
    L.Dense(6),
    L.LayerNorm(),
    L.Activation("tanh"),
    L.Dense(6),
    L.BatchNorm(),
    L.Activation("sigmoid"),
    L.Dense(3),
]
# γ and β: LayerNorm's units 0 and 1 pinned at tanh(5), tanh(-6) (saturated), the others
# spread; BatchNorm's unit 0 pinned at sigmoid(12) (saturated), unit 1 steep (γ = 30:
# saturated except on the ~12% of rows within 0.15 of the batch mean).
NORMS = {
    "1.weight": [0.0, 0.0, 0.5, 1.0, 1.5, 2.0],
    "1.bias": [5.0, -6.0, 0.0, 0.2, -0.3, 0.0],
    "4.weight": [0.0, 30.0, 1.0, 0.7, 0.5, 2.0],
    "4.bias": [12.0, 0.0, 0.0, 0.1, 0.0, -0.5],
}


def _normalised_stack(dtype: str) -> fp.Sequential:
    seq = fp.Sequential(STACK, input_dim=4, dtype=dtype, seed=3)
    state = seq.state_dict()
    state.update({k: np.array(v) for k, v in NORMS.items()})
    seq.load_state_dict(state)
    return seq


def _normalise(z: np.ndarray, axis: int, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(z - mean) / sqrt(biased var + eps) · γ + β along `axis` (LayerNorm: 1, BatchNorm in
    training: 0)."""
    mean = z.mean(axis=axis, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=axis, keepdims=True)
    return (z - mean) / np.sqrt(var + EPS) * gamma + beta


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_saturation_after_norms_and_gamma_statistics(dtype: str) -> None:
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(ROWS, 4)), rng.integers(0, 3, size=ROWS)
    seq, twin = _normalised_stack(dtype), _normalised_stack(dtype)
    opt = fp.SGD(LR)
    expected = []
    for _ in range(EPOCHS):
        tanh, sigmoid = Watch("tanh"), Watch("sigmoid")
        grad_norm = {"1": 0.0, "4": 0.0}
        steps = 0
        for start in range(0, ROWS, BATCH):
            xb, yb = X[start : start + BATCH], y[start : start + BATCH]
            p = {k: v.astype(np.float64) for k, v in twin.state_dict().items()}
            a = np.tanh(
                _normalise(xb @ p["0.weight"].T + p["0.bias"], 1, p["1.weight"], p["1.bias"])
            )
            tanh.add(a.astype(dtype))
            z = _normalise(a @ p["3.weight"].T + p["3.bias"], 0, p["4.weight"], p["4.bias"])
            sigmoid.add(_sigmoid(z).astype(dtype))
            _, grads = twin.gradients(xb, yb)
            for layer in grad_norm:
                g = [grads[f"{layer}.{t}"].astype(np.float64) for t in ("weight", "bias")]
                grad_norm[layer] += np.sqrt(sum((v**2).sum() for v in g))
            twin.step(xb, yb, opt)
            steps += 1
        state = {k: v.astype(np.float64) for k, v in twin.state_dict().items()}
        epoch = {"2": tanh.figures(), "5": sigmoid.figures()}
        for layer in grad_norm:
            gamma, beta = state[f"{layer}.weight"], state[f"{layer}.bias"]
            epoch[layer] = {
                "gamma_mean": gamma.mean(),
                "gamma_std": gamma.std(),
                "weight_norm": np.sqrt((gamma**2).sum() + (beta**2).sum()),
                "grad_norm": grad_norm[layer] / steps,
            }
        expected.append(epoch)
    hist = seq.fit(
        X,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        optimizer=fp.SGD(LR),
        shuffle=False,
        diagnostics=True,
    )
    _check(hist, expected, dtype)
    assert hist.diagnostics["2"]["saturated_fraction"] == [2 / 6] * EPOCHS
    assert hist.diagnostics["5"]["saturated_fraction"] == [1 / 6] * EPOCHS
    assert hist.diagnostics["1"]["gamma_std"][0] > 0.5  # γ is spread, not the initial ones
