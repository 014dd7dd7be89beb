"""What ``ferroprop train`` adds around a preprocessed fit: the preprocessing's summary line,
folding standardised regression targets back into the output layer, and regression scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import Network
from ..preprocessing import CategoricalColumn, NumericColumn, TablePreprocessor


def preprocessing_note(prep: TablePreprocessor | None) -> str:
    """The summary line's note of the preprocessing (fitted on the training rows): what it does
    to how many columns; "" without preprocessing."""
    if prep is None:
        return ""
    numeric = [c for c in prep.columns if isinstance(c, NumericColumn)]
    categorical = [c for c in prep.columns if isinstance(c, CategoricalColumn)]
    imputed = sum(c.indicator for c in numeric) + sum(c.missing for c in categorical)
    parts = [f"{len(numeric)} standardised"] if numeric else []
    if categorical:
        parts.append(f"{len(categorical)} one-hot")
    if imputed:
        parts.append(f"{imputed} with missing values imputed")
    return f", {len(prep.columns)} columns ({', '.join(parts)}) -> {prep.n_features} features"


def many_categories(prep: TablePreprocessor | None, n_train: int) -> list[str]:
    """Warnings for categorical columns with a category for most training rows (more than 50,
    and more than half the rows): an identifier or free text, which one-hot encoding turns into
    a feature per row that tells nothing about new rows."""
    if prep is None:
        return []
    return [
        f"column {c.name!r} is categorical with {len(c.categories)} categories in {n_train} "
        "training rows (an identifier, or free text?): consider dropping it"
        for c in prep.columns
        if isinstance(c, CategoricalColumn) and len(c.categories) > max(50, n_train // 2)
    ]


def unscale_outputs(net: Network, mean: np.ndarray, scale: np.ndarray) -> None:
    """Folds `y = out * scale + mean` into the output layer of a network trained on standardised
    targets, so that it predicts in the targets' own units."""
    weights, biases = net.weights, net.biases
    weights[-1] = weights[-1] * scale.astype(weights[-1].dtype)[None, :]
    biases[-1] = biases[-1] * scale.astype(biases[-1].dtype) + mean.astype(biases[-1].dtype)
    net.set_parameters(weights, biases)


def regression_scores(pred: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Test MSE, MAE and R² (``1 - SS_res / SS_tot``, averaged over the outputs, as scikit-learn's
    ``r2_score``: for a constant target 1 when predicted exactly, else 0)."""
    p = pred.reshape(len(pred), -1).astype(np.float64)
    t = y.reshape(len(y), -1).astype(np.float64)
    err = p - t
    ss_res = (err**2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    exact = np.where(ss_res == 0, 1.0, 0.0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), exact)
    return {
        "test_mse": float((err**2).mean()),
        "test_mae": float(np.abs(err).mean()),
        "test_r2": float(r2.mean()),
    }
