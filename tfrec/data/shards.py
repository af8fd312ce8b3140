"""Writing interaction (or feature) tables as Parquet, CSV or TFRecord shards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.atomic import atomic_file
from tfrec.data.files import read_columns
from tfrec.data.parquet import write_local_parquet
from tfrec.errors import DataError
from tfrec.schema import Schema

WRITE_FORMATS = ("parquet", "csv", "tfrecord")


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
    if shards < 1:
        raise DataError(f"shards must be >= 1, got {shards}")
    if format not in WRITE_FORMATS:
        raise DataError(f"unknown shard format {format!r}", fix=f"use one of {list(WRITE_FORMATS)}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    floats = set()
    if schema is not None:
        floats = {c for c, d in read_columns(schema, schema.context_features).items() if d == "float32"}
    bounds = np.linspace(0, len(frame), shards + 1).astype(int)
    paths = []
    for i in range(shards):
        part = frame.iloc[bounds[i]:bounds[i + 1]]
        path = out / (f"{name}-{i:05d}-of-{shards:05d}.{format}" if shards > 1 else f"{name}.{format}")
        with atomic_file(path) as tmp:
            if format == "parquet":
                write_local_parquet(part, tmp)
            elif format == "csv":
                with open(tmp, "w", newline="", encoding="utf-8") as handle:
                    part.to_csv(handle, index=False)
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
                feature={n: feature(v, n in floats) for n, v in zip(names, row, strict=True)}))
            writer.write(example.SerializeToString())
