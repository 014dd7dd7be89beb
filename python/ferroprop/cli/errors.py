"""The CLI's user-facing error, and the path checks that raise it."""

from __future__ import annotations

from pathlib import Path


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""


def existing_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such file")
    if not p.is_file():
        raise CLIError(f"{path}: not a file")
    return p


def check_writable(path: str, option: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CLIError(f"{option} {path}: directory {parent} does not exist")
