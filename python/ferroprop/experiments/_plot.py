"""The figure of an experiment: a row of panels, written as a PNG.

matplotlib is optional (`pip install ferroprop[plot]`), as for `ferroprop.plot_history`, whose
import helper this uses: the ImportError says how to install it.
"""

from __future__ import annotations

import io
import os
from typing import Any

from .._atomic_write import atomic_write
from ..plotting import _matplotlib

__all__ = ["panels", "require_matplotlib", "save_png"]


def require_matplotlib() -> None:
    """Raises ImportError (naming `pip install ferroprop[plot]`) when matplotlib is missing."""
    _matplotlib(standalone=True)


def panels(count: int) -> tuple[Any, list[Any]]:
    """A standalone matplotlib Figure (not kept by pyplot) with `count` panels side by side.

    Returns:
        `(figure, axes)`, one Axes per panel, each with a light grid.

    Raises:
        ImportError: matplotlib is not installed.
    """
    figure_class, _ = _matplotlib(standalone=True)
    fig = figure_class(figsize=(5.5 * count, 4.0))
    axes = [fig.add_subplot(1, count, i + 1) for i in range(count)]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def save_png(fig: Any, path: str | os.PathLike[str]) -> None:
    """Lays out `fig` and writes it to `path` as a PNG, atomically (Agg renderer: no display)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write(os.fspath(path), buffer.getvalue())
