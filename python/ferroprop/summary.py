"""`net.summary()`: a table of the layers, like Keras's `model.summary()`.

One row per layer: its index (the prefix of its `state_dict` names), the layer (its repr), its
output shape `(None, width)` (None: any batch size), its trainable parameters, its buffers
(BatchNorm's running statistics and `num_batches_tracked`, non-trainable) and the FLOPs per
sample of a training step's forward and backward passes, as the engine counts them
(`LayerOps::flops` in rust/layers/mod.rs): a multiply or an add is one FLOP (a GEMM
`2·in·out`), an exp or tanh one; the first layer's backward computes no input gradient (nothing
below needs it), so a first Dense costs `2·in·out + out` backward (dW and db only). The loss is
not counted. Totals: `total_params = trainable_params + non_trainable_params`, which is the
number of elements in `state_dict()`.
"""

from __future__ import annotations

from typing import Any

from . import _core

__all__ = ["Summary", "summarize"]

_COLUMNS = ("Layer", "Type", "Output shape", "Params", "Buffers", "FLOPs fwd", "FLOPs bwd")


class Summary:
    """The summary of a network; `str()` and `repr()` are the table.

    Attributes:
        rows: one dict per layer with keys `index` (str, as in `state_dict`), `layer` (the
            layer's repr), `kind`, `input_shape` and `output_shape` (`(None, width)`),
            `params` (trainable), `buffers` (non-trainable), `flops_forward`, `flops_backward`
            (per sample).
        input_dim: features per input row.
        loss: the loss's name.
        total_params: every `state_dict()` element (trainable + non-trainable).
        trainable_params: the parameters the optimizer updates.
        non_trainable_params: buffers (BatchNorm's running statistics and counter).
        flops_forward, flops_backward: per sample, summed over the layers (loss excluded).
    """

    def __init__(self, rows: list[dict[str, Any]], input_dim: int, loss: str) -> None:
        self.rows = rows
        self.input_dim = input_dim
        self.loss = loss
        self.trainable_params = sum(r["params"] for r in rows)
        self.non_trainable_params = sum(r["buffers"] for r in rows)
        self.total_params = self.trainable_params + self.non_trainable_params
        self.flops_forward = sum(r["flops_forward"] for r in rows)
        self.flops_backward = sum(r["flops_backward"] for r in rows)

    def __str__(self) -> str:
        cells = [_COLUMNS] + [
            (
                r["index"],
                r["layer"],
                str(r["output_shape"]),
                f"{r['params']:,}",
                f"{r['buffers']:,}",
                f"{r['flops_forward']:,}",
                f"{r['flops_backward']:,}",
            )
            for r in self.rows
        ]
        widths = [max(len(row[c]) for row in cells) for c in range(len(_COLUMNS))]
        # Text columns left-aligned, numbers right-aligned.
        left = 3

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(
                cell.ljust(w) if c < left else cell.rjust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()

        lines = [line(row) for row in cells]
        rule = "─" * max(len(text) for text in lines)
        out = [f"Input: (None, {self.input_dim})    loss: {self.loss}", rule, lines[0], rule]
        out += lines[1:] + [rule]
        out.append(
            f"Total params: {self.total_params:,} (trainable {self.trainable_params:,}, "
            f"non-trainable {self.non_trainable_params:,})"
        )
        out.append(
            f"FLOPs per sample: forward {self.flops_forward:,}, backward "
            f"{self.flops_backward:,} (training step; loss not counted)"
        )
        return "\n".join(out)

    __repr__ = __str__


def summarize(core: _core.Network) -> Summary:
    """The `Summary` of an engine network (`Model.summary()` calls this).

    Args:
        core: the engine network.

    Returns:
        Its `Summary`.

    Raises:
        TypeError: `core` is not a `_core.Network`.
    """
    if not isinstance(core, _core.Network):
        raise TypeError(f"core: expected a ferroprop._core.Network, got {type(core).__name__}")
    layers = core.layers
    rows = []
    for (index, kind, fan_in, width, params, buffers, fwd, bwd), layer in zip(
        core.summary_rows(), layers, strict=True
    ):
        rows.append(
            {
                "index": str(index),
                "layer": repr(layer),
                "kind": kind,
                "input_shape": (None, fan_in),
                "output_shape": (None, width),
                "params": params,
                "buffers": buffers,
                "flops_forward": fwd,
                "flops_backward": bwd,
            }
        )
    return Summary(rows, core.widths[0], core.loss_name)
