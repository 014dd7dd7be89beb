"""What `fit(diagnostics=True)` costs: the CLI's default Fashion-MNIST run (784-256-128-10,
relu, Adam 1e-3, batch 64, float32) timed epoch by epoch with diagnostics off and on,
interleaved, on the same network; medians and their ratio (and two readings less disturbed by a
busy host: the median ratio of the epochs timed back to back, the ratio of the fastest).

    python benches/diagnostics_overhead.py [--epochs 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ferroprop as fp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per setting")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    fp.set_num_threads(args.threads)
    X, y, _, _ = fp.datasets.load_fashion_mnist()
    net = fp.Network([784, 256, 128, 10], activation="relu", seed=0)
    opt = fp.Adam(lr=1e-3)
    x, t = net._x(X), net._y(y)
    times: dict[bool, list[float]] = {False: [], True: []}
    net._core.fit(x, t, 1, args.batch_size, opt, seed=0)  # warm-up
    for epoch in range(args.epochs):
        for diagnostics in (False, True) if epoch % 2 == 0 else (True, False):
            start = time.perf_counter()
            net._core.fit(x, t, 1, args.batch_size, opt, seed=epoch, diagnostics=diagnostics)
            times[diagnostics].append(time.perf_counter() - start)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"threads {args.threads}, batch {args.batch_size}, {args.epochs} epochs each")
    print(f"diagnostics off: median {off:.3f} s/epoch  ({np.round(times[False], 3)})")
    print(f"diagnostics on:  median {on:.3f} s/epoch  ({np.round(times[True], 3)})")
    print(f"overhead: {100 * (on / off - 1):+.1f}%")
    # A busy host slows whole stretches of epochs: the epochs timed back to back are the fairer
    # pairs, and the fastest epoch of each setting the least disturbed.
    pairs = statistics.median(a / b for a, b in zip(times[True], times[False], strict=True))
    print(f"overhead, median of back-to-back pairs: {100 * (pairs - 1):+.1f}%")
    print(f"overhead, fastest epochs: {100 * (min(times[True]) / min(times[False]) - 1):+.1f}%")


if __name__ == "__main__":
    main()
