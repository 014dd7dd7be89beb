"""Stress: many Python threads using a few networks at once — fit, predict, save, load — with
two engine threads each. Nothing deadlocks or crashes, a busy network says so
(`RuntimeError`), and every network ends bitwise where a serial run of its own fits ends."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import numpy as np

import ferroprop as fp

#: Seconds of mixed load (set FERROPROP_STRESS_SECONDS for a longer run).
SECONDS = float(os.environ.get("FERROPROP_STRESS_SECONDS", "20"))
NETS, THREADS, FITS = 3, 8, 6
BUSY = "being trained by another thread"


def data(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(k)
    return rng.random((512, 64), dtype=np.float32), rng.integers(0, 4, 512)


def make(k: int) -> fp.Network:
    return fp.Network([64, 256, 4], seed=k)


def train(net: fp.Network, opt: fp.Optimizer, k: int, i: int) -> None:
    X, y = data(k)
    net.fit(X, y, epochs=1, batch_size=64, optimizer=opt, seed=i)


def test_threads_hammering_networks_end_where_serial_runs_end(tmp_path: Path) -> None:
    fp.set_num_threads(2)
    nets = [make(k) for k in range(NETS)]
    opts = [fp.Adam(lr=1e-3) for _ in range(NETS)]
    failures: list[BaseException] = []
    busy = [0]
    stop = threading.Event()

    def trainer(k: int) -> None:
        # The only thread that trains network k: FITS fits, interleaved with everyone else.
        for i in range(FITS):
            while True:
                try:
                    train(nets[k], opts[k], k, i)
                    break
                except RuntimeError as err:  # another thread's fit on it (none expected)
                    assert BUSY in str(err)
                    busy[0] += 1

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            k = rng.randrange(NETS)
            X, y = data(k)
            try:
                op = rng.choice(("predict", "loss", "save", "weights"))
                if op == "predict":
                    assert nets[k].predict(X[:100]).shape == (100,)
                elif op == "loss":
                    assert np.isfinite(nets[k].loss(X, y))
                elif op == "save":
                    path = tmp_path / f"net{k}-{seed}.safetensors"
                    nets[k].save(path)
                    assert fp.load(path).widths == nets[k].widths
                else:
                    assert nets[k].weights[0].shape == (64, 256)
            except RuntimeError as err:  # a fit is in progress on it: the defined answer
                assert BUSY in str(err), err
                busy[0] += 1

    def guarded(target, *args) -> None:
        try:
            target(*args)
        except BaseException as err:  # noqa: BLE001 - collected and re-raised below
            failures.append(err)

    workers = [threading.Thread(target=guarded, args=(trainer, k)) for k in range(NETS)]
    workers += [threading.Thread(target=guarded, args=(reader, s)) for s in range(THREADS - NETS)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers[:NETS]:
        w.join(600)
    # Keep the readers going for the rest of the time budget, then stop them.
    time.sleep(max(0.0, SECONDS - (time.monotonic() - started)))
    stop.set()
    for w in workers:
        w.join(600)
        assert not w.is_alive(), "a thread hung"
    if failures:
        raise failures[0]
    assert busy[0] > 0, "the readers never met a fit in progress: the test tested nothing"
    for k in range(NETS):
        serial, opt = make(k), fp.Adam(lr=1e-3)
        for i in range(FITS):
            train(serial, opt, k, i)
        for a, b in zip(serial.weights, nets[k].weights, strict=True):
            assert a.tobytes() == b.tobytes()
