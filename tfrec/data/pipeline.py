"""``tf.data`` pipelines of training batches: from an in-memory frame or from streamed files.

Both yield the same batches ``{column: Tensor[batch]}`` -- interaction columns plus the user and
item features joined by :class:`~tfrec.data.join.FeatureJoin` -- so the model never knows
where its rows came from.

* :func:`frame_batches`: the joined columns are built once as tensors; each epoch's row
  permutation is drawn in one op and sliced into batches, and each batch is one ``tf.gather``
  per column.
* :func:`stream_batches`: files (shuffled per epoch) are read in chunks, interleaved, cleaned
  by the rules of :mod:`tfrec.data.rules`, shuffled through a bounded buffer, batched and
  joined in the graph.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd
import tensorflow as tf

from tfrec.data.columns import interaction_arrays
from tfrec.data.dataset import Dataset
from tfrec.data.files import READ_CHUNK_ROWS, FileSource, file_reader
from tfrec.data.holdout import Holdout
from tfrec.data.join import FeatureJoin, check_feature_rows
from tfrec.data.rules import drop_invalid
from tfrec.schema import Schema


def _finish(batches: tf.data.Dataset) -> tf.data.Dataset:
    """Sharding (if any) is done by the pipelines themselves, per input pipeline."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def frame_batches(
    dataset: Dataset,
    frame: pd.DataFrame,
    *,
    batch_size: int = 4096,
    shuffle: bool = True,
    seed: int = 42,
    cache: bool = True,
    drop_remainder: bool = False,
    repeat: bool = False,
    input_context: tf.distribute.InputContext | None = None,
    columns: Collection[str] | None = None,
) -> tf.data.Dataset:
    """Batches of feature dicts from in-memory interaction rows.

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
        columns: Only these columns (the ones a model reads); ``None``: every column.

    Returns:
        A dataset of dicts ``{column: Tensor[batch]}``, prefetched.

    Raises:
        DataError: An id of ``frame`` has no row in its feature table.
    """
    schema = dataset.schema
    check_feature_rows(dataset, frame[schema.user_id].to_numpy(), frame[schema.item_id].to_numpy())
    joined = FeatureJoin.from_dataset(dataset)(
        {k: tf.constant(v) for k, v in interaction_arrays(schema, frame).items()})
    joined = {k: v for k, v in joined.items() if columns is None or k in columns}  # gather only these
    return tensor_batches(joined, batch_size=batch_size, shuffle=shuffle, seed=seed, cache=cache,
                          drop_remainder=drop_remainder, repeat=repeat, input_context=input_context)


