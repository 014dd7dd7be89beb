"""Parity of ferroprop against the plain-NumPy float64 reference in ``reference.py``.

Every case starts the reference from the network's own initial parameters (read back through
``net.weights`` / ``net.biases``), so only the arithmetic is compared. float32 networks are
compared against the float64 reference run from the same float32-rounded parameters and data.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest
from numpy.typing import NDArray

import ferroprop as fp
import reference
from conftest import ParityChecker, relative_error

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"]
LOSSES = ["cross_entropy", "binary_cross_entropy", "mse"]
DTYPES = ["float32", "float64"]

# name -> (optimizer class name, kwargs); identical signatures in ferroprop and the reference.
# Modest learning rates keep float32 runs from drifting away from the float64 reference.
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd": ("SGD", {"lr": 0.05}),
    "sgd_momentum": ("SGD", {"lr": 0.05, "momentum": 0.9}),
    "sgd_nesterov_wd": (
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    ),
    "adam": ("Adam", {"lr": 0.01}),
    "adam_wd": ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.01}),
    "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.05}),
}

N_OPTIMIZER_STEPS = 5


@dataclass(frozen=True)
class Case:
    widths: tuple[int, ...]
    activation: str | tuple[str, ...]
    loss: str
    dtype: str

    @property
    def id(self) -> str:
        act = self.activation if isinstance(self.activation, str) else "+".join(self.activation)
        arch = "-".join(map(str, self.widths))
        return f"{self.dtype}-{self.loss}-{arch}-{act}"

    @property
    def seed(self) -> int:
        # A stable per-case seed (hash() is salted per process).
        return zlib.crc32(self.id.encode())

    def network_activation(self) -> str | list[str]:
        return self.activation if isinstance(self.activation, str) else list(self.activation)


def _cases() -> list[Case]:
    cases = []
    for dtype in DTYPES:
        for loss in LOSSES:
            # No hidden layer: the activation is irrelevant, so one case per loss/dtype.
            # Softmax over a single class is constant, so cross_entropy gets two outputs.
            n_out = 2 if loss == "cross_entropy" else 1
            cases.append(Case((3, n_out), "relu", loss, dtype))
            for i, act in enumerate(ACTIVATIONS):
                next_act = ACTIVATIONS[(i + 1) % len(ACTIVATIONS)]
                cases.append(Case((5, 7, 4), act, loss, dtype))
                cases.append(Case((6, 8, 5, 3), (act, next_act), loss, dtype))
                cases.append(Case((20, 33, 17, 10), act, loss, dtype))
    return cases


CASES = _cases()
CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES]


def make_data(case: Case, n: int, salt: int = 0) -> tuple[NDArray, NDArray]:
    """Random inputs and loss-appropriate targets, already in the network's dtype."""
    rng = np.random.default_rng([case.seed, n, salt])
    n_in, n_out = case.widths[0], case.widths[-1]
    X = rng.standard_normal((n, n_in)).astype(case.dtype)
    if case.loss == "cross_entropy":
        y = rng.integers(0, n_out, size=n).astype(np.int64)
    elif case.loss == "binary_cross_entropy":
        y = (rng.random((n, n_out)) < 0.5).astype(case.dtype)
    else:
        y = rng.standard_normal((n, n_out)).astype(case.dtype)
        if n_out == 1:
            y = y[:, 0]  # exercise the documented (n,) target form for a single output
    return X, y


def make_network(case: Case) -> fp.Network:
    return fp.Network(
        list(case.widths),
        activation=case.network_activation(),
        loss=case.loss,
        dtype=case.dtype,
        seed=case.seed % 2**31,
    )


def reference_for(case: Case, net: fp.Network) -> reference.ReferenceMLP:
    """A float64 reference starting from exactly the network's current parameters."""
    return reference.ReferenceMLP(net.weights, net.biases, case.activation, case.loss)


def make_optimizers(name: str, dtype: str = "float64") -> tuple[object, object]:
    cls, kwargs = OPTIMIZERS[name]
    if cls != "SGD" and dtype == "float32":
        # Adam's first step is lr * g / (|g| + eps): with the default eps=1e-8, a gradient entry
        # of ~1e-8 (below float32 rounding noise of the sum that produced it) moves by an
        # arbitrary fraction of lr. A larger eps keeps the float32 comparison meaningful; float64
        # keeps the default eps.
        kwargs = {**kwargs, "eps": 1e-4}
    return getattr(fp, cls)(**kwargs), getattr(reference, cls)(**kwargs)


