"""`ferroprop train`'s steering flags on tiny synthetic files: --lr-schedule (through
`ferroprop.schedules`, checked against `schedule.lrs`), --early-stopping, --clip-grad-norm,
--diagnostics (table, warnings, metrics JSON) and --plot; that the CLI trains with one `fit`
call equal to the library's; and Ctrl-C (exit 130)."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ferroprop
from conftest import FakeTerminal, no_tqdm, require_fashion_mnist
from ferroprop import cli, schedules
from ferroprop.cli.data import load_train_data

PYTHON_DIR = str(Path(ferroprop.__file__).resolve().parent.parent)
PNG = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed"
)
EPOCHS = 12
FAST = ["--hidden", "16", "--epochs", str(EPOCHS), "--lr", "0.01", "--batch-size", "32"]
FAST += ["--progress", "none"]


@pytest.fixture
def blobs(tmp_path: Path) -> Path:
    """Three well separated Gaussian blobs in 4-D, 300 rows: 216 train / 24 val / 60 test."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    X = 3.0 * np.eye(4)[y] + rng.normal(scale=0.5, size=(300, 4))
    path = tmp_path / "blobs.npz"
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def noise(tmp_path: Path) -> Path:
    """Random labels of random features: nothing to learn, so a wide network overfits and the
    validation loss turns up within a few epochs."""
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.npz"
    np.savez(path, X=rng.normal(size=(200, 8)), y=rng.integers(0, 2, size=200))
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _train(
    data: Path, tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], str, str]:
    """`ferroprop train --data DATA FAST EXTRA --metrics-out ...`: (metrics, stdout, stderr)."""
    metrics = tmp_path / "m.json"
    code, out, err = _run(
        ["train", "--data", str(data), *FAST, *extra, "--metrics-out", str(metrics)], capsys
    )
    assert code == 0, err
    return json.loads(metrics.read_text()), out, err


def _reference_fit(argv: list[str], **fit: Any) -> ferroprop.History:
    """The library call `ferroprop train argv` stands for: the CLI's network (he init, the
    seed) fitted once on the CLI's split with `fit(seed=args.seed, **fit)`."""
    args = cli._parser().parse_args(argv)
    data = load_train_data(args)
    net = ferroprop.Network(
        [data.X_train.shape[1], *args.hidden, data.n_outputs], init="he", seed=args.seed
    )
    return net.fit(
        data.X_train,
        data.y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=ferroprop.Adam(lr=args.lr),
        seed=args.seed,
        validation_data=(data.X_val, data.y_val),
        **fit,
    )


# -- one fit, with the schedule inside --------------------------------------------------------


