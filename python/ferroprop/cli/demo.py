"""``ferroprop demo NAME``: run one of the classic experiments (`ferroprop.experiments`), print
what it shows and its numbers, and with ``--plot PATH`` write its figure."""

from __future__ import annotations

import argparse

from .. import experiments
from .errors import CLIError, check_writable
from .options import seed

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction, epilog: str) -> None:
    """Adds the ``demo`` command to ``subparsers``; ``epilog`` is shown under its --help."""
    names = ", ".join(experiments.EXPERIMENTS)
    p = subparsers.add_parser(
        "demo",
        help="run a classic experiment (xor, vanishing gradients, dead ReLUs, ...)",
        description=(
            "Run one of the classic experiments of neural-network training and print what it "
            "shows, with its numbers. Without NAME (or with --list) list them."
        ),
        epilog=epilog,
    )
    p.add_argument(
        "name",
        nargs="?",
        choices=tuple(experiments.EXPERIMENTS),
        metavar="NAME",
        help=f"the experiment: {names}",
    )
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument(
        "--plot",
        metavar="PATH",
        help="write the experiment's figure as a PNG (needs matplotlib)",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seeds the data and the initial weights, 0..2**64-1 (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """``ferroprop demo`` with parsed ``args``. Returns the exit code; raises CLIError for bad
    input (an unwritable --plot path, matplotlib or Fashion-MNIST missing)."""
    if args.list or args.name is None:
        width = max(len(name) for name in experiments.SUMMARIES)
        print("experiments (ferroprop demo NAME [--plot PATH]):")
        for name, summary in experiments.SUMMARIES.items():
            print(f"  {name:<{width}}  {summary}")
        return 0
    if args.plot is not None:
        check_writable(args.plot, "--plot")
    try:
        outcome = experiments.run(args.name, plot=args.plot, seed=args.seed)
    except ImportError as exc:  # matplotlib, checked before the experiment runs
        raise CLIError(f"--plot: {exc}") from None
    except FileNotFoundError as exc:  # the data of `overfitting`
        raise CLIError(str(exc)) from None
    print(f"{outcome.name}: {experiments.SUMMARIES[outcome.name]}\n")
    print(outcome.report())
    if args.plot is not None:
        print(f"\nwrote the figure to {args.plot}")
    return 0
