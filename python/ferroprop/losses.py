"""Loss objects: a loss with its parameters, for `Network(widths, loss=...)`.

A network takes a loss by name (`loss="huber"`, one of `NAMES`) or as one of these objects,
which carry parameters: `CrossEntropy(label_smoothing=0.1)`, `Huber(delta=0.5)`. They are
immutable, compare equal when their parameters are, and pickle. Every loss takes sample
weights (`Network.fit(..., sample_weight=w)`, `Network.gradients(X, y, sample_weight=w)`):
the weighted mean reduces to the unweighted one when every weight is 1 —
`Σ_i w_i Σ_j l_ij / (k · Σ_i w_i)` over `k` outputs for the per-element means
(`BinaryCrossEntropy`, `MSE`, `Huber`, `L1`) and `Σ_i w_i l_i / Σ_i w_i` for the others.

PyTorch's definitions (`reduction="mean"`):

- `CrossEntropy(label_smoothing=0.0)`: softmax outputs, class-index targets `(n,)`; the target
  distribution is `(1 - ε)·onehot + ε/K` (`torch.nn.CrossEntropyLoss`).
- `BinaryCrossEntropy()`: sigmoid outputs, targets in [0, 1] (`BCEWithLogitsLoss`).
- `MSE()`: identity outputs, mean squared error, not halved (`MSELoss`).
- `Huber(delta=1.0)`: identity outputs, `½r²` for `|r| < delta`, else `delta·(|r| - ½delta)`
  (`HuberLoss`).
- `L1()`: identity outputs, mean absolute error (`L1Loss`).

scikit-learn's (`MLPClassifier`/`MLPRegressor`), computed as scikit-learn computes them:
`LogLoss()`, `BinaryLogLoss()`, `SquaredError()` (halved), `Poisson()` (exp outputs, targets
>= 0).
"""

from ._core import (
    L1,
    MSE,
    BinaryCrossEntropy,
    BinaryLogLoss,
    CrossEntropy,
    Huber,
    LogLoss,
    Loss,
    Poisson,
    SquaredError,
)
from ._core import LOSSES as NAMES

__all__ = [
    "L1",
    "MSE",
    "NAMES",
    "BinaryCrossEntropy",
    "BinaryLogLoss",
    "CrossEntropy",
    "Huber",
    "LogLoss",
    "Loss",
    "Poisson",
    "SquaredError",
]