# --------------------------------------------------------------------------------------------
# Forward pass, loss and gradients.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 16])
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_forward_loss_gradients(case: Case, n: int, parity: Callable[[str], ParityChecker]) -> None:
    check = parity(case.dtype)
    net = make_network(case)
    ref = reference_for(case, net)
    X, y = make_data(case, n)

    out = np.asarray(net.forward(X))
    assert out.shape == (n, case.widths[-1])
    check.close(out, ref.forward(X), "forward", "forward")
    value = net.loss(X, y)
    assert isinstance(value, float)
    check.close(value, ref.loss(X, y), "loss", "loss")

    loss, dW, db = net.gradients(X, y)
    ref_loss, ref_dW, ref_db = ref.gradients(X, y)
    check.close(loss, ref_loss, "loss", "gradients loss")
    check.close_all(dW, ref_dW, "gradient", "dW")
    check.close_all(db, ref_db, "gradient", "db")
    assert all(np.asarray(g).dtype == np.dtype(case.dtype) for g in [*dW, *db])

    pred = np.asarray(net.predict(X))
    if case.loss == "cross_entropy":
        assert pred.dtype == np.int64 and pred.shape == (n,)
        # Compare class indices only where the reference is not (nearly) tied for first place.
        probs = np.sort(ref.forward(X), axis=1)
        decided = probs[:, -1] - probs[:, -2] > 1e-5
        assert np.array_equal(pred[decided], ref.predict(X)[decided])
    else:
        check.close(pred, ref.predict(X), "forward", "predict")


def test_mse_single_output_accepts_1d_and_2d_targets() -> None:
    case = Case((3, 1), "relu", "mse", "float64")
    net = make_network(case)
    X, y = make_data(case, 9)
    assert y.ndim == 1
    loss_1d, dW_1d, db_1d = net.gradients(X, y)
    loss_2d, dW_2d, db_2d = net.gradients(X, y[:, None])
    assert loss_1d == loss_2d
    for a, b in zip([*dW_1d, *db_1d], [*dW_2d, *db_2d], strict=True):
        np.testing.assert_array_equal(a, b)


def test_logistic_is_an_alias_of_sigmoid() -> None:
    kwargs = {"loss": "binary_cross_entropy", "dtype": "float64", "seed": 5}
    a = fp.Network([4, 6, 2], activation="sigmoid", **kwargs)
    b = fp.Network([4, 6, 2], activation="logistic", **kwargs)
    X = np.random.default_rng(0).standard_normal((5, 4))
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.forward(X), b.forward(X))


# --------------------------------------------------------------------------------------------
# Optimizer steps and fit.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_optimizer_steps(case: Case, opt_name: str, parity: Callable[[str], ParityChecker]) -> None:
    check = parity(case.dtype)
    net = make_network(case)
    ref = reference_for(case, net)
    opt, ref_opt = make_optimizers(opt_name, case.dtype)
    for step in range(N_OPTIMIZER_STEPS):
        # A different batch each step, so the state mixes distinct gradients.
        X, y = make_data(case, 12, salt=step)
        loss = net.step(X, y, opt)
        check.close(loss, ref.step(X, y, ref_opt), "step loss", f"{opt_name} step {step} loss")
    check.close_all(net.weights, ref.weights, "optimizer", f"{opt_name} W")
    check.close_all(net.biases, ref.biases, "optimizer", f"{opt_name} b")


# 38 rows in batches of 8: four full batches and a partial one of 6; 10 epochs = 50 steps.
FIT_ROWS, FIT_BATCH, FIT_EPOCHS = 38, 8, 10


def _fit_pair(case: Case) -> tuple[fp.Network, reference.ReferenceMLP, list[float], list[float]]:
    net = make_network(case)
    ref = reference_for(case, net)
    X, y = make_data(case, FIT_ROWS)
    opt, ref_opt = make_optimizers("sgd_momentum")
    hist = net.fit(
        X, y, epochs=FIT_EPOCHS, batch_size=FIT_BATCH, optimizer=opt, shuffle=False, verbose=False
    )
    ref_hist = ref.fit(X, y, epochs=FIT_EPOCHS, batch_size=FIT_BATCH, optimizer=ref_opt)
    return net, ref, list(hist.loss), ref_hist


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_fit_unshuffled_parameters(case: Case, parity: Callable[[str], ParityChecker]) -> None:
    check = parity(case.dtype)
    net, ref, _, _ = _fit_pair(case)
    check.close_all(net.weights, ref.weights, "fit", "fit W")
    check.close_all(net.biases, ref.biases, "fit", "fit b")


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_fit_unshuffled_history(case: Case) -> None:
    # hist.loss[e] = per-sample mean of the pre-step batch losses (batch-size weighted).
    _, _, hist, ref_hist = _fit_pair(case)
    assert len(hist) == FIT_EPOCHS
    rtol = 1e-6 if case.dtype == "float64" else 1e-4
    np.testing.assert_allclose(hist, ref_hist, rtol=rtol)


