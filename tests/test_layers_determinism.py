"""Determinism of layer stacks with Dropout and BatchNorm: bitwise-identical state_dict, losses
and dropout masks after `fit` for 1/2/3 threads and every SIMD path.

As in tests/test_determinism.py, each configuration (FERROPROP_SIMD x FERROPROP_NUM_THREADS,
read once per process) trains the same seeded stacks in its own child process; the parent
compares the results bit for bit with the first configuration's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _layer_stacks import to_fp_layers
from test_determinism import (
    CONFIGS,
    PACKAGE_ROOT,
    PARALLEL_MIN_FMAS,
    bitwise_equal,
    describe_difference,
)

import ferroprop as fp

# Layer tuples as in tests/_layer_stacks.py (the child builds them with to_fp_layers).
WIDE = (
    ("dense", 512),
    ("batchnorm",),
    ("activation", "relu"),
    ("dropout", 0.2),
    ("dense", 256),
    ("layernorm",),
    ("activation", "gelu"),
    ("dropout", 0.1),
    ("dense", 10),
)
MID = (
    ("dense", 384),
    ("batchnorm", 0.3, 1e-5),
    ("activation", "tanh"),
    ("dropout", 0.3),
    ("dense", 10),
)
NARROW = (("layernorm",), ("dense", 64), ("dropout", 0.5), ("activation", "relu"), ("dense", 10))
DEEP = (
    ("dense", 256),
    ("dropout", 0.2),
    ("batchnorm",),
    ("activation", "sigmoid"),
    ("dense", 128),
    ("batchnorm", 0.5, 1e-3),
    ("activation", "leaky_relu"),
    ("dense", 4),
)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    layers: tuple
    loss: str
    dtype: str
    batch_size: int
    rows: int
    optimizer: str  # a key of the child's `optimizers`
    epochs: int = 1
    val_rows: int = 0
    fit_seed: int | None = 0  # None: shuffles from the network's own generator

    def fmas_per_batch(self) -> int:
        width, total = 784, 0
        for spec in self.layers:
            if spec[0] == "dense":
                total += width * spec[1]
                width = spec[1]
        return total * min(self.batch_size, self.rows)


CASES = [
    Case("wide-f32-adam-b64", WIDE, "cross_entropy", "float32", 64, 300, "adam", val_rows=300),
    Case("mid-f64-nesterov-b16", MID, "binary_cross_entropy", "float64", 16, 160, "nesterov"),
    Case("narrow-f32-sgd-b1", NARROW, "cross_entropy", "float32", 1, 120, "sgd_slow"),
    Case("deep-f64-adamw-b256", DEEP, "mse", "float64", 256, 600, "adamw", fit_seed=None),
    Case("wide-f64-sgd-b64-2ep", WIDE, "cross_entropy", "float64", 64, 200, "sgd", epochs=2),
]

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import ferroprop as fp
    sys.path.insert(0, sys.argv[3])
    from _layer_stacks import to_fp_layers

    cases, out = json.loads(sys.argv[1]), sys.argv[2]
    saved = {"meta/num_threads": np.array(fp.get_num_threads())}

    def data(case, rows, seed):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((rows, 784)).astype(case["dtype"])
        k = [s for s in case["layers"] if s[0] == "dense"][-1][1]
        if case["loss"] == "cross_entropy":
            return X, rng.integers(0, k, rows)
        if case["loss"] == "binary_cross_entropy":
            return X, rng.integers(0, 2, (rows, k)).astype(case["dtype"])
        return X, rng.standard_normal((rows, k)).astype(case["dtype"])

    optimizers = {
        "sgd": lambda: fp.SGD(lr=0.05, momentum=0.9),
        "sgd_slow": lambda: fp.SGD(lr=0.002, momentum=0.5),  # batch 1: 0.05 diverges
        "nesterov": lambda: fp.SGD(lr=0.05, momentum=0.9, nesterov=True),
        "adam": lambda: fp.Adam(lr=1e-3),
        "adamw": lambda: fp.AdamW(lr=1e-3, weight_decay=0.01),
    }
    for case in cases:
        X, y = data(case, case["rows"], 1)
        val = data(case, case["val_rows"], 2) if case["val_rows"] else None
        layers = to_fp_layers([tuple(s) for s in case["layers"]])
        net = fp.Sequential(layers, input_dim=784, loss=case["loss"], dtype=case["dtype"], seed=7)
        hist = net.fit(
            X, y, epochs=case["epochs"], batch_size=case["batch_size"],
            optimizer=optimizers[case["optimizer"]](), shuffle=True, seed=case["fit_seed"],
            validation_data=val,
        )
        name = case["name"]
        for key, value in net.state_dict().items():
            saved[f"{name}/{key}"] = value
        saved[f"{name}/loss"] = np.array(hist.loss, dtype=np.float64)
        saved[f"{name}/val_loss"] = np.array(hist.val_loss, dtype=np.float64)
        saved[f"{name}/training_steps"] = np.array(net.training_steps)
        for i, spec in enumerate(case["layers"]):
            if spec[0] == "dropout":
                saved[f"{name}/mask{i}"] = np.asarray(net._dropout_keep(i, 64))
        saved[f"{name}/forward"] = np.asarray(net.forward(X[:50]))
    np.savez(out, **saved)
    """
)


