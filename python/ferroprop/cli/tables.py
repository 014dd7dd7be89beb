"""Reading tables for the CLI: ``.csv`` files with the ``csv`` module (every cell as text) and
``.parquet`` files with pyarrow when it is installed (numbers as float64 with NaN for nulls,
booleans and text as Python values with None for nulls)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CLIError

#: The file types read as tables, by suffix.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass
class Table:
    """The columns of a file, by name, in the file's order, each a 1-D array of `n_rows`."""

    path: Path
    columns: dict[str, np.ndarray]
    n_rows: int

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def take(self, rows: np.ndarray | None, names: list[str]) -> dict[str, np.ndarray]:
        """The columns `names` at the indices `rows` (all rows when None)."""
        if rows is None:
            return {n: self.columns[n] for n in names}
        return {n: self.columns[n][rows] for n in names}


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a .csv, cells stripped; blank lines skipped; ragged rows rejected."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise CLIError(f"{path}: empty file (expected a header row)")
            header = [h.strip() for h in header]
            rows = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise CLIError(
                        f"{path}, line {reader.line_num}: {len(row)} fields, "
                        f"but the header has {len(header)}"
                    )
                rows.append([cell.strip() for cell in row])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CLIError(f"{path}: cannot read CSV: {exc}") from None
    if not rows:
        raise CLIError(f"{path}: no data rows after the header")
    return header, rows


def read_table(path: Path, unnamed: bool = False) -> Table:
    """The columns of a .csv or .parquet file, which must have distinct names; a column without
    a name (the index pandas writes by default) is an error, or left out when `unnamed`, as are
    the index columns pandas writes to Parquet."""
    if path.suffix.lower() == ".csv":
        header, rows = read_csv(path)
        _check_names(header, path, unnamed)
        cells = np.array(rows, dtype=str).reshape(len(rows), len(header))
        columns = {name: cells[:, j] for j, name in enumerate(header) if name}
        return Table(path, columns, len(rows))
    return _read_parquet(path)


def _check_names(names: list[str], path: Path, unnamed: bool) -> None:
    seen: set[str] = set()
    for j, name in enumerate(names):
        if not name and unnamed:
            continue
        if not name:
            raise CLIError(
                f"{path}: column {j + 1} has no name (an index written by pandas' to_csv? "
                "write it with index=False, or name the column)"
            )
        if name in seen:
            raise CLIError(f"{path}: two columns are named {name!r}")
        seen.add(name)


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError(
            f"{path}: reading Parquet files needs pyarrow (pip install pyarrow), "
            "or write the table as .csv"
        ) from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CLIError(f"{path}: cannot read Parquet: {exc}") from None
    _check_names(list(table.column_names), path, unnamed=False)
    if table.num_rows == 0:
        raise CLIError(f"{path}: no data rows")
    columns: dict[str, np.ndarray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name.startswith("__index_level_"):  # pandas' index, not data
            continue
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        elif (
            pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
        ):
            values = np.array(column.to_pylist(), dtype=object)
        else:
            raise CLIError(
                f"{path}: column {name!r} has type {kind}; expected numbers, booleans or text"
            )
        columns[name] = values
    return Table(path, columns, table.num_rows)
