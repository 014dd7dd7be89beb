"""Never crash, never hang: each defect found by trying ferroprop as a new user would, as a
regression test. Anything that could hang runs in a subprocess under a timeout, so a hang fails
the test instead of hanging CI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import ferroprop as fp

TIMEOUT = 120


def run_script(body: str, timeout: float = TIMEOUT) -> str:
    """Runs `body` in a fresh interpreter; returns its stdout; fails on a non-zero exit or a
    hang."""
    code = "import numpy as np, ferroprop as fp\n" + textwrap.dedent(body)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"OPENBLAS_NUM_THREADS": "1", "RUST_BACKTRACE": "0", "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"hung for {timeout} s: {err.stdout!r} {err.stderr!r}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


# -- 1. fork after a multi-threaded fit -----------------------------------------------------

FORK_SETUP = """
import multiprocessing as mp
fp.set_num_threads(2)
rng = np.random.default_rng(0)
X = rng.random((1024, 784), dtype=np.float32)
y = rng.integers(0, 10, 1024)
def train():
    net = fp.Network([784, 512, 10], seed=1)
    net.fit(X, y, epochs=1, batch_size=256, seed=0)
    return net
parent = train()  # the thread team has run in this process
"""


def test_a_forked_child_trains_after_the_parent_used_the_threads() -> None:
    out = run_script(
        FORK_SETUP
        + """
def estimator():
    clf = fp.MLPClassifier(hidden_layer_sizes=(512,), max_iter=2, batch_size=256, random_state=0)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        return clf.fit(X, y).coefs_[0].tobytes()
def child(q):
    net = train()
    q.put((net.weights[0].tobytes(), net.forward(X[:5]).tobytes(), net.predict(X).tolist(),
           net.gradients(X[:300], y[:300])[0], estimator()))
ctx = mp.get_context("fork")
q = ctx.Queue()
p = ctx.Process(target=child, args=(q,))
p.start()
w, f, pr, g, est = q.get(timeout=60)
p.join(60)
assert p.exitcode == 0
# The same bits as in the parent (a fresh process gives the same: results do not depend on
# the pool).
assert w == parent.weights[0].tobytes()
assert f == parent.forward(X[:5]).tobytes()
assert pr == parent.predict(X).tolist() and g == parent.gradients(X[:300], y[:300])[0]
assert est == estimator()
print("ok")
"""
    )
    assert out.strip() == "ok"


def test_pools_and_joblib_backends_after_a_fit() -> None:
    out = run_script(
        FORK_SETUP
        + """
import joblib
def fit_one(seed):
    net = fp.Network([784, 512, 10], seed=seed)
    net.fit(X, y, epochs=1, batch_size=256, seed=0)
    return net.weights[1].tobytes()
expected = [fit_one(s) for s in (1, 2)]
with mp.get_context("fork").Pool(2) as pool:
    assert pool.map(fit_one, [1, 2]) == expected
for backend in ("multiprocessing", "loky"):
    got = joblib.Parallel(n_jobs=2, backend=backend)(joblib.delayed(fit_one)(s) for s in (1, 2))
    assert got == expected, backend
for method in ("spawn", "forkserver"):
    with mp.get_context(method).Pool(1) as pool:
        assert pool.map(len, [[1, 2]]) == [2]
print("ok")
"""
    )
    assert out.strip() == "ok"


def test_grid_search_with_two_jobs_after_a_fit() -> None:
    out = run_script(
        FORK_SETUP
        + """
