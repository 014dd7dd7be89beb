"""Plain-NumPy reference implementation of ferroprop's MLP, used as the oracle in the tests.

Written for clarity, not speed (in the spirit of micrograd): every formula is the documented
contract spelled out once, so the parity tests can compare the Rust core entry by entry.
Everything runs in float64 by default; ``dtype`` exists only so a test can estimate how much a
float32 computation drifts from the float64 one.

Conventions (identical to ferroprop):
  * widths ``[n_in, h1, ..., n_out]``; layer ``l`` computes ``Z_l = A_{l-1} @ W_l + b_l`` with
    ``W_l`` shaped ``(fan_in, fan_out)``;
  * hidden layers apply one activation each; the output layer's activation is fixed by the loss
    (softmax for cross_entropy, sigmoid for binary_cross_entropy, identity for mse);
  * losses are means (PyTorch ``reduction="mean"``) and gradients are of that mean;
  * optimizers follow ``torch.optim`` exactly and update weights and biases alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

Array = NDArray[np.floating]
ActivationFn = Callable[[Array], Array]

# --------------------------------------------------------------------------------------------
# Hidden-layer activations: name -> (f(z), f'(z)), both elementwise functions of z.
# --------------------------------------------------------------------------------------------

LEAKY_SLOPE = 0.01
GELU_C = float(np.sqrt(2.0 / np.pi))
GELU_A = 0.044715


def sigmoid(z: Array) -> Array:
    # exp(-log(1 + e^-z)) never overflows and stays accurate for large |z|.
    return np.exp(-np.logaddexp(0.0, -z))


def _identity(z: Array) -> Array:
    return z


def _identity_grad(z: Array) -> Array:
    return np.ones_like(z)


def _relu(z: Array) -> Array:
    return np.where(z > 0, z, 0.0).astype(z.dtype)


def _relu_grad(z: Array) -> Array:
    # The derivative at exactly 0 is taken to be 0.
    return (z > 0).astype(z.dtype)


def _leaky_relu(z: Array) -> Array:
    return np.where(z > 0, z, LEAKY_SLOPE * z).astype(z.dtype)


def _leaky_relu_grad(z: Array) -> Array:
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


def _sigmoid_grad(z: Array) -> Array:
    s = sigmoid(z)
    return s * (1.0 - s)


def _tanh_grad(z: Array) -> Array:
    return 1.0 - np.tanh(z) ** 2


def _gelu(z: Array) -> Array:
    # tanh approximation of GELU.
    return 0.5 * z * (1.0 + np.tanh(GELU_C * (z + GELU_A * z**3)))


def _gelu_grad(z: Array) -> Array:
    # d/dz [0.5 z (1 + tanh u)] with u = c (z + a z^3).
    t = np.tanh(GELU_C * (z + GELU_A * z**3))
    du_dz = GELU_C * (1.0 + 3.0 * GELU_A * z**2)
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t**2) * du_dz


ACTIVATIONS: dict[str, tuple[ActivationFn, ActivationFn]] = {
    "identity": (_identity, _identity_grad),
    "relu": (_relu, _relu_grad),
    "leaky_relu": (_leaky_relu, _leaky_relu_grad),
    "sigmoid": (sigmoid, _sigmoid_grad),
    "logistic": (sigmoid, _sigmoid_grad),
    "tanh": (np.tanh, _tanh_grad),
    "gelu": (_gelu, _gelu_grad),
}

# --------------------------------------------------------------------------------------------
# Losses on the output-layer pre-activations ("logits") Z: value and dLoss/dZ.
# --------------------------------------------------------------------------------------------


def logsumexp(z: Array) -> Array:
    """Row-wise log(sum(exp(z))), shifted by the row max so it cannot overflow."""
    zmax = z.max(axis=1, keepdims=True)
    return (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))[:, 0]


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(z: Array, y: NDArray[np.integer]) -> tuple[float, Array]:
    """Softmax cross-entropy with integer class targets y of shape (n,)."""
    n = z.shape[0]
    rows = np.arange(n)
    loss = np.mean(logsumexp(z) - z[rows, y])
    dz = softmax(z)
    dz[rows, y] -= 1.0  # softmax - onehot
    return float(loss), dz / n


def binary_cross_entropy(z: Array, y: Array) -> tuple[float, Array]:
    """Sigmoid + BCE from logits, averaged over all n*k elements (BCEWithLogitsLoss)."""
    y = y.reshape(z.shape)
    loss = np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(loss), (sigmoid(z) - y) / z.size


def mse(z: Array, y: Array) -> tuple[float, Array]:
    """Mean squared error (not halved) over all n*k elements; y may be (n,) when k == 1."""
    y = y.reshape(z.shape)
    diff = z - y
    return float(np.mean(diff**2)), 2.0 * diff / z.size


# Sample weights and the losses beyond the three above. Every function takes logits z (n, k),
# targets y and optional sample weights w (n,); the weighted means reduce to the unweighted
# ones when every weight is 1.


def _weights(n: int, w: ArrayLike | None) -> Array:
    return np.ones(n) if w is None else np.asarray(w, dtype=np.float64)


def _element_mean(terms: Array, grads: Array, w: ArrayLike | None) -> tuple[float, Array]:
    """PyTorch's mean over all n*k elements; weighted: sum_i w_i sum_j t_ij / (k sum_i w_i)."""
    n, k = terms.shape
    w = _weights(n, w)[:, None]
    denom = k * w.sum()
    return float((w * terms).sum() / denom), w * grads / denom


