"""scikit-learn's 'lbfgs' solver: `scipy.optimize.minimize(method="L-BFGS-B")` over the packed
parameters, with the loss and gradients of the whole set from the core."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.optimize import _check_optimize_result

from .. import _core
from .._validation import native
from ..network import _stack
from ._state import _BUFFERS, _core_activation

NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


class _LbfgsSolver:
    """The L-BFGS solver's part of `_BaseMLP`."""

    def _fit_lbfgs(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> None:
        if self._net_layout[0] is not None:
            self._fit_lbfgs_stack(X, y, sample_weight)
            return
        net = self._net
        dtype = np.dtype(net.dtype)
        shapes = [c.shape for c in self.coefs_]
        sizes = [c.size for c in self.coefs_] + [b.size for b in self.intercepts_]
        splits = np.cumsum(sizes)[:-1]
        X, y, sample_weight = self._engine_inputs(X, y, sample_weight)
        n_layers = len(shapes)

        def unpack(packed: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
            parts = np.split(packed.astype(dtype, copy=False), splits)
            coefs = [p.reshape(s) for p, s in zip(parts[:n_layers], shapes, strict=True)]
            return coefs, parts[n_layers:]

        def loss_and_grad(packed: np.ndarray) -> tuple[float, np.ndarray]:
            coefs, intercepts = unpack(packed)
            net.set_parameters(
                [native(c, c.dtype) for c in coefs],
                [native(b, b.dtype) for b in intercepts],
            )
            loss, (dw, db) = net.dense_gradients(X, y, sample_weight, float(self.alpha))
            return loss, np.hstack([g.ravel() for g in (*dw, *db)])

        packed = np.hstack([p.ravel() for p in (*self.coefs_, *self.intercepts_)])
        opt_res = self._minimize(loss_and_grad, packed)
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        coefs, intercepts = unpack(opt_res.x)
        if not all(np.isfinite(p).all() for p in (*coefs, *intercepts)):
            raise ValueError(NON_FINITE)
        self.coefs_ = [np.ascontiguousarray(c) for c in coefs]
        self.intercepts_ = [np.ascontiguousarray(b) for b in intercepts]
        self._push_parameters()

    def _minimize(self, loss_and_grad: Any, packed: np.ndarray) -> Any:
        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        return scipy.optimize.minimize(
            loss_and_grad,
            packed,
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
                **_get_additional_lbfgs_options_dict("iprint", iprint),
            },
        )

    def _fit_lbfgs_stack(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> None:
        """L-BFGS over every trainable entry of a stack with normalisation layers (full-batch
        gradients in training mode: a BatchNorm normalises with the whole set's statistics,
        which then become its running statistics)."""
        net = self._net
        dtype = np.dtype(net.dtype)
        X, y_core, sample_weight = self._engine_inputs(X, y, sample_weight)
        state = net.state_dict()
        trainable = [(k, v.shape) for k, v in state if k.rsplit(".", 1)[1] not in _BUFFERS]
        buffers = [(k, v) for k, v in state if k.rsplit(".", 1)[1] in _BUFFERS]
        splits = np.cumsum([int(np.prod(shape)) for _, shape in trainable])[:-1]

        def unpack(packed: np.ndarray) -> list[tuple[str, Any]]:
            parts = np.split(packed.astype(dtype, copy=False), splits)
            entries = [
                (k, native(p.reshape(shape), dtype))
                for (k, shape), p in zip(trainable, parts, strict=True)
            ]
            return entries + buffers

        def loss_and_grad(packed: np.ndarray) -> tuple[float, np.ndarray]:
            net.load_state_dict(unpack(packed))
            loss, grads = net.gradients(X, y_core, sample_weight, float(self.alpha))
            named = dict(grads)
            return loss, np.hstack([named[k].ravel() for k, _ in trainable])

        packed = np.hstack([v.ravel() for k, v in state if k.rsplit(".", 1)[1] not in _BUFFERS])
        opt_res = self._minimize(loss_and_grad, packed)
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        if not np.isfinite(opt_res.x).all():
            raise ValueError(NON_FINITE)
        net.load_state_dict(unpack(opt_res.x))
        if self._net_layout[0] == "batch":
            self._full_batch_statistics(X, y_core)
        self._pull_parameters()

    def _full_batch_statistics(self, X: np.ndarray, y: np.ndarray) -> None:
        """Sets each BatchNorm's running statistics to those of the whole of `X` at the
        current parameters (what L-BFGS normalised with): one training step of a copy whose
        BatchNorms have momentum 1 (the step's update of the copy's parameters is dropped)."""
        net = self._net
        layers = _stack(net.widths, [_core_activation(self.activation)], "glorot", 0.0, "batch")
        layers = [_core.BatchNorm(1.0) if layer.kind == "BatchNorm" else layer for layer in layers]
        copy = _core.Network.stack(layers, net.widths[0], self._engine_loss(), net.dtype, 0)
        state = net.state_dict()
        copy.load_state_dict(state)
        copy.step(X, y, _core.SGD(1e-3))
        stats = {k: v for k, v in copy.state_dict() if k.rsplit(".", 1)[1] in _BUFFERS}
        net.load_state_dict([(k, stats.get(k, v)) for k, v in state])