def run_config(simd: str, threads: int, out: Path) -> dict[str, np.ndarray]:
    env = dict(
        os.environ,
        FERROPROP_SIMD=simd,
        FERROPROP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    )
    spec = json.dumps([dataclasses.asdict(c) for c in CASES])
    tests_dir = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, spec, str(out), tests_dir],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, (
        f"child {simd}/{threads} threads: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    with np.load(out) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    tmp = tmp_path_factory.mktemp("layers-determinism")
    return {(s, t): run_config(s, t, tmp / f"{s}-{t}.npz") for s, t in CONFIGS}


def test_cases_cover_multithreaded_batches() -> None:
    for batch_size in (16, 64, 256):
        assert any(
            c.batch_size == batch_size and c.fmas_per_batch() >= PARALLEL_MIN_FMAS for c in CASES
        ), f"no case with batch_size={batch_size} is large enough to run on several threads"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bitwise_identical_across_simd_and_threads(
    case: Case, runs: dict[tuple[str, int], dict[str, np.ndarray]]
) -> None:
    first = CONFIGS[0]
    reference = runs[first]
    keys = sorted(k for k in reference if k.startswith(f"{case.name}/"))
    kinds = {spec[0] for spec in case.layers}
    assert any(k.endswith("running_var") for k in keys) == ("batchnorm" in kinds)
    assert any("/mask" in k for k in keys) == ("dropout" in kinds)
    steps = case.epochs * -(-case.rows // case.batch_size)
    assert int(reference[f"{case.name}/training_steps"]) == steps
    floats = [k for k in keys if reference[k].dtype.kind == "f"]
    assert all(np.all(np.isfinite(reference[k])) for k in floats), "non-finite values"
    differences = []
    for config in CONFIGS[1:]:
        result = runs[config]
        assert int(result["meta/num_threads"]) == config[1]
        assert sorted(k for k in result if k.startswith(f"{case.name}/")) == keys
        for key in keys:
            if not bitwise_equal(result[key], reference[key]):
                detail = (
                    describe_difference(result[key], reference[key])
                    if result[key].dtype.kind == "f"
                    else f"{result[key]!r} vs {reference[key]!r}"
                )
                differences.append(f"  {config[0]}/{config[1]} threads  {key}: {detail}")
    assert not differences, (
        f"{case.name}: results differ from {first[0]}/{first[1]} thread\n" + "\n".join(differences)
    )


def test_set_num_threads_does_not_change_results() -> None:
    """In process: fit under set_num_threads(1), (2), (3) gives the same bits."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((256, 784)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    saved = fp.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            fp.set_num_threads(threads)
            net = fp.Sequential(to_fp_layers(WIDE), input_dim=784, seed=5)
            hist = net.fit(X, y, epochs=1, batch_size=64, optimizer=fp.Adam(lr=1e-3), seed=11)
            results.append((net.state_dict(), hist.loss))
    finally:
        fp.set_num_threads(saved)
    for threads, (state, losses) in zip((2, 3), results[1:], strict=True):
        for key, value in results[0][0].items():
            assert bitwise_equal(state[key], value), f"{threads} threads: {key}: " + (
                describe_difference(state[key], value) if value.dtype.kind == "f" else ""
            )
        assert losses == results[0][1]
