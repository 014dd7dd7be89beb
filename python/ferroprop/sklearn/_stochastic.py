"""scikit-learn's stochastic solvers ('sgd', 'adam'): the epoch loop of
`BaseMultilayerPerceptron._fit_stochastic`, line by line, with each epoch's batches run by the
core, and its schedules, early stopping and stopping rules."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import sklearn
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle

from .. import _core
from .._estimator_diagnostics import Recorder, recorder_for
from .._validation import native
from ._state import _copy_norm

STOCHASTIC_SOLVERS = ("sgd", "adam")
# Training warnings skip scikit-learn's frames (`_fit_context`, pipelines, searches) too.
_SKLEARN_DIR = os.path.dirname(os.path.abspath(sklearn.__file__))


class _StochasticSolver:
    """The stochastic solvers' part of `_BaseMLP`."""

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
        X_train, y_train, sample_weight_train = self._engine_inputs(
            X_train, y_train, sample_weight_train
        )
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
