"""ferroprop.History (append from logs dicts), Diagnostics (read-only, table) and plotting."""

from __future__ import annotations

import importlib.util
import math
import os
from typing import Any

import pytest

import ferroprop as fp
from ferroprop.history import Diagnostics, History

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed"
)


def classification_history(epochs: int = 3, diagnostics: bool = True) -> History:
    hist = History()
    for e in range(1, epochs + 1):
        logs: dict[str, Any] = {
            "epoch": e,
            "loss": 1.0 / e,
            "seconds": 0.5,
            "lr": 0.1,
            "val_loss": 1.2 / e,
            "accuracy": 0.5 + e / 100,
            "val_accuracy": 0.4 + e / 100,
        }
        if diagnostics:
            logs["diagnostics"] = {
                "0": {"grad_norm": 0.1 * e, "weight_norm": 2.0, "update_ratio": 1e-3},
                "1": {"mean": 0.3, "std": 0.2, "dead_fraction": 0.05 * e},
                "2": {"grad_norm": 0.2, "weight_norm": 1.5, "update_ratio": 2e-3},
            }
        hist.append(logs)
    return hist


def test_history_is_exported_and_shared() -> None:
    from ferroprop._model import History as ModelHistory

    assert fp.History is History is ModelHistory


def test_append_fills_the_fields() -> None:
    hist = classification_history()
    assert hist.epochs == [1, 2, 3]
    assert hist.loss == [1.0, 0.5, pytest.approx(1 / 3)]
    assert hist.val_accuracy == pytest.approx([0.41, 0.42, 0.43])
    assert hist.lr == [0.1] * 3 and hist.seconds == [0.5] * 3
    assert hist.mae == hist.r2 == hist.val_mae == hist.val_r2 == []


def test_append_regression_and_defaults() -> None:
    hist = History()
    hist.append({"loss": 2.0, "mae": 1.0, "r2": 0.3, "val_mae": None, "other": "x"})
    hist.append({"loss": 1.0, "mae": 0.5, "r2": 0.6})
    assert hist.epochs == [1, 2] and hist.mae == [1.0, 0.5] and hist.r2 == [0.3, 0.6]
    assert hist.val_mae == [] and not hist.diagnostics
    assert "2 epochs" in repr(hist) and "r2=0.6" in repr(hist)


def test_append_rejects_bad_logs() -> None:
    hist = History()
    with pytest.raises(TypeError, match="logs"):
        hist.append([1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"logs\['loss'\]"):
        hist.append({"loss": "high"})
    with pytest.raises(TypeError, match=r"logs\['diagnostics'\]\['0'\]"):
        hist.append({"loss": 1.0, "diagnostics": {"0": 3.0}})
    assert hist.loss == [] and hist.epochs == []


def test_diagnostics_mapping_is_read_only() -> None:
    diag = classification_history().diagnostics
    assert isinstance(diag, Diagnostics)
    assert list(diag) == ["0", "1", "2"] and len(diag) == 3
    assert diag["0"]["grad_norm"] == pytest.approx([0.1, 0.2, 0.3])
    assert set(diag["1"]) == {"mean", "std", "dead_fraction"}
    diag["0"]["grad_norm"].append(99.0)
    assert len(diag["0"]["grad_norm"]) == 3
    with pytest.raises(TypeError):
        diag["0"] = {}  # type: ignore[index]
    assert diag.epochs == [1, 2, 3]


def test_diagnostics_metrics_appearing_late_are_padded() -> None:
    hist = History()
    hist.append({"loss": 1.0, "diagnostics": {"0": {"grad_norm": 1.0}}})
    hist.append({"loss": 1.0, "diagnostics": {"0": {"weight_norm": 2.0}, "3": {"mean": 0.1}}})
    diag = hist.diagnostics
    assert diag["0"]["grad_norm"][0] == 1.0 and math.isnan(diag["0"]["grad_norm"][1])
    assert math.isnan(diag["0"]["weight_norm"][0]) and diag["0"]["weight_norm"][1] == 2.0
    assert math.isnan(diag["3"]["mean"][0])
    assert "-" in diag.table()


def test_table_layout() -> None:
    table = classification_history().diagnostics.table()
    lines = table.splitlines()
    assert lines[0].split() == ["layer", "metric", "epoch", "1", "epoch", "2", "epoch", "3"]
    assert lines[1].split() == ["0", "grad_norm", "0.1", "0.2", "0.3"]
    assert lines[6].split() == ["1", "dead_fraction", "0.05", "0.1", "0.15"]
    assert len(lines) == 1 + 9


def test_table_last_epochs_only() -> None:
    table = classification_history(epochs=12).diagnostics.table(last=4)
    lines = table.splitlines()
    assert lines[0] == "(last 4 of 12 epochs)"
    assert lines[1].split()[2:] == ["epoch", "9", "epoch", "10", "epoch", "11", "epoch", "12"]
    assert lines[2].split() == ["0", "grad_norm", "0.9", "1", "1.1", "1.2"]
    with pytest.raises(ValueError, match="last"):
        Diagnostics().table(last=0)
    assert Diagnostics().table() == "(no diagnostics)"


def test_diagnostics_repr() -> None:
    text = repr(classification_history().diagnostics)
    assert text.startswith("Diagnostics(3 epochs;")
    assert "'1': [mean, std, dead_fraction]" in text
    assert repr(Diagnostics()) == "Diagnostics(empty)"


def test_layers_sorted_numerically_in_table() -> None:
    hist = History()
    hist.append({"loss": 1.0, "diagnostics": {"10": {"mean": 1.0}, "2": {"mean": 2.0}}})
    rows = [line.split()[0] for line in hist.diagnostics.table().splitlines()[1:]]
    assert rows == ["2", "10"]


# --- plotting ----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


@needs_matplotlib
def test_plot_writes_png_atomically(tmp_path: Any) -> None:
    path = tmp_path / "curves.png"
    fig = classification_history().plot(path)
    assert path.read_bytes()[:8] == PNG
    assert os.listdir(tmp_path) == ["curves.png"]
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "gradient norm per layer", "dead / saturated units"]
    grad_axis = fig.axes[2]
    assert grad_axis.get_yscale() == "log"
    assert [line.get_label() for line in grad_axis.get_lines()] == ["layer '0'", "layer '2'"]


@needs_matplotlib
def test_plot_regression_without_diagnostics(tmp_path: Any) -> None:
    hist = History()
    for e in range(1, 5):
        hist.append({"epoch": e, "loss": 1 / e, "mae": 0.5 / e, "r2": 1 - 1 / e, "val_r2": 0.5})
    fig = fp.plot_history(hist, str(tmp_path / "r.png"))
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mean absolute error", "R²"]
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG


@needs_matplotlib
def test_plot_without_path_returns_figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = classification_history(diagnostics=False).plot()
    assert len(fig.axes) == 2
    plt.close(fig)


@needs_matplotlib
def test_plot_empty_history() -> None:
    with pytest.raises(ValueError, match="no epochs"):
        fp.plot_history(History(), "never.png")


def test_plot_without_matplotlib(monkeypatch: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install ferroprop\[plot\]"):
        classification_history().plot("x.png")
