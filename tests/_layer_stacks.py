"""Layer stacks shared by the layer tests and benches/check_reference_torch.py.

Each stack is a list of reference layer tuples (see reference.layer_spec) with an input width
and a loss: every layer kind appears in several orders (norms first and last, Dropout before
and after norms and activations, two norms in a row, p = 0, momentum 0 and 1, a lone Dense).
"""

from __future__ import annotations

from dataclasses import dataclass

LOSSES = ("cross_entropy", "binary_cross_entropy", "mse")


@dataclass(frozen=True)
class Stack:
    id: str
    layers: tuple[tuple, ...]
    input_dim: int
    loss: str

    @property
    def has_batchnorm(self) -> bool:
        return any(spec[0] == "batchnorm" for spec in self.layers)

    @property
    def has_dropout(self) -> bool:
        return any(spec[0] == "dropout" for spec in self.layers)

    def kinds(self) -> set[str]:
        return {spec[0] for spec in self.layers}


D, A, DO, LN, BN = "dense", "activation", "dropout", "layernorm", "batchnorm"

STACKS: list[Stack] = [
    Stack(
        "issue-example",
        ((D, 7), (BN,), (A, "relu"), (DO, 0.2), (D, 6), (LN,), (A, "gelu"), (D, 3)),
        5,
        "cross_entropy",
    ),
    Stack(
        "norm-first",
        ((LN,), (D, 6), (A, "tanh"), (BN, 0.3, 1e-3), (DO, 0.5), (D, 4)),
        5,
        "binary_cross_entropy",
    ),
    Stack(
        "bn-dropout-first",
        ((BN,), (DO, 0.3), (D, 5), (A, "sigmoid"), (LN, 1e-3), (D, 3)),
        4,
        "mse",
    ),
    Stack(
        "dropout-before-norm",
        ((D, 6), (DO, 0.1), (LN,), (A, "leaky_relu"), (D, 5), (BN, 1.0, 1e-5), (A, "tanh"), (D, 2)),
        4,
        "cross_entropy",
    ),
    Stack(
        "two-norms-identity",
        ((D, 5), (A, "identity"), (A, "logistic"), (D, 4), (BN, 0.0, 1e-5), (LN,), (D, 2)),
        3,
        "binary_cross_entropy",
    ),
    Stack(
        "dropout-zero-no-bn",
        ((D, 6), (DO, 0.0), (A, "relu"), (LN, 1e-4), (D, 5), (DO, 0.4), (A, "gelu"), (D, 3)),
        4,
        "mse",
    ),
    Stack("dense-only", ((D, 3),), 4, "cross_entropy"),
    Stack("dense-dense-ln", ((D, 5), (D, 4), (LN,), (D, 1)), 3, "mse"),
]

STACK_IDS = [s.id for s in STACKS]


def to_fp_layers(layers: tuple[tuple, ...] | list[tuple]) -> list:
    """The ferroprop.layers objects for reference layer tuples (imports ferroprop lazily, so
    this module also serves scripts that have only torch and numpy)."""
    from ferroprop import layers as L

    out = []
    for spec in layers:
        kind, args = spec[0], spec[1:]
        if kind == "dense":
            out.append(L.Dense(*args))
        elif kind == "activation":
            out.append(L.Activation(*args))
        elif kind == "dropout":
            out.append(L.Dropout(*args))
        elif kind == "layernorm":
            out.append(L.LayerNorm(**dict(zip(("eps",), args, strict=False))))
        elif kind == "batchnorm":
            out.append(L.BatchNorm(**dict(zip(("momentum", "eps"), args, strict=False))))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return out


def to_torch(layers: tuple[tuple, ...] | list[tuple], input_dim: int):  # noqa: ANN201
    """A float64 torch.nn.Sequential of the same layers (imports torch lazily). Dropout is a
    module computing x * scale with `scale` (keep / (1 - p)) set by the caller before each
    training forward, and the identity in evaluation, so torch sees the mask under test."""
    import torch
    from torch import nn

    import reference

    class MaskedDropout(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale: torch.Tensor | None = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale if self.training else x

    acts = {
        "identity": nn.Identity,
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(0.01),
        "sigmoid": nn.Sigmoid,
        "logistic": nn.Sigmoid,
        "tanh": nn.Tanh,
        "gelu": lambda: nn.GELU(approximate="tanh"),
    }
    modules: list = []
    widths = reference.stack_widths(layers, input_dim)
    for spec, width in zip(map(reference.layer_spec, layers), widths, strict=False):
        if spec[0] == "dense":
            modules.append(nn.Linear(width, spec[1], dtype=torch.float64))
        elif spec[0] == "activation":
            modules.append(acts[spec[1]]())
        elif spec[0] == "dropout":
            modules.append(MaskedDropout())
        elif spec[0] == "layernorm":
            modules.append(nn.LayerNorm(width, eps=spec[1], dtype=torch.float64))
        else:
            modules.append(
                nn.BatchNorm1d(width, momentum=spec[1], eps=spec[2], dtype=torch.float64)
            )
    return nn.Sequential(*modules)
