"""Determinism: same seed, bitwise-identical parameters whatever the threads and SIMD path.

`FERROPROP_SIMD` and `FERROPROP_NUM_THREADS` are read once per process, so each configuration
(SIMD path x thread count) trains the same seeded networks in its own child process and saves
every parameter and loss to an .npz; the parent compares them bit for bit. Tolerances would
hide exactly the bugs this is for: a reduction split differently across threads, or a SIMD
kernel (exp, tanh, a GEMM tail) that rounds differently from the portable path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

import ferroprop as fp

# So that the children import the same ferroprop as this process.
PACKAGE_ROOT = str(Path(fp.__file__).resolve().parent.parent)

SIMD_PATHS = ("scalar", "avx2", "avx512")
THREAD_COUNTS = (1, 2, 3)
CONFIGS = [(simd, threads) for simd in SIMD_PATHS for threads in THREAD_COUNTS]

# Mirrors PARALLEL_MIN_FMAS in rust/network.rs: smaller batches run on one thread whatever the
# pool's size, so only cases above it test that the thread count does not matter.
PARALLEL_MIN_FMAS = 1 << 22


@dataclasses.dataclass(frozen=True)
class Case:
    """One seeded training run, repeated unchanged in every configuration."""

    widths: tuple[int, ...]
    activation: str | tuple[str, ...]
    loss: str
    dtype: str
    batch_size: int
    rows: int
    optimizer: str  # "sgd" (momentum 0.9), "nesterov" (the same, Nesterov) or "adam"
    epochs: int = 1
    val_rows: int = 0
    fit_seed: int | None = 0  # None: shuffles come from the network's own generator

    @property
    def name(self) -> str:
        act = self.activation if isinstance(self.activation, str) else "+".join(self.activation)
        parts = [self.dtype, "x".join(map(str, self.widths)), act, self.loss]
        parts += [f"b{self.batch_size}", self.optimizer, f"{self.epochs}ep"]
        parts += [f"val{self.val_rows}"] if self.val_rows else []
        parts += ["netseed"] if self.fit_seed is None else []
        return "-".join(parts)

    def fmas_per_batch(self) -> int:
        weights = sum(a * b for a, b in zip(self.widths, self.widths[1:], strict=False))
        return weights * min(self.batch_size, self.rows)


NARROW = (784, 64, 10)
# 784x384 weights at 16 rows are just above PARALLEL_MIN_FMAS: B=16 on several threads.
MID = (784, 384, 10)
WIDE = (784, 512, 256, 10)
DEEP = (784, 256, 128, 10)
DEEPER = (784, 128, 64, 32, 10)
CE, BCE = "cross_entropy", "binary_cross_entropy"
SMOOTH = ("gelu", "sigmoid", "tanh")  # the activations built on the vectorised exp/tanh

# Sized for the scalar path (~50x slower than AVX): every configuration runs every case.
CASES = [
    Case(NARROW, "relu", CE, "float32", 1, 160, "sgd"),
    Case(NARROW, "tanh", BCE, "float64", 1, 160, "adam"),
    Case(MID, "gelu", CE, "float32", 16, 200, "adam", epochs=2, val_rows=300),
    Case(MID, "sigmoid", "mse", "float64", 16, 200, "nesterov"),
    # 300 rows: four batches of 64 and a partial one of 44 (still above PARALLEL_MIN_FMAS).
    Case(WIDE, "relu", CE, "float32", 64, 300, "adam", val_rows=600),
    Case(WIDE, "relu", CE, "float64", 256, 600, "sgd", val_rows=300, fit_seed=None),
    Case(DEEP, ("sigmoid", "tanh"), BCE, "float64", 64, 320, "sgd", val_rows=300),
    Case(DEEPER, SMOOTH, "mse", "float32", 256, 600, "adam", epochs=2, val_rows=300),
]

# The child: trains every case and saves "<case>/W<l>", "<case>/b<l>", "<case>/loss",
# "<case>/val_loss", plus what the library says about its own configuration.
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import ferroprop as fp

    cases, out = json.loads(sys.argv[1]), sys.argv[2]
    saved = {"meta/num_threads": np.array(fp.get_num_threads())}
    simd_path = getattr(fp, "simd_path", None)
    if simd_path is not None:
        saved["meta/simd_path"] = np.array(str(simd_path() if callable(simd_path) else simd_path))

    def data(case, rows, seed):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((rows, case["widths"][0])).astype(case["dtype"])
        n_out = case["widths"][-1]
        if case["loss"] == "cross_entropy":
            y = rng.integers(0, n_out, rows)
        elif case["loss"] == "binary_cross_entropy":
            y = rng.integers(0, 2, (rows, n_out)).astype(case["dtype"])
        else:
            y = rng.standard_normal((rows, n_out)).astype(case["dtype"])
        return X, y

    optimizers = {
        "sgd": lambda: fp.SGD(lr=0.05, momentum=0.9),
        "nesterov": lambda: fp.SGD(lr=0.05, momentum=0.9, nesterov=True),
        "adam": lambda: fp.Adam(lr=1e-3),
    }
    for case in cases:
        X, y = data(case, case["rows"], 1)
        val = data(case, case["val_rows"], 2) if case["val_rows"] else None
        act = case["activation"]
        net = fp.Network(
            case["widths"], activation=act if isinstance(act, str) else list(act),
            loss=case["loss"], dtype=case["dtype"], seed=7,
        )
        hist = net.fit(
            X, y, epochs=case["epochs"], batch_size=case["batch_size"],
            optimizer=optimizers[case["optimizer"]](), shuffle=True, seed=case["fit_seed"],
            validation_data=val,
        )
        name = case["name"]
        for l, (w, b) in enumerate(zip(net.weights, net.biases)):
            saved[f"{name}/W{l}"], saved[f"{name}/b{l}"] = w, b
        saved[f"{name}/loss"] = np.array(hist.loss, dtype=np.float64)
        saved[f"{name}/val_loss"] = np.array(hist.val_loss, dtype=np.float64)
    np.savez(out, **saved)
    """
)


