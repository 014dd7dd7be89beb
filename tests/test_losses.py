"""Every loss (PyTorch's, scikit-learn's, Huber, L1, label smoothing) with and without sample
weights, against the plain-NumPy references in ``reference.py``; finite differences of every
loss; the loss objects of ``ferroprop.losses``; model files keeping a loss's parameters.
"""

from __future__ import annotations

import functools
import json
import math
import pickle
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import ferroprop as fp
import reference
from conftest import relative_error
from ferroprop import _core
from ferroprop.model_files import read_model_file, write_model_file

#: (name, parameters): every loss at its defaults, and the two with parameters off them.
CASES = [(name, {}) for name in fp.losses.NAMES] + [
    ("cross_entropy", {"label_smoothing": 0.15}),
    ("huber", {"delta": 0.3}),
]
CLASS_LOSSES = ("cross_entropy", "log_loss")
TOL = {"float32": 1e-4, "float64": 1e-10}
OUTPUT_LINKS = {
    "cross_entropy": reference.softmax,
    "log_loss": reference.softmax,
    "binary_cross_entropy": reference.sigmoid,
    "binary_log_loss": reference.sigmoid,
    "poisson": np.exp,
}


def _id(case: tuple[str, dict]) -> str:
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


def _targets(name: str, rng: np.random.Generator, n: int, n_out: int) -> NDArray:
    if name in CLASS_LOSSES:
        return rng.integers(0, n_out, n).astype(np.int64)
    if name in ("binary_cross_entropy", "binary_log_loss"):
        return rng.random((n, n_out))  # soft targets in [0, 1]
    if name == "poisson":
        return rng.poisson(1.5, (n, n_out)).astype(np.float64)
    return rng.normal(0.0, 1.0, (n, n_out))


def _problem(
    name: str, seed: int, widths: list[int], n: int
) -> tuple[list[NDArray], list[NDArray], NDArray, NDArray, NDArray]:
    """Parameters, inputs, targets and positive sample weights (not all equal)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.6, (a, b)) for a, b in pairwise(widths)]
    biases = [rng.normal(0, 0.2, b) for b in widths[1:]]
    X = rng.standard_normal((n, widths[0]))
    return weights, biases, X, _targets(name, rng, n, widths[-1]), rng.uniform(0.2, 2.5, n)


def _net(name: str, params: dict, widths: list[int], dtype: str) -> fp.Network:
    loss = _core.make_loss(name, params) if params else name
    return fp.Network(widths, activation="tanh", loss=loss, dtype=dtype, seed=0)


def _reference(net: fp.Network, name: str) -> reference.ReferenceMLP:
    """The float64 reference from the network's own (possibly float32-rounded) parameters."""
    ref_loss = "cross_entropy" if name in CLASS_LOSSES else "mse"
    return reference.ReferenceMLP(net.weights, net.biases, "tanh", ref_loss)


def _loss_fn(name: str, params: dict, w: NDArray | None) -> Any:
    return functools.partial(reference.WEIGHTED_LOSSES[name], w=w, **params)


def _as(dtype: str, a: NDArray) -> NDArray:
    """`a` rounded to `dtype` as the network sees it, back in float64 for the reference."""
    return a if a.dtype.kind == "i" else a.astype(dtype).astype(np.float64)


