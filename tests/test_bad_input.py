"""Bad input is rejected with a ValueError/TypeError that names the argument.

Also: divergence raises DivergenceError and leaves finite parameters; edge cases that must be
*accepted* (0 epochs, float64/int/Fortran-ordered X) behave like the canonical input.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import ferroprop as fp

N_IN, N_HIDDEN, N_OUT, N_ROWS = 4, 6, 3, 12

# So that subprocesses import the same ferroprop as this process.
PACKAGE_ROOT = str(Path(fp.__file__).resolve().parent.parent)


def make_net(loss: str = "cross_entropy", dtype: str = "float32", **kwargs) -> fp.Network:
    kwargs.setdefault("activation", "tanh")
    return fp.Network([N_IN, N_HIDDEN, N_OUT], loss=loss, dtype=dtype, seed=0, **kwargs)


def make_data(loss: str = "cross_entropy", n: int = N_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """X (n, N_IN) float32 and targets suited to ``loss``."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, N_IN)).astype(np.float32)
    if loss == "cross_entropy":
        y = np.arange(n, dtype=np.int64) % N_OUT
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, N_OUT)) < 0.5).astype(np.float32)
    else:
        y = rng.standard_normal((n, N_OUT)).astype(np.float32)
    return X, y


def params(net: fp.Network) -> list[np.ndarray]:
    return [np.array(a) for a in (*net.weights, *net.biases)]


def assert_params_equal(before: list[np.ndarray], net: fp.Network) -> None:
    for a, b in zip(before, params(net), strict=True):
        np.testing.assert_array_equal(a, b)


def assert_params_finite(net: fp.Network) -> None:
    for i, a in enumerate(params(net)):
        assert np.all(np.isfinite(a)), f"parameter array {i} has non-finite entries"


def named(argument: str) -> str:
    """Regex: ``argument`` as a whole word (so "X" does not match "max")."""
    return rf"(?<![A-Za-z0-9_]){argument}(?![A-Za-z0-9_])"


# Every public method that takes X (and, below, X and y).
Call = Callable[[fp.Network, np.ndarray, np.ndarray], object]
X_METHODS: dict[str, Call] = {
    "forward": lambda net, X, y: net.forward(X),
    "predict": lambda net, X, y: net.predict(X),
    "loss": lambda net, X, y: net.loss(X, y),
    "gradients": lambda net, X, y: net.gradients(X, y),
    "step": lambda net, X, y: net.step(X, y, fp.SGD(lr=0.1)),
    "fit": lambda net, X, y: net.fit(X, y, epochs=1, batch_size=4),
}
XY_METHODS = {k: v for k, v in X_METHODS.items() if k not in ("forward", "predict")}

with_X = pytest.mark.parametrize("call", X_METHODS.values(), ids=X_METHODS.keys())
with_XY = pytest.mark.parametrize("call", XY_METHODS.values(), ids=XY_METHODS.keys())


def check_rejected(
    call: Call,
    X: np.ndarray,
    y: np.ndarray,
    argument: str,
    exc: type[Exception] | tuple[type[Exception], ...] = ValueError,
    loss: str = "cross_entropy",
) -> None:
    """``call`` raises ``exc`` naming ``argument`` and leaves the parameters untouched."""
    net = make_net(loss)
    before = params(net)
    with pytest.raises(exc, match=named(argument)):
        call(net, X, y)
    assert_params_equal(before, net)


# --- X and y: shape, size, values, dtype -------------------------------------------------


