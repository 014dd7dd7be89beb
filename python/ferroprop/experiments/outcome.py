"""`Outcome`, what an experiment returns, and `training_warnings`, which collects the
`TrainingWarning`s a run issues instead of letting them reach the user."""

from __future__ import annotations

import dataclasses
import math
import textwrap
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from ..diagnostics import TrainingWarning
from ..history import History

__all__ = ["Outcome", "fired_for", "training_warnings"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of one experiment.

    Attributes:
        name: the experiment's name (a key of `ferroprop.experiments.EXPERIMENTS`).
        text: two or three sentences saying what happened, with the measured numbers.
        numbers: the measured figures by name (`nan` where a run has none, e.g. the loss of a
            run that diverged); flags such as `sigmoid_warned` are 1.0 or 0.0.
        histories: the `History` of each compared run, by run label (the plots' legends).

    Raises:
        TypeError: `name` or `text` is not a str, or a number is not a real number.
    """

    name: str
    text: str
    numbers: Mapping[str, float]
    histories: Mapping[str, History]

    def __post_init__(self) -> None:
        for field in ("name", "text"):
            if not isinstance(getattr(self, field), str):
                raise TypeError(f"{field}: expected a str, got {getattr(self, field)!r}")
        numbers: dict[str, float] = {}
        for key, value in self.numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"numbers[{key!r}]: expected a real number, got {value!r}")
            numbers[key] = float(value)
        # Frozen all the way down: the mappings are read-only views of private copies.
        object.__setattr__(self, "numbers", MappingProxyType(numbers))
        object.__setattr__(self, "histories", MappingProxyType(dict(self.histories)))

    def report(self, width: int = 88) -> str:
        """The text wrapped to `width` columns, then one line per number (`name  value`)."""
        lines = [textwrap.fill(self.text, width), ""]
        pad = max((len(key) for key in self.numbers), default=0)
        for key, value in self.numbers.items():
            lines.append(f"  {key:<{pad}}  {_number(value)}")
        return "\n".join(lines)


@contextmanager
def training_warnings() -> Iterator[list[str]]:
    """Collects the `TrainingWarning`s issued inside the block, each occurrence.

    Yields a list that holds their messages, in order, once the block has ended; other
    warnings are issued again, unchanged, when it ends.
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for w in caught:
        if issubclass(w.category, TrainingWarning):
            messages.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def fired_for(flags: Mapping[str, bool]) -> str:
    """Which runs a warning fired for, as words: `{"sigmoid": True, "relu": False}` gives
    "fired for sigmoid only"; also "fired for a and b, not for c", "fired for all of them",
    "did not fire"."""
    fired = [label for label, flag in flags.items() if flag]
    quiet = [label for label, flag in flags.items() if not flag]
    if not fired:
        return "did not fire"
    if not quiet:
        return "fired for all of them" if len(fired) > 1 else f"fired for {fired[0]}"
    if len(fired) == 1:
        return f"fired for {fired[0]} only"
    return f"fired for {' and '.join(fired)}, not for {' and '.join(quiet)}"


def _number(value: float) -> str:
    """`value` for the report: an integer as such, anything else to 4 significant digits."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"
