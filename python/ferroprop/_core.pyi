"""Type stubs for the Rust extension `ferroprop._core` (use the `ferroprop` package instead)."""

from collections.abc import Callable, Sequence
from typing import Any, Self, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "SCHEDULES",
    "Schedule",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "OneCycleLR",
    "LinearWarmup",
    "ReduceLROnPlateau",
    "ACTIVATIONS",
    "Activation",
    "Adagrad",
    "Adam",
    "AdamW",
    "BatchNorm",
    "BinaryCrossEntropy",
    "BinaryLogLoss",
    "CrossEntropy",
    "Dense",
    "DivergenceError",
    "Dropout",
    "Huber",
    "InternalError",
    "L1",
    "LAYERS",
    "LOSSES",
    "Layer",
    "LayerNorm",
    "LogLoss",
    "Loss",
    "MSE",
    "Network",
    "OPTIMIZERS",
    "Optimizer",
    "Poisson",
    "RMSprop",
    "SGD",
    "SklearnAdam",
    "SklearnSGD",
    "SquaredError",
    "__version__",
    "_fma_peak",
    "_panic_here",
    "_panic_in_team",
    "get_num_threads",
    "make_loss",
    "max_threads",
    "set_num_threads",
    "simd_path",
]
__version__: str
OPTIMIZERS: tuple[str, ...]
"""The optimizer classes' names: ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")."""
#: Every loss name `Network(loss=...)` and `make_loss` take, in a fixed order.
LOSSES: tuple[str, ...]

class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient or parameter; the parameters are those of
    the last finite step."""

class InternalError(RuntimeError):
    """A bug in ferroprop (a panic caught at its edge); the message names the operation."""

SCHEDULES: tuple[str, ...]

class Schedule:
    """Base class of the learning-rate schedules (torch.optim.lr_scheduler semantics): the
    schedule and its state, carried from one `fit` to the next."""

    @property
    def name(self) -> str: ...
    @property
    def monitor(self) -> str | None: ...
    @property
    def last_epoch(self) -> int: ...
    @property
    def steps(self) -> int: ...
    def reset(self) -> None: ...
    def lrs(
        self, lr: float, epochs: int, steps_per_epoch: int, metrics: Sequence[float] | None = None
    ) -> npt.NDArray[np.float64]:
        """The lr of every batch from a fresh state with base lr `lr`.

        Raises:
            ValueError: bad counts, or too few `metrics` for ReduceLROnPlateau."""

@final
class StepLR(Schedule):
    def __new__(cls, step_size: int, gamma: float = 0.1) -> Self: ...

@final
class MultiStepLR(Schedule):
    def __new__(cls, milestones: Sequence[int], gamma: float = 0.1) -> Self: ...

@final
class ExponentialLR(Schedule):
    def __new__(cls, gamma: float) -> Self: ...

@final
class CosineAnnealingLR(Schedule):
    def __new__(cls, T_max: int, eta_min: float = 0.0) -> Self: ...

@final
class OneCycleLR(Schedule):
    def __new__(
        cls,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 10000.0,
        three_phase: bool = False,
    ) -> Self: ...

@final
class LinearWarmup(Schedule):
    def __new__(cls, warmup_period: int, schedule: Schedule | None = None) -> Self: ...

@final
class ReduceLROnPlateau(Schedule):
    def __new__(
        cls,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 0.0001,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-08,
        monitor: str = "val_loss",
    ) -> Self: ...

class Optimizer:
    """Base class of SGD, Adam, AdamW, RMSprop and Adagrad: hyperparameters plus state kept
    across calls."""

    lr: float
    @property
    def steps(self) -> int: ...
    def reset(self) -> None: ...

@final
class SGD(Optimizer):
    def __new__(
        cls, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> Self: ...

@final
class Adam(Optimizer):
    def __new__(
        cls,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> Self: ...

@final
class AdamW(Optimizer):
    def __new__(
        cls,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> Self: ...

@final
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

    def __new__(
        cls,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> Self: ...

@final
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

    def __new__(
        cls,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> Self: ...

@final
class SklearnSGD(Optimizer):
    """scikit-learn's SGDOptimizer (velocity form), used by ferroprop.sklearn."""

    def __new__(cls, lr: float, momentum: float, nesterov: bool) -> Self: ...

