"""Time ferroprop against its peers (NumPy, JAX, scikit-learn, PyTorch) in one interleaved run.

From a fresh clone, one command after installing ferroprop, the peers and the data::

    pip install .                                # ferroprop (a release build)
    pip install jax jaxlib scikit-learn          # the peers; PyTorch is used when importable
    apt-get install -y dataset-fashion-mnist     # Fashion-MNIST (Debian/Ubuntu)
    python benches/compare.py                    # about 10-14 minutes on the 2-core Zen 4 VM
    python benches/compare.py --quick            # smoke test, about 4-7 minutes

Markdown goes to stdout (progress to stderr); the raw numbers to ``--json``
(default ``benches/results.json``). A missing peer is skipped; the NumPy reference always runs.

What is measured (fp32, 2 threads, Fashion-MNIST, plain SGD lr 0.1, softmax cross-entropy, ReLU):

* ``fit`` throughput (samples/s) of 784-100-10 at batch 1 (the first 5,000 training samples per
  epoch), 16, 64 and 256 (60,000 per epoch), and of 784-512-512-10 at batch 256 and 1024, where
  it is also given as GFLOPS (6 x n_weights x samples/s), as % of the large-GEMM rate and as %
  of the in-run FMA peak (1-thread rows against the 1-thread peak, the others against the
  2-thread one);
* ``fit`` throughput of 784-512(BatchNorm, ReLU, Dropout 0.2)-512(same)-10 at batch 256 and 1024
  (``fp.Sequential``) against JAX and torch only (NumPy and scikit-learn have no such stack);
* the large-GEMM rate of this run: NumPy float32 4096^3 matmul, 2 OpenBLAS threads;
* the FP32 FMA peak of this run: ``ferroprop._core._fma_peak`` (independent ``vfmadd``
  accumulators on the kernels' SIMD path, best of a few repetitions in 10 ms) on 1 thread, and
  on 2 (two Python threads calling it at once; it releases the GIL), summed;
* ``predict`` latency of one row (numpy in, numpy out) and of 10,000 rows;
* ferroprop with 2 threads against 1 thread (``fp.set_num_threads``) in every training config;
* the issue's targets, printed as PASS/MISS lines (``--strict`` makes a MISS fail the run).

How:

* Interleaved: every repetition times one epoch of every implementation in turn (the order
  rotates per repetition), after a 0.3 s sleep, because BLAS/OpenMP/XLA worker threads keep
  spinning briefly after they finish. Reported numbers are medians over the repetitions
  (``--repeats``, default 5); the ratios are ratios of medians from this one run.
* Same start: ferroprop's initial weights (glorot, seed 0) are copied into every peer
  (scikit-learn's through ``warm_start``), and every implementation is reset to them after its
  warm-up (which also compiles JAX, so compile time is excluded). NumPy, JAX and torch share one
  permutation per epoch; ferroprop and scikit-learn shuffle with their own seeded generators.
  The BatchNorm/Dropout stack starts everywhere from ferroprop's initial ``state_dict()``.
* Samples per epoch: ferroprop, NumPy, scikit-learn and torch train the last partial batch;
  JAX's ``lax.scan`` needs equal batches and drops it. Throughput is per sample processed.
* Peers: the NumPy reference is a plain forward/backward/SGD loop (``X[idx]`` gather,
  ``A.T @ G`` weight gradients), JAX runs the whole epoch as one ``jit`` of ``lax.scan``,
  scikit-learn times ``MLPClassifier.fit`` with ``max_iter=1`` (input validation included, as a
  user pays it), torch is eager ``nn.Sequential`` + ``optim.SGD``. For the BatchNorm/Dropout
  stack JAX's step computes batch statistics, updates the running ones as torch does and draws
  its dropout masks with ``jax.random`` from a key per step; torch uses ``BatchNorm1d`` and
  ``Dropout`` in training mode.
* Threads: OpenBLAS gets 2 threads at start-up (set here before NumPy loads). OpenBLAS with 2
  threads is often slower than with 1 at these small shapes, so the NumPy, scikit-learn and torch
  peers run with both 1 and 2 threads (``--peer-threads``) and each ratio uses the peer's faster
  setting, marked ``(1t)``/``(2t)``; a setting below half the speed of the other after two
  repetitions is not timed further (it cannot win, and a collapsed OpenBLAS would dominate the
  run time). JAX/XLA uses all visible cores.
* Correctness, so that a fast wrong answer cannot pass: (1) fixed-order runs
  (``fit(shuffle=False)`` against the same batches in every peer, from the same weights,
  partial last batch included) at every batch size and both widths: in float32 every
  implementation must agree with the NumPy reference to ``--loss-rtol`` (epoch mean loss, loss
  on a fixed subset) and ``--param-atol`` (every parameter; ReLU units sitting at zero let fp32
  runs drift apart a little), and in float64 ferroprop (2 and 1 threads) must agree with it to
  1e-8. (2) After the timed epochs (different shuffles, so only similar losses are expected)
  ferroprop's mean loss over its last epoch must not exceed the worst peer's by more than
  ``--trained-rtol`` (4x that at batch 1, where lr 0.1 keeps SGD chaotic), and the loss of its
  final parameters on a fixed subset not by more than 50 % (a "did it train at all" check: that
  loss varies by up to ~25 % between shuffles). (3) ``predict`` outputs must match NumPy's.
  (4) The BatchNorm/Dropout stack draws different dropout masks in every implementation, so it
  has no fixed-order run: it gets check (2) (the subset loss in evaluation mode, from each
  implementation's state dict), and ferroprop's evaluation-mode ``forward`` on 2,000 rows must
  match a NumPy float64 forward of its own ``state_dict()`` to 1e-4 (probabilities).
  If ferroprop fails any of these, or raises, the exit status is 1; a peer's problems are
  reported as warnings.
* Noise: this VM is shared; the report warns when the GEMM rate or the FMA peak varied by more
  than 30 %. The GEMM and the peak are measured at the start, once per repetition of the wide
  configurations (interleaved with their epochs) and at the end; the medians are reported.
"""

from __future__ import annotations

import os

# OpenBLAS sizes its thread pool once, when NumPy loads it: 2 threads must be allowed from the
# start, and are lowered per implementation with threadpoolctl.
os.environ["OPENBLAS_NUM_THREADS"] = "2"
os.environ["OMP_NUM_THREADS"] = "2"
os.environ["MKL_NUM_THREADS"] = "2"

import argparse
import contextlib
import dataclasses
import datetime
import gc
import importlib
import json
import math
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
    threadpool_info = None
    threadpool_limits = None

THREADS = 2
LR = 0.1
SETTLE_S = 0.3
SMALL = (784, 100, 10)
WIDE = (784, 512, 512, 10)
INIT_SEED = 0
EVAL_ROWS = 10_000
GEMM_N = 4096
# The BatchNorm/Dropout configuration: 784-512(BatchNorm, ReLU, Dropout)-512(same)-10, as
# `fp.Sequential`, `nn.Sequential` and a JAX function, with torch's BatchNorm1d/Dropout defaults.
BN_STACK = ("dense", "batchnorm", "relu", "dropout") * 2 + ("dense",)
BN_P = 0.2
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
BN_TITLE = "784-512(BatchNorm, ReLU, Dropout 0.2)-512(same)-10"
EVAL_FORWARD_ROWS = 2_000
EVAL_FORWARD_ATOL = 1e-4  # probabilities, ferroprop float32 against NumPy float64
PEAK_MS = 10.0  # duration of one `_core._fma_peak` call (the best of a few repetitions)
TITLE = "# ferroprop vs peers: fp32, 2 threads, Fashion-MNIST, plain SGD lr 0.1, ReLU, softmax-CE"

Params = tuple[list[np.ndarray], list[np.ndarray]]

_T0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress on stderr, so stdout stays clean markdown."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def settle() -> None:
    """Let the previous implementation's worker threads stop spinning."""
    gc.collect()
    time.sleep(SETTLE_S)


def blas_threads(n: int) -> contextlib.AbstractContextManager[Any]:
    """Limit every loaded BLAS (OpenBLAS here) to n threads inside the block."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def import_ferroprop(attempts: int = 6, wait_s: float = 10.0) -> Any:
    """Import ferroprop, retrying: it may be mid-reinstall by a concurrent rebuild."""
    for attempt in range(1, attempts + 1):
        try:
            return importlib.import_module("ferroprop")
        except (ImportError, OSError) as err:
            if attempt == attempts:
                raise
            for name in [m for m in sys.modules if m.startswith("ferroprop")]:
                del sys.modules[name]
            log(f"import ferroprop failed ({err}); retrying in {wait_s:.0f} s")
            time.sleep(wait_s)
    raise AssertionError("unreachable")


def optional_import(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - any failure means "peer not available"
        log(f"{name} not available ({type(err).__name__}: {err}); skipping it")
        return None


# ------------------------------------------------------------------------------------------------
# The NumPy reference: plain float32 forward, softmax cross-entropy, backward and SGD.
# ------------------------------------------------------------------------------------------------


def numpy_sgd_step(
    ws: list[np.ndarray], bs: list[np.ndarray], xb: np.ndarray, yb: np.ndarray, lr: float
) -> float:
    """One SGD step on the batch, in place; returns the batch's mean loss before the update."""
    acts = [xb]
    a = xb
    for w, b in zip(ws[:-1], bs[:-1], strict=True):
        a = a @ w
        a += b
        np.maximum(a, 0.0, out=a)
        acts.append(a)
    z = a @ ws[-1]
    z += bs[-1]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(yb))
    loss = float(np.mean(np.log(s[:, 0]) - z[rows, yb]))
    g = e / s  # softmax
    g[rows, yb] -= 1.0
    g /= len(yb)  # gradient of the mean loss with respect to the logits
    for layer in range(len(ws) - 1, -1, -1):
        dw = acts[layer].T @ g
        db = g.sum(axis=0)
        if layer > 0:
            g = g @ ws[layer].T
            g *= acts[layer] > 0  # ReLU'(z) = 1 where the activation is positive, else 0
        ws[layer] -= lr * dw
        bs[layer] -= lr * db
    return loss


