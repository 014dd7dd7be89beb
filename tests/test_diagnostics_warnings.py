"""ferroprop.diagnostics: each TrainingWarning fires on a history built to trigger it, once,
attributed to the caller's line; a healthy history stays silent."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import ferroprop as fp
from ferroprop.diagnostics import Thresholds, TrainingWarning, Watcher
from ferroprop.history import History


def layers(
    first_grad: float = 0.1,
    last_grad: float = 0.2,
    dead: float = 0.05,
    update: float = 1e-3,
) -> dict[str, dict[str, float]]:
    """A Dense-ReLU-LayerNorm-Dense-ReLU-Dense stack's diagnostics."""
    return {
        "0": {"grad_norm": first_grad, "weight_norm": 3.0, "update_ratio": update},
        "1": {"mean": 0.4, "std": 0.3, "dead_fraction": dead},
        "2": {
            "grad_norm": 1e-9,
            "weight_norm": 1.0,
            "update_ratio": 1e-4,
            "gamma_mean": 1.0,
            "gamma_std": 0.0,
        },
        "3": {"grad_norm": 0.15, "weight_norm": 2.0, "update_ratio": 1e-3},
        "4": {"mean": 0.4, "std": 0.3, "dead_fraction": 0.1},
        "5": {"grad_norm": last_grad, "weight_norm": 1.0, "update_ratio": 1e-3},
    }


def healthy(epoch: int) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "loss": 1.0 / epoch,
        "val_loss": 1.1 / epoch,
        "seconds": 0.1,
        "lr": 0.01,
        "diagnostics": layers(),
    }


def watch(entries: list[dict[str, Any]], thresholds: Thresholds | None = None) -> list[str]:
    """Feeds the logs one epoch at a time; returns the TrainingWarning messages."""
    hist, watcher = History(), Watcher(thresholds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for logs in entries:
            hist.append(logs)
            watcher.epoch_end(hist)
    assert all(issubclass(w.category, TrainingWarning) for w in caught)
    return [str(w.message) for w in caught]


def with_layers(epochs: int, **kwargs: float) -> list[dict[str, Any]]:
    return [{**healthy(e), "diagnostics": layers(**kwargs)} for e in range(1, epochs + 1)]


def test_healthy_history_is_silent() -> None:
    assert watch([healthy(e) for e in range(1, 20)]) == []


def test_vanishing_gradients_after_consecutive_epochs() -> None:
    entries = with_layers(5, first_grad=2.1e-7, last_grad=6.2e-3)
    assert watch(entries[:2]) == []
    messages = watch(entries)
    assert messages == [
        "layer '0': gradient norm 2.1e-07 is 3.4e-05 × layer '5''s for 3 epochs: vanishing "
        "gradients (sigmoid/tanh stacks; try relu, LayerNorm/BatchNorm or a smaller depth)"
    ]


def test_vanishing_needs_consecutive_epochs() -> None:
    low = with_layers(1, first_grad=1e-8)[0]
    entries = [low, low, healthy(3), low, low]
    assert watch(entries) == []
    assert len(watch(entries, Thresholds(vanishing_epochs=2))) == 1


def test_vanishing_ignores_normalisation_layers() -> None:
    # layer '2' (LayerNorm) has a tiny grad_norm in every epoch of the healthy history
    assert watch([healthy(e) for e in range(1, 6)]) == []


def test_dead_units() -> None:
    messages = watch([healthy(1), *with_layers(4, dead=0.83)])
    assert messages == [
        "layer '1': 83% of its units are dead (ReLU never positive over an epoch): learning "
        "rate too large? try a smaller lr or leaky_relu"
    ]
    assert watch(with_layers(2, dead=0.83), Thresholds(dead_fraction=0.9)) == []


def test_update_ratio() -> None:
    messages = watch(with_layers(3, update=0.31))
    assert messages == ["layer '0': update/weight ratio 0.31 > 0.1: learning rate too large"]
    assert watch(with_layers(3, update=0.31), Thresholds(update_ratio=0.5)) == []


def overfitting(rises: int) -> list[dict[str, Any]]:
    entries = [healthy(e) for e in range(1, 5)]
    for i in range(rises):
        entries.append({**healthy(5 + i), "val_loss": 0.3 + 0.01 * (i + 1)})
    return entries + [healthy(20)]  # val falls again afterwards


def test_overfitting_after_consecutive_rises() -> None:
    # healthy(4) has val_loss 0.275; then 0.31, 0.32, ... while loss keeps falling
    assert watch(overfitting(4)) == []
    assert watch(overfitting(5)) == [
        "validation loss rose 5 epochs in a row while training loss fell: overfitting "
        "(try Dropout, early stopping, more data)"
    ]
    assert len(watch(overfitting(2), Thresholds(overfit_epochs=2))) == 1


def test_overfitting_needs_training_loss_falling() -> None:
    entries = overfitting(6)
    for logs in entries[4:]:
        logs["loss"] = 0.5  # flat training loss
    assert watch(entries) == []


def test_overfitting_needs_validation() -> None:
    entries = overfitting(6)
    for logs in entries:
        del logs["val_loss"]
    assert watch(entries) == []


def test_each_kind_at_most_once_and_reset() -> None:
    entries = with_layers(6, first_grad=1e-9, dead=0.9, update=0.5)
    messages = watch(entries)
    assert len(messages) == 3
    # dead units and the update ratio at epoch 1, vanishing gradients after 3 epochs
    assert ["dead" in messages[0], "update" in messages[1], "vanishing" in messages[2]] == [
        True
    ] * 3
    hist, watcher = History(), Watcher()
    hist.append(entries[0])
    with pytest.warns(TrainingWarning):
        watcher.epoch_end(hist)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        watcher.epoch_end(hist)
    watcher.reset()
    with pytest.warns(TrainingWarning) as record:
        watcher.epoch_end(hist)
    assert len(record) == 2 and "dead" in str(record[0].message)


def test_warning_points_at_the_caller() -> None:
    hist = History()
    hist.append(with_layers(1, dead=0.9)[0])
    with pytest.warns(TrainingWarning) as record:
        Watcher().epoch_end(hist)
    assert record[0].filename == __file__


def test_training_warning_exported() -> None:
    assert fp.TrainingWarning is TrainingWarning and issubclass(TrainingWarning, UserWarning)


def test_thresholds_defaults_and_frozen() -> None:
    t = Thresholds()
    assert (t.vanishing_ratio, t.vanishing_epochs, t.dead_fraction) == (1e-3, 3, 0.5)
    assert (t.update_ratio, t.overfit_epochs) == (0.1, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.dead_fraction = 0.9  # type: ignore[misc]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Thresholds(vanishing_ratio=0),
        lambda: Thresholds(vanishing_epochs=0),
        lambda: Thresholds(dead_fraction=1.0),
        lambda: Thresholds(update_ratio=-1),
        lambda: Thresholds(overfit_epochs=2.5),
    ],
)
def test_thresholds_validated(make: Callable[[], Thresholds]) -> None:
    with pytest.raises(ValueError):
        make()


def test_watcher_rejects_bad_thresholds() -> None:
    with pytest.raises(TypeError, match="thresholds"):
        Watcher({"dead_fraction": 0.5})  # type: ignore[arg-type]
