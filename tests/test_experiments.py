"""`ferroprop.experiments` and `ferroprop demo`: each classic experiment run in-process with its
numbers asserted (seed 0; the runs are bitwise deterministic, so the margins below only guard
against changes of the experiments themselves), its figure, and the CLI (a subprocess for the
entry point, in-process for the listing and the errors). `overfitting` needs Fashion-MNIST
(marker `fashion_mnist`)."""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import ferroprop
from conftest import require_fashion_mnist
from ferroprop import cli, datasets, experiments
from ferroprop.experiments import Outcome, learning_rate, overfitting

PYTHON_DIR = str(Path(ferroprop.__file__).resolve().parent.parent)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ("xor", "vanishing", "dead-relu", "learning-rate")


@functools.cache
def outcome(name: str) -> Outcome:
    """Experiment `name` at seed 0, run once per test session (asserting that none of its
    TrainingWarnings reached the caller)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = experiments.run(name)
    leaked = [w for w in caught if issubclass(w.category, ferroprop.TrainingWarning)]
    assert not leaked, [str(w.message) for w in leaked]
    return result


def test_registry() -> None:
    assert list(experiments.EXPERIMENTS) == [
        "xor",
        "vanishing",
        "dead-relu",
        "overfitting",
        "learning-rate",
    ]
    assert list(experiments.SUMMARIES) == list(experiments.EXPERIMENTS)
    assert all(0 < len(s) <= 80 for s in experiments.SUMMARIES.values())
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*xor, vanishing"):
        experiments.run("nope")
    with pytest.raises(TypeError, match="name"):
        experiments.run(3)  # type: ignore[arg-type]


def test_xor() -> None:
    out = outcome("xor")
    n = out.numbers
    # A linear classifier's best cross-entropy on XOR is ln 2 (50/50 everywhere).
    assert n["no_hidden_loss"] == pytest.approx(math.log(2), abs=1e-3)
    assert n["no_hidden_accuracy"] <= 0.75
    assert n["hidden_accuracy"] == 1.0
    assert n["hidden_loss"] < 1e-3
    assert f"{n['hidden_loss']:.2g}" in out.text and "100%" in out.text
    assert set(out.histories) == {"no hidden layer", "one hidden layer (8 tanh)"}


def test_vanishing() -> None:
    out = outcome("vanishing")
    n = out.numbers
    assert n["ratio"] == pytest.approx(n["relu_first_grad"] / n["sigmoid_first_grad"])
    assert n["ratio"] >= 100  # measured: 1.1e+06
    assert n["sigmoid_first_grad"] / n["sigmoid_last_grad"] < 1e-3  # measured: 2.7e-07
    assert n["batchnorm_first_grad"] / n["sigmoid_first_grad"] >= 100  # measured: 5.2e+06
    assert (n["sigmoid_warned"], n["relu_warned"], n["batchnorm_warned"]) == (1.0, 0.0, 0.0)
    assert f"{n['ratio']:.2g}" in out.text and "fired for sigmoid only" in out.text


def test_dead_relu() -> None:
    out = outcome("dead-relu")
    n = out.numbers
    assert n["large_dead"] >= 0.5  # measured: 1.0 (layer '3')
    assert n["small_dead"] <= 0.1  # measured: 0.0
    assert n["leaky_dead"] <= 0.1  # measured: 0.047
    assert (n["large_warned"], n["small_warned"], n["leaky_warned"]) == (1.0, 0.0, 0.0)
    assert n["small_loss"] < 0.05 and n["small_accuracy"] == 1.0
    assert n["large_accuracy"] < 0.4  # stuck near chance (0.25)
    assert f"{n['large_dead']:.0%}" in out.text and "fired for relu, lr=5 only" in out.text


def test_dead_relu_warnings_do_not_leak(recwarn: pytest.WarningsRecorder) -> None:
    warnings.simplefilter("always")
    experiments.run("dead-relu")
    assert not [w for w in recwarn if issubclass(w.category, ferroprop.TrainingWarning)]


def test_learning_rate() -> None:
    out = outcome("learning-rate")
    n = out.numbers
    rates = learning_rate.LEARNING_RATES
    assert len(rates) == 5 and len(out.histories) == 5
    for lr in rates:
        diverged = n[f"diverged_lr={lr:g}"]
        loss = n[f"loss_lr={lr:g}"]
        assert diverged in (0.0, 1.0)
        assert math.isnan(loss) if diverged else math.isfinite(loss)
    # Measured: 1.41, 0.993, 0.238, 0.00732, then lr=10 diverges in epoch 6.
    assert n["diverged_lr=10"] == 1.0 and 1 <= n["diverged_epoch_lr=10"] <= 30
    finite = [n[f"loss_lr={lr:g}"] for lr in rates[:4]]
    assert finite == sorted(finite, reverse=True)
    assert finite[0] > 1.0 and finite[3] < 0.05
    assert n["best_lr"] == 1.0
    assert "lr=10: diverged in epoch" in out.text and f"{finite[3]:.3g}" in out.text


def test_deterministic() -> None:
    assert experiments.run("xor").numbers == outcome("xor").numbers
    assert experiments.run("xor", seed=1).numbers != outcome("xor").numbers


@pytest.mark.fashion_mnist
def test_overfitting(tmp_path: Path) -> None:
    require_fashion_mnist()
    pytest.importorskip("matplotlib")
    out = experiments.run("overfitting", plot=tmp_path / "o.png")
    assert (tmp_path / "o.png").read_bytes().startswith(PNG_MAGIC)
    n = out.numbers
    # Measured: validation lowest at epoch 9 (0.547), 0.834 at epoch 40; training loss from
    # 0.307 to 0.024; gaps 0.81 plain, 0.40 with Dropout, 0.29 with early stopping.
    assert n["plain_val_loss"] >= n["plain_best_val_loss"] + 0.15
    assert n["plain_train_loss"] <= n["plain_train_loss_at_best"] / 5
    assert n["plain_best_epoch"] <= 20 and n["plain_epochs"] == 40
    assert n["dropout_gap"] <= n["plain_gap"] / 1.5
    assert n["early_gap"] <= n["plain_gap"] / 2
    assert n["dropout_val_loss"] <= n["plain_val_loss"] - 0.15
    assert n["early_val_loss"] == pytest.approx(n["plain_best_val_loss"], rel=1e-6)
    assert n["early_epochs"] == n["plain_best_epoch"] + 5  # patience 5
    assert f"{n['plain_gap']:.3f}" in out.text


def test_overfitting_without_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        overfitting.run(data_dir=tmp_path / "nowhere")
    monkeypatch.setattr(datasets, "DEFAULT_FASHION_MNIST_DIR", tmp_path / "nowhere")
    assert cli.main(["demo", "overfitting"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install -y dataset-fashion-mnist" in err and "Traceback" not in err


@pytest.mark.parametrize("name", FAST)
def test_plot(name: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{name}.png"
    fig = experiments.plot_outcome(outcome(name), path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert len(fig.axes) == {"xor": 1}.get(name, 2)
    assert all(ax.get_title() for ax in fig.axes)


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install ferroprop\[plot\]"):
        experiments.run("xor", plot=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_outcome() -> None:
    out = Outcome("xor", "text", {"a": 1, "b": 0.125, "c": math.nan}, {})
    assert out.report() == "text\n\n  a  1\n  b  0.125\n  c  nan"
    with pytest.raises(TypeError):
        out.numbers["a"] = 2.0  # type: ignore[index]
    with pytest.raises(TypeError, match=r"numbers\['x'\]"):
        Outcome("xor", "text", {"x": "1"}, {})  # type: ignore[dict-item]


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_subprocess_writes_the_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PYTHON_DIR, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "ferroprop", "demo", "xor", "--plot", "out.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.png").read_bytes().startswith(PNG_MAGIC)
    assert outcome("xor").text in " ".join(proc.stdout.split())  # the text, wrapped
    assert "hidden_accuracy     1" in proc.stdout
    assert "wrote the figure to out.png" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("argv", [["demo"], ["demo", "--list"]])
def test_cli_lists(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for name, summary in experiments.SUMMARIES.items():
        assert f"  {name} " in out and summary in out


def test_cli_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "nope"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err
    assert all(repr(name) in err for name in experiments.EXPERIMENTS)
    assert "Traceback" not in err


def test_cli_bad_plot_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "xor", "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "--plot" in capsys.readouterr().err


def test_cli_runs_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "learning-rate", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("learning-rate: ") and "best_lr" in out
