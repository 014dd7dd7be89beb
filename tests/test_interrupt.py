"""Ctrl-C (SIGINT) interrupts a long fit promptly and leaves the network intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ferroprop as fp

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX SIGINT")

# So that the child imports the same ferroprop as this process.
PACKAGE_ROOT = str(Path(fp.__file__).resolve().parent.parent)

# A fit of 10**6 epochs over 20000 rows: hours, i.e. it only ends if interrupted.
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import ferroprop as fp

    threads = int(sys.argv[1])
    if threads:
        fp.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 64)).astype(np.float32)
    y = rng.integers(0, 10, 20000)
    net = fp.Network([64, 256, 256, 10], activation="relu", seed=0)
    print("READY", flush=True)
    t0 = time.perf_counter()
    try:
        net.fit(X, y, epochs=10**6, batch_size=int(sys.argv[2]), optimizer=fp.Adam(lr=1e-3))
    except KeyboardInterrupt:
        ran = time.perf_counter() - t0
        params = net.weights + net.biases
        assert all(np.all(np.isfinite(p)) for p in params), "non-finite parameters"
        # The network is still usable: predict and one more short fit.
        assert net.predict(X[:10]).shape[0] == 10
        net.fit(X[:256], y[:256], epochs=1, batch_size=64)
        print(f"INTERRUPTED OK after {ran:.2f} s of fit", flush=True)
        sys.exit(0)
    print("fit returned without being interrupted", flush=True)
    sys.exit(3)
    """
)


@pytest.mark.parametrize(
    ("threads", "batch_size"),
    [(1, 64), (0, 64), (0, 20000)],
    ids=["1-thread", "default-threads", "full-batch"],
)
def test_sigint_interrupts_fit(threads: int, batch_size: int) -> None:
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(threads), str(batch_size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()  # blocks until READY (or the child dies)
        assert line.strip() == "READY", f"child said {line!r}; stderr:\n{proc.stderr.read()}"
        time.sleep(0.5)  # let fit get going
        assert proc.poll() is None, "child exited before it was interrupted"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("child still running 5 s after SIGINT: fit does not check for signals")
        latency = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "INTERRUPTED OK" in out, f"stdout:\n{out}\nstderr:\n{err}"
    # Generous bound (a loaded CI machine); typically well under 0.1 s.
    assert latency < 3.0, f"exit took {latency:.2f} s after SIGINT"