from sklearn.model_selection import GridSearchCV
clf = fp.MLPClassifier(hidden_layer_sizes=(64,), max_iter=3, random_state=0)
clf.fit(X[:512], y[:512])
search = GridSearchCV(clf, {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2)
with __import__("warnings").catch_warnings():
    __import__("warnings").simplefilter("ignore")
    search.fit(X[:512], y[:512])
assert 0 <= search.best_score_ <= 1
print("ok")
"""
    )
    assert out.strip() == "ok"


# -- 2, 8. legal arrays that are not aligned ------------------------------------------------


def unaligned(rows: int, cols: int, dtype: type = np.float32) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    raw = np.zeros(rows * cols * size + 1, np.uint8)[1:]
    arr = raw.view(dtype).reshape(rows, cols)
    assert not arr.flags.aligned
    return arr


def test_an_unaligned_array_is_read_not_a_panic() -> None:
    net = fp.Network([4, 3, 2])
    a = unaligned(10, 4)
    a[...] = np.arange(40, dtype=np.float32).reshape(10, 4) / 40
    np.testing.assert_array_equal(net.forward(a), net.forward(np.ascontiguousarray(a)))


def test_fit_takes_unaligned_data_and_validation_data() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 4), dtype=np.float32), rng.integers(0, 2, 64)
    Xu = unaligned(64, 4)
    Xu[...] = X
    a, b = fp.Network([4, 8, 2]), fp.Network([4, 8, 2])
    ha = a.fit(X, y, epochs=2, batch_size=16, seed=0, validation_data=(X, y))
    hb = b.fit(Xu, y, epochs=2, batch_size=16, seed=0, validation_data=(Xu, y))
    assert ha.loss == hb.loss and ha.val_loss == hb.val_loss


# -- 3. a panic anywhere is an InternalError, and no team member is left waiting ------------


@pytest.mark.parametrize("culprit", [0, 1])
def test_a_panic_in_a_team_member_is_an_error_not_a_hang(culprit: int) -> None:
    out = run_script(
        f"""
fp.set_num_threads(2)
for _ in range(20):
    try:
        fp._core._panic_in_team(2, {culprit})
    except fp.InternalError as err:
        assert "deliberate panic in member {culprit}" in str(err)
    else:
        raise AssertionError("no error")
try:
    fp._core._panic_here()
except RuntimeError as err:  # InternalError is a RuntimeError: `except Exception` sees it
    assert isinstance(err, fp.InternalError) and "_panic_here" in str(err)
# The pool still works afterwards.
net = fp.Network([256, 256, 4])
net.fit(np.ones((512, 256), np.float32), np.zeros(512, int), epochs=1, batch_size=256)
print("ok")
"""
    )
    assert out.strip() == "ok"


# -- 4. set_num_threads while another thread fits -------------------------------------------


def test_resizing_the_pool_during_a_fit_takes_effect_at_the_next_call() -> None:
    out = run_script(
        """
import threading
rng = np.random.default_rng(0)
X, y = rng.random((512, 128), dtype=np.float32), rng.integers(0, 8, 512)
stop = threading.Event()
def flip():
    while not stop.is_set():
        fp.set_num_threads(1)
        fp.set_num_threads(2)
t = threading.Thread(target=flip)
t.start()
nets = [fp.Network([128, 1024, 8], seed=0) for _ in range(6)]
for net in nets:
    net.fit(X, y, epochs=2, batch_size=8, seed=3)
stop.set()
t.join()
# Thread counts never change results.
assert all(n.weights[0].tobytes() == nets[0].weights[0].tobytes() for n in nets)
print("ok")
"""
    )
    assert out.strip() == "ok"


def test_thread_counts_are_capped_and_checked() -> None:
    for bad in (0, -1, fp.max_threads() + 1, 100000, 2**64):
        with pytest.raises(ValueError, match=r"\bn\b"):
            fp.set_num_threads(bad)
    with pytest.raises(TypeError, match=r"\bn\b"):
        fp.set_num_threads(2.0)


# -- 5, 6. memory: MemoryError instead of an abort; nothing sized by `epochs` ----------------


def test_allocation_failures_raise_memory_error() -> None:
    out = run_script(
        """
import resource, warnings
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
net = fp.Network([1, 1, 100000], loss="mse")
try:
    net.forward(np.zeros((1 << 20, 1), np.float32))
except MemoryError as err:
    assert "outputs" in str(err), err
else:
    raise AssertionError("no MemoryError")
big = fp.Network([4, 20000, 1], loss="mse")
try:
    big.gradients(np.zeros((20000, 4), np.float32), np.zeros(20000, np.float32))
except MemoryError as err:
    assert "activations" in str(err), err
try:
    fp.Network([100000, 100000, 10])
except MemoryError as err:
    assert "weights" in str(err), err
# scikit-learn's lbfgs on 20,000 rows of a 20,000-wide layer: 3.2 GB of activations.
rng = np.random.default_rng(0)
try:
    reg = fp.MLPRegressor(hidden_layer_sizes=(20000,), solver="lbfgs", max_iter=2)
    reg.fit(rng.random((20000, 10)), rng.random(20000))
except MemoryError as err:
    assert "activations" in str(err), err
else:
    raise AssertionError("no MemoryError")
# The interpreter lives on and the small network still works.
assert net.forward(np.zeros((2, 1), np.float32)).shape == (2, 100000)
print("ok")
"""
    )
    assert out.strip() == "ok"


def test_a_huge_epoch_count_allocates_nothing_up_front() -> None:
    out = run_script(
        """
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
class Enough(Exception):
    pass
def stop(epoch, *_):
    if epoch == 3:
        raise Enough
net = fp.Network([4, 8, 2])
for epochs in (10**10, 2**62, 2**63 - 1):
    try:
        net.fit(np.ones((16, 4)), np.zeros(16, int), epochs=epochs, callback=stop)
    except Enough:
        pass
for bad in (2**63, 2**64, -1):
    try:
        net.fit(np.ones((16, 4)), np.zeros(16, int), epochs=bad)
    except ValueError as err:
        assert "epochs" in str(err)
print("ok")
"""
    )
    assert out.strip() == "ok"


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: fp.Network([2**63, 2]), "widths"),
        (
            lambda: fp.Network([4, 2]).fit(np.ones((4, 4)), np.zeros(4, int), batch_size=2**64),
            "batch_size",
        ),
        (lambda: fp.Network([4, 2]).fit(np.ones((4, 4)), np.zeros(4, int), epochs=2**64), "epochs"),
        (lambda: fp.Network([4, 2], seed=2**64), "seed"),
        (lambda: fp.Adam(lr=10**400), "lr"),
    ],
)
def test_out_of_range_integers_name_the_argument(call, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        call()


# -- 7, 14. optimizers: one network each; a callback may change lr and save -------------------


def test_one_optimizer_for_two_networks_is_refused_not_mixed() -> None:
    X, y = np.ones((8, 4), np.float32), np.zeros(8, int)
    opt = fp.Adam()
    a, b = fp.Network([4, 3, 2]), fp.Network([4, 3, 2])
    a.step(X, y, opt)
    before = b.weights
    with pytest.raises(ValueError, match="optimizer: it holds the moments"):
        b.step(X, y, opt)
    with pytest.raises(ValueError, match="optimizer"):
        b.fit(X, y, epochs=1, optimizer=opt)
    assert all(np.array_equal(p, q) for p, q in zip(before, b.weights, strict=True))
    assert opt.steps == 1
    opt.reset()
    b.step(X, y, opt)  # after reset the optimizer is free for another network
    assert opt.steps == 1


def test_an_optimizer_that_applied_nothing_stays_free() -> None:
    opt = fp.SGD(lr=0.1)
    bad = np.ones((8, 4))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        fp.Network([4, 3, 2]).step(bad, np.zeros(8, int), opt)
    fp.Network([4, 3, 2]).step(np.ones((8, 4)), np.zeros(8, int), opt)  # not refused
    assert opt.steps == 1


def test_a_callback_can_save_the_network_and_set_the_learning_rate(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 4)), rng.integers(0, 2, 64)
    net, opt = fp.Network([4, 8, 2]), fp.SGD(lr=0.4)
    seen = []

    def callback(epoch: int, *_: object) -> None:
        path = tmp_path / f"epoch{epoch}.safetensors"
        net.save(path)
        seen.append((opt.lr, opt.steps, fp.load(path).weights[0]))
        opt.lr = opt.lr / 2

    net.fit(X, y, epochs=3, batch_size=16, optimizer=opt, shuffle=False, callback=callback)
    assert [s[:2] for s in seen] == [(0.4, 4), (0.2, 8), (0.1, 12)]
    np.testing.assert_array_equal(seen[-1][2], net.weights[0])
    # The halved rates were used: the same run by hand, epoch by epoch, gives the same bits.
    again, opt2 = fp.Network([4, 8, 2]), fp.SGD(lr=0.4)
    for _ in range(3):
        again.fit(X, y, epochs=1, batch_size=16, optimizer=opt2, shuffle=False)
        opt2.lr = opt2.lr / 2
    np.testing.assert_array_equal(again.weights[0], net.weights[0])


# -- 10. divergence leaves the parameters of the last finite step ---------------------------


@pytest.mark.parametrize(
    ("dtype", "loss", "make"),
    [
        ("float64", "log_loss", lambda: fp.SGD(lr=1e3)),
        ("float32", "cross_entropy", lambda: fp.Adam(lr=1e39)),
        ("float32", "mse", lambda: fp.SGD(lr=1e30, momentum=0.9)),
    ],
)
def test_divergence_leaves_the_last_finite_step_bitwise(dtype: str, loss: str, make) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 8))
    y = rng.integers(0, 3, 64) if "log" in loss or "cross" in loss else rng.normal(size=(64, 3))
    net, opt = fp.Network([8, 16, 3], loss=loss, dtype=dtype, seed=2), make()
    # One step per epoch on every row in order, so a replay with step() is the same run.
    with pytest.raises(fp.DivergenceError):
        net.fit(X, y, epochs=200, batch_size=64, shuffle=False, optimizer=opt)
    done = opt.steps
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)
    replay, opt2 = fp.Network([8, 16, 3], loss=loss, dtype=dtype, seed=2), make()
    for _ in range(done):
        replay.step(X, y, opt2)
    for p, q in zip(net.weights + net.biases, replay.weights + replay.biases, strict=True):
        assert p.tobytes() == q.tobytes()
    with pytest.raises(fp.DivergenceError):
        replay.step(X, y, opt2)
    assert opt2.steps == done


# -- concurrency: defined behaviour for one network used from several threads ---------------


def test_another_thread_is_told_the_network_is_being_trained() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.random((256, 16)), rng.integers(0, 2, 256)
    net = fp.Network([16, 32, 2])
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def callback(epoch: int, *_: object) -> None:
        net.predict(X)  # the fit's own callback may use the network
        started.set()
        release.wait(30)

    def train() -> None:
        try:
            net.fit(X, y, epochs=2, callback=callback)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    t = threading.Thread(target=train)
    t.start()
    assert started.wait(30)
    for call in (lambda: net.predict(X), lambda: net.fit(X, y, epochs=1), lambda: net.weights):
        with pytest.raises(RuntimeError, match="being trained by another thread"):
            call()
    release.set()
    t.join(30)
    assert not errors and not t.is_alive()
    net.predict(X)  # free again


def test_constructing_a_large_network_releases_the_gil() -> None:
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.01)
    before = ticks
    fp.Network([4096, 8192, 10], dtype="float64")  # ~34M parameters: a few tenths of a second
    after = ticks
    done.set()
    t.join()
    assert after - before > 3


def test_loose_bounds_are_remeasured_the_same_way_on_any_team() -> None:
    # A tiny eps makes the carried bound of an Adam step (lr·m/eps) far larger than the step:
    # the bounds outgrow the proof after about a hundred steps and every member must measure
    # (seen: at steps 104, 119, 135, 148, … on one thread and on two).
    out = run_script(
        """
rng = np.random.default_rng(0)
X, y = rng.normal(size=(4096, 256)).astype(np.float32), rng.integers(0, 4, 4096)
runs = []
for threads in (1, 2):  # a team of two from 1M multiply-adds per step: 256·512·8
    fp.set_num_threads(threads)
    net = fp.Network([256, 512, 4], seed=0)
    net.fit(X, y, epochs=1, batch_size=8, seed=1, optimizer=fp.Adam(lr=0.1, eps=1e-36))
    runs.append([w.tobytes() for w in net.weights])
    assert all(np.isfinite(w).all() for w in net.weights)
assert runs[0] == runs[1]
print("ok")
"""
    )
    assert out.strip() == "ok"


def test_a_child_forked_mid_epoch_refuses_the_busy_network_instead_of_hanging() -> None:
    out = run_script(
        """
import os, threading, time
rng = np.random.default_rng(0)
X, y = rng.random((200000, 32), dtype=np.float32), rng.integers(0, 4, 200000)
busy, idle, opt = fp.Network([32, 64, 4]), fp.Network([32, 64, 4]), fp.SGD(lr=0.01)
first_epoch_done = threading.Event()
t = threading.Thread(
    target=lambda: busy.fit(X, y, epochs=3, batch_size=8, optimizer=opt,
                            callback=lambda *a: first_epoch_done.set()))
t.start()
first_epoch_done.wait(60)
time.sleep(0.05)  # well inside the second epoch: busy's lock and opt's state are held
pid = os.fork()
if pid == 0:
    code = 0
    for call in (lambda: busy.predict(X[:4]), lambda: opt.steps,
                 lambda: idle.fit(X[:64], y[:64], epochs=1, optimizer=opt)):
        try:
            call()
            code = 1
        except (fp.InternalError, ValueError) as err:  # the network; the optimizer
            code = code or (0 if "forked" in str(err) else 2)
    # What was idle at the fork works; so does anything new.
    idle.fit(X[:64], y[:64], epochs=1, optimizer=fp.SGD(lr=0.01))
    fp.Network([32, 64, 4]).fit(X[:4096], y[:4096], epochs=1, batch_size=256)
    os._exit(code)
_, status = os.waitpid(pid, 0)
t.join()
assert os.waitstatus_to_exitcode(status) == 0, status
busy.predict(X[:4])  # the parent is untouched
print("ok")
"""
    )
    assert out.strip() == "ok"
