"""Streaming input: sharded Parquet, CSV or TFRecord interaction files through ``tf.data``.

The interactions are never loaded whole: files are read in chunks (Parquet record batches,
batched CSV lines decoded with ``tf.io.decode_csv``, batched ``tf.train.Example`` records),
interleaved across shards, shuffled through a bounded buffer and batched. User and item
feature tables -- small next to the interactions -- are joined inside the pipeline with
``tf.lookup.StaticHashTable`` (id -> table row) and one ``tf.gather`` per feature and batch.

One streaming pass (:func:`scan_files`) validates every row and computes what building the
model needs: interactions per user and item (vocabularies, logQ frequencies, weights for the
feature statistics), the rating mean and the context features' statistics.

Every file must hold the schema's interaction columns: the user and item ids, the rating and
weight when the schema names them, and the context features. Other columns are ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.validate import CleaningReport, InvalidPolicy, require_feature_rows
from tfrec.errors import DataError
from tfrec.schema import Feature, Schema, input_dtype

logger = logging.getLogger(__name__)

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
           ".tfrecord": "tfrecord", ".tfrecords": "tfrecord", ".tfrec": "tfrecord"}
WRITE_FORMATS = ("parquet", "csv", "tfrecord")
SCAN_CHUNK_ROWS = 65_536
READ_CHUNK_ROWS = 8_192


@dataclasses.dataclass(frozen=True)
class FileSource:
    """Interaction files of one format and the columns to read from them.

    Attributes:
        files: The shard paths, sorted.
        format: ``parquet``, ``csv`` or ``tfrecord``.
        columns: Column name -> dtype read (``int64``, ``float32`` or ``string``).
    """

    files: tuple[str, ...]
    format: str
    columns: dict[str, str]

    @classmethod
    def from_pattern(cls, pattern: str, schema: Schema,
                     context_features: tuple[Feature, ...] | None = None) -> FileSource:
        """Resolves comma-separated globs, files or folders into a source.

        Args:
            pattern: E.g. ``"data/ratings-*.parquet"``, ``"a.csv,b.csv"`` or a folder.
            schema: Names the interaction columns.
            context_features: Context features to read (``None``: all of the schema's).

        Raises:
            DataError: Nothing matches, or the files mix formats or have unknown extensions.
        """
        files: list[str] = []
        for part in [p.strip() for p in pattern.split(",") if p.strip()]:
            if Path(part).is_dir():
                files += sorted(str(p) for p in Path(part).iterdir()
                                if p.suffix.lower() in FORMATS and p.is_file())
            else:
                files += sorted(glob.glob(part))
        if not files:
            raise DataError("no interaction files match", path=pattern,
                            fix="give a glob such as 'DIR/ratings-*.parquet', files or a folder "
                                f"holding {'/'.join(sorted(set(FORMATS)))} files.")
        kinds = {f: FORMATS.get(Path(f).suffix.lower()) for f in files}
        unknown = [f for f, kind in kinds.items() if kind is None]
        if unknown:
            raise DataError("unknown interaction file type", path=unknown[0],
                            fix=f"use files ending in {', '.join(sorted(FORMATS))}.")
        formats = set(kinds.values())
        if len(formats) > 1:
            raise DataError("interaction files mix formats", path=pattern, value=sorted(formats),
                            fix="pass one kind of file (.parquet, .csv or .tfrecord).")
        features = schema.context_features if context_features is None else context_features
        return cls(tuple(files), formats.pop(), _read_columns(schema, features))


def _read_columns(schema: Schema, context_features: tuple[Feature, ...]) -> dict[str, str]:
    """Interaction columns and the dtypes they are read as."""
    columns = {schema.user_id: input_dtype("categorical", schema.user_id_dtype),
               schema.item_id: input_dtype("categorical", schema.item_id_dtype)}
    for name in (schema.rating, schema.weight):
        if name:
            columns[name] = "float32"
    for feature in context_features:
        columns[feature.name] = input_dtype(feature.kind, getattr(feature, "dtype", None))
    return columns


# ---------------------------------------------------------------------------------- readers
def _signature(columns: dict[str, str]) -> dict[str, tf.TensorSpec]:
    return {name: tf.TensorSpec([None], tf.dtypes.as_dtype(dtype)) for name, dtype in columns.items()}


def _parquet_chunks(path: str, columns: dict[str, str], chunk_rows: int):
    """Yields ``{column: array[<=chunk_rows]}`` from one Parquet file (pyarrow record batches)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if isinstance(path, bytes):
        path = path.decode()
    arrow = {"int64": pa.int64(), "float32": pa.float32(), "string": pa.string()}
    source = pq.ParquetFile(path)
    missing = [c for c in columns if c not in source.schema_arrow.names]
    if missing:
        raise DataError(f"missing column(s) {missing}", path=path,
                        fix=f"the file has {source.schema_arrow.names}; rename or add the columns.")
    for batch in source.iter_batches(batch_size=chunk_rows, columns=list(columns)):
        out = {}
        for name, dtype in columns.items():
            array = batch.column(name)
            try:
                array = array.cast(arrow[dtype]) if array.type != arrow[dtype] else array
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"cannot read as {dtype}: {exc}", path=path, column=name,
                                fix="fix the column's values or the schema's dtype.") from None
            if array.null_count:
                if dtype == "int64":
                    raise DataError(f"{array.null_count} empty value(s)", path=path, column=name,
                                    fix="every row needs a value; drop or fill those rows.")
                array = pc.fill_null(array, float("nan") if dtype == "float32" else "")
            values = array.to_numpy(zero_copy_only=False)
            out[name] = values.astype(object) if dtype == "string" else values
        yield out