def tensor_batches(
    columns: dict[str, tf.Tensor],
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 42,
    cache: bool = True,
    drop_remainder: bool = False,
    repeat: bool = False,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Batches of rows of in-memory columns ``{name: Tensor[n]}`` (the arguments as in
    :func:`frame_batches`): each batch is one ``tf.gather`` per column of its row indices.

    Returns:
        A dataset of dicts ``{column: Tensor[batch]}``, prefetched.
    """
    n = int(next(iter(columns.values())).shape[0])
    shards = input_context.num_input_pipelines if input_context is not None else 1
    shard = input_context.input_pipeline_id if input_context is not None else 0
    if shuffle:
        # One permutation per epoch (a seeded stateless shuffle, a new one each iteration),
        # sliced into batches of row indices: per-batch work only, none per example. Every
        # input pipeline draws the same permutation and takes a disjoint share of it.
        indices = _permutations(n, seed, shard, shards, repeat).flat_map(
            lambda rows: _slices(rows, batch_size, drop_remainder))
        if not repeat:  # flat_map hides the length: Keras needs it for steps_per_execution
            rows = (n - shard + shards - 1) // shards
            indices = indices.apply(tf.data.experimental.assert_cardinality(
                batch_count(rows, batch_size, drop_remainder)))
    else:
        indices = tf.data.Dataset.range(n)
        if shards > 1:
            indices = indices.shard(shards, shard)
        if repeat:
            indices = indices.repeat()
        indices = indices.batch(batch_size, drop_remainder=drop_remainder)
    data = indices.map(lambda idx: {k: tf.gather(v, idx) for k, v in columns.items()},
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache and not shuffle and not repeat:
        data = data.cache()
    return _finish(data)


def batch_count(rows: int, batch_size: int, drop_remainder: bool = False) -> int:
    """How many batches of ``batch_size`` ``rows`` make (the last one short unless
    ``drop_remainder``)."""
    return rows // batch_size if drop_remainder else -(-rows // batch_size)


def sized(data: tf.data.Dataset, rows: int, batch_size: int) -> tf.data.Dataset:
    """``data`` with its number of batches declared when the pipeline cannot know it (streamed
    files): Keras needs it to run several steps per execution. The scan counted the rows the
    stream yields; should they ever differ, the iteration fails instead of training on less."""
    if data.cardinality() != tf.data.UNKNOWN_CARDINALITY:
        return data
    return data.apply(tf.data.experimental.assert_cardinality(batch_count(rows, batch_size)))


def _permutations(n: int, seed: int, shard: int, shards: int, repeat: bool) -> tf.data.Dataset:
    """Row-index permutations ``int64[n / shards]``: one (``repeat``: one per pass, forever)
    for each iteration of the dataset, the same sequence for the same ``seed``."""
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    if not repeat:
        draws = draws.take(1)
    key = tf.constant(seed, tf.int64)

    def permutation(draw: tf.Tensor) -> tf.Tensor:
        rows = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                         seed=tf.stack([draw, key]))
        return rows[shard::shards]

    return draws.map(permutation)


def _slices(rows: tf.Tensor, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
    """``rows`` cut into consecutive batches (the last one short unless ``drop_remainder``)."""
    count = tf.shape(rows, out_type=tf.int64)[0]
    size = tf.constant(batch_size, tf.int64)
    steps = batch_count(count, size, drop_remainder)
    return tf.data.Dataset.range(steps).map(lambda i: rows[i * size:tf.minimum((i + 1) * size, count)])


def stream_batches(
    source: FileSource,
    schema: Schema,
    join: FeatureJoin,
    *,
    holdout: Holdout | None = None,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 42,
    shuffle_buffer: int = 100_000,
    repeat: bool = False,
    columns: Collection[str] | None = None,
    drop_remainder: bool = False,
    input_context: tf.distribute.InputContext | None = None,
    chunk_rows: int = READ_CHUNK_ROWS,
) -> tf.data.Dataset:
    """The training (or evaluation) pipeline over the interaction files.

    files (shuffled per epoch) -> shard per input pipeline -> interleave chunk readers ->
    drop invalid rows -> [holdout] -> rows -> [repeat] -> shuffle buffer -> batch -> join features ->
    prefetch.

    Args:
        source: The files.
        schema: Names the columns.
        join: Joins user/item features onto each batch.
        holdout: Keep only this side of a validation carve.
        columns: Only these columns (the ones a model reads); ``None``: every column.
        batch_size: Examples per batch (per replica under a strategy).
        shuffle: Shuffle files and rows (seeded; reshuffled each epoch).
        seed: Shuffle seed.
        shuffle_buffer: Rows held by the shuffle buffer (memory: a few bytes per column each).
        repeat: Repeat forever (pair with ``steps_per_epoch``).
        drop_remainder: Drop a final short batch.
        input_context: From ``distribute_datasets_from_function``: this pipeline reads every
            ``num_input_pipelines``-th file (every ``num_input_pipelines``-th chunk when there
            are fewer files than pipelines).
        chunk_rows: Rows per read chunk.

    Returns:
        Batches ``{column: Tensor[batch]}`` with the feature columns joined.
    """
    reader = file_reader(source, chunk_rows)
    files = tf.data.Dataset.from_tensor_slices(list(source.files))
    if shuffle:
        files = files.shuffle(len(source.files), seed=seed, reshuffle_each_iteration=True)
    shard_chunks = False
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(source.files) >= input_context.num_input_pipelines:
            files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        else:
            shard_chunks = True
    chunks = files.interleave(reader, cycle_length=min(len(source.files), 4),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shard_chunks and input_context is not None:
        chunks = chunks.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def clean(chunk: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        chunk = drop_invalid(schema, chunk)
        if holdout is not None:
            keep = holdout.tensor_keep(schema, chunk)
            chunk = {name: tf.boolean_mask(values, keep) for name, values in chunk.items()}
        return chunk

    rows = chunks.map(clean, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if repeat:
        rows = rows.repeat()
    if shuffle:
        rows = rows.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    batches = rows.batch(batch_size, drop_remainder=drop_remainder)
    batches = batches.map(join, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if columns is not None:
        batches = batches.map(lambda batch: {k: v for k, v in batch.items() if k in columns})
    return _finish(batches)
