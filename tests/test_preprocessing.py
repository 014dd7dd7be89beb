"""`ferroprop.preprocessing`'s rules: column kinds, missing cells, imputation, standardisation,
one-hot encoding and unseen categories (the CLI's use of it: tests/test_cli_tables.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ferroprop.preprocessing import TablePreprocessor, UnseenCategoryWarning, column_kinds


def test_column_kinds_and_missing_cells() -> None:
    columns = {
        "n": ["1", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "-2.5e3"],
        "b": ["true", "FALSE", "", "True", "false", "true", "true", "", "false"],
        "s": ["a", "1", "", "b", "2", "a", "a", "b", "1"],
        "z": ["7", "8", "7", "8", "7", "8", "7", "8", "9"],
        "empty": [""] * 9,
    }
    assert column_kinds(columns, ["z"]) == {
        "n": "numeric",
        "b": "categorical",
        "s": "categorical",
        "z": "categorical",
        "empty": "categorical",
    }
    prep = TablePreprocessor().fit(columns, categorical=["z"])
    assert prep.feature_names == [
        "n",
        "n_missing",
        "b=false",
        "b=true",
        "b=<missing>",
        "s=1",  # numbers first, in numeric order
        "s=2",
        "s=a",
        "s=b",
        "s=<missing>",
        "z=7",
        "z=8",
        "z=9",
        "empty=<missing>",
    ]
    X = prep.transform(columns)
    n = X[:, 0]
    assert X[:, 1].tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0]
    np.testing.assert_allclose([n.mean(), n.std()], [0.0, 1.0], atol=1e-12)
    assert n[1] == n[2]  # the median imputed, then standardised like the others
    assert X[:, 2:].sum(axis=1).tolist() == [4.0] * 9  # one hot per categorical column


def test_unseen_categories_warn_once_and_encode_as_zeros() -> None:
    prep = TablePreprocessor().fit({"c": ["a", "b", "a"], "x": ["1", "2", "3"]})
    with pytest.warns(UnseenCategoryWarning, match="c=<missing>, c=zzz") as record:
        X = prep.transform({"x": ["2", "2"], "c": ["zzz", ""], "extra": ["?", "?"]})
    assert len(record) == 1
    assert X[:, :2].tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match="column 'x', row 2: 'two' is not a number"):
        prep.transform({"c": ["a", "a"], "x": ["1", "two"]})
    with pytest.raises(ValueError, match="missing feature column 'x'"):
        prep.transform({"c": ["a"]})


def test_transform_warns_nothing_for_known_categories() -> None:
    prep = TablePreprocessor().fit({"c": ["a", "b"], "x": ["1", ""]})
    columns = {"c": ["b", "a"], "x": ["", "2"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prep.transform(columns)