# -- parity with the references ----------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_loss_and_gradients_match_reference(
    case: tuple[str, dict], dtype: str, weighted: bool
) -> None:
    name, params = case
    widths = [5, 6, 3]
    weights, biases, X, y, w = _problem(name, 11, widths, n=40)
    net = _net(name, params, widths, dtype)
    net.set_parameters(weights, biases)
    sw = w if weighted else None
    ref = _reference(net, name)
    ref_loss, ref_dw, ref_db = ref.gradients(
        _as(dtype, X), _as(dtype, y), _loss_fn(name, params, None if sw is None else _as(dtype, sw))
    )
    loss, dw, db = net.gradients(X, y, sample_weight=sw)
    tol = TOL[dtype]
    assert relative_error(loss, ref_loss) <= tol
    for i, (a, b) in enumerate(zip(dw + db, ref_dw + ref_db, strict=True)):
        assert relative_error(a, b) <= tol, f"gradient {i}"
    if not weighted:
        assert relative_error(net.loss(X, y), ref_loss) <= tol
    link = OUTPUT_LINKS.get(name, lambda z: z)
    assert relative_error(net.forward(X), link(ref.logits(_as(dtype, X)))) <= tol


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_weighted_fit_matches_reference_sgd(case: tuple[str, dict]) -> None:
    """Mini-batches (the last of one row) through the training loop: each batch's weighted
    mean divides by its own weights."""
    name, params = case
    widths = [4, 5, 2]
    weights, biases, X, y, w = _problem(name, 5, widths, n=11)
    net = _net(name, params, widths, "float64")
    net.set_parameters(weights, biases)
    ref = _reference(net, name)
    lr, batch = 0.1, 5
    net.fit(X, y, epochs=2, batch_size=batch, optimizer=fp.SGD(lr=lr), shuffle=False,
            sample_weight=w)  # fmt: skip
    opt = reference.SGD(lr=lr)
    for _ in range(2):
        for start in range(0, len(X), batch):
            rows = slice(start, start + batch)
            _, dw, db = ref.gradients(X[rows], y[rows], _loss_fn(name, params, w[rows]))
            opt.update(ref.weights + ref.biases, dw + db)
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases, strict=True):
        assert relative_error(a, b) <= 1e-10


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_unit_weights_are_the_unweighted_mean_and_a_weight_counts_rows(
    case: tuple[str, dict],
) -> None:
    name, params = case
    widths = [4, 5, 3]
    weights, biases, X, y, _ = _problem(name, 3, widths, n=9)
    net = _net(name, params, widths, "float64")
    net.set_parameters(weights, biases)
    plain = net.gradients(X, y)
    ones = net.gradients(X, y, sample_weight=np.ones(len(X)))
    assert ones[0] == pytest.approx(plain[0], rel=1e-14)
    for a, b in zip(ones[1] + ones[2], plain[1] + plain[2], strict=True):
        assert relative_error(a, b) <= 1e-14
    # A weight of 3 on row 0 is row 0 three times.
    w = np.ones(len(X))
    w[0] = 3.0
    weighted = net.gradients(X, y, sample_weight=w)
    repeated = net.gradients(np.vstack([X, X[:1], X[:1]]), np.concatenate([y, y[:1], y[:1]]))
    assert weighted[0] == pytest.approx(repeated[0], rel=1e-13)
    for a, b in zip(weighted[1] + weighted[2], repeated[1] + repeated[2], strict=True):
        assert relative_error(a, b) <= 1e-13


def test_label_smoothing_zero_is_plain_cross_entropy_bitwise() -> None:
    widths = [6, 7, 4]
    weights, biases, X, y, w = _problem("cross_entropy", 8, widths, n=50)
    for dtype in ("float32", "float64"):
        runs = []
        for loss in ("cross_entropy", fp.losses.CrossEntropy(label_smoothing=0.0)):
            net = fp.Network(widths, activation="relu", loss=loss, dtype=dtype, seed=0)
            net.set_parameters(weights, biases)
            grads = [net.gradients(X, y), net.gradients(X, y, sample_weight=w)]
            net.fit(X, y, epochs=2, batch_size=8, optimizer=fp.Adam(lr=0.01), seed=1)
            runs.append((grads, net.weights + net.biases))
        (g1, p1), (g2, p2) = runs
        for (l1, dw1, db1), (l2, dw2, db2) in zip(g1, g2, strict=True):
            assert l1 == l2
            assert all(np.array_equal(a, b) for a, b in zip(dw1 + db1, dw2 + db2, strict=True))
        assert all(np.array_equal(a, b) for a, b in zip(p1, p2, strict=True))


# -- finite differences ------------------------------------------------------------------------

EPS = 1e-6
RTOL = 1e-6
#: Huber's and L1's kinks: every residual stays this far from them.
KINK_MARGIN = 1e-3