@final
class SklearnAdam(Optimizer):
    """scikit-learn's AdamOptimizer (eps added to the uncorrected sqrt(v))."""

    def __new__(cls, lr: float, beta_1: float, beta_2: float, epsilon: float) -> Self: ...

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

@final
class CrossEntropy(Loss):
    """PyTorch's `CrossEntropyLoss(label_smoothing=ε)`: softmax outputs, class-index targets;
    the target distribution is `(1 - ε)·onehot + ε/K`; mean over rows (weighted:
    `Σ w_i l_i / Σ w_i`)."""

    def __new__(cls, label_smoothing: float = 0.0) -> Self:
        """Args:
            label_smoothing: ε in [0, 1]; 0 is plain cross-entropy.

        Raises:
            ValueError: `label_smoothing` outside [0, 1] (or NaN); the message names it.
            TypeError: `label_smoothing` is not a number.
        """

@final
class BinaryCrossEntropy(Loss):
    """PyTorch's `BCEWithLogitsLoss`: sigmoid outputs, targets in [0, 1], mean over all
    elements (weighted: `Σ_i w_i Σ_j l_ij / (k Σ_i w_i)`)."""

    def __init__(self) -> None: ...

@final
class MSE(Loss):
    """PyTorch's `MSELoss`: identity outputs, squared error (not halved), mean over all
    elements (weighted as `BinaryCrossEntropy`)."""

    def __init__(self) -> None: ...

@final
class LogLoss(Loss):
    """scikit-learn's `log_loss`: softmax outputs, class-index targets, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

@final
class BinaryLogLoss(Loss):
    """scikit-learn's `binary_log_loss`: logistic outputs, targets in [0, 1], summed over
    outputs, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

@final
class SquaredError(Loss):
    """scikit-learn's `squared_error`: identity outputs, half the squared error averaged over
    outputs, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

@final
class Poisson(Loss):
    """scikit-learn's `poisson`: exp outputs, targets >= 0, half the Poisson deviance summed
    over outputs, `Σ w_i l_i / Σ w_i`."""

    def __init__(self) -> None: ...

@final
class Huber(Loss):
    """PyTorch's `HuberLoss(delta)`: identity outputs; `½r²` for `|r| < delta`, else
    `delta·(|r| - ½delta)`; mean over all elements (weighted as `BinaryCrossEntropy`)."""

    def __new__(cls, delta: float = 1.0) -> Self:
        """Args:
            delta: where the loss turns from quadratic to linear; positive and finite.

        Raises:
            ValueError: `delta` <= 0, infinite or NaN; the message names it.
            TypeError: `delta` is not a number.
        """

@final
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
_EpochCallback = Callable[[dict[str, Any]], bool | None]

#: The layer kinds of `ferroprop.layers`.
LAYERS: tuple[str, ...]
#: Every activation name `Activation` accepts (canonical names, then aliases).
ACTIVATIONS: tuple[str, ...]

class Layer:
    """Base class of the layers; frozen, comparable, picklable."""

    @property
    def kind(self) -> str:
        """ "Dense", "Activation", "Dropout", "LayerNorm" or "BatchNorm"."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Layer], tuple[int | float | str, ...]]: ...

@final
class Dense(Layer):
    """`X·W + b` (`torch.nn.Linear`).

    Args:
        units: output features, a positive integer.
        init: "glorot" (uniform, scikit-learn's rule; the default) or "he".

    Raises:
        TypeError: `units` is not an integer. ValueError: `units` <= 0, an unknown `init`.
    """

    def __new__(cls, units: int, init: str = "glorot") -> Self: ...
    @property
    def units(self) -> int: ...
    @property
    def init(self) -> str: ...

