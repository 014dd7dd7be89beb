"""Parity of `fp.Sequential` against the plain-NumPy `reference.ReferenceSequential`.

Every case loads a generic state (`reference.random_state_dict`: non-trivial γ, β and running
statistics) into the network through `load_state_dict` and starts the float64 reference from
the network's own `state_dict()`, so only the arithmetic is compared; float32 networks are
compared against the float64 reference run from the same float32-rounded state and data.
Dropout masks are the engine's own (`net._dropout_keep`), taken at the step they are used.

Entries whose gradient is exactly 0 in training (`reference.zero_gradient_entries`: a Dense
bias feeding a BatchNorm) are compared against the scale of the other gradients, and Adam-type
optimizers, which turn the rounding noise of such a gradient into updates of ~lr·noise/eps,
run on those stacks with eps=1e-3 in float64 and not at all in float32 (tests/reference.py,
benches/check_reference_torch.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest
from _layer_stacks import STACKS, Stack, to_fp_layers
from numpy.typing import NDArray

import ferroprop as fp
import reference
from conftest import ParityChecker

DTYPES = ["float32", "float64"]
N_STEPS = 5
STEP_ROWS = 12

# name -> (class name, kwargs); the same signatures in ferroprop and the reference.
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd_momentum": ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    "sgd_nesterov": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
    "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.05}),
}

STACK_PARAMS = [pytest.param(s, id=s.id) for s in STACKS]


def seed_of(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode()) % 2**31


def make_net(stack: Stack, dtype: str, seed: int = 0) -> fp.Sequential:
    """A network holding the generic state random_state_dict(seed) (not its default init)."""
    net = fp.Sequential(
        to_fp_layers(stack.layers),
        input_dim=stack.input_dim,
        loss=stack.loss,
        dtype=dtype,
        seed=seed,
    )
    net.load_state_dict(reference.random_state_dict(stack.layers, stack.input_dim, seed, dtype))
    return net


def reference_for(stack: Stack, net: fp.Sequential) -> reference.ReferenceSequential:
    """A float64 reference starting from exactly the network's current state."""
    return reference.ReferenceSequential(
        stack.layers, stack.input_dim, stack.loss, net.state_dict()
    )


def make_data(stack: Stack, n: int, dtype: str, salt: object = 0) -> tuple[NDArray, NDArray]:
    rng = np.random.default_rng(seed_of(stack.id, n, salt))
    X = rng.standard_normal((n, stack.input_dim)).astype(dtype)
    k = reference.stack_widths(stack.layers, stack.input_dim)[-1]
    if stack.loss == "cross_entropy":
        return X, rng.integers(0, k, n).astype(np.int64)
    if stack.loss == "binary_cross_entropy":
        return X, (rng.random((n, k)) < 0.5).astype(dtype)
    return X, rng.standard_normal((n, k)).astype(dtype)


def engine_masks(net: fp.Sequential, stack: Stack, rows: int) -> dict[int, NDArray[np.bool_]]:
    """The keep masks the engine uses for a batch of `rows` rows at its current step."""
    masks = {}
    widths = reference.stack_widths(stack.layers, stack.input_dim)
    for i, spec in enumerate(stack.layers):
        if spec[0] == "dropout":
            keep = np.asarray(net._dropout_keep(i, rows))
            assert keep.dtype == np.bool_ and keep.shape == (rows, widths[i]), (
                f"_dropout_keep({i}, {rows}): {keep.dtype}{keep.shape}, expected bool"
                f"{(rows, widths[i])}"
            )
            masks[i] = keep
    return masks


def buffers(state: dict[str, NDArray]) -> dict[str, NDArray]:
    return {k: v for k, v in state.items() if not reference.is_trainable(k)}


def assert_bitwise_same(a: dict[str, NDArray], b: dict[str, NDArray], what: str) -> None:
    assert list(a) == list(b), f"{what}: names {list(a)} != {list(b)}"
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), f"{what}: {k}"