def _row_mean(terms: Array, grads: Array, w: ArrayLike | None) -> tuple[float, Array]:
    """Mean over the n rows' losses; weighted: sum_i w_i l_i / sum_i w_i."""
    w = _weights(len(terms), w)
    return float((w * terms).sum() / w.sum()), w[:, None] * grads / w.sum()


def cross_entropy_smoothed(
    z: Array, y: NDArray[np.integer], label_smoothing: float = 0.0, w: ArrayLike | None = None
) -> tuple[float, Array]:
    """CrossEntropyLoss(label_smoothing=eps): the target distribution (1-eps)*onehot + eps/K."""
    n, k = z.shape
    target = np.full(z.shape, label_smoothing / k)
    target[np.arange(n), y] += 1.0 - label_smoothing
    log_p = z - logsumexp(z)[:, None]
    return _row_mean(-(target * log_p).sum(axis=1), softmax(z) - target, w)


def weighted_binary_cross_entropy(
    z: Array, y: Array, w: ArrayLike | None = None
) -> tuple[float, Array]:
    y = y.reshape(z.shape)
    terms = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return _element_mean(terms, sigmoid(z) - y, w)


def weighted_mse(z: Array, y: Array, w: ArrayLike | None = None) -> tuple[float, Array]:
    diff = z - y.reshape(z.shape)
    return _element_mean(diff**2, 2.0 * diff, w)


def huber(
    z: Array, y: Array, delta: float = 1.0, w: ArrayLike | None = None
) -> tuple[float, Array]:
    """HuberLoss(delta): r^2/2 below delta, delta*(|r| - delta/2) above; gradient clip(r)."""
    r = z - y.reshape(z.shape)
    a = np.abs(r)
    terms = np.where(a < delta, 0.5 * r**2, delta * (a - 0.5 * delta))
    return _element_mean(terms, np.clip(r, -delta, delta), w)


def l1(z: Array, y: Array, w: ArrayLike | None = None) -> tuple[float, Array]:
    """L1Loss: mean |r|; gradient sign(r), 0 at r = 0 (torch.sign)."""
    r = z - y.reshape(z.shape)
    return _element_mean(np.abs(r), np.sign(r), w)


def _clip(p: Array) -> Array:
    eps = np.finfo(p.dtype).eps
    return np.clip(p, eps, 1.0 - eps)


def _xlogy(x: Array, y: Array) -> Array:
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def sklearn_log_loss(
    z: Array, y: NDArray[np.integer], w: ArrayLike | None = None
) -> tuple[float, Array]:
    """scikit-learn's log_loss on softmax outputs (probabilities clipped inside the log)."""
    rows = np.arange(len(z))
    p = softmax(z)
    terms = -np.log(_clip(p[rows, y]))
    p[rows, y] -= 1.0
    return _row_mean(terms, p, w)


def sklearn_binary_log_loss(z: Array, y: Array, w: ArrayLike | None = None) -> tuple[float, Array]:
    """scikit-learn's binary_log_loss on logistic outputs, summed over outputs."""
    y = y.reshape(z.shape)
    p = sigmoid(z)
    terms = -(_xlogy(y, _clip(p)) + _xlogy(1.0 - y, 1.0 - _clip(p))).sum(axis=1)
    return _row_mean(terms, p - y, w)


def sklearn_squared_error(z: Array, y: Array, w: ArrayLike | None = None) -> tuple[float, Array]:
    """scikit-learn's squared_error: half the squared error averaged over outputs; its gradient
    (as scikit-learn computes it) is that of the sum over outputs."""
    y = y.reshape(z.shape)
    return _row_mean(0.5 * ((y - z) ** 2).mean(axis=1), z - y, w)


