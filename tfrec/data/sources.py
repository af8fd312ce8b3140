"""Batch sources: the two ways training rows reach the model, behind one interface.

A :class:`BatchSource` is a set of interaction rows plus the feature tables to join onto
them. Training (:func:`tfrec.model.training.fit.train`) asks every source the same four things:

* :meth:`~BatchSource.scan` -- pass each chunk of valid rows once to a sink (the model's
  statistics), and say how many rows there are;
* :meth:`~BatchSource.batches` -- a ``tf.data`` pipeline of joined feature dicts;
* :meth:`~BatchSource.holdout` -- split into (train, validation) by the hash carve of
  :mod:`tfrec.data.holdout`;
* :meth:`~BatchSource.summary` -- what the rows were, for the run's record.

:class:`FrameSource` holds an in-memory frame; :class:`FileBatchSource` streams shards. For the
same rows they yield the same chunks, statistics and (in a fixed order) the same batches.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.columns import interaction_arrays
from tfrec.data.dataset import Dataset
from tfrec.data.files import FileSource
from tfrec.data.holdout import Holdout
from tfrec.data.join import Columns, FeatureJoin, check_feature_rows
from tfrec.data.pipeline import frame_batches, stream_batches
from tfrec.data.scan import ChunkSink, ScanResult, Tee, scan_files
from tfrec.data.validate import CleaningReport, InvalidPolicy


class BatchSource(abc.ABC):
    """Interaction rows for training or evaluation, in memory or in files.

    Attributes:
        tables: Schema and feature tables (its own interactions are not read).
    """

    tables: Dataset

    @abc.abstractmethod
    def scan(self, sink: ChunkSink | None = None) -> ScanResult:
        """Gives every valid row, chunk by chunk, to ``sink``; returns counts and a sample.

        Raises:
            DataError: Invalid rows (policy ``error``) or ids without a feature row.
        """

    @abc.abstractmethod
    def batches(self, batch_size: int, *, shuffle: bool = True, seed: int = 42,
                repeat: bool = False, drop_remainder: bool = False,
                input_context: tf.distribute.InputContext | None = None,
                columns: Collection[str] | None = None) -> tf.data.Dataset:
        """Batches ``{column: Tensor[batch]}`` with the user and item features joined (only
        ``columns`` when given: the ones a model reads)."""

    @abc.abstractmethod
    def holdout(self, ratio: float, seed: int) -> tuple[BatchSource, BatchSource]:
        """``(train, validation)``: this source's rows split by the seeded hash carve."""

    @abc.abstractmethod
    def summary(self) -> dict[str, Any]:
        """What the rows are (JSON-ready)."""

    def sample(self, columns: Columns) -> Columns:
        """A few scanned rows with their features joined (variables are created on them)."""
        return FeatureJoin.from_dataset(self.tables).join_arrays(columns)

    def catalog(self, scanned_items: Sequence[Any]) -> pd.DataFrame:
        """The item catalog: the item table; else the data set's item ids; else (streamed
        files without an item table) ``scanned_items``, the item ids the scan found."""
        schema = self.tables.schema
        if self.tables.items is not None:
            return self.tables.items
        ids = self.tables.item_ids if len(self.tables.interactions) else np.asarray(scanned_items)
        return pd.DataFrame({schema.item_id: ids})


@dataclasses.dataclass(frozen=True)
class FrameSource(BatchSource):
    """Validated in-memory interaction rows (one chunk).

    Attributes:
        tables: Schema and feature tables.
        frame: The interaction rows.
        name: What the rows are (a split's name).
    """

    tables: Dataset
    frame: pd.DataFrame
    name: str = "frame"

    def scan(self, sink: ChunkSink | None = None) -> ScanResult:
        schema = self.tables.schema
        check_feature_rows(self.tables, self.frame[schema.user_id].to_numpy(),
                           self.frame[schema.item_id].to_numpy())
        columns = interaction_arrays(schema, self.frame)
        if sink is not None:
            sink.add(columns)
        return ScanResult(len(self.frame), [len(self.frame)], CleaningReport(),
                          {k: v[:4] for k, v in columns.items()})

    def batches(self, batch_size: int, *, shuffle: bool = True, seed: int = 42,
                repeat: bool = False, drop_remainder: bool = False,
                input_context: tf.distribute.InputContext | None = None,
                columns: Collection[str] | None = None) -> tf.data.Dataset:
        return frame_batches(self.tables, self.frame, batch_size=batch_size, shuffle=shuffle,
                             seed=seed, drop_remainder=drop_remainder, repeat=repeat,
                             input_context=input_context, columns=columns)

    def holdout(self, ratio: float, seed: int) -> tuple[FrameSource, FrameSource]:
        keep = Holdout(ratio, seed).frame_keep(self.tables.schema, self.frame)
        part = self.frame.loc
        return (FrameSource(self.tables, part[keep].reset_index(drop=True), f"{self.name}-train"),
                FrameSource(self.tables, part[~keep].reset_index(drop=True), f"{self.name}-validation"))

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "rows": len(self.frame)}


@dataclasses.dataclass(frozen=True)
class FileBatchSource(BatchSource):
    """Interaction shards streamed through ``tf.data`` (never loaded whole).

    Attributes:
        tables: Schema and feature tables (:func:`~tfrec.data.tabular.load_feature_tables`).
        files: The interaction files.
        invalid: ``error`` or ``drop`` (counted, logged and reported) for invalid rows.
        shuffle_buffer: Rows in the shuffle buffer.
        carve: Keep only one side of a validation carve.
    """

    tables: Dataset
    files: FileSource
    invalid: InvalidPolicy = "error"
    shuffle_buffer: int = 100_000
    carve: Holdout | None = None

    def scan(self, sink: ChunkSink | None = None) -> ScanResult:
        ids = _IdCollector(self.tables)
        result = scan_files(self.files, self.tables.schema, Tee(ids, sink), invalid=self.invalid,
                            holdout=self.carve)
        ids.check()
        return result

    def batches(self, batch_size: int, *, shuffle: bool = True, seed: int = 42,
                repeat: bool = False, drop_remainder: bool = False,
                input_context: tf.distribute.InputContext | None = None,
                columns: Collection[str] | None = None) -> tf.data.Dataset:
        return stream_batches(self.files, self.tables.schema, FeatureJoin.from_dataset(self.tables),
                              holdout=self.carve, batch_size=batch_size, shuffle=shuffle, seed=seed,
                              shuffle_buffer=self.shuffle_buffer, repeat=repeat,
                              drop_remainder=drop_remainder, input_context=input_context, columns=columns)

    def holdout(self, ratio: float, seed: int) -> tuple[FileBatchSource, FileBatchSource]:
        carve = Holdout(ratio, seed)
        return (dataclasses.replace(self, carve=carve), dataclasses.replace(self, carve=carve.other()))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files": list(self.files.files)}
        if self.carve is not None:
            out["carve"] = dataclasses.asdict(self.carve)
        return out


class _IdCollector:
    """Collects the distinct user and item ids of a scan, to check their feature rows."""

    def __init__(self, tables: Dataset) -> None:
        self.tables = tables
        self.users: set = set()
        self.items: set = set()

    def add(self, columns: Columns) -> None:
        schema = self.tables.schema
        self.users.update(columns[schema.user_id].tolist())
        self.items.update(columns[schema.item_id].tolist())

    def check(self) -> None:
        check_feature_rows(self.tables, np.asarray(sorted(self.users, key=str)),
                           np.asarray(sorted(self.items, key=str)))