def _kink_free(name: str, params: dict, widths: list[int]) -> tuple:
    for seed in range(100):
        problem = _problem(name, seed, widths, n=6)
        weights, biases, X, y, _ = problem
        z = reference.ReferenceMLP(weights, biases, "tanh", "mse").logits(X)
        if name in ("huber", "l1") and y.dtype.kind == "f":
            kink = params.get("delta", 1.0) if name == "huber" else 0.0
            if np.min(np.abs(np.abs(z - y) - kink)) < KINK_MARGIN:
                continue
        return problem
    raise AssertionError("no kink-free seed found")  # pragma: no cover


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_gradients_match_finite_differences(case: tuple[str, dict], weighted: bool) -> None:
    name, params = case
    # scikit-learn's squared error averages its value over outputs but not its gradient: the
    # two agree for one output.
    widths = [3, 4, 1 if name == "squared_error" else 3]
    weights, biases, X, y, w = _kink_free(name, params, widths)
    sw = w if weighted else None
    net = _net(name, params, widths, "float64")
    net.set_parameters(weights, biases)
    _, dw, db = net.gradients(X, y, sample_weight=sw)
    for params_list, grads in ((weights, dw), (biases, db)):
        for p, g in zip(params_list, grads, strict=True):
            numeric = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                original = p[idx]
                values = []
                for step in (EPS, -EPS):
                    p[idx] = original + step
                    net.set_parameters(weights, biases)
                    values.append(net.gradients(X, y, sample_weight=sw)[0])
                p[idx] = original
                numeric[idx] = (values[0] - values[1]) / (2 * EPS)
            assert relative_error(g, numeric) < RTOL
    net.set_parameters(weights, biases)


# -- loss objects ------------------------------------------------------------------------------

CLASSES = [
    fp.losses.CrossEntropy,
    fp.losses.BinaryCrossEntropy,
    fp.losses.MSE,
    fp.losses.LogLoss,
    fp.losses.BinaryLogLoss,
    fp.losses.SquaredError,
    fp.losses.Poisson,
    fp.losses.Huber,
    fp.losses.L1,
]


def test_one_class_per_name_from_core() -> None:
    assert fp.losses.NAMES == _core.LOSSES
    assert isinstance(fp.losses.NAMES, tuple)
    assert [cls().name for cls in CLASSES] == list(fp.losses.NAMES)
    for cls in CLASSES:
        assert isinstance(cls(), fp.losses.Loss)
        assert _core.make_loss(cls().name) == cls()
    with pytest.raises(TypeError):
        fp.losses.Loss()


def test_repr_params_and_equality() -> None:
    h = fp.losses.Huber(delta=0.5)
    assert repr(h) == "Huber(delta=0.5)"
    assert repr(fp.losses.Huber()) == "Huber(delta=1.0)"
    assert repr(fp.losses.CrossEntropy(0.1)) == "CrossEntropy(label_smoothing=0.1)"
    assert repr(fp.losses.L1()) == "L1()"
    assert repr(fp.losses.MSE()) == "MSE()"
    assert h.params == {"delta": 0.5} and h.name == "huber"
    assert fp.losses.L1().params == {}
    assert h == fp.losses.Huber(0.5) and hash(h) == hash(fp.losses.Huber(0.5))
    assert h != fp.losses.Huber(1.0)
    assert fp.losses.MSE() != fp.losses.L1()
    assert fp.losses.MSE() != "mse"
    assert fp.losses.CrossEntropy() == fp.losses.CrossEntropy(label_smoothing=0)
    assert len({fp.losses.Huber(2), fp.losses.Huber(2.0), fp.losses.L1()}) == 2
    with pytest.raises(AttributeError):
        h.delta = 3.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "loss",
    [cls() for cls in CLASSES]
    + [fp.losses.Huber(0.25), fp.losses.CrossEntropy(label_smoothing=0.3)],
    ids=repr,
)
def test_pickle_round_trip(loss: fp.losses.Loss) -> None:
    copy = pickle.loads(pickle.dumps(loss))
    assert copy == loss and type(copy) is type(loss) and repr(copy) == repr(loss)