def sklearn_poisson(z: Array, y: Array, w: ArrayLike | None = None) -> tuple[float, Array]:
    """scikit-learn's poisson: half the Poisson deviance of exp outputs, summed over outputs."""
    y = y.reshape(z.shape)
    p = np.exp(z)
    return _row_mean((_xlogy(y, y / p) - y + p).sum(axis=1), p - y, w)


#: Every loss by name: f(z, y, w=None, **params) -> (mean loss, dLoss/dz).
WEIGHTED_LOSSES: dict[str, Callable[..., tuple[float, Array]]] = {
    "cross_entropy": cross_entropy_smoothed,
    "binary_cross_entropy": weighted_binary_cross_entropy,
    "mse": weighted_mse,
    "log_loss": sklearn_log_loss,
    "binary_log_loss": sklearn_binary_log_loss,
    "squared_error": sklearn_squared_error,
    "poisson": sklearn_poisson,
    "huber": huber,
    "l1": l1,
}


LOSSES: dict[str, Callable[[Array, ArrayLike], tuple[float, Array]]] = {
    "cross_entropy": cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "mse": mse,
}

OUTPUT_ACTIVATIONS: dict[str, ActivationFn] = {
    "cross_entropy": softmax,
    "binary_cross_entropy": sigmoid,
    "mse": _identity,
}

# --------------------------------------------------------------------------------------------
# Optimizers (torch.optim semantics). Each updates a list of parameter arrays in place and
# keeps its state between calls, exactly like reusing one torch optimizer object.
# --------------------------------------------------------------------------------------------


