"""ferroprop.callbacks driven by synthetic logs, with a real small Network as the model."""

from __future__ import annotations

import csv
import math
import os
import warnings
from typing import Any

import numpy as np
import pytest

import ferroprop as fp
from ferroprop.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    TerminateOnNaN,
)
from ferroprop.diagnostics import Watcher


def small_net(seed: int = 0) -> fp.Network:
    return fp.Network([3, 4, 2], activation="relu", loss="cross_entropy", seed=seed)


def logs(epoch0: int, **values: float) -> dict[str, Any]:
    return {"epoch": epoch0 + 1, "loss": 1.0, "seconds": 0.01, "lr": 0.1, **values}


def run(cb: Any, values: list[float], model: Any = None, key: str = "val_loss") -> int | None:
    """Drives `cb` through a CallbackList; returns the 0-based epoch at which it stopped."""
    dispatcher = CallbackList([cb], small_net() if model is None else model)
    dispatcher.begin()
    stopped = None
    for epoch, value in enumerate(values):
        if dispatcher.epoch_end(epoch, logs(epoch, **{key: value})):
            stopped = epoch
            break
    dispatcher.end()
    return stopped


def perturb(net: fp.Network, seed: int) -> None:
    """Sets new parameters through load_state_dict (as one training epoch would change them)."""
    rng = np.random.default_rng(seed)
    net.load_state_dict({k: rng.normal(size=v.shape) for k, v in net.state_dict().items()})


# --- EarlyStopping ---------------------------------------------------------------------------


def test_patience_zero_stops_at_first_non_improvement() -> None:
    assert run(EarlyStopping(), [1.0, 0.9, 0.95, 0.5]) == 2


def test_patience_counts_epochs_without_improvement() -> None:
    # best at epoch 1; epochs 2, 3, 4 do not improve: wait reaches 3 at epoch 4.
    assert run(EarlyStopping(patience=3), [1.0, 0.8, 0.9, 0.85, 0.81, 0.1]) == 4
    # an improvement resets the count
    assert run(EarlyStopping(patience=2), [1.0, 1.1, 0.9, 1.0, 0.95, 0.99]) == 4


def test_min_delta_small_improvements_do_not_count() -> None:
    values = [1.0, 0.99, 0.98, 0.97, 0.5]
    assert run(EarlyStopping(patience=2, min_delta=0.05), values) == 2
    assert run(EarlyStopping(patience=2, min_delta=-0.05), values) == 2  # abs(), as Keras
    assert run(EarlyStopping(patience=2), values) is None


def test_baseline_must_be_beaten() -> None:
    # improvements over the previous best that do not beat the baseline keep counting (an
    # improving epoch itself never stops, as in Keras)
    values = [1.0, 0.9, 0.8, 0.85]
    assert run(EarlyStopping(patience=3, baseline=0.5), values) == 3
    assert run(EarlyStopping(patience=3), values) is None
    assert run(EarlyStopping(patience=3, baseline=0.5), [1.0, 0.4, 0.45, 0.3]) is None


def test_mode_max_and_auto_for_accuracy() -> None:
    values = [0.5, 0.6, 0.55, 0.7]
    assert run(EarlyStopping(monitor="val_accuracy"), values, key="val_accuracy") == 2
    assert run(EarlyStopping(monitor="val_r2", mode="max"), values, key="val_r2") == 2
    assert run(EarlyStopping(monitor="val_accuracy", mode="min"), values, key="val_accuracy") == 1


def test_start_from_epoch_skips_warm_up() -> None:
    assert run(EarlyStopping(start_from_epoch=3), [1.0, 2.0, 3.0, 4.0, 5.0]) == 4


def test_first_epoch_never_stops() -> None:
    assert run(EarlyStopping(baseline=0.1), [1.0, 2.0]) == 1


def test_restore_best_weights_loads_best_epoch() -> None:
    net = small_net()
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    dispatcher = CallbackList([stopper], net)
    dispatcher.begin()
    snapshots = []
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.8, 0.9]):
        perturb(net, epoch)
        snapshots.append(net.state_dict())
        if dispatcher.epoch_end(epoch, logs(epoch, val_loss=value)):
            break
    assert epoch == 3 and stopper.best_epoch == 1
    dispatcher.end()
    restored = net.state_dict()
    for name, value in snapshots[1].items():
        np.testing.assert_array_equal(restored[name], value)
    assert not np.array_equal(restored["0.weight"], snapshots[3]["0.weight"])


def test_state_is_reset_between_fits() -> None:
    stopper = EarlyStopping(patience=1)
    assert run(stopper, [1.0, 1.5, 2.0]) == 1
    assert run(stopper, [5.0, 4.0, 4.5, 4.6]) == 2


def test_missing_monitor_warns_and_does_not_stop() -> None:
    with pytest.warns(UserWarning, match="val_loss.*not available.*loss"):
        assert run(EarlyStopping(), [1.0, 2.0, 3.0], key="other") is None


