"""`ferroprop train --data` on real tables: preprocessing by default (standardised numbers, one-hot
text, imputed missing cells, fitted on the training rows), regression detected and scored with
R² and MAE, `predict` applying the stored preprocessing by column name; and the preprocessing
itself: its state round trip, malformed states refused (its rules: tests/test_preprocessing.py)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ferroprop
from ferroprop import cli, model_files
from ferroprop.cli.data import load_train_data
from ferroprop.preprocessing import TablePreprocessor

QUICK = ["--progress", "none"]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main([*args, *QUICK] if args[0] == "train" else args)
    out, err = capsys.readouterr()
    return code, out, err


def _train(
    data: Path, tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], str]:
    metrics = tmp_path / "m.json"
    code, out, err = _run(
        ["train", "--data", str(data), *extra, "--metrics-out", str(metrics)], capsys
    )
    assert code == 0, err
    return json.loads(metrics.read_text()), out


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _predictions(out: str) -> list[str]:
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][0] == "prediction"
    return [row[0] for row in table[1:]]


# -- real tables --------------------------------------------------------------------------------


def test_breast_cancer_csv_with_the_defaults(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The issue's case: unscaled features up to ~2,500 reached 0.895; standardised, ≥ 0.95."""
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_breast_cancer()
    path = _write_csv(
        tmp_path / "breast_cancer.csv",
        [*bunch.feature_names, "target"],
        [[*map(str, row), int(t)] for row, t in zip(bunch.data, bunch.target, strict=True)],
    )
    m, out = _train(path, tmp_path, [], capsys)
    with capsys.disabled():
        print(f"\nbreast cancer test accuracy with the defaults: {m['test_accuracy']:.4f}")
    assert m["config"]["task"] == "classification" and m["config"]["preprocess"]
    assert "30 columns (30 standardised) -> 30 features" in out
    assert m["test_accuracy"] >= 0.95


def test_diabetes_csv_is_detected_as_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_diabetes(scaled=False)
    path = _write_csv(
        tmp_path / "diabetes.csv",
        [*bunch.feature_names, "progression"],
        [[*map(str, row), int(t)] for row, t in zip(bunch.data, bunch.target, strict=True)],
    )  # integer targets, 214 distinct values in 442 rows: a regression
    m, out = _train(path, tmp_path, [], capsys)
    with capsys.disabled():
        print(f"\ndiabetes: test R² {m['test_r2']:.4f}, MAE {m['test_mae']:.2f}")
    assert m["config"]["task"] == "regression" and m["config"]["loss"] == "mse"
    assert "test R² " in out and "test MAE " in out
    # A linear model scores about 0.45 on this small, noisy table; the targets span 25..346.
    assert m["test_r2"] > 0.3 and m["test_mae"] < 60


