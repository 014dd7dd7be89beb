"""Warnings attributed to the user's line: `warn_user` walks out of the ferroprop package (and
any `skip` directories) to the first caller outside it, as `stacklevel` would if its depth were
known.

`fit` calls its callbacks from the Rust loop, on a thread whose Python stack holds only the
callback's own frames; the user's line is not on it. So `fit` records that line first
(`caller()`) and runs the callbacks inside `attributed_to(origin)`: a warning whose frames end
inside ferroprop is then attributed to the recorded line instead of to "sys:1".
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

__all__ = ["Origin", "attributed_to", "caller", "warn_user"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: The line a thread's warnings fall back to (set by `attributed_to`).
_FALLBACK = threading.local()


@dataclasses.dataclass(frozen=True)
class Origin:
    """A line of user code warnings are attributed to."""

    filename: str
    lineno: int
    module_globals: dict[str, Any]


def _outside(skip: Sequence[str]) -> tuple[FrameType | None, int]:
    """The first frame of `_outside`'s caller's caller outside ferroprop and `skip`, with its
    `stacklevel` as counted from that caller; (None, depth) when every frame is inside."""
    prefixes = tuple(os.path.abspath(d) + os.sep for d in (_PACKAGE_DIR, *skip))
    level = 2  # stacklevel 2: the caller's caller
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(prefixes):
        frame = frame.f_back
        level += 1
    return frame, level


def caller(skip: Sequence[str] = ()) -> Origin | None:
    """The user's line that (through ferroprop) called the function calling `caller`, or None
    when there is none on this thread's stack.

    Args:
        skip: more directories whose frames are skipped besides ferroprop's.
    """
    frame, _ = _outside(skip)
    if frame is None:
        return None
    return Origin(frame.f_code.co_filename, frame.f_lineno, frame.f_globals)


@contextlib.contextmanager
def attributed_to(origin: Origin | None) -> Iterator[None]:
    """Within the block, this thread's `warn_user` warnings that find no user frame on the
    stack are attributed to `origin` (nothing changes when `origin` is None)."""
    previous = getattr(_FALLBACK, "origin", None)
    _FALLBACK.origin = origin if origin is not None else previous
    try:
        yield
    finally:
        _FALLBACK.origin = previous


def warn_user(
    message: str, category: type[Warning] = UserWarning, skip: Sequence[str] = ()
) -> None:
    """`warnings.warn` attributed to the first caller outside the ferroprop package (the line
    that called `fit`), however deep inside ferroprop the warning is raised; with no such
    frame on the stack (a callback run by the Rust loop), to the line `attributed_to` set.

    Args:
        message, category: as for `warnings.warn`.
        skip: more directories whose frames are skipped too (the scikit-learn estimators pass
            scikit-learn's, whose wrappers sit between the user's line and theirs).
    """
    frame, level = _outside(skip)
    origin: Origin | None = getattr(_FALLBACK, "origin", None)
    if frame is not None or origin is None:
        warnings.warn(message, category, stacklevel=level)
        return
    module = origin.module_globals.get("__name__", "__main__")
    warnings.warn_explicit(
        message,
        category,
        origin.filename,
        origin.lineno,
        module=module,
        registry=origin.module_globals.setdefault("__warningregistry__", {}),
        module_globals=origin.module_globals,
    )
