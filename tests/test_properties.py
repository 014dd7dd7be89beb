"""Property-based tests (hypothesis) over ferroprop's public surface.

For every entry point — `Network(...)`, `forward`, `predict`, `loss`, `gradients`, `step`,
`fit`, `set_parameters`, the optimizers' constructors, `save`/`load`, `set_num_threads`, the
estimators' `fit`/`predict` and the CLI's argument parser — and for inputs drawn over every
dtype (float16/32/64, big-endian, ints, uint64, bool, complex, object, datetime64, structured,
str), layout (Fortran, strided, negative and zero strides, unaligned, read-only, np.memmap,
nested lists), shape (including 0 rows and 0 columns) and value (NaN, ±inf, denormals, 1e38,
integer limits), the property is:

* valid input gives the NumPy reference's result (tests/reference.py; relative error, max-norm
  per array, at most 1e-10 for float64 and 1e-4 for float32; "tame" inputs only, |x| <= 10 —
  extreme but legal values must give a result of the right shape, or `DivergenceError` from
  training);
* invalid input raises ValueError or TypeError whose message names the argument ("X", "y",
  "widths", "lr", ...); scikit-learn's estimators may use scikit-learn's own messages;
* nothing else: no other exception type (`fp.InternalError` in particular, nor a Rust panic),
  no crash, no hang (each call runs under a faulthandler watchdog that aborts the run with a
  traceback after EXAMPLE_TIMEOUT seconds), MemoryError only for absurd sizes.

This is the contract of the engine rewrite: every legal numeric array accepted, `forward`/
`predict` on 0 rows give empty results, training on 0 rows and non-finite X refused naming X,
any Python int accepted as an integer argument and refused naming it when out of range.

Profiles (FERROPROP_HYPOTHESIS_PROFILE):

* `ci` (default): CI_EXAMPLES examples per test, derandomized (the same examples on every
  run), no example database; the whole file takes about a minute on 2 cores;
* `long`: LONG_EXAMPLES examples per test, random, with the example database (.hypothesis/)
  so failures found are replayed first next time:

    cd tests && FERROPROP_HYPOTHESIS_PROFILE=long python -m pytest -q test_properties.py

Statistics (examples tried, outcome events per entry point, time per example):

    cd tests && python -m pytest -q test_properties.py --hypothesis-show-statistics
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from _hyp_strategies import (
    LAYOUTS,
    NUMERIC_DTYPES,
    Drawn,
    _layout,
    arrays,
    labels_for,
    tmp_path,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import ferroprop as fp
import reference
from conftest import TOLERANCE
from ferroprop.cli import _parser as cli_parser

CI_EXAMPLES = 60
LONG_EXAMPLES = 2000
EXAMPLE_TIMEOUT = 60.0  # seconds one entry-point call may take before the run is aborted

_COMMON = {
    "deadline": timedelta(seconds=10),
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
    # No "explain" phase: it re-runs failures under a tracer, minutes on this code.
    "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
}
settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, **_COMMON
)
settings.register_profile("long", max_examples=LONG_EXAMPLES, derandomize=False, **_COMMON)
PROFILE = settings.get_profile(os.environ.get("FERROPROP_HYPOTHESIS_PROFILE", "ci"))

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "logistic", "tanh", "gelu")
REFERENCE_LOSSES = ("cross_entropy", "binary_cross_entropy", "mse")
ALL_LOSSES = (*REFERENCE_LOSSES, "log_loss", "binary_log_loss", "squared_error", "poisson")
INTERNAL_ERROR: type[BaseException] | None = getattr(fp, "InternalError", None)

# Integers no argument can hold (beyond usize/u64), and some that are merely negative.
HUGE_INTS = (2**64, 2**64 + 1, 2**100, 10**30)
NEGATIVE_INTS = (-1, -(2**63), -(2**64), -(10**30))


# ------------------------------------------------------------------------------------------
# Running one call and judging its outcome.
# ------------------------------------------------------------------------------------------


def event(text: str) -> None:
    """A hypothesis event (shown by --hypothesis-show-statistics), outside tests a no-op."""
    if currently_in_test_context():
        _event(text)


def named(argument: str) -> str:
    """Regex: `argument` as a whole word (so "X" does not match "max")."""
    return rf"(?<![A-Za-z0-9_]){re.escape(argument)}(?![A-Za-z0-9_])"


@contextlib.contextmanager
def watchdog() -> Iterator[None]:
    """Aborts the process with every thread's traceback if the body runs too long: a hung
    native call cannot be interrupted any other way."""
    faulthandler.dump_traceback_later(EXAMPLE_TIMEOUT, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


class Rejected:
    """The outcome of a call that raised an exception the property allows."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        return f"Rejected({type(self.exc).__name__}: {self.exc})"


def run(
    label: str,
    call: Callable[[], Any],
    bad: set[str],
    *,
    allow: tuple[type[BaseException], ...] = (),
    sklearn_messages: bool = False,
    maybe: bool = False,
) -> Any:
    """Runs `call` and checks the outcome: with `bad` (names of the arguments that are
    invalid) empty it must return (or raise one of `allow`); otherwise it must raise
    ValueError/TypeError naming one of `bad` (any message when `sklearn_messages`), or,
    when `maybe` (the arguments in `bad` may legitimately be accepted), return.
    Returns the result, or a `Rejected`. Records the outcome as a hypothesis event."""
    try:
        with watchdog():
            result = call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # classify everything else, Rust panics included
        kind = type(exc).__name__
        if INTERNAL_ERROR is not None and isinstance(exc, INTERNAL_ERROR):
            pytest.fail(f"{label}: fp.InternalError must never be raised: {exc}")
        if bad and isinstance(exc, (ValueError, TypeError)) and not isinstance(exc, allow):
            message = str(exc)
            if not sklearn_messages and not any(re.search(named(a), message) for a in bad):
                pytest.fail(f"{label}: {kind} does not name any of {sorted(bad)}: {message!r}")
            event(f"{label}: rejected ({kind})")
            return Rejected(exc)
        if allow and isinstance(exc, allow):
            event(f"{label}: {kind} (allowed)")
            return Rejected(exc)
        expected = f"ValueError/TypeError naming {sorted(bad)}" if bad else "a result"
        raise AssertionError(f"{label}: expected {expected}, got {kind}: {exc}") from exc
    if bad and not maybe:
        pytest.fail(f"{label}: expected ValueError/TypeError naming {sorted(bad)}, got {result!r}")
    event(f"{label}: accepted")
    return result