@with_X
@pytest.mark.parametrize("shape", [(N_IN,), (2, N_ROWS // 2, N_IN)], ids=["1d", "3d"])
def test_X_wrong_ndim(call: Call, shape: tuple[int, ...]) -> None:
    X, y = make_data()
    check_rejected(call, np.zeros(shape, np.float32), y, "X")


@with_X
def test_X_feature_mismatch(call: Call) -> None:
    X, y = make_data()
    check_rejected(call, np.zeros((N_ROWS, N_IN + 1), np.float32), y, "X")


@with_XY
def test_X_empty(call: Call) -> None:
    check_rejected(call, np.zeros((0, N_IN), np.float32), np.zeros(0, np.int64), "X")


def test_forward_and_predict_of_no_rows_are_empty() -> None:
    # As torch's forward: an empty batch gives an empty result, not an error.
    net = make_net("cross_entropy")
    X = np.zeros((0, N_IN), np.float32)
    out = net.forward(X)
    assert out.shape == (0, net.widths[-1]) and out.dtype == np.float32
    labels = net.predict(X)
    assert labels.shape == (0,) and labels.dtype == np.int64


@with_X
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_X_non_finite(call: Call, bad: float) -> None:
    X, y = make_data()
    X[3, 1] = bad
    check_rejected(call, X, y, "X")


@with_X
def test_X_strings_are_type_error(call: Call) -> None:
    _, y = make_data()
    X = np.full((N_ROWS, N_IN), "a")
    check_rejected(call, X, y, "X", exc=TypeError)


@with_X
def test_X_object_array_is_type_error(call: Call) -> None:
    X, y = make_data()
    check_rejected(call, X.astype(object), y, "X", exc=TypeError)


@with_XY
def test_len_X_differs_from_len_y(call: Call) -> None:
    X, y = make_data()
    # Either argument may be blamed, but one of them must be named.
    check_rejected(call, X, y[:-1], "(X|y)")


@with_XY
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_y_empty(call: Call, loss: str) -> None:
    X, y = make_data(loss)
    check_rejected(call, X[:0], y[:0], "(X|y)", loss=loss)


@with_XY
def test_y_wrong_ndim_cross_entropy(call: Call) -> None:
    X, _ = make_data()
    y_onehot = np.eye(N_OUT, dtype=np.int64)[np.arange(N_ROWS) % N_OUT]  # (n, k): not indices
    check_rejected(call, X, y_onehot, "y")
    check_rejected(call, X, np.zeros((N_ROWS, 1, 1), np.int64), "y")


@with_XY
@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
def test_y_wrong_ndim_dense_targets(call: Call, loss: str) -> None:
    X, y = make_data(loss)
    check_rejected(call, X, y[:, :, None], "y", loss=loss)
    check_rejected(call, X, y.ravel(), "y", loss=loss)  # 1-D, wrong length


@with_XY
@pytest.mark.parametrize("bad_class", [-1, N_OUT, 10**6])
def test_y_class_index_out_of_range(call: Call, bad_class: int) -> None:
    X, y = make_data()
    y[5] = bad_class
    check_rejected(call, X, y, "y")


@with_XY
def test_y_strings_are_type_error(call: Call) -> None:
    X, y = make_data()
    check_rejected(call, X, y.astype(str), "y", exc=TypeError)


@with_XY
@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_y_non_finite(call: Call, loss: str, bad: float) -> None:
    X, y = make_data(loss)
    y[2, 1] = bad
    check_rejected(call, X, y, "y", loss=loss)


@with_XY
@pytest.mark.parametrize("bad", [-0.5, 1.5, 2.0])
def test_bce_targets_outside_unit_interval(call: Call, bad: float) -> None:
    X, y = make_data("binary_cross_entropy")
    y[4, 0] = bad
    check_rejected(call, X, y, "y", loss="binary_cross_entropy")


@with_XY
def test_mse_wrong_number_of_outputs(call: Call) -> None:
    X, y = make_data("mse")
    check_rejected(call, X, np.zeros((N_ROWS, N_OUT + 1), np.float32), "y", loss="mse")


# --- constructor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "widths",
    [[], [5], [N_IN, 0, N_OUT], [N_IN, -1, N_OUT], [0, N_OUT], [N_IN, N_HIDDEN, 0]],
    ids=["empty", "single", "zero-hidden", "negative-hidden", "zero-input", "zero-output"],
)
def test_bad_widths(widths: list[int]) -> None:
    with pytest.raises(ValueError, match=named("widths")):
        fp.Network(widths)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"activation": "relux"},
        {"loss": "hinge"},
        {"init": "orthogonal"},
        {"dtype": "float16"},
    ],
    ids=lambda kw: next(iter(kw)),
)
def test_unknown_names(kwargs: dict[str, str]) -> None:
    (argument,) = kwargs
    with pytest.raises(ValueError, match=named(argument)):
        fp.Network([N_IN, N_HIDDEN, N_OUT], **kwargs)