def _read_parquet(path: tf.Tensor, columns: dict[str, str], chunk_rows: int) -> tf.data.Dataset:
    generator = functools.partial(_parquet_chunks, columns=columns, chunk_rows=chunk_rows)
    return tf.data.Dataset.from_generator(generator, args=(path,), output_signature=_signature(columns))


def _csv_header(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip("\r\n").lstrip("\ufeff")
    return [c.strip().strip('"') for c in header.split(",")]


def _read_csv(path: tf.Tensor, columns: dict[str, str], header: list[str],
              chunk_rows: int) -> tf.data.Dataset:
    order = sorted(columns, key=header.index)
    defaults = {"int64": tf.constant([], tf.int64), "float32": tf.constant([np.nan], tf.float32),
                "string": tf.constant([""], tf.string)}

    def decode(lines):
        values = tf.io.decode_csv(lines, [defaults[columns[c]] for c in order],
                                  select_cols=[header.index(c) for c in order])
        return dict(zip(order, values))

    lines = tf.data.TextLineDataset(path).skip(1)
    lines = lines.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)
    return lines.batch(chunk_rows).map(decode)


def _read_tfrecord(path: tf.Tensor, columns: dict[str, str], chunk_rows: int) -> tf.data.Dataset:
    kinds = {"int64": tf.int64, "float32": tf.float32, "string": tf.string}
    spec = {name: tf.io.FixedLenFeature([], kinds[dtype]) for name, dtype in columns.items()}
    return tf.data.TFRecordDataset(path).batch(chunk_rows).map(lambda s: tf.io.parse_example(s, spec))


