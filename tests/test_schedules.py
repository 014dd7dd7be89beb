"""`ferroprop.schedules` on their own: `Schedule.lrs` against tests/reference_schedules.py
(torch's and pytorch_warmup's step-by-step formulas) for 100 batches, to 1e-12 relative;
argument checking; the `Schedule` base's name, repr, monitor, counters and reset. Training
with a schedule is in tests/test_schedules_fit.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import reference_schedules as R

import ferroprop as fp
from ferroprop import schedules as S

RTOL = 1e-12
LR = 0.1

Factory = Callable[[R.Group], R.Reference]


def metrics_curve(epochs: int, seed: int, sign: float = 1.0) -> np.ndarray:
    """A falling validation-loss-like curve (or, with sign -1, a rising score below 0) with
    noise and ties (rounded to 2 decimals): plateaus for ReduceLROnPlateau to find."""
    rng = np.random.default_rng(seed)
    curve = 1.0 / (1.0 + 0.1 * np.arange(epochs)) + rng.normal(0.0, 0.02, epochs)
    return np.round(sign * curve, 2)


def assert_relative(got: np.ndarray, expected: np.ndarray, rtol: float = RTOL) -> None:
    """Elementwise |got - expected| <= rtol·|expected| (exact where expected is 0)."""
    assert got.shape == expected.shape
    err = np.abs(got - expected)
    bad = err > rtol * np.abs(expected)
    assert not bad.any(), (
        f"{bad.sum()} of {got.size} lrs off by more than {rtol:g} relative; first at "
        f"{np.argmax(bad)}: {got[bad][:3]} vs {expected[bad][:3]}"
    )


# (ferroprop schedule, reference on a group, epochs, batches per epoch, metrics per epoch).
CASES: dict[str, tuple[Callable[[], S.Schedule], Factory, int, int, np.ndarray | None]] = {
    "step-1": (lambda: S.StepLR(1), lambda g: R.StepLR(g, 1), 100, 1, None),
    "step-3-half": (lambda: S.StepLR(3, 0.5), lambda g: R.StepLR(g, 3, 0.5), 20, 5, None),
    "step-7-up": (lambda: S.StepLR(7, gamma=1.5), lambda g: R.StepLR(g, 7, 1.5), 50, 2, None),
    "multistep": (
        lambda: S.MultiStepLR([2, 5, 9], 0.3),
        lambda g: R.MultiStepLR(g, [2, 5, 9], 0.3),
        20,
        5,
        None,
    ),
    "multistep-from-0": (
        lambda: S.MultiStepLR([0, 10, 11, 50, 200], gamma=0.5),
        lambda g: R.MultiStepLR(g, [0, 10, 11, 50, 200], 0.5),
        100,
        1,
        None,
    ),
    "multistep-none": (lambda: S.MultiStepLR([]), lambda g: R.MultiStepLR(g, []), 25, 4, None),
    "exponential": (lambda: S.ExponentialLR(0.9), lambda g: R.ExponentialLR(g, 0.9), 100, 1, None),
    "exponential-up": (
        lambda: S.ExponentialLR(1.01),
        lambda g: R.ExponentialLR(g, 1.01),
        50,
        2,
        None,
    ),
    # T_max below the epochs: past the bottom and back up, several times.
    "cosine-10": (
        lambda: S.CosineAnnealingLR(10),
        lambda g: R.CosineAnnealingLR(g, 10),
        100,
        1,
        None,
    ),
    "cosine-7-eta": (
        lambda: S.CosineAnnealingLR(7, eta_min=1e-3),
        lambda g: R.CosineAnnealingLR(g, 7, 1e-3),
        50,
        2,
        None,
    ),
    "cosine-1": (lambda: S.CosineAnnealingLR(1), lambda g: R.CosineAnnealingLR(g, 1), 20, 5, None),
    "cosine-58": (
        lambda: S.CosineAnnealingLR(58),
        lambda g: R.CosineAnnealingLR(g, 58),
        100,
        1,
        None,
    ),
    "cosine-300": (
        lambda: S.CosineAnnealingLR(300, 0.05),
        lambda g: R.CosineAnnealingLR(g, 300, 0.05),
        100,
        1,
        None,
    ),
    # total_steps from the fit (here: lrs' epochs × steps_per_epoch).
    "onecycle": (lambda: S.OneCycleLR(0.5), lambda g: R.OneCycleLR(g, 0.5, 100), 10, 10, None),
    "onecycle-total": (
        lambda: S.OneCycleLR(0.5, total_steps=130),
        lambda g: R.OneCycleLR(g, 0.5, 130),
        10,
        10,
        None,
    ),
    "onecycle-epochs": (
        lambda: S.OneCycleLR(1.0, epochs=25, steps_per_epoch=4, anneal_strategy="linear"),
        lambda g: R.OneCycleLR(g, 1.0, epochs=25, steps_per_epoch=4, anneal_strategy="linear"),
        25,
        4,
        None,
    ),
    "onecycle-three-phase": (
        lambda: S.OneCycleLR(0.5, pct_start=0.25, three_phase=True),
        lambda g: R.OneCycleLR(g, 0.5, 100, pct_start=0.25, three_phase=True),
        20,
        5,
        None,
    ),
    "onecycle-three-phase-linear": (
        lambda: S.OneCycleLR(0.5, three_phase=True, anneal_strategy="linear", pct_start=0.4),
        lambda g: R.OneCycleLR(
            g, 0.5, 100, three_phase=True, anneal_strategy="linear", pct_start=0.4
        ),
        10,
        10,
        None,
    ),
    "onecycle-factors": (
        lambda: S.OneCycleLR(0.2, pct_start=0.5, div_factor=10.0, final_div_factor=100.0),
        lambda g: R.OneCycleLR(g, 0.2, 100, pct_start=0.5, div_factor=10.0, final_div_factor=100),
        25,
        4,
        None,
    ),
    "onecycle-pct-0": (
        lambda: S.OneCycleLR(0.3, pct_start=0.0),
        lambda g: R.OneCycleLR(g, 0.3, 100, pct_start=0.0),
        100,
        1,
        None,
    ),
    "onecycle-pct-1": (
        lambda: S.OneCycleLR(0.3, pct_start=1.0, cycle_momentum=False),
        lambda g: R.OneCycleLR(g, 0.3, 100, pct_start=1.0, cycle_momentum=False),
        50,
        2,
        None,
    ),
    "warmup": (lambda: S.LinearWarmup(10), lambda g: R.LinearWarmup(g, 10), 10, 10, None),
    "warmup-unfinished": (
        lambda: S.LinearWarmup(150),
        lambda g: R.LinearWarmup(g, 150),
        20,
        5,
        None,
    ),
    "warmup-step": (
        lambda: S.LinearWarmup(7, S.StepLR(2)),
        lambda g: R.LinearWarmup(g, 7, R.StepLR(g, 2)),
        10,
        10,
        None,
    ),
    "warmup-cosine": (
        lambda: S.LinearWarmup(25, S.CosineAnnealingLR(5, 1e-3)),
        lambda g: R.LinearWarmup(g, 25, R.CosineAnnealingLR(g, 5, 1e-3)),
        20,
        5,
        None,
    ),
    "warmup-onecycle": (
        lambda: S.LinearWarmup(15, S.OneCycleLR(0.5)),
        lambda g: R.LinearWarmup(g, 15, R.OneCycleLR(g, 0.5, 100)),
        25,
        4,
        None,
    ),
    "warmup-plateau": (
        lambda: S.LinearWarmup(12, S.ReduceLROnPlateau(patience=1, monitor="loss")),
        lambda g: R.LinearWarmup(g, 12, R.ReduceLROnPlateau(g, patience=1)),
        25,
        4,
        metrics_curve(25, 1),
    ),
    "warmup-of-warmup": (
        lambda: S.LinearWarmup(3, S.LinearWarmup(5, S.ExponentialLR(0.9))),
        lambda g: R.LinearWarmup(g, 3, R.LinearWarmup(g, 5, R.ExponentialLR(g, 0.9))),
        50,
        2,
        None,
    ),
    "plateau": (
        lambda: S.ReduceLROnPlateau(patience=2),
        lambda g: R.ReduceLROnPlateau(g, patience=2),
        100,
        1,
        metrics_curve(100, 0),
    ),
    "plateau-abs-cooldown": (
        lambda: S.ReduceLROnPlateau(
            factor=0.5, patience=1, threshold=0.02, threshold_mode="abs", cooldown=2
        ),
        lambda g: R.ReduceLROnPlateau(
            g, factor=0.5, patience=1, threshold=0.02, threshold_mode="abs", cooldown=2
        ),
        50,
        2,
        metrics_curve(50, 2),
    ),
    "plateau-max-rel-negative": (
        lambda: S.ReduceLROnPlateau("max", factor=0.7, patience=0, threshold=0.01),
        lambda g: R.ReduceLROnPlateau(g, "max", factor=0.7, patience=0, threshold=0.01),
        100,
        1,
        metrics_curve(100, 3, sign=-1.0),
    ),
    "plateau-max-abs-min-lr": (
        lambda: S.ReduceLROnPlateau(
            "max", factor=0.5, patience=0, threshold=0.01, threshold_mode="abs", min_lr=0.02
        ),
        lambda g: R.ReduceLROnPlateau(
            g, "max", factor=0.5, patience=0, threshold=0.01, threshold_mode="abs", min_lr=0.02
        ),
        100,
        1,
        1.0 - metrics_curve(100, 4),
    ),
    # eps: 0.1 -> 0.05, then 0.05 -> max(0.025, min_lr) is a change below eps, skipped.
    "plateau-eps": (
        lambda: S.ReduceLROnPlateau(factor=0.5, patience=0, min_lr=0.03, eps=0.021),
        lambda g: R.ReduceLROnPlateau(g, factor=0.5, patience=0, min_lr=0.03, eps=0.021),
        20,
        5,
        metrics_curve(20, 5),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("lr", [LR, 3e-4])
def test_lrs_match_the_torch_formulas(case: str, lr: float) -> None:
    make, reference, epochs, steps, metrics = CASES[case]
    assert epochs * steps == 100
    expected, _ = R.replay(reference(R.Group(lr)), epochs, steps, metrics)
    got = make().lrs(lr, epochs, steps, None if metrics is None else list(metrics))
    assert got.dtype == np.float64
    assert_relative(got, expected)
    if case.startswith("plateau") and lr == LR:
        assert len(np.unique(expected)) > 1, "the metrics never trigger a reduction"


def test_onecycle_with_an_empty_phase_takes_its_end_value() -> None:
    """pct_start·total_steps = 1 makes the first phase one step long; torch divides 0 by 0
    there (ZeroDivisionError), ferroprop takes the phase's end: max_lr."""
    lrs = S.OneCycleLR(0.5, total_steps=10, pct_start=0.1).lrs(LR, 10, 1)
    assert lrs[0] == 0.5
    expected = [R._annealing_cos(0.5, 0.5 / 25 / 1e4, (s - 0.0) / 9.0) for s in range(1, 10)]
    assert_relative(lrs[1:], np.array(expected))