@pytest.mark.parametrize("length", [0, 5])
def test_activation_list_wrong_length(length: int) -> None:
    # Whether the list covers hidden layers only or all layers, 0 and 5 are wrong for 2 layers.
    with pytest.raises(ValueError, match=named("activation")):
        fp.Network([N_IN, N_HIDDEN, N_OUT], activation=["relu"] * length)


def test_activation_list_unknown_entry() -> None:
    with pytest.raises(ValueError, match=named("activation")):
        fp.Network([N_IN, N_HIDDEN, N_HIDDEN, N_OUT], activation=["relu", "nope", "tanh"])


@pytest.mark.parametrize(
    "activation", ["identity", "relu", "leaky_relu", "sigmoid", "logistic", "tanh", "gelu"]
)
def test_every_documented_activation_is_accepted(activation: str) -> None:
    net = make_net(activation=activation)
    X, _ = make_data()
    assert net.forward(X).shape == (N_ROWS, N_OUT)


# --- optimizers ----------------------------------------------------------------------------


@pytest.mark.parametrize("opt", [fp.SGD, fp.Adam, fp.AdamW], ids=lambda o: o.__name__)
@pytest.mark.parametrize("lr", [0.0, -0.1, math.nan, -math.inf], ids=["0", "neg", "nan", "-inf"])
def test_bad_learning_rate(opt: type, lr: float) -> None:
    with pytest.raises(ValueError, match=named("lr")):
        opt(lr=lr)


def test_negative_momentum() -> None:
    with pytest.raises(ValueError, match=named("momentum")):
        fp.SGD(lr=0.1, momentum=-0.1)


def test_nesterov_requires_momentum() -> None:
    with pytest.raises(ValueError, match=r"(?i)nesterov"):
        fp.SGD(lr=0.1, nesterov=True)
    fp.SGD(lr=0.1, momentum=0.9, nesterov=True)  # fine


# --- fit arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1])
def test_bad_batch_size(batch_size: int) -> None:
    X, y = make_data()
    check_rejected(
        lambda net, X, y: net.fit(X, y, epochs=1, batch_size=batch_size), X, y, "batch_size"
    )


def test_negative_epochs() -> None:
    X, y = make_data()
    check_rejected(lambda net, X, y: net.fit(X, y, epochs=-1), X, y, "epochs")


def test_validation_data_wrong_shape() -> None:
    X, y = make_data()
    argument = "(validation_data|X_val|y_val)"

    def fit_with(val: object) -> Call:
        return lambda net, X, y: net.fit(X, y, epochs=1, batch_size=4, validation_data=val)

    check_rejected(fit_with((X[:, :-1], y)), X, y, argument)  # too few features
    check_rejected(fit_with((X, y[:-1])), X, y, argument)  # length mismatch
    check_rejected(fit_with((X[:, 0], y)), X, y, argument)  # 1-D X
    bad_labels = y.copy()
    bad_labels[0] = N_OUT
    check_rejected(fit_with((X, bad_labels)), X, y, argument)
    check_rejected(fit_with((X,)), X, y, argument, exc=(ValueError, TypeError))


# --- set_parameters -------------------------------------------------------------------------


def test_set_parameters_rejects_bad_shapes_and_counts() -> None:
    net = make_net()
    before = params(net)
    W, b = net.weights, net.biases
    cases = {
        "weights": [
            (W[:1], b),  # too few
            ([*W, W[-1]], b),  # too many
            ([W[0].T, W[1]], b),  # transposed
            ([W[0][:, :-1], W[1]], b),  # fan_out disagrees with the next layer
            ([W[0].ravel(), W[1]], b),  # 1-D
        ],
        "biases": [
            (W, b[:1]),
            (W, [*b, b[-1]]),
            (W, [b[0][:-1], b[1]]),
            (W, [b[0][:, None], b[1]]),  # 2-D
        ],
    }
    for argument, pairs in cases.items():
        for weights, biases in pairs:
            with pytest.raises(ValueError, match=named(argument)):
                net.set_parameters(weights, biases)
    assert_params_equal(before, net)