def file_reader(source: FileSource, chunk_rows: int = READ_CHUNK_ROWS):
    """Returns ``path -> tf.data.Dataset`` of ``{column: Tensor[<=chunk_rows]}`` chunks.

    Raises:
        DataError: A CSV file lacks a column (checked on every file's header up front).
    """
    if source.format == "parquet":
        return lambda path: _read_parquet(path, source.columns, chunk_rows)
    if source.format == "tfrecord":
        return lambda path: _read_tfrecord(path, source.columns, chunk_rows)
    header = _csv_header(source.files[0])
    for path in source.files:
        this = _csv_header(path)
        missing = [c for c in source.columns if c not in this]
        if missing:
            raise DataError(f"missing column(s) {missing} in the header", path=path, line=1,
                            fix=f"the header has {this}; every shard needs the schema's columns.")
        if this != header:
            raise DataError("header differs from the first file's", path=path, line=1,
                            value=",".join(this), fix=f"give every shard the header {header}.")
    return lambda path: _read_csv(path, source.columns, header, chunk_rows)


# ---------------------------------------------------------------------------------- checks
def invalid_values(schema: Schema, chunk: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Per-column masks ``{column: bool[n]}`` of invalid values in a chunk.

    Invalid: empty string ids, missing/non-finite ratings or ratings outside the declared
    scale, missing or negative weights.
    """
    bad = {}
    for name, dtype in ((schema.user_id, schema.user_id_dtype), (schema.item_id, schema.item_id_dtype)):
        if dtype == "string":
            bad[name] = tf.equal(tf.strings.strip(chunk[name]), "")
    if schema.rating:
        rating = chunk[schema.rating]
        invalid = ~tf.math.is_finite(rating)
        if schema.rating_scale is not None:
            low, high = schema.rating_scale
            invalid |= (rating < low) | (rating > high)
        bad[schema.rating] = invalid
    if schema.weight:
        weight = chunk[schema.weight]
        bad[schema.weight] = ~tf.math.is_finite(weight) | (weight < 0)
    return bad


def _invalid_mask(schema: Schema, chunk: dict[str, tf.Tensor]) -> tf.Tensor:
    n = tf.shape(chunk[schema.user_id])[0]
    mask = tf.zeros([n], tf.bool)
    for column_mask in invalid_values(schema, chunk).values():
        mask |= column_mask
    return mask


def drop_invalid(schema: Schema, chunk: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Removes the rows :func:`invalid_values` flags (counted beforehand by :func:`scan_files`)."""
    keep = ~_invalid_mask(schema, chunk)
    return {name: tf.boolean_mask(values, keep) for name, values in chunk.items()}


@dataclasses.dataclass
class ScanResult:
    """What one streaming pass over the interaction files found.

    Attributes:
        rows: Valid rows (the ones training reads).
        rows_per_file: Valid rows of each file, in ``source.files`` order.
        report: Dropped rows by reason (policy ``drop``).
        sample: The first few valid rows, ``{column: array[<=4]}``.
    """

    rows: int
    rows_per_file: list[int]
    report: CleaningReport
    sample: dict[str, np.ndarray]


def scan_files(source: FileSource, schema: Schema, stats, *, invalid: InvalidPolicy = "error",
               chunk_rows: int = SCAN_CHUNK_ROWS) -> ScanResult:
    """Validates every row in one pass and adds the valid ones to ``stats``.

    Args:
        source: The interaction files.
        schema: Names the columns and the rating scale.
        stats: A :class:`~tfrec.model.features.TrainingStats` (or anything with ``add``).
        invalid: ``error`` raises at the first invalid row; ``drop`` counts and logs them (and
            the training pipeline drops the same rows).
        chunk_rows: Rows per chunk.

    Raises:
        DataError: An unreadable file or value, or (policy ``error``) an invalid row; the
            message names the file, column, value and row.
    """
    reader = file_reader(source, chunk_rows)
    report = CleaningReport()
    rows_per_file: list[int] = []
    sample: dict[str, np.ndarray] = {}
    for path in source.files:
        seen = kept = 0
        try:
            for chunk in reader(tf.constant(path)):
                masks = {c: m.numpy() for c, m in invalid_values(schema, chunk).items()}
                bad = np.zeros(len(chunk[schema.user_id]), dtype=bool)
                for mask in masks.values():
                    bad |= mask
                if bad.any():
                    column = next(c for c, m in masks.items() if m.any())
                    first = int(np.flatnonzero(masks[column])[0])
                    value = chunk[column][first].numpy()
                    row = seen + first + 1
                    if invalid == "error":
                        raise DataError(
                            f"invalid value in data row {row} ({int(bad.sum())} invalid row(s) in "
                            "this chunk)", path=path, column=column,
                            line=row + 1 if source.format == "csv" else None,
                            value=value.decode() if isinstance(value, bytes) else value,
                            fix="fix or remove the rows, or pass --invalid drop to count and drop them.")
                    remaining = bad.copy()  # each dropped row counted once, under its first bad column
                    for name, mask in masks.items():
                        if (mask & remaining).any():
                            report.drop(f"invalid {name}", int((mask & remaining).sum()), path)
                        remaining &= ~mask
                columns = {k: _numpy(v.numpy()[~bad]) for k, v in chunk.items()}
                stats.add(columns)
                if not sample:
                    sample = {k: v[:4] for k, v in columns.items()}
                seen += len(bad)
                kept += int((~bad).sum())
        except tf.errors.OpError as exc:
            raise DataError(f"cannot read: {exc.message.splitlines()[0][:500]}", path=path,
                            fix="check that every shard has the schema's columns and types.") from None
        rows_per_file.append(kept)
        logger.info("%s: %d rows (%d valid)", path, seen, kept)
    total = sum(rows_per_file)
    if total == 0:
        raise DataError("no valid interaction rows", path=",".join(source.files[:3]),
                        fix="check the files and the schema's column names.")
    return ScanResult(total, rows_per_file, report, sample)


def _numpy(values: np.ndarray) -> np.ndarray:
    """TF output -> the arrays the in-memory path uses (str objects for strings)."""
    if values.dtype == object:
        return np.asarray([v.decode("utf-8", "replace") for v in values], dtype=object)
    return values


# ---------------------------------------------------------------------------------- joins
class FeatureJoin:
    """Joins user and item feature columns onto batches of interactions, in the graph.

    Args:
        tables: ``{id_column: (table, feature_names)}``; each table holds one row per id.

    Call args:
        batch: ``{column: Tensor[batch]}`` with the id columns.

    Returns:
        ``batch`` plus every feature column (ids without a row get "" / -1 / NaN, which the
        model maps to out-of-vocabulary and to the training mean).
    """

    def __init__(self, tables: dict[str, tuple[pd.DataFrame, list[str]]]) -> None:
        from tfrec.convert import column_array, missing_value

        self._sides = []
        for id_column, (table, names) in tables.items():
            if not names:
                continue
            keys = tf.constant(column_array(table[id_column]))
            lookup = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(table), dtype=tf.int64)),
                default_value=-1)
            columns = {}
            for name in names:
                values = column_array(table[name])
                default = np.asarray([missing_value(values)], values.dtype)
                columns[name] = tf.constant(np.concatenate([values, default]))
            self._sides.append((id_column, lookup, columns, len(table)))

    @classmethod
    def from_dataset(cls, dataset) -> FeatureJoin:
        """The join of a :class:`~tfrec.data.dataset.Dataset`'s user and item tables."""
        schema = dataset.schema
        tables = {schema.user_id: (dataset.users, [f.name for f in schema.user_features]),
                  schema.item_id: (dataset.items, [f.name for f in schema.item_features])}
        return cls({k: v for k, v in tables.items() if v[0] is not None})

    def __call__(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out = dict(batch)
        for id_column, lookup, columns, n in self._sides:
            ids = batch[id_column]
            position = lookup.lookup(ids if ids.dtype == lookup.key_dtype else tf.cast(ids, lookup.key_dtype))
            position = tf.where(position < 0, tf.constant(n, tf.int64), position)  # the default row
            for name, values in columns.items():
                out[name] = tf.gather(values, position)
        return out


def check_feature_rows(stats, dataset) -> None:
    """Every user and item id of the streamed interactions (counted in ``stats``, a
    :class:`~tfrec.model.features.TrainingStats`) needs a row in ``dataset``'s feature table.

    Raises:
        DataError: Names the table, how many ids lack a row and one of them.
    """
    schema = dataset.schema
    for side, counts, id_column, table in (
        ("user", stats.users.counts, schema.user_id, dataset.users),
        ("item", stats.items.counts, schema.item_id, dataset.items),
    ):
        if table is not None:
            require_feature_rows(counts.index.to_numpy(), table, id_column, f"{side} table")


# ---------------------------------------------------------------------------------- pipeline
def stream_dataset(
    source: FileSource,
    schema: Schema,
    join: FeatureJoin,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 42,
    shuffle_buffer: int = 100_000,
    repeat: bool = False,
    drop_remainder: bool = False,
    input_context: tf.distribute.InputContext | None = None,
    chunk_rows: int = READ_CHUNK_ROWS,
) -> tf.data.Dataset:
    """The training (or evaluation) pipeline over the interaction files.

    files (shuffled per epoch) -> shard per input pipeline -> interleave chunk readers ->
    drop invalid rows -> rows -> [repeat] -> shuffle buffer -> batch -> join features ->
    prefetch.

    Args:
        source: The files.
        schema: Names the columns.
        join: Joins user/item features onto each batch.
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
    if shard_chunks:
        chunks = chunks.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    rows = chunks.map(lambda chunk: drop_invalid(schema, chunk),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if repeat:
        rows = rows.repeat()
    if shuffle:
        rows = rows.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    batches = rows.batch(batch_size, drop_remainder=drop_remainder)
    batches = batches.map(join, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------- writing
def write_shards(frame: pd.DataFrame, out: str | os.PathLike, *, name: str = "ratings",
                 shards: int = 1, format: str = "parquet", schema: Schema | None = None) -> list[Path]:
    """Writes ``frame`` as ``shards`` files ``{name}-00000-of-0000N.{ext}`` (atomically each).

    Args:
        frame: The rows (split into contiguous, nearly equal parts).
        out: Output folder.
        name: File name prefix.
        shards: Number of files.
        format: ``parquet``, ``csv`` or ``tfrecord``.
        schema: For TFRecord: columns the schema reads as floats (rating, weight, continuous
            features) are written as float features even when they hold integers.

    Returns:
        The paths written.
    """
    from tfrec.atomic import atomic_file

    if shards < 1:
        raise DataError(f"shards must be >= 1, got {shards}")
    if format not in WRITE_FORMATS:
        raise DataError(f"unknown shard format {format!r}", fix=f"use one of {list(WRITE_FORMATS)}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    floats = set()
    if schema is not None:
        floats = {c for c, d in _read_columns(schema, schema.context_features).items() if d == "float32"}
    bounds = np.linspace(0, len(frame), shards + 1).astype(int)
    paths = []
    for i in range(shards):
        part = frame.iloc[bounds[i]:bounds[i + 1]]
        path = out / (f"{name}-{i:05d}-of-{shards:05d}.{format}" if shards > 1 else f"{name}.{format}")
        with atomic_file(path) as tmp:
            if format == "parquet":
                part.to_parquet(tmp, index=False)
            elif format == "csv":
                part.to_csv(tmp, index=False)
            else:
                _write_tfrecord(part, tmp, floats)
        paths.append(path)
    return paths


def _write_tfrecord(frame: pd.DataFrame, path: Path, floats: set[str]) -> None:
    def feature(value, as_float):
        if isinstance(value, (int, np.integer)) and not as_float:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        if as_float or isinstance(value, (float, np.floating)):
            return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))

    names = list(frame.columns)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in frame.itertuples(index=False):
            example = tf.train.Example(features=tf.train.Features(
                feature={n: feature(v, n in floats) for n, v in zip(names, row)}))
            writer.write(example.SerializeToString())
