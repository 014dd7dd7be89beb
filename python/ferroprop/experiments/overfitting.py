"""`overfitting`: a wide network on 1,000 Fashion-MNIST rows memorises them.

With far more parameters than rows, the training loss keeps falling while the validation
loss, after a minimum, rises: the network learns the rows rather than the classes. Dropout
(half the hidden units dropped at each step) and early stopping (keep the weights of the
best validation epoch) close the gap between the two.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import Adam, Network, Sequential
from .. import layers as L
from ..callbacks import EarlyStopping
from ..datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist
from ..history import History
from .outcome import Outcome, training_warnings

__all__ = ["NAME", "PANELS", "SUMMARY", "draw", "run"]

NAME = "overfitting"
SUMMARY = "1,000 Fashion-MNIST rows overfit; Dropout or early stopping help"
PANELS = 2

_TRAIN_ROWS, _VAL_ROWS = 1000, 2000
_HIDDEN, _DROPOUT, _PATIENCE = (256, 256), 0.5, 5
_EPOCHS, _BATCH, _LR = 40, 50, 1e-3
_RUNS = (
    ("plain", "no regularisation"),
    ("dropout", f"Dropout({_DROPOUT:g})"),
    ("early", "early stopping"),
)


def run(seed: int = 0, data_dir: str | os.PathLike[str] | None = None) -> Outcome:
    """Trains a `[784, 256, 256, 10]` ReLU network on 1,000 Fashion-MNIST training rows,
    validated on 2,000 others, with Adam(1e-3), batches of 50, 40 epochs: plain, with
    `Dropout(0.5)` after each hidden layer, and with `EarlyStopping(patience=5,
    restore_best_weights=True)`.

    Args:
        seed: seeds the choice of rows and the initial weights.
        data_dir: the directory of the Fashion-MNIST files (default: Debian's
            `dataset-fashion-mnist`, /usr/share/datasets/fashion-mnist).

    Returns:
        The `Outcome`; per run (`plain`, `dropout`, `early`) `_train_loss`, `_val_loss` (the
        final network's, evaluation mode), `_gap` (their difference), `_val_accuracy` and
        `_epochs` (epochs trained); for the plain run `plain_best_val_loss` and
        `plain_best_epoch` (the validation minimum), `plain_train_loss_at_best` (the training
        loss logged that epoch) and `plain_warned` (1.0 if the overfitting warning fired).

    Raises:
        FileNotFoundError: Fashion-MNIST is not installed (the message says how to get it).
    """
    X, y, X_val, y_val = _rows(seed, data_dir)
    histories: dict[str, History] = {}
    numbers: dict[str, float] = {}
    for key, label in _RUNS:
        net = _network(key, seed)
        callbacks = [EarlyStopping(patience=_PATIENCE, restore_best_weights=True)]
        with training_warnings() as messages:
            hist = net.fit(
                X,
                y,
                epochs=_EPOCHS,
                batch_size=_BATCH,
                optimizer=Adam(lr=_LR),
                validation_data=(X_val, y_val),
                callbacks=callbacks if key == "early" else None,
                diagnostics=True,
            )
        histories[label] = hist
        numbers[f"{key}_train_loss"] = net.loss(X, y)
        numbers[f"{key}_val_loss"] = net.loss(X_val, y_val)
        numbers[f"{key}_gap"] = numbers[f"{key}_val_loss"] - numbers[f"{key}_train_loss"]
        numbers[f"{key}_val_accuracy"] = float(np.mean(net.predict(X_val) == y_val))
        numbers[f"{key}_epochs"] = float(len(hist.epochs))
        if key == "plain":
            best = int(np.argmin(hist.val_loss))
            numbers["plain_best_val_loss"] = hist.val_loss[best]
            numbers["plain_best_epoch"] = float(hist.epochs[best])
            numbers["plain_train_loss_at_best"] = hist.loss[best]
            numbers["plain_warned"] = float(any("overfitting" in m for m in messages))
    n = numbers
    text = (
        f"Without regularisation the validation loss is lowest at epoch "
        f"{n['plain_best_epoch']:.0f} ({n['plain_best_val_loss']:.3f}) and then rises to "
        f"{n['plain_val_loss']:.3f} by epoch {n['plain_epochs']:.0f}, while the training loss "
        f"falls from {n['plain_train_loss_at_best']:.3f} to {n['plain_train_loss']:.4f}: a "
        f"gap of {n['plain_gap']:.3f}. Dropout({_DROPOUT:g}) ends at validation loss "
        f"{n['dropout_val_loss']:.3f} (gap {n['dropout_gap']:.3f}); early stopping stopped "
        f"after {n['early_epochs']:.0f} epochs with the best weights, validation loss "
        f"{n['early_val_loss']:.3f} (gap {n['early_gap']:.3f}). Validation accuracy: "
        f"{n['plain_val_accuracy']:.1%} plain, {n['dropout_val_accuracy']:.1%} with Dropout, "
        f"{n['early_val_accuracy']:.1%} with early stopping."
    )
    return Outcome(NAME, text, numbers, histories)


def _rows(
    seed: int, data_dir: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """1,000 training and 2,000 validation rows drawn (seeded) from Fashion-MNIST's training
    set."""
    try:
        X_all, y_all, _, _ = load_fashion_mnist(data_dir)
    except FileNotFoundError as exc:
        what = str(exc).split(" Install them", 1)[0]
        raise FileNotFoundError(
            f"the overfitting demo needs Fashion-MNIST. {what} Install it with `apt-get "
            f"install -y dataset-fashion-mnist` (Debian/Ubuntu, as root; it installs into "
            f"{DEFAULT_FASHION_MNIST_DIR})."
        ) from None
    order = np.random.default_rng(seed).permutation(len(X_all))
    train, val = order[:_TRAIN_ROWS], order[_TRAIN_ROWS : _TRAIN_ROWS + _VAL_ROWS]
    return X_all[train], y_all[train], X_all[val], y_all[val]


def _network(key: str, seed: int) -> Network | Sequential:
    """The run's network: `[784, 256, 256, 10]`, with a Dropout after each hidden ReLU for
    `dropout`."""
    if key != "dropout":
        return Network([784, *_HIDDEN, 10], activation="relu", seed=seed)
    hidden = [
        layer
        for width in _HIDDEN
        for layer in (L.Dense(width), L.Activation("relu"), L.Dropout(_DROPOUT))
    ]
    return Sequential([*hidden, L.Dense(10)], input_dim=784, seed=seed)


def draw(outcome: Outcome, axes: list[Any]) -> None:
    """Left: training and validation loss per epoch, per run; right: the validation loss
    alone."""
    both, val = axes
    for i, (label, hist) in enumerate(outcome.histories.items()):
        color = f"C{i}"
        both.plot(hist.epochs, hist.loss, color=color, linestyle="--", label=f"{label}, train")
        both.plot(hist.epochs, hist.val_loss, color=color, label=f"{label}, validation")
        val.plot(hist.epochs, hist.val_loss, color=color, marker=".", label=label)
    both.set_yscale("log")
    both.set_title("training (dashed) and validation loss")
    val.set_title("validation loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy")
        ax.legend(fontsize="small")