def test_set_parameters_round_trip_and_copy() -> None:
    net = make_net()
    W = [w * 2 for w in net.weights]
    b = [v + 1 for v in net.biases]
    net.set_parameters(W, b)
    for a, c in zip(net.weights + net.biases, W + b, strict=True):
        np.testing.assert_array_equal(a, c)
    W[0][...] = 0  # the network holds a copy
    assert np.any(net.weights[0] != 0)


# --- nothing ever surfaces as a Rust panic ---------------------------------------------------


def test_no_panic_exceptions() -> None:
    X, y = make_data()
    garbage: list[tuple[object, object]] = [
        (None, y),
        (X, None),
        ("X", y),
        ([[1, 2], [3]], y),  # ragged
        (X[:, :, None], y),
        (np.zeros((N_ROWS, 0), np.float32), y),
        (X, np.zeros((N_ROWS, 0))),
        (np.zeros((1, N_IN), np.complex64), y[:1]),
        (X.astype(np.float16), y),
        (X, y.astype(np.float64) + 0.5),
        (X, np.full(N_ROWS, 2**40)),
        (X, np.full(N_ROWS, -(2**40))),
        (X, np.zeros(N_ROWS, dtype=np.uint64) + np.uint64(2**63)),
    ]
    for loss in ("cross_entropy", "mse", "binary_cross_entropy"):
        for name, call in X_METHODS.items():
            for bad_X, bad_y in garbage:
                net = make_net(loss)
                try:
                    call(net, bad_X, bad_y)
                except BaseException as exc:  # inspect whatever escaped, panics included
                    kind = type(exc).__name__
                    assert kind != "PanicException", f"{name}({loss}) panicked: {exc}"
                    assert isinstance(exc, (ValueError, TypeError)), (
                        f"{name}({loss}) raised {kind}: {exc}"
                    )
    for widths in (None, "abc", [N_IN, "x", N_OUT], [N_IN, 2.5, N_OUT]):
        try:
            fp.Network(widths)
        except BaseException as exc:
            assert type(exc).__name__ != "PanicException", f"Network({widths!r}) panicked: {exc}"
            assert isinstance(exc, (ValueError, TypeError)), (
                f"Network({widths!r}) raised {type(exc).__name__}: {exc}"
            )