def numpy_proba(ws: Sequence[np.ndarray], bs: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Forward pass with softmax output, in the dtype of the parameters."""
    a = x
    for w, b in zip(ws[:-1], bs[:-1], strict=True):
        a = a @ w
        a += b
        np.maximum(a, 0.0, out=a)
    z = a @ ws[-1]
    z += bs[-1]
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def eval_loss(params: Params, x64: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the parameters on x64, computed in float64."""
    ws = [np.asarray(w, dtype=np.float64) for w in params[0]]
    bs = [np.asarray(b, dtype=np.float64) for b in params[1]]
    a = x64
    for w, b in zip(ws[:-1], bs[:-1], strict=True):
        a = np.maximum(a @ w + b, 0.0)
    return logits_loss(a @ ws[-1] + bs[-1], y)


def logits_loss(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean softmax cross-entropy, accuracy) of float64 logits z against classes y."""
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    loss = float(np.mean(lse - z[np.arange(len(y)), y]))
    acc = float(np.mean(np.argmax(z, axis=1) == y))
    return loss, acc


def bn_logits(state: dict[str, np.ndarray], x64: np.ndarray) -> np.ndarray:
    """Evaluation-mode logits of the BN_STACK network from its torch-layout state dict, in
    float64: BatchNorm with the running statistics, Dropout the identity."""
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}
    a = x64
    for i, kind in enumerate(BN_STACK):
        if kind == "dense":
            a = a @ sd[f"{i}.weight"].T + sd[f"{i}.bias"]
        elif kind == "batchnorm":
            scale = sd[f"{i}.weight"] / np.sqrt(sd[f"{i}.running_var"] + BN_EPS)
            a = (a - sd[f"{i}.running_mean"]) * scale + sd[f"{i}.bias"]
        elif kind == "relu":
            a = np.maximum(a, 0.0)
    return a


def bn_sequential(fp: Any) -> Any:
    """ferroprop's BN_STACK network; seed 0 gives the initial weights every implementation of
    the configuration starts from."""
    L = fp.layers
    return fp.Sequential(
        [L.Dense(512), L.BatchNorm(), L.Activation("relu"), L.Dropout(BN_P),
         L.Dense(512), L.BatchNorm(), L.Activation("relu"), L.Dropout(BN_P),
         L.Dense(10)],
        input_dim=784, loss="cross_entropy", dtype="float32", seed=INIT_SEED,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Implementations. Each trains one network from the shared initial weights; the driver times
# run() only (prepare() does untimed per-epoch set-up such as index upload).
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class EpochData:
    """The rows one epoch visits, and the shared per-epoch permutations."""

    x: np.ndarray
    y: np.ndarray
    batch: int
    seed: int
    ordered: bool = False  # the fixed-order check: no shuffling anywhere
    _perms: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.x)

    def perm(self, epoch: int) -> np.ndarray:
        if self.ordered:
            return np.arange(self.n)
        if epoch not in self._perms:
            self._perms.clear()
            rng = np.random.default_rng([self.seed, epoch + 1])
            self._perms[epoch] = rng.permutation(self.n)
        return self._perms[epoch]


class Impl:
    """One implementation in one configuration."""

    peer = ""  # group: ferroprop, numpy, jax, sklearn, torch
    label = ""  # display name
    threads: int | None = None

    def __init__(self, data: EpochData, widths: Sequence[int], init: Params) -> None:
        self.data = data
        self.widths = tuple(widths)
        self.init = init
        self.last_loss = math.nan  # mean training loss of the last epoch run

    @property
    def name(self) -> str:
        return f"{self.label} ({self.threads}t)" if self.threads else self.label

    def thread_context(self) -> contextlib.AbstractContextManager[Any]:
        return blas_threads(self.threads or THREADS)

    def reset(self) -> None:
        raise NotImplementedError

    def warmup(self) -> None:
        """Run something representative once (untimed), then reset."""
        self.prepare(-1)
        self.run()
        self.reset()

    def prepare(self, epoch: int) -> None:
        self.epoch = epoch

    def run(self) -> int:
        """Train one epoch; returns the number of samples processed."""
        raise NotImplementedError

    def params(self) -> Params:
        raise NotImplementedError

    def evaluate(self, x64: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss, accuracy) of the trained network on x64, in float64 and evaluation mode."""
        return eval_loss(self.params(), x64, y)

    def extra_checks(self, x64: np.ndarray) -> dict[str, float]:
        """Further numbers to judge the trained network by (see BnStack)."""
        return {}


class FerropropImpl(Impl):
    peer = "ferroprop"
    label = "ferroprop"

    def __init__(
        self,
        fp: Any,
        data: EpochData,
        widths: Sequence[int],
        init: Params,
        threads: int,
        dtype: str = "float32",
    ) -> None:
        super().__init__(data, widths, init)
        self.fp = fp
        self.threads = threads
        self.net = fp.Network(list(widths), activation="relu", loss="cross_entropy", dtype=dtype)
        self.reset()

    @contextlib.contextmanager
    def thread_context(self) -> Iterator[None]:
        self.fp.set_num_threads(self.threads)
        try:
            yield
        finally:
            self.fp.set_num_threads(THREADS)

    def reset(self) -> None:
        self.net.set_parameters(*self.init)

    def warmup(self) -> None:
        rows = min(self.data.n, 16 * self.data.batch)
        self.net.fit(
            self.data.x[:rows],
            self.data.y[:rows],
            epochs=1,
            batch_size=self.data.batch,
            optimizer=self.fp.SGD(lr=LR),
            shuffle=True,
            seed=0,
        )
        self.reset()

    def run(self) -> int:
        hist = self.net.fit(
            self.data.x,
            self.data.y,
            epochs=1,
            batch_size=self.data.batch,
            optimizer=self.fp.SGD(lr=LR),
            shuffle=not self.data.ordered,
            seed=self.epoch + 1,
        )
        self.last_loss = float(hist.loss[-1])
        return self.data.n

    def params(self) -> Params:
        return self.net.weights, self.net.biases


class NumpyImpl(Impl):
    peer = "numpy"
    label = "NumPy ref"

    def __init__(self, data: EpochData, widths: Sequence[int], init: Params, threads: int) -> None:
        super().__init__(data, widths, init)
        self.threads = threads
        self.reset()

    def reset(self) -> None:
        self.ws = [w.copy() for w in self.init[0]]
        self.bs = [b.copy() for b in self.init[1]]

    def warmup(self) -> None:
        perm, bsz = self.data.perm(-1), self.data.batch
        for start in range(0, min(self.data.n, 16 * bsz), bsz):
            idx = perm[start : start + bsz]
            numpy_sgd_step(self.ws, self.bs, self.data.x[idx], self.data.y[idx], LR)
        self.reset()

    def prepare(self, epoch: int) -> None:
        self.perm = self.data.perm(epoch)

    def run(self) -> int:
        x, y, perm, bsz = self.data.x, self.data.y, self.perm, self.data.batch
        total = 0.0
        for start in range(0, len(perm), bsz):
            idx = perm[start : start + bsz]
            total += numpy_sgd_step(self.ws, self.bs, x[idx], y[idx], LR) * len(idx)
        self.last_loss = total / len(perm)
        return len(perm)

    def params(self) -> Params:
        return self.ws, self.bs


_JAX_FNS: dict[str, Any] = {}


def jax_functions(jax: Any) -> dict[str, Any]:
    """Jitted SGD step and whole-epoch lax.scan, built once (jit caches per shape)."""
    if _JAX_FNS:
        return _JAX_FNS
    jnp = jax.numpy

    def loss_fn(params: Any, xb: Any, yb: Any) -> Any:
        a = xb
        for w, b in params[:-1]:
            a = jax.nn.relu(a @ w + b)
        w, b = params[-1]
        z = a @ w + b
        picked = jnp.take_along_axis(z, yb[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - picked)

    def step(params: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        params = jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads)
        return params, loss

    def epoch(params: Any, x: Any, y: Any, idx: Any) -> tuple[Any, Any]:
        def body(p: Any, batch_idx: Any) -> tuple[Any, Any]:
            return step(p, x[batch_idx], y[batch_idx])

        return jax.lax.scan(body, params, idx)

    _JAX_FNS.update(step=jax.jit(step), epoch=jax.jit(epoch))
    return _JAX_FNS


class JaxImpl(Impl):
    peer = "jax"
    label = "JAX scan"

    def __init__(self, jax: Any, data: EpochData, widths: Sequence[int], init: Params) -> None:
        super().__init__(data, widths, init)
        self.jax = jax
        self.fns = jax_functions(jax)
        self.xd = jax.device_put(data.x)
        self.yd = jax.device_put(data.y.astype(np.int32))
        self.n_full = data.n // data.batch * data.batch
        self.reset()

    def thread_context(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def reset(self) -> None:
        self.p = tuple(
            (self.jax.device_put(w), self.jax.device_put(b))
            for w, b in zip(*self.init, strict=True)
        )

    def prepare(self, epoch: int) -> None:
        perm = self.data.perm(epoch).astype(np.int32)
        bsz = self.data.batch
        self.idx = self.jax.device_put(perm[: self.n_full].reshape(-1, bsz))
        # The fixed-order check also trains the partial batch, with one extra jitted step.
        self.rest = perm[self.n_full :] if self.data.ordered else perm[:0]
        self.jax.block_until_ready(self.idx)

    def run(self) -> int:
        self.p, losses = self.fns["epoch"](self.p, self.xd, self.yd, self.idx)
        total = float(np.sum(np.asarray(losses))) * self.data.batch
        n = self.n_full
        if len(self.rest):
            self.p, loss = self.fns["step"](self.p, self.xd[self.rest], self.yd[self.rest])
            total += float(loss) * len(self.rest)
            n += len(self.rest)
        self.jax.block_until_ready(self.p)
        self.last_loss = total / n
        return n

    def params(self) -> Params:
        return [np.asarray(w) for w, _ in self.p], [np.asarray(b) for _, b in self.p]


class SklearnImpl(Impl):
    peer = "sklearn"
    label = "sklearn"

    def __init__(
        self, mlp_cls: Any, data: EpochData, widths: Sequence[int], init: Params, threads: int
    ) -> None:
        super().__init__(data, widths, init)
        self.mlp_cls = mlp_cls
        self.threads = threads
        self.reset()

    def reset(self) -> None:
        self.clf = self.mlp_cls(
            hidden_layer_sizes=self.widths[1:-1],
            activation="relu",
            solver="sgd",
            learning_rate="constant",
            learning_rate_init=LR,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            batch_size=self.data.batch,
            max_iter=1,
            shuffle=not self.data.ordered,
            random_state=np.random.RandomState(self.data.seed),
            warm_start=True,
        )
        # A first fit on one row per class builds the layers (float32, like X); then the shared
        # initial weights replace sklearn's own, and warm_start keeps them for the next fit.
        classes = np.unique(self.data.y)
        rows = np.array([np.flatnonzero(self.data.y == c)[0] for c in classes])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.fit(self.data.x[rows], self.data.y[rows])
        self.clf.coefs_ = [w.copy() for w in self.init[0]]
        self.clf.intercepts_ = [b.copy() for b in self.init[1]]

    def warmup(self) -> None:
        pass  # reset() already ran a fit

    def run(self) -> int:
        self.clf.fit(self.data.x, self.data.y)
        self.last_loss = float(self.clf.loss_)
        return self.data.n

    def params(self) -> Params:
        return list(self.clf.coefs_), list(self.clf.intercepts_)


class TorchImpl(Impl):
    peer = "torch"
    label = "torch eager"

    def __init__(
        self, torch: Any, data: EpochData, widths: Sequence[int], init: Params, threads: int
    ) -> None:
        super().__init__(data, widths, init)
        self.torch = torch
        self.threads = threads
        self.xt = torch.from_numpy(data.x)
        self.yt = torch.from_numpy(data.y)
        self.reset()

    @contextlib.contextmanager
    def thread_context(self) -> Iterator[None]:
        saved = self.torch.get_num_threads()
        self.torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            self.torch.set_num_threads(saved)

    def reset(self) -> None:
        nn = self.torch.nn
        layers: list[Any] = []
        for w, b in zip(*self.init, strict=True):
            lin = nn.Linear(w.shape[0], w.shape[1])
            with self.torch.no_grad():
                lin.weight.copy_(self.torch.from_numpy(np.ascontiguousarray(w.T)))
                lin.bias.copy_(self.torch.from_numpy(b))
            layers += [lin, nn.ReLU()]
        self.model = nn.Sequential(*layers[:-1])
        self.opt = self.torch.optim.SGD(self.model.parameters(), lr=LR)

    def prepare(self, epoch: int) -> None:
        self.perm = self.torch.from_numpy(self.data.perm(epoch))

    def warmup(self) -> None:
        self.prepare(-1)
        self.perm = self.perm[: 16 * self.data.batch]
        self.run()
        self.reset()

    def run(self) -> int:
        ce = self.torch.nn.functional.cross_entropy
        bsz, losses = self.data.batch, []
        for start in range(0, len(self.perm), bsz):
            idx = self.perm[start : start + bsz]
            self.opt.zero_grad(set_to_none=True)
            loss = ce(self.model(self.xt[idx]), self.yt[idx])
            loss.backward()
            self.opt.step()
            losses.append((loss.detach(), len(idx)))
        self.last_loss = sum(float(v) * k for v, k in losses) / len(self.perm)
        return len(self.perm)

    def params(self) -> Params:
        lins = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
        ws = [m.weight.detach().numpy().T.copy() for m in lins]
        return ws, [m.bias.detach().numpy().copy() for m in lins]


# ------------------------------------------------------------------------------------------------
# The BatchNorm/Dropout configuration. Every implementation starts from ferroprop's initial
# state dict (torch layout) and is evaluated from its own state dict in evaluation mode; their
# dropout masks differ, so their parameters are not compared.
# ------------------------------------------------------------------------------------------------


class BnStack:
    """What the BN_STACK implementations share: their starting state and their evaluation."""

    init_state: dict[str, np.ndarray]

    def state(self) -> dict[str, np.ndarray]:
        """The trained network as a torch-layout state dict."""
        raise NotImplementedError

    def evaluate(self, x64: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        return logits_loss(bn_logits(self.state(), x64), y)

    def extra_checks(self, x64: np.ndarray) -> dict[str, float]:
        return {}


class FerropropBnImpl(BnStack, FerropropImpl):
    """`fp.Sequential` of BN_STACK, trained by `fit` like FerropropImpl."""

    def __init__(
        self, fp: Any, data: EpochData, state: dict[str, np.ndarray], threads: int
    ) -> None:
        Impl.__init__(self, data, WIDE, ([], []))
        self.fp = fp
        self.threads = threads
        self.init_state = state
        self.net = bn_sequential(fp)
        self.reset()

    def reset(self) -> None:
        self.net.load_state_dict(self.init_state)

    def state(self) -> dict[str, np.ndarray]:
        return self.net.state_dict()

    def extra_checks(self, x64: np.ndarray) -> dict[str, float]:
        """ferroprop's own evaluation-mode forward (float32) against a NumPy float64 forward of
        its state dict: the largest probability difference."""
        x = x64[:EVAL_FORWARD_ROWS]
        probs = self.net.forward(x.astype(np.float32))
        z = bn_logits(self.state(), x)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        ref = z / z.sum(axis=1, keepdims=True)
        return {"eval_forward_max_abs_diff": float(np.max(np.abs(probs - ref)))}


_JAX_BN_FNS: dict[str, Any] = {}


def jax_bn_functions(jax: Any) -> dict[str, Any]:
    """The jitted whole-epoch lax.scan of BN_STACK: BatchNorm in training mode (batch statistics,
    running statistics updated as torch does), inverted dropout from a key per step."""
    if _JAX_BN_FNS:
        return _JAX_BN_FNS
    jnp = jax.numpy

    def loss_fn(params: Any, stats: Any, xb: Any, yb: Any, key: Any) -> tuple[Any, Any]:
        a, new_stats = xb, []
        for (w, b), (g, beta), (mean_run, var_run) in zip(
            params["dense"][:-1], params["bn"], stats, strict=True
        ):
            z = a @ w + b
            mean, var = jnp.mean(z, axis=0), jnp.var(z, axis=0)  # biased, to normalise
            z = (z - mean) * jax.lax.rsqrt(var + BN_EPS) * g + beta
            n = z.shape[0]
            new_stats.append(
                (
                    (1 - BN_MOMENTUM) * mean_run + BN_MOMENTUM * mean,
                    (1 - BN_MOMENTUM) * var_run + BN_MOMENTUM * var * (n / (n - 1)),
                )
            )
            a = jax.nn.relu(z)
            key, sub = jax.random.split(key)
            keep = jax.random.bernoulli(sub, 1.0 - BN_P, a.shape)
            a = jnp.where(keep, a / (1.0 - BN_P), 0.0)
        w, b = params["dense"][-1]
        z = a @ w + b
        picked = jnp.take_along_axis(z, yb[:, None], axis=1)[:, 0]
        loss = jnp.mean(jax.nn.logsumexp(z, axis=1) - picked)
        return loss, tuple(jax.lax.stop_gradient(s) for s in new_stats)

    def step(carry: Any, xb: Any, yb: Any, key: Any) -> tuple[Any, Any]:
        params, stats = carry
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, stats), grads = grad_fn(params, stats, xb, yb, key)
        params = jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads)
        return (params, stats), loss

    def epoch(carry: Any, x: Any, y: Any, idx: Any, keys: Any) -> tuple[Any, Any]:
        def body(c: Any, xs: Any) -> tuple[Any, Any]:
            batch_idx, key = xs
            return step(c, x[batch_idx], y[batch_idx], key)

        return jax.lax.scan(body, carry, (idx, keys))

    _JAX_BN_FNS.update(epoch=jax.jit(epoch))
    return _JAX_BN_FNS


class JaxBnImpl(BnStack, Impl):
    peer = "jax"
    label = "JAX scan"

    def __init__(self, jax: Any, data: EpochData, state: dict[str, np.ndarray]) -> None:
        super().__init__(data, WIDE, ([], []))
        self.jax = jax
        self.init_state = state
        self.fns = jax_bn_functions(jax)
        self.xd = jax.device_put(data.x)
        self.yd = jax.device_put(data.y.astype(np.int32))
        self.n_full = data.n // data.batch * data.batch
        self.reset()

    def thread_context(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def reset(self) -> None:
        sd, put = self.init_state, self.jax.device_put
        dense = [i for i, k in enumerate(BN_STACK) if k == "dense"]
        bns = [i for i, k in enumerate(BN_STACK) if k == "batchnorm"]
        params = {
            "dense": tuple(
                (put(np.ascontiguousarray(sd[f"{i}.weight"].T)), put(sd[f"{i}.bias"]))
                for i in dense
            ),
            "bn": tuple((put(sd[f"{i}.weight"]), put(sd[f"{i}.bias"])) for i in bns),
        }
        stats = tuple((put(sd[f"{i}.running_mean"]), put(sd[f"{i}.running_var"])) for i in bns)
        self.carry = (params, stats)

    def prepare(self, epoch: int) -> None:
        perm = self.data.perm(epoch).astype(np.int32)
        idx = perm[: self.n_full].reshape(-1, self.data.batch)
        self.idx = self.jax.device_put(idx)
        self.keys = self.jax.random.split(self.jax.random.key(epoch + 1), len(idx))
        self.jax.block_until_ready((self.idx, self.keys))

    def run(self) -> int:
        self.carry, losses = self.fns["epoch"](self.carry, self.xd, self.yd, self.idx, self.keys)
        self.jax.block_until_ready(self.carry)
        self.last_loss = float(np.mean(np.asarray(losses)))
        return self.n_full

    def state(self) -> dict[str, np.ndarray]:
        (params, stats), sd = self.carry, {}
        dense = [i for i, k in enumerate(BN_STACK) if k == "dense"]
        bns = [i for i, k in enumerate(BN_STACK) if k == "batchnorm"]
        for i, (w, b) in zip(dense, params["dense"], strict=True):
            sd[f"{i}.weight"], sd[f"{i}.bias"] = np.asarray(w).T, np.asarray(b)
        for i, (g, beta), (mean, var) in zip(bns, params["bn"], stats, strict=True):
            sd[f"{i}.weight"], sd[f"{i}.bias"] = np.asarray(g), np.asarray(beta)
            sd[f"{i}.running_mean"], sd[f"{i}.running_var"] = np.asarray(mean), np.asarray(var)
        return sd


class TorchBnImpl(BnStack, TorchImpl):
    """Eager `nn.Sequential` of Linear/BatchNorm1d/ReLU/Dropout in training mode."""

    def __init__(
        self, torch: Any, data: EpochData, state: dict[str, np.ndarray], threads: int
    ) -> None:
        self.init_state = state
        super().__init__(torch, data, WIDE, ([], []), threads)

    def reset(self) -> None:
        nn = self.torch.nn
        kinds = {
            "dense": lambda i: nn.Linear(*self.init_state[f"{i}.weight"].shape[::-1]),
            "batchnorm": lambda i: nn.BatchNorm1d(len(self.init_state[f"{i}.weight"])),
            "relu": lambda i: nn.ReLU(),
            "dropout": lambda i: nn.Dropout(BN_P),
        }
        self.model = nn.Sequential(*(kinds[k](i) for i, k in enumerate(BN_STACK)))
        self.model.load_state_dict(
            {k: self.torch.from_numpy(np.array(v)) for k, v in self.init_state.items()}
        )
        self.model.train()
        self.opt = self.torch.optim.SGD(self.model.parameters(), lr=LR)

    def state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}


# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Config:
    key: str
    widths: tuple[int, ...]
    batch: int
    rows: int  # training rows per epoch
    stack: str = "plain"  # "plain": Dense+ReLU (every peer); "bn": BN_STACK (ferroprop, JAX, torch)

    @property
    def title(self) -> str:
        if self.stack == "bn":
            return f"{BN_TITLE} B={self.batch}"
        return f"{'-'.join(map(str, self.widths))} B={self.batch}"

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.widths[:-1], self.widths[1:], strict=True))


