"""RMSprop and Adagrad: parity with the plain-NumPy references in ``reference.py`` for every
combination of their options, argument validation, and bitwise determinism across thread counts
and SIMD paths.

Parity follows tests/test_parity.py: the reference starts from the network's own initial
parameters, float32 networks are compared against the float64 reference run from the same
float32-rounded parameters and data.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import ferroprop as fp
import reference
from conftest import ParityChecker

# (widths, activation, loss): no hidden layer, one, two.
ARCHITECTURES = [
    ((3, 2), "relu", "binary_cross_entropy"),
    ((5, 7, 4), "tanh", "cross_entropy"),
    ((6, 8, 5, 3), "gelu", "mse"),
]
DTYPES = ["float32", "float64"]
N_STEPS = 6


def _options(names: tuple[str, ...], values: tuple[tuple, ...]) -> list[dict]:
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


# name -> every combination of the options that change what the rule does.
OPTIMIZERS: dict[str, list[dict]] = {
    "RMSprop": _options(
        ("centered", "momentum", "weight_decay"), ((False, True), (0.0, 0.9), (0.0, 0.01))
    ),
    "Adagrad": _options(
        ("lr_decay", "weight_decay", "initial_accumulator_value"),
        ((0.0, 0.1), (0.0, 0.01), (0.0, 0.1)),
    ),
}
# Modest rates keep float32 runs near the float64 reference (RMSprop's first step is about
# 10·lr per element).
LR = {"RMSprop": 3e-3, "Adagrad": 0.05}

OPTIMIZER_PARAMS = [
    pytest.param(name, kwargs, id=f"{name}-" + "-".join(f"{k}={v}" for k, v in kwargs.items()))
    for name, combos in OPTIMIZERS.items()
    for kwargs in combos
]


def make_optimizers(name: str, kwargs: dict, dtype: str) -> tuple[object, object]:
    kwargs = {"lr": LR[name], **kwargs}
    if dtype == "float32":
        # As in test_parity: the first step divides g by about |g|, so a gradient entry at
        # float32 noise level would move by an arbitrary fraction of lr; a larger eps keeps
        # the comparison meaningful. float64 keeps the default eps.
        kwargs["eps"] = 1e-4
    return getattr(fp, name)(**kwargs), getattr(reference, name)(**kwargs)


def make_case(
    arch: tuple, dtype: str, salt: str
) -> tuple[fp.Network, reference.ReferenceMLP, Callable[[int, int], tuple[NDArray, NDArray]]]:
    widths, activation, loss = arch
    seed = zlib.crc32(f"{widths}-{activation}-{loss}-{dtype}-{salt}".encode())
    net = fp.Network(list(widths), activation=activation, loss=loss, dtype=dtype, seed=seed % 2**31)
    ref = reference.ReferenceMLP(net.weights, net.biases, activation, loss)

    def data(n: int, step: int) -> tuple[NDArray, NDArray]:
        rng = np.random.default_rng([seed, n, step])
        n_in, n_out = widths[0], widths[-1]
        X = rng.standard_normal((n, n_in)).astype(dtype)
        if loss == "cross_entropy":
            y = rng.integers(0, n_out, size=n).astype(np.int64)
        elif loss == "binary_cross_entropy":
            y = (rng.random((n, n_out)) < 0.5).astype(dtype)
        else:
            y = rng.standard_normal((n, n_out)).astype(dtype)
        return X, y

    return net, ref, data


@pytest.mark.parametrize("n", [1, 12])  # a batch of one row takes the outer-product update
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(map(str, a[0])))
@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZER_PARAMS)
def test_steps_match_reference(
    name: str,
    kwargs: dict,
    arch: tuple,
    dtype: str,
    n: int,
    parity: Callable[[str], ParityChecker],
) -> None:
    check = parity(dtype)
    net, ref, data = make_case(arch, dtype, name)
    opt, ref_opt = make_optimizers(name, kwargs, dtype)
    for step in range(N_STEPS):
        X, y = data(n, step)
        loss = net.step(X, y, opt)
        check.close(loss, ref.step(X, y, ref_opt), "step loss", f"{name} step {step} loss")
    assert opt.steps == N_STEPS
    check.close_all(net.weights, ref.weights, "optimizer", f"{name} W")
    check.close_all(net.biases, ref.biases, "optimizer", f"{name} b")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("RMSprop", {"centered": True, "momentum": 0.9, "weight_decay": 0.01}),
        ("Adagrad", {"lr_decay": 0.1, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
    ],
)
def test_fit_keeps_state_across_epochs_and_calls(
    name: str, kwargs: dict, dtype: str, parity: Callable[[str], ParityChecker]
) -> None:
    # 38 rows in batches of 8 (a partial last batch), 3 epochs, twice: 30 steps on one state.
    check = parity(dtype)
    net, ref, data = make_case(ARCHITECTURES[2], dtype, f"fit-{name}")
    X, y = data(38, 0)
    opt, ref_opt = make_optimizers(name, kwargs, dtype)
    for _ in range(2):
        hist = net.fit(X, y, epochs=3, batch_size=8, optimizer=opt, shuffle=False, verbose=False)
        ref_hist = ref.fit(X, y, epochs=3, batch_size=8, optimizer=ref_opt)
        check.close(hist.loss, ref_hist, "fit", f"{name} fit history")
    assert opt.steps == 30
    check.close_all(net.weights + net.biases, ref.weights + ref.biases, "fit", f"{name} fit")


def test_lr_may_change_between_steps(parity: Callable[[str], ParityChecker]) -> None:
    check = parity("float64")
    for name in OPTIMIZERS:
        net, ref, data = make_case(ARCHITECTURES[1], "float64", f"lr-{name}")
        opt, ref_opt = make_optimizers(name, {}, "float64")
        for step, lr in enumerate([0.01, 0.002, 0.03]):
            opt.lr = ref_opt.lr = lr  # type: ignore[attr-defined]
            X, y = data(12, step)
            net.step(X, y, opt)
            ref.step(X, y, ref_opt)
        check.close_all(net.weights + net.biases, ref.weights + ref.biases, "optimizer", name)


def test_defaults_and_repr() -> None:
    assert fp.OPTIMIZERS == ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")
    assert all(issubclass(getattr(fp, name), fp.Optimizer) for name in fp.OPTIMIZERS)
    assert repr(fp.RMSprop()) == (
        "RMSprop(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)"
    )
    assert repr(fp.Adagrad(lr=0.1, initial_accumulator_value=np.float32(0.5))) == (
        "Adagrad(lr=0.1, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.5, eps=1e-10)"
    )
    assert fp.RMSprop(lr=0.5).lr == 0.5
    with pytest.raises(TypeError, match=r"^optimizer: .*RMSprop, Adagrad"):
        fp.Network([2, 1], loss="mse").step(np.zeros((1, 2)), np.zeros(1), object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "argument"),
    [
        (fp.RMSprop, {"lr": 0.0}, ValueError, "lr"),
        (fp.RMSprop, {"lr": float("inf")}, ValueError, "lr"),
        (fp.RMSprop, {"lr": "0.1"}, TypeError, "lr"),
        (fp.RMSprop, {"alpha": -0.5}, ValueError, "alpha"),
        (fp.RMSprop, {"alpha": float("nan")}, ValueError, "alpha"),
        (fp.RMSprop, {"eps": -1e-8}, ValueError, "eps"),
        (fp.RMSprop, {"weight_decay": -1.0}, ValueError, "weight_decay"),
        (fp.RMSprop, {"momentum": -0.9}, ValueError, "momentum"),
        (fp.RMSprop, {"momentum": [0.9]}, TypeError, "momentum"),
        (fp.RMSprop, {"centered": "yes"}, TypeError, "centered"),
        (fp.RMSprop, {"centered": 1.5}, TypeError, "centered"),
        (fp.Adagrad, {"lr": -0.01}, ValueError, "lr"),
        (fp.Adagrad, {"lr_decay": -0.1}, ValueError, "lr_decay"),
        (fp.Adagrad, {"weight_decay": float("inf")}, ValueError, "weight_decay"),
        (fp.Adagrad, {"initial_accumulator_value": -1.0}, ValueError, "initial_accumulator_value"),
        (fp.Adagrad, {"initial_accumulator_value": None}, None, None),
        (fp.Adagrad, {"eps": -1e-10}, ValueError, "eps"),
        (fp.Adagrad, {"eps": b"1"}, TypeError, "eps"),
        (fp.Adagrad, {"lr_decay": 10**400}, ValueError, "lr_decay"),
    ],
)
def test_bad_arguments_name_the_argument(
    cls: type, kwargs: dict, error: type[Exception] | None, argument: str | None
) -> None:
    if error is None:  # None means the default
        assert cls(**kwargs).lr == 0.01
        return
    with pytest.raises(error, match=rf"^{argument}: "):
        cls(**kwargs)


def test_lr_setter_validates() -> None:
    for opt in (fp.RMSprop(), fp.Adagrad()):
        with pytest.raises(ValueError, match="^lr: "):
            opt.lr = -1.0
        assert opt.lr == 0.01


def test_divergence_leaves_parameters_unchanged() -> None:
    # A rate that overflows float32 takes the checked path: the step is refused, nothing moves.
    net = fp.Network([4, 3, 2], loss="cross_entropy", dtype="float32", seed=1)
    X, y = np.ones((5, 4), np.float32), np.array([0, 1, 0, 1, 0])
    for opt in (fp.RMSprop(lr=1e300, eps=0.0), fp.Adagrad(lr=1e300, eps=0.0)):
        before = net.weights + net.biases
        with pytest.raises(fp.DivergenceError):
            net.step(X, y, opt)
        for a, b in zip(net.weights + net.biases, before, strict=True):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", ["rmsprop", "adagrad"])
def test_cli_trains_with_them(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ferroprop import cli

    # Three well separated blobs in 4-D (chance is 1/3).
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    X = 3.0 * np.eye(3, 4)[y] + rng.normal(scale=0.5, size=(300, 4))
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    metrics = tmp_path / "m.json"
    args = ["train", "--data", str(tmp_path / "blobs.npz"), "--optimizer", name]
    args += ["--hidden", "16", "--epochs", "15", "--batch-size", "32"]
    code = cli.main([*args, "--metrics-out", str(metrics)])
    _, err = capsys.readouterr()
    assert code == 0, err
    m = json.loads(metrics.read_text())
    assert m["config"]["optimizer"] == name
    assert m["test_accuracy"] > 0.9


# --- determinism ------------------------------------------------------------------------------

PACKAGE_ROOT = str(Path(fp.__file__).resolve().parent.parent)
CONFIGS = [(simd, threads) for simd in ("scalar", "avx2", "avx512") for threads in (1, 2, 3)]

# 784x384 at 16 rows is above the engine's threshold for using several threads.
CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import ferroprop as fp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 784)).astype(np.float32)
    y = rng.integers(0, 10, 80)
    optimizers = {
        "rmsprop": lambda: fp.RMSprop(lr=1e-3, momentum=0.9, centered=True, weight_decay=0.01),
        "rmsprop_plain": lambda: fp.RMSprop(lr=1e-3),
        "adagrad": lambda: fp.Adagrad(
            lr=0.01, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1
        ),
    }
    saved = {"meta/threads": np.array(fp.get_num_threads())}
    for dtype in ("float32", "float64"):
        for name, make in optimizers.items():
            for batch in (1, 16):
                net = fp.Network([784, 384, 10], activation="tanh", dtype=dtype, seed=3)
                rows = 24 if batch == 1 else 80
                hist = net.fit(X[:rows].astype(dtype), y[:rows], epochs=2, batch_size=batch,
                               optimizer=make(), seed=5)
                key = f"{dtype}/{name}/b{batch}"
                for i, p in enumerate(net.weights + net.biases):
                    saved[f"{key}/{i}"] = p
                saved[f"{key}/loss"] = np.array(hist.loss)
    np.savez(sys.argv[1], **saved)
    """
)


def _run_child(simd: str, threads: int, out: Path) -> dict[str, np.ndarray]:
    env = dict(
        os.environ,
        FERROPROP_SIMD=simd,
        FERROPROP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"{simd}/{threads}: {proc.stdout}\n{proc.stderr}"
    with np.load(out) as npz:
        return {k: npz[k] for k in npz.files}


def test_bitwise_identical_across_threads_and_simd_paths(tmp_path: Path) -> None:
    # One child at a time (see test_determinism.py): each reads its configuration once.
    runs = {c: _run_child(*c, tmp_path / f"{c[0]}-{c[1]}.npz") for c in CONFIGS}
    first = runs[CONFIGS[0]]
    keys = [k for k in first if not k.startswith("meta/")]
    assert all(np.all(np.isfinite(first[k])) for k in keys)
    differ = []
    for config, result in runs.items():
        assert int(result["meta/threads"]) == config[1], json.dumps(config)
        differ += [f"{config} {k}" for k in keys if result[k].tobytes() != first[k].tobytes()]
    assert not differ, "differ from scalar/1 thread:\n" + "\n".join(differ)
