"""Interaction frames as named arrays, with the user and item features joined on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.data.join import Columns, FeatureJoin, check_feature_rows
from tfrec.schema import Schema, as_input_array


def interaction_arrays(schema: Schema, frame: pd.DataFrame) -> Columns:
    """The schema's interaction columns present in ``frame`` as arrays ``{column: array[n]}``."""
    return {name: as_input_array(frame[name]) for name in schema.interaction_columns()
            if name in frame.columns}


def feature_columns(dataset: Dataset, frame: pd.DataFrame) -> Columns:
    """Joins user and item features onto interaction rows as named arrays.

    Args:
        dataset: Supplies the schema and the feature tables.
        frame: Interaction rows (ids, optional rating/timestamp/weight/context features).

    Returns:
        Column name -> array of length ``len(frame)``: ids, label columns, context, user and
        item features. String columns are ``object`` arrays, numbers int64/float32.

    Raises:
        DataError: An id in ``frame`` has no row in a feature table.
    """
    schema = dataset.schema
    check_feature_rows(dataset, frame[schema.user_id].to_numpy(), frame[schema.item_id].to_numpy())
    return FeatureJoin.from_dataset(dataset).join_arrays(interaction_arrays(schema, frame))


def side_columns(dataset: Dataset, side: str, ids: np.ndarray, missing: str = "error") -> Columns:
    """Id column plus the ``side`` (``"user"`` or ``"item"``) features of each id.

    Args:
        dataset: Supplies the schema and the feature tables.
        side: ``"user"`` or ``"item"``.
        ids: ``[n]`` raw ids.
        missing: For ids without a feature row: ``"error"``, or ``"default"`` -- empty
            string / -1 / NaN, which the model maps to out-of-vocabulary and to the training
            mean (so unknown users can still be served).

    Returns:
        Column name -> array ``[n]``.

    Raises:
        DataError: An id has no row in the side's feature table (``missing="error"``).
    """
    schema = dataset.schema
    id_column = schema.user_id if side == "user" else schema.item_id
    ids = np.asarray(ids)
    if missing == "error":
        check_feature_rows(dataset, ids if side == "user" else None, ids if side == "item" else None)
    columns = {id_column: as_input_array(pd.Series(ids))}
    return FeatureJoin.from_dataset(dataset, side).join_arrays(columns)


def catalog_columns(tables: Dataset, catalog: pd.DataFrame) -> Columns:
    """Item id plus item features of every item of ``catalog`` (``{column: array[n_items]}``);
    items without a feature row get the missing values."""
    return side_columns(tables, "item", catalog[tables.schema.item_id].to_numpy(), missing="default")
