"""The layers a `ferroprop.Sequential` is made of, each as its PyTorch counterpart.

>>> from ferroprop import layers as L
>>> stack = [L.Dense(256), L.BatchNorm(), L.Activation("relu"), L.Dropout(0.2), L.Dense(10)]

- `Dense(units, init="glorot")` — `X·W + b` (`nn.Linear`); init "glorot" (scikit-learn's rule)
  or "he".
- `Activation(name)` — one of `ACTIVATIONS` (`nn.ReLU`, `nn.Tanh`, `nn.Sigmoid`,
  `nn.LeakyReLU(0.01)`, `nn.GELU(approximate="tanh")`, `nn.Identity`).
- `Dropout(p=0.5)` — inverted dropout (`nn.Dropout`); identity in evaluation.
- `LayerNorm(eps=1e-5)` — per-row normalisation with learnable γ, β (`nn.LayerNorm`).
- `BatchNorm(momentum=0.1, eps=1e-5)` — per-feature batch normalisation with running
  statistics (`nn.BatchNorm1d`).
"""

from ._core import ACTIVATIONS, LAYERS, Activation, BatchNorm, Dense, Dropout, Layer, LayerNorm

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "Activation",
    "BatchNorm",
    "Dense",
    "Dropout",
    "Layer",
    "LayerNorm",
]