def check_gradients(
    check: ParityChecker,
    stack: Stack,
    grads: dict[str, NDArray],
    expected: dict[str, NDArray],
    what: str,
) -> None:
    assert sorted(grads) == sorted(expected), f"{what}: keys {sorted(grads)} != {sorted(expected)}"
    zero = reference.zero_gradient_entries(stack.layers)
    scale = max(float(np.max(np.abs(g))) for g in expected.values())
    for name, g in expected.items():
        actual = np.asarray(grads[name])
        assert actual.dtype == np.dtype(check.dtype), f"{what} {name}: dtype {actual.dtype}"
        assert actual.shape == g.shape, f"{what} {name}: shape {actual.shape} != {g.shape}"
        if name in zero:
            # Exactly 0 in exact arithmetic: only rounding noise on the scale of the others.
            err = float(np.max(np.abs(actual - g))) / scale
            assert err <= check.tol, f"{what} {name} (zero by construction): {err:.3e} of scale"
        else:
            check.close(actual, g, "gradient", f"{what} {name}")


def check_state(
    check: ParityChecker, state: dict[str, NDArray], expected: dict[str, NDArray], what: str
) -> None:
    assert list(state) == list(expected), f"{what}: names {list(state)} != {list(expected)}"
    for name, value in expected.items():
        actual = np.asarray(state[name])
        if name.endswith("num_batches_tracked"):
            assert actual.dtype == np.int64 and actual.shape == ()
            assert int(actual) == int(value), f"{what} {name}: {int(actual)} != {int(value)}"
        else:
            category = "running" if "running" in name else "optimizer"
            check.close(actual, value, category, f"{what} {name}")


# --------------------------------------------------------------------------------------------
# Forward pass, loss and gradients.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 16])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stack", STACK_PARAMS)
def test_eval_forward_loss_predict(
    stack: Stack, dtype: str, n: int, parity: Callable[[str], ParityChecker]
) -> None:
    check = parity(dtype)
    net = make_net(stack, dtype, seed_of(stack.id, dtype))
    ref = reference_for(stack, net)
    X, y = make_data(stack, n, dtype)
    out = np.asarray(net.forward(X))
    n_out = reference.stack_widths(stack.layers, stack.input_dim)[-1]
    assert out.dtype == np.dtype(dtype) and out.shape == (n, n_out)
    check.close(out, ref.forward(X), "forward", "forward (eval)")
    np.testing.assert_array_equal(np.asarray(net.forward(X, training=False)), out)
    value = net.loss(X, y)
    assert isinstance(value, float)
    check.close(value, ref.loss(X, y), "loss", "loss (eval)")
    pred = np.asarray(net.predict(X))
    if stack.loss == "cross_entropy":
        assert pred.dtype == np.int64 and pred.shape == (n,)
        probs = np.sort(ref.forward(X), axis=1)
        decided = probs[:, -1] - probs[:, -2] > 1e-5
        assert np.array_equal(pred[decided], ref.predict(X)[decided])
    else:
        check.close(pred, ref.predict(X), "forward", "predict")


@pytest.mark.parametrize("n", [1, 16])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stack", STACK_PARAMS)
def test_training_forward_and_gradients(
    stack: Stack, dtype: str, n: int, parity: Callable[[str], ParityChecker]
) -> None:
    if n == 1 and stack.has_batchnorm:
        pytest.skip("BatchNorm cannot train on one row (tests/test_layers_api.py checks the error)")
    check = parity(dtype)
    net = make_net(stack, dtype, seed_of(stack.id, dtype, "train"))
    ref = reference_for(stack, net)
    before = net.state_dict()
    X, y = make_data(stack, n, dtype)
    masks = engine_masks(net, stack, n)

    out = np.asarray(net.forward(X, training=True))
    check.close(out, ref.forward(X, training=True, masks=masks), "forward", "forward (train)")
    loss, grads = net.gradients(X, y)
    assert isinstance(loss, float)
    ref_loss, ref_grads = ref.gradients(X, y, masks)
    check.close(loss, ref_loss, "loss", "gradients loss (train)")
    check_gradients(check, stack, grads, ref_grads, "gradients")

    # Neither call is a training step: running statistics, counters and masks stay as they were.
    assert_bitwise_same(buffers(net.state_dict()), buffers(before), "buffers after gradients")
    assert net.training_steps == 0
    again_loss, again = net.gradients(X, y)
    assert again_loss == loss, "gradients() twice at the same step: a different loss"
    for name, g in grads.items():
        assert np.asarray(again[name]).tobytes() == np.asarray(g).tobytes(), f"{name} changed"