def assert_close(actual: Any, expected: Any, dtype: str, what: str) -> None:
    """Max-norm relative error within the dtype's tolerance; the denominator is at least 1e-2
    for float32 and 1e-3 for float64, whose rounding noise is absolute at that scale (a
    saturated tanh's derivative `1 - t²`, 3e-6, carries errors of 4e-15). float32 is held to
    1e-3 here, not conftest's 1e-4: hypothesis finds ill-conditioned cases (a softmax
    gradient `p - 1` with `p` near 1 cancels: inputs of -4 through a width-1 layer gave 1.1e-6
    on 3e-3), which the parity suite's well-conditioned data does not have."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != reference {b.shape}"
    if b.size == 0:
        return
    floor = 1e-2 if dtype == "float32" else 1e-3
    err = float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), floor)
    tol = 1e-3 if dtype == "float32" else TOLERANCE[dtype]
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.0e} ({dtype})\n{a}\n{b}"


# ------------------------------------------------------------------------------------------
# Networks and their inputs.
# ------------------------------------------------------------------------------------------


class Spec:
    """A drawn network: the constructor arguments and the network made from them."""

    def __init__(self, widths: list[int], activation: Any, loss: str, dtype: str, seed: int):
        self.widths, self.activation, self.loss, self.dtype = widths, activation, loss, dtype
        self.net = fp.Network(widths, activation=activation, loss=loss, dtype=dtype, seed=seed)
        # Non-zero biases, so that they take part in every comparison.
        rng = np.random.default_rng(seed % 2**32)
        self.net.set_parameters(self.net.weights, [rng.uniform(-0.5, 0.5, w) for w in widths[1:]])

    @property
    def n_in(self) -> int:
        return self.widths[0]

    @property
    def n_out(self) -> int:
        return self.widths[-1]

    def reference(self) -> reference.ReferenceMLP:
        """The float64 reference holding exactly the network's current parameters."""
        return reference.ReferenceMLP(self.net.weights, self.net.biases, self.activation, self.loss)

    def __repr__(self) -> str:
        return f"Spec({self.widths}, {self.activation!r}, {self.loss!r}, {self.dtype!r})"


@st.composite
def specs(draw: st.DrawFn, losses: tuple[str, ...] = REFERENCE_LOSSES) -> Spec:
    n_layers = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 5), min_size=n_layers + 1, max_size=n_layers + 1))
    n_hidden = n_layers - 1
    activation = draw(
        st.one_of(
            st.sampled_from(ACTIVATIONS),
            st.lists(st.sampled_from(ACTIVATIONS), min_size=n_hidden, max_size=n_hidden),
        )
    )
    loss = draw(st.sampled_from(losses))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    return Spec(widths, activation, loss, dtype, draw(st.integers(0, 2**64 - 1)))


@st.composite
def inputs(draw: st.DrawFn, spec: Spec) -> Drawn:
    """X: mostly (n, n_in) with n in 0..6, sometimes the wrong width or number of dims."""
    n = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 3, 0]))  # 0 rows one time in 8
    shape = draw(
        st.sampled_from(
            [(n, spec.n_in)] * 6 + [(n, spec.n_in + 1), (n, 0), (spec.n_in,), (1, n, spec.n_in), ()]
        )
    )
    return draw(arrays(shape))


def x_problems(X: Drawn, spec: Spec, training: bool) -> set[str]:
    """{"X"} when X is invalid for this network (for training, also when it has no row)."""
    if not X.numeric or len(X.shape) != 2 or X.shape[1] != spec.n_in or not X.finite:
        return {"X"}
    if training and X.shape[0] == 0:
        return {"X"}
    return set()


@st.composite
def targets(draw: st.DrawFn, spec: Spec, n: int) -> Drawn:
    """y for this network's loss: mostly the right shape and values, sometimes not."""
    if spec.loss == "cross_entropy":
        shape = draw(st.sampled_from([(n,)] * 6 + [(n, spec.n_out), (n + 1,), ()]))
        if draw(st.booleans()):
            return draw(arrays(shape, elements=labels_for(spec.n_out)))
        return draw(arrays(shape))
    two_d = (n, spec.n_out)
    shapes = [two_d] * 5 + [(n, spec.n_out + 1), (n + 1, spec.n_out), (n, spec.n_out, 1)]
    if spec.n_out == 1:
        shapes += [(n,)] * 3
    shape = draw(st.sampled_from(shapes))
    if spec.loss == "binary_cross_entropy" and draw(st.booleans()):

        def unit(dtype: np.dtype) -> st.SearchStrategy[float]:
            return st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0, 1, width=16))

        return draw(arrays(shape, elements=unit, numeric_dtypes=("float16", "float32")))
    return draw(arrays(shape))


def y_problems(y: Drawn, spec: Spec, n: int) -> set[str]:
    """{"y"} when y is invalid for this network's loss and n rows (rows of X)."""
    if not y.numeric or not y.finite:
        return {"y"}
    v = y.values
    if spec.loss == "cross_entropy":
        if v.shape != (n,):
            return {"y"}
        if v.size and (np.any(v != np.round(v)) or v.min() < 0 or v.max() >= spec.n_out):
            return {"y"}
        return set()
    if v.shape != (n, spec.n_out) and not (spec.n_out == 1 and v.shape == (n,)):
        return {"y"}
    # Judged as the network sees them: in its dtype (-1e-124 is -0.0 in float32).
    v = np.asarray(v, dtype=spec.dtype)
    if spec.loss == "binary_cross_entropy" and v.size and (v.min() < 0 or v.max() > 1):
        return {"y"}
    return set()