def test_lrs_starts_from_a_fresh_state_and_ignores_metrics_it_does_not_watch() -> None:
    s = S.StepLR(2)
    first = s.lrs(LR, 6, 3)
    net = fp.Network([3, 4, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(9, 3))
    net.fit(X, np.arange(9) % 2, epochs=3, batch_size=3, optimizer=fp.SGD(0.5), schedule=s)
    assert (s.last_epoch, s.steps) == (3, 9)
    np.testing.assert_array_equal(s.lrs(LR, 6, 3, metrics=[1.0]), first)
    assert (s.last_epoch, s.steps) == (3, 9)
    assert S.OneCycleLR(0.1).lrs(LR, 0, 5).shape == (0,)


# -- arguments --------------------------------------------------------------------------------

BAD: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("step_size 0", lambda: S.StepLR(0), ValueError, "step_size"),
    ("step_size < 0", lambda: S.StepLR(-1), ValueError, "step_size"),
    ("gamma 0", lambda: S.StepLR(2, 0.0), ValueError, "gamma"),
    ("gamma < 0", lambda: S.MultiStepLR([1], -0.5), ValueError, "gamma"),
    ("gamma nan", lambda: S.ExponentialLR(math.nan), ValueError, "gamma"),
    ("gamma inf", lambda: S.ExponentialLR(math.inf), ValueError, "gamma"),
    ("gamma str", lambda: S.StepLR(2, "x"), TypeError, "gamma"),
    ("gamma None", lambda: S.ExponentialLR(None), TypeError, "gamma"),
    ("milestones falling", lambda: S.MultiStepLR([3, 2]), ValueError, "milestones"),
    ("milestones repeated", lambda: S.MultiStepLR([2, 2]), ValueError, "milestones"),
    ("milestones < 0", lambda: S.MultiStepLR([-1]), ValueError, r"milestones\[0\]"),
    ("T_max 0", lambda: S.CosineAnnealingLR(0), ValueError, "T_max"),
    ("eta_min < 0", lambda: S.CosineAnnealingLR(5, -1.0), ValueError, "eta_min"),
    ("eta_min nan", lambda: S.CosineAnnealingLR(5, math.nan), ValueError, "eta_min"),
    ("max_lr 0", lambda: S.OneCycleLR(0.0), ValueError, "max_lr"),
    ("max_lr str", lambda: S.OneCycleLR("a"), TypeError, "max_lr"),
    ("total_steps 0", lambda: S.OneCycleLR(0.1, total_steps=0), ValueError, "total_steps"),
    ("epochs alone", lambda: S.OneCycleLR(0.1, epochs=3), ValueError, "steps_per_epoch"),
    (
        "epochs 0",
        lambda: S.OneCycleLR(0.1, epochs=0, steps_per_epoch=3),
        ValueError,
        "epochs",
    ),
    (
        "steps_per_epoch < 0",
        lambda: S.OneCycleLR(0.1, epochs=2, steps_per_epoch=-3),
        ValueError,
        "steps_per_epoch",
    ),
    ("pct_start > 1", lambda: S.OneCycleLR(0.1, pct_start=1.5), ValueError, "pct_start"),
    ("pct_start nan", lambda: S.OneCycleLR(0.1, pct_start=math.nan), ValueError, "pct_start"),
    (
        "anneal_strategy",
        lambda: S.OneCycleLR(0.1, anneal_strategy="cosine"),
        ValueError,
        "anneal_strategy",
    ),
    (
        "cycle_momentum int",
        lambda: S.OneCycleLR(0.1, cycle_momentum=1),
        TypeError,
        "cycle_momentum",
    ),
    ("base_momentum", lambda: S.OneCycleLR(0.1, base_momentum=-1.0), ValueError, "base_momentum"),
    ("max_momentum", lambda: S.OneCycleLR(0.1, max_momentum=math.nan), ValueError, "max_momentum"),
    ("div_factor", lambda: S.OneCycleLR(0.1, div_factor=0.0), ValueError, "div_factor"),
    (
        "final_div_factor",
        lambda: S.OneCycleLR(0.1, final_div_factor=-1.0),
        ValueError,
        "final_div_factor",
    ),
    ("three_phase str", lambda: S.OneCycleLR(0.1, three_phase="no"), TypeError, "three_phase"),
    ("warmup_period 0", lambda: S.LinearWarmup(0), ValueError, "warmup_period"),
    ("schedule str", lambda: S.LinearWarmup(5, "StepLR"), TypeError, "schedule"),
    ("mode", lambda: S.ReduceLROnPlateau(mode="mx"), ValueError, "mode"),
    ("factor 1", lambda: S.ReduceLROnPlateau(factor=1.0), ValueError, "factor"),
    ("factor 0", lambda: S.ReduceLROnPlateau(factor=0.0), ValueError, "factor"),
    ("factor nan", lambda: S.ReduceLROnPlateau(factor=math.nan), ValueError, "factor"),
    ("patience < 0", lambda: S.ReduceLROnPlateau(patience=-1), ValueError, "patience"),
    ("threshold < 0", lambda: S.ReduceLROnPlateau(threshold=-1.0), ValueError, "threshold"),
    ("threshold inf", lambda: S.ReduceLROnPlateau(threshold=math.inf), ValueError, "threshold"),
    (
        "threshold_mode",
        lambda: S.ReduceLROnPlateau(threshold_mode="relative"),
        ValueError,
        "threshold_mode",
    ),
    ("cooldown < 0", lambda: S.ReduceLROnPlateau(cooldown=-1), ValueError, "cooldown"),
    ("min_lr < 0", lambda: S.ReduceLROnPlateau(min_lr=-1.0), ValueError, "min_lr"),
    ("min_lr list", lambda: S.ReduceLROnPlateau(min_lr=[0.1]), TypeError, "min_lr"),
    ("eps nan", lambda: S.ReduceLROnPlateau(eps=math.nan), ValueError, "eps"),
    ("monitor", lambda: S.ReduceLROnPlateau(monitor="val_acc"), ValueError, "monitor"),
    ("lrs lr 0", lambda: S.StepLR(2).lrs(0.0, 3, 2), ValueError, "lr"),
    ("lrs lr nan", lambda: S.StepLR(2).lrs(math.nan, 3, 2), ValueError, "lr"),
    ("lrs lr str", lambda: S.StepLR(2).lrs("a", 3, 2), TypeError, "lr"),
    ("lrs too many", lambda: S.StepLR(2).lrs(0.1, 2**20, 2**20), ValueError, "epochs"),
    ("lrs no metrics", lambda: S.ReduceLROnPlateau().lrs(0.1, 3, 2), ValueError, "metrics"),
    (
        "lrs few metrics",
        lambda: S.ReduceLROnPlateau().lrs(0.1, 3, 2, [1.0, 2.0]),
        ValueError,
        "metrics",
    ),
    (
        "lrs beyond total_steps",
        lambda: S.OneCycleLR(0.1, total_steps=5).lrs(0.1, 3, 2),
        ValueError,
        "total_steps",
    ),
]