@dataclasses.dataclass
class Peers:
    fp: Any
    jax: Any | None
    mlp_cls: Any | None
    torch: Any | None
    peer_threads: tuple[int, ...]

    def build(
        self, data: EpochData, widths: Sequence[int], init: Params, fp_threads: Sequence[int]
    ) -> list[Impl]:
        impls: list[Impl] = [FerropropImpl(self.fp, data, widths, init, t) for t in fp_threads]
        impls += [NumpyImpl(data, widths, init, t) for t in self.peer_threads]
        if self.jax is not None:
            impls.append(JaxImpl(self.jax, data, widths, init))
        if self.mlp_cls is not None:
            impls += [SklearnImpl(self.mlp_cls, data, widths, init, t) for t in self.peer_threads]
        if self.torch is not None:
            impls += [TorchImpl(self.torch, data, widths, init, t) for t in self.peer_threads]
        return impls

    def build_bn(
        self, data: EpochData, state: dict[str, np.ndarray], fp_threads: Sequence[int]
    ) -> list[Impl]:
        """The BN_STACK implementations: ferroprop, JAX and torch (NumPy and sklearn have none)."""
        impls: list[Impl] = [FerropropBnImpl(self.fp, data, state, t) for t in fp_threads]
        if self.jax is not None:
            impls.append(JaxBnImpl(self.jax, data, state))
        if self.torch is not None:
            impls += [TorchBnImpl(self.torch, data, state, t) for t in self.peer_threads]
        return impls