# --------------------------------------------------------------------------------------------
# Optimizer steps, BatchNorm running statistics and fit.
# --------------------------------------------------------------------------------------------


def make_optimizers(name: str, stack: Stack) -> tuple[object, object]:
    cls, kwargs = OPTIMIZERS[name]
    if cls != "SGD" and reference.zero_gradient_entries(stack.layers):
        kwargs = {**kwargs, "eps": 1e-3}  # see the module docstring
    return getattr(fp, cls)(**kwargs), getattr(reference, cls)(**kwargs)


def step_params() -> list:
    params = []
    for stack in STACKS:
        for dtype in DTYPES:
            for opt in OPTIMIZERS:
                adam_like = OPTIMIZERS[opt][0] != "SGD"
                if (
                    dtype == "float32"
                    and adam_like
                    and reference.zero_gradient_entries(stack.layers)
                ):
                    continue  # see the module docstring
                params.append(pytest.param(stack, dtype, opt, id=f"{stack.id}-{dtype}-{opt}"))
    return params


@pytest.mark.parametrize("stack, dtype, opt_name", step_params())
def test_optimizer_steps(
    stack: Stack, dtype: str, opt_name: str, parity: Callable[[str], ParityChecker]
) -> None:
    check = parity(dtype)
    net = make_net(stack, dtype, seed_of(stack.id, dtype, opt_name))
    ref = reference_for(stack, net)
    opt, ref_opt = make_optimizers(opt_name, stack)
    for step in range(N_STEPS):
        assert net.training_steps == step
        X, y = make_data(stack, STEP_ROWS, dtype, salt=step)
        masks = engine_masks(net, stack, STEP_ROWS)
        loss = net.step(X, y, opt)
        ref_loss = ref.step(X, y, ref_opt, masks)
        check.close(loss, ref_loss, "step loss", f"{opt_name} step {step} loss")
    assert net.training_steps == N_STEPS
    check_state(check, net.state_dict(), ref.state_dict(), f"{opt_name} after {N_STEPS} steps")
    # Evaluation now runs on the updated running statistics.
    X, _ = make_data(stack, 9, dtype, salt="eval")
    check.close(net.forward(X), ref.forward(X), "forward", f"{opt_name} forward after steps")


