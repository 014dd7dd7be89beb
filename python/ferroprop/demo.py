"""The old demo, kept as an alias: ``python -m ferroprop.demo [OPTIONS]`` runs
``ferroprop train [OPTIONS]`` (Fashion-MNIST with the CLI's defaults; see :mod:`ferroprop.cli`).
"""

from __future__ import annotations

import sys

from .cli import main as _cli_main


def main(argv: list[str] | None = None) -> int:
    """Run ``ferroprop train`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    return _cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