def test_stop_training_flag_set_as_keras() -> None:
    net = small_net()
    run(EarlyStopping(), [1.0, 2.0], model=net)
    assert net.stop_training is True


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "up"}, ValueError, "mode"),
        ({"monitor": "seconds"}, ValueError, "mode='min'"),
        ({"monitor": 3}, TypeError, "monitor"),
        ({"patience": -1}, ValueError, "patience"),
        ({"patience": 1.5}, TypeError, "patience"),
        ({"min_delta": "x"}, TypeError, "min_delta"),
        ({"baseline": math.nan}, TypeError, "baseline"),
        ({"restore_best_weights": 1}, TypeError, "restore_best_weights"),
        ({"start_from_epoch": -2}, ValueError, "start_from_epoch"),
    ],
)
def test_early_stopping_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        EarlyStopping(**kwargs)


# --- ModelCheckpoint -------------------------------------------------------------------------


def test_checkpoint_every_epoch_with_formatted_names(tmp_path: Any) -> None:
    pattern = str(tmp_path / "sub" / "ckpt-{epoch:02d}-{val_loss:.3f}.safetensors")
    run(ModelCheckpoint(pattern), [0.5, 0.25])
    assert sorted(os.listdir(tmp_path / "sub")) == [
        "ckpt-01-0.500.safetensors",
        "ckpt-02-0.250.safetensors",
    ]
    loaded = fp.load(tmp_path / "sub" / "ckpt-01-0.500.safetensors")
    assert loaded.widths == [3, 4, 2]


def test_checkpoint_best_only_writes_on_improvement_atomically(tmp_path: Any) -> None:
    path = tmp_path / "best.safetensors"
    net = small_net()
    dispatcher = CallbackList([ModelCheckpoint(path, save_best_only=True)], net)
    dispatcher.begin()
    contents = []
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.4, 0.6]):
        perturb(net, epoch)
        dispatcher.epoch_end(epoch, logs(epoch, val_loss=value))
        contents.append(path.read_bytes())
        assert os.listdir(tmp_path) == ["best.safetensors"]  # no temporary file left
    dispatcher.end()
    changed = [contents[i] != contents[i - 1] for i in range(1, len(contents))]
    assert changed == [True, False, True, False]
    best = fp.load(path)
    perturb(net, 3)
    np.testing.assert_array_equal(best.state_dict()["0.weight"], net.state_dict()["0.weight"])


def test_checkpoint_unchanged_mtime_without_improvement(tmp_path: Any) -> None:
    path = tmp_path / "best.safetensors"
    cb = ModelCheckpoint(path, save_best_only=True, initial_value_threshold=0.5)
    run(cb, [0.7])
    assert not path.exists()
    run(cb, [0.4])
    stamp = os.stat(path).st_mtime_ns
    run(cb, [0.45, 0.6])
    assert os.stat(path).st_mtime_ns == stamp


def test_checkpoint_missing_field_or_monitor(tmp_path: Any) -> None:
    with pytest.raises(KeyError, match="val_acc"):
        run(ModelCheckpoint(str(tmp_path / "{val_acc}.safetensors")), [1.0])
    with pytest.warns(UserWarning, match="Can save best model only with val_loss"):
        run(ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True), [1.0], key="x")
    assert (tmp_path / "m.safetensors").exists()


def test_checkpoint_arguments() -> None:
    with pytest.raises(TypeError, match="filepath"):
        ModelCheckpoint(3)
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint("x", mode="best")
    with pytest.raises(TypeError, match="save_best_only"):
        ModelCheckpoint("x", save_best_only="yes")


# --- TerminateOnNaN --------------------------------------------------------------------------


def test_terminate_on_nan_logged_loss(capsys: Any) -> None:
    assert run(TerminateOnNaN(), [1.0, math.nan, 2.0], key="loss") == 1
    assert "Epoch 2: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        run(TerminateOnNaN(raise_error=True), [math.inf], key="loss")


def test_terminate_on_nan_handles_divergence(capsys: Any) -> None:
    err = fp.DivergenceError(
        "training diverged: ... (loss = NaN) at epoch 3, batch 17; the parameters are ..."
    )
    net = small_net()
    dispatcher = CallbackList([TerminateOnNaN()], net)
    dispatcher.begin()
    assert dispatcher.divergence(err) is True
    assert "Epoch 3, batch 17: Invalid loss, terminating training" in capsys.readouterr().out
    assert net.stop_training is True
    assert CallbackList([TerminateOnNaN(raise_error=True)], net).divergence(err) is False
    assert CallbackList([EarlyStopping()], net).divergence(err) is False