class SGD:
    def __init__(
        self,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.buffers: list[Array | None] | None = None

    def update(self, params: list[Array], grads: list[Array]) -> None:
        if self.buffers is None:
            self.buffers = [None] * len(params)
        for i, (p, grad) in enumerate(zip(params, grads, strict=True)):
            g = grad + self.weight_decay * p  # L2 penalty folded into the gradient
            if self.momentum != 0.0:
                buf = self.buffers[i]
                # torch initialises the buffer with the first gradient (no damping).
                buf = g.copy() if buf is None else self.momentum * buf + g
                self.buffers[i] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * g


class Adam:
    decoupled_weight_decay = False

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.m: list[Array] | None = None
        self.v: list[Array] | None = None

    def update(self, params: list[Array], grads: list[Array]) -> None:
        if self.m is None or self.v is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        b1, b2 = self.betas
        self.t += 1
        bias_correction1 = 1.0 - b1**self.t
        bias_correction2 = 1.0 - b2**self.t
        for p, grad, m, v in zip(params, grads, self.m, self.v, strict=True):
            if self.decoupled_weight_decay:
                p *= 1.0 - self.lr * self.weight_decay  # AdamW: decay the weights directly
                g = grad
            else:
                g = grad + self.weight_decay * p  # Adam: L2 penalty in the gradient
            m[...] = b1 * m + (1.0 - b1) * g
            v[...] = b2 * v + (1.0 - b2) * g * g
            denom = np.sqrt(v) / np.sqrt(bias_correction2) + self.eps
            p -= (self.lr / bias_correction1) * m / denom


class AdamW(Adam):
    decoupled_weight_decay = True

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop:
    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.centered = centered
        self.square_avg: list[Array] | None = None
        self.momentum_buffer: list[Array] = []
        self.grad_avg: list[Array] = []

    def update(self, params: list[Array], grads: list[Array]) -> None:
        if self.square_avg is None:  # all state starts at zero
            self.square_avg = [np.zeros_like(p) for p in params]
            self.momentum_buffer = [np.zeros_like(p) for p in params]
            self.grad_avg = [np.zeros_like(p) for p in params]
        a = self.alpha
        for i, (p, grad) in enumerate(zip(params, grads, strict=True)):
            g = grad + self.weight_decay * p  # L2 penalty folded into the gradient
            sq = self.square_avg[i]
            sq[...] = a * sq + (1.0 - a) * g * g
            if self.centered:
                ga = self.grad_avg[i]
                ga[...] = ga + (1.0 - a) * (g - ga)  # torch's lerp towards g
                avg = np.sqrt(sq - ga * ga) + self.eps
            else:
                avg = np.sqrt(sq) + self.eps
            if self.momentum > 0.0:
                buf = self.momentum_buffer[i]
                buf[...] = self.momentum * buf + g / avg
                p -= self.lr * buf
            else:
                p -= self.lr * g / avg


class Adagrad:
    def __init__(
        self,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self.t = 0
        self.sum: list[Array] | None = None

    def update(self, params: list[Array], grads: list[Array]) -> None:
        if self.sum is None:
            self.sum = [np.full_like(p, self.initial_accumulator_value) for p in params]
        self.t += 1
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        for p, grad, acc in zip(params, grads, self.sum, strict=True):
            g = grad + self.weight_decay * p
            acc += g * g
            p -= clr * g / (np.sqrt(acc) + self.eps)


Optimizer = SGD | Adam | RMSprop | Adagrad

# --------------------------------------------------------------------------------------------
# The network.
# --------------------------------------------------------------------------------------------


class ReferenceMLP:
    """An MLP holding its own float64 copies of the given parameters."""

    def __init__(
        self,
        weights: Sequence[ArrayLike],
        biases: Sequence[ArrayLike],
        activation: str | Sequence[str],
        loss: str,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.weights = [np.array(w, dtype=self.dtype) for w in weights]
        self.biases = [np.array(b, dtype=self.dtype) for b in biases]
        n_hidden = len(self.weights) - 1
        if isinstance(activation, str):
            activation = [activation] * n_hidden
        if len(activation) != n_hidden:
            raise ValueError(f"need {n_hidden} hidden activations, got {len(activation)}")
        self.activations = list(activation)
        self.loss_name = loss

    def _as_input(self, X: ArrayLike) -> Array:
        return np.asarray(X, dtype=self.dtype)

    def forward_pass(self, X: ArrayLike) -> tuple[list[Array], list[Array]]:
        """Return pre-activations Z_1..Z_L and activations A_0..A_{L-1} (A_0 = X)."""
        a = self._as_input(X)
        zs: list[Array] = []
        acts: list[Array] = [a]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ w + b
            zs.append(z)
            if layer < len(self.weights) - 1:
                f, _ = ACTIVATIONS[self.activations[layer]]
                a = f(z)
                acts.append(a)
        return zs, acts

    def logits(self, X: ArrayLike) -> Array:
        return self.forward_pass(X)[0][-1]

    def forward(self, X: ArrayLike) -> Array:
        return OUTPUT_ACTIVATIONS[self.loss_name](self.logits(X))

    def predict(self, X: ArrayLike) -> Array:
        out = self.forward(X)
        if self.loss_name == "cross_entropy":
            return out.argmax(axis=1)
        return out

    def loss(self, X: ArrayLike, y: ArrayLike) -> float:
        return LOSSES[self.loss_name](self.logits(X), self._target(y))[0]

    def _target(self, y: ArrayLike) -> NDArray:
        if self.loss_name == "cross_entropy":
            return np.asarray(y, dtype=np.int64)
        return np.asarray(y, dtype=self.dtype)

    def gradients(
        self,
        X: ArrayLike,
        y: ArrayLike,
        loss_fn: Callable[[Array, NDArray], tuple[float, Array]] | None = None,
    ) -> tuple[float, list[Array], list[Array]]:
        """Backpropagation: mean loss and its gradients w.r.t. every weight and bias.
        `loss_fn(z, y) -> (loss, dz)`, when given, replaces the named loss (for a loss with
        parameters or sample weights, e.g. from `WEIGHTED_LOSSES`)."""
        zs, acts = self.forward_pass(X)
        loss, dz = (loss_fn or LOSSES[self.loss_name])(zs[-1], self._target(y))
        n_layers = len(self.weights)
        dW: list[Array] = [np.empty(0)] * n_layers
        db: list[Array] = [np.empty(0)] * n_layers
        for layer in reversed(range(n_layers)):
            dW[layer] = acts[layer].T @ dz
            db[layer] = dz.sum(axis=0)
            if layer > 0:
                _, df = ACTIVATIONS[self.activations[layer - 1]]
                dz = (dz @ self.weights[layer].T) * df(zs[layer - 1])
        return loss, dW, db

    def step(self, X: ArrayLike, y: ArrayLike, optimizer: Optimizer) -> float:
        """One optimizer update on this batch; returns the loss before the update."""
        loss, dW, db = self.gradients(X, y)
        optimizer.update(self.weights + self.biases, dW + db)
        return loss

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        epochs: int,
        batch_size: int,
        optimizer: Optimizer,
    ) -> list[float]:
        """Unshuffled mini-batch training; returns each epoch's per-sample mean batch loss."""
        X = self._as_input(X)
        y = np.asarray(y)
        n = X.shape[0]
        history: list[float] = []
        for _ in range(epochs):
            total = 0.0
            for start in range(0, n, batch_size):  # the last partial batch is kept
                stop = min(start + batch_size, n)
                total += self.step(X[start:stop], y[start:stop], optimizer) * (stop - start)
            history.append(total / n)
        return history


# ============================================================================================
# The composable layer stack (issue 9): Dense, Activation, Dropout, LayerNorm, BatchNorm.
#
# Each layer is the PyTorch module of the same role, and parameters use the names and layouts
# of a torch.nn.Sequential built from the same list ("{i}.weight" etc., i the layer's index):
#   Dense(units)        nn.Linear        y = x @ W.T + b        W (out, in), b (out,)
#   Activation(name)    nn.ReLU, ...     y = f(x)               (the ACTIVATIONS above)
#   Dropout(p)          nn.Dropout       y = x * keep / (1 - p) in training, y = x in evaluation
#   LayerNorm(eps)      nn.LayerNorm(n)  per row: y = γ (x - mean) / sqrt(var + eps) + β
#   BatchNorm(m, eps)   nn.BatchNorm1d   per column, batch statistics in training and the
#                                        running statistics in evaluation
# (var is always the biased variance, mean((x - mean)^2)). The stack ends in a Dense whose
# output Z ("logits") goes to the loss; forward() applies the loss's output link to it.
# Layers are given as tuples ("dense", units) | ("activation", name) | ("dropout", p) |
# ("layernorm", eps) | ("batchnorm", momentum, eps) -- trailing arguments may be left out for
# their defaults -- or as ferroprop.layers objects (read by class name and attributes, so this
# file never imports ferroprop).
# ============================================================================================

LayerSpec = tuple
# Mask of kept units per Dropout layer index: bool arrays (rows, units).
Masks = dict[int, NDArray[np.bool_]]

_LAYER_DEFAULTS: dict[str, tuple] = {
    "dense": (),
    "activation": (),
    "dropout": (0.5,),
    "layernorm": (1e-5,),
    "batchnorm": (0.1, 1e-5),
}


def layer_spec(layer: object) -> LayerSpec:
    """A layer as a tuple: a tuple is completed with its defaults, a ferroprop layer object is
    read from its class name (Dense, Activation, Dropout, LayerNorm, BatchNorm) and attributes
    (.units, .name, .p, .eps, .momentum)."""
    if isinstance(layer, tuple):
        kind, args = str(layer[0]).lower(), tuple(layer[1:])
        if kind not in _LAYER_DEFAULTS:
            raise ValueError(f"unknown layer kind {layer[0]!r}")
        defaults = _LAYER_DEFAULTS[kind]
        if kind in ("dense", "activation") and len(args) != 1:
            raise ValueError(f"{kind} needs one argument, got {layer!r}")
        return (kind, *args, *defaults[len(args) :])
    kind = type(layer).__name__.lower()
    if kind == "dense":
        return ("dense", int(layer.units))  # type: ignore[attr-defined]
    if kind == "activation":
        return ("activation", str(layer.name))  # type: ignore[attr-defined]
    if kind == "dropout":
        return ("dropout", float(layer.p))  # type: ignore[attr-defined]
    if kind == "layernorm":
        return ("layernorm", float(layer.eps))  # type: ignore[attr-defined]
    if kind == "batchnorm":
        return ("batchnorm", float(layer.momentum), float(layer.eps))  # type: ignore[attr-defined]
    raise ValueError(f"unknown layer {layer!r}")


def stack_layout(
    layers: Sequence[object], input_dim: int
) -> dict[str, tuple[tuple[int, ...], str]]:
    """The state_dict entries of a stack in torch order: name -> (shape, "float" | "int64").

    Dense at index i: i.weight (out, in), i.bias (out,); LayerNorm: i.weight, i.bias (n,);
    BatchNorm: i.weight, i.bias, i.running_mean, i.running_var (n,), i.num_batches_tracked ()."""
    specs = [layer_spec(layer) for layer in layers]
    if not specs or specs[-1][0] != "dense":
        raise ValueError("layers: the stack must be non-empty and end in a Dense")
    layout: dict[str, tuple[tuple[int, ...], str]] = {}
    width = int(input_dim)
    for i, spec in enumerate(specs):
        if spec[0] == "dense":
            layout[f"{i}.weight"] = ((spec[1], width), "float")
            layout[f"{i}.bias"] = ((spec[1],), "float")
            width = spec[1]
        elif spec[0] in ("layernorm", "batchnorm"):
            layout[f"{i}.weight"] = ((width,), "float")
            layout[f"{i}.bias"] = ((width,), "float")
            if spec[0] == "batchnorm":
                layout[f"{i}.running_mean"] = ((width,), "float")
                layout[f"{i}.running_var"] = ((width,), "float")
                layout[f"{i}.num_batches_tracked"] = ((), "int64")
    return layout


def is_trainable(name: str) -> bool:
    """Weights and biases are trained; running statistics and counters are buffers."""
    return name.endswith((".weight", ".bias"))


def stack_widths(layers: Sequence[object], input_dim: int) -> list[int]:
    """widths[i] is the width of layer i's input; widths[-1] that of the stack's output."""
    widths = [int(input_dim)]
    for spec in map(layer_spec, layers):
        widths.append(spec[1] if spec[0] == "dense" else widths[-1])
    return widths


def random_state_dict(
    layers: Sequence[object], input_dim: int, seed: int = 0, dtype: DTypeLike = np.float64
) -> dict[str, NDArray]:
    """A generic (not default-initialised) state: Dense weights U(-B, B) with the glorot bound
    B = sqrt(6 / (fan_in + fan_out)), biases N(0, 0.1²); norm γ = 1 + N(0, 0.2²), β N(0, 0.1²);
    running_mean N(0, 0.1²), running_var U(0.5, 1.5), num_batches_tracked 0. Non-trivial values
    exercise every term of the gradients."""
    rng = np.random.default_rng(seed)
    state: dict[str, NDArray] = {}
    for name, (shape, kind) in stack_layout(layers, input_dim).items():
        suffix = name.split(".", 1)[1]
        if kind == "int64":
            state[name] = np.array(0, dtype=np.int64)
        elif suffix == "weight" and len(shape) == 2:
            bound = np.sqrt(6.0 / (shape[0] + shape[1]))
            state[name] = rng.uniform(-bound, bound, shape)
        elif suffix == "weight":
            state[name] = 1.0 + 0.2 * rng.standard_normal(shape)
        elif suffix == "running_var":
            state[name] = rng.uniform(0.5, 1.5, shape)
        else:
            state[name] = 0.1 * rng.standard_normal(shape)
    return {k: v if v.dtype == np.int64 else v.astype(dtype) for k, v in state.items()}


def dropout_scale(keep: NDArray[np.bool_], p: float, dtype: DTypeLike) -> Array:
    """torch's inverted-dropout multiplier: keep / (1 - p) (1 where kept, 0 where dropped)."""
    return keep.astype(dtype) / np.asarray(1.0 - p, dtype=dtype)


def layer_norm_forward(x: Array, gamma: Array, beta: Array, eps: float, axis: int) -> tuple:
    """x̂ = (x - mean) / sqrt(var + eps) along `axis` (1: LayerNorm, 0: BatchNorm in training),
    var biased; y = γ x̂ + β. Returns (y, x̂, 1 / sqrt(var + eps), mean, var)."""
    mean = x.mean(axis=axis, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, xhat, inv_std, mean, var


def layer_norm_backward(
    dy: Array, xhat: Array, inv_std: Array, gamma: Array, axis: int
) -> tuple[Array, Array, Array]:
    """Backward of layer_norm_forward with the statistics taken over `axis` (n entries):
        dγ = Σ_rows dy x̂,  dβ = Σ_rows dy,  g = dy γ,
        dx = inv_std (g - mean_axis(g) - x̂ mean_axis(g x̂)).
    Returns (dx, dγ, dβ)."""
    g = dy * gamma
    dx = inv_std * (
        g - g.mean(axis=axis, keepdims=True) - xhat * (g * xhat).mean(axis=axis, keepdims=True)
    )
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


class ReferenceSequential:
    """A layer stack holding its own copies of a state_dict (torch names and layouts).

    Training mode (gradients, step, fit, forward(training=True)) uses batch statistics in
    BatchNorm and the given Dropout masks; evaluation mode (forward, predict, loss) uses the
    running statistics and no dropout. Only step/fit update BatchNorm's running statistics, as
    one torch training step does, from the batch's mean and unbiased variance:
        running_mean <- (1 - m) running_mean + m mean
        running_var  <- (1 - m) running_var  + m var * n / (n - 1)
        num_batches_tracked += 1
    """

    def __init__(
        self,
        layers: Sequence[object],
        input_dim: int,
        loss: str,
        state_dict: dict[str, ArrayLike],
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.layers = [layer_spec(layer) for layer in layers]
        self.input_dim = int(input_dim)
        self.loss_name = loss
        self.dtype = np.dtype(dtype)
        self.layout = stack_layout(self.layers, input_dim)
        missing = set(self.layout) - set(state_dict)
        extra = set(state_dict) - set(self.layout)
        if missing or extra:
            raise ValueError(f"state_dict: missing {sorted(missing)}, extra {sorted(extra)}")
        self.state: dict[str, NDArray] = {}
        for name, (shape, kind) in self.layout.items():
            value = np.array(state_dict[name], dtype=np.int64 if kind == "int64" else self.dtype)
            if value.shape != shape:
                raise ValueError(f"state_dict[{name!r}]: shape {value.shape} != {shape}")
            self.state[name] = value
        self.training_steps = 0

    def state_dict(self) -> dict[str, NDArray]:
        return {k: v.copy() for k, v in self.state.items()}

    def trainable_names(self) -> list[str]:
        return [k for k in self.state if is_trainable(k)]

    def dropout_indices(self) -> list[int]:
        return [i for i, spec in enumerate(self.layers) if spec[0] == "dropout"]

    def _as_input(self, X: ArrayLike) -> Array:
        return np.asarray(X, dtype=self.dtype)

    def _target(self, y: ArrayLike) -> NDArray:
        if self.loss_name == "cross_entropy":
            return np.asarray(y, dtype=np.int64)
        return np.asarray(y, dtype=self.dtype)

    def forward_pass(
        self, X: ArrayLike, training: bool, masks: Masks | None = None
    ) -> tuple[list[Array], list[tuple]]:
        """acts[i] is the input of layer i (acts[0] = X, acts[-1] = the logits Z); caches[i]
        keeps what layer i's backward needs. Dropout needs masks[i] in training unless p = 0."""
        a = self._as_input(X)
        acts, caches = [a], []
        for i, spec in enumerate(self.layers):
            kind, cache = spec[0], ()
            if kind == "dense":
                a = a @ self.state[f"{i}.weight"].T + self.state[f"{i}.bias"]
            elif kind == "activation":
                a = ACTIVATIONS[spec[1]][0](a)
            elif kind == "dropout" and training:
                keep = None if masks is None else masks.get(i)
                if keep is None:
                    if spec[1] != 0.0:
                        raise ValueError(f"layer {i}: Dropout in training needs a mask")
                    keep = np.ones(a.shape, dtype=bool)
                if keep.shape != a.shape:
                    raise ValueError(f"layer {i}: mask shape {keep.shape} != {a.shape}")
                scale = dropout_scale(keep, spec[1], self.dtype)
                a, cache = a * scale, (scale,)
            elif kind == "layernorm":
                a, xhat, inv_std, _, _ = layer_norm_forward(
                    a, self.state[f"{i}.weight"], self.state[f"{i}.bias"], spec[1], axis=1
                )
                cache = (xhat, inv_std)
            elif kind == "batchnorm" and training:
                if a.shape[0] < 2:
                    raise ValueError(
                        "Expected more than 1 value per channel when training (BatchNorm)"
                    )
                a, xhat, inv_std, mean, var = layer_norm_forward(
                    a, self.state[f"{i}.weight"], self.state[f"{i}.bias"], spec[2], axis=0
                )
                cache = (xhat, inv_std, mean[0], var[0])
            elif kind == "batchnorm":  # evaluation: a fixed affine map per column
                inv_std = 1.0 / np.sqrt(self.state[f"{i}.running_var"] + spec[2])
                xhat = (a - self.state[f"{i}.running_mean"]) * inv_std
                a = self.state[f"{i}.weight"] * xhat + self.state[f"{i}.bias"]
                cache = (xhat, inv_std)
            acts.append(a)
            caches.append(cache)
        return acts, caches

    def logits(self, X: ArrayLike, training: bool = False, masks: Masks | None = None) -> Array:
        return self.forward_pass(X, training, masks)[0][-1]

    def forward(self, X: ArrayLike, training: bool = False, masks: Masks | None = None) -> Array:
        """The output after the loss's link (softmax probabilities for cross_entropy)."""
        return OUTPUT_ACTIVATIONS[self.loss_name](self.logits(X, training, masks))

    def predict(self, X: ArrayLike) -> Array:
        out = self.forward(X)
        return out.argmax(axis=1) if self.loss_name == "cross_entropy" else out

    def loss(
        self, X: ArrayLike, y: ArrayLike, training: bool = False, masks: Masks | None = None
    ) -> float:
        return LOSSES[self.loss_name](self.logits(X, training, masks), self._target(y))[0]

    def _backward(
        self, X: ArrayLike, y: ArrayLike, training: bool, masks: Masks | None
    ) -> tuple[float, dict[str, Array], list[tuple]]:
        acts, caches = self.forward_pass(X, training, masks)
        loss, g = LOSSES[self.loss_name](acts[-1], self._target(y))
        grads: dict[str, Array] = {}
        for i in reversed(range(len(self.layers))):
            spec, x, cache = self.layers[i], acts[i], caches[i]
            kind = spec[0]
            if kind == "dense":
                # y = x Wᵀ + b: dW = dyᵀ x (out, in), db = Σ_rows dy, dx = dy W.
                grads[f"{i}.weight"] = g.T @ x
                grads[f"{i}.bias"] = g.sum(axis=0)
                g = g @ self.state[f"{i}.weight"]
            elif kind == "activation":
                g = g * ACTIVATIONS[spec[1]][1](x)
            elif kind == "dropout" and training:
                g = g * cache[0]
            elif kind in ("layernorm", "batchnorm") and (kind == "layernorm" or training):
                xhat, inv_std = cache[0], cache[1]
                axis = 1 if kind == "layernorm" else 0
                gamma = self.state[f"{i}.weight"]
                g, grads[f"{i}.weight"], grads[f"{i}.bias"] = layer_norm_backward(
                    g, xhat, inv_std, gamma, axis
                )
            elif kind == "batchnorm":  # evaluation: y = γ (x - rm) inv_std + β
                xhat, inv_std = cache
                grads[f"{i}.weight"] = (g * xhat).sum(axis=0)
                grads[f"{i}.bias"] = g.sum(axis=0)
                g = g * self.state[f"{i}.weight"] * inv_std
        ordered = {name: grads[name] for name in self.trainable_names()}
        return loss, ordered, caches

    def gradients(
        self, X: ArrayLike, y: ArrayLike, masks: Masks | None = None, training: bool = True
    ) -> tuple[float, dict[str, Array]]:
        """Mean loss and its gradient w.r.t. every trainable entry (torch layouts), in training
        mode by default; the running statistics are left unchanged."""
        loss, grads, _ = self._backward(X, y, training, masks)
        return loss, grads

    def step(
        self, X: ArrayLike, y: ArrayLike, optimizer: Optimizer, masks: Masks | None = None
    ) -> float:
        """One training step: the running-statistics update of every BatchNorm (from this
        batch, before the update, as torch's forward does) and one optimizer update of the
        trainable entries (in state_dict order). Returns the training-mode loss before it."""
        loss, grads, caches = self._backward(X, y, True, masks)
        n = self._as_input(X).shape[0]
        for i, spec in enumerate(self.layers):
            if spec[0] == "batchnorm":
                m, (_, _, mean, var) = spec[1], caches[i]
                rm, rv = f"{i}.running_mean", f"{i}.running_var"
                self.state[rm] = (1.0 - m) * self.state[rm] + m * mean
                self.state[rv] = (1.0 - m) * self.state[rv] + m * (var * n / (n - 1))
                self.state[f"{i}.num_batches_tracked"] += 1
        names = self.trainable_names()
        optimizer.update([self.state[k] for k in names], [grads[k] for k in names])
        self.training_steps += 1
        return loss

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        epochs: int,
        batch_size: int,
        optimizer: Optimizer,
        masks_for_step: Callable[[int, int], Masks] | None = None,
    ) -> list[float]:
        """Unshuffled mini-batch training (the last partial batch kept); masks_for_step(step,
        rows) gives each step's Dropout masks. Returns each epoch's per-sample mean loss."""
        X = self._as_input(X)
        y = np.asarray(y)
        n = X.shape[0]
        history: list[float] = []
        for _ in range(epochs):
            total = 0.0
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                masks = (
                    None
                    if masks_for_step is None
                    else masks_for_step(self.training_steps, stop - start)
                )
                total += self.step(X[start:stop], y[start:stop], optimizer, masks) * (stop - start)
            history.append(total / n)
        return history


def zero_gradient_entries(layers: Sequence[object]) -> set[str]:
    """Shifts that a BatchNorm in training removes: a Dense bias or a norm's β followed, through
    nothing but Dense, identity activations and Dropout(p=0), by a BatchNorm adds a constant to
    each of the BatchNorm's input columns, which its batch mean cancels. Their gradients are
    exactly 0 in training mode; computed ones are rounding noise (~1e-16 relative in float64),
    so they are compared against the scale of the other gradients, and optimizers that divide
    by the gradient's size (Adam's g / (sqrt(v) + eps)) turn that noise into real updates."""
    specs = [layer_spec(layer) for layer in layers]
    zero: set[str] = set()
    for i, spec in enumerate(specs):
        if spec[0] not in ("dense", "layernorm", "batchnorm"):
            continue
        for later in specs[i + 1 :]:
            if later[0] == "batchnorm":
                zero.add(f"{i}.bias")
                break
            if not (later[0] == "dense" or later in (("activation", "identity"), ("dropout", 0.0))):
                break
    return zero
