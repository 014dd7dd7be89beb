"""The machinery both estimators share (scikit-learn's `BaseMultilayerPerceptron`): parameter
validation, the core network holding `coefs_`/`intercepts_`/`norm_state_`, initialisation, the
fit that dispatches to a solver, prediction and model files."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import _core, _estimator_files
from .._validation import native
from ..diagnostics import Thresholds
from ..network import _stack
from ._lbfgs import NON_FINITE, _LbfgsSolver
from ._state import (
    _NORM_KEYS,
    _copy_norm,
    _core_activation,
    _dense,
    _initial_norm,
    _norm_from,
    _NormState,
    _PredictionCache,
    _state_entries,
    prediction_network,
)
from ._stochastic import STOCHASTIC_SOLVERS, _StochasticSolver

_ACTIVATIONS = {"identity", "logistic", "tanh", "relu", "leaky_relu", "gelu"}
_LBFGS_DROPOUT = (
    "dropout > 0 needs a stochastic solver ('sgd' or 'adam'): L-BFGS's line search compares "
    "loss values that would each see a different dropout mask. Use dropout=0.0 with "
    "solver='lbfgs'."
)


class _BaseMLP(_StochasticSolver, _LbfgsSolver, BaseEstimator):
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
        """A core network holding the current parameters, for prediction only (see
        `_state.prediction_network`: safe while other threads predict)."""
        return prediction_network(self)

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

        if self.solver in STOCHASTIC_SOLVERS:
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
            if self.solver in STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, y, sample_weight, incremental, validation)
            else:
                self.diagnostics_ = None  # L-BFGS has no epochs
                self._fit_lbfgs(X, y, sample_weight)
                if validation is not None:  # one entry: lbfgs has no epochs
                    self.validation_loss_curve_.append(self._net.loss(validation[0], validation[2]))
        except _core.DivergenceError as err:
            self._pull_parameters()  # the last finite step
            raise ValueError(NON_FINITE) from err
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

    def _engine_inputs(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> tuple:
        """`(X, y, sample_weight)` as the training network takes them: in its dtype (the
        targets as `_targets` gives them), C-contiguous; `sample_weight` may be None."""
        dtype = np.dtype(self._net.dtype)
        weights = None if sample_weight is None else native(sample_weight, dtype)
        return native(X, dtype), self._targets(y, dtype), weights

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
        if self.solver not in STOCHASTIC_SOLVERS:
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

    def to_onnx(self, path: Any, *, input_name: str = "X", dtype: Any = None) -> Any:
        """Writes the fitted model as ONNX (opset 17) with skl2onnx's outputs (`label` and
        `probabilities` for a classifier, no ZipMap; `variable` for a regressor) and returns
        it (an `onnx.ModelProto`); `dtype` (float32/float64, default the model's) types the
        input and outputs. Needs `onnx`; see `ferroprop._onnx._estimator`.

        Raises:
            ImportError: onnx missing. TypeError, ValueError: a bad argument (named).
            NotFittedError: not fitted. OSError: `path` cannot be written.
        """
        from .._onnx import export_estimator

        return export_estimator(self, path, input_name, dtype)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
