"""Per-epoch progress of ``ferroprop train``: a tqdm bar, a plain one-line bar, or nothing; and
``write`` to print a note on stderr (a training warning) without breaking the bar."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .errors import CLIError


def rate(rows: int, seconds: float) -> float:
    return rows / max(seconds, 1e-9)


class _PlainProgress:
    """A one-line bar redrawn with a carriage return on a terminal; one line per epoch when the
    output is not a terminal (logs, pipes)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = _isatty(stream)
        self.width = 0
        self.line = ""
        if self.tty:  # something to look at during the first epoch
            self._draw(f"epoch {0:>{len(str(total))}}/{total}  [{'.' * 20}]")

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self.width))
        self.width = max(self.width, len(line))
        self.line = line
        self.stream.flush()

    def write(self, text: str) -> None:
        """`text` as a line on stderr; on a terminal the bar is cleared first and redrawn below."""
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
        _note(text)
        if self.tty and self.width:
            self.width = 0
            self._draw(self.line)

    def update(self, epoch: int, loss: float, val_acc: float | None, rate: float) -> None:
        done = round(20 * epoch / self.total)
        parts = [
            f"epoch {epoch:>{len(str(self.total))}}/{self.total}",
            f"[{'#' * done}{'.' * (20 - done)}]",
            f"loss {loss:.4f}",
        ]
        if val_acc is not None:
            parts.append(f"val_acc {val_acc:.4f}")
        parts.append(f"{rate:,.0f} samples/s")
        line = "  ".join(parts)
        if self.tty:
            self._draw(line)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
        self.width = 0


class _TqdmProgress:
    """A tqdm bar over the epochs with loss, val accuracy and samples/s as postfix."""

    def __init__(self, total: int, tqdm: Any) -> None:
        self.bar = tqdm(total=total, desc="train", unit="epoch", mininterval=0, dynamic_ncols=True)

    def update(self, epoch: int, loss: float, val_acc: float | None, rate: float) -> None:
        postfix = {"loss": f"{loss:.4f}"}
        if val_acc is not None:
            postfix["val_acc"] = f"{val_acc:.4f}"
        postfix["samples/s"] = f"{rate:,.0f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def write(self, text: str) -> None:
        """`text` as a line on stderr, above the bar."""
        self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()  # idempotent


class _NoProgress:
    def update(self, epoch: int, loss: float, val_acc: float | None, rate: float) -> None:
        pass

    def write(self, text: str) -> None:
        _note(text)

    def close(self) -> None:
        pass


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


#: What `make_progress` returns: `update(epoch, loss, val_acc, rate)`, `write(text)`, `close()`.
Progress = _PlainProgress | _TqdmProgress | _NoProgress


def make_progress(mode: str, total: int) -> Progress:
    """auto: a tqdm bar when tqdm is installed and stderr (where tqdm draws) is a terminal,
    else the plain bar, which writes one line per epoch when stdout is not a terminal."""
    if mode == "none":
        return _NoProgress()
    if mode == "tqdm" or (mode == "auto" and _isatty(sys.stderr)):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if mode == "tqdm":
                raise CLIError(
                    "--progress tqdm: tqdm is not installed (pip install tqdm)"
                ) from None
        else:
            return _TqdmProgress(total, tqdm)
    return _PlainProgress(total, sys.stdout)
