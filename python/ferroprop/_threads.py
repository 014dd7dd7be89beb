"""The size of ferroprop's own thread pool (not rayon's global pool, not BLAS's)."""

from __future__ import annotations

from . import _core
from ._validation import as_count

get_num_threads = _core.get_num_threads
max_threads = _core.max_threads


def set_num_threads(n: int) -> None:
    """Sets how many threads ferroprop's kernels may use: 1 to `max_threads()` (four per CPU).

    Calls that start afterwards use the new pool; a `fit` already running keeps its own.
    Raises TypeError for a non-integer, ValueError naming `n` when out of range.
    """
    _core.set_num_threads(as_count(n, "n", 1, _core.max_threads()))
