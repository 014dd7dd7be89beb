"""Type stubs for the Rust extension `ferroprop._core` (use the `ferroprop` package instead)."""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

__version__: str
OPTIMIZERS: tuple[str, ...]
"""The optimizer classes' names: ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")."""

class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient or parameter; the parameters are those of
    the last finite step."""

class InternalError(RuntimeError):
    """A bug in ferroprop (a panic caught at its edge); the message names the operation."""

class Optimizer:
    """Base class of SGD, Adam, AdamW, RMSprop and Adagrad: hyperparameters plus state kept
    across calls."""

    lr: float
    @property
    def steps(self) -> int: ...
    def reset(self) -> None: ...

class SGD(Optimizer):
    def __init__(
        self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None: ...

class Adam(Optimizer):
    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None: ...

class AdamW(Optimizer):
    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None: ...

class RMSprop(Optimizer):
    """RMSprop, as `torch.optim.RMSprop`.

    Per element: `g = grad + weight_decay * p`, `sq = alpha * sq + (1 - alpha) * g**2`,
    `avg = sqrt(sq) + eps`; centered, `ga = lerp(ga, g, 1 - alpha)` and
    `avg = sqrt(sq - ga**2) + eps` (a negative rounding residue counts as 0). Then
    `p -= lr * g / avg`, or with momentum `buf = momentum * buf + g / avg`, `p -= lr * buf`.
    All state starts at zero.

    Args:
        lr: learning rate, > 0 and finite.
        alpha: smoothing constant of the averages, >= 0.
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        momentum: momentum factor, >= 0 (0: no momentum buffer).
        centered: normalise by an estimate of the gradient's variance.

    Raises:
        TypeError: an argument of the wrong type (the message names it).
        ValueError: an argument out of range (the message names it).
    """

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None: ...

class Adagrad(Optimizer):
    """Adagrad, as `torch.optim.Adagrad`.

    Per element at step t: `g = grad + weight_decay * p`, `sum += g**2`,
    `p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)`; `sum` starts at
    `initial_accumulator_value`.

    Args:
        lr: learning rate, > 0 and finite.
        lr_decay: learning rate decay per step, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        initial_accumulator_value: the sum's starting value, >= 0.
        eps: added to the denominator, >= 0.

    Raises:
        TypeError: an argument of the wrong type (the message names it).
        ValueError: an argument out of range (the message names it).
    """

    def __init__(
        self,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None: ...

class SklearnSGD(Optimizer):
    """scikit-learn's SGDOptimizer (velocity form), used by ferroprop.sklearn."""

    def __init__(self, lr: float, momentum: float, nesterov: bool) -> None: ...

class SklearnAdam(Optimizer):
    """scikit-learn's AdamOptimizer (eps added to the uncorrected sqrt(v))."""

    def __init__(self, lr: float, beta_1: float, beta_2: float, epsilon: float) -> None: ...

_Float = np.float32 | np.float64
_EpochCallback = Callable[[int, float, float | None, float | None, float], None]

class Network:
    """The engine network; arrays must already have its dtype, C order (labels: int64)."""

    def __init__(
        self,
        widths: Sequence[int],
        activations: Sequence[str],
        loss: str,
        dtype: str,
        init: str,
        seed: int,
    ) -> None: ...
    @property
    def widths(self) -> list[int]: ...
    @property
    def activations(self) -> list[str]: ...
    @property
    def loss_name(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    def weights(self) -> list[npt.NDArray[_Float]]: ...
    def biases(self) -> list[npt.NDArray[_Float]]: ...
    def set_parameters(
        self, weights: Sequence[npt.NDArray[_Float]], biases: Sequence[npt.NDArray[_Float]]
    ) -> None: ...
    def forward(self, x: npt.NDArray[_Float]) -> npt.NDArray[_Float]: ...
    def predict(self, x: npt.NDArray[_Float]) -> npt.NDArray[np.int64] | npt.NDArray[_Float]: ...
    def loss(self, x: npt.NDArray[_Float], y: npt.NDArray[np.generic]) -> float: ...
    def gradients(
        self,
        x: npt.NDArray[_Float],
        y: npt.NDArray[np.generic],
        sample_weight: npt.NDArray[_Float] | None = None,
        alpha: float = 0.0,
    ) -> tuple[float, list[npt.NDArray[_Float]], list[npt.NDArray[_Float]]]: ...
    def step(
        self, x: npt.NDArray[_Float], y: npt.NDArray[np.generic], optimizer: Optimizer
    ) -> float: ...
    def fit(
        self,
        x: npt.NDArray[_Float],
        y: npt.NDArray[np.generic],
        epochs: int,
        batch_size: int,
        optimizer: Optimizer,
        shuffle: bool,
        seed: int | None,
        x_val: npt.NDArray[_Float] | None,
        y_val: npt.NDArray[np.generic] | None,
        on_epoch: _EpochCallback | None,
        order: npt.NDArray[np.int64] | None = None,
        sample_weight: npt.NDArray[_Float] | None = None,
        alpha: float = 0.0,
        finite_checked: bool = False,
    ) -> list[tuple[float, float | None, float | None, float]]: ...

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def simd_path() -> str: ...
def max_threads() -> int: ...
def _panic_in_team(members: int, culprit: int) -> None: ...
def _panic_here() -> None: ...