@pytest.mark.parametrize(
    "make, error, argument",
    [
        (lambda: fp.losses.Huber(0.0), ValueError, "delta"),
        (lambda: fp.losses.Huber(-1.0), ValueError, "delta"),
        (lambda: fp.losses.Huber(math.inf), ValueError, "delta"),
        (lambda: fp.losses.Huber(math.nan), ValueError, "delta"),
        (lambda: fp.losses.Huber("1"), TypeError, "delta"),
        (lambda: fp.losses.CrossEntropy(-0.1), ValueError, "label_smoothing"),
        (lambda: fp.losses.CrossEntropy(1.5), ValueError, "label_smoothing"),
        (lambda: fp.losses.CrossEntropy(math.nan), ValueError, "label_smoothing"),
        (lambda: fp.losses.CrossEntropy([0.1]), TypeError, "label_smoothing"),
        (lambda: _core.make_loss("hinge"), ValueError, "loss"),
        (lambda: _core.make_loss("mse", {"delta": 1.0}), ValueError, "delta"),
        (lambda: _core.make_loss("huber", {"delta": "x"}), TypeError, "delta"),
        (lambda: fp.Network([3, 2], loss=3), TypeError, "loss"),
        (lambda: fp.Network([3, 2], loss="hinge"), ValueError, "loss"),
        (lambda: fp.Network([3, 2], loss=fp.losses.Huber), TypeError, "loss"),
    ],
)
def test_bad_parameters_name_the_argument(make: Any, error: type, argument: str) -> None:
    with pytest.raises(error, match=rf"^{argument}:"):
        make()


def test_network_takes_objects_and_reports_its_loss() -> None:
    net = fp.Network([3, 4, 2], loss=fp.losses.Huber(0.5))
    assert net.loss_name == "huber" and net._core.loss_spec == fp.losses.Huber(0.5)
    assert fp.Network([3, 2], loss="l1")._core.loss_spec == fp.losses.L1()
    bad = np.ones(4)
    with pytest.raises(ValueError, match="sample_weight"):
        net.gradients(np.zeros((3, 3)), np.zeros((3, 2)), sample_weight=bad)
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit(np.zeros((3, 3)), np.zeros((3, 2)), epochs=1, sample_weight=[1.0, np.nan, 1.0])


# -- model files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss, stored",
    [
        (fp.losses.Huber(0.5), {"delta": 0.5}),
        (fp.losses.CrossEntropy(label_smoothing=0.2), {"label_smoothing": 0.2}),
        (fp.losses.Huber(), None),
        (fp.losses.CrossEntropy(), None),
        (fp.losses.L1(), None),
        ("poisson", None),
    ],
    ids=repr,
)
def test_save_load_keeps_loss_parameters(tmp_path: Path, loss: Any, stored: dict | None) -> None:
    net = fp.Network([3, 5, 2], loss=loss, dtype="float64", seed=4)
    path = tmp_path / "net.safetensors"
    net.save(path)
    config = read_model_file(path)[2]
    assert config.get("loss_params") == stored
    loaded = fp.load(path)
    assert loaded._core.loss_spec == net._core.loss_spec
    name = net.loss_name
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((7, 3)), _targets(name, rng, 7, 2)
    a, b = net.gradients(X, y), loaded.gradients(X, y)
    assert a[0] == b[0]
    assert all(np.array_equal(u, v) for u, v in zip(a[1] + a[2], b[1] + b[2], strict=True))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"delta": -1.0}, r"config\['loss_params'\]: delta"),
        ({"delta": "big"}, r"config\['loss_params'\]: delta"),
        ({"beta": 1.0}, r"config\['loss_params'\]: beta"),
        ([1.0], r"config\['loss_params'\]"),
    ],
)
def test_bad_loss_params_in_a_file(tmp_path: Path, params: Any, match: str) -> None:
    net = fp.Network([3, 2], loss="huber", dtype="float64")
    path = tmp_path / "net.safetensors"
    net.save(path)
    _, tensors, config = read_model_file(path)
    config["loss_params"] = params
    json.dumps(config)  # still a well-formed config
    write_model_file(path, "Network", tensors, config)
    with pytest.raises(ValueError, match=match):
        fp.load(path)