def test_terminate_on_nan_real_divergence(capsys: Any) -> None:
    # the engine's own message parses
    net = fp.Network([2, 2], activation="relu", loss="mse")
    x = np.array([[1e30, -1e30]], dtype=np.float32)
    with pytest.raises(fp.DivergenceError) as info:
        net.fit(x, np.zeros((1, 2), dtype=np.float32), epochs=1, optimizer=fp.SGD(lr=1e10))
    assert CallbackList([TerminateOnNaN()], net).divergence(info.value) is True
    assert ": Invalid loss, terminating training" in capsys.readouterr().out


# --- CSVLogger -------------------------------------------------------------------------------


def test_csv_logger_columns_and_rows(tmp_path: Any) -> None:
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    dispatcher = CallbackList([logger], small_net())
    dispatcher.begin()
    for epoch in range(3):
        row = logs(epoch, val_loss=0.5 - epoch / 10, accuracy=0.9)
        row["diagnostics"] = {"0": {"grad_norm": 1.0}}
        dispatcher.epoch_end(epoch, row)
        assert len(path.read_text().splitlines()) == epoch + 2  # flushed each epoch
    dispatcher.end()
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "lr", "seconds", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert float(rows[3][5]) == pytest.approx(0.3)


def test_csv_logger_append_and_separator(tmp_path: Any) -> None:
    path = tmp_path / "log.tsv"
    for _ in range(2):
        run(CSVLogger(path, separator="\t", append=True), [1.0])
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["epoch", "loss", "lr", "seconds", "val_loss"]
    assert len(lines) == 3 and lines[1] == lines[2]
    run(CSVLogger(path, separator="\t"), [1.0, 2.0])
    assert len(path.read_text().splitlines()) == 3
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(path, separator="::")


# --- the dispatcher --------------------------------------------------------------------------


class Recorder:
    """A duck-typed callback: only on_epoch_end, returns True at `stop_at`."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.seen: list[tuple[int, float]] = []
        self.stop_at = stop_at

    def on_epoch_end(self, epoch: int, logs: dict) -> bool | None:
        self.seen.append((epoch, logs["loss"]))
        return True if epoch == self.stop_at else None


def test_true_return_stops_and_every_callback_sees_the_epoch() -> None:
    first, second = Recorder(stop_at=1), Recorder()
    dispatcher = CallbackList([first, second], small_net())
    dispatcher.begin()
    assert dispatcher.epoch_end(0, logs(0)) is False
    assert dispatcher.epoch_end(1, logs(1)) is True
    assert first.seen == second.seen == [(0, 1.0), (1, 1.0)]
    assert dispatcher.history.epochs == [1, 2] and dispatcher.history.loss == [1.0, 1.0]


def test_optional_hooks_called_in_order() -> None:
    calls: list[str] = []

    class Hooks(Callback):
        def set_model(self, model: Any) -> None:
            super().set_model(model)
            calls.append("set_model")

        def on_train_begin(self, logs: Any = None) -> None:
            calls.append("begin")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            calls.append(f"epoch {epoch}")
            self.model.stop_training = epoch == 1

        def on_train_end(self, logs: Any = None) -> None:
            calls.append(f"end {logs['epoch']}")

    net = small_net()
    hooks = Hooks()
    dispatcher = CallbackList(hooks, net)  # one callback alone is accepted
    dispatcher.begin()
    assert hooks.model is net
    assert [dispatcher.epoch_end(e, logs(e)) for e in range(2)] == [False, True]
    dispatcher.end()
    assert calls == ["set_model", "begin", "epoch 0", "epoch 1", "end 2"]


def test_begin_clears_stop_training() -> None:
    net = small_net()
    net.stop_training = True
    dispatcher = CallbackList([Recorder()], net)
    dispatcher.begin()
    assert dispatcher.epoch_end(0, logs(0)) is False


def test_watcher_runs_on_the_recorded_history() -> None:
    dispatcher = CallbackList(None, small_net(), watcher=Watcher())
    dispatcher.begin()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dispatcher.epoch_end(0, logs(0, diagnostics={"1": {"dead_fraction": 0.1}}))
    with pytest.warns(fp.TrainingWarning, match="layer '1': 90% of its units are dead"):
        dispatcher.epoch_end(1, logs(1, diagnostics={"1": {"dead_fraction": 0.9}}))
    assert dispatcher.history.diagnostics["1"]["dead_fraction"] == [0.1, 0.9]


@pytest.mark.parametrize(
    ("callbacks", "match"),
    [
        (3, "callbacks: expected a list"),
        ("abc", "callbacks: expected a list"),
        ([Recorder(), object()], r"callbacks\[1\]: expected a callback with an on_epoch_end"),
        ([lambda epoch, logs: None], r"callbacks\[0\]"),
    ],
)
def test_dispatcher_rejects_bad_callbacks(callbacks: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        CallbackList(callbacks, small_net())


def test_dispatcher_rejects_bad_watcher() -> None:
    with pytest.raises(TypeError, match="watcher"):
        CallbackList([], small_net(), watcher=object())  # type: ignore[arg-type]
