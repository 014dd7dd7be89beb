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

This is the only ferroprop package that imports scikit-learn.
"""

from __future__ import annotations

import functools

from .. import _estimator_files, model_files
from ._classifier import MLPClassifier
from ._extras_doc import EXTRAS_DOC
from ._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]

for _cls in (MLPClassifier, MLPRegressor):
    _cls.__module__ = __name__  # the public path, in reprs and pickles
    _cls.__doc__ = (_cls.__doc__ or "").rstrip() + "\n" + EXTRAS_DOC
    model_files.register(_cls.__name__, functools.partial(_estimator_files.from_model_file, _cls))
