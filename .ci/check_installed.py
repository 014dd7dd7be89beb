"""Checks that `ferroprop` is the installed package, not the source tree, and that its core
works with the core's dependencies only: `python .ci/check_installed.py REPO` from the venv
under test (.ci/test-installed), before anything else is installed there."""

import re
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

import ferroprop as fp

repo = Path(sys.argv[1]).resolve()
where = Path(fp.__file__).resolve()
core = Path(fp._core.__file__).resolve()
prefix = Path(sys.prefix).resolve()
assert where.is_relative_to(prefix), f"ferroprop from {where}, not from the venv {prefix}"
assert not where.is_relative_to(repo), f"ferroprop from the source tree: {where}"
assert core.is_relative_to(prefix), f"ferroprop._core from {core}"

# The core needs numpy and safetensors (model files); everything else is an extra.
requires = metadata.requires("ferroprop") or []
required = {re.match(r"[\w.-]+", req)[0] for req in requires if "extra ==" not in req}
assert required == {"numpy", "safetensors"}, f"core dependencies: {sorted(required)}"

rng = np.random.default_rng(0)
X = rng.standard_normal((64, 4))
y = (X[:, 0] > 0).astype(np.int64)
net = fp.Network([4, 8, 2], seed=0)
hist = net.fit(X, y, epochs=5, batch_size=16, optimizer=fp.Adam(lr=0.05), seed=0)
assert hist.loss[-1] < hist.loss[0], hist.loss
path = Path("check.safetensors").resolve()
net.save(path)
assert np.array_equal(fp.load(path).predict(X), net.predict(X))

print(f"ferroprop {metadata.version('ferroprop')} from {where.parent} ({fp.simd_path()}): ok")
