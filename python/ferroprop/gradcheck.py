"""`gradcheck`: the engine's analytic gradients against central finite differences, as
`torch.autograd.gradcheck` checks an autograd function.

The check runs on a float64 twin of the network — the same layers, loss, seed and
`training_steps` (so the same dropout masks), with the network's `state_dict()` copied in — so
a float32 network is checked through its float64 arithmetic, and the user's network is never
touched. Each checked entry `θ` of every trainable parameter is perturbed by `±eps` and the
training-mode loss of the whole batch recomputed: `n = (L(θ+eps) − L(θ−eps)) / (2·eps)`. In
training mode BatchNorm normalises with the batch's statistics (its running buffers are not
parameters and are not checked, nor changed: no step is taken) and Dropout applies the masks
of the next step, the same in every evaluation.

One loss is special: scikit-learn's `squared_error` reports half the squared error averaged
over the `K` outputs but, as scikit-learn computes it, takes the gradient of the sum over
outputs; its numeric derivative is multiplied by `K` so the check is of the gradient the
engine means to compute.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from ._model import Model

__all__ = ["GradcheckError", "gradcheck"]

#: Losses whose engine gradient is that of `K` times the reported loss (`K` outputs).
_SUMMED_OVER_OUTPUTS = ("squared_error",)


class GradcheckError(RuntimeError):
    """An analytic gradient entry disagrees with its finite difference (as torch's
    `GradcheckError`, a RuntimeError).

    Attributes:
        name: the parameter's `state_dict` name.
        index: the entry's index in that parameter (a tuple, `state_dict` layout).
        analytic: the engine's gradient.
        numeric: the central difference.
    """

    def __init__(self, name: str, index: tuple[int, ...], analytic: float, numeric: float) -> None:
        self.name, self.index = name, index
        self.analytic, self.numeric = analytic, numeric
        super().__init__(
            f"gradcheck: gradient of {name!r} at index {index}: analytic {analytic!r}, "
            f"numeric {numeric!r} (difference {abs(analytic - numeric):.3g})"
        )


class _Twin(Model):
    """A float64 engine network wrapped for `Model`'s input handling and gradients."""

    def __init__(self, net: Model) -> None:
        core = net._core
        self._dtype = np.dtype(np.float64)
        self._seed = net._seed
        self._core = _core.Network.stack(
            core.layers, core.widths[0], core.loss_spec, "float64", net._seed
        )
        self.load_state_dict(net.state_dict())
        self._core.training_steps = core.training_steps


def gradcheck(
    net: Model,
    X: Any,
    y: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_entries: int | None = None,
    sample_weight: Any = None,
) -> dict[str, float]:
    """Checks every trainable parameter's gradient of the training-mode loss on `(X, y)`.

    An entry passes when `|a − n| <= atol + rtol·|n|` (`torch.allclose`'s rule), `a` the
    analytic and `n` the numeric derivative.

    Args:
        net: a `Network` or `Sequential` (left unchanged).
        X: the batch `(n, n_in)`.
        y: its targets, as the network's loss takes them.
        eps: the central difference's step, positive.
        atol, rtol: the tolerances, non-negative.
        max_entries: check at most this many entries per parameter, evenly spaced over its
            flattened entries (the first and last included; deterministic); None checks all.
        sample_weight: per-row weights `(n,)` passed to the loss, or None.

    Returns:
        `{name: relative error}` for every trainable parameter (`state_dict` names), the
        relative error being `max|a − n| / max(max|n|, 1e-12)` over its checked entries.

    Raises:
        TypeError: `net` is not a ferroprop network, or a bad argument type.
        ValueError: a non-positive `eps`, a negative tolerance, a `max_entries` below 1, or
            inputs the network rejects.
        GradcheckError: an entry fails; it names the first failing parameter (in `state_dict`
            order), the entry's index and both values.
    """
    if not isinstance(net, Model):
        kind = type(net).__name__
        raise TypeError(f"net: expected a ferroprop Network or Sequential, got {kind}")
    eps = _positive_float(eps, "eps", strict=True)
    atol = _positive_float(atol, "atol", strict=False)
    rtol = _positive_float(rtol, "rtol", strict=False)
    if max_entries is not None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int | np.integer):
            raise TypeError(f"max_entries: expected an int or None, got {max_entries!r}")
        if max_entries < 1:
            raise ValueError(f"max_entries: expected at least 1, got {max_entries}")
    twin = _Twin(net)
    x, t, w = twin._x(X), twin._y(y), twin._w(sample_weight)
    analytic = _analytic(twin, x, t, w)
    scale = twin._core.widths[-1] if twin.loss_name in _SUMMED_OVER_OUTPUTS else 1
    state = twin.state_dict()
    entries: list[tuple[str, Any]] = [
        (name, np.ascontiguousarray(v) if v.dtype.kind == "f" else int(v))
        for name, v in state.items()
    ]
    position = {name: k for k, (name, _) in enumerate(entries)}
    errors: dict[str, float] = {}
    for name in state:
        if name not in analytic:
            continue  # a buffer or counter
        base = entries[position[name]][1]
        grad = np.asarray(analytic[name], dtype=np.float64)
        picks = _entries(base.size, max_entries)
        worst_diff = worst_num = 0.0
        for k in picks:
            numeric = scale * _central(twin, entries, position[name], base, int(k), eps, x, t, w)
            a = float(grad.ravel()[k])
            diff = abs(a - numeric)
            if not diff <= atol + rtol * abs(numeric):  # NaN fails
                index = tuple(int(i) for i in np.unravel_index(k, base.shape))
                raise GradcheckError(name, index, a, numeric)
            worst_diff = max(worst_diff, diff)
            worst_num = max(worst_num, abs(numeric))
        errors[name] = worst_diff / max(worst_num, 1e-12)
    return errors


def _analytic(
    twin: Model, x: np.ndarray, y: np.ndarray, w: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The engine's gradients of the twin's training-mode loss (the check's subject; tests
    replace this to plant a wrong gradient)."""
    return twin._named_gradients(x, y, w)[1]


def _central(
    twin: Model,
    entries: list[tuple[str, Any]],
    at: int,
    base: np.ndarray,
    k: int,
    eps: float,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
) -> float:
    """`(L(θ_k + eps) − L(θ_k − eps)) / (2·eps)` for entry `k` of `entries[at]`, restoring it."""
    losses = []
    name = entries[at][0]
    for step in (eps, -eps):
        moved = base.copy()
        moved.ravel()[k] += step
        entries[at] = (name, moved)
        twin._core.load_state_dict(entries)
        losses.append(twin._core.gradients(x, y, w)[0])
    entries[at] = (name, base)
    twin._core.load_state_dict(entries)
    return (losses[0] - losses[1]) / (2.0 * eps)


def _entries(size: int, max_entries: int | None) -> np.ndarray:
    """The flat indices to check: all, or `max_entries` evenly spaced ones."""
    if max_entries is None or max_entries >= size:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, max_entries).round().astype(np.int64))


def _positive_float(value: Any, name: str, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        which = "positive" if strict else "non-negative"
        raise ValueError(f"{name}: expected a {which} finite number, got {value!r}")
    return v
