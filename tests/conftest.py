"""Shared test configuration: thread settings, parity error metric and its run summary."""

from __future__ import annotations

import os

# OpenBLAS with more than one thread collapses at these tiny shapes on the CI machine; this must
# be set before numpy is imported anywhere.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import io  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402

# A shell starts background jobs with SIGINT ignored (`make test &` from a script), and Python then
# never installs its Ctrl-C handler, here or in the children the tests start: the Ctrl-C tests
# would hang or fail. They test ferroprop's handling of KeyboardInterrupt, so restore Python's.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Let the test modules `import reference` whatever pytest import mode is configured.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

# Parity tolerances on the relative error max|a - b| / max|b| (per array).
TOLERANCE: dict[str, float] = {"float32": 1e-4, "float64": 1e-10}
_TINY = np.finfo(np.float64).tiny


def relative_error(actual: ArrayLike, expected: ArrayLike) -> float:
    """max|actual - expected| / max(max|expected|, tiny), computed in float64."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != expected {b.shape}"
    if b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), _TINY))


@dataclass
class _Worst:
    error: float = -1.0
    what: str = ""
    test: str = ""


@dataclass
class ErrorLog:
    """Largest relative error seen per (dtype, category), quoted in the end-of-run summary."""

    worst: dict[tuple[str, str], _Worst] = field(default_factory=dict)

    def record(self, dtype: str, category: str, error: float, what: str, test: str) -> None:
        entry = self.worst.setdefault((dtype, category), _Worst())
        if error > entry.error:
            entry.error, entry.what, entry.test = error, what, test


ERROR_LOG = ErrorLog()
# ferroprop's estimators against scikit-learn's own (tests/test_sklearn_parity.py).
SKLEARN_LOG = ErrorLog()


def record_parity(what: str, dtype: str, error: float) -> None:
    """Logs a ferroprop-vs-scikit-learn coefficient error for the end-of-run summary."""
    SKLEARN_LOG.record(dtype, "sklearn", error, what, "")


class ParityChecker:
    """Asserts library values match the reference within the dtype's tolerance and logs errors."""

    def __init__(self, dtype: str, test: str) -> None:
        self.dtype = dtype
        self.tol = TOLERANCE[dtype]
        self.test = test

    def close(self, actual: ArrayLike, expected: ArrayLike, category: str, what: str) -> float:
        err = relative_error(actual, expected)
        ERROR_LOG.record(self.dtype, category, err, what, self.test)
        assert err <= self.tol, (
            f"{what}: relative error {err:.3e} > {self.tol:.0e} ({self.dtype})\n"
            f"  library:   {np.ravel(actual)[:6]}\n  reference: {np.ravel(expected)[:6]}"
        )
        return err

    def close_all(
        self,
        actual: Sequence[ArrayLike],
        expected: Sequence[ArrayLike],
        category: str,
        what: str,
    ) -> None:
        assert len(actual) == len(expected), f"{what}: {len(actual)} arrays != {len(expected)}"
        for i, (a, b) in enumerate(zip(actual, expected, strict=True)):
            self.close(a, b, category, f"{what}[{i}]")


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal (for the CLI's progress bars)."""

    def isatty(self) -> bool:
        return True


def no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes `import tqdm` raise ImportError for the test (a None entry in sys.modules)."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def require_fashion_mnist() -> None:
    """Skips the calling test when Fashion-MNIST is not installed; fails it instead under
    `FERROPROP_REQUIRE_DATA=1` (CI installs the data, so a skip there would hide a gap)."""
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        return
    if os.environ.get("FERROPROP_REQUIRE_DATA") == "1":
        pytest.fail("FERROPROP_REQUIRE_DATA=1 but dataset-fashion-mnist is not installed")
    pytest.skip("dataset-fashion-mnist is not installed")


@pytest.fixture
def parity(request: pytest.FixtureRequest) -> Callable[[str], ParityChecker]:
    """Factory: ``parity(dtype)`` gives a checker that records errors under this test's id."""
    return lambda dtype: ParityChecker(dtype, request.node.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SKLEARN_LOG.worst:
        terminalreporter.section("ferroprop vs scikit-learn: largest relative coefficient error")
        for (dtype, _), w in sorted(SKLEARN_LOG.worst.items()):
            terminalreporter.write_line(f"{dtype:8s} {w.error:.3e}  {w.what}")
    if not ERROR_LOG.worst:
        return
    terminalreporter.section("ferroprop parity: largest relative errors vs float64 reference")
    for (dtype, category), w in sorted(ERROR_LOG.worst.items()):
        terminalreporter.write_line(
            f"{dtype:8s} {category:10s} {w.error:.3e} (tol {TOLERANCE[dtype]:.0e})  "
            f"{w.what}  [{w.test}]"
        )
    for dtype in sorted({d for d, _ in ERROR_LOG.worst}):
        overall = max(w.error for (d, _), w in ERROR_LOG.worst.items() if d == dtype)
        terminalreporter.write_line(f"{dtype:8s} {'overall':10s} {overall:.3e}")
