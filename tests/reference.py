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
