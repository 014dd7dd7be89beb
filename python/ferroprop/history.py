"""`History`: the per-epoch record of a `fit` call, and `Diagnostics`, its per-layer part.

`fit` calls `History.append(logs)` once per epoch with the engine's logs dict:
`{"epoch": 1-based int, "loss", "seconds", "lr"}` plus, when available, `val_loss`,
`accuracy`/`val_accuracy` (classification losses), `mae`/`r2`/`val_mae`/`val_r2` (regression
losses) and `diagnostics` (`{layer name: {metric: value}}`, layer names as in `state_dict`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

from .plotting import plot_history

__all__ = ["FIELDS", "Diagnostics", "History"]

#: The scalar per-epoch metrics `History` keeps, each as a list attribute.
FIELDS = (
    "loss",
    "val_loss",
    "accuracy",
    "val_accuracy",
    "mae",
    "val_mae",
    "r2",
    "val_r2",
    "lr",
    "seconds",
)


class _LayerMetrics(Mapping[str, list[float]]):
    """One layer's metrics (metric name → per-epoch values), read-only: each lookup returns a
    fresh list."""

    def __init__(self, metrics: dict[str, list[float]]) -> None:
        self._metrics = metrics

    def __getitem__(self, metric: str) -> list[float]:
        return list(self._metrics[metric])

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def __repr__(self) -> str:
        return repr({name: list(values) for name, values in self._metrics.items()})


class Diagnostics(Mapping[str, Mapping[str, list[float]]]):
    """Per-layer training diagnostics: `diag[layer][metric]` is the list of that metric's
    values, one per epoch of `epochs` (NaN where an epoch did not report it).

    Layer names are the layer indices of `state_dict` ("0", "1", …). Metrics: `grad_norm`,
    `weight_norm`, `update_ratio` for layers with parameters; `mean`, `std` and
    `dead_fraction` (relu, leaky_relu) or `saturated_fraction` (sigmoid, tanh) for activation
    layers; `gamma_mean`, `gamma_std` for normalisation layers. Read-only: `History.append`
    fills it.
    """

    def __init__(self) -> None:
        self._layers: dict[str, dict[str, list[float]]] = {}
        self._epochs: list[int] = []

    # -- the mapping ----------------------------------------------------------------------------

    def __getitem__(self, layer: str) -> Mapping[str, list[float]]:
        return _LayerMetrics(self._layers[layer])

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    @property
    def epochs(self) -> list[int]:
        """The (1-based) epochs that reported diagnostics, one per value of every metric list."""
        return list(self._epochs)

    # -- filling --------------------------------------------------------------------------------

    def _append(self, epoch: int, layers: Mapping[str, Mapping[str, Any]]) -> None:
        """Adds one epoch's `{layer: {metric: value}}`; metrics missing from it get NaN.

        Raises:
            TypeError: `layers` or one of its values is not a mapping, or a value not a number.
        """
        if not isinstance(layers, Mapping):
            raise TypeError(f"logs['diagnostics']: expected a mapping, got {type(layers).__name__}")
        done = len(self._epochs)
        for layer, metrics in layers.items():
            if not isinstance(metrics, Mapping):
                raise TypeError(
                    f"logs['diagnostics'][{layer!r}]: expected a mapping, "
                    f"got {type(metrics).__name__}"
                )
            known = self._layers.setdefault(str(layer), {})
            for metric, value in metrics.items():
                values = known.setdefault(str(metric), [math.nan] * done)
                values.append(_number(value, f"logs['diagnostics'][{layer!r}][{metric!r}]"))
        self._epochs.append(epoch)
        for metrics in self._layers.values():
            for values in metrics.values():
                if len(values) == done:
                    values.append(math.nan)

    # -- display --------------------------------------------------------------------------------

    def table(self, last: int = 8) -> str:
        """The diagnostics as text: one row per layer and metric, one column per epoch (the
        `last` epochs only when there are more), values with 3 significant digits.

        Args:
            last: how many of the latest epochs to show (at least 1).

        Returns:
            The table, rows separated by newlines; "(no diagnostics)" when empty.

        Raises:
            ValueError: `last` < 1.
        """
        if isinstance(last, bool) or not isinstance(last, int) or last < 1:
            raise ValueError(f"last: expected a positive integer, got {last!r}")
        if not self._epochs:
            return "(no diagnostics)"
        shown = self._epochs[-last:]
        rows = [("layer", "metric", *(f"epoch {e}" for e in shown))]
        for layer in sorted(self._layers, key=layer_order):
            for metric, values in self._layers[layer].items():
                rows.append((layer, metric, *(_cell(v) for v in values[-len(shown) :])))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = []
        if len(shown) < len(self._epochs):
            lines.append(f"(last {len(shown)} of {len(self._epochs)} epochs)")
        for row in rows:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
            cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        if not self._layers:
            return "Diagnostics(empty)"
        layers = ", ".join(
            f"{layer!r}: [{', '.join(self._layers[layer])}]"
            for layer in sorted(self._layers, key=layer_order)
        )
        n = len(self._epochs)
        return f"Diagnostics({n} epoch{'s' if n != 1 else ''}; {layers})"


@dataclasses.dataclass(repr=False)
class History:
    """Per-epoch record of a `fit` call: one value per epoch in each list.

    `loss` is the mean training loss (each batch's loss taken before its update); `val_loss`,
    `val_accuracy`, `val_mae`, `val_r2` are filled when `validation_data` is given;
    `accuracy`/`val_accuracy` for classification losses, `mae`/`r2` (and their `val_`) for
    regression losses; `lr` is the learning rate, `seconds` each epoch's wall time and
    `epochs` the (1-based) epoch numbers. `diagnostics` holds the per-layer diagnostics when
    they were on (see `Diagnostics`).
    """

    loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list[float] = dataclasses.field(default_factory=list)
    val_accuracy: list[float] = dataclasses.field(default_factory=list)
    mae: list[float] = dataclasses.field(default_factory=list)
    val_mae: list[float] = dataclasses.field(default_factory=list)
    r2: list[float] = dataclasses.field(default_factory=list)
    val_r2: list[float] = dataclasses.field(default_factory=list)
    lr: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    epochs: list[int] = dataclasses.field(default_factory=list)
    diagnostics: Diagnostics = dataclasses.field(default_factory=Diagnostics)

    def append(self, logs: Mapping[str, Any]) -> None:
        """Adds one epoch from a logs dict (see the module docstring). Keys that are missing
        or None leave their list alone; unknown keys are ignored.

        Args:
            logs: the epoch's logs; `epoch` defaults to the next epoch number.

        Raises:
            TypeError: `logs` is not a mapping, or a value is not a number.
        """
        if not isinstance(logs, Mapping):
            raise TypeError(f"logs: expected a mapping, got {type(logs).__name__}")
        epoch = logs.get("epoch")
        if epoch is None:
            epoch = self.epochs[-1] + 1 if self.epochs else 1
        elif isinstance(epoch, bool) or not isinstance(epoch, int):
            raise TypeError(f"logs['epoch']: expected an int, got {epoch!r}")
        values = {
            name: _number(logs[name], f"logs[{name!r}]")
            for name in FIELDS
            if logs.get(name) is not None
        }
        diagnostics = logs.get("diagnostics")
        if diagnostics is not None:
            self.diagnostics._append(epoch, diagnostics)
        self.epochs.append(epoch)
        for name, value in values.items():
            getattr(self, name).append(value)

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """`ferroprop.plot_history(self, path)`: the training curves as a matplotlib Figure,
        also written to `path` when given (PNG, or the format of its extension).

        Raises:
            ImportError: matplotlib is not installed.
        """
        return plot_history(self, path)

    def __repr__(self) -> str:
        n = len(self.epochs) or len(self.loss)
        parts = [f"{n} epoch{'s' if n != 1 else ''}"]
        for name in FIELDS:
            values = getattr(self, name)
            if values and name != "seconds":
                parts.append(f"{name}={values[-1]:.4g}")
        if self.diagnostics:
            parts.append(f"diagnostics for {len(self.diagnostics)} layers")
        return f"History({', '.join(parts)})"


def _number(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        and not hasattr(value, "__float__")
    ):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def layer_order(name: str) -> tuple[int, int | str]:
    """Layers "0", "1", …, "10" in numeric order, other names after them."""
    return (0, int(name)) if name.isdigit() else (1, name)