def xy_problems(X: Drawn, y: Drawn, spec: Spec) -> set[str]:
    bad = x_problems(X, spec, training=True)
    n = X.shape[0] if len(X.shape) >= 1 else 0
    bad |= y_problems(y, spec, n)
    if not bad and len(y.shape) >= 1 and y.shape[0] != n:
        bad = {"X", "y"}
    return bad


def as_net_input(d: Drawn, spec: Spec) -> np.ndarray:
    """The values the network computes with: rounded to its dtype, then in float64."""
    return d.values.astype(spec.dtype).astype(np.float64)


def reference_targets(y: Drawn, spec: Spec) -> np.ndarray:
    if spec.loss == "cross_entropy":
        return y.values.astype(np.int64)
    return y.values.astype(spec.dtype).astype(np.float64).reshape(-1, spec.n_out)


def parameters(net: fp.Network) -> list[np.ndarray]:
    return [np.array(a) for a in (*net.weights, *net.biases)]


def assert_unchanged(before: list[np.ndarray], net: fp.Network, label: str) -> None:
    for i, (a, b) in enumerate(zip(before, parameters(net), strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"{label}: parameter {i} changed")


# ------------------------------------------------------------------------------------------
# Network construction.
# ------------------------------------------------------------------------------------------

WIDTH_VALUES = st.one_of(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 6).map(np.int64),
    st.integers(1, 6).map(np.uint8),
    st.sampled_from([0, *NEGATIVE_INTS, *HUGE_INTS, 2**63]),
    st.sampled_from([2.0, True, "3", None, 1.5]),
)


def width_ok(w: Any) -> bool | None:
    """True: a valid width; False: invalid; None: absurd (ValueError or MemoryError)."""
    if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer)):
        return False
    w = int(w)
    if w < 1:
        return False
    return True if w <= 2**16 else None


@PROFILE
@given(
    widths=st.one_of(
        st.lists(WIDTH_VALUES, min_size=0, max_size=5),
        st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple),
        st.lists(st.integers(1, 6), min_size=2, max_size=4).map(np.array),
        st.sampled_from([None, "3,4", 7, 2.5]),
    ),
    activation=st.one_of(
        st.sampled_from(ACTIVATIONS),
        st.lists(st.sampled_from(ACTIVATIONS), max_size=4),
        st.sampled_from(["relux", "", "RELU", 3, None, ["relu", 7]]),
    ),
    loss=st.one_of(st.sampled_from(ALL_LOSSES), st.sampled_from(["hinge", "MSE", "", 1, None])),
    dtype=st.sampled_from(
        ["float32", "float64", np.float32, np.float64, np.dtype(">f8"), "f4"]
        + ["float16", "int32", "complex128", "bogus", 3, object]
    ),
    init=st.one_of(st.sampled_from(["glorot", "he"]), st.sampled_from(["orthogonal", "", 0])),
    seed=st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 2**100, 1.0, True, "0"])),
)
def test_network_construction(
    widths: Any, activation: Any, loss: Any, dtype: Any, init: Any, seed: Any
) -> None:
    bad: set[str] = set()
    absurd = False
    if isinstance(widths, (list, tuple, np.ndarray)):
        oks = [width_ok(w) for w in widths]
        if len(widths) < 2 or False in oks:
            bad.add("widths")
        absurd = None in oks
    else:
        bad.add("widths")
    n_hidden = max(len(widths) - 2, 0) if "widths" not in bad else None
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            bad.add("activation")
    elif not isinstance(activation, list) or not all(isinstance(a, str) for a in activation):
        bad.add("activation")
    elif any(a not in ACTIVATIONS for a in activation) or (
        n_hidden is not None and len(activation) != n_hidden
    ):
        bad.add("activation")
    if loss not in ALL_LOSSES:
        bad.add("loss")
    if isinstance(dtype, type) and dtype is object or dtype in ("float16", "int32", "complex128"):
        bad.add("dtype")
    elif dtype in ("bogus", 3):
        bad.add("dtype")
    if init not in ("glorot", "he"):
        bad.add("init")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        bad.add("seed")
    if absurd:
        # Absurd widths: refused naming widths, or a MemoryError (never an allocation); with
        # other bad arguments, naming any of them is right.
        bad.add("widths")
    label = "Network()"
    net = run(
        label,
        lambda: fp.Network(
            widths, activation=activation, loss=loss, dtype=dtype, init=init, seed=seed
        ),
        bad,
        allow=(MemoryError,) if absurd else (),
    )
    if isinstance(net, Rejected):
        return
    widths = [int(w) for w in widths]
    assert net.widths == widths
    assert net.loss_name == loss
    assert net.dtype == np.dtype(dtype).newbyteorder("=")
    names = [activation] * n_hidden if isinstance(activation, str) else activation
    assert net.activations == ["sigmoid" if a == "logistic" else a for a in names] or (
        net.activations == names
    )
    same = fp.Network(widths, activation=activation, loss=loss, dtype=dtype, init=init, seed=seed)
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        fan_in, fan_out = widths[layer], widths[layer + 1]
        assert w.shape == (fan_in, fan_out) and b.shape == (fan_out,)
        assert w.dtype == net.dtype and b.dtype == net.dtype
        assert not np.any(b), "biases start at zero"
        bound = math.sqrt(6 / (fan_in + fan_out) if init == "glorot" else 6 / fan_in)
        assert np.all(np.abs(w) <= bound * (1 + 1e-6)), f"layer {layer} exceeds {bound}"
    for a, b in zip(parameters(net), parameters(same), strict=True):
        np.testing.assert_array_equal(a, b, err_msg="same seed, same parameters")


# ------------------------------------------------------------------------------------------
# forward / predict.
# ------------------------------------------------------------------------------------------


