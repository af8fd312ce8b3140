"""The one join of user and item feature tables onto interaction rows.

:class:`FeatureJoin` looks ids up in ``tf.lookup.StaticHashTable`` (id -> table row) and takes
each feature with one ``tf.gather``. It runs inside ``tf.data`` pipelines (streamed shards)
and eagerly on whole columns (in-memory frames, scoring users and items), so both training
paths and every model see the same joined values. Ids without a feature row get
:func:`missing_value`, which the model maps to out-of-vocabulary and to the training mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.dataset import Dataset
from tfrec.data.validate import require_feature_rows
from tfrec.schema import as_input_array

Columns = dict[str, np.ndarray]


def missing_value(values: np.ndarray) -> Any:
    """The value of a feature for an id without a feature row, by the column's array kind:
    ``""`` (strings), ``-1`` (integers) or NaN (floats)."""
    return {"O": "", "i": -1, "f": np.nan}[values.dtype.kind]


class FeatureJoin:
    """Joins user and item feature columns onto batches of interactions.

    Args:
        tables: ``{id_column: (table, feature_names)}``; each table holds one row per id.

    Call args:
        batch: ``{column: Tensor[batch]}`` with the id columns.

    Returns:
        ``batch`` plus every feature column (ids without a row get "" / -1 / NaN).
    """

    def __init__(self, tables: dict[str, tuple[pd.DataFrame, list[str]]]) -> None:
        self._sides = []
        for id_column, (table, names) in tables.items():
            if not names:
                continue
            keys = tf.constant(as_input_array(table[id_column]))
            lookup = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(table), dtype=tf.int64)),
                default_value=-1)
            columns = {}
            for name in names:
                values = as_input_array(table[name])
                default = np.asarray([missing_value(values)], values.dtype)
                columns[name] = tf.constant(np.concatenate([values, default]))
            self._sides.append((id_column, lookup, columns, len(table)))

    @classmethod
    def from_dataset(cls, dataset: Dataset, side: str | None = None) -> FeatureJoin:
        """The join of a dataset's user and item tables (or only the ``side`` one)."""
        schema = dataset.schema
        tables = {}
        if side in (None, "user") and dataset.users is not None:
            tables[schema.user_id] = (dataset.users, [f.name for f in schema.user_features])
        if side in (None, "item") and dataset.items is not None:
            tables[schema.item_id] = (dataset.items, [f.name for f in schema.item_features])
        return cls(tables)

    def __call__(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out = dict(batch)
        for id_column, lookup, columns, n in self._sides:
            if id_column not in batch:
                continue
            ids = batch[id_column]
            position = lookup.lookup(ids if ids.dtype == lookup.key_dtype else tf.cast(ids, lookup.key_dtype))
            position = tf.where(position < 0, tf.constant(n, tf.int64), position)  # the default row
            for name, values in columns.items():
                out[name] = tf.gather(values, position)
        return out

    def join_arrays(self, columns: Columns) -> Columns:
        """Eager join on NumPy columns; strings come back as ``object`` arrays of ``str``."""
        if not self._sides:
            return dict(columns)
        joined = self({k: tf.constant(v) for k, v in columns.items()})
        out = dict(columns)
        for name, tensor in joined.items():
            if name not in columns:
                values = tensor.numpy()
                out[name] = (np.asarray([v.decode("utf-8") for v in values], dtype=object)
                             if values.dtype == object else values)
        return out


def check_feature_rows(dataset: Dataset, user_ids: np.ndarray | None, item_ids: np.ndarray | None) -> None:
    """Every given id needs a row in its side's feature table (when the table exists).

    Raises:
        DataError: Names the table, how many ids lack a row and one of them.
    """
    schema = dataset.schema
    for side, ids, id_column, table in (("user", user_ids, schema.user_id, dataset.users),
                                        ("item", item_ids, schema.item_id, dataset.items)):
        if table is not None and ids is not None:
            require_feature_rows(np.asarray(ids), table, id_column, f"{side} table")