def initial_params(fp: Any, widths: Sequence[int]) -> Params:
    net = fp.Network(list(widths), activation="relu", loss="cross_entropy", seed=INIT_SEED)
    return net.weights, net.biases


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def max_param_diff(p: Params, q: Params) -> float:
    pairs = list(zip(p[0] + p[1], q[0] + q[1], strict=True))
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - b))) for a, b in pairs)


CHECK_PLAN = [  # widths, batch, full batches, rows in the partial last batch
    (SMALL, 1, 300, 0),
    (SMALL, 16, 150, 5),
    (SMALL, 64, 200, 17),
    (SMALL, 256, 40, 100),
    (WIDE, 256, 20, 37),
    (WIDE, 1024, 6, 300),
]
F64_TOL = 1e-8  # float64 runs: relative loss and absolute parameter tolerance
# A peer's thread setting that is below half the speed of its other setting after PRUNE_AFTER
# repetitions stops being timed (it cannot become the peer's best; OpenBLAS with 2 threads can
# be 5x slower than with 1 at these shapes on a busy machine, and would dominate the run time).
PRUNE_AFTER = 2
PRUNE_BELOW = 0.5
SUBSET_SLACK = 0.5  # see judge()


def guarded_run(impl: Impl) -> str | None:
    """impl.run(); an error message instead of an exception (a Rust panic included)."""
    try:
        impl.run()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # pyo3's PanicException derives from BaseException
        return f"{type(err).__name__}: {err}"
    return None


def compare_ordered(
    title: str, impls: list[Impl], x_eval: np.ndarray, y_eval: np.ndarray, rtol: float, atol: float
) -> dict[str, Any]:
    """Run each implementation once over the same ordered batches; compare with NumPy's."""
    runs = []
    for impl in impls:
        with impl.thread_context():
            impl.prepare(0)
            err = guarded_run(impl)
        runs.append((impl, err, None if err else impl.params()))
    ref_impl, ref_err, ref_params = next(r for r in runs if r[0].peer == "numpy")
    if ref_err or ref_params is None:
        raise RuntimeError(f"{title}: the NumPy reference failed: {ref_err}")
    ref_eval = eval_loss(ref_params, x_eval, y_eval)[0]
    results = []
    for impl, err, params in runs:
        row: dict[str, Any] = {"impl": impl.name, "peer": impl.peer, "error": err, "ok": False}
        if params is not None:
            ev = eval_loss(params, x_eval, y_eval)[0]
            # sklearn's loss_ clips probabilities at eps, so its epoch loss is not comparable.
            d_epoch = None if impl.peer == "sklearn" else rel(impl.last_loss, ref_impl.last_loss)
            row |= {
                "epoch_loss": impl.last_loss,
                "eval_loss": ev,
                "epoch_loss_rel_diff": d_epoch,
                "eval_loss_rel_diff": rel(ev, ref_eval),
                "max_abs_param_diff": max_param_diff(params, ref_params),
            }
            row["ok"] = bool(
                (d_epoch is None or d_epoch <= rtol)
                and row["eval_loss_rel_diff"] <= rtol
                and row["max_abs_param_diff"] <= atol
            )
        results.append(row)
    log(
        f"check {title}: "
        + ", ".join(f"{r['impl']} {r.get('eval_loss', math.nan):.6f}" for r in results)
    )
    return {"title": title, "loss_rtol": rtol, "param_atol": atol, "results": results}


def run_checks(
    peers: Peers, x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, args: Any
) -> list[dict[str, Any]]:
    """Fixed-order training: every implementation sees the same batches from the same weights.

    float32: every implementation, judged at --loss-rtol / --param-atol (ReLU units that sit at
    zero can flip between implementations, so fp32 runs drift apart a little). float64:
    ferroprop against the NumPy reference, where the drift is ~1e-15, judged at F64_TOL.
    """
    scale = 0.5 if args.quick else 1.0
    check_peers = dataclasses.replace(peers, peer_threads=(1,))
    out = []
    for widths, bsz, n_batches, partial in CHECK_PLAN:
        n = max(2, int(n_batches * scale)) * bsz + partial
        title = f"{'-'.join(map(str, widths))} B={bsz}, {n} rows"
        init = initial_params(peers.fp, widths)
        data = EpochData(x[:n], y[:n], bsz, seed=args.seed, ordered=True)
        impls = check_peers.build(data, widths, init, fp_threads=(THREADS, 1))
        out.append(
            compare_ordered(
                f"{title}, float32", impls, x_eval, y_eval, args.loss_rtol, args.param_atol
            )
        )
        init64 = ([w.astype(np.float64) for w in init[0]], [b.astype(np.float64) for b in init[1]])
        data64 = EpochData(x[:n].astype(np.float64), y[:n], bsz, seed=args.seed, ordered=True)
        impls = [
            FerropropImpl(peers.fp, data64, widths, init64, t, dtype="float64")
            for t in (THREADS, 1)
        ]
        impls.append(NumpyImpl(data64, widths, init64, 1))
        out.append(compare_ordered(f"{title}, float64", impls, x_eval, y_eval, F64_TOL, F64_TOL))
    return out