# 38 rows in batches of 8: four full batches and a partial one of 6; 3 epochs = 15 steps.
FIT_ROWS, FIT_BATCH, FIT_EPOCHS = 38, 8, 3
BATCHES_PER_EPOCH = -(-FIT_ROWS // FIT_BATCH)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stack", STACK_PARAMS)
def test_fit_unshuffled(stack: Stack, dtype: str, parity: Callable[[str], ParityChecker]) -> None:
    """fit(shuffle=False) against the reference's loop; the masks of step k are read from a
    twin network taken through the same steps one `step` call at a time."""
    check = parity(dtype)
    seed = seed_of(stack.id, dtype, "fit")
    net, twin = make_net(stack, dtype, seed), make_net(stack, dtype, seed)
    ref = reference_for(stack, net)
    X, y = make_data(stack, FIT_ROWS, dtype, salt="fit")
    kwargs = OPTIMIZERS["sgd_momentum"][1]
    twin_opt = fp.SGD(**kwargs)

    def masks_for_step(step: int, rows: int) -> dict[int, NDArray[np.bool_]]:
        assert twin.training_steps == step
        masks = engine_masks(twin, stack, rows)
        start = (step % BATCHES_PER_EPOCH) * FIT_BATCH
        twin.step(X[start : start + rows], y[start : start + rows], twin_opt)
        return masks

    hist = net.fit(
        X, y, epochs=FIT_EPOCHS, batch_size=FIT_BATCH, optimizer=fp.SGD(**kwargs), shuffle=False
    )
    ref_hist = ref.fit(X, y, FIT_EPOCHS, FIT_BATCH, reference.SGD(**kwargs), masks_for_step)
    steps = FIT_EPOCHS * BATCHES_PER_EPOCH
    assert net.training_steps == steps and twin.training_steps == steps
    check_state(check, net.state_dict(), ref.state_dict(), "fit")
    check_state(check, twin.state_dict(), ref.state_dict(), "steps of the twin")
    assert len(hist.loss) == FIT_EPOCHS
    rtol = 1e-8 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(hist.loss, ref_hist, rtol=rtol)


# --------------------------------------------------------------------------------------------
# Dropout.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keep_rate(p: float) -> None:
    rows, units = 500, 400  # 2e5 units
    net = fp.Sequential(
        [fp.layers.Dense(units), fp.layers.Dropout(p), fp.layers.Dense(2)],
        input_dim=3,
        loss="mse",
        seed=seed_of("rate", p),
    )
    keep = np.asarray(net._dropout_keep(1, rows))
    assert keep.shape == (rows, units) and keep.dtype == np.bool_
    parts = {"all": keep, "first rows": keep[: rows // 2], "last units": keep[:, units // 2 :]}
    for what, part in parts.items():
        rate = float(part.mean())
        bound = 3 * np.sqrt(p * (1 - p) / part.size)
        assert abs(rate - (1 - p)) <= bound, (
            f"p={p} {what}: keep rate {rate:.5f}, expected {1 - p} ± {bound:.5f} (3σ)"
        )
    # Rows and units are not copies of one another (a counter-based generator keyed badly would
    # repeat patterns).
    assert not np.array_equal(keep[0], keep[1]) and not np.array_equal(keep[:, 0], keep[:, 1])


def test_dropout_masks_keyed_by_step_row_unit_layer() -> None:
    L = fp.layers
    layers = [L.Dense(300), L.Dropout(0.5), L.Activation("tanh"), L.Dropout(0.5), L.Dense(2)]
    net = fp.Sequential(layers, input_dim=4, loss="mse", dtype="float64", seed=3)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.standard_normal((20, 2))
    a1, a3 = np.asarray(net._dropout_keep(1, 20)), np.asarray(net._dropout_keep(3, 20))
    assert np.array_equal(a1, np.asarray(net._dropout_keep(1, 20))), "same step, same mask"
    assert not np.array_equal(a1, a3), "two Dropout layers must not share a mask"
    # Keyed by row: a shorter batch sees the first rows of a longer one's mask.
    assert np.array_equal(np.asarray(net._dropout_keep(1, 7)), a1[:7])
    net.gradients(X, y)
    net.forward(X, training=True)
    assert net.training_steps == 0
    assert np.array_equal(np.asarray(net._dropout_keep(1, 20)), a1), "gradients() moved the step"
    net.step(X, y, fp.SGD(lr=0.01))
    assert net.training_steps == 1
    b1 = np.asarray(net._dropout_keep(1, 20))
    assert not np.array_equal(a1, b1), "a new step must draw a new mask"
    other = fp.Sequential(
        [L.Dense(300), L.Dropout(0.5), L.Activation("tanh"), L.Dropout(0.5), L.Dense(2)],
        input_dim=4,
        loss="mse",
        dtype="float64",
        seed=4,
    )
    assert not np.array_equal(np.asarray(other._dropout_keep(1, 20)), a1), "seed must matter"


def test_dropout_zero_keeps_everything_and_eval_is_identity() -> None:
    L = fp.layers
    net = fp.Sequential([L.Dense(50), L.Dropout(0.0), L.Dense(3)], input_dim=4, dtype="float64")
    assert np.asarray(net._dropout_keep(1, 30)).all()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4))
    np.testing.assert_array_equal(net.forward(X, training=True), net.forward(X))
    drop = fp.Sequential([L.Dense(50), L.Dropout(0.9), L.Dense(3)], input_dim=4, dtype="float64")
    drop.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(drop.forward(X), net.forward(X))
