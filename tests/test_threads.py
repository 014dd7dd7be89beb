"""fit releases the GIL: measured with wall-clock intervals, not assumed.

If fit held the GIL for its whole run, two Python threads calling it would run one after the
other (disjoint intervals), and a pure-Python thread would stall while fit runs. Beyond the
GIL, two fits from two threads should also get a core each rather than queue for one; that is
a speed property, so it is measured in benches/, not asserted here.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

import ferroprop as fp

N_ROWS, N_IN, N_HIDDEN, N_OUT = 4000, 256, 256, 10
MIN_RUN_SECONDS = 0.5
MAX_EPOCHS = 500


@pytest.fixture(scope="module")
def one_thread_each() -> Iterator[None]:
    """Each fit uses one core, so two fits need only two cores to run side by side."""
    saved = fp.get_num_threads()
    fp.set_num_threads(1)
    try:
        yield
    finally:
        fp.set_num_threads(saved)


def make_problem(seed: int) -> tuple[fp.Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, N_ROWS)
    net = fp.Network([N_IN, N_HIDDEN, N_OUT], activation="relu", seed=seed)
    return net, X, y


def run_fit(net: fp.Network, X: np.ndarray, y: np.ndarray, epochs: int) -> None:
    net.fit(X, y, epochs=epochs, batch_size=64, optimizer=fp.SGD(lr=0.01), seed=0)


def calibrate() -> tuple[int, float]:
    """Epochs for one single-threaded fit to take at least MIN_RUN_SECONDS, and that time."""
    net, X, y = make_problem(0)
    run_fit(net, X, y, 1)  # warm-up (thread pool, page faults)
    t0 = time.perf_counter()
    run_fit(net, X, y, 2)
    per_epoch = (time.perf_counter() - t0) / 2
    epochs = max(1, min(MAX_EPOCHS, int(np.ceil(MIN_RUN_SECONDS / per_epoch))))
    return epochs, epochs * per_epoch


@dataclasses.dataclass
class ConcurrentRun:
    epochs: int
    solo_seconds: float  # one fit of `epochs` alone (estimated from the calibration)
    intervals: list[tuple[float, float]]  # (start, end) of each thread's fit

    def describe(self) -> str:
        spans = ", ".join(f"{e - s:.3f} s" for s, e in self.intervals)
        return f"{self.epochs} epochs; alone ~{self.solo_seconds:.3f} s; concurrently {spans}"


@pytest.fixture(scope="module")
def concurrent_run(one_thread_each: None) -> ConcurrentRun:
    """Two threads start fit on their own networks at the same moment."""
    epochs, solo = calibrate()
    problems = [make_problem(seed) for seed in (1, 2)]
    intervals: list[tuple[float, float]] = [(0.0, 0.0), (0.0, 0.0)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(i: int) -> None:
        net, X, y = problems[i]
        try:
            barrier.wait()
            start = time.perf_counter()
            run_fit(net, X, y, epochs)
            intervals[i] = (start, time.perf_counter())
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "fit did not finish within 120 s"
    if errors:
        raise errors[0]
    for net, _, _ in problems:
        assert all(np.all(np.isfinite(w)) for w in net.weights)
    return ConcurrentRun(epochs, solo, intervals)


def test_two_fits_overlap_in_time(concurrent_run: ConcurrentRun) -> None:
    """With the GIL held for the whole call, the second fit could not start before the first
    returned: the intervals would be disjoint."""
    (s0, e0), (s1, e1) = concurrent_run.intervals
    overlap = max(0.0, min(e0, e1) - max(s0, s1))
    shorter = min(e0 - s0, e1 - s1)
    # Long enough that thread start-up skew cannot fake an overlap (the calibration is itself
    # a timing on a shared machine, so only a generous floor is asserted).
    assert shorter >= 0.25 * MIN_RUN_SECONDS, f"runs too short: {concurrent_run.describe()}"
    assert overlap >= 0.5 * shorter, (
        f"fits overlapped for only {overlap:.3f} s ({concurrent_run.describe()}): is the GIL held?"
    )


def test_python_thread_progresses_during_fit(one_thread_each: None) -> None:
    epochs, _ = calibrate()
    net, X, y = make_problem(3)
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1

    thread = threading.Thread(target=count, daemon=True)
    thread.start()
    try:
        # Baseline: the counter's rate while the main thread just sleeps.
        c0, t0 = counter[0], time.perf_counter()
        time.sleep(0.2)
        rate_alone = (counter[0] - c0) / (time.perf_counter() - t0)

        c0, t0 = counter[0], time.perf_counter()
        run_fit(net, X, y, epochs)
        elapsed = time.perf_counter() - t0
        rate_during_fit = (counter[0] - c0) / elapsed
    finally:
        stop.set()
        thread.join()

    # With the GIL released the counter keeps (roughly) its pace even on a single core it
    # shares with fit; with the GIL held it would be frozen for the whole call.
    assert rate_during_fit >= 0.2 * rate_alone, (
        f"pure-Python thread ran at {rate_during_fit:,.0f}/s during fit ({elapsed:.2f} s) "
        f"vs {rate_alone:,.0f}/s alone: is the GIL held?"
    )
