"""scikit-learn's `MLPClassifier` and `MLPRegressor`, trained by ferroprop's Rust core.

Same parameters, defaults, fitted attributes and numerics as scikit-learn 1.9's
`sklearn.neural_network` estimators: the same `random_state` gives the same model (Glorot init
and per-epoch shuffles drawn from the same NumPy stream, the same L2 term, SGD and Adam updates,
schedules, early stopping and stopping rules). The loops over batches run in Rust with the GIL
released; the per-epoch bookkeeping below follows `_multilayer_perceptron.py` line by line.

Beyond scikit-learn: `class_weight`, the activations `leaky_relu` and `gelu`,
`fit(..., validation_data=(X_val, y_val))` with `validation_loss_curve_`, `partial_fit` with
early stopping against that fixed validation set, `save(path)` / `ferroprop.load(path)`,
`dropout` and `normalization` (the layer stack of `ferroprop.Network`), and `diagnostics`
(per-layer figures per epoch in `diagnostics_`, and `ferroprop.TrainingWarning`s; training is
unchanged). With `dropout=0.0` and `normalization=None` (the defaults) the network is
scikit-learn's and so are the numerics.

This is the only ferroprop module that imports scikit-learn.
"""

from __future__ import annotations

import functools
import os
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse
import sklearn
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d, shuffle
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core, _estimator_files, model_files
from ._estimator_diagnostics import Recorder, recorder_for
from ._model import _entry
from ._validation import native
from .diagnostics import Thresholds
from .network import _stack

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")
# Training warnings skip scikit-learn's frames (`_fit_context`, pipelines, searches) too.
_SKLEARN_DIR = os.path.dirname(os.path.abspath(sklearn.__file__))
_ACTIVATIONS = {"identity", "logistic", "tanh", "relu", "leaky_relu", "gelu"}
_NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


#: The entries of each normalisation layer in `norm_state_` (torch's names, in its order).
_NORM_KEYS = {
    "layer": ("weight", "bias"),
    "batch": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
}
_NORM_KINDS = {"LayerNorm": "layer", "BatchNorm": "batch"}
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_LBFGS_DROPOUT = (
    "dropout > 0 needs a stochastic solver ('sgd' or 'adam'): L-BFGS's line search compares "
    "loss values that would each see a different dropout mask. Use dropout=0.0 with "
    "solver='lbfgs'."
)


def _core_activation(name: str) -> str:
    """The core's canonical name for a hidden activation (scikit-learn's `logistic`)."""
    return "sigmoid" if name == "logistic" else name


def _dense(X: Any) -> Any:
    """Sparse inputs are densified: the engine's kernels are dense."""
    return X.toarray() if scipy.sparse.issparse(X) else X


# A `norm_state_`: per hidden layer, its normalisation layer's entries (name → array).
_NormState = list[dict[str, np.ndarray]]
# (core network, (dtype, activation, loss, normalization) it was built for, snapshots of the
# coefs, intercepts and norm state it holds)
_PredictionEntry = tuple[
    Any, tuple[str, str, str, str | None], list[np.ndarray], list[np.ndarray], _NormState
]


class _PredictionCache:
    """Holds the `_PredictionEntry` of `_BaseMLP._prediction_network`: the prediction network
    with snapshots of the parameters it holds; the entry is replaced whole, never modified.
    The holder stays the same object, so predicting leaves the estimator's `__dict__`
    unchanged (as scikit-learn's checks require); it pickles and deep-copies as an empty
    cache (core networks do not pickle; the first prediction rebuilds one)."""

    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: _PredictionEntry | None = None

    def __reduce__(self) -> tuple[type, tuple]:
        return (_PredictionCache, ())


def _same_arrays(current: Any, snapshot: list[np.ndarray]) -> bool:
    """Whether the arrays of `current` hold exactly the values of `snapshot` (same count,
    shapes, dtypes). Reads only: safe while other threads read too. (A snapshot is finite:
    the core refuses non-finite parameters, so NaN never needs to equal NaN here.)"""
    if len(current) != len(snapshot):
        return False
    for a, b in zip(current, snapshot, strict=True):
        if not isinstance(a, np.ndarray) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not np.array_equal(a, b):
            return False
    return True


def _copy_norm(state: _NormState) -> _NormState:
    return [{k: np.array(v, copy=True) for k, v in layer.items()} for layer in state]