@pytest.mark.parametrize("what", [b[0] for b in BAD])
def test_bad_arguments_are_named(what: str) -> None:
    _, make, error, name = next(b for b in BAD if b[0] == what)
    with pytest.raises(error, match=name):
        make()


# Integers are extracted by the binding with errors naming the argument; strings by PyO3,
# whose TypeError names it too.
TYPED: list[tuple[str, Callable[[], Any], str]] = [
    ("step_size float", lambda: S.StepLR(1.5), "step_size"),
    ("T_max str", lambda: S.CosineAnnealingLR("5"), "T_max"),
    ("milestones float", lambda: S.MultiStepLR([1.5]), "milestones"),
    ("milestones int", lambda: S.MultiStepLR(3), "milestones"),
    ("total_steps float", lambda: S.OneCycleLR(0.1, total_steps=2.5), "total_steps"),
    ("anneal_strategy int", lambda: S.OneCycleLR(0.1, anneal_strategy=1), "anneal_strategy"),
    ("warmup_period float", lambda: S.LinearWarmup(2.5), "warmup_period"),
    ("patience float", lambda: S.ReduceLROnPlateau(patience=1.5), "patience"),
    ("mode None", lambda: S.ReduceLROnPlateau(mode=None), "mode"),
    ("monitor int", lambda: S.ReduceLROnPlateau(monitor=3), "monitor"),
    ("lrs steps float", lambda: S.StepLR(2).lrs(0.1, 2, 2.0), "steps_per_epoch"),
    ("step_size bool", lambda: S.StepLR(True), "step_size"),
    ("gamma bool", lambda: S.StepLR(2, gamma=True), "gamma"),
]