@PROFILE
@given(data=st.data())
def test_forward_and_predict(data: st.DataObject) -> None:
    spec = data.draw(specs(losses=ALL_LOSSES), label="spec")
    X = data.draw(inputs(spec), label="X")
    bad = x_problems(X, spec, training=False)
    before = parameters(spec.net)
    out = run("forward", lambda: spec.net.forward(X.obj), bad)
    pred = run("predict", lambda: spec.net.predict(X.obj), bad)
    assert_unchanged(before, spec.net, "forward/predict")
    if isinstance(out, Rejected):
        assert isinstance(pred, Rejected)
        return
    n = X.shape[0]
    assert out.shape == (n, spec.n_out) and out.dtype == np.dtype(spec.dtype)
    classes = spec.loss in ("cross_entropy", "log_loss")
    if classes:
        assert pred.shape == (n,) and pred.dtype == np.int64
    else:
        assert pred.shape == out.shape
    if not X.tame or spec.loss not in REFERENCE_LOSSES:
        return
    expected = spec.reference().forward(as_net_input(X, spec))
    assert_close(out, expected, spec.dtype, f"forward {spec} {X}")
    if classes and n:
        # The predicted class has (within tolerance) the largest reference probability.
        chosen = expected[np.arange(n), pred]
        assert np.all(chosen >= expected.max(axis=1) - TOLERANCE[spec.dtype])
    elif n:
        assert_close(pred, expected, spec.dtype, f"predict {spec} {X}")


# ------------------------------------------------------------------------------------------
# loss / gradients.
# ------------------------------------------------------------------------------------------


@PROFILE
@given(data=st.data())
def test_loss_and_gradients(data: st.DataObject) -> None:
    spec = data.draw(specs(), label="spec")
    X = data.draw(inputs(spec), label="X")
    n = X.shape[0] if X.shape else 0
    y = data.draw(targets(spec, n), label="y")
    bad = xy_problems(X, y, spec)
    before = parameters(spec.net)
    loss = run("loss", lambda: spec.net.loss(X.obj, y.obj), bad)
    grads = run("gradients", lambda: spec.net.gradients(X.obj, y.obj), bad)
    assert_unchanged(before, spec.net, "loss/gradients")
    if isinstance(loss, Rejected):
        assert isinstance(grads, Rejected)
        return
    assert isinstance(loss, float)
    g_loss, dW, db = grads
    assert g_loss == loss or (math.isnan(g_loss) and math.isnan(loss))
    assert [w.shape for w in dW] == [w.shape for w in spec.net.weights]
    assert [b.shape for b in db] == [b.shape for b in spec.net.biases]
    if not (X.tame and y.tame):
        return
    ref_loss, ref_dW, ref_db = spec.reference().gradients(
        as_net_input(X, spec), reference_targets(y, spec)
    )
    assert_close(loss, ref_loss, spec.dtype, f"loss {spec}")
    for i, (a, b) in enumerate(zip(dW + db, ref_dW + ref_db, strict=True)):
        assert_close(a, b, spec.dtype, f"gradient {i} {spec}")


# ------------------------------------------------------------------------------------------
# step / fit.
# ------------------------------------------------------------------------------------------

# Modest hyperparameters, so float32 runs stay comparable with the float64 reference (Adam's
# eps is raised for float32: see tests/test_parity.py).
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"lr": 0.01}),
    "sgd_nesterov": ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    "sgd_wd": ("SGD", {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.01}),
    "adam": ("Adam", {"lr": 0.001, "eps": 1e-4}),
    "adamw": ("AdamW", {"lr": 0.001, "eps": 1e-4, "weight_decay": 0.05}),
}


def optimizers(name: str) -> tuple[Any, Any]:
    cls, kwargs = OPTIMIZERS[name]
    return getattr(fp, cls)(**kwargs), getattr(reference, cls)(**kwargs)


@PROFILE
@given(data=st.data(), opt_name=st.sampled_from(sorted(OPTIMIZERS)))
def test_step(data: st.DataObject, opt_name: str) -> None:
    spec = data.draw(specs(), label="spec")
    X = data.draw(inputs(spec), label="X")
    y = data.draw(targets(spec, X.shape[0] if X.shape else 0), label="y")
    bad = xy_problems(X, y, spec)
    opt, ref_opt = optimizers(opt_name)
    ref = spec.reference()
    before = parameters(spec.net)
    tame = X.tame and y.tame
    allow = () if tame else (fp.DivergenceError,)
    loss = run("step", lambda: spec.net.step(X.obj, y.obj, opt), bad, allow=allow)
    if isinstance(loss, Rejected):
        assert_unchanged(before, spec.net, "rejected step")
        return
    if not tame:
        return
    ref_loss = ref.step(as_net_input(X, spec), reference_targets(y, spec), ref_opt)
    assert_close(loss, ref_loss, spec.dtype, f"step loss {spec}")
    for i, (a, b) in enumerate(zip(parameters(spec.net), ref.weights + ref.biases, strict=True)):
        assert_close(a, b, spec.dtype, f"parameter {i} after {opt_name} step {spec}")


COUNT_VALUES = (2**63,)  # in range for a 64-bit count: accepted or refused naming it


