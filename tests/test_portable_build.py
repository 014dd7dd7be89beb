"""The installed package runs on any x86-64 CPU: nothing in it is compiled for one CPU.

The kernels choose AVX-512, AVX2+FMA or portable code at run time (`rust/kernels/simd.rs`) and
the build sets no `target-cpu`. Here, in a child process of the installed interpreter, the
package imports and trains with the portable path forced (`FERROPROP_SIMD=scalar`), and under
QEMU's user-mode emulation of a CPU without AVX (`qemu-x86_64 -cpu Nehalem`, Debian's
qemu-user; skipped when it is missing), where it must choose the portable path by itself. That
every path computes the same bits is `tests/test_determinism.py`'s business.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ferroprop as fp

PACKAGE_ROOT = str(Path(fp.__file__).resolve().parent.parent)

# Imports ferroprop, trains a small network a few epochs per dtype, prints what it saw.
CHILD = """
import json
import numpy as np
import ferroprop as fp

rng = np.random.default_rng(0)
X = rng.standard_normal((128, 8))
y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
losses = {}
for dtype in ("float32", "float64"):
    net = fp.Network([8, 16, 16, 2], activation="tanh", dtype=dtype, seed=0)
    hist = net.fit(X, y, epochs=6, batch_size=32, optimizer=fp.Adam(lr=0.01), seed=0)
    losses[dtype] = hist.loss
print(json.dumps({"simd": fp.simd_path(), "file": fp.__file__, "losses": losses}))
"""


def run_child(prefix: list[str], simd: str | None, timeout: float) -> dict:
    env = dict(
        os.environ,
        FERROPROP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    )
    env.pop("FERROPROP_SIMD", None)
    if simd is not None:
        env["FERROPROP_SIMD"] = simd
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, f"{prefix}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_trained(result: dict) -> None:
    assert Path(result["file"]).resolve() == Path(fp.__file__).resolve()
    for dtype, losses in result["losses"].items():
        assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], (dtype, losses)


def test_scalar_path_imports_and_trains() -> None:
    result = run_child([], simd="scalar", timeout=120)
    assert result["simd"] == "scalar"
    assert_trained(result)


def test_trains_on_a_cpu_without_avx_under_qemu() -> None:
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-x86_64 not on PATH (Debian's qemu-user)")
    start = time.monotonic()
    result = run_child([qemu, "-cpu", "Nehalem"], simd=None, timeout=600)
    print(f"under qemu-x86_64 -cpu Nehalem: {time.monotonic() - start:.1f} s")
    # Chosen by the CPU check, not forced: the emulated CPU reports no AVX.
    assert result["simd"] == "scalar"
    assert_trained(result)