@pytest.mark.parametrize("what", [t[0] for t in TYPED])
def test_wrongly_typed_counts_and_names_are_named(what: str) -> None:
    _, make, name = next(t for t in TYPED if t[0] == what)
    with pytest.raises(TypeError, match=name):
        make()


# Out-of-range integers raise ValueError naming the argument (not PyO3's OverflowError).
OUT_OF_RANGE: list[tuple[str, Callable[[], Any], str]] = [
    ("step_size huge", lambda: S.StepLR(2**70), "step_size"),
    ("patience huge", lambda: S.ReduceLROnPlateau(patience=2**64), "patience"),
    ("lrs epochs < 0", lambda: S.StepLR(2).lrs(0.1, -1, 2), "epochs"),
    ("lrs steps_per_epoch < 0", lambda: S.StepLR(2).lrs(0.1, 2, -2), "steps_per_epoch"),
]


@pytest.mark.parametrize("what", [t[0] for t in OUT_OF_RANGE])
def test_out_of_range_counts_raise_value_error(what: str) -> None:
    _, make, name = next(t for t in OUT_OF_RANGE if t[0] == what)
    with pytest.raises(ValueError, match=name):
        make()


# -- the Schedule base ------------------------------------------------------------------------

EXAMPLES = [
    S.StepLR(3, 0.5),
    S.MultiStepLR([1, 4], gamma=0.2),
    S.ExponentialLR(0.95),
    S.CosineAnnealingLR(T_max=8, eta_min=1e-4),
    S.OneCycleLR(0.3, total_steps=40, anneal_strategy="linear", three_phase=True),
    S.LinearWarmup(5, S.StepLR(2)),
    S.LinearWarmup(5),
    S.ReduceLROnPlateau("max", factor=0.5, patience=3, cooldown=1, min_lr=1e-5, monitor="r2"),
]


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_repr_rebuilds_the_schedule_and_name_is_the_class(schedule: S.Schedule) -> None:
    again = eval(repr(schedule), {name: getattr(S, name) for name in S.SCHEDULES})
    assert type(again) is type(schedule) and repr(again) == repr(schedule)
    np.testing.assert_array_equal(again.lrs(LR, 8, 5, [1.0] * 8), schedule.lrs(LR, 8, 5, [1.0] * 8))
    assert schedule.name == type(schedule).__name__ and schedule.name in S.SCHEDULES
    assert isinstance(schedule, S.Schedule)


