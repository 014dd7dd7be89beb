"""`MLPClassifier`: scikit-learn's, trained by ferroprop's core."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from ..diagnostics import Thresholds
from ._base import _BaseMLP
from ._state import _dense


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
