"""Before/after: times this checkout's installed ferroprop against another build of it in one
process, alternating epochs, so both see the same machine (a shared VM's speed drifts by ±20%
between runs; ratios from one interleaved run are what can be compared).

    pip install --target /tmp/before <old checkout>      # the other build
    OPENBLAS_NUM_THREADS=1 python benches/ab.py /tmp/before

prints a Markdown table of median epoch times (9 alternated epochs per configuration).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ferroprop as after

CONFIGS = [
    ([784, 100, 10], 1, 2048, "adam"),
    ([784, 100, 10], 16, 8192, "adam"),
    ([784, 100, 10], 64, 8192, "adam"),
    ([784, 100, 10], 256, 8192, "adam"),
    ([784, 512, 512, 10], 256, 8192, "adam"),
    ([784, 512, 512, 10], 1024, 8192, "adam"),
    ([784, 100, 10], 1, 2048, "sgd"),
    ([784, 100, 10], 64, 8192, "sgd"),
    ([784, 512, 512, 10], 256, 8192, "sgd"),
]


def load_before(site: Path):
    """The other build, imported as `ferroprop_before` (its `_core` loads under any package)."""
    root = Path(tempfile.mkdtemp())
    shutil.copytree(site / "ferroprop", root / "ferroprop_before")
    sys.path.insert(0, str(root))
    import ferroprop_before

    return ferroprop_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="directory holding the other build's ferroprop/")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    before = load_before(args.site)
    rng = np.random.default_rng(0)
    X, y = rng.random((8192, 784), dtype=np.float32), rng.integers(0, 10, 8192)
    print("| config | before (ms/epoch) | after (ms/epoch) | after ÷ before |")
    print("|---|---|---|---|")
    for widths, batch, rows, opt in CONFIGS:
        runs = {}
        for name, fp in (("before", before), ("after", after)):
            optimizer = fp.Adam() if opt == "adam" else fp.SGD(lr=0.01)
            net = fp.Network(widths, seed=0)
            net.fit(X[:rows], y[:rows], epochs=1, batch_size=batch, optimizer=optimizer)  # warm
            runs[name] = (net, optimizer, [])
        for rep in range(args.repeats):
            for name in ("before", "after") if rep % 2 == 0 else ("after", "before"):
                net, optimizer, times = runs[name]
                start = time.perf_counter()
                net.fit(X[:rows], y[:rows], epochs=1, batch_size=batch, optimizer=optimizer)
                times.append(time.perf_counter() - start)
                time.sleep(0.05)  # let the other build's spinning workers settle
        b, a = (statistics.median(runs[n][2]) for n in ("before", "after"))
        label = f"{'-'.join(map(str, widths))} B={batch} {opt}"
        print(f"| {label} | {b * 1e3:.2f} | {a * 1e3:.2f} | {a / b:.3f} |", flush=True)


if __name__ == "__main__":
    main()
