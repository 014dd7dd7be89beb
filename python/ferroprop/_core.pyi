"""Type stubs for the Rust extension `ferroprop._core` (use the `ferroprop` package instead)."""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient or parameter; the parameters are those of
    the last finite step."""

class InternalError(RuntimeError):
    """A bug in ferroprop (a panic caught at its edge); the message names the operation."""

class Optimizer:
    """Base class of SGD, Adam and AdamW: hyperparameters plus state kept across calls."""

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