def _regression_table(n: int, seed: int = 0) -> tuple[list[str], list[list[Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    size = rng.uniform(20, 200, n)  # m², unscaled
    rooms = rng.integers(1, 6, n)
    city = rng.choice(["paris", "lyon", "lille"], n)
    price = 3000 * size + 20000 * rooms + np.select([city == "paris", city == "lyon"], [2e5, 5e4])
    price = price + rng.normal(scale=5000, size=n)
    rows = [
        [f"{s:.2f}", r, c, f"{p:.2f}"] for s, r, c, p in zip(size, rooms, city, price, strict=True)
    ]
    return ["size", "rooms", "city", "price"], rows, price


def test_regression_round_trip_in_the_targets_units(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, rows, price = _regression_table(600)
    data = _write_csv(tmp_path / "flats.csv", header, rows)
    model = tmp_path / "flats.safetensors"
    m, _ = _train(data, tmp_path, ["--save", str(model)], capsys)
    assert m["config"]["task"] == "regression"  # fractional targets
    with capsys.disabled():
        print(f"\nsynthetic regression: test R² {m['test_r2']:.4f}, MAE {m['test_mae']:.0f}")
    assert m["test_r2"] > 0.95
    code, out, err = _run(["predict", str(model), "--data", str(data)], capsys)
    assert code == 0, err
    predicted = np.array(_predictions(out), dtype=np.float64)
    r2 = 1 - np.sum((predicted - price) ** 2) / np.sum((price - price.mean()) ** 2)
    assert r2 > 0.95  # in euros: the target scaling is folded into the output layer


def _mixed_table(n: int, seed: int = 0) -> tuple[list[str], list[list[Any]]]:
    """Text, missing cells (several spellings), a numeric-looking categorical (`zone`), booleans,
    an unscaled number; the label depends on each of them."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "rome", "oslo-not-in-training", ""], n, p=[0.45, 0.45, 0, 0.1])
    zone = rng.choice(["1", "2", "3"], n)
    age = rng.uniform(18, 90, n)
    member = rng.choice(["True", "false"], n)
    income = rng.normal(50_000, 15_000, n)
    score = (city == "paris") * 2.0 + (zone == "2") * 2.0 + (age > 50) * 1.0
    score = score + (member == "True") * 1.0 - 0.5 * rng.random(n)
    label = np.where(score > 2.5, "yes", "no")
    age_cells = [
        f"{a:.1f}" if rng.random() > 0.1 else str(rng.choice(["", "NA", "nan", "null"]))
        for a in age
    ]
    header = ["city", "zone", "age", "member", "income", "label"]
    rows = [
        list(r) for r in zip(city, zone, age_cells, member, income.round(2), label, strict=True)
    ]
    return header, rows


def test_mixed_table_trains_and_predicts_by_column_name(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, rows = _mixed_table(800)
    data = _write_csv(tmp_path / "people.csv", header, rows)
    model = tmp_path / "people.safetensors"
    extra = ["--categorical", "zone", "--save", str(model), "--epochs", "40"]
    m, out = _train(data, tmp_path, extra, capsys)
    assert m["class_names"] == ["no", "yes"]
    assert m["config"]["features"] == [
        "city=paris",
        "city=rome",
        "city=<missing>",
        "zone=1",
        "zone=2",
        "zone=3",
        "age",
        "age_missing",
        "member=false",
        "member=true",
        "income",
    ]
    assert "5 columns (2 standardised, 3 one-hot, 2 with missing values imputed)" in out
    assert m["test_accuracy"] > 0.9
    net = ferroprop.load(model)
    assert net.preprocessing is not None and net.preprocessing.target == "label"

    # No target column, the columns in another order, a city never seen in training.
    order = ["income", "member", "age", "zone", "city"]
    new_rows = [[r[header.index(c)] for c in order] for r in rows[:50]]
    new_rows[0][order.index("city")] = "oslo"
    new = _write_csv(tmp_path / "new.csv", order, new_rows)
    code, out, err = _run(["predict", str(model), "--data", str(new), "--proba"], capsys)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "city=oslo" in lines[0]
    predicted = _predictions(out)
    assert len(predicted) == 50 and set(predicted) <= {"yes", "no"}

    # The training file itself, target included: predictions as good as training was.
    code, out, err = _run(["predict", str(model), "--data", str(data)], capsys)
    assert code == 0 and err == "", err
    labels = [r[-1] for r in rows]
    assert np.mean(np.array(_predictions(out)) == labels) > 0.9


def test_statistics_come_from_the_training_rows_only(tmp_path: Path) -> None:
    header, rows, price = _regression_table(300)
    data = _write_csv(tmp_path / "flats.csv", header, rows)
    d = load_train_data(cli._parser().parse_args(["train", "--data", str(data)]))
    assert d.preprocessing is not None and d.feature_names[:2] == ["size", "rooms"]
    size = d.X_train[:, 0].astype(np.float64)
    np.testing.assert_allclose([size.mean(), size.std()], [0.0, 1.0], atol=1e-6)
    every_row = np.array([float(r[0]) for r in rows])
    assert d.preprocessing.columns[0].center != pytest.approx(every_row.mean(), rel=1e-9)
    assert len(d.X_train) + len(d.X_val) + len(d.X_test) == 300
    assert d.target_scale is not None  # the targets too, for training; the test ones in euros
    assert abs(float(d.y_train.mean())) < 1e-5 and float(d.y_test.mean()) > 1000


def test_predict_names_a_missing_feature_column(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, rows = _mixed_table(200)
    data = _write_csv(tmp_path / "people.csv", header, rows)
    model = tmp_path / "m.safetensors"
    _train(data, tmp_path, ["--epochs", "2", "--save", str(model)], capsys)
    keep = [c for c in header if c not in ("age", "label")]
    partial = _write_csv(
        tmp_path / "partial.csv", keep, [[r[header.index(c)] for c in keep] for r in rows]
    )
    code, out, err = _run(["predict", str(model), "--data", str(partial)], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "missing feature column 'age'" in err and "Traceback" not in err


def test_no_preprocess_keeps_the_old_behaviour(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, rows = _mixed_table(100)
    data = _write_csv(tmp_path / "people.csv", header, rows)
    code, _, err = _run(["train", "--data", str(data), "--no-preprocess"], capsys)
    assert code == 2 and "column 'city': 'rome' is not a number" in err
    rng = np.random.default_rng(0)
    numeric = _write_csv(
        tmp_path / "n.csv", ["a", "b", "y"], [[*rng.normal(size=2), i % 2] for i in range(100)]
    )
    model = tmp_path / "raw.safetensors"
    args = ["--no-preprocess", "--epochs", "1", "--save", str(model)]
    m, out = _train(numeric, tmp_path, args, capsys)
    assert not m["config"]["preprocess"] and "standardised" not in out
    assert ferroprop.load(model).preprocessing is None
    # A model file without preprocessing (as before it existed) predicts as it did.
    code, out, err = _run(["predict", str(model), "--data", str(numeric), "--target", "y"], capsys)
    assert code == 0 and len(_predictions(out)) == 100, err


def test_npz_is_standardised_positionally_and_nan_imputed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1.0, 1000.0, 0.001]
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    X[rng.random(300) < 0.1, 2] = np.nan
    data = tmp_path / "d.npz"
    np.savez(data, X=X, y=y)
    model = tmp_path / "m.safetensors"
    m, _ = _train(data, tmp_path, ["--save", str(model)], capsys)
    assert m["config"]["features"] == ["x0", "x1", "x2", "x2_missing"]
    assert m["test_accuracy"] > 0.85
    code, out, err = _run(["predict", str(model), "--data", str(data)], capsys)
    assert code == 0 and len(_predictions(out)) == 300, err


def test_categorical_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    header, rows = _mixed_table(100)
    data = _write_csv(tmp_path / "people.csv", header, rows)
    for value, message in [
        ("zone,nope", "--categorical: no column 'nope'"),
        ("label", "--categorical: 'label' is the target column"),
    ]:
        code, _, err = _run(["train", "--data", str(data), "--categorical", value], capsys)
        assert code == 2 and message in err, err


def test_an_identifier_column_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    rows = [[f"id-{i}", f"{v:.4f}", int(v > 0)] for i, v in enumerate(x)]
    data = _write_csv(tmp_path / "ids.csv", ["id", "x", "y"], rows)
    code, _, err = _run(["train", "--data", str(data), "--epochs", "1"], capsys)
    assert code == 0
    assert "warning: column 'id' is categorical with 144 categories in 144 training rows" in err


def test_predict_ignores_an_unnamed_index_column(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, rows = _mixed_table(100)
    data = _write_csv(tmp_path / "people.csv", header, rows)
    model = tmp_path / "m.safetensors"
    _train(data, tmp_path, ["--epochs", "1", "--save", str(model)], capsys)
    indexed = _write_csv(
        tmp_path / "indexed.csv", ["", *header], [[i, *r] for i, r in enumerate(rows)]
    )
    code, out, err = _run(["predict", str(model), "--data", str(indexed)], capsys)
    assert code == 0 and len(_predictions(out)) == 100, err
    code, _, err = _run(["train", "--data", str(indexed)], capsys)
    assert code == 2 and "column 1 has no name" in err and "index=False" in err


# -- Parquet ------------------------------------------------------------------------------------


def test_parquet_train_and_predict(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    header, rows = _mixed_table(400)
    columns = {name: [r[j] for r in rows] for j, name in enumerate(header)}
    table = pa.table(
        {
            "city": [c or None for c in columns["city"]],
            "zone": [int(z) for z in columns["zone"]],
            "age": [None if a in ("", "NA", "nan", "null") else float(a) for a in columns["age"]],
            "member": [m == "True" for m in columns["member"]],
            "income": [float(v) for v in columns["income"]],
            "label": columns["label"],
        }
    )
    data = tmp_path / "people.parquet"
    pq.write_table(table, data)
    model = tmp_path / "m.safetensors"
    m, _ = _train(data, tmp_path, ["--categorical", "zone", "--save", str(model)], capsys)
    assert "zone=2" in m["config"]["features"] and "member=true" in m["config"]["features"]
    assert "age_missing" in m["config"]["features"] and m["test_accuracy"] > 0.85
    # The same model predicts from a CSV of the same columns.
    csv_data = _write_csv(tmp_path / "people.csv", header, rows)
    code, out, err = _run(["predict", str(model), "--data", str(csv_data)], capsys)
    assert code == 0, err
    assert np.mean(np.array(_predictions(out)) == columns["label"]) > 0.85


def test_parquet_without_pyarrow_names_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    data = tmp_path / "t.parquet"
    data.write_bytes(b"PAR1")
    code, _, err = _run(["train", "--data", str(data)], capsys)
    assert code == 2 and "needs pyarrow (pip install pyarrow)" in err


# -- the preprocessing itself -------------------------------------------------------------------


def _fitted() -> TablePreprocessor:
    header, rows = _mixed_table(200)
    columns = {name: [r[j] for r in rows] for j, name in enumerate(header) if name != "label"}
    return TablePreprocessor(target="label").fit(columns, categorical=["zone"]), columns


def test_state_round_trip() -> None:
    prep, columns = _fitted()
    tensors, state = prep.to_state()
    json.dumps(state, allow_nan=False)  # plain JSON
    assert all(t.dtype == np.float64 for t in tensors.values())
    back = TablePreprocessor.from_state(tensors, json.loads(json.dumps(state)), prep.n_features)
    assert back.columns == prep.columns and back.target == "label"
    np.testing.assert_array_equal(back.transform(columns), prep.transform(columns))


def test_network_file_round_trip(tmp_path: Path) -> None:
    prep, columns = _fitted()
    net = ferroprop.Network([prep.n_features, 4, 2], seed=1)
    path = tmp_path / "m.safetensors"
    net.save(path, preprocessing=prep)
    loaded = ferroprop.load(path)
    assert loaded.preprocessing is not None and loaded.preprocessing.columns == prep.columns
    X = prep.transform(columns)
    np.testing.assert_array_equal(
        loaded.predict(loaded.preprocessing.transform(columns)), net.predict(X)
    )
    with pytest.raises(ValueError, match="giving 3 features"):
        ferroprop.Network([3, 2]).save(path, preprocessing=prep)


def _corrupt(tensors: dict, state: dict, case: str) -> None:
    if case == "no scale tensor":
        del tensors["preprocessing.scale"]
    elif case == "zero scale":
        tensors["preprocessing.scale"][0] = 0.0
    elif case == "NaN center":
        tensors["preprocessing.center"][0] = np.nan
    elif case == "wrong tensor shape":
        tensors["preprocessing.fill"] = np.zeros(7)
    elif case == "unknown kind":
        state["columns"][0]["kind"] = "ordinal"
    elif case == "duplicate category":
        state["columns"][0]["categories"] = ["paris", "paris"]
    elif case == "extra key":
        state["columns"][1]["scale"] = 2
    elif case == "bad version":
        state["version"] = 99
    elif case == "feature names":
        state["feature_names"][0] = "city=london"
    elif case == "not an object":
        state.clear()
    elif case == "column is the target":
        state["columns"][0]["name"] = "label"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no scale tensor", "tensor 'preprocessing.scale' is missing"),
        ("zero scale", "scales must be > 0"),
        ("NaN center", "contains NaN or inf"),
        ("wrong tensor shape", "expected float64 of shape (2,)"),
        ("unknown kind", "columns[0].kind: expected 'numeric' or 'categorical'"),
        ("duplicate category", "a category is listed twice"),
        ("extra key", "columns[1]: unexpected entry 'scale'"),
        ("bad version", "version 99 is not supported"),
        ("feature names", "feature_names do not match the columns"),
        ("not an object", "state: no 'columns' entry"),
        ("column is the target", "is listed twice (or is the target)"),
    ],
)
def test_a_malformed_preprocessing_block_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, message: str
) -> None:
    prep, columns = _fitted()
    path = tmp_path / "m.safetensors"
    ferroprop.Network([prep.n_features, 2]).save(path, preprocessing=prep)
    kind, tensors, config = model_files.read_model_file(path)
    _corrupt(tensors, config["preprocessing"], case)
    model_files.write_model_file(path, kind, tensors, config)
    with pytest.raises(ValueError, match="not a valid ferroprop model file: preprocessing") as exc:
        ferroprop.load(path)
    assert message in str(exc.value)
    data = _write_csv(tmp_path / "d.csv", list(columns), list(zip(*columns.values(), strict=True)))
    code, out, err = _run(["predict", str(path), "--data", str(data)], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert message in err and "Traceback" not in err
