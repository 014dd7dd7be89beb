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

#: The layer kinds of `ferroprop.layers`.
LAYERS: tuple[str, ...]
#: Every activation name `Activation` accepts (canonical names, then aliases).
ACTIVATIONS: tuple[str, ...]

class Layer:
    """Base class of the layers; frozen, comparable, picklable."""

    @property
    def kind(self) -> str:
        """"Dense", "Activation", "Dropout", "LayerNorm" or "BatchNorm"."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Layer], tuple[int | float | str, ...]]: ...

class Dense(Layer):
    """`X·W + b` (`torch.nn.Linear`).

    Args:
        units: output features, a positive integer.
        init: "glorot" (uniform, scikit-learn's rule; the default) or "he".

    Raises:
        TypeError: `units` is not an integer. ValueError: `units` <= 0, an unknown `init`.
    """

    def __init__(self, units: int, init: str = "glorot") -> None: ...
    @property
    def units(self) -> int: ...
    @property
    def init(self) -> str: ...

class Activation(Layer):
    """An elementwise activation: one of `ACTIVATIONS`.

    Raises:
        ValueError: an unknown name.
    """

    def __init__(self, name: str) -> None: ...
    @property
    def name(self) -> str: ...

class Dropout(Layer):
    """Inverted dropout (`torch.nn.Dropout`): in training, each unit kept with probability
    `1 - p` and scaled by `1/(1-p)`; the identity in evaluation.

    Raises:
        TypeError: `p` is not a number. ValueError: `p` outside [0, 1).
    """

    def __init__(self, p: float | None = 0.5) -> None: ...
    @property
    def p(self) -> float: ...

class LayerNorm(Layer):
    """Per-row normalisation with learnable γ, β (`torch.nn.LayerNorm`).

    Raises:
        ValueError: `eps` <= 0 or not finite.
    """

    def __init__(self, eps: float | None = 1e-5) -> None: ...
    @property
    def eps(self) -> float: ...

class BatchNorm(Layer):
    """Per-feature batch normalisation with running statistics (`torch.nn.BatchNorm1d`).

    Raises:
        ValueError: `momentum` outside [0, 1], `eps` <= 0.
    """

    def __init__(self, momentum: float | None = 0.1, eps: float | None = 1e-5) -> None: ...
    @property
    def momentum(self) -> float: ...
    @property
    def eps(self) -> float: ...

_StateValue = npt.NDArray[_Float] | int

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
    @staticmethod
    def stack(
        layers: Sequence[Layer], input_dim: int, loss: str, dtype: str, seed: int
    ) -> Network:
        """A network from a list of layers ending in a Dense.

        Raises:
            TypeError: an item that is not a Layer. ValueError: an empty list, a last layer
            that is not a Dense, `input_dim` < 1, an unknown loss or dtype.
        """
    @property
    def widths(self) -> list[int]: ...
    @property
    def activations(self) -> list[str]: ...
    @property
    def layers(self) -> list[Layer]: ...
    @property
    def training_steps(self) -> int: ...
    @training_steps.setter
    def training_steps(self, steps: int) -> None: ...
    @property
    def loss_name(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    def weights(self) -> list[npt.NDArray[_Float]]: ...
    def biases(self) -> list[npt.NDArray[_Float]]: ...
    def set_parameters(
        self, weights: Sequence[npt.NDArray[_Float]], biases: Sequence[npt.NDArray[_Float]]
    ) -> None: ...
    def state_dict(self) -> list[tuple[str, _StateValue]]:
        """Every entry as `(name, copy)` in torch's names, layouts and order; counters as int."""
    def load_state_dict(self, entries: Sequence[tuple[str, _StateValue]]) -> None:
        """Replaces every entry (arrays of the network's dtype, C order; counters as int).

        Raises:
            TypeError: an array of another dtype. ValueError: a missing, unexpected or
            mis-shaped entry (named), a non-finite value, a negative variance or count.
        """
    def _dropout_keep(self, index: int, rows: int) -> npt.NDArray[np.bool_]: ...
    def forward(self, x: npt.NDArray[_Float], training: bool = False) -> npt.NDArray[_Float]: ...
    def predict(self, x: npt.NDArray[_Float]) -> npt.NDArray[np.int64] | npt.NDArray[_Float]: ...
    def loss(self, x: npt.NDArray[_Float], y: npt.NDArray[np.generic]) -> float: ...
    def gradients(
        self,
        x: npt.NDArray[_Float],
        y: npt.NDArray[np.generic],
        sample_weight: npt.NDArray[_Float] | None = None,
        alpha: float = 0.0,
    ) -> tuple[float, list[tuple[str, npt.NDArray[_Float]]]]:
        """`(loss, [(name, gradient), …])` in training mode, named like `state_dict`."""
    def dense_gradients(
        self,
        x: npt.NDArray[_Float],
        y: npt.NDArray[np.generic],
        sample_weight: npt.NDArray[_Float] | None = None,
        alpha: float = 0.0,
    ) -> tuple[float, tuple[list[npt.NDArray[_Float]], list[npt.NDArray[_Float]]]]:
        """`(loss, (dW, db))` of the Dense layers, `dW` laid out like `weights()`."""
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