@final
class Activation(Layer):
    """An elementwise activation: one of `ACTIVATIONS`.

    Raises:
        ValueError: an unknown name.
    """

    def __new__(cls, name: str) -> Self: ...
    @property
    def name(self) -> str: ...

@final
class Dropout(Layer):
    """Inverted dropout (`torch.nn.Dropout`): in training, each unit kept with probability
    `1 - p` and scaled by `1/(1-p)`; the identity in evaluation.

    Raises:
        TypeError: `p` is not a number. ValueError: `p` outside [0, 1).
    """

    def __new__(cls, p: float | None = 0.5) -> Self: ...
    @property
    def p(self) -> float: ...

@final
class LayerNorm(Layer):
    """Per-row normalisation with learnable γ, β (`torch.nn.LayerNorm`).

    Raises:
        ValueError: `eps` <= 0 or not finite.
    """

    def __new__(cls, eps: float | None = 1e-5) -> Self: ...
    @property
    def eps(self) -> float: ...

@final
class BatchNorm(Layer):
    """Per-feature batch normalisation with running statistics (`torch.nn.BatchNorm1d`).

    Raises:
        ValueError: `momentum` outside [0, 1], `eps` <= 0.
    """

    def __new__(cls, momentum: float | None = 0.1, eps: float | None = 1e-5) -> Self: ...
    @property
    def momentum(self) -> float: ...
    @property
    def eps(self) -> float: ...

_StateValue = npt.NDArray[_Float] | int

@final
class Network:
    """The engine network; arrays must already have its dtype, C order (labels: int64)."""

    def __new__(
        cls,
        widths: Sequence[int],
        activations: Sequence[str],
        loss: str | Loss,
        dtype: str,
        init: str,
        seed: int,
    ) -> Self:
        """Args:
            loss: a name from `LOSSES` or a loss object (`CrossEntropy(label_smoothing=0.1)`).

        Raises:
            ValueError: bad widths or an unknown name (the message names the argument).
            TypeError: `loss` is neither a str nor a `Loss`.
        """
    @staticmethod
    def stack(
        layers: Sequence[Layer], input_dim: int, loss: str | Loss, dtype: str, seed: int
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
    def loss_spec(self) -> Loss:
        """The loss as an object, with its parameters."""
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
    def summary_rows(self) -> list[tuple[int, str, int, int, int, int, int, int]]:
        """One tuple per layer: (index, kind, fan_in, width, params, buffers, flops_forward,
        flops_backward), FLOPs per sample of a training step."""
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
        *,
        shuffle: bool = True,
        seed: int | None = None,
        x_val: npt.NDArray[_Float] | None = None,
        y_val: npt.NDArray[np.generic] | None = None,
        on_epoch: _EpochCallback | None = None,
        order: npt.NDArray[np.int64] | None = None,
        sample_weight: npt.NDArray[_Float] | None = None,
        alpha: float = 0.0,
        finite_checked: bool = False,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        diagnostics: bool = False,
        schedule: Schedule | None = None,
    ) -> list[dict[str, Any]]:
        """The training loop, one epoch after another with the GIL released.

        Args:
            on_epoch: called after each epoch with that epoch's `logs` dict (`epoch`, `loss`,
                `seconds`, `lr`, `accuracy` or `mae`/`r2`, their `val_` twins and `val_loss`
                with validation data, `diagnostics` when asked for); a true return stops.
            clip_grad_norm, clip_grad_value: gradient clipping (one of them), as
                `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`.
            diagnostics: record per-layer figures in each `logs["diagnostics"]`.

        Returns:
            One `logs` dict per epoch run.

        Raises:
            ValueError: bad data or settings (named); DivergenceError: a non-finite step.
        """

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def simd_path() -> str: ...
def max_threads() -> int: ...
def _fma_peak(millis: float) -> float:
    """This CPU's single-thread fp32 FMA peak in GFLOPS, the best of a few repetitions taking
    `millis` milliseconds in all (0 < millis <= 10000); releases the GIL."""

def _panic_in_team(members: int, culprit: int) -> None: ...
def _panic_here() -> None: ...
