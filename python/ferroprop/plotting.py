"""`plot_history`: a `History`'s training curves as a matplotlib Figure (optionally a file:
PNG, or another format matplotlib writes, after the path's extension).

matplotlib is an optional dependency (`pip install ferroprop[plot]`): it is imported when a
plot is made, not with ferroprop. The history is read by duck typing (its list attributes and
`diagnostics`), so this module does not import `history`.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

from ._atomic_write import atomic_write

__all__ = ["figure_format", "plot_history"]

_MISSING = "plotting needs matplotlib: pip install ferroprop[plot]"

#: The scalar panels: (title, y label, ((attribute, legend label), …)).
_PANELS = (
    ("accuracy", "accuracy", (("accuracy", "train"), ("val_accuracy", "validation"))),
    ("mean absolute error", "MAE", (("mae", "train"), ("val_mae", "validation"))),
    ("R²", "R²", (("r2", "train"), ("val_r2", "validation"))),
)


def plot_history(hist: Any, path: str | os.PathLike[str] | None = None) -> Any:
    """Plots a `History`: the loss (train and validation), each metric present (accuracy,
    MAE, R², train and validation), and with diagnostics each layer's gradient norm (log
    scale) and the dead (or saturated) share of each activation layer's units.

    Args:
        hist: a `ferroprop.History` (anything with its list attributes and `diagnostics`).
        path: where to write the figure (atomically), or None: in the format of its
            extension (see `figure_format`; PNG when it has none). Saving needs no display.

    Returns:
        The `matplotlib.figure.Figure`. Without `path` it is made through pyplot (so that
        notebooks and `plt.show()` display it); with `path` it is a standalone Figure that
        pyplot does not keep.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the history has no epochs, or matplotlib cannot write `path`'s extension.
    """
    file_format = None if path is None else figure_format(path)
    figure_class, pyplot = _matplotlib(standalone=path is not None)
    loss = list(getattr(hist, "loss", []))
    if not loss:
        raise ValueError("hist: the history has no epochs to plot")
    panels: list[tuple[str, str, list[tuple[Sequence[float], str]], bool]] = [
        ("loss", "loss", _series(hist, (("loss", "train"), ("val_loss", "validation"))), False)
    ]
    for title, ylabel, fields in _PANELS:
        series = _series(hist, fields)
        if series:
            panels.append((title, ylabel, series, False))
    diagnostics = getattr(hist, "diagnostics", None) or {}
    first_layer_panel = len(panels)
    grads = _layer_series(diagnostics, ("grad_norm",))
    if grads:
        panels.append(("gradient norm per layer", "‖∇θ‖", grads, True))
    dead = _layer_series(diagnostics, ("dead_fraction", "saturated_fraction"))
    if dead:
        panels.append(("dead / saturated units", "share of units", dead, False))

    cols = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / cols)
    size = (6.0 * cols, 3.6 * rows)
    fig = figure_class(figsize=size) if pyplot is None else pyplot.figure(figsize=size)
    epochs = list(getattr(hist, "epochs", [])) or list(range(1, len(loss) + 1))
    diag_epochs = list(getattr(diagnostics, "epochs", [])) or epochs
    for i, (title, ylabel, series, log) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        x_all = diag_epochs if i >= first_layer_panel else epochs
        for values, label in series:
            marker = "." if len(values) < 30 else None
            ax.plot(_x(x_all, len(values)), list(values), marker=marker, label=label)
        if log and any(v > 0 for values, _ in series for v in values):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if len(series) > 1 or title != "loss":
            ax.legend(fontsize="small")
    fig.tight_layout()
    if path is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=file_format, dpi=100)
        atomic_write(os.fspath(path), buffer.getvalue())
    return fig


def figure_format(path: str | os.PathLike[str]) -> str:
    """The format `plot_history` writes `path` in: its extension, lower-cased, when matplotlib
    writes it (png, svg, pdf, jpg, …), "png" when it has none.

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
        ValueError: matplotlib cannot write files with `path`'s extension (the message lists
            those it can).
    """
    figure_class, _ = _matplotlib(standalone=True)
    suffix = os.path.splitext(os.fspath(path))[1].lower().removeprefix(".")
    if not suffix:
        return "png"
    supported = figure_class().canvas.get_supported_filetypes()
    if suffix not in supported:
        raise ValueError(
            f"path: matplotlib cannot write .{suffix} files (it writes "
            f"{', '.join('.' + name for name in sorted(supported))})"
        )
    return suffix


def _matplotlib(standalone: bool) -> tuple[Any, Any]:
    """(matplotlib's Figure class, pyplot or None when `standalone`).

    Raises:
        ImportError: matplotlib is missing (the message says how to install it).
    """
    try:
        from matplotlib.figure import Figure

        if standalone:
            return Figure, None
        import matplotlib.pyplot as pyplot
    except ImportError as err:
        raise ImportError(_MISSING) from err
    return Figure, pyplot


def _series(hist: Any, fields: Sequence[tuple[str, str]]) -> list[tuple[Sequence[float], str]]:
    """The non-empty lists among `fields`, with their legend labels."""
    out: list[tuple[Sequence[float], str]] = []
    for name, label in fields:
        values = list(getattr(hist, name, []) or [])
        if values:
            out.append((values, label))
    return out


def _layer_series(diagnostics: Any, metrics: Sequence[str]) -> list[tuple[Sequence[float], str]]:
    """Each layer's first metric of `metrics` that it reports, labelled "layer 'N'"."""
    out: list[tuple[Sequence[float], str]] = []
    for layer in diagnostics:
        reported = diagnostics[layer]
        for metric in metrics:
            if metric in reported:
                suffix = "" if metric == metrics[0] else f" ({metric.split('_')[0]})"
                out.append((list(reported[metric]), f"layer {layer!r}{suffix}"))
                break
    return out


def _x(epochs: Sequence[int], n: int) -> list[int]:
    """x values for a series of `n` values: the last `n` epochs (a list that started late,
    such as validation, ends with training)."""
    if len(epochs) >= n:
        return list(epochs[len(epochs) - n :])
    return list(range(1, n + 1))