def count_strategy(valid: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(
        valid,
        valid,
        valid.map(np.int64),
        st.sampled_from([*NEGATIVE_INTS, *HUGE_INTS, *COUNT_VALUES, 1.0, True, "1", None]),
    )


def count_problem(v: Any, name: str, minimum: int) -> tuple[set[str], bool]:
    """(bad names, whether it may also be accepted) for an integer argument."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        return {name}, False
    v = int(v)
    if v < minimum or v >= 2**64:
        return {name}, False
    return (set(), False) if v < 2**63 else ({name}, True)


@PROFILE
@given(
    data=st.data(),
    opt_name=st.sampled_from(sorted(OPTIMIZERS)),
    epochs=count_strategy(st.integers(0, 3)),
    batch_size=count_strategy(st.integers(1, 8)),
    seed=st.one_of(st.none(), st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 0.5])),
)
def test_fit(data: st.DataObject, opt_name: str, epochs: Any, batch_size: Any, seed: Any) -> None:
    spec = data.draw(specs(), label="spec")
    X = data.draw(inputs(spec), label="X")
    y = data.draw(targets(spec, X.shape[0] if X.shape else 0), label="y")
    bad = xy_problems(X, y, spec)
    epochs_bad, epochs_maybe = count_problem(epochs, "epochs", 0)
    batch_bad, batch_maybe = count_problem(batch_size, "batch_size", 1)
    bad |= epochs_bad | batch_bad
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64
    ):
        bad.add("seed")
    if epochs_maybe and not bad - {"epochs"}:
        return  # a valid epoch count this large would train for ever: not drawn as valid
    opt, ref_opt = optimizers(opt_name)
    ref = spec.reference()
    before = parameters(spec.net)
    tame = X.tame and y.tame
    maybe = batch_maybe and not bad - {"batch_size"}

    def fit() -> fp.History:
        return spec.net.fit(
            X.obj, y.obj, epochs=epochs, batch_size=batch_size, optimizer=opt, shuffle=False,
            seed=seed,
        )  # fmt: skip

    if maybe:  # 2**63: either a full batch, or refused naming batch_size
        bad = set()
        try:
            with watchdog():
                hist = fit()
        except ValueError as exc:
            assert re.search(named("batch_size"), str(exc)), str(exc)
            return
        batch_size = 2**62
    else:
        allow = () if tame else (fp.DivergenceError,)
        hist = run("fit", fit, bad, allow=allow)
    if isinstance(hist, Rejected):
        if not isinstance(hist.exc, fp.DivergenceError):
            assert_unchanged(before, spec.net, "rejected fit")
        return
    assert len(hist.loss) == int(epochs) and len(hist.seconds) == int(epochs)
    if not tame:
        return
    ref_hist = ref.fit(
        as_net_input(X, spec), reference_targets(y, spec), int(epochs), int(batch_size), ref_opt
    )
    assert_close(hist.loss, ref_hist, spec.dtype, f"fit history {spec}")
    for i, (a, b) in enumerate(zip(parameters(spec.net), ref.weights + ref.biases, strict=True)):
        assert_close(a, b, spec.dtype, f"parameter {i} after fit {spec}")


# ------------------------------------------------------------------------------------------
# set_parameters.
# ------------------------------------------------------------------------------------------


@PROFILE
@given(data=st.data())
def test_set_parameters(data: st.DataObject) -> None:
    spec = data.draw(specs(), label="spec")
    shapes_w = [(a, b) for a, b in zip(spec.widths[:-1], spec.widths[1:], strict=True)]
    shapes_b = [(b,) for b in spec.widths[1:]]
    bad: set[str] = set()
    weights: list[Any] = []
    biases: list[Any] = []
    for name, shapes, out in (("weights", shapes_w, weights), ("biases", shapes_b, biases)):
        count = len(shapes) + data.draw(st.sampled_from([0] * 8 + [-1, 1]), label="count")
        for i in range(count):
            shape = shapes[min(i, len(shapes) - 1)]
            if data.draw(st.sampled_from([False] * 9 + [True])):  # a wrong shape
                shape = data.draw(st.sampled_from([shape[::-1], (*shape, 1), shape[:-1], (0,)]))
            d = data.draw(arrays(shape), label=f"{name}[{i}]")
            out.append(d)
            wrong = i >= len(shapes) or d.shape != shapes[i]
            if wrong or not d.numeric or not d.finite:
                bad.add(name)
        if count != len(shapes):
            bad.add(name)
    before = parameters(spec.net)
    result = run(
        "set_parameters",
        lambda: spec.net.set_parameters([d.obj for d in weights], [d.obj for d in biases]),
        bad,
    )
    if isinstance(result, Rejected):
        assert_unchanged(before, spec.net, "rejected set_parameters")
        return
    for got, d in zip(parameters(spec.net), weights + biases, strict=True):
        assert got.dtype == np.dtype(spec.dtype)
        np.testing.assert_array_equal(got, d.values.astype(spec.dtype))
        if isinstance(d.obj, np.ndarray) and d.obj.flags.writeable and d.obj.size:
            d.obj.flat[0] = 7  # the network holds a copy
    for got, d in zip(parameters(spec.net), weights + biases, strict=True):
        np.testing.assert_array_equal(got, d.values.astype(spec.dtype))


# ------------------------------------------------------------------------------------------
# Optimizer constructors.
# ------------------------------------------------------------------------------------------

REALS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(1e-6, 1.0),
    st.sampled_from([0.0, -0.0, 1e308, 5e-324, 10**400, -(10**400), 3]),
    st.sampled_from([np.float32(0.1), np.float64(0.5), "0.1", None, [0.1], True]),
)


def real_problem(v: Any, lo: float, lo_open: bool, hi: float = math.inf) -> bool | None:
    """True: invalid; False: valid; None: either (bool, numpy scalars of odd types, and None,
    which the optimizers read as "the default" for an optional argument)."""
    if v is None or isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, int):
        v = float(v) if abs(v) < 2**1000 else math.inf * (1 if v > 0 else -1)
    if not isinstance(v, (float, np.floating)):
        return True
    v = float(v)
    if not math.isfinite(v):
        return True
    return v < lo or (lo_open and v == lo) or v >= hi


@PROFILE
@given(
    cls=st.sampled_from(["SGD", "Adam", "AdamW"]),
    lr=REALS,
    momentum=REALS,
    nesterov=st.sampled_from([False, True, 0, 1, "yes", None]),
    weight_decay=REALS,
    beta1=REALS,
    beta2=REALS,
    betas_form=st.sampled_from(["tuple", "tuple", "list", "array", "triple", "scalar"]),
    eps=REALS,
    use=st.sets(st.sampled_from(["lr", "momentum", "nesterov", "weight_decay", "betas", "eps"])),
)
def test_optimizer_constructors(
    cls: str,
    lr: Any,
    momentum: Any,
    nesterov: Any,
    weight_decay: Any,
    beta1: Any,
    beta2: Any,
    betas_form: str,
    eps: Any,
    use: set[str],
) -> None:
    kwargs: dict[str, Any] = {}
    bad: set[str] = set()
    either: set[str] = set()

    def judge(name: str, verdict: bool | None) -> None:
        if verdict is None:
            either.add(name)
        elif verdict:
            bad.add(name)

    allowed = {"SGD": {"lr", "momentum", "nesterov", "weight_decay"}}.get(
        cls, {"lr", "betas", "eps", "weight_decay"}
    )
    use = (use & allowed) | ({"lr"} if cls == "SGD" else set())  # SGD's lr is required
    if "lr" in use:
        kwargs["lr"] = lr
        judge("lr", real_problem(lr, 0.0, True))
    if "momentum" in use:
        kwargs["momentum"] = momentum
        judge("momentum", real_problem(momentum, 0.0, False))
    if "weight_decay" in use:
        kwargs["weight_decay"] = weight_decay
        judge("weight_decay", real_problem(weight_decay, 0.0, False))
    if "eps" in use:
        kwargs["eps"] = eps
        judge("eps", real_problem(eps, 0.0, False))
    if "nesterov" in use:
        kwargs["nesterov"] = nesterov
        if not isinstance(nesterov, bool):
            either.add("nesterov")  # 0/1 may pass as bools
            if nesterov == "yes":
                bad.add("nesterov")
        elif nesterov:
            m = kwargs.get("momentum", 0.0)
            if "momentum" not in bad and "momentum" not in either and float(m) == 0.0:
                bad.add("nesterov")  # Nesterov needs momentum
    if "betas" in use:
        pair = {
            "tuple": (beta1, beta2),
            "list": [beta1, beta2],
            "array": np.array([beta1, beta2], dtype=object),
            "triple": (beta1, beta2, 0.5),
            "scalar": beta1,
        }[betas_form]
        kwargs["betas"] = pair
        if betas_form == "scalar" and beta1 is None:
            either.add("betas")  # None: the default
        elif betas_form in ("triple", "scalar"):
            bad.add("betas")
        else:
            verdicts = [real_problem(b, 0.0, False, 1.0) for b in (beta1, beta2)]
            if True in verdicts:
                bad.add("betas")
            elif None in verdicts or betas_form != "tuple":
                either.add("betas")
    if either - bad:
        # Some argument may be accepted or refused: only the exception discipline is checked.
        run(cls, lambda: getattr(fp, cls)(**kwargs), bad | either, maybe=not bad)
        return
    opt = run(cls, lambda: getattr(fp, cls)(**kwargs), bad)
    if isinstance(opt, Rejected):
        return
    assert isinstance(opt, fp.Optimizer)
    if "lr" in kwargs:
        assert opt.lr == float(kwargs["lr"])
    assert opt.steps == 0


# ------------------------------------------------------------------------------------------
# save / load.
# ------------------------------------------------------------------------------------------


@PROFILE
@given(
    data=st.data(),
    with_names=st.booleans(),
    name_text=st.text(min_size=0, max_size=5),
)
def test_save_load_round_trip(data: st.DataObject, with_names: bool, name_text: str) -> None:
    spec = data.draw(specs(losses=ALL_LOSSES), label="spec")
    names = [f"{name_text}{i}" for i in range(spec.n_out)] if with_names else None
    bad = {"class_names"} if names is not None and spec.loss != "cross_entropy" else set()
    path = tmp_path(".safetensors")
    saved = run("save", lambda: spec.net.save(path, class_names=names), bad)
    if isinstance(saved, Rejected):
        assert not path.exists()
        return
    loaded = run("load", lambda: fp.load(path), set())
    assert isinstance(loaded, fp.Network)
    assert loaded.widths == spec.net.widths
    assert loaded.activations == spec.net.activations
    assert loaded.loss_name == spec.net.loss_name
    assert loaded.dtype == spec.net.dtype
    assert loaded.class_names == names
    for a, b in zip(parameters(loaded), parameters(spec.net), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    X = np.linspace(-1, 1, 3 * spec.n_in).reshape(3, spec.n_in)
    np.testing.assert_array_equal(loaded.forward(X), spec.net.forward(X))
    path.unlink()


# ------------------------------------------------------------------------------------------
# set_num_threads.
# ------------------------------------------------------------------------------------------


@PROFILE
@given(n=st.one_of(st.integers(1, 4), st.sampled_from([0, *NEGATIVE_INTS, *HUGE_INTS, 2.0, "2"])))
def test_set_num_threads(n: Any) -> None:
    previous = fp.get_num_threads()
    bad, _ = count_problem(n, "n", 1)
    names = {"n", "num_threads", "threads"} if bad else set()
    try:
        result = run("set_num_threads", lambda: fp.set_num_threads(n), names)
        if not isinstance(result, Rejected):
            assert fp.get_num_threads() == n
        else:
            assert fp.get_num_threads() == previous
    finally:
        fp.set_num_threads(previous)


# ------------------------------------------------------------------------------------------
# Estimators.
# ------------------------------------------------------------------------------------------

LABEL_SETS: dict[str, np.ndarray] = {
    "int": np.array([0, 1, 2]),
    "negative": np.array([-5, 7]),
    "uint64": np.array([0, 2**63 + 1], dtype=np.uint64),
    "bool": np.array([False, True]),
    "float": np.array([0.5, 2.0, -1.0]),
    "str": np.array(["cat", "dog", "emu"]),
    "object": np.array(["x", "y"], dtype=object),
    "big-endian": np.array([3, 1], dtype=">i8"),
}


@PROFILE
@given(
    data=st.data(),
    kind=st.sampled_from(["classifier", "regressor"]),
    label_set=st.sampled_from(sorted(LABEL_SETS)),
    n_features=st.integers(1, 4),
)
def test_estimators_fit_predict(
    data: st.DataObject, kind: str, label_set: str, n_features: int
) -> None:
    n = data.draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 0]), label="n")
    X = data.draw(arrays((n, n_features), allow_non_numeric=True), label="X")
    if kind == "classifier":
        labels = LABEL_SETS[label_set]
        idx = data.draw(st.lists(st.integers(0, len(labels) - 1), min_size=n, max_size=n))
        y = labels[np.array(idx, dtype=np.intp)] if n else labels[:0]
    else:
        y_d = data.draw(arrays((n,), numeric_dtypes=("float32", "float64", "int32")), label="y")
        y = y_d.obj
    # sklearn casts X to float64/float32 (complex refused, big ints fine) and needs >= 1 row.
    bad: set[str] = set()
    if not X.numeric or not X.finite or n == 0:
        bad.add("X")
    # scikit-learn converts what it can (object arrays of numbers, datetimes, ...): a
    # non-numeric X may be accepted, or refused.
    maybe = (not X.numeric and n > 0) or (kind == "regressor" and not y_d.numeric and n > 0)
    maybe = maybe and not (bad - {"X", "y"})
    if kind == "regressor" and not (y_d.numeric and y_d.finite):
        bad.add("y")
    maybe_fail = kind == "classifier" and n > 0 and len(np.unique(y)) < 2  # single class
    est = (
        fp.MLPClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0)
        if kind == "classifier"
        else fp.MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0)
    )
    yv = np.asarray(y)
    if kind == "classifier" and yv.dtype.kind == "f" and np.any(yv != np.round(yv)):
        bad.add("y")  # scikit-learn: "Unknown label type" (continuous targets)
    allow = (ValueError,) if maybe_fail else ()
    if not X.tame or (kind == "regressor" and not y_d.tame):
        allow = (ValueError,)  # finite but huge inputs: "non-finite parameter weights"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = run(f"{kind}.fit", lambda: est.fit(X.obj, y), bad, allow=allow,
                     sklearn_messages=True, maybe=maybe)  # fmt: skip
        if isinstance(fitted, Rejected):
            return
        pred = run(f"{kind}.predict", lambda: est.predict(X.obj), set())
    assert pred.shape == (n,)
    if maybe or maybe_fail:
        return  # accepted although unusual (non-numeric X, a single class): no values to check
    if kind == "classifier":
        assert set(np.unique(pred)) <= set(est.classes_)
        proba = est.predict_proba(X.obj)
        assert proba.shape == (n, len(est.classes_)) and np.allclose(proba.sum(axis=1), 1)
    if not X.tame:
        return
    # The model computes in the dtype of its coefficients (float32 for float32 X).
    dtype = est.coefs_[0].dtype.name
    Xr = X.values.astype(dtype).astype(np.float64)
    out_loss = "cross_entropy" if getattr(est, "out_activation_", "") == "softmax" else "mse"
    ref = reference.ReferenceMLP(est.coefs_, est.intercepts_, "relu", out_loss)
    if kind == "regressor":
        assert_close(pred, ref.forward(Xr)[:, 0], dtype, "regressor predict")
    elif out_loss == "cross_entropy":
        assert_close(est.predict_proba(X.obj), ref.forward(Xr), dtype, "predict_proba")
    else:  # binary: a logistic output
        p = reference.sigmoid(ref.logits(Xr))[:, 0]
        assert_close(est.predict_proba(X.obj)[:, 1], p, dtype, "predict_proba")


# ------------------------------------------------------------------------------------------
# CLI argument parsing (parse only: nothing is trained or read).
# ------------------------------------------------------------------------------------------

INT_TEXT = st.one_of(
    st.integers(-3, 300).map(str),
    st.sampled_from(["0", "-1", "2**3", "1e3", "", " 7", "abc", str(2**64), "٣"]),
)
FLOAT_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1e-3", "-0.1", "nan", "inf", "1e400", "0x10", "", "abc", "0.5"]),
)
HIDDEN_TEXT = st.one_of(
    st.lists(st.integers(-1, 300), min_size=0, max_size=3).map(lambda v: ",".join(map(str, v))),
    st.sampled_from(["none", "NONE", "", "64,,32", "1.5", "a,b", " 8 , 4 "]),
)
ACT_TEXT = st.one_of(
    st.lists(st.sampled_from([*ACTIVATIONS, "swish", ""]), min_size=1, max_size=3).map(",".join),
)


def _int_value(text: str, minimum: int, maximum: int = 2**31 - 1) -> int | None:
    try:
        v = int(text)
    except ValueError:
        return None
    return v if minimum <= v <= maximum else None


def _float_value(text: str, ok: Callable[[float], bool]) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if ok(v) else None


def _hidden_value(text: str) -> list[int] | None:
    t = text.strip()
    if t.lower() in ("", "none"):
        return []
    try:
        widths = [int(p.strip()) for p in t.split(",")]
    except ValueError:
        return None
    return widths if all(0 < w < 2**31 for w in widths) else None


def _act_value(text: str) -> list[str] | None:
    names = [p.strip() for p in text.split(",")]
    return names if all(n in ACTIVATIONS for n in names) else None


TRAIN_OPTIONS: dict[str, tuple[str, st.SearchStrategy[str], Callable[[str], Any]]] = {
    "--epochs": ("epochs", INT_TEXT, lambda t: _int_value(t, 1)),
    "--batch-size": ("batch_size", INT_TEXT, lambda t: _int_value(t, 1)),
    "--threads": ("threads", INT_TEXT, lambda t: _int_value(t, 1, fp.max_threads())),
    "--seed": ("seed", INT_TEXT, lambda t: _int_value(t, 0, 2**64 - 1)),
    "--lr": ("lr", FLOAT_TEXT, lambda t: _float_value(t, lambda v: math.isfinite(v) and v > 0)),
    "--val-fraction": (
        "val_fraction",
        FLOAT_TEXT,
        lambda t: _float_value(t, lambda v: 0.0 <= v < 1.0),
    ),
    "--test-fraction": (
        "test_fraction",
        FLOAT_TEXT,
        lambda t: _float_value(t, lambda v: 0.0 <= v < 1.0),
    ),
    "--hidden": ("hidden", HIDDEN_TEXT, _hidden_value),
    "--activation": ("activation", ACT_TEXT, _act_value),
    "--dtype": (
        "dtype",
        st.sampled_from(["float32", "float64", "float16", ""]),
        lambda t: t if t in ("float32", "float64") else None,
    ),
    "--optimizer": (
        "optimizer",
        st.sampled_from(["adam", "sgd", "Adam", "lbfgs"]),
        lambda t: t if t in ("adam", "sgd") else None,
    ),
}


def parse(argv: list[str]) -> tuple[argparse.Namespace | None, int | None, str]:
    """(namespace or None, exit code or None, stderr) of parsing `argv`."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            with watchdog():
                return cli_parser().parse_args(argv), None, stderr.getvalue()
        except SystemExit as exc:
            return None, exc.code if isinstance(exc.code, int) else 2, stderr.getvalue()


@PROFILE
@given(
    options=st.dictionaries(
        st.sampled_from(sorted(TRAIN_OPTIONS)),
        st.none(),
        max_size=4,
    ),
    data=st.data(),
    equals_form=st.booleans(),
)
def test_cli_train_parsing(
    options: dict[str, None], data: st.DataObject, equals_form: bool
) -> None:
    argv = ["train", "--data", "x.npz"]
    expected: dict[str, Any] = {}
    bad: list[str] = []
    for flag in options:
        dest, texts, convert = TRAIN_OPTIONS[flag]
        text = data.draw(texts, label=flag)
        argv += [f"{flag}={text}"] if equals_form or text.startswith("-") else [flag, text]
        value = convert(text)
        if value is None:
            bad.append(flag)
        else:
            expected[dest] = value
    args, code, stderr = parse(argv)
    if bad:
        event("cli train: rejected")
        assert args is None and code == 2, f"{argv}: accepted {args}"
        assert any(flag in stderr for flag in bad), f"{argv}: {stderr!r} names none of {bad}"
        return
    event("cli train: accepted")
    assert args is not None, f"{argv} refused: {stderr}"
    assert args.command == "train" and args.data == "x.npz"
    for dest, value in expected.items():
        got = getattr(args, dest)
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got)
        else:
            assert got == value, f"{dest}: {got!r} != {value!r}"