def expected_simd_path(requested: str) -> str | None:
    """What `FERROPROP_SIMD=requested` should give on this CPU (it is clamped to what the CPU
    supports), from /proc/cpuinfo; None where that cannot be read."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags_line = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), None)
    if flags_line is None:
        return None
    flags = set(flags_line.split(":", 1)[1].split())
    supported = ["scalar"]
    if {"avx2", "fma"} <= flags:
        supported.append("avx2")
        if {"avx512f", "avx512vl"} <= flags:
            supported.append("avx512")
    order = list(SIMD_PATHS)
    return supported[min(order.index(requested), len(supported) - 1)]


def run_config(simd: str, threads: int, out: Path) -> dict[str, np.ndarray]:
    env = dict(
        os.environ,
        FERROPROP_SIMD=simd,
        FERROPROP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    )
    spec = json.dumps([{**dataclasses.asdict(c), "name": c.name} for c in CASES])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, spec, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, (
        f"child {simd}/{threads} threads: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    with np.load(out) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    # One child at a time: children sharing the cores would make the 2/3-thread runs crawl
    # (the engine's barriers spin) without changing what is compared.
    tmp = tmp_path_factory.mktemp("determinism")
    return {(s, t): run_config(s, t, tmp / f"{s}-{t}.npz") for s, t in CONFIGS}


def bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def describe_difference(a: np.ndarray, b: np.ndarray) -> str:
    """How `a` differs from the reference `b`: count, max abs diff, max distance in ulps."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{a.dtype}{a.shape} vs reference {b.dtype}{b.shape}"
    differ = a.view(f"u{a.itemsize}") != b.view(f"u{b.itemsize}")
    abs_diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return (
        f"{int(differ.sum())}/{a.size} elements differ, max |diff| {np.nanmax(abs_diff):.3e}"
        f" (reference max |x| {np.nanmax(np.abs(b)):.3e}),"
        f" max {max_ulps(a[differ], b[differ])} ulp"
    )


