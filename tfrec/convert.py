"""Conversions of interaction frames: to ``tf.data`` feature dicts and to Surprise data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.errors import DataError


def column_array(values: pd.Series) -> np.ndarray:
    """Converts a column to the numpy array tf.data expects (object arrays for strings)."""
    if values.dtype.kind in "iu":
        return values.to_numpy(dtype=np.int64)
    if values.dtype.kind in "fb":
        return values.to_numpy(dtype=np.float32)
    return values.astype(str).to_numpy(dtype=object)


def missing_value(values: np.ndarray):
    """The value of a feature for an id without a feature row, by the column's array kind:
    ``""`` (strings), ``-1`` (integers) or NaN (floats) -- which the model's encoders map to
    out-of-vocabulary and to the training mean."""
    return {"O": "", "i": -1, "f": np.nan}[values.dtype.kind]


def feature_columns(dataset: Dataset, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Joins user and item features onto interaction rows (vectorized) as named arrays.

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
    columns = interaction_arrays(schema, frame)
    for side in ("user", "item"):
        id_column = schema.user_id if side == "user" else schema.item_id
        columns.update(side_columns(dataset, side, frame[id_column].to_numpy()))
    return columns


def interaction_arrays(schema, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The schema's interaction columns present in ``frame`` as arrays ``{column: array[n]}``."""
    return {name: column_array(frame[name]) for name in schema.interaction_columns()
            if name in frame.columns}


def side_columns(dataset: Dataset, side: str, ids: np.ndarray,
                 missing: str = "error") -> dict[str, np.ndarray]:
    """Id column plus the ``side`` ("user" or "item") features of each id, vectorized.

    Args:
        dataset: Supplies the schema and the feature tables.
        side: ``"user"`` or ``"item"``.
        ids: ``[n]`` raw ids.
        missing: For ids without a feature row: ``"error"``, or ``"default"`` -- empty
            string / -1 / NaN, which the model's encoders map to out-of-vocabulary and to the
            training mean (so unknown users can still be served).

    Returns:
        Column name -> array ``[n]``.

    Raises:
        DataError: An id has no row in the side's feature table.
    """
    schema = dataset.schema
    id_column = schema.user_id if side == "user" else schema.item_id
    table = dataset.users if side == "user" else dataset.items
    features = schema.user_features if side == "user" else schema.item_features
    columns = {id_column: column_array(pd.Series(ids))}
    if not features or table is None:
        return columns
    positions = pd.Index(table[id_column]).get_indexer(ids)
    absent = positions < 0
    if absent.any() and missing == "error":
        raise DataError(f"{side} id has no feature row", column=id_column,
                        value=np.asarray(ids)[absent][0], fix=f"add it to the {side} feature table.")
    for feature in features:
        values = column_array(table[feature.name].iloc[np.where(absent, 0, positions)])
        if absent.any():
            values = values.copy()
            values[absent] = missing_value(values)
        columns[feature.name] = values
    return columns


def to_tf_dataset(
    dataset: Dataset,
    frame: pd.DataFrame,
    *,
    batch_size: int = 4096,
    shuffle: bool = True,
    seed: int = 42,
    cache: bool = True,
    drop_remainder: bool = False,
    repeat: bool = False,
    input_context=None,
):
    """Builds a batched ``tf.data.Dataset`` of feature dicts from interaction rows.

    Args:
        dataset: Supplies schema and feature tables.
        frame: Interaction rows.
        batch_size: Examples per batch.
        shuffle: Shuffle the whole frame once per epoch with ``seed`` (reshuffled each epoch).
        seed: Shuffle seed.
        cache: Cache the batches in memory when not shuffling (a fixed order).
        drop_remainder: Drop a final short batch.
        repeat: Repeat forever (pair with ``steps_per_epoch``; used under a strategy).
        input_context: A ``tf.distribute.InputContext``: with several input pipelines
            (workers), each takes a disjoint share of every epoch's shuffled rows.

    Returns:
        A dataset of dicts ``{column: Tensor[batch]}``, prefetched.
    """
    import tensorflow as tf

    columns = {k: tf.constant(v) for k, v in feature_columns(dataset, frame).items()}
    n = len(frame)
    # Shuffle and batch row indices, then gather whole batches: one vectorized gather per
    # column and batch instead of per-example work, so the pipeline never limits training.
    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if input_context is not None and input_context.num_input_pipelines > 1:
        # Same seed on every worker: the same permutation, split into disjoint shares.
        indices = indices.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if repeat:
        indices = indices.repeat()
    batches = indices.batch(batch_size, drop_remainder=drop_remainder)
    data = batches.map(lambda idx: {k: tf.gather(v, idx) for k, v in columns.items()},
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache and not shuffle and not repeat:
        data = data.cache()
    options = tf.data.Options()  # sharding (if any) is done above, per input pipeline
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def rating_scale(dataset: Dataset) -> tuple[float, float]:
    """The declared rating scale, else the observed min and max."""
    schema = dataset.schema
    if schema.rating_scale is not None:
        return schema.rating_scale
    if schema.rating is None:
        return (0.0, 1.0)
    values = dataset.interactions[schema.rating]
    return float(values.min()), float(values.max())


def _ratings(dataset: Dataset, frame: pd.DataFrame) -> np.ndarray:
    schema = dataset.schema
    if schema.rating is not None:
        return frame[schema.rating].to_numpy(dtype=np.float64)
    return np.ones(len(frame))  # implicit events: every observed pair is a positive


def to_surprise_trainset(dataset: Dataset, frame: pd.DataFrame):
    """Builds a Surprise ``Trainset`` from interaction rows (raw ids kept as given)."""
    from surprise import Dataset as SurpriseDataset
    from surprise import Reader

    schema = dataset.schema
    table = pd.DataFrame({
        "user": frame[schema.user_id].to_numpy(),
        "item": frame[schema.item_id].to_numpy(),
        "rating": _ratings(dataset, frame),
    })
    data = SurpriseDataset.load_from_df(table, Reader(rating_scale=rating_scale(dataset)))
    return data.build_full_trainset()


def to_surprise_testset(dataset: Dataset, frame: pd.DataFrame) -> list[tuple]:
    """Builds a Surprise testset: a list of ``(raw_user, raw_item, rating)`` tuples."""
    schema = dataset.schema
    return list(zip(frame[schema.user_id].tolist(), frame[schema.item_id].tolist(),
                    _ratings(dataset, frame).tolist()))