@PROFILE
@given(
    model=st.text(min_size=1, max_size=6).filter(lambda s: not s.startswith("-")),
    with_data=st.booleans(),
    proba=st.booleans(),
    extra=st.sampled_from([[], ["--bogus"], ["--out"], ["--out", "o.csv"]]),
)
def test_cli_predict_parsing(model: str, with_data: bool, proba: bool, extra: list[str]) -> None:
    argv = ["predict", model] + (["--data", "d.csv"] if with_data else [])
    argv += ["--proba"] if proba else []
    argv += extra
    args, code, stderr = parse(argv)
    if not with_data or extra in (["--bogus"], ["--out"]):
        event("cli predict: rejected")
        assert args is None and code == 2, f"{argv}: accepted {args}"
        # argparse reports the first problem it meets: the missing --data or a bad option.
        flags = ({"--data"} if not with_data else set()) | ({extra[0]} if extra else set())
        assert any(flag in stderr for flag in flags), stderr
        return
    event("cli predict: accepted")
    assert args is not None, stderr
    assert (args.model, args.data, args.proba) == (model, "d.csv", proba)
    assert args.out == (extra[1] if extra else "-")


# ------------------------------------------------------------------------------------------
# A deterministic sweep: every accepted dtype in every layout, through every X entry point
# (random examples may miss one combination; this one may not), and 0-row inputs.
# ------------------------------------------------------------------------------------------

