"""The CLI's user-facing error, and the path checks that raise it."""

from __future__ import annotations

from pathlib import Path


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""


def existing_file(path: str) -> Path:
    """`path`, which must name an existing regular file (not a directory, FIFO or device)."""
    if not path:
        raise CLIError("expected a file name, got an empty string")
    p = Path(path)
    try:
        if not p.exists():
            raise CLIError(f"{path}: no such file")
        if not p.is_file():
            raise CLIError(f"{path}: not a file")
    except OSError as exc:  # a name too long, a loop of symlinks
        raise CLIError(f"{path}: {exc.strerror or exc}") from None
    return p


def check_writable(path: str, option: str) -> None:
    """Refuses an output `path` that cannot be written: empty, a directory, or in a directory
    that does not exist (checked before the work, so that it is not lost at the end)."""
    if not path:
        raise CLIError(f"{option}: expected a file name, got an empty string")
    try:
        p = Path(path)
        if p.is_dir():
            raise CLIError(f"{option} {path}: is a directory")
        parent = p.resolve().parent
        if not parent.is_dir():
            raise CLIError(f"{option} {path}: directory {parent} does not exist")
    except OSError as exc:
        raise CLIError(f"{option} {path}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # Path.resolve on a loop of symlinks (Python < 3.13)
        raise CLIError(f"{option} {path}: {exc}") from None
