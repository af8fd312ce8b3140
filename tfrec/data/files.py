"""Interaction files: sharded Parquet, CSV or TFRecord, read in chunks as tensors.

The interactions are never loaded whole: files are read in chunks (Parquet record batches,
batched CSV lines decoded with ``tf.io.decode_csv``, batched ``tf.train.Example`` records).
:mod:`tfrec.data.scan` validates the chunks in one pass; :mod:`tfrec.data.pipeline` streams
them into training batches.

Every file must hold the schema's interaction columns: the user and item ids, the rating and
weight when the schema names them, and the context features. Other columns are ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfrec.data.io import quote_names
from tfrec.errors import DataError
from tfrec.schema import Feature, Schema, feature_dtype, id_dtype

logger = logging.getLogger(__name__)

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
           ".tfrecord": "tfrecord", ".tfrecords": "tfrecord", ".tfrec": "tfrecord"}
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
        odd = [f for f in files if not Path(f).is_file()]
        if odd:
            raise DataError("not a regular file (a folder, FIFO, device or socket)", path=odd[0],
                            fix="give interaction files, a folder of them, or a glob that matches only files.")
        unknown = [f for f in files if Path(f).suffix.lower() not in FORMATS]
        if unknown:
            raise DataError("unknown interaction file type", path=unknown[0],
                            fix=f"use files ending in {', '.join(sorted(FORMATS))}.")
        formats = {FORMATS[Path(f).suffix.lower()] for f in files}
        if len(formats) > 1:
            raise DataError("interaction files mix formats", path=pattern, value=sorted(formats),
                            fix="pass one kind of file (.parquet, .csv or .tfrecord).")
        features = schema.context_features if context_features is None else context_features
        return cls(tuple(files), formats.pop(), read_columns(schema, features))


def read_columns(schema: Schema, context_features: tuple[Feature, ...]) -> dict[str, str]:
    """Interaction columns and the dtypes they are read as."""
    columns = {schema.user_id: id_dtype(schema.user_id_dtype),
               schema.item_id: id_dtype(schema.item_id_dtype)}
    for name in (schema.rating, schema.weight):
        if name:
            columns[name] = "float32"
    for feature in context_features:
        columns[feature.name] = feature_dtype(feature)
    return columns


def _signature(columns: dict[str, str]) -> dict[str, tf.TensorSpec]:
    return {name: tf.TensorSpec([None], tf.dtypes.as_dtype(dtype)) for name, dtype in columns.items()}


def _parquet_chunks(path: str, columns: dict[str, str], chunk_rows: int):
    """Yields ``{column: array[<=chunk_rows]}`` from one Parquet file (pyarrow record batches)."""
    import pyarrow.parquet as pq

    if isinstance(path, bytes):
        path = path.decode()
    with open(path, "rb") as handle:  # a local file, whatever its name looks like (not a URL)
        yield from _parquet_batches(pq.ParquetFile(handle), path, columns, chunk_rows)


def _parquet_batches(source: Any, path: str, columns: dict[str, str], chunk_rows: int) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = {"int64": pa.int64(), "float32": pa.float32(), "string": pa.string()}
    missing = [c for c in columns if c not in source.schema_arrow.names]
    if missing:
        raise DataError(f"missing column(s) {missing}", path=path,
                        fix=f"the file has {quote_names(source.schema_arrow.names)}; rename or add the columns.")
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
        header = handle.readline(1 << 20).strip("\r\n").lstrip("\ufeff")
    return [c.strip().strip('"') for c in header.split(",")]


def _read_csv(path: tf.Tensor, columns: dict[str, str], header: list[str],
              chunk_rows: int) -> tf.data.Dataset:
    order = sorted(columns, key=header.index)
    defaults = {"int64": tf.constant([], tf.int64), "float32": tf.constant([np.nan], tf.float32),
                "string": tf.constant([""], tf.string)}

    def decode(lines):
        values = tf.io.decode_csv(lines, [defaults[columns[c]] for c in order],
                                  select_cols=[header.index(c) for c in order])
        return dict(zip(order, values, strict=True))

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
                            fix=f"the header has {quote_names(this)}; every shard needs the schema's columns.")
        if this != header:
            raise DataError("header differs from the first file's", path=path, line=1,
                            value=",".join(this), fix=f"give every shard the header {quote_names(header)}.")
    return lambda path: _read_csv(path, source.columns, header, chunk_rows)