SWEEP_METHODS: dict[str, Callable[[fp.Network, Any, np.ndarray], Any]] = {
    "forward": lambda net, X, y: net.forward(X),
    "predict": lambda net, X, y: net.predict(X),
    "loss": lambda net, X, y: net.loss(X, y),
    "gradients": lambda net, X, y: net.gradients(X, y)[1],
    "step": lambda net, X, y: net.step(X, y, fp.SGD(lr=0.01)),
    "fit": lambda net, X, y: net.fit(X, y, epochs=1, batch_size=2, shuffle=False).loss,
}


@pytest.mark.parametrize("net_dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_sweep_dtypes_and_layouts(dtype: str, layout: str, net_dtype: str) -> None:
    """X and y in `dtype` and `layout` give exactly the results of C-order float64 input
    (bitwise: the conversion to the network's dtype is exact or identical either way)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, size=(5, 3)).astype(dtype)  # 0/1: exact in every dtype
    X = _layout(base, layout)
    y_base = (rng.integers(0, 2, size=(5, 2))).astype(dtype)
    y = _layout(y_base, layout)
    values = np.array(X, dtype=np.float64)
    y_values = np.array(y, dtype=np.float64)
    for name, call in SWEEP_METHODS.items():
        canonical_net = fp.Network([3, 4, 2], activation="tanh", loss="mse", dtype=net_dtype)
        net = fp.Network([3, 4, 2], activation="tanh", loss="mse", dtype=net_dtype)
        expected = call(canonical_net, values, y_values)
        got = run(f"sweep {name}", lambda net=net, call=call: call(net, X, y), set())
        if isinstance(got, list) and got and isinstance(got[0], np.ndarray):
            for a, b in zip(got, expected, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{name} {dtype} {layout}")
        else:
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} {dtype} {layout}")
        for a, b in zip(parameters(net), parameters(canonical_net), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} {dtype} {layout}: parameters")


@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_rows(loss: str, dtype: str) -> None:
    """forward/predict on 0 rows: empty results; training entry points: ValueError naming X."""
    net = fp.Network([3, 4, 2], loss=loss, dtype=dtype)
    X = np.zeros((0, 3), dtype)
    out = run("forward (0 rows)", lambda: net.forward(X), set())
    assert out.shape == (0, 2) and out.dtype == np.dtype(dtype)
    pred = run("predict (0 rows)", lambda: net.predict(X), set())
    classes = loss in ("cross_entropy", "log_loss")
    assert pred.shape == ((0,) if classes else (0, 2))
    y = np.zeros(0, np.int64) if classes else np.zeros((0, 2), dtype)
    for name, call in SWEEP_METHODS.items():
        if name not in ("forward", "predict"):
            run(f"{name} (0 rows)", lambda call=call: call(net, X, y), {"X"})
