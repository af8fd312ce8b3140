"""Generic loader: interactions from CSV or Parquet plus optional user/item feature tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tfrec.data.dataset import Dataset, build_dataset, raise_missing_table
from tfrec.data.io import read_delimited
from tfrec.data.parquet import check_column_types, read_parquet
from tfrec.data.validate import (
    CleaningReport,
    DuplicatePolicy,
    InvalidPolicy,
    clean_features,
)
from tfrec.errors import DataError, SchemaError
from tfrec.schema import (
    BUILTIN_SCHEMAS,
    Feature,
    Schema,
    builtin_schema,
    reader_type,
)
from tfrec.textio import parse_json, parse_toml, read_text

DEFAULT_SCHEMA = Schema(user_id="user_id", item_id="item_id", rating="rating",
                        user_id_dtype="string", item_id_dtype="string", rating_scale=None)


def load_schema(path: str | os.PathLike) -> Schema:
    """Reads a schema from a ``.json`` or ``.toml`` file (parsed safely, never executed), or
    returns the built-in schema of that name (``synthetic``, ``ml-100k``, ...).

    Raises:
        SchemaError: Missing file, unknown extension or invalid content.
    """
    path = Path(path)
    if not path.exists() and str(path) in BUILTIN_SCHEMAS:
        return builtin_schema(str(path))
    if not path.exists():
        raise SchemaError(f"{path}: schema file not found (built-in schemas: {list(BUILTIN_SCHEMAS)})")
    if path.suffix.lower() not in (".json", ".toml"):
        raise SchemaError(f"{path}: a schema file must end in .json or .toml")
    text = read_text(path, SchemaError, "schema")
    data = (parse_json(text, SchemaError, str(path)) if path.suffix.lower() == ".json"
            else parse_toml(text, SchemaError, str(path)))
    try:
        return Schema.from_dict(data)
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}") from None


def _column_types(features: tuple[Feature, ...]) -> dict[str, str]:
    return {feature.name: reader_type(feature) for feature in features}


def read_table(path: str | os.PathLike, columns: dict[str, str], *, sep: str = ",",
               encoding: str = "utf-8") -> tuple[pd.DataFrame, int | None]:
    """Reads a CSV (with header) or Parquet table by extension.

    Returns:
        The frame and the line number of its first row (``None`` for Parquet).
    """
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq") or path.is_dir():
        frame = read_parquet(path, columns=list(columns))[list(columns)]
        check_column_types(frame, columns, path)
        return frame, None
    return read_delimited(path, sep=sep, columns=columns, header=True, encoding=encoding), 2


def load_tables(
    interactions: str | os.PathLike,
    schema: Schema = DEFAULT_SCHEMA,
    *,
    users: str | os.PathLike | None = None,
    items: str | os.PathLike | None = None,
    sep: str = ",",
    encoding: str = "utf-8",
    duplicates: DuplicatePolicy = "last",
    invalid: InvalidPolicy = "error",
) -> Dataset:
    """Loads interactions (explicit ratings or implicit events) and feature tables.

    Args:
        interactions: CSV (with a header row) or Parquet file of interactions.
        schema: Names the columns; with ``rating=None`` the events are implicit (optionally
            weighted by ``schema.weight``).
        users: Optional user feature table (CSV/Parquet) keyed by ``schema.user_id``.
        items: Optional item feature table keyed by ``schema.item_id``.
        sep: CSV field separator.
        encoding: CSV text encoding.
        duplicates: Duplicate (user, item) policy.
        invalid: Invalid-row policy.

    Raises:
        DataError: Any read or validation failure, naming file, line, column and value.
    """
    numeric = {c: "float" for c in (schema.rating, schema.timestamp, schema.weight) if c}
    interaction_types = {schema.user_id: "string", schema.item_id: "string", **numeric,
                         **_column_types(schema.context_features)}
    frame, line_offset = read_table(interactions, interaction_types, sep=sep, encoding=encoding)
    tables = {}
    for side, path, id_column in (("user", users, schema.user_id), ("item", items, schema.item_id)):
        if path is not None:
            types = {id_column: "string", **_column_types(getattr(schema, f"{side}_features"))}
            tables[side], _ = read_table(path, types, sep=sep, encoding=encoding)
    return build_dataset(Path(interactions).name, schema, frame, users=tables.get("user"),
                         items=tables.get("item"), source=str(interactions),
                         line_offset=line_offset, duplicates=duplicates, invalid=invalid,
                         user_source=None if users is None else str(users),
                         item_source=None if items is None else str(items))


def load_feature_tables(
    schema: Schema,
    *,
    users: str | os.PathLike | None = None,
    items: str | os.PathLike | None = None,
    name: str = "files",
    sep: str = ",",
    encoding: str = "utf-8",
) -> Dataset:
    """Loads and checks only the user and item feature tables (for streamed interactions).

    The returned :class:`Dataset` has no interaction rows; the interactions stay in their
    files and are read by :mod:`tfrec.data.sources`, which checks that every id in them has a
    feature row.

    Raises:
        DataError: A table is missing, unreadable or invalid (file, column and value named),
            or the schema has features of a side whose table was not given.
    """
    tables: dict[str, pd.DataFrame | None] = {}
    report = CleaningReport()
    for side, path, id_column, id_dtype in (("user", users, schema.user_id, schema.user_id_dtype),
                                            ("item", items, schema.item_id, schema.item_id_dtype)):
        features = getattr(schema, f"{side}_features")
        if path is None:
            if features:
                raise_missing_table(name, side, schema)
            tables[side] = None
            continue
        types = {id_column: "string", **_column_types(features)}
        table, _ = read_table(path, types, sep=sep, encoding=encoding)
        tables[side] = clean_features(table, id_column=id_column, id_dtype=id_dtype, features=features,
                                      known_ids=None, source=str(path),
                                      report=report)
    interactions = pd.DataFrame({c: [] for c in schema.interaction_columns()})
    return Dataset(name, schema, interactions, users=tables["user"], items=tables["item"], report=report)


def check_no_pickle(path: Path) -> None:
    """Refuses pickle files: tfrec never unpickles user input."""
    if path.suffix.lower() in (".pkl", ".pickle"):
        raise DataError("tfrec does not read pickle files (they can run code)", path=path,
                        fix="save the table as CSV or Parquet.")