class GemmProbe:
    """The large-GEMM rate: numpy float32 GEMM_N^3 with THREADS OpenBLAS threads, in GFLOPS."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
        self.b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
        self.c = np.empty_like(self.a)
        self.runs: dict[str, list[float]] = {}
        with blas_threads(THREADS):
            np.matmul(self.a, self.b, out=self.c)  # warm-up: thread pool, page faults

    def measure(self, when: str, reps: int = 1) -> list[float]:
        out = []
        with blas_threads(THREADS):
            for _ in range(reps):
                settle()
                t0 = time.perf_counter()
                np.matmul(self.a, self.b, out=self.c)
                out.append(2 * GEMM_N**3 / (time.perf_counter() - t0) / 1e9)
        self.runs.setdefault(when, []).extend(out)
        return out

    @property
    def all_runs(self) -> list[float]:
        return [g for runs in self.runs.values() for g in runs]


class PeakProbe:
    """This run's fp32 FMA peak in GFLOPS: ferroprop's `_core._fma_peak` microbench (independent
    `vfmadd` chains on the kernels' SIMD path, best of a few repetitions in PEAK_MS ms), on one
    thread, and on two at once (two Python threads; it releases the GIL), summed."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.runs: dict[int, dict[str, list[float]]] = {1: {}, THREADS: {}}
        self.core._fma_peak(PEAK_MS)  # warm-up: page in the code, let the clock ramp up

    def measure(self, when: str) -> tuple[float, float]:
        """(1-thread, THREADS-thread) peak now, after the usual settling sleep."""
        settle()
        one = self.core._fma_peak(PEAK_MS)
        settle()
        results = [0.0] * THREADS
        start = threading.Barrier(THREADS)

        def member(i: int) -> None:
            start.wait()
            results[i] = self.core._fma_peak(PEAK_MS)

        team = [threading.Thread(target=member, args=(i,)) for i in range(THREADS)]
        for t in team:
            t.start()
        for t in team:
            t.join()
        both = sum(results)
        self.runs[1].setdefault(when, []).append(one)
        self.runs[THREADS].setdefault(when, []).append(both)
        return one, both

    def all_runs(self, threads: int) -> list[float]:
        return [g for runs in self.runs[threads].values() for g in runs]

    def median(self, threads: int) -> float:
        return statistics.median(self.all_runs(threads))


def time_training(
    cfg: Config,
    peers: Peers,
    data_xy: tuple[np.ndarray, np.ndarray],
    eval_xy: tuple[np.ndarray, np.ndarray],
    repeats: int,
    seed: int,
    gemm: GemmProbe | None = None,
    peak: PeakProbe | None = None,
) -> dict[str, Any]:
    """Time `repeats` interleaved epochs of every implementation (and one GEMM and one FMA-peak
    measurement per repetition when `gemm` / `peak` are given), then evaluate each one's trained
    parameters on `eval_xy`."""
    data = EpochData(data_xy[0][: cfg.rows], data_xy[1][: cfg.rows], cfg.batch, seed=seed)
    if cfg.stack == "bn":
        impls = peers.build_bn(data, bn_sequential(peers.fp).state_dict(), (THREADS, 1))
    else:
        init = initial_params(peers.fp, cfg.widths)
        impls = peers.build(data, cfg.widths, init, fp_threads=(THREADS, 1))
    errors: dict[str, str] = {}
    log(f"{cfg.title}: warming up {', '.join(i.name for i in impls)}")
    for impl in impls:
        with impl.thread_context():
            try:
                impl.warmup()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as err:  # pyo3's PanicException derives from BaseException
                errors[impl.name] = f"warm-up: {type(err).__name__}: {err}"
    times: dict[str, list[float]] = {i.name: [] for i in impls}
    samples: dict[str, int] = {}
    pruned: set[str] = set()
    for rep in range(repeats):
        order = impls[rep % len(impls) :] + impls[: rep % len(impls)]
        for impl in order:
            if impl.name in errors or impl.name in pruned:
                continue
            with impl.thread_context():
                impl.prepare(rep)
                settle()
                t0 = time.perf_counter()
                try:
                    samples[impl.name] = impl.run()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as err:  # a DivergenceError, a Rust panic, ...
                    errors[impl.name] = f"epoch {rep + 1}: {type(err).__name__}: {err}"
                    log(f"{cfg.title}: {impl.name} failed: {errors[impl.name]}")
                    continue
                times[impl.name].append(time.perf_counter() - t0)
        line = ", ".join(
            f"{i.name} {samples[i.name] / times[i.name][-1]:,.0f}/s"
            for i in impls
            if i.name not in errors
        )
        if gemm is not None:
            line += f"; GEMM {gemm.measure('interleaved')[0]:.0f} GFLOPS"
        if peak is not None:
            one, both = peak.measure("interleaved")
            line += f"; FMA peak {one:.0f} (1t) / {both:.0f} ({THREADS}t) GFLOPS"
        log(f"{cfg.title} rep {rep + 1}/{repeats}: {line}")
        if rep + 1 == PRUNE_AFTER < repeats:
            pruned = slow_variants(impls, samples, times, errors)
            if pruned:
                log(f"{cfg.title}: no longer timing {', '.join(sorted(pruned))} (< half the speed)")
    result: dict[str, Any] = {
        "title": cfg.title,
        "stack": cfg.stack,
        "widths": list(cfg.widths),
        "batch": cfg.batch,
        "rows_per_epoch": cfg.rows,
        "n_weights": cfg.n_weights,
        "epochs_trained": repeats,
        "impls": {},
    }
    for impl in impls:
        entry: dict[str, Any] = {
            "peer": impl.peer,
            "threads": impl.threads,
            "median": math.nan,
            "pruned": impl.name in pruned,
        }
        if impl.name in errors:
            entry["error"] = errors[impl.name]
        else:
            n = samples[impl.name]
            rates = [n / t for t in times[impl.name]]
            loss, acc = impl.evaluate(*eval_xy)
            entry |= {
                "samples_per_epoch": n,
                "seconds": times[impl.name],
                "samples_per_s": rates,
                "median": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
                "us_per_step": statistics.median(times[impl.name]) / math.ceil(n / cfg.batch) * 1e6,
                "last_epoch_loss": impl.last_loss,
                "subset_loss": loss,
                "subset_accuracy": acc,
            }
            entry |= impl.extra_checks(eval_xy[0])
        result["impls"][impl.name] = entry
    return result


def slow_variants(
    impls: list[Impl],
    samples: dict[str, int],
    times: dict[str, list[float]],
    errors: dict[str, str],
) -> set[str]:
    """Names of peer thread settings slower than PRUNE_BELOW x the same peer's fastest."""
    medians = {
        i.name: statistics.median(samples[i.name] / t for t in times[i.name])
        for i in impls
        if i.name not in errors and times[i.name]
    }
    slow = set()
    for peer in {i.peer for i in impls if i.peer != "ferroprop"}:
        mine = [medians[i.name] for i in impls if i.peer == peer and i.name in medians]
        for i in impls:
            if i.peer == peer and i.name in medians and medians[i.name] < PRUNE_BELOW * max(mine):
                slow.add(i.name)
    return slow


def best_of(result: dict[str, Any], peer: str) -> tuple[str, dict[str, Any]] | None:
    """The peer's fastest thread setting in this configuration (by median)."""
    cands = [
        (k, v)
        for k, v in result["impls"].items()
        if v["peer"] == peer and math.isfinite(v["median"])
    ]
    return max(cands, key=lambda kv: kv[1]["median"]) if cands else None


def time_calls(fn: Callable[[], Any], calls: int, warm: int) -> np.ndarray:
    """Per-call wall time in µs, each call timed on its own."""
    for _ in range(warm):
        fn()
    out = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out / 1e3


def measure_predict(
    peers: Peers, x_test: np.ndarray, y_test: np.ndarray, args: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Single-row latency and 10k-row batch time, every implementation on the same weights."""
    fp = peers.fp
    net = fp.Network(list(SMALL), activation="relu", loss="cross_entropy", seed=INIT_SEED)
    # Train briefly so the outputs are not near-uniform (any fixed weights would do).
    net.fit(x_test[:2000], y_test[:2000], epochs=1, batch_size=64, optimizer=fp.SGD(lr=LR), seed=0)
    ws, bs = net.weights, net.biases
    row = np.ascontiguousarray(x_test[:1])
    cands: list[tuple[str, Callable[[], Any], Callable[[], contextlib.AbstractContextManager[Any]]]]
    cands = [
        ("ferroprop predict", lambda: net.predict(row), contextlib.nullcontext),
        ("ferroprop forward (probabilities)", lambda: net.forward(row), contextlib.nullcontext),
    ]
    for t in peers.peer_threads:
        cands.append((f"NumPy forward+softmax ({t}t)", lambda: numpy_proba(ws, bs, row), _bt(t)))
    if peers.mlp_cls is not None:
        clf = SklearnImpl(
            peers.mlp_cls, EpochData(x_test[:100], y_test[:100], 64, 0), SMALL, (ws, bs), 1
        ).clf
        for t in peers.peer_threads:
            cands.append((f"sklearn predict_proba ({t}t)", lambda: clf.predict_proba(row), _bt(t)))
    if peers.torch is not None:
        torch = peers.torch
        timpl = TorchImpl(torch, EpochData(x_test[:1], y_test[:1], 1, 0), SMALL, (ws, bs), 1)
        model = timpl.model

        def torch_proba() -> np.ndarray:
            with torch.inference_mode():
                return torch.softmax(model(torch.from_numpy(row)), dim=1).numpy()

        for t in peers.peer_threads:
            cands.append(
                (f"torch eager, numpy in/out ({t}t)", torch_proba, _torch_threads(torch, t))
            )
    # Every implementation must give the same probabilities.
    ref = numpy_proba(ws, bs, row)
    agree = {}
    for name, fn, ctx in cands:
        with ctx():
            out = fn()
        if "predict" in name and "proba" not in name:
            agree[name] = float(int(out[0]) != int(np.argmax(ref)))
        else:
            agree[name] = float(np.max(np.abs(np.asarray(out, np.float64) - ref)))
    per_round: dict[str, list[float]] = {name: [] for name, _, _ in cands}
    p90: dict[str, list[float]] = {name: [] for name, _, _ in cands}
    for _ in range(args.latency_rounds):
        for name, fn, ctx in cands:
            with ctx():
                settle()
                us = time_calls(fn, args.latency_calls, warm=200)
            per_round[name].append(float(np.median(us)))
            p90[name].append(float(np.percentile(us, 90)))
    single = {
        name: {
            "median_us": statistics.median(per_round[name]),
            "p90_us": statistics.median(p90[name]),
            "round_medians_us": per_round[name],
            "max_abs_diff_vs_numpy": agree[name],
        }
        for name, _, _ in cands
    }
    log("predict 1 row: " + ", ".join(f"{k} {v['median_us']:.1f} µs" for k, v in single.items()))

    # 10k rows: ferroprop forward vs the NumPy forward (float32, both thread settings).
    xb = np.ascontiguousarray(x_test[:10_000])
    batch_cands = [("ferroprop forward", lambda: net.forward(xb), contextlib.nullcontext)]
    for t in peers.peer_threads:
        batch_cands.append(
            (f"NumPy forward+softmax ({t}t)", lambda: numpy_proba(ws, bs, xb), _bt(t))
        )
    ref = numpy_proba(ws, bs, xb)
    batch: dict[str, Any] = {}
    for name, fn, ctx in batch_cands:
        with ctx():
            diff = float(np.max(np.abs(fn() - ref)))
        batch[name] = {"ms": [], "max_abs_diff_vs_numpy": diff}
    for _ in range(args.batch_predict_repeats):
        for name, fn, ctx in batch_cands:
            with ctx():
                fn()
                settle()
                t0 = time.perf_counter()
                fn()
                batch[name]["ms"].append((time.perf_counter() - t0) * 1e3)
    for v in batch.values():
        v["median_ms"] = statistics.median(v["ms"])
        v["rows"] = len(xb)
    log("predict 10k: " + ", ".join(f"{k} {v['median_ms']:.2f} ms" for k, v in batch.items()))
    return single, batch


def _bt(n: int) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    return lambda: blas_threads(n)


def _torch_threads(torch: Any, n: int) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    @contextlib.contextmanager
    def ctx() -> Iterator[None]:
        saved = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(saved)

    return ctx


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_rate(v: float) -> str:
    return f"{v:,.0f}"


def fmt_ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


@dataclasses.dataclass
class Target:
    name: str
    value: float | None
    op: str  # ">=" or "<="
    threshold: float
    unit: str = "×"

    @property
    def passed(self) -> bool | None:
        if self.value is None or math.isnan(self.value):
            return None
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def line(self) -> str:
        status = {True: "PASS", False: "MISS", None: "N/A "}[self.passed]
        val = "not measured" if self.value is None else f"{self.value:.3g}{self.unit}"
        return f"- {status}  {self.name}: {val} (target {self.op} {self.threshold:g}{self.unit})"


BATCH_TARGET_VS_JAX = {1: 2.0, 16: 1.5, 64: 1.5, 256: 1.3}


def ratio(result: dict[str, Any], peer: str) -> float | None:
    best = best_of(result, peer)
    fp = result["impls"].get(f"ferroprop ({THREADS}t)")
    return None if best is None or fp is None else fp["median"] / best[1]["median"]


def build_targets(
    training: dict[str, dict[str, Any]],
    gemm: float,
    single: dict[str, Any] | None,
    batch: dict[str, Any] | None,
) -> list[Target]:
    targets = []
    fp_key, fp1_key = f"ferroprop ({THREADS}t)", "ferroprop (1t)"
    for res in training.values():
        if res["stack"] != "plain":
            continue  # the issue sets no targets for the BatchNorm/Dropout stack
        title, bsz = res["title"], res["batch"]
        wide = len(res["widths"]) > 3
        want = 1.05 if wide else BATCH_TARGET_VS_JAX.get(bsz)
        if want is not None:
            targets.append(
                Target(f"{title} fit, ferroprop / JAX scan", ratio(res, "jax"), ">=", want)
            )
        if wide:
            gf = 6 * res["n_weights"] * res["impls"][fp_key]["median"] / 1e9
            targets.append(Target(f"{title} fit, % of large GEMM", 100 * gf / gemm, ">=", 95, "%"))
        for peer, label in (("torch", "PyTorch eager"), ("sklearn", "scikit-learn")):
            targets.append(Target(f"{title} fit, ferroprop / {label}", ratio(res, peer), ">=", 3.0))
        if (wide and bsz == 256) or (not wide and bsz <= 64):
            two, one = res["impls"][fp_key]["median"], res["impls"][fp1_key]["median"]
            targets.append(
                Target(
                    f"{title} fit, ferroprop 2 threads / 1 thread",
                    two / one,
                    ">=",
                    1.7 if wide else 1.0,
                )
            )
    if single is not None:
        targets.append(
            Target(
                "predict 1 row (ferroprop predict, median)",
                single["ferroprop predict"]["median_us"],
                "<=",
                4.0,
                " µs",
            )
        )
    if batch is not None:
        fp_ms = batch["ferroprop forward"]["median_ms"]
        np_ms = min(v["median_ms"] for k, v in batch.items() if k.startswith("NumPy"))
        targets.append(
            Target("predict 10k rows, ferroprop / NumPy forward", np_ms / fp_ms, ">=", 1.5)
        )
    return targets


def judge(
    checks: list[dict[str, Any]],
    training: dict[str, dict[str, Any]],
    single: dict[str, Any] | None,
    batch: dict[str, Any] | None,
    trained_rtol: float,
) -> tuple[list[str], list[str]]:
    """(failures, warnings). ferroprop's problems fail the run; a peer's are warnings."""
    failures: list[str] = []
    warn: list[str] = []

    def complain(peer: str, msg: str) -> None:
        (failures if peer == "ferroprop" else warn).append(msg)

    for chk in checks:
        for r in chk["results"]:
            if r["error"]:
                complain(r["peer"], f"fixed-order check {chk['title']}: {r['impl']}: {r['error']}")
            elif not r["ok"]:
                d_epoch = r["epoch_loss_rel_diff"]
                complain(
                    r["peer"],
                    f"fixed-order check {chk['title']}: {r['impl']} disagrees with the NumPy "
                    f"reference (epoch loss rel Δ {'n/a' if d_epoch is None else f'{d_epoch:.1e}'}"
                    f", subset loss rel Δ {r['eval_loss_rel_diff']:.1e}, max |Δparam| "
                    f"{r['max_abs_param_diff']:.1e}; tolerances {chk['loss_rtol']:g} / "
                    f"{chk['param_atol']:g})",
                )
    # After the timed epochs the shuffles differ (ferroprop's and sklearn's are their own). The
    # loss of the final parameters then varies by up to ~25% between shuffles, the mean loss over
    # the last epoch by < 1% (B >= 16; ~15% at B=1, where lr 0.1 keeps the loss near chance).
    # So ferroprop's last-epoch mean loss must not exceed the worst peer's by more than
    # trained_rtol (4x that at B=1), and its final subset loss, an independent measurement,
    # not the worst peer's by more than SUBSET_SLACK (this catches "did not train").
    for res in training.values():
        impls = res["impls"]
        peers_ok = [
            v
            for v in impls.values()
            if v["peer"] != "ferroprop" and "error" not in v and not v["pruned"]
        ]
        for name, v in impls.items():
            if "error" in v:
                complain(v["peer"], f"{res['title']}: {name} failed: {v['error']}")
            elif not (math.isfinite(v["subset_loss"]) and math.isfinite(v["last_epoch_loss"])):
                complain(v["peer"], f"{res['title']}: {name} trained to a non-finite loss")
            elif not v.get("eval_forward_max_abs_diff", 0.0) <= EVAL_FORWARD_ATOL:
                complain(
                    v["peer"],
                    f"{res['title']}: {name}: evaluation-mode forward differs from a NumPy "
                    f"forward of its own state dict by {v['eval_forward_max_abs_diff']:.1e} "
                    f"(tolerance {EVAL_FORWARD_ATOL:g})",
                )
        epoch_losses = [
            v["last_epoch_loss"] for v in peers_ok if math.isfinite(v["last_epoch_loss"])
        ]
        subset_losses = [v["subset_loss"] for v in peers_ok if math.isfinite(v["subset_loss"])]
        if not epoch_losses or not subset_losses:
            warn.append(f"{res['title']}: no peer finished, so ferroprop's loss is unchecked")
            continue
        tol = trained_rtol * (4 if res["batch"] == 1 else 1)
        bounds = {
            "last_epoch_loss": max(epoch_losses) * (1 + tol),
            "subset_loss": max(subset_losses) * (1 + SUBSET_SLACK),
        }
        res["loss_bounds"] = bounds
        for name, v in impls.items():
            if v["peer"] != "ferroprop" or "error" in v:
                continue
            problems = [
                f"{what.replace('_', ' ')} {v[what]:.4f} > {bound:.4f} (worst peer + "
                f"{100 * slack:g}%)"
                for (what, bound), slack in zip(bounds.items(), (tol, SUBSET_SLACK), strict=True)
                if not v[what] <= bound
            ]
            v["loss_check"] = "; ".join(problems) or "ok"
            if problems:
                failures.append(
                    f"{res['title']}: {name} trained worse than every peer: {v['loss_check']}"
                )
    for label, table in (("predict 1 row", single or {}), ("predict 10k rows", batch or {})):
        for name, v in table.items():
            if not v["max_abs_diff_vs_numpy"] <= 1e-4:
                complain(
                    name.split()[0],
                    f"{label}: {name} differs from NumPy by {v['max_abs_diff_vs_numpy']:.1e}",
                )
    return failures, warn


def _fmt_opt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def report(res: dict[str, Any], args: Any) -> str:
    out: list[str] = []
    env = res["environment"]
    out.append(
        f"Started {res['started']}; wall time {res['duration_s']:.0f} s"
        + (" (--quick: 1/5 of the rows, shorter checks)" if args.quick else "")
    )
    out.append("")
    out.append(
        f"- ferroprop {env['ferroprop']} from `{env['ferroprop_file']}` "
        f"(repo {env.get('git', '?')}), {env['ferroprop_threads']} threads"
    )
    out.append(f"- peers: {', '.join(f'{k} {v}' for k, v in env['peers'].items())}")
    out.append(
        f"- CPU: {env['cpu']}, {env['cpus']} CPUs; Python {env['python']}; load average "
        f"{env['loadavg'][0]:.2f} at the start, {res['loadavg_end'][0]:.2f} at the end"
    )
    out.append(f"- BLAS: {env['blas']}")
    out.append(
        f"- Medians of {res['repeats']} interleaved epochs per implementation (order rotated per "
        f"repetition, {SETTLE_S} s sleep before each). `(1t)`/`(2t)`: the peer's BLAS/intra-op "
        "thread count; ratios use each peer's faster setting. JAX drops the last partial batch "
        "(the others train it); throughput is per sample processed."
    )
    gemm = res["gemm"]
    runs = "; ".join(
        f"{when}: " + ", ".join(f"{g:.0f}" for g in vals) for when, vals in gemm["runs"].items()
    )
    out.append(
        f"\n**Large GEMM** (numpy float32 {GEMM_N}³, {THREADS} OpenBLAS threads): "
        f"**{gemm['gflops_median']:.0f} GFLOPS**, median of {len(gemm['gflops'])} ({runs})"
    )
    peak = res["fma_peak"]
    runs = "; ".join(
        f"{when}: "
        + ", ".join(
            f"{a:.0f}/{b:.0f}" for a, b in zip(one, peak["runs"][THREADS][when], strict=True)
        )
        for when, one in peak["runs"][1].items()
    )
    out.append(
        f"\n**FP32 FMA peak** (`_core._fma_peak`: {peak['accumulators']} independent `vfmadd` "
        f"accumulators on the {peak['simd_path']} path, best of a few repetitions in "
        f"{peak['millis']:g} ms): **{peak['median'][1]:.0f} GFLOPS on 1 thread, "
        f"{peak['median'][THREADS]:.0f} on {THREADS}** (two calls at once, summed), medians of "
        f"{len(peak['gflops'][1])} (1t/{THREADS}t: {runs})"
    )

    out.append("\n## Correctness: fixed batch order, same initial weights\n")
    rows = []
    for chk in res["checks"]:
        for r in chk["results"]:
            if r["error"]:
                rows.append([chk["title"], r["impl"], "", "", "", "", f"**ERROR** {r['error']}"])
                continue
            d_epoch = r["epoch_loss_rel_diff"]
            rows.append(
                [
                    chk["title"],
                    r["impl"],
                    f"{r['epoch_loss']:.6f}",
                    f"{r['eval_loss']:.6f}",
                    f"{_fmt_opt(d_epoch, '.1e')} / {r['eval_loss_rel_diff']:.1e}",
                    f"{r['max_abs_param_diff']:.1e}",
                    "ok" if r["ok"] else "**MISMATCH**",
                ]
            )
    out.append(
        md_table(
            ["run", "implementation", "epoch mean loss", f"loss on {EVAL_ROWS:,} rows",
             "rel Δ vs NumPy (epoch / subset)", "max abs Δparam", "status"],
            rows,
        )
    )  # fmt: skip
    out.append(
        f"\nTolerances: float32 loss rel ≤ {args.loss_rtol:g}, parameters abs ≤ "
        f"{args.param_atol:g}; float64 both ≤ {F64_TOL:g}. sklearn's epoch loss (its `loss_`, "
        "computed from probabilities clipped at eps) is shown but not compared."
    )

    training = res["training"]
    fp2 = f"ferroprop ({THREADS}t)"
    if training:
        out.append("\n## Training throughput, samples/s (median)\n")
        peers = [p for p in ("numpy", "jax", "sklearn", "torch") if p in res["peers_used"]]
        names = {"numpy": "NumPy ref", "jax": "JAX scan", "sklearn": "sklearn", "torch": "torch"}
        header = ["config", "rows/epoch", "ferroprop", "ferroprop 1t"]
        header += [names[p] for p in peers] + [f"fp / {names[p]}" for p in peers]
        rows = []
        for r in training.values():
            imp = r["impls"]
            row = [
                r["title"],
                f"{r['rows_per_epoch']:,}",
                fmt_rate(imp[fp2]["median"]),
                fmt_rate(imp["ferroprop (1t)"]["median"]),
            ]
            for p in peers:
                best = best_of(r, p)
                tag = f" ({best[1]['threads']}t)" if best and best[1]["threads"] else ""
                row.append("—" if best is None else fmt_rate(best[1]["median"]) + tag)
            row += [fmt_ratio(ratio(r, p)) for p in peers]
            rows.append(row)
        out.append(md_table(header, rows))

        wide = [r for r in training.values() if len(r["widths"]) > 3]
        if wide:
            p1, p2 = peak["median"][1], peak["median"][THREADS]
            out.append(
                "\n### 784-512-512-10: achieved GFLOPS (6 × n_weights × samples/s), % of the "
                f"{gemm['gflops_median']:.0f} GFLOPS large GEMM and % of the in-run FMA peak "
                f"({p1:.0f} GFLOPS for 1-thread rows, {p2:.0f} for {THREADS}-thread rows and "
                "JAX)\n"
            )
            rows = []
            for r in wide:
                for name, v in r["impls"].items():
                    gf = 6 * r["n_weights"] * v["median"] / 1e9
                    cap = p1 if v["threads"] == 1 else p2
                    rows.append(
                        [r["title"], name, fmt_rate(v["median"]), f"{gf:.0f}",
                         f"{100 * gf / gemm['gflops_median']:.0f}%", f"{100 * gf / cap:.0f}%"]
                    )  # fmt: skip
            out.append(
                md_table(
                    ["config", "implementation", "samples/s", "GFLOPS", "% of GEMM",
                     "% of FMA peak"],
                    rows,
                )
            )  # fmt: skip
            if any(r["stack"] == "bn" for r in wide):
                out.append(
                    "\nFor the BatchNorm/Dropout stack, GFLOPS counts the Dense layers' FLOPs "
                    "only (the same 6 × n_weights per sample)."
                )

        bn = [r for r in training.values() if r["stack"] == "bn"]
        if bn:
            out.append(f"\n### {BN_TITLE}: ferroprop vs JAX scan and torch eager\n")
            out.append(
                "Every implementation starts from ferroprop's initial state dict (BatchNorm in "
                "training mode with batch statistics and running-statistic updates, inverted "
                "dropout with each its own masks). Parameters are not compared: the loss after "
                "the timed epochs is (table below), and ferroprop's evaluation-mode `forward` on "
                f"{EVAL_FORWARD_ROWS:,} rows must match a NumPy float64 forward of its own state "
                f"dict to {EVAL_FORWARD_ATOL:g} (probabilities).\n"
            )
            rows = []
            for r in bn:
                imp = r["impls"]
                jb, tb = best_of(r, "jax"), best_of(r, "torch")
                tag = f" ({tb[1]['threads']}t)" if tb else ""
                diffs = [v["eval_forward_max_abs_diff"] for v in imp.values()
                         if "eval_forward_max_abs_diff" in v]  # fmt: skip
                rows.append(
                    [r["title"], fmt_rate(imp[fp2]["median"]),
                     fmt_rate(imp["ferroprop (1t)"]["median"]),
                     "—" if jb is None else fmt_rate(jb[1]["median"]),
                     "—" if tb is None else fmt_rate(tb[1]["median"]) + tag,
                     fmt_ratio(ratio(r, "jax")), fmt_ratio(ratio(r, "torch")),
                     f"{max(diffs):.1e}" if diffs else "—"]
                )  # fmt: skip
            out.append(
                md_table(
                    ["config", "ferroprop", "ferroprop 1t", "JAX scan", "torch", "fp / JAX",
                     "fp / torch", "eval forward max abs Δ vs NumPy"],
                    rows,
                )
            )  # fmt: skip

        out.append("\n### ferroprop threads: 2 vs 1 (`fp.set_num_threads`)\n")
        rows = []
        for r in training.values():
            two = r["impls"][fp2]["median"]
            one = r["impls"]["ferroprop (1t)"]["median"]
            rows.append([r["title"], fmt_rate(two), fmt_rate(one), fmt_ratio(two / one)])
        out.append(md_table(["config", "2 threads", "1 thread", "2t / 1t"], rows))

        out.append("\n### Every implementation: spread, and loss after the timed epochs\n")
        out.append(
            f"After {res['repeats']} timed epochs from the same weights: each implementation's "
            f"own mean loss over its last epoch, and the loss and accuracy of its final "
            f"parameters on the first {EVAL_ROWS:,} training rows (float64 evaluation). NumPy, "
            "JAX and torch saw the same shuffles, ferroprop and sklearn their own, so only "
            "similar losses are expected: ferroprop fails if its last-epoch loss exceeds the "
            f"worst peer's by more than {100 * args.trained_rtol:g}% ({400 * args.trained_rtol:g}"
            f"% at B=1) or its subset loss by more than {100 * SUBSET_SLACK:g}%. A peer's thread "
            f"setting below half the speed of its other one after {PRUNE_AFTER} epochs was not "
            "timed further (pruned; it trained fewer epochs and is not in the comparison).\n"
        )
        rows = []
        for r in training.values():
            for name, v in r["impls"].items():
                if "error" in v:
                    rows.append([r["title"], name] + [""] * 8 + [f"**{v['error']}**"])
                    continue
                check = v.get("loss_check", "")
                rows.append(
                    [
                        r["title"],
                        name,
                        f"{len(v['seconds'])}" + (" (pruned)" if v["pruned"] else ""),
                        f"{v['samples_per_epoch']:,}",
                        fmt_rate(v["median"]),
                        f"{fmt_rate(v['min'])}–{fmt_rate(v['max'])}",
                        f"{v['us_per_step']:,.1f}",
                        f"{v['last_epoch_loss']:.4f}",
                        f"{v['subset_loss']:.4f}",
                        f"{v['subset_accuracy']:.4f}",
                        check if check in ("", "ok") else f"**{check}**",
                    ]
                )
        out.append(
            md_table(
                ["config", "implementation", "epochs", "samples/epoch", "samples/s", "min–max",
                 "µs/step", "last-epoch loss", "subset loss", "subset acc", "loss check"],
                rows,
            )
        )  # fmt: skip

    if res.get("predict_1row"):
        out.append("\n## predict, 784-100-10\n")
        out.append(
            f"One row (1×784 float32, numpy in → numpy out), {args.latency_calls} calls timed "
            f"one by one, median of {args.latency_rounds} rounds' medians:\n"
        )
        rows = [
            [k, f"{v['median_us']:.1f}", f"{v['p90_us']:.1f}", f"{v['max_abs_diff_vs_numpy']:.1e}"]
            for k, v in res["predict_1row"].items()
        ]
        out.append(md_table(["implementation", "median µs", "p90 µs", "max |Δ| vs NumPy"], rows))
        out.append(f"\n10,000 rows, median of {args.batch_predict_repeats}:\n")
        b = res["predict_10k"]
        fp_ms = b["ferroprop forward"]["median_ms"]
        rows = [
            [k, f"{v['median_ms']:.2f}", fmt_rate(v["rows"] / v["median_ms"] * 1e3),
             fmt_ratio(v["median_ms"] / fp_ms), f"{v['max_abs_diff_vs_numpy']:.1e}"]
            for k, v in b.items()
        ]  # fmt: skip
        out.append(
            md_table(["implementation", "ms", "rows/s", "its time / ferroprop's",
                      "max |Δ| vs NumPy"], rows)
        )  # fmt: skip

    out.append("\n## Targets\n")
    out += [t["line"] for t in res["targets"]]
    counts = [sum(t["passed"] is v for t in res["targets"]) for v in (True, False, None)]
    out.append(f"\n{counts[0]} PASS, {counts[1]} MISS, {counts[2]} not measured.")
    if res["failures"]:
        out.append("\n## FAILURES (ferroprop)\n")
        out += [f"- **{f}**" for f in res["failures"]]
    if res["warnings"]:
        out.append("\n## Warnings\n")
        out += [f"- {w}" for w in res["warnings"]]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def environment(fp: Any, peers: Peers) -> dict[str, Any]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git = "?"
    with contextlib.suppress(Exception):
        root = Path(__file__).resolve().parents[1]
        head = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        git = head or "?"
    versions = {"numpy": np.__version__}
    if peers.jax is not None:
        versions["jax"] = peers.jax.__version__
    if peers.mlp_cls is not None:
        versions["scikit-learn"] = importlib.import_module("sklearn").__version__
    if peers.torch is not None:
        versions["torch"] = peers.torch.__version__
    blas = "unknown (threadpoolctl missing)"
    if threadpool_info is not None:
        blas = "; ".join(
            f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '')}) "
            f"max {i.get('num_threads')} threads"
            for i in threadpool_info()
        )
    return {
        "ferroprop": getattr(fp, "__version__", "?"),
        "ferroprop_file": fp.__file__,
        "ferroprop_threads": fp.get_num_threads(),
        "git": git,
        "peers": versions,
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "blas": blas,
        "loadavg": os.getloadavg(),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed epochs per implementation and config (default 5; 3 with --quick)",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: 3 repeats, 1/5 of the rows")
    p.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parent / "results.json",
        help="where to write the raw results (default: benches/results.json)",
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated subset of: "
        "b1,b16,b64,b256,wide-b256,wide-b1024,bn-b256,bn-b1024,predict (checks, GEMM and FMA "
        "peak always run)",
    )
    p.add_argument(
        "--peers",
        default="numpy,jax,sklearn,torch",
        help="peers to run when importable (NumPy always runs: it is the reference)",
    )
    p.add_argument(
        "--peer-threads",
        default="1,2",
        help="BLAS/intra-op thread counts to try for NumPy, sklearn, torch",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the shared shuffles")
    p.add_argument(
        "--loss-rtol",
        type=float,
        default=1e-3,
        help="fixed-order float32 check: max relative loss difference to the NumPy ref",
    )
    p.add_argument(
        "--param-atol",
        type=float,
        default=1e-3,
        help="fixed-order float32 check: max absolute parameter difference to the NumPy ref",
    )
    p.add_argument(
        "--trained-rtol",
        type=float,
        default=0.10,
        help="after the timed epochs (different shuffles): how far ferroprop's last-epoch mean "
        "loss may lie above the worst peer's, relative (4x at batch 1)",
    )
    p.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    args.latency_calls = 500 if args.quick else 2000
    args.latency_rounds = 2 if args.quick else 3
    args.batch_predict_repeats = 3 if args.quick else 7
    args.gemm_repeats = 2 if args.quick else 3  # at the start and again at the end
    args.peer_threads = tuple(int(t) for t in args.peer_threads.split(",") if t)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    print(f"{TITLE}\n\nCommand: `{command}`  ", flush=True)
    fp = import_ferroprop()
    fp.set_num_threads(THREADS)

    wanted = set(args.peers.split(","))
    jax = optional_import("jax") if "jax" in wanted else None
    mlp_cls = None
    if "sklearn" in wanted:
        nnmod = optional_import("sklearn.neural_network")
        if nnmod is not None:
            mlp_cls = nnmod.MLPClassifier
            warnings.filterwarnings(
                "ignore", category=importlib.import_module("sklearn.exceptions").ConvergenceWarning
            )
    torch = optional_import("torch") if "torch" in wanted else None
    peers = Peers(fp, jax, mlp_cls, torch, args.peer_threads)
    peers_used = ["numpy"] + [
        n for n, m in (("jax", jax), ("sklearn", mlp_cls), ("torch", torch)) if m is not None
    ]
    warn: list[str] = []
    if os.cpu_count() != THREADS:
        warn.append(
            f"{os.cpu_count()} CPUs visible; the configuration assumes {THREADS} "
            "(JAX/XLA uses them all)"
        )
    if threadpool_limits is None:
        warn.append("threadpoolctl is missing: BLAS thread counts are not controlled")

    x_train, y_train, x_test, y_test = fp.datasets.load_fashion_mnist()
    x_eval = x_train[:EVAL_ROWS].astype(np.float64)
    y_eval = y_train[:EVAL_ROWS]
    env = environment(fp, peers)
    log(f"ferroprop {env['ferroprop']} ({env['git']}), peers {env['peers']}")

    log("measuring the large GEMM")
    probe = GemmProbe()
    probe.measure("start", args.gemm_repeats)
    log(f"GEMM {GEMM_N}^3: " + ", ".join(f"{g:.0f}" for g in probe.runs["start"]) + " GFLOPS")

    log("measuring the FMA peak")
    peak = PeakProbe(fp._core)
    for _ in range(args.gemm_repeats):
        peak.measure("start")
    log(
        "FMA peak 1t/2t: "
        + ", ".join(
            f"{a:.0f}/{b:.0f}"
            for a, b in zip(peak.runs[1]["start"], peak.runs[THREADS]["start"], strict=True)
        )
        + " GFLOPS"
    )

    checks = run_checks(peers, x_train, y_train, x_eval, y_eval, args)

    rows_full = 12_000 if args.quick else 60_000
    configs = [
        Config("b1", SMALL, 1, 1_000 if args.quick else 5_000),
        Config("b16", SMALL, 16, rows_full),
        Config("b64", SMALL, 64, rows_full),
        Config("b256", SMALL, 256, rows_full),
        Config("wide-b256", WIDE, 256, rows_full),
        Config("wide-b1024", WIDE, 1024, rows_full),
        Config("bn-b256", WIDE, 256, rows_full, stack="bn"),
        Config("bn-b1024", WIDE, 1024, rows_full, stack="bn"),
    ]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    training = {}
    for cfg in configs:
        if only and cfg.key not in only:
            continue
        training[cfg.key] = time_training(
            cfg,
            peers,
            (x_train, y_train),
            (x_eval, y_eval),
            args.repeats,
            args.seed,
            gemm=probe if len(cfg.widths) > 3 else None,  # same noise as the wide model's epochs
            peak=peak if len(cfg.widths) > 3 else None,
        )
    single = batch = None
    if not only or "predict" in only:
        single, batch = measure_predict(peers, x_test, y_test, args)

    probe.measure("end", args.gemm_repeats)
    log(f"GEMM {GEMM_N}^3 at the end: " + ", ".join(f"{g:.0f}" for g in probe.runs["end"]))
    for _ in range(args.gemm_repeats):
        peak.measure("end")
    log(
        "FMA peak 1t/2t at the end: "
        + ", ".join(
            f"{a:.0f}/{b:.0f}"
            for a, b in zip(peak.runs[1]["end"], peak.runs[THREADS]["end"], strict=True)
        )
    )
    gemm = statistics.median(probe.all_runs)
    if max(probe.all_runs) > 1.3 * min(probe.all_runs):
        warn.append(
            f"the large GEMM ranged {min(probe.all_runs):.0f}–{max(probe.all_runs):.0f} GFLOPS in "
            "this run: something else was using the cores (or the host was contended), so every "
            "number here is noisier than usual; compare ratios only, or re-run on a quiet machine"
        )
    for t in (1, THREADS):
        runs = peak.all_runs(t)
        if max(runs) > 1.3 * min(runs):
            warn.append(
                f"the {t}-thread FMA peak ranged {min(runs):.0f}–{max(runs):.0f} GFLOPS in this "
                "run: the cores were shared for a while"
            )
    failures, more_warnings = judge(checks, training, single, batch, args.trained_rtol)
    warn += more_warnings

    targets = build_targets(training, gemm, single, batch)
    res = {
        "command": command,
        "started": started,
        "duration_s": time.perf_counter() - _T0,
        "quick": args.quick,
        "repeats": args.repeats,
        "settle_s": SETTLE_S,
        "environment": env,
        "peers_used": peers_used,
        "gemm": {
            "n": GEMM_N,
            "threads": THREADS,
            "gflops": probe.all_runs,
            "gflops_median": gemm,
            "runs": probe.runs,
        },
        "fma_peak": {
            "millis": PEAK_MS,
            "simd_path": fp._core.simd_path(),
            "accumulators": 12,
            "gflops": {t: peak.all_runs(t) for t in (1, THREADS)},
            "median": {t: peak.median(t) for t in (1, THREADS)},
            "runs": peak.runs,
        },
        "checks": checks,
        "training": training,
        "predict_1row": single,
        "predict_10k": batch,
        "targets": [
            dataclasses.asdict(t) | {"passed": t.passed, "line": t.line()} for t in targets
        ],
        "failures": failures,
        "warnings": warn,
        "loadavg_end": os.getloadavg(),
    }
    text = report(res, args)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1, default=float) + "\n")
    log(f"wrote {args.json}")
    if failures:
        print(f"\nFAILED: {len(failures)} correctness problem(s) with ferroprop.", file=sys.stderr)
        return 1
    if args.strict and any(t.passed is False for t in targets):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