def _same_norm(current: Any, snapshot: _NormState) -> bool:
    """`_same_arrays` for a `norm_state_` (a list of dicts)."""
    if not isinstance(current, list) or len(current) != len(snapshot):
        return False
    for a, b in zip(current, snapshot, strict=True):
        if not isinstance(a, dict) or list(a) != list(b):
            return False
        if not _same_arrays(list(a.values()), list(b.values())):
            return False
    return True


def _initial_norm(normalization: str, units: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    """A fresh normalisation layer's entries, as torch initialises them."""
    layer = {"weight": np.ones(units, dtype), "bias": np.zeros(units, dtype)}
    if normalization == "batch":
        layer["running_mean"] = np.zeros(units, dtype)
        layer["running_var"] = np.ones(units, dtype)
        layer["num_batches_tracked"] = np.array(0, dtype=np.int64)
    return layer


def _state_entries(
    net: Any, coefs: list[np.ndarray], intercepts: list[np.ndarray], norm: _NormState
) -> list[tuple[str, Any]]:
    """The full `load_state_dict` list of a core stack from the estimator's fitted state."""
    dtype = np.dtype(net.dtype)
    entries: list[tuple[str, Any]] = []
    dense = normal = 0
    for i, layer in enumerate(net.layers):
        if layer.kind == "Dense":
            entries.append((f"{i}.weight", native(np.transpose(coefs[dense]), dtype)))
            entries.append((f"{i}.bias", native(intercepts[dense], dtype)))
            dense += 1
        elif layer.kind in _NORM_KINDS:
            for key, value in norm[normal].items():
                if key == "num_batches_tracked":
                    entries.append((f"{i}.{key}", int(value)))
                else:
                    entries.append((f"{i}.{key}", native(value, dtype)))
            normal += 1
    return entries


def _norm_from(net: Any) -> _NormState:
    """The normalisation layers' entries of a core stack, one dict per layer."""
    kinds = [layer.kind for layer in net.layers]
    state: _NormState = [{} for kind in kinds if kind in _NORM_KINDS]
    positions = [i for i, kind in enumerate(kinds) if kind in _NORM_KINDS]
    for name, value in net.state_dict():
        index, key = name.split(".", 1)
        if kinds[int(index)] in _NORM_KINDS:
            state[positions.index(int(index))][key] = _entry(value)
    return state


class _BaseMLP(BaseEstimator):
    """The shared machinery of both estimators (scikit-learn's `BaseMultilayerPerceptron`)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(_ACTIVATIONS)],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "normalization": [StrOptions({"layer", "batch"}), None],
        "diagnostics": ["boolean", Thresholds],
    }

    # -- the network ------------------------------------------------------------------------

    def _engine_loss(self) -> str:
        if not is_classifier(self):
            return self.loss
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    def _layout(self) -> tuple[str | None, float]:
        """What the training network holds beyond scikit-learn's: (normalization, dropout)."""
        return self.normalization, float(self.dropout)

    def _norm_state(self) -> _NormState:
        """`norm_state_` (empty without normalisation), checked against `normalization`."""
        state = getattr(self, "norm_state_", None)
        keys = _NORM_KEYS.get(self.normalization)
        n_hidden = len(self.coefs_) - 1
        if keys is None:
            if state:
                raise ValueError(
                    "normalization=None, but the model was fitted with normalisation layers "
                    "(norm_state_): set normalization back or fit again"
                )
            return []
        if (
            not isinstance(state, list)
            or len(state) != n_hidden
            or any(not isinstance(layer, dict) or tuple(layer) != keys for layer in state)
        ):
            raise ValueError(
                f"normalization={self.normalization!r} does not match the fitted model: "
                f"norm_state_ must hold {n_hidden} dicts with the entries {keys}; set "
                "normalization back or fit again"
            )
        return state

    def _new_network(self, widths: list[int], dtype: str, layout: tuple[str | None, float]) -> Any:
        """An untrained core network: scikit-learn's `[Dense, Activation] * n, Dense` without
        extras, else the stack `Dense, [norm], Activation, [Dropout]` per hidden layer."""
        normalization, dropout = layout
        if normalization is None and not dropout:
            return _core.Network(widths, [self.activation], self._engine_loss(), dtype, "glorot", 0)
        activation = [_core_activation(self.activation)]
        layers = _stack(widths, activation, "glorot", dropout, normalization)
        seed = getattr(self, "_mask_seed", 0) if dropout else 0
        return _core.Network.stack(layers, widths[0], self._engine_loss(), dtype, seed)

    def _build_network(self, dtype: np.dtype) -> None:
        """A core network shaped like `coefs_`, holding their values."""
        widths = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        self._net_layout = self._layout()
        self._net = self._new_network(widths, np.dtype(dtype).name, self._net_layout)
        self._push_parameters()
        if self._net_layout[1]:  # the dropout masks go on where the last network stopped
            self._net.training_steps = int(getattr(self, "_mask_steps", 0))
        # An optimizer's moments belong to the network it updated (the core refuses another).
        if getattr(self, "_optimizer", None) is not None:
            self._optimizer.reset()
        # Made here, with the fitted state, so that predicting never adds to `__dict__`.
        self._prediction_cache = _PredictionCache()

    def _network(self, dtype: Any = None) -> Any:
        """The core network holding the current `coefs_`/`intercepts_` (which a user may have
        edited or replaced, as scikit-learn allows), rebuilt when missing (after unpickling or
        loading) or when the dtype or the activation no longer match."""
        dtype = np.dtype(self._dtype() if dtype is None else dtype)
        net = getattr(self, "_net", None)
        if (
            net is None
            or np.dtype(net.dtype) != dtype
            or net.activations[:1] not in ([], [_core_activation(self.activation)])
            or net.widths != [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            or getattr(self, "_net_layout", None) != self._layout()
        ):
            self._build_network(dtype)
        else:
            self._push_parameters()
        return self._net

    def _dtype(self) -> np.dtype:
        return np.dtype(self.coefs_[0].dtype)

    def _push_parameters(self) -> None:
        dtype = np.dtype(self._net.dtype)
        if self._net_layout[0] is None:
            self._net.set_parameters(
                [native(c, dtype) for c in self.coefs_],
                [native(b, dtype) for b in self.intercepts_],
            )
        else:
            entries = _state_entries(self._net, self.coefs_, self.intercepts_, self._norm_state())
            self._net.load_state_dict(entries)

    def _pull_parameters(self) -> None:
        self.coefs_ = list(self._net.weights())
        self.intercepts_ = list(self._net.biases())
        if self._net_layout[0] is not None:
            self.norm_state_ = _norm_from(self._net)
        if self._net_layout[1]:
            self._mask_steps = self._net.training_steps

    def _prediction_network(self) -> Any:
        """A core network holding the current `coefs_`/`intercepts_`, for prediction only.

        Prediction never mutates a network another thread may be using (scikit-learn's
        `predict`, `predict_proba` and `score` are safe to call from many threads at once):
        a prediction network is built once per set of parameters, published together with a
        snapshot of the parameters it holds, and never changed afterwards. Each call compares
        the current `coefs_`/`intercepts_` (which a user may have edited in place or replaced,
        as scikit-learn allows) with the snapshot, a read-only pass over the parameters; only
        when they differ (or the dtype, activation or loss changed) is a fresh network built
        and published. Threads still holding the previous network finish with it undisturbed,
        and all threads run their forward passes concurrently (the core releases the GIL).
        """
        key = (
            self._dtype().name,
            _core_activation(self.activation),
            self._engine_loss(),
            self.normalization,
        )
        cache = self.__dict__.get("_prediction_cache")
        if cache is None:  # an estimator unpickled from an older ferroprop
            cache = self._prediction_cache = _PredictionCache()
        entry = cache.entry  # read once: another thread may publish a new entry meanwhile
        if entry is not None:
            net, entry_key, coefs, intercepts, norm = entry
            if (
                entry_key == key
                and _same_arrays(self.coefs_, coefs)
                and _same_arrays(self.intercepts_, intercepts)
                and _same_norm(getattr(self, "norm_state_", []), norm)
            ):
                return net
        coefs = [np.array(c, copy=True) for c in self.coefs_]
        intercepts = [np.array(b, copy=True) for b in self.intercepts_]
        norm = _copy_norm(self._norm_state())
        dtype = np.dtype(key[0])
        widths = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
        # Dropout is the identity in evaluation: the prediction network has none.
        net = self._new_network(widths, key[0], (self.normalization, 0.0))
        if self.normalization is None:
            net.set_parameters(
                [native(c, dtype) for c in coefs],
                [native(b, dtype) for b in intercepts],
            )
        else:
            net.load_state_dict(_state_entries(net, coefs, intercepts, norm))
        # One assignment: readers see all or none.
        cache.entry = (net, key, coefs, intercepts, norm)
        return net

    def __getstate__(self) -> dict:
        # The core objects do not pickle; `coefs_` hold everything needed to rebuild the
        # network. An optimizer's state is dropped: `partial_fit` after unpickling starts a
        # fresh one. (A copy: BaseEstimator may hand back `__dict__` itself.)
        state = dict(super().__getstate__())
        for key in ("_net", "_net_layout", "_optimizer", "_fixed_validation", "_recorder"):
            state.pop(key, None)
        return state

    # -- initialisation ---------------------------------------------------------------------

    def _initialize(self, y: np.ndarray, layer_units: list[int], dtype: np.dtype) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"

        self.coefs_ = []
        self.intercepts_ = []
        for i in range(self.n_layers_ - 1):
            coef, intercept = self._init_coef(layer_units[i], layer_units[i + 1], dtype)
            self.coefs_.append(coef)
            self.intercepts_.append(intercept)
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        if self.normalization is None:
            for key in ("norm_state_", "_best_norm_state"):
                self.__dict__.pop(key, None)
        else:
            units = layer_units[1:-1]
            self.norm_state_ = [_initial_norm(self.normalization, u, dtype) for u in units]
            self._best_norm_state = _copy_norm(self.norm_state_)
        self.__dict__.pop("_mask_seed", None)
        self._new_mask_seed()
        self._build_network(dtype)
        self._optimizer = None
        self._stopped_early = False
        self.diagnostics_ = None
        self.__dict__.pop("_recorder", None)

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _new_mask_seed(self) -> None:
        """With dropout and no mask seed yet, draws one from `random_state` (after the initial
        weights, which are then those of the same model without dropout); the masks' step
        counter starts at 0."""
        if self.dropout and "_mask_seed" not in self.__dict__:
            self._mask_seed = int(self._random_state.randint(np.iinfo(np.int32).max))
            self._mask_steps = 0
        elif not self.dropout:
            for key in ("_mask_seed", "_mask_steps"):
                self.__dict__.pop(key, None)

    def _init_coef(self, fan_in: int, fan_out: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
        # Glorot uniform, drawn exactly as scikit-learn draws it (weights, then intercepts).
        factor = 2.0 if self.activation == "logistic" else 6.0
        init_bound = np.sqrt(factor / (fan_in + fan_out))
        coef = self._random_state.uniform(-init_bound, init_bound, (fan_in, fan_out))
        intercept = self._random_state.uniform(-init_bound, init_bound, fan_out)
        return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)

    # -- fitting ----------------------------------------------------------------------------

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        incremental: bool = False,
        validation_data: Any = None,
    ) -> _BaseMLP:
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden_layer_sizes}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if self.dropout and self.solver == "lbfgs":
            raise ValueError(_LBFGS_DROPOUT)

        X, y, labels = self._validate_input(X, y, incremental, reset=first_pass)
        n_features = X.shape[1]
        if self.normalization == "batch" and X.shape[0] < 2:
            raise ValueError(
                "normalization='batch' needs at least 2 samples to train (BatchNorm's batch "
                f"statistics, PyTorch's rule), got n_samples={X.shape[0]}"
            )
        sample_weight = self._sample_weight(sample_weight, X, labels)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features, *hidden_layer_sizes, self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        else:
            if getattr(self, "_net", None) is not None and (
                np.dtype(self._net.dtype) != X.dtype
                or getattr(self, "_net_layout", None) != self._layout()
            ):
                self._optimizer = None  # its state has the old dtype or layers
            self._new_mask_seed()
            self._network(X.dtype)

        validation = self._validation_set(validation_data, incremental)
        try:
            if self.solver in _STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, y, sample_weight, incremental, validation)
            else:
                self.diagnostics_ = None  # L-BFGS has no epochs
                self._fit_lbfgs(X, y, sample_weight)
                if validation is not None:  # one entry: lbfgs has no epochs
                    self.validation_loss_curve_.append(self._net.loss(validation[0], validation[2]))
        except _core.DivergenceError as err:
            self._pull_parameters()  # the last finite step
            raise ValueError(_NON_FINITE) from err
        # `coefs_` now hold the result: the core never applies a non-finite update, and
        # lbfgs checks its own.
        return self

    def _sample_weight(self, sample_weight: Any, X: np.ndarray, labels: np.ndarray) -> Any:
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        return sample_weight

    def _targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """`y` (n, n_outputs) as the engine's loss takes it: class indices for softmax."""
        if is_classifier(self) and self.out_activation_ == "softmax":
            return native(np.argmax(y, axis=1), np.dtype(np.int64))
        return native(y, dtype)

    def _validation_set(self, validation_data: Any, incremental: bool) -> Any:
        """`validation_data` checked and kept (a later `partial_fit` reuses it)."""
        if validation_data is None:
            if incremental:
                return getattr(self, "_fixed_validation", None)
            self.__dict__.pop("_fixed_validation", None)
            self.__dict__.pop("validation_loss_curve_", None)
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data: expected a pair (X_val, y_val)")
        X_val, y_val = validation_data
        X_val = _dense(validate_data(self, X_val, accept_sparse=["csr", "csc"], reset=False))
        X_val = native(X_val, self._dtype())
        y_val = np.asarray(y_val)
        if is_classifier(self):
            y_val = column_or_1d(y_val) if y_val.ndim == 2 and y_val.shape[1] == 1 else y_val
            unknown = np.setdiff1d(unique_labels(y_val), self.classes_)
            if len(unknown):
                raise ValueError(
                    f"validation_data: y_val has classes {unknown} not seen in fit; "
                    f"expected labels among {self.classes_}"
                )
            y_core = self._label_binarizer.transform(y_val)
        else:
            y_core = y_val.reshape(len(y_val), -1).astype(self._dtype())
        if len(y_val) != X_val.shape[0]:
            raise ValueError(
                f"validation_data: X_val has {X_val.shape[0]} rows but y_val has {len(y_val)}"
            )
        self._fixed_validation = (X_val, y_val, self._targets(y_core, self._dtype()))
        if not incremental or not hasattr(self, "validation_loss_curve_"):
            self.validation_loss_curve_ = []
        return self._fixed_validation

    def _optimizer_for(self, incremental: bool) -> Any:
        if incremental and getattr(self, "_optimizer", None) is not None:
            return self._optimizer
        # The schedule is fixed when the optimizer is made, as scikit-learn's optimizer holds it.
        self._schedule = (self.solver, self.learning_rate, self.learning_rate_init, self.power_t)
        if self.solver == "sgd":
            self._optimizer = _core.SklearnSGD(
                float(self.learning_rate_init), float(self.momentum), bool(self.nesterovs_momentum)
            )
        else:
            self._optimizer = _core.SklearnAdam(
                float(self.learning_rate_init),
                float(self.beta_1),
                float(self.beta_2),
                float(self.epsilon),
            )
        return self._optimizer

    def _fit_stochastic(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: Any,
        incremental: bool,
        validation: Any,
    ) -> None:
        optimizer = self._optimizer_for(incremental)
        early_stopping = self.early_stopping
        if early_stopping and incremental and validation is None:
            raise ValueError(
                "partial_fit does not support early_stopping=True without a fixed validation "
                "set: pass validation_data=(X_val, y_val) to partial_fit"
            )
        if incremental and getattr(self, "_stopped_early", False):
            warnings.warn(
                "partial_fit: early stopping has already ended training (the best weights "
                "were restored); call fit to start again",
                ConvergenceWarning,
                stacklevel=3,
            )
            return
        recorder = self._diagnostics_recorder(incremental)
        sample_weight_val = None
        if early_stopping and validation is not None:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val, y_val = validation[0], validation[1]
        elif early_stopping:
            # Don't stratify in multilabel classification (scikit-learn's rule).
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X,
                    y,
                    random_state=self._random_state,
                    test_size=self.validation_fraction,
                    stratify=stratify,
                )
                sample_weight_train = None
            else:
                (X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val) = (
                    train_test_split(
                        X,
                        y,
                        sample_weight,
                        random_state=self._random_state,
                        test_size=self.validation_fraction,
                        stratify=stratify,
                    )
                )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to "
                    "be clipped",
                    stacklevel=3,
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        net = self._net
        dtype = np.dtype(net.dtype)
        X_train = native(X_train, dtype)
        y_train = self._targets(y_train, dtype)
        if sample_weight_train is not None:
            sample_weight_train = native(sample_weight_train, dtype)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = shuffle(sample_idx, random_state=self._random_state)
                order = native(sample_idx, np.dtype(np.int64))
                try:
                    rows = net.fit(
                        X_train,
                        y_train,
                        1,
                        batch_size,
                        optimizer,
                        shuffle=False,
                        order=order,
                        sample_weight=sample_weight_train,
                        alpha=float(self.alpha),
                        finite_checked=True,  # validate_data rejected NaN/inf
                        diagnostics=recorder is not None,
                    )
                except _core.DivergenceError:
                    if not early_stopping:
                        raise
                    # scikit-learn would go on with non-finite weights and restore the best
                    # ones at the end; stopping here gives the same model sooner.
                    warnings.warn(
                        f"Training diverged in epoch {self.n_iter_ + 1}; the weights with the "
                        "best validation score are restored.",
                        ConvergenceWarning,
                        stacklevel=3,
                    )
                    self._stopped_early = incremental
                    break
                # `coefs_` stay current during training, as scikit-learn's (scoring reads them).
                self._pull_parameters()
                self.n_iter_ += 1
                self.loss_ = rows[0]["loss"]
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if validation is not None:
                    self.validation_loss_curve_.append(net.loss(validation[0], validation[2]))
                if recorder is not None:
                    val_loss = None if validation is None else self.validation_loss_curve_[-1]
                    recorder.epoch_end(len(self.loss_curve_), rows[0], self.loss_, val_loss)

                self._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)
                self._iteration_ends(optimizer)

                if self._no_improvement_count > self.n_iter_no_change:
                    subject = "Validation score" if early_stopping else "Training loss"
                    msg = (
                        f"{subject} did not improve more than tol={self.tol:f} for "
                        f"{self.n_iter_no_change} consecutive epochs."
                    )
                    if self._trigger_stopping(optimizer, msg):
                        # partial_fit with early stopping ends for good (best weights
                        # restored); otherwise the next call trains on, as scikit-learn does.
                        self._stopped_early = incremental and early_stopping
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                        "and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=3,
                    )
        except KeyboardInterrupt:
            self._pull_parameters()  # the steps of the interrupted epoch count
            warnings.warn("Training interrupted by user.", stacklevel=3)

        if early_stopping and (not incremental or self._stopped_early):
            # Restore the best weights (the core network is synced from `coefs_` on next use).
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts
            if self.normalization is not None:
                self.norm_state_ = self._best_norm_state

    def _diagnostics_recorder(self, incremental: bool) -> Recorder | None:
        """This epoch loop's `Recorder` (None with `diagnostics` off), which `diagnostics_`
        is then the record of: `fit` starts a new run, `partial_fit` goes on with the last."""
        self._recorder = recorder_for(
            self.diagnostics,
            getattr(self, "diagnostics_", None),
            getattr(self, "_recorder", None),
            new_run=not incremental,
            skip=[_SKLEARN_DIR],
        )
        self.diagnostics_ = None if self._recorder is None else self._recorder.diagnostics
        return self._recorder

    def _iteration_ends(self, optimizer: Any) -> None:
        """scikit-learn's `iteration_ends`: the invscaling rate follows the samples seen."""
        solver, schedule, lr_init, power_t = self._schedule
        if solver == "sgd" and schedule == "invscaling":
            optimizer.lr = float(lr_init) / (self.t_ + 1) ** power_t

    def _trigger_stopping(self, optimizer: Any, msg: str) -> bool:
        """scikit-learn's `trigger_stopping`: whether to stop, or (adaptive) divide the rate."""
        solver, schedule, _, _ = self._schedule
        if solver != "sgd" or schedule != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if optimizer.lr <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        optimizer.lr = optimizer.lr / 5.0
        if self.verbose:
            print(msg + f" Setting learning rate to {optimizer.lr:f}")
        return False

    def _update_no_improvement_count(
        self, early_stopping: bool, X_val: Any, y_val: Any, sample_weight_val: Any
    ) -> None:
        if early_stopping:
            val_score = self._score(X_val, y_val, sample_weight=sample_weight_val)
            self.validation_scores_.append(val_score)
            if self.verbose:
                print(f"Validation score: {self.validation_scores_[-1]:f}")
            last_valid_score = self.validation_scores_[-1]
            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last_valid_score > self.best_validation_score_:
                self.best_validation_score_ = last_valid_score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [i.copy() for i in self.intercepts_]
                if self.normalization is not None:
                    self._best_norm_state = _copy_norm(self.norm_state_)
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> None:
        if self._net_layout[0] is not None:
            self._fit_lbfgs_stack(X, y, sample_weight)
            return
        net = self._net
        dtype = np.dtype(net.dtype)
        shapes = [c.shape for c in self.coefs_]
        sizes = [c.size for c in self.coefs_] + [b.size for b in self.intercepts_]
        splits = np.cumsum(sizes)[:-1]
        X = native(X, dtype)
        y = self._targets(y, dtype)
        if sample_weight is not None:
            sample_weight = native(sample_weight, dtype)
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
            raise ValueError(_NON_FINITE)
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
        X = native(X, dtype)
        y_core = self._targets(y, dtype)
        if sample_weight is not None:
            sample_weight = native(sample_weight, dtype)
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
            raise ValueError(_NON_FINITE)
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

    # -- prediction -------------------------------------------------------------------------

    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> np.ndarray:
        """The output layer's activations `(n, n_outputs_)`."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        net = self._prediction_network()
        X = native(_dense(X), np.dtype(net.dtype))
        return net.forward(X)

    def _score_with_function(
        self, X: Any, y: Any, sample_weight: Any, score_function: Any
    ) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, validation_data: Any = None
    ) -> _BaseMLP:
        """Fits the model to `X (n_samples, n_features)` and `y`.

        `sample_weight (n_samples,)` weights each sample's loss; `validation_data=(X_val,
        y_val)` records `validation_loss_curve_` per epoch and, with `early_stopping=True`,
        replaces the held-out `validation_fraction` split. Ctrl-C keeps the current weights
        with a warning.
        """
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=False, validation_data=validation_data
        )

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                "not stochastic."
            )
        return True

    # -- model files ------------------------------------------------------------------------

    def save(self, path: Any) -> None:
        """Writes the fitted model to a safetensors file (see `ferroprop.load`)."""
        check_is_fitted(self)
        _estimator_files.save(self, path)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's `MLPClassifier`, trained in Rust.

    Parameters are scikit-learn 1.9's (see its documentation), plus `class_weight` ('balanced'
    or a dict `{label: weight}`, multiplying `sample_weight`) and the activations `leaky_relu`
    (slope 0.01) and `gelu` (tanh approximation), and `dropout` and `normalization` (described
    below). Predictions `(n_samples,)` (or `(n_samples, n_classes)` for
    multilabel); `predict_proba` `(n_samples, n_classes)`.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: Any = 10,
        max_fun: int = 15000,
        class_weight: Any = None,
        dropout: float = 0.0,
        normalization: str | None = None,
        diagnostics: bool | Thresholds = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.class_weight = class_weight
        self.dropout = dropout
        self.normalization = normalization
        self.diagnostics = diagnostics

    loss = "log_loss"

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(X, y as the loss takes it, the validated labels)`."""
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        X = _dense(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool), y

    def _sample_weight(self, sample_weight: Any, X: np.ndarray, labels: np.ndarray) -> Any:
        sample_weight = super()._sample_weight(sample_weight, X, labels)
        if self.class_weight is None:
            return sample_weight
        class_weight = compute_sample_weight(self.class_weight, labels).astype(X.dtype)
        return class_weight if sample_weight is None else sample_weight * class_weight

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels `(n_samples,)`, or `(n_samples, n_classes)` for multilabel."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        classes: Any = None,
        validation_data: Any = None,
    ) -> MLPClassifier:
        """One epoch over `(X, y)`; `classes` (all labels) is required on the first call.

        With `early_stopping=True`, a fixed `validation_data=(X_val, y_val)` (given now or in
        an earlier call) is scored after each call; once it has not improved by `tol` for
        `n_iter_no_change` calls, the best weights are restored and training ends.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=True, validation_data=validation_data
        )

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of `predict_proba`, `(n_samples, n_classes)`."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities `(n_samples, n_classes)`."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's `MLPRegressor`, trained in Rust.

    `loss` is 'squared_error' (identity output) or 'poisson' (exp output, `y >= 0`).
    Parameters are otherwise scikit-learn 1.9's, plus `dropout` and `normalization` (described
    below). Predictions `(n_samples,)` or `(n_samples, n_outputs)`.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: Any = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        normalization: str | None = None,
        diagnostics: bool | Thresholds = False,
    ) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.normalization = normalization
        self.diagnostics = diagnostics

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(X, y as the loss takes it, the validated labels)`."""
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        X = _dense(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("y: the poisson loss needs non-negative targets (y >= 0)")
        return X, y, y

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values `(n_samples,)` or `(n_samples, n_outputs)`."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return self._score_with_function(X, y, sample_weight, r2_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, validation_data: Any = None
    ) -> MLPRegressor:
        """One epoch over `(X, y)`; early stopping as in `MLPClassifier.partial_fit`."""
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=True, validation_data=validation_data
        )


_EXTRAS_DOC = """
    Extras beyond scikit-learn (keyword-only; with their defaults the network, and so every
    number, is scikit-learn's):

    dropout : float in [0, 1), default 0.0
        Inverted dropout (`torch.nn.Dropout`) after every hidden activation, active only while
        `fit` / `partial_fit` train: each hidden unit is kept with probability `1 - dropout`
        and scaled by `1 / (1 - dropout)`; `predict`, `predict_proba` and `score` use the
        whole network. The masks are drawn from a seed taken from `random_state` (after the
        initial weights, which are those of the same model without dropout) and a step
        counter that goes on across `partial_fit` calls, warm starts, pickling and model
        files, so a fixed `random_state` gives the same model. Needs a stochastic solver:
        with `solver="lbfgs"`, `fit` raises ValueError, since the line search compares loss
        values that would each see another mask.
    normalization : None, "layer" or "batch", default None
        A normalisation layer between every hidden Dense and its activation: "layer" is
        `torch.nn.LayerNorm` (per row), "batch" `torch.nn.BatchNorm1d` (batch statistics
        while training, and running statistics, momentum 0.1, in `predict`). Their learnable
        scale and shift and BatchNorm's running statistics are the fitted attribute
        `norm_state_`: one dict per hidden layer, `{"weight", "bias"[, "running_mean",
        "running_var", "num_batches_tracked"]}` (torch's names), kept like `coefs_` by warm
        starts, `partial_fit`, pickling and model files. With "batch", every training batch
        needs at least 2 rows (PyTorch's rule: a `batch_size` leaving a last batch of one row
        raises ValueError). `solver="lbfgs"` trains on the whole set at once, so a BatchNorm
        normalises with the statistics of the whole training set, which then become its
        running statistics. `alpha` penalises the Dense weights only.

    diagnostics : bool or ferroprop.diagnostics.Thresholds, default False
        Records per-layer training diagnostics each epoch, those of
        `ferroprop.Network.fit(diagnostics=True)` (see `ferroprop.history.Diagnostics`):
        `grad_norm`, `weight_norm` and `update_ratio` of layers with parameters; `mean`,
        `std` and `dead_fraction` (relu, leaky_relu) or `saturated_fraction` (logistic, tanh)
        of activation layers; `gamma_mean` and `gamma_std` of normalisation layers. They go
        into `diagnostics_`, and `ferroprop.TrainingWarning`s (vanishing gradients, dead
        units, too large updates and, with `validation_data`, overfitting) are issued at the
        line that called `fit`, each kind at most once per `fit` call (the `partial_fit`
        calls after a `fit`, or after the first one, count as one run). A
        `ferroprop.diagnostics.Thresholds(...)` turns them on with other warning thresholds.
        The model trained is the same, bit for bit, either way; only the time per epoch
        grows. Only effective with `solver='sgd'` or `'adam'`.

    With dropout or BatchNorm, `sample_weight` is not equivalent to repeating samples (the
    masks are drawn per row, and BatchNorm's statistics are unweighted, as PyTorch's).

    Fitted attribute of the extras:

    diagnostics_ : ferroprop.history.Diagnostics or None
        With `diagnostics` on, `diagnostics_[layer][metric]` is that metric's list of values,
        one per epoch (layer names those of `ferroprop.Network.state_dict`: "0", "1", ...;
        `diagnostics_.table()` shows them). Like `loss_curve_`, it starts again with every
        fresh fit and grows with `warm_start` fits and `partial_fit` calls;
        `diagnostics_.epochs` are the 1-based positions of its epochs in `loss_curve_`.
        None when a fit (or `partial_fit` call) ran with `diagnostics=False`, and with
        `solver='lbfgs'`, which has no epochs. Pickles and model files keep it.
"""

for _cls in (MLPClassifier, MLPRegressor):
    _cls.__doc__ = (_cls.__doc__ or "").rstrip() + "\n" + _EXTRAS_DOC
    model_files.register(_cls.__name__, functools.partial(_estimator_files.from_model_file, _cls))