def test_cli_is_one_fit_with_the_library(
    blobs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Loss, validation, lr and diagnostics per epoch are those of one library fit with
    CosineAnnealingLR(T_max=epochs), clip_grad_norm and diagnostics (same engine, same
    thread count: equal to the last bit)."""
    extra = ["--diagnostics", "--clip-grad-norm", "0.5"]
    m, _, _ = _train(blobs, tmp_path, extra, capsys)
    hist = _reference_fit(
        ["train", "--data", str(blobs), *FAST, *extra],
        schedule=schedules.CosineAnnealingLR(T_max=EPOCHS),
        clip_grad_norm=0.5,
        diagnostics=True,
    )
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert m[key] == getattr(hist, key), key
    assert set(m["diagnostics"]) == set(hist.diagnostics) == {"0", "1", "2"}
    for layer, metrics in m["diagnostics"].items():
        assert metrics == dict(hist.diagnostics[layer]), layer
    assert m["config"]["clip_grad_norm"] == 0.5 and m["config"]["diagnostics"] is True
    assert m["test_accuracy"] > 0.9 and m["epochs_run"] == EPOCHS


def _expected_schedule(name: str, lr: float, epochs: int, steps: int) -> Any:
    """The schedule each --lr-schedule documents (cli.steering's docstring), built here."""
    return {
        "cosine": schedules.CosineAnnealingLR(T_max=epochs),
        "step": schedules.StepLR(step_size=math.ceil(epochs / 3), gamma=0.1),
        "onecycle": schedules.OneCycleLR(max_lr=lr, total_steps=epochs * steps),
        "plateau": schedules.ReduceLROnPlateau(factor=0.1, patience=2),
    }[name]


@pytest.mark.parametrize("name", ["cosine", "constant", "step", "onecycle", "plateau"])
def test_lr_schedule_per_epoch(
    name: str, noise: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The metrics' lr per epoch is `schedule.lrs(...)` at the last batch of each epoch
    (plateau fed the run's val_loss); on the noise the validation loss turns up, so plateau
    does cut the lr."""
    epochs, lr = 20, 0.01
    extra = ["--lr-schedule", name, "--epochs", str(epochs), "--hidden", "64"]
    extra += ["--val-fraction", "0.3"]
    m, out, _ = _train(noise, tmp_path, extra, capsys)
    assert f"adam lr 0.01 ({name})" in out and m["config"]["lr_schedule"] == name
    steps = math.ceil(m["n_train"] / 32)  # 112 rows, batches of 32: 4 per epoch
    if name == "constant":
        expected = np.full(epochs, lr)
    else:
        metrics = m["val_loss"] if name == "plateau" else None
        every = _expected_schedule(name, lr, epochs, steps).lrs(lr, epochs, steps, metrics)
        expected = every[steps - 1 :: steps]
    np.testing.assert_allclose(m["lr"], expected, rtol=1e-12, atol=0)
    if name == "cosine":  # the formula the CLI used before schedules
        old = [lr * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
        np.testing.assert_allclose(m["lr"], old, rtol=1e-12, atol=0)
    if name == "plateau":
        assert m["lr"][-1] < lr


def test_plateau_watches_the_loss_without_validation(
    noise: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    extra = ["--lr-schedule", "plateau", "--val-fraction", "0", "--epochs", "30", "--lr", "0.3"]
    m, _, _ = _train(noise, tmp_path, extra, capsys)
    assert m["val_loss"] == [] and len(m["loss"]) == 30
    steps = math.ceil(m["n_train"] / 32)
    schedule = schedules.ReduceLROnPlateau(factor=0.1, patience=2, monitor="loss")
    expected = schedule.lrs(0.3, 30, steps, m["loss"])[steps - 1 :: steps]
    np.testing.assert_allclose(m["lr"], expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adagrad"])
def test_onecycle_with_every_optimizer(
    optimizer: str, blobs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """onecycle cycles SGD's momentum, and leaves RMSprop (momentum 0) and Adagrad alone
    instead of refusing them (on the raw features: standardised, the blobs are closer together
    and Adagrad at lr 0.01 needs more than 12 epochs to separate them)."""
    extra = ["--lr-schedule", "onecycle", "--optimizer", optimizer, "--no-preprocess"]
    m, _, _ = _train(blobs, tmp_path, extra, capsys)
    steps = math.ceil(m["n_train"] / 32)
    schedule = schedules.OneCycleLR(max_lr=0.01, total_steps=EPOCHS * steps)
    expected = schedule.lrs(0.01, EPOCHS, steps)[steps - 1 :: steps]
    np.testing.assert_allclose(m["lr"], expected, rtol=1e-12, atol=0)
    assert m["test_accuracy"] > 0.9


# -- early stopping ---------------------------------------------------------------------------


def test_early_stopping_restores_the_best_epoch(
    noise: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "net.safetensors"
    patience = 3
    argv = ["train", "--data", str(noise), *FAST, "--hidden", "64", "--epochs", "200"]
    argv += ["--val-fraction", "0.3", "--lr-schedule", "constant"]
    argv += ["--early-stopping", str(patience)]
    metrics = tmp_path / "m.json"
    code, out, err = _run([*argv, "--save", str(model), "--metrics-out", str(metrics)], capsys)
    assert code == 0, err
    m = json.loads(metrics.read_text())
    val = m["val_loss"]
    best = int(np.argmin(val)) + 1
    assert m["epochs_run"] == len(val) == best + patience < 200
    assert m["best_epoch"] == best and m["config"]["early_stopping"] == patience
    assert f"early stopping after epoch {best + patience}" in out
    assert f"restored the weights of epoch {best}" in out
    # The saved network is the best epoch's: its validation loss is the lowest logged.
    data = load_train_data(cli._parser().parse_args(argv))
    saved = ferroprop.load(model).loss(data.X_val, data.y_val)
    np.testing.assert_allclose(saved, min(val), rtol=1e-6)


def test_early_stopping_needs_validation(noise: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(
        ["train", "--data", str(noise), "--early-stopping", "3", "--val-fraction", "0"], capsys
    )
    assert code == 2 and out == ""
    assert "--early-stopping" in err and "--val-fraction > 0" in err and "Traceback" not in err


# -- diagnostics ------------------------------------------------------------------------------


def test_diagnostics_table_and_metrics(
    blobs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    m, out, err = _train(blobs, tmp_path, ["--diagnostics"], capsys)
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    assert lines[header - 1] == f"(last 8 of {EPOCHS} epochs)"
    assert lines[header].split() == ["layer", "metric"] + [
        w for e in range(EPOCHS - 7, EPOCHS + 1) for w in ("epoch", str(e))
    ]
    rows = {tuple(line.split()[:2]) for line in lines[header + 1 : header + 10]}
    assert {("0", "grad_norm"), ("1", "dead_fraction"), ("2", "update_ratio")} <= rows
    assert lines[-1].startswith("test accuracy")
    diag = m["diagnostics"]
    assert list(diag) == ["0", "1", "2"]
    assert set(diag["0"]) == {"grad_norm", "weight_norm", "update_ratio"}
    assert set(diag["1"]) == {"mean", "std", "dead_fraction"}
    assert all(len(values) == EPOCHS for layer in diag.values() for values in layer.values())
    # The table shows the JSON's last value of 0/grad_norm with 3 significant digits.
    grad_row = next(line for line in lines if line.split()[:2] == ["0", "grad_norm"])
    assert grad_row.split()[-1] == f"{diag['0']['grad_norm'][-1]:.3g}"
    assert err == ""  # an easy problem: no training warning


def test_diagnostics_warnings_on_stderr(
    blobs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A too large SGD step: the update-ratio warning, once, as one stderr line; without
    --diagnostics no warning at all."""
    extra = ["--optimizer", "sgd", "--lr", "0.5", "--epochs", "8"]
    _, _, err = _train(blobs, tmp_path, [*extra, "--diagnostics"], capsys)
    lines = err.splitlines()
    assert len(lines) >= 1 and len(set(lines)) == len(lines)  # each kind once
    assert all(line.startswith("ferroprop train: warning: ") for line in lines), err
    assert any("update/weight ratio" in line and "learning rate" in line for line in lines)
    _, _, err = _train(blobs, tmp_path, extra, capsys)
    assert err == ""


def test_warning_does_not_break_the_plain_bar(
    blobs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """On a terminal the bar is cleared before a warning goes to stderr, then redrawn."""
    no_tqdm(monkeypatch)
    term, err = FakeTerminal(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", term)
    monkeypatch.setattr(sys, "stderr", err)
    args = ["train", "--data", str(blobs), *FAST, "--progress", "plain", "--diagnostics"]
    assert cli.main([*args, "--optimizer", "sgd", "--lr", "0.5", "--epochs", "8"]) == 0
    assert err.getvalue().startswith("ferroprop train: warning: ")
    bar = term.getvalue().split("\n")[1]  # after the header: the bar, redrawn with \r
    cleared = re.search(r"\r {20,}\r", bar)  # the bar blanked out, the cursor back at its start
    assert cleared is not None, repr(bar)
    assert "epoch" in bar[: cleared.start()] and "epoch 8/8" in bar[cleared.end() :]


# -- plot -------------------------------------------------------------------------------------


@needs_matplotlib
def test_plot_writes_png_and_other_formats(
    blobs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    png = tmp_path / "curves.png"
    _, out, _ = _train(blobs, tmp_path, ["--diagnostics", "--plot", str(png)], capsys)
    assert png.read_bytes()[:8] == PNG and f"wrote the training curves to {png}" in out
    svg = tmp_path / "curves.svg"
    _train(blobs, tmp_path, ["--plot", str(svg)], capsys)
    assert svg.read_bytes().startswith(b"<?xml") and b"<svg" in svg.read_bytes()[:1000]


@needs_matplotlib
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("curves.xyz", "matplotlib cannot write .xyz files"),
        ("", "--plot: expected a file name"),
        ("/no/such/dir/curves.png", "does not exist"),
        (".", "is a directory"),
    ],
)
def test_plot_bad_path(path: str, message: str, blobs: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(["train", "--data", str(blobs), *FAST, "--plot", path], capsys)
    assert code == 2 and out == ""  # refused before training
    assert message in err and "Traceback" not in err


def test_plot_without_matplotlib(
    blobs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    png = tmp_path / "curves.png"
    code, out, err = _run(["train", "--data", str(blobs), *FAST, "--plot", str(png)], capsys)
    assert code == 2 and out == "" and not png.exists()  # refused before training
    assert err.strip() == (
        "ferroprop train: error: --plot: plotting needs matplotlib: pip install ferroprop[plot]"
    )


# -- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        ["--lr-schedule", "linear"],
        ["--early-stopping", "0"],
        ["--early-stopping", "x"],
        ["--early-stopping", "-2"],
        ["--clip-grad-norm", "0"],
        ["--clip-grad-norm", "-1"],
        ["--clip-grad-norm", "nan"],
        ["--clip-grad-norm", "inf"],
    ],
)
def test_bad_steering_values(bad: list[str], blobs: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(["train", "--data", str(blobs), *bad], capsys)
    assert code == 2 and out == ""
    assert bad[0] in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- Ctrl-C -----------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX SIGINT")
def test_sigint_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    """SIGINT during the one long fit: exit 130, "interrupted", no model nor metrics."""
    rng = np.random.default_rng(0)
    data = tmp_path / "big.npz"
    np.savez(data, X=rng.normal(size=(20000, 64)).astype(np.float32), y=rng.integers(0, 10, 20000))
    model, metrics = tmp_path / "net.safetensors", tmp_path / "m.json"
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [PYTHON_DIR, os.environ.get("PYTHONPATH")])),
    )
    args = ["train", "--data", str(data), "--epochs", "1000000", "--progress", "plain"]
    args += ["--diagnostics", "--save", str(model), "--metrics-out", str(metrics)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroprop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the header line
        line = proc.stdout.readline()  # the first epoch's: training is under way
        assert line.startswith("epoch"), line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("ferroprop: interrupted") and "Traceback" not in err
    assert not model.exists() and not metrics.exists()


@pytest.mark.fashion_mnist
def test_the_default_fashion_mnist_run_is_healthy(tmp_path: Path, capsys) -> None:
    """The issue's guard against false alarms: the CLI's default run, with diagnostics, gives
    no TrainingWarning, and its figures look like a healthy network's."""
    require_fashion_mnist()
    metrics = tmp_path / "m.json"
    code, out, err = _run(
        ["train", "--diagnostics", "--progress", "none", "--metrics-out", str(metrics)], capsys
    )
    assert code == 0, err
    assert "warning" not in err, err
    m = json.loads(metrics.read_text())
    assert m["test_accuracy"] > 0.88
    layers = m["diagnostics"]
    assert max(layers["1"]["dead_fraction"]) < 0.5
    assert max(v for layer in layers.values() for v in layer.get("update_ratio", [0])) < 0.1
    first, last = layers["0"]["grad_norm"], layers[max(layers, key=int)]["grad_norm"]
    assert min(f / g for f, g in zip(first, last, strict=True)) > 1e-3
