"""Type stubs for the Rust extension `ferroprop._core` (use the `ferroprop` package instead)."""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

__version__: str
#: Every loss name `Network(loss=...)` and `make_loss` take, in a fixed order.
LOSSES: tuple[str, ...]

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

class Loss:
    """Base class of the loss objects (`ferroprop.losses`); not constructible itself.

    Immutable; equal when of the same loss with equal parameters (hashable accordingly);
    pickled as its class and parameter values.
    """

    @property
    def name(self) -> str:
        """The loss's name, one of `LOSSES`."""
    @property
    def params(self) -> dict[str, float]:
        """The parameters and their values, in constructor order (empty for most losses)."""

class CrossEntropy(Loss):
    """PyTorch's `CrossEntropyLoss(label_smoothing=ε)`: softmax outputs, class-index targets;
    the target distribution is `(1 - ε)·onehot + ε/K`; mean over rows (weighted:
    `Σ w_i l_i / Σ w_i`)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        """Args:
            label_smoothing: ε in [0, 1]; 0 is plain cross-entropy.

        Raises:
            ValueError: `label_smoothing` outside [0, 1] (or NaN); the message names it.
            TypeError: `label_smoothing` is not a number.
        """

class BinaryCrossEntropy(Loss):
    """PyTorch's `BCEWithLogitsLoss`: sigmoid outputs, targets in [0, 1], mean over all
    elements (weighted: `Σ_i w_i Σ_j l_ij / (k Σ_i w_i)`)."""

    def __init__(self) -> None: ...

class MSE(Loss):
    """PyTorch's `MSELoss`: identity outputs, squared error (not halved), mean over all
    elements (weighted as `BinaryCrossEntropy`)."""

    def __init__(self) -> None: ...

class LogLoss(Loss):
    """scikit-learn's `log_loss`: softmax outputs, class-index targets, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

class BinaryLogLoss(Loss):
    """scikit-learn's `binary_log_loss`: logistic outputs, targets in [0, 1], summed over
    outputs, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

class SquaredError(Loss):
    """scikit-learn's `squared_error`: identity outputs, half the squared error averaged over
    outputs, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

class Poisson(Loss):
    """scikit-learn's `poisson`: exp outputs, targets >= 0, half the Poisson deviance summed
    over outputs, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

class Huber(Loss):
    """PyTorch's `HuberLoss(delta)`: identity outputs; `½r²` for `|r| < delta`, else
    `delta·(|r| - ½delta)`; mean over all elements (weighted as `BinaryCrossEntropy`)."""

    def __init__(self, delta: float = 1.0) -> None:
        """Args:
            delta: where the loss turns from quadratic to linear; positive and finite.

        Raises:
            ValueError: `delta` <= 0, infinite or NaN; the message names it.
            TypeError: `delta` is not a number.
        """

class L1(Loss):
    """PyTorch's `L1Loss`: identity outputs, absolute error, mean over all elements (weighted
    as `BinaryCrossEntropy`); gradient 0 where the error is 0."""

    def __init__(self) -> None: ...

def make_loss(name: str, params: dict[str, float] | None = None) -> Loss:
    """The loss object called `name` with `params` set and the other parameters at their
    defaults (how a model file's `loss` and `loss_params` are read back).

    Args:
        name: one of `LOSSES`.
        params: parameter name → number, e.g. `{"delta": 0.5}`; None for the defaults.

    Returns:
        An instance of the loss's class, e.g. `Huber(delta=0.5)`.

    Raises:
        ValueError: unknown name or parameter, or a value out of range; the message names it.
        TypeError: a parameter value that is not a number.
    """

_Float = np.float32 | np.float64
_EpochCallback = Callable[[int, float, float | None, float | None, float], None]

class Network:
    """The engine network; arrays must already have its dtype, C order (labels: int64)."""

    def __init__(
        self,
        widths: Sequence[int],
        activations: Sequence[str],
        loss: str | Loss,
        dtype: str,
        init: str,
        seed: int,
    ) -> None:
        """Args:
            loss: a name from `LOSSES` or a loss object (`CrossEntropy(label_smoothing=0.1)`).

        Raises:
            ValueError: bad widths or an unknown name (the message names the argument).
            TypeError: `loss` is neither a str nor a `Loss`.
        """
    @property
    def widths(self) -> list[int]: ...
    @property
    def activations(self) -> list[str]: ...
    @property
    def loss_name(self) -> str: ...
    @property
    def loss_spec(self) -> Loss:
        """The loss as an object, with its parameters."""
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