def test_schedules_lists_every_class_and_the_base_is_abstract() -> None:
    assert set(S.SCHEDULES) == {c for c in S.__all__ if c not in ("SCHEDULES", "Schedule")}
    with pytest.raises(TypeError):
        S.Schedule()


def test_monitor_is_the_watched_metric_through_warmups() -> None:
    assert S.ReduceLROnPlateau().monitor == "val_loss"
    assert S.ReduceLROnPlateau(monitor="loss").monitor == "loss"
    inner = S.ReduceLROnPlateau("max", monitor="val_accuracy")
    assert S.LinearWarmup(3, S.LinearWarmup(2, inner)).monitor == "val_accuracy"
    assert all(s.monitor is None for s in EXAMPLES[:-1])


def test_counters_follow_fits_and_reset_starts_over() -> None:
    """last_epoch and steps count across fits (here 3 batches per epoch, the last partial);
    reset() zeroes them and the next fit takes the optimizer's lr as the base again."""
    X = np.random.default_rng(1).normal(size=(10, 3))
    y = np.arange(10) % 2
    net = fp.Network([3, 4, 2], seed=0)
    s, opt = S.ExponentialLR(0.5), fp.SGD(0.2)
    assert (s.last_epoch, s.steps) == (0, 0)
    net.fit(X, y, epochs=2, batch_size=4, optimizer=opt, schedule=s)
    assert (s.last_epoch, s.steps) == (2, 6)
    hist = net.fit(X, y, epochs=1, batch_size=4, optimizer=opt, schedule=s)
    assert (s.last_epoch, s.steps) == (3, 9) and hist.lr == [0.2 * 0.25]
    s.reset()
    assert (s.last_epoch, s.steps) == (0, 0)
    assert opt.lr == 0.2 * 0.25  # the lr of the last step, which is now the base
    hist = net.fit(X, y, epochs=2, batch_size=4, optimizer=opt, schedule=s)
    assert hist.lr == [0.05, 0.025] and (s.last_epoch, s.steps) == (2, 6)


def test_a_warmup_copies_the_schedule_it_wraps() -> None:
    """LinearWarmup keeps the wrapped schedule's arguments, not its object: the inner's own
    state (here: after a fit) neither leaks in nor is changed by the warmup's fits."""
    X = np.random.default_rng(2).normal(size=(8, 3))
    y = np.arange(8) % 2
    inner = S.StepLR(1, 0.5)
    fp.Network([3, 2], seed=0).fit(X, y, epochs=3, optimizer=fp.SGD(0.1), schedule=inner)
    warm = S.LinearWarmup(2, inner)
    hist = fp.Network([3, 2], seed=0).fit(
        X, y, epochs=3, batch_size=4, optimizer=fp.SGD(0.1), schedule=warm
    )
    assert hist.lr == pytest.approx([0.1, 0.05, 0.025], rel=RTOL)
    assert (inner.last_epoch, warm.last_epoch) == (3, 3)
