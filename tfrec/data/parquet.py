"""Parquet tables from and to the local disk, with their types checked.

Everything goes through file handles, so that no name is ever taken for a URL (pandas and
pyarrow would fetch a path that looks like ``https:/...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.data.io import check_regular_file
from tfrec.data.validate import require_columns
from tfrec.errors import DataError


def read_parquet(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Reads a Parquet file (or directory of shards).

    Raises:
        DataError: The file is missing, unreadable, or lacks requested columns.
    """
    path = Path(path)
    if not path.is_dir():
        check_regular_file(path)
    try:
        frame = read_local_parquet(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(
            f"cannot read as Parquet ({type(exc).__name__}: {exc})",
            path=path,
            fix="check that the file is complete Parquet, or load it as CSV.",
        ) from None
    if columns is not None:
        require_columns(frame, list(columns), str(path), "Parquet file")
    return frame.reset_index(drop=True)


def check_column_types(frame: pd.DataFrame, columns: Mapping[str, str], path: Path) -> None:
    """Rejects what a typed reader cannot mean: booleans where numbers are expected, and list,
    array or map values (one value per cell).

    Args:
        frame: A table as read (Parquet keeps its own types).
        columns: Column name -> ``"int"``, ``"float"`` or ``"string"``.
        path: The file, for messages.

    Raises:
        DataError: Names the file, column and a value.
    """
    for name, kind in columns.items():
        if name not in frame.columns:
            continue
        values = frame[name]
        if values.dtype.kind == "b" and kind in ("int", "float"):
            raise DataError(f"boolean values where {kind} numbers are expected", path=path, column=name,
                            fix="store numbers (e.g. 1/0, or the rating itself).")
        if values.dtype == object:
            nested = values.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray)))
            if nested.any():
                raise DataError("list or map values; every cell needs one value", path=path, column=name,
                                value=values[nested].iloc[0],
                                fix="store one value per row (explode lists into rows, or join them "
                                    "with a separator for a multi_categorical feature).")


def read_local_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """A Parquet file, or a folder of Parquet shards, from the local disk -- read through file
    handles, so that no name is ever taken for a URL (pandas would fetch ``https:/...``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))) \
        if path.is_dir() else [path]
    tables = []
    for file in files:
        with open(file, "rb") as handle:
            tables.append(pq.read_table(handle))
    if not tables:
        raise DataError("no Parquet files in the folder", path=path, fix="give a Parquet file or a folder of them.")
    return pa.concat_tables(tables).to_pandas()


def write_local_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Writes ``frame`` (without its index) to a local Parquet file; see :func:`read_local_parquet`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(path, "wb") as handle:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), handle)