def test_huge_widths_fail_cleanly() -> None:
    # In a subprocess: an unguarded allocation failure aborts the whole interpreter.
    script = textwrap.dedent(
        """
        import ferroprop as fp
        for widths in ([4, 2**62, 3], [2**40, 2**40, 3], [4, 2**31, 2**31, 3], [4, 2**70, 3]):
            try:
                fp.Network(widths)
            except (ValueError, MemoryError, OverflowError) as exc:
                print("rejected", widths, type(exc).__name__, exc, flush=True)
            else:
                print("ACCEPTED", widths, flush=True)
        """
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "ACCEPTED" not in proc.stdout, proc.stdout
    assert proc.stdout.count("rejected") == 4, proc.stdout


# --- divergence -----------------------------------------------------------------------------


def assert_divergence_message(exc: fp.DivergenceError) -> None:
    message = str(exc)
    assert isinstance(exc, FloatingPointError)
    assert "epoch" in message.lower() and "batch" in message.lower(), message


def test_divergence_error_is_floating_point_error() -> None:
    assert issubclass(fp.DivergenceError, FloatingPointError)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_absurd_learning_rate_diverges(dtype: str, activation: str) -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((256, N_IN))
    y = rng.standard_normal((256, N_OUT)) * 3
    net = make_net("mse", dtype=dtype, activation=activation)
    with pytest.raises(fp.DivergenceError) as info:
        net.fit(X, y, epochs=200, batch_size=16, optimizer=fp.SGD(lr=1e6))
    assert_divergence_message(info.value)
    assert_params_finite(net)
    # The network is still usable after the error (outputs may overflow: weights are huge).
    with np.errstate(all="ignore"):
        assert net.forward(X[:4]).shape == (4, N_OUT)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_huge_inputs_diverge(loss: str) -> None:
    X, y = make_data(loss)
    X = X * np.float32(1e30)  # finite, but activations overflow float32 within a step or two
    net = make_net(loss, activation="relu")
    before = params(net)
    with pytest.raises(fp.DivergenceError) as info:
        net.fit(X, y, epochs=3, batch_size=4, optimizer=fp.SGD(lr=0.1))
    assert_divergence_message(info.value)
    assert_params_finite(net)
    if loss == "mse":
        # The squared error of the very first batch overflows, so no step was taken.
        assert re.search(r"epoch\D{0,3}1\b", str(info.value)), str(info.value)
        assert_params_equal(before, net)


def test_step_divergence() -> None:
    X, y = make_data("mse")
    net = make_net("mse", activation="relu")
    before = params(net)
    with pytest.raises(FloatingPointError):
        net.step(X * np.float32(1e30), y, fp.SGD(lr=0.1))
    assert_params_equal(before, net)


# --- inputs that must be accepted ------------------------------------------------------------


def test_zero_epochs_is_a_no_op() -> None:
    X, y = make_data()
    net = make_net()
    before = params(net)
    hist = net.fit(X, y, epochs=0, batch_size=4)
    assert list(hist.loss) == []
    assert_params_equal(before, net)


def test_float64_X_into_float32_network() -> None:
    X, y = make_data()
    net = make_net()
    out32 = net.forward(X)
    out64 = net.forward(X.astype(np.float64))
    assert out64.dtype == np.float32
    np.testing.assert_array_equal(out32, out64)
    np.testing.assert_array_equal(net.loss(X.astype(np.float64), y), net.loss(X, y))


@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
def test_integer_X_accepted(int_dtype: type) -> None:
    X = (np.arange(N_ROWS * N_IN) % 7).reshape(N_ROWS, N_IN)
    net = make_net()
    np.testing.assert_array_equal(
        net.forward(X.astype(int_dtype)), net.forward(X.astype(np.float32))
    )


@pytest.mark.parametrize("y_dtype", [np.int32, np.int64, np.uint8])
def test_integer_label_dtypes_accepted(y_dtype: type) -> None:
    X, y = make_data()
    net = make_net()
    assert net.loss(X, y.astype(y_dtype)) == net.loss(X, y)


def test_python_lists_accepted() -> None:
    X, y = make_data()
    net = make_net()
    np.testing.assert_array_equal(net.forward(X.tolist()), net.forward(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fortran_and_strided_X_match_c_order(dtype: str) -> None:
    X, y = make_data("mse", n=24)
    X = X.astype(dtype)
    y = y.astype(dtype)
    layouts = {
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=0)[::2],
        "reversed-columns": np.ascontiguousarray(X[:, ::-1])[:, ::-1],
    }
    ref = make_net("mse", dtype=dtype)
    ref_out = ref.forward(X)
    ref_loss, ref_dW, ref_db = ref.gradients(X, y)
    ref.fit(X, y, epochs=2, batch_size=5, optimizer=fp.Adam(lr=0.01), seed=3)
    for name, Xl in layouts.items():
        assert not Xl.flags.c_contiguous
        np.testing.assert_array_equal(Xl, X)
        net = make_net("mse", dtype=dtype)
        np.testing.assert_array_equal(net.forward(Xl), ref_out, err_msg=name)
        loss, dW, db = net.gradients(Xl, np.asfortranarray(y))
        assert loss == ref_loss, name
        for a, b in zip(dW + db, ref_dW + ref_db, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
        net.fit(Xl, y, epochs=2, batch_size=5, optimizer=fp.Adam(lr=0.01), seed=3)
        for a, b in zip(params(net), params(ref), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