@pytest.mark.parametrize("opt_name", ["adam", "sgd_momentum"])
def test_optimizer_state_persists_across_step_calls(
    opt_name: str, parity: Callable[[str], ParityChecker]
) -> None:
    check = parity("float64")
    case = Case((5, 7, 4), "tanh", "mse", "float64")
    X, y = make_data(case, 10)

    # One optimizer object for both steps: the reference continues its state (Adam t = 1, 2).
    net = make_network(case)
    ref = reference_for(case, net)
    opt, ref_opt = make_optimizers(opt_name)
    for _ in range(2):
        net.step(X, y, opt)
        ref.step(X, y, ref_opt)
    check.close_all(net.weights + net.biases, ref.weights + ref.biases, "optimizer", "kept state")

    # A fresh optimizer for the second step restarts its state and must land elsewhere.
    fresh = make_network(case)
    fresh_ref = reference_for(case, fresh)
    for _ in range(2):
        opt, ref_opt = make_optimizers(opt_name)
        fresh.step(X, y, opt)
        fresh_ref.step(X, y, ref_opt)
    check.close_all(
        fresh.weights + fresh.biases, fresh_ref.weights + fresh_ref.biases, "optimizer", "reset"
    )
    assert relative_error(fresh.weights[0], net.weights[0]) > 1e-6


def test_optimizer_state_persists_across_fit_calls(parity: Callable[[str], ParityChecker]) -> None:
    check = parity("float64")
    case = Case((5, 7, 4), "relu", "cross_entropy", "float64")
    net = make_network(case)
    ref = reference_for(case, net)
    X, y = make_data(case, 20)
    opt, ref_opt = make_optimizers("adam")
    for _ in range(2):
        net.fit(X, y, epochs=2, batch_size=8, optimizer=opt, shuffle=False)
        ref.fit(X, y, epochs=2, batch_size=8, optimizer=ref_opt)
    check.close_all(net.weights + net.biases, ref.weights + ref.biases, "fit", "two fit calls")


def _trained_parameters(shuffle: bool, seed: int | None) -> list[NDArray]:
    case = Case((5, 7, 4), "relu", "cross_entropy", "float32")
    net = make_network(case)
    X, y = make_data(case, 40)
    net.fit(X, y, epochs=3, batch_size=8, optimizer=fp.SGD(lr=0.1), shuffle=shuffle, seed=seed)
    return net.weights + net.biases


