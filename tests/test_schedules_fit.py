"""Schedules inside `fit`: the lr each epoch reports, training with a schedule against the
same net trained by hand (`fit` once per epoch or batch with the optimizer's lr set to the
reference's, tests/reference_schedules.py), OneCycleLR's momentum cycling against a NumPy SGD,
state carried across fits, ReduceLROnPlateau's monitors, and the other fit controls
(clipping, callbacks) with a schedule."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import reference_schedules as R

import ferroprop as fp
from ferroprop import schedules as S

RTOL = 1e-12
ROWS, BATCH = 50, 16  # 4 batches per epoch, the last one partial
STEPS = -(-ROWS // BATCH)


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(ROWS, 5)), rng.integers(0, 3, size=ROWS)


def net(dtype: str = "float64", seed: int = 1) -> fp.Network:
    return fp.Network([5, 8, 3], activation="tanh", dtype=dtype, seed=seed)


def assert_same_weights(a: fp.Network, b: fp.Network, dtype: str) -> None:
    """Bitwise for float32 (both driven by the same lr values), to 1e-12 for float64."""
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        if dtype == "float32":
            np.testing.assert_array_equal(wa, wb)
        else:
            np.testing.assert_allclose(wa, wb, rtol=RTOL, atol=1e-15)


# (ferroprop schedule, reference on a group, steps per batch?) for an SGD(0.1) fit of 6 epochs.
CASES: dict[str, tuple[Callable[[], S.Schedule], Callable[[R.Group], R.Reference], bool]] = {
    "step": (lambda: S.StepLR(2, 0.5), lambda g: R.StepLR(g, 2, 0.5), False),
    "multistep": (
        lambda: S.MultiStepLR([1, 4], 0.3),
        lambda g: R.MultiStepLR(g, [1, 4], 0.3),
        False,
    ),
    "exponential": (lambda: S.ExponentialLR(0.8), lambda g: R.ExponentialLR(g, 0.8), False),
    "cosine": (
        lambda: S.CosineAnnealingLR(4, 1e-3),
        lambda g: R.CosineAnnealingLR(g, 4, 1e-3),
        False,
    ),
    "onecycle": (
        lambda: S.OneCycleLR(0.5, cycle_momentum=False, three_phase=True),
        lambda g: R.OneCycleLR(g, 0.5, 6 * STEPS, cycle_momentum=False, three_phase=True),
        True,
    ),
    "warmup-step": (
        lambda: S.LinearWarmup(10, S.StepLR(2)),
        lambda g: R.LinearWarmup(g, 10, R.StepLR(g, 2)),
        True,
    ),
}


def reference_lrs(case: str, lr: float, epochs: int = 6) -> np.ndarray:
    return R.replay(CASES[case][1](R.Group(lr)), epochs, STEPS)[0]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_with_a_schedule_is_fit_by_hand_with_the_reference_lrs(case: str, dtype: str) -> None:
    """`hist.lr` is the reference's lr of each epoch's last batch; the weights are those of
    the twin fitted one epoch (per-epoch schedules) or one batch (per-batch ones) at a time
    with `opt.lr` set by hand — to the reference's lr in float64, to `lrs()`'s in float32."""
    X, y = data()
    make, _, per_batch = CASES[case]
    expected = reference_lrs(case, 0.1)
    scheduled, by_hand = net(dtype), net(dtype)
    schedule = make()
    hist = scheduled.fit(
        X,
        y,
        epochs=6,
        batch_size=BATCH,
        optimizer=fp.SGD(0.1, momentum=0.9),
        schedule=schedule,
        shuffle=False,
    )
    np.testing.assert_allclose(hist.lr, expected[STEPS - 1 :: STEPS], rtol=RTOL)
    lrs = expected if dtype == "float64" else make().lrs(0.1, 6, STEPS)
    opt = fp.SGD(0.1, momentum=0.9)
    if per_batch:
        for step in range(6 * STEPS):
            start = (step % STEPS) * BATCH
            opt.lr = float(lrs[step])
            rows = slice(start, start + BATCH)
            by_hand.fit(X[rows], y[rows], epochs=1, batch_size=BATCH, optimizer=opt, shuffle=False)
    else:
        for epoch in range(6):
            opt.lr = float(lrs[epoch * STEPS])
            by_hand.fit(X, y, epochs=1, batch_size=BATCH, optimizer=opt, shuffle=False)
    assert_same_weights(scheduled, by_hand, dtype)


def test_onecycle_cycles_sgd_momentum_as_torch() -> None:
    """cycle_momentum=True: each step's SGD momentum is the reference's; checked against
    torch's SGD (`buf = m·buf + g`, `p -= lr·buf`) in NumPy on the engine's gradients."""
    X, y = data(3)
    scheduled, twin = net(), net()
    epochs = 3
    schedule = S.OneCycleLR(0.4, pct_start=0.4, base_momentum=0.8, max_momentum=0.95)
    opt = fp.SGD(0.1, momentum=0.9)
    hist = scheduled.fit(
        X, y, epochs=epochs, batch_size=BATCH, optimizer=opt, schedule=schedule, shuffle=False
    )
    group = R.Group(0.1, momentum=0.9)
    lrs, momenta = R.replay(
        R.OneCycleLR(group, 0.4, epochs * STEPS, pct_start=0.4, base_momentum=0.8), epochs, STEPS
    )
    assert len(np.unique(momenta)) > 5
    params = twin.weights + twin.biases
    buffers: list[np.ndarray | None] = [None] * len(params)
    for step in range(epochs * STEPS):
        start = (step % STEPS) * BATCH
        _, dW, db = twin.gradients(X[start : start + BATCH], y[start : start + BATCH])
        for i, g in enumerate(dW + db):
            buf = buffers[i]
            buffers[i] = g.copy() if buf is None else momenta[step] * buf + g
            params[i] = params[i] - lrs[step] * buffers[i]
        n = len(twin.weights)
        twin.set_parameters(params[:n], params[n:])
    np.testing.assert_allclose(hist.lr, lrs[STEPS - 1 :: STEPS], rtol=RTOL)
    for a, b in zip(scheduled.weights + scheduled.biases, params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    # The optimizer keeps what its last step used, the momentum as the lr.
    assert opt.lr == pytest.approx(lrs[-1], rel=RTOL)
    momentum = float(re.search(r"momentum=([^,)]+)", repr(opt)).group(1))
    assert momentum == pytest.approx(momenta[-1], rel=RTOL)


def test_onecycle_needs_a_momentum_to_cycle() -> None:
    X, y = data()
    for opt in (fp.SGD(0.1), fp.Adagrad(0.1)):
        with pytest.raises(ValueError, match="cycle_momentum"):
            net().fit(X, y, epochs=1, optimizer=opt, schedule=S.OneCycleLR(0.1))
    hist = net().fit(
        X,
        y,
        epochs=2,
        batch_size=BATCH,
        optimizer=fp.SGD(0.1),
        schedule=S.OneCycleLR(0.3, cycle_momentum=False),
    )
    np.testing.assert_allclose(hist.lr, S.OneCycleLR(0.3).lrs(0.1, 2, STEPS)[STEPS - 1 :: STEPS])


@pytest.mark.parametrize(
    "make",
    [
        lambda: S.CosineAnnealingLR(3),
        lambda: S.OneCycleLR(0.5, total_steps=5 * STEPS),
        lambda: S.LinearWarmup(7, S.ReduceLROnPlateau(patience=0, monitor="loss")),
    ],
    ids=["cosine", "onecycle", "warmup-plateau"],
)
def test_two_fits_continue_one_schedule(make: Callable[[], S.Schedule]) -> None:
    """2 + 3 epochs with the same schedule and optimizer objects = 5 epochs in one fit."""
    X, y = data()
    one, two = net(), net()
    kw: dict[str, Any] = {"batch_size": BATCH, "shuffle": False}
    whole = one.fit(X, y, epochs=5, optimizer=fp.Adam(0.05), schedule=make(), **kw)
    s, opt = make(), fp.Adam(0.05)
    first = two.fit(X, y, epochs=2, optimizer=opt, schedule=s, **kw)
    assert (s.last_epoch, s.steps) == (2, 2 * STEPS)
    second = two.fit(X, y, epochs=3, optimizer=opt, schedule=s, **kw)
    assert first.lr + second.lr == whole.lr and first.loss + second.loss == whole.loss
    assert opt.lr == whole.lr[-1]
    assert_same_weights(one, two, "float32")  # bitwise


def test_onecycle_without_total_steps_is_sized_by_its_first_fit() -> None:
    X, y = data()
    s, model = S.OneCycleLR(0.5), net()
    model.fit(X, y, epochs=2, batch_size=BATCH, optimizer=fp.Adam(0.1), schedule=s)
    before = model.weights
    with pytest.raises(ValueError, match="total_steps"):
        model.fit(X, y, epochs=1, batch_size=BATCH, optimizer=fp.Adam(0.1), schedule=s)
    assert (s.last_epoch, s.steps) == (2, 2 * STEPS)
    for a, b in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(a, b)
    s.reset()
    hist = model.fit(X, y, epochs=1, batch_size=BATCH, optimizer=fp.Adam(0.1), schedule=s)
    assert hist.lr == [S.OneCycleLR(0.5).lrs(0.1, 1, STEPS)[-1]]


def test_reset_starts_over_from_the_optimizers_lr() -> None:
    """Without reset() a schedule keeps its base lr whatever optimizer the next fit gets;
    after it, the next fit's optimizer's lr is the base and the epochs count from 0, so a
    fresh net trains as with a fresh schedule."""
    X, y = data()
    s = S.StepLR(1, 0.5)
    first = net().fit(X, y, epochs=3, batch_size=BATCH, optimizer=fp.SGD(0.2), schedule=s)
    assert first.lr == pytest.approx([0.2, 0.1, 0.05], rel=RTOL)
    kept = net().fit(X, y, epochs=1, batch_size=BATCH, optimizer=fp.SGD(0.4), schedule=s)
    assert kept.lr == pytest.approx([0.2 / 8], rel=RTOL)
    s.reset()
    again, fresh = net(), net()
    hist = again.fit(X, y, epochs=3, batch_size=BATCH, optimizer=fp.SGD(0.4), schedule=s)
    fresh.fit(X, y, epochs=3, batch_size=BATCH, optimizer=fp.SGD(0.4), schedule=S.StepLR(1, 0.5))
    assert hist.lr == pytest.approx([0.4, 0.2, 0.1], rel=RTOL)
    assert_same_weights(again, fresh, "float32")  # bitwise


# -- ReduceLROnPlateau's monitors -------------------------------------------------------------


def test_plateau_on_val_loss_needs_validation_data() -> None:
    X, y = data()
    model, s = net(), S.ReduceLROnPlateau()
    before = model.weights
    with pytest.raises(ValueError, match="val_loss.*validation"):
        model.fit(X, y, epochs=2, schedule=s)
    assert s.last_epoch == 0
    for a, b in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="mae"):
        model.fit(X, y, epochs=2, schedule=S.ReduceLROnPlateau(monitor="mae"))
    hist = model.fit(X, y, epochs=2, validation_split=0.2, schedule=s)
    assert len(hist.val_loss) == 2 and s.last_epoch == 2


@pytest.mark.parametrize(
    "monitor, mode, validation",
    [("loss", "min", False), ("val_loss", "min", True), ("val_accuracy", "max", True)],
)
def test_plateau_reads_the_monitored_metric(monitor: str, mode: str, validation: bool) -> None:
    """The lr per epoch is torch's ReduceLROnPlateau stepped with the history's values."""
    X, y = data(4)
    schedule = S.ReduceLROnPlateau(mode, factor=0.5, patience=0, threshold=0.05, monitor=monitor)
    hist = net().fit(
        X,
        y,
        epochs=12,
        batch_size=BATCH,
        optimizer=fp.SGD(0.5),
        shuffle=False,
        validation_data=(X[:20], y[:20]) if validation else None,
        schedule=schedule,
    )
    metric = getattr(hist, monitor)
    group = R.Group(0.5)
    expected = R.replay(
        R.ReduceLROnPlateau(group, mode, factor=0.5, patience=0, threshold=0.05), 12, STEPS, metric
    )[0]
    assert hist.lr == expected[STEPS - 1 :: STEPS].tolist()
    assert hist.lr[-1] < hist.lr[0]


# -- with the other controls of fit -----------------------------------------------------------


def test_a_schedule_composes_with_clipping() -> None:
    X, y = data(5)
    scheduled, by_hand = net(), net()
    kw: dict[str, Any] = {"batch_size": BATCH, "shuffle": False, "clip_grad_norm": 0.05}
    scheduled.fit(X, y, epochs=5, optimizer=fp.SGD(1.0), schedule=S.ExponentialLR(0.7), **kw)
    opt = fp.SGD(1.0)
    for epoch in range(5):
        opt.lr = 0.7**epoch
        by_hand.fit(X, y, epochs=1, optimizer=opt, **kw)
    assert_same_weights(scheduled, by_hand, "float64")


def test_callbacks_see_the_lr_and_a_stop_keeps_the_state() -> None:
    X, y = data()
    seen: list[float] = []

    class StopAtThird:
        def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool:
            seen.append(logs["lr"])
            return epoch == 2

    s = S.LinearWarmup(6, S.StepLR(1, 0.5))
    group = R.Group(0.1)
    ref = R.replay(R.LinearWarmup(group, 6, R.StepLR(group, 1, 0.5)), 5, STEPS)[0]
    model = net()
    hist = model.fit(
        X,
        y,
        epochs=10,
        batch_size=BATCH,
        optimizer=fp.SGD(0.1),
        schedule=s,
        callbacks=[StopAtThird()],
    )
    assert seen == hist.lr and len(hist.lr) == 3
    np.testing.assert_allclose(hist.lr, ref[STEPS - 1 : 3 * STEPS : STEPS], rtol=RTOL)
    assert (s.last_epoch, s.steps) == (3, 3 * STEPS)
    more = model.fit(X, y, epochs=2, batch_size=BATCH, optimizer=fp.SGD(0.1), schedule=s)
    np.testing.assert_allclose(more.lr, ref[4 * STEPS - 1 :: STEPS], rtol=RTOL)


def test_schedule_must_be_a_schedule() -> None:
    X, y = data()
    with pytest.raises(TypeError, match="schedule"):
        net().fit(X, y, epochs=1, schedule="StepLR")