def max_ulps(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in units in the last place between paired floats (Python ints: the
    bit patterns of float64s overflow int64 arithmetic and are not exact in float64)."""
    bits = 8 * a.itemsize
    sign = 1 << (bits - 1)

    def ordered(x: np.ndarray) -> list[int]:
        # Sign-magnitude bit patterns to integers that count floats in order (-0.0 == 0).
        return [i if i >= 0 else -(i + sign) for i in x.view(f"i{a.itemsize}").tolist()]

    return max((abs(p - q) for p, q in zip(ordered(a), ordered(b), strict=True)), default=0)


def param_keys(result: Mapping[str, np.ndarray], case: str) -> list[str]:
    return sorted(k for k in result if k.startswith(f"{case}/"))


def test_cases_cover_multithreaded_batches() -> None:
    # Guards the case list: each of B=16, 64, 256 must have a case big enough to use threads.
    for batch_size in (16, 64, 256):
        assert any(
            c.batch_size == batch_size and c.fmas_per_batch() >= PARALLEL_MIN_FMAS for c in CASES
        ), f"no case with batch_size={batch_size} is large enough to run on several threads"


def test_children_use_the_requested_configuration(
    runs: dict[tuple[str, int], dict[str, np.ndarray]],
) -> None:
    for (simd, threads), result in runs.items():
        assert int(result["meta/num_threads"]) == threads, (
            f"FERROPROP_NUM_THREADS={threads}: get_num_threads() {int(result['meta/num_threads'])}"
        )
        # Only checkable when the library reports its path (fp.simd_path) and the CPU is known.
        expected = expected_simd_path(simd)
        if "meta/simd_path" in result and expected is not None:
            assert str(result["meta/simd_path"]) == expected, (
                f"FERROPROP_SIMD={simd}: simd_path() {str(result['meta/simd_path'])!r}, "
                f"expected {expected!r}"
            )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bitwise_identical_across_simd_and_threads(
    case: Case, runs: dict[tuple[str, int], dict[str, np.ndarray]]
) -> None:
    reference_config = CONFIGS[0]
    reference = runs[reference_config]
    keys = param_keys(reference, case.name)
    n_layers = len(case.widths) - 1
    assert len([k for k in keys if "/W" in k]) == n_layers, keys
    assert reference[f"{case.name}/loss"].shape == (case.epochs,)
    assert reference[f"{case.name}/val_loss"].shape == ((case.epochs,) if case.val_rows else (0,))
    assert all(np.all(np.isfinite(reference[k])) for k in keys), "non-finite reference values"

    differences = []
    for config in CONFIGS[1:]:
        result = runs[config]
        assert param_keys(result, case.name) == keys
        for key in keys:
            if not bitwise_equal(result[key], reference[key]):
                differences.append(
                    f"  {config[0]}/{config[1]} threads  {key}: "
                    + describe_difference(result[key], reference[key])
                )
    assert not differences, (
        f"{case.name}: results differ from {reference_config[0]}/{reference_config[1]} thread\n"
        + "\n".join(differences)
    )


# --- in-process ------------------------------------------------------------------------------


def fit_wide(threads: int | None = None) -> tuple[list[np.ndarray], list[float]]:
    """Parameters and per-epoch losses after a seeded fit big enough to use several threads."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 784)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    X_val = rng.standard_normal((300, 784)).astype(np.float32)
    y_val = rng.integers(0, 10, 300)
    saved = fp.get_num_threads()
    if threads is not None:
        fp.set_num_threads(threads)
    try:
        net = fp.Network([784, 512, 256, 10], activation="tanh", seed=5)
        hist = net.fit(
            X,
            y,
            epochs=2,
            batch_size=64,
            optimizer=fp.Adam(lr=1e-3),
            seed=11,
            validation_data=(X_val, y_val),
        )
    finally:
        fp.set_num_threads(saved)
    return net.weights + net.biases, hist.loss + hist.val_loss


def assert_same(
    a: tuple[list[np.ndarray], list[float]], b: tuple[list[np.ndarray], list[float]], what: str
) -> None:
    (params_a, losses_a), (params_b, losses_b) = a, b
    assert len(params_a) == len(params_b)
    for i, (pa, pb) in enumerate(zip(params_a, params_b, strict=True)):
        assert bitwise_equal(pa, pb), f"{what}: parameter {i}: " + describe_difference(pa, pb)
    assert np.array(losses_a).tobytes() == np.array(losses_b).tobytes(), (
        f"{what}: losses {losses_a} != {losses_b}"
    )


def test_same_seed_same_parameters_in_process() -> None:
    assert_same(fit_wide(), fit_wide(), "two fits with the same seeds")


def test_set_num_threads_does_not_change_results() -> None:
    assert_same(fit_wide(1), fit_wide(2), "set_num_threads(1) vs set_num_threads(2)")
