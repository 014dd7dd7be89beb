"""The layer-stack API: layer specs, state_dict layouts, load_state_dict and its errors, bad
arguments, BatchNorm on one row, save/load, training-step bookkeeping, finite differences of
every layer kind, and `fp.Network(dropout=, normalization=)`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _layer_stacks import to_fp_layers
from numpy.typing import NDArray

import ferroprop as fp
import reference
from ferroprop import layers as L

ISSUE_STACK = (
    ("dense", 256),
    ("batchnorm",),
    ("activation", "relu"),
    ("dropout", 0.2),
    ("dense", 128),
    ("layernorm",),
    ("activation", "gelu"),
    ("dense", 10),
)
SMALL_STACK = (
    ("dense", 6),
    ("batchnorm",),
    ("activation", "tanh"),
    ("dropout", 0.3),
    ("dense", 5),
    ("layernorm",),
    ("activation", "gelu"),
    ("dense", 3),
)


def small_net(dtype: str = "float64", seed: int = 0, loss: str = "cross_entropy") -> fp.Sequential:
    return fp.Sequential(to_fp_layers(SMALL_STACK), input_dim=4, loss=loss, dtype=dtype, seed=seed)


def small_data(n: int = 10, dtype: str = "float64", seed: int = 0) -> tuple[NDArray, NDArray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(dtype), rng.integers(0, 3, n)


def same_state(a: dict[str, NDArray], b: dict[str, NDArray]) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes()
        for k in a
    )


# --------------------------------------------------------------------------------------------
# Layer specs.
# --------------------------------------------------------------------------------------------


def test_layer_attributes_and_defaults() -> None:
    d = L.Dense(7)
    assert d.units == 7 and d.init == "glorot"
    assert L.Dense(3, init="he").init == "he"
    assert L.Activation("gelu").name == "gelu"
    assert L.Dropout().p == 0.5 and L.Dropout(0.2).p == 0.2
    assert L.LayerNorm().eps == 1e-5 and L.LayerNorm(eps=1e-3).eps == 1e-3
    bn = L.BatchNorm()
    assert bn.momentum == 0.1 and bn.eps == 1e-5
    bn = L.BatchNorm(momentum=0.3, eps=1e-4)
    assert bn.momentum == 0.3 and bn.eps == 1e-4


BAD_LAYERS = [
    pytest.param(lambda: [], "layers", id="empty"),
    pytest.param(lambda: [L.Dense(3), L.Activation("relu")], "Dense", id="not-ending-in-dense"),
    pytest.param(lambda: [L.LayerNorm()], "Dense", id="only-a-norm"),
    pytest.param(lambda: [L.Dropout(1.0), L.Dense(2)], "p", id="dropout-1"),
    pytest.param(lambda: [L.Dropout(-0.1), L.Dense(2)], "p", id="dropout-negative"),
    pytest.param(lambda: [L.Dropout(float("nan")), L.Dense(2)], "p", id="dropout-nan"),
    pytest.param(lambda: [L.Dense(0)], "units", id="units-0"),
    pytest.param(lambda: [L.Dense(-3)], "units", id="units-negative"),
    pytest.param(lambda: [L.LayerNorm(eps=0.0), L.Dense(2)], "eps", id="ln-eps-0"),
    pytest.param(lambda: [L.BatchNorm(eps=-1e-5), L.Dense(2)], "eps", id="bn-eps-negative"),
    pytest.param(lambda: [L.BatchNorm(momentum=1.5), L.Dense(2)], "momentum", id="momentum-big"),
    pytest.param(lambda: [L.BatchNorm(momentum=-0.1), L.Dense(2)], "momentum", id="momentum-neg"),
    pytest.param(lambda: [L.Activation("swish"), L.Dense(2)], "swish", id="unknown-activation"),
]


@pytest.mark.parametrize("make, word", BAD_LAYERS)
def test_bad_layer_arguments(make, word: str) -> None:
    # The error may come from the layer or from Sequential; either way it names the argument.
    with pytest.raises((ValueError, TypeError), match=word):
        fp.Sequential(make(), input_dim=3, loss="mse")


@pytest.mark.parametrize(
    "make, word",
    [
        pytest.param(lambda: L.Dense("3"), "units", id="units-str"),
        pytest.param(lambda: L.Dense(2.5), "units", id="units-float"),
        pytest.param(lambda: L.Activation(3), "name", id="activation-int"),
        pytest.param(lambda: [L.Dense(3), "relu"], "layer", id="not-a-layer"),
    ],
)
def test_bad_layer_types(make, word: str) -> None:
    with pytest.raises((ValueError, TypeError), match=word):
        layers = make()
        fp.Sequential(layers if isinstance(layers, list) else [layers, L.Dense(1)], input_dim=3)


def test_edge_arguments_are_accepted() -> None:
    # p = 0, momentum 0 and 1 are inside the documented ranges.
    layers = [L.Dense(4), L.BatchNorm(momentum=0.0), L.BatchNorm(momentum=1.0)]
    net = fp.Sequential([*layers, L.Dropout(0.0), L.Dense(2)], input_dim=3, loss="mse")
    X = np.random.default_rng(0).standard_normal((5, 3))
    net.step(X, np.zeros((5, 2)), fp.SGD(lr=0.1))
    assert net.training_steps == 1


# --------------------------------------------------------------------------------------------
# state_dict and load_state_dict.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_dict_torch_layout(dtype: str) -> None:
    net = fp.Sequential(to_fp_layers(ISSUE_STACK), input_dim=784, dtype=dtype, seed=0)
    sd = net.state_dict()
    layout = reference.stack_layout(ISSUE_STACK, 784)
    assert list(sd) == list(layout), f"names/order {list(sd)} != torch's {list(layout)}"
    for name, (shape, kind) in layout.items():
        value = sd[name]
        assert isinstance(value, np.ndarray), name
        assert value.shape == shape, f"{name}: {value.shape} != {shape}"
        assert value.dtype == (np.int64 if kind == "int64" else np.dtype(dtype)), name
    # Initial values as torch's modules and the documented init: Dense biases 0 and weights
    # within the glorot bound; norm γ = 1, β = 0; running_mean 0, running_var 1, counter 0.
    for i, (out_dim, in_dim) in ((0, (256, 784)), (4, (128, 256)), (7, (10, 128))):
        w = sd[f"{i}.weight"]
        assert w.shape == (out_dim, in_dim)
        assert np.abs(w).max() <= np.sqrt(6 / (in_dim + out_dim)) * (1 + 1e-6)
        assert np.abs(w).max() > 0 and not np.any(sd[f"{i}.bias"])
    for i in (1, 5):
        assert np.all(sd[f"{i}.weight"] == 1) and not np.any(sd[f"{i}.bias"])
    assert not np.any(sd["1.running_mean"]) and np.all(sd["1.running_var"] == 1)
    assert int(sd["1.num_batches_tracked"]) == 0


def test_state_dict_is_a_copy() -> None:
    net = small_net()
    sd = net.state_dict()
    original = {k: v.copy() for k, v in sd.items()}
    for v in sd.values():
        v[...] = 7
    assert same_state(net.state_dict(), original)
    new = reference.random_state_dict(SMALL_STACK, 4, seed=1)
    net.load_state_dict(new)
    loaded = {k: v.copy() for k, v in new.items()}
    for v in new.values():
        v[...] = 3
    assert same_state(net.state_dict(), loaded), "load_state_dict must copy its inputs"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_state_dict_round_trip(dtype: str) -> None:
    net = small_net(dtype)
    new = reference.random_state_dict(SMALL_STACK, 4, seed=5, dtype=dtype)
    new["1.num_batches_tracked"] = np.array(12, dtype=np.int64)
    net.load_state_dict(new)
    assert same_state(net.state_dict(), new)
    other = small_net(dtype, seed=9)
    other.load_state_dict(net.state_dict())
    X, _ = small_data(dtype=dtype)
    assert np.asarray(other.forward(X)).tobytes() == np.asarray(net.forward(X)).tobytes()


def _bad_state_dicts() -> list:
    def drop(sd: dict, key: str) -> dict:
        return {k: v for k, v in sd.items() if k != key}

    return [
        pytest.param(lambda sd: drop(sd, "4.weight"), "4.weight", id="missing-weight"),
        pytest.param(lambda sd: drop(sd, "1.running_var"), "1.running_var", id="missing-buffer"),
        pytest.param(
            lambda sd: drop(sd, "1.num_batches_tracked"), "1.num_batches_tracked", id="missing-nbt"
        ),
        pytest.param(lambda sd: {**sd, "2.weight": np.ones(6)}, "2.weight", id="extra-entry"),
        pytest.param(lambda sd: {**sd, "0.weight": sd["0.weight"].T}, "0.weight", id="transposed"),
        pytest.param(lambda sd: {**sd, "5.bias": np.zeros(4)}, "5.bias", id="short-bias"),
        pytest.param(
            lambda sd: {**sd, "1.running_mean": np.zeros((1, 6))}, "1.running_mean", id="2d-buffer"
        ),
        pytest.param(
            lambda sd: {**sd, "7.weight": sd["7.weight"].astype(np.int64)}, "7.weight", id="dtype"
        ),
        pytest.param(
            lambda sd: {**sd, "1.num_batches_tracked": np.array(1.5)},
            "1.num_batches_tracked",
            id="nbt-float",
        ),
    ]


@pytest.mark.parametrize("corrupt, name", _bad_state_dicts())
def test_load_state_dict_errors_name_the_entry(corrupt, name: str) -> None:
    net = small_net("float64")
    before = net.state_dict()
    with pytest.raises((ValueError, TypeError), match=name.replace(".", r"\.")):
        net.load_state_dict(corrupt(reference.random_state_dict(SMALL_STACK, 4, seed=2)))
    assert same_state(net.state_dict(), before), "a rejected load_state_dict must change nothing"


# --------------------------------------------------------------------------------------------
# BatchNorm on one row; training-step bookkeeping.
# --------------------------------------------------------------------------------------------

ONE_ROW = "more than 1 value per channel"


def test_batchnorm_training_on_one_row_raises() -> None:
    net = small_net()
    X, y = small_data(1)
    before = net.state_dict()
    with pytest.raises(ValueError, match=ONE_ROW):
        net.gradients(X, y)
    with pytest.raises(ValueError, match=ONE_ROW):
        net.forward(X, training=True)
    with pytest.raises(ValueError, match=ONE_ROW):
        net.step(X, y, fp.SGD(lr=0.1))
    with pytest.raises(ValueError, match=ONE_ROW):
        net.fit(X, y, epochs=1, batch_size=4, optimizer=fp.SGD(lr=0.1))
    X, y = small_data(6)
    with pytest.raises(ValueError, match=ONE_ROW):
        net.fit(X, y, epochs=1, batch_size=1, optimizer=fp.SGD(lr=0.1))
    assert same_state(net.state_dict(), before) and net.training_steps == 0
    # Evaluation on one row uses the running statistics and works.
    assert np.asarray(net.forward(X[:1])).shape == (1, 3)
    assert np.isfinite(net.loss(X[:1], y[:1]))


def test_batchnorm_partial_last_batch_of_one_row_raises() -> None:
    # 9 rows in batches of 4: the last batch has one row, as in torch this cannot train.
    X, y = small_data(9)
    with pytest.raises(ValueError, match=ONE_ROW):
        small_net().fit(X, y, epochs=1, batch_size=4, optimizer=fp.SGD(lr=0.1), shuffle=False)


def test_training_steps_and_running_stats_bookkeeping() -> None:
    net = small_net()
    X, y = small_data(10)
    assert net.training_steps == 0
    before = net.state_dict()
    net.gradients(X, y)
    net.forward(X, training=True)
    net.predict(X)
    net.loss(X, y)
    assert net.training_steps == 0 and same_state(net.state_dict(), before)
    net.step(X, y, fp.SGD(lr=0.1))
    sd = net.state_dict()
    assert net.training_steps == 1 and int(sd["1.num_batches_tracked"]) == 1
    assert not np.array_equal(sd["1.running_mean"], before["1.running_mean"])
    X, y = small_data(22, seed=1)
    hist = net.fit(X, y, epochs=2, batch_size=8, optimizer=fp.Adam(lr=0.01), shuffle=True, seed=3)
    assert len(hist.loss) == 2
    assert net.training_steps == 1 + 2 * 3
    assert int(net.state_dict()["1.num_batches_tracked"]) == 7


def test_validation_loss_is_the_evaluation_mode_loss() -> None:
    net = small_net()
    X, y = small_data(16)
    Xv, yv = small_data(12, seed=4)
    hist = net.fit(X, y, epochs=1, batch_size=8, optimizer=fp.SGD(lr=0.1), validation_data=(Xv, yv))
    # Measured after the epoch, without dropout and on the running statistics.
    assert hist.val_loss[0] == pytest.approx(net.loss(Xv, yv), rel=1e-12)


# --------------------------------------------------------------------------------------------
# save / load.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(dtype: str, tmp_path: Path) -> None:
    net = small_net(dtype, seed=11)
    X, y = small_data(20, dtype)
    net.fit(X, y, epochs=2, batch_size=8, optimizer=fp.SGD(lr=0.05, momentum=0.9), seed=1)
    path = tmp_path / "stack.safetensors"
    net.save(path)
    loaded = fp.load(path)
    assert type(loaded) is type(net)
    assert loaded.training_steps == net.training_steps == 6
    assert same_state(loaded.state_dict(), net.state_dict())
    assert loaded.dtype == net.dtype and loaded.loss_name == net.loss_name
    assert np.asarray(loaded.forward(X)).tobytes() == np.asarray(net.forward(X)).tobytes()
    np.testing.assert_array_equal(loaded._dropout_keep(3, 8), net._dropout_keep(3, 8))
    # The same next step: same masks, same update.
    a, b = net.step(X[:8], y[:8], fp.SGD(lr=0.1)), loaded.step(X[:8], y[:8], fp.SGD(lr=0.1))
    assert a == b and same_state(loaded.state_dict(), net.state_dict())


# --------------------------------------------------------------------------------------------
# Finite differences (float64) of every layer kind and of whole stacks.
# --------------------------------------------------------------------------------------------

EPS = 1e-6
RTOL = 1e-6
KINK_MARGIN = 1e-3
ACTIVATION_LOSSES = [
    ("identity", "mse"),
    ("relu", "cross_entropy"),
    ("leaky_relu", "binary_cross_entropy"),
    ("sigmoid", "mse"),
    ("logistic", "cross_entropy"),
    ("tanh", "binary_cross_entropy"),
    ("gelu", "cross_entropy"),
]
DEEP_STACK = (
    ("layernorm",),
    ("dropout", 0.5),
    ("dense", 6),
    ("batchnorm",),
    ("activation", "sigmoid"),
    ("dense", 5),
    ("dropout", 0.2),
    ("layernorm",),
    ("activation", "leaky_relu"),
    ("dense", 2),
)
FD_STACKS = [
    *[((("dense", 5), ("activation", a), ("dense", 3)), loss) for a, loss in ACTIVATION_LOSSES],
    ((("dense", 5), ("dropout", 0.4), ("dense", 3)), "mse"),
    ((("dense", 5), ("layernorm",), ("dense", 3)), "cross_entropy"),
    ((("layernorm", 1e-3), ("dense", 3)), "binary_cross_entropy"),
    ((("dense", 5), ("batchnorm",), ("dense", 3)), "mse"),
    ((("batchnorm", 0.2, 1e-3), ("dense", 3)), "cross_entropy"),
    ((("dense", 3),), "binary_cross_entropy"),
    (SMALL_STACK, "cross_entropy"),
    (DEEP_STACK, "mse"),
]


def stack_id(layers: tuple, loss: str) -> str:
    short = {"dense": "D", "dropout": "Drop", "layernorm": "LN", "batchnorm": "BN"}
    parts = [str(s[1]) if s[0] == "activation" else short[s[0]] for s in layers]
    return "-".join([*parts, loss])


def _kinks(layers: tuple, ref: reference.ReferenceSequential, X: NDArray, masks: dict) -> float:
    """Smallest |input| of a relu/leaky_relu in training mode (inf without one)."""
    acts, _ = ref.forward_pass(X, True, masks)
    kinks = (("activation", "relu"), ("activation", "leaky_relu"))
    kinked = [acts[i] for i, s in enumerate(layers) if s[:2] in kinks]
    return min((float(np.abs(a).min()) for a in kinked), default=np.inf)


@pytest.mark.parametrize(
    "layers, loss", [pytest.param(s, loss, id=stack_id(s, loss)) for s, loss in FD_STACKS]
)
def test_gradients_match_finite_differences(layers: tuple, loss: str) -> None:
    net = fp.Sequential(to_fp_layers(layers), input_dim=4, loss=loss, dtype="float64", seed=1)
    n_out = reference.stack_widths(layers, 4)[-1]
    for seed in range(100):  # the first data whose relu inputs avoid the kink
        rng = np.random.default_rng(seed)
        state = reference.random_state_dict(layers, 4, seed=seed)
        X = rng.standard_normal((6, 4))
        if loss == "cross_entropy":
            y = rng.integers(0, n_out, 6)
        elif loss == "binary_cross_entropy":
            y = (rng.random((6, n_out)) < 0.5).astype(np.float64)
        else:
            y = rng.standard_normal((6, n_out))
        net.load_state_dict(state)
        ref = reference.ReferenceSequential(layers, 4, loss, state)
        masks = {i: np.asarray(net._dropout_keep(i, 6)) for i in ref.dropout_indices()}
        if _kinks(layers, ref, X, masks) > KINK_MARGIN:
            break
    value, grads = net.gradients(X, y)
    zero = reference.zero_gradient_entries(layers)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    for name in [k for k in state if reference.is_trainable(k)]:
        p = state[name]
        numerical = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            original = p[idx]
            losses = []
            for delta in (EPS, -EPS):
                p[idx] = original + delta
                net.load_state_dict(state)
                losses.append(net.gradients(X, y)[0])
            p[idx] = original
            numerical[idx] = (losses[0] - losses[1]) / (2 * EPS)
        # Relative to the array's own scale, or for entries zero by construction (and arrays
        # of tiny gradients) to that of the whole gradient.
        floor = scale if name in zero else 1e-3 * scale
        denom = max(float(np.max(np.abs(numerical))), floor)
        err = float(np.max(np.abs(np.asarray(grads[name]) - numerical))) / denom
        assert err < RTOL, f"{name}: error {err:.2e}\n{grads[name]}\nvs numerical\n{numerical}"
    net.load_state_dict(state)
    assert net.gradients(X, y)[0] == value


# --------------------------------------------------------------------------------------------
# fp.Network(dropout=, normalization=).
# --------------------------------------------------------------------------------------------


def network_layers(widths: list[int], activation: str, dropout: float, norm: str | None) -> list:
    """The documented stack: Dense -> [norm] -> Activation -> [Dropout] per hidden layer."""
    layers: list[tuple] = []
    for width in widths[1:-1]:
        layers.append(("dense", width))
        if norm is not None:
            layers.append(("layernorm",) if norm == "layer" else ("batchnorm",))
        layers.append(("activation", activation))
        if dropout > 0:
            layers.append(("dropout", dropout))
    return [*layers, ("dense", widths[-1])]


@pytest.mark.parametrize("dropout", [0.0, 0.25])
@pytest.mark.parametrize("norm", [None, "layer", "batch"])
def test_network_builds_the_documented_stack(norm: str | None, dropout: float) -> None:
    widths = [4, 8, 6, 3]
    net = fp.Network(
        widths, activation="tanh", dropout=dropout, normalization=norm, dtype="float64", seed=2
    )
    layers = network_layers(widths, "tanh", dropout, norm)
    layout = reference.stack_layout(layers, 4)
    sd = net.state_dict()
    assert list(sd) == list(layout)
    assert all(sd[k].shape == s for k, (s, _) in layout.items())
    # The Dense weights are net.weights transposed (torch's (out, in) layout).
    dense = [i for i, s in enumerate(layers) if s[0] == "dense"]
    for i, w in zip(dense, net.weights, strict=True):
        np.testing.assert_array_equal(sd[f"{i}.weight"], np.asarray(w).T)
    # Its evaluation forward is the reference stack's from the same state.
    state = reference.random_state_dict(layers, 4, seed=3)
    net.load_state_dict(state)
    X = np.random.default_rng(0).standard_normal((7, 4))
    ref = reference.ReferenceSequential(layers, 4, "cross_entropy", state)
    np.testing.assert_allclose(net.forward(X), ref.forward(X), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_network_with_dropout_and_norm_trains(norm: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    net = fp.Network([6, 32, 2], activation="relu", dropout=0.1, normalization=norm, seed=0)
    before = net.loss(X, y)
    hist = net.fit(X, y, epochs=30, batch_size=20, optimizer=fp.Adam(lr=0.01), seed=0)
    assert hist.loss[-1] < hist.loss[0] and net.loss(X, y) < 0.7 * before
    assert (np.asarray(net.predict(X)) == y).mean() > 0.85
    assert net.training_steps == 30 * 10


def test_network_bad_dropout_and_normalization() -> None:
    with pytest.raises(ValueError, match="dropout"):
        fp.Network([4, 5, 2], dropout=1.0)
    with pytest.raises(ValueError, match="normalization"):
        fp.Network([4, 5, 2], normalization="group")


def test_load_state_dict_converts_float_arrays_like_torch() -> None:
    """Float arrays of the other precision are converted (torch's `copy_` casts too), so a
    float32 torch model's weights load into a float64 network."""
    net = small_net("float64")
    sd = {
        k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in net.state_dict().items()
    }
    net.load_state_dict(sd)
    for k, v in net.state_dict().items():
        assert v.dtype == (np.int64 if k.endswith("num_batches_tracked") else np.float64)
        np.testing.assert_array_equal(v, sd[k])