def _same(a: list[NDArray], b: list[NDArray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_fit_shuffle_is_reproducible_with_a_seed() -> None:
    first = _trained_parameters(shuffle=True, seed=7)
    assert _same(first, _trained_parameters(shuffle=True, seed=7))
    assert not _same(first, _trained_parameters(shuffle=True, seed=8))
    assert not _same(first, _trained_parameters(shuffle=False, seed=None))


# --------------------------------------------------------------------------------------------
# Initialisation.
# --------------------------------------------------------------------------------------------

INIT_WIDTHS = [300, 200, 100]  # 60k / 20k entries: a uniform sample fills its bound tightly


def _assert_uniform_fills(w: NDArray, bound: float, what: str) -> None:
    a = np.abs(np.asarray(w, dtype=np.float64))
    assert a.max() <= bound * (1 + 1e-6), f"{what}: max|w| {a.max():.6f} > bound {bound:.6f}"
    assert a.max() >= 0.98 * bound, f"{what}: max|w| {a.max():.6f} does not reach {bound:.6f}"
    # U(-B, B) has standard deviation B / sqrt(3) and mean 0.
    std = float(np.std(w))
    assert abs(std / (bound / np.sqrt(3)) - 1) < 0.03, f"{what}: std {std:.6f}, bound {bound:.6f}"
    assert abs(float(np.mean(w))) < 0.02 * bound, f"{what}: mean {float(np.mean(w)):.6f}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [*ACTIVATIONS, "logistic"])
def test_glorot_init(activation: str, dtype: str) -> None:
    net = fp.Network(INIT_WIDTHS, activation=activation, loss="mse", dtype=dtype, seed=3)
    sigmoid = activation in ("sigmoid", "logistic")
    n_layers = len(INIT_WIDTHS) - 1
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        fan_in, fan_out = INIT_WIDTHS[layer], INIT_WIDTHS[layer + 1]
        assert w.shape == (fan_in, fan_out) and b.shape == (fan_out,)
        assert w.dtype == np.dtype(dtype) and b.dtype == np.dtype(dtype)
        assert not np.any(b), "biases must start at zero"
        if sigmoid and layer == n_layers - 1:
            # The output layer has no hidden activation; accept either glorot factor there.
            a = np.abs(w)
            assert a.max() <= np.sqrt(6 / (fan_in + fan_out)) * (1 + 1e-6)
            assert a.max() >= 0.98 * np.sqrt(2 / (fan_in + fan_out))
            continue
        factor = 2.0 if sigmoid else 6.0
        _assert_uniform_fills(w, np.sqrt(factor / (fan_in + fan_out)), f"layer {layer}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_he_init(activation: str, dtype: str) -> None:
    net = fp.Network(INIT_WIDTHS, activation=activation, loss="mse", dtype=dtype, init="he", seed=3)
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        assert w.dtype == np.dtype(dtype)
        assert not np.any(b), "biases must start at zero"
        _assert_uniform_fills(w, np.sqrt(6 / INIT_WIDTHS[layer]), f"layer {layer}")


@pytest.mark.parametrize("init", ["glorot", "he"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_init_seed_determinism(init: str, dtype: str) -> None:
    def params(seed: int) -> list[NDArray]:
        net = fp.Network(
            [6, 9, 4], activation="relu", loss="mse", dtype=dtype, init=init, seed=seed
        )
        return net.weights + net.biases

    assert _same(params(11), params(11))
    different = params(12)
    assert not any(np.array_equal(a, b) for a, b in zip(params(11)[:2], different[:2], strict=True))


# --------------------------------------------------------------------------------------------
# Parameter access.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_set_parameters_round_trip(dtype: str) -> None:
    widths = [4, 6, 5, 3]
    net = fp.Network(widths, activation="tanh", loss="cross_entropy", dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((a, b)).astype(dtype) for a, b in pairwise(widths)]
    biases = [rng.standard_normal(b).astype(dtype) for b in widths[1:]]
    net.set_parameters(weights, biases)
    assert _same(net.weights, weights) and _same(net.biases, biases)
    # The network's output must come from the new parameters.
    X = rng.standard_normal((7, 4)).astype(dtype)
    expected = reference.ReferenceMLP(weights, biases, "tanh", "cross_entropy").forward(X)
    np.testing.assert_allclose(net.forward(X), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda w, b: ([w[0].T, w[1]], b), id="transposed-weight"),
        pytest.param(lambda w, b: (w, [b[0][:-1], b[1]]), id="short-bias"),
        pytest.param(lambda w, b: (w[:1], b[:1]), id="missing-layer"),
        pytest.param(lambda w, b: (w, b[:1]), id="bias-count"),
    ],
)
def test_set_parameters_validates_shapes(bad: Callable) -> None:
    net = fp.Network([4, 6, 3], activation="relu", loss="mse", dtype="float64", seed=0)
    before = net.weights + net.biases
    with pytest.raises((ValueError, TypeError)):
        net.set_parameters(*bad(net.weights, net.biases))
    assert _same(net.weights + net.biases, before), "a rejected update must change nothing"


def test_parameters_are_copies() -> None:
    net = fp.Network([4, 6, 3], activation="relu", loss="mse", dtype="float64", seed=0)
    original = net.weights + net.biases

    # Mutating what the getters return must not reach the network...
    net.weights[0][...] = 123.0
    net.biases[0][...] = 123.0
    assert _same(net.weights + net.biases, original)

    # ...nor must mutating arrays after handing them to set_parameters.
    weights, biases = net.weights, net.biases
    net.set_parameters(weights, biases)
    weights[1][...] = -7.0
    biases[1][...] = -7.0
    assert _same(net.weights + net.biases, original)
