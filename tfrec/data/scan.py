"""One validating pass over interaction files.

:func:`scan_files` reads every chunk once, applies the invalid-row rules of
:mod:`tfrec.data.rules` (an error naming file, row, column and value, or -- policy ``drop`` --
counted drops), optionally keeps one side of a validation :class:`~tfrec.data.holdout.Holdout`,
and hands each chunk of valid rows to a :class:`ChunkSink`: whatever needs to see the
training rows once (the model's statistics) without the data layer knowing what it is.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

import numpy as np
import tensorflow as tf

from tfrec.data.files import FileSource, file_reader
from tfrec.data.holdout import Holdout
from tfrec.data.rules import tensor_masks
from tfrec.data.validate import CleaningReport, InvalidPolicy
from tfrec.errors import DataError
from tfrec.schema import Schema

logger = logging.getLogger(__name__)

SCAN_CHUNK_ROWS = 65_536
Columns = dict[str, np.ndarray]


class ChunkSink(Protocol):
    """Receives the valid rows of a scan, chunk by chunk."""

    def add(self, columns: Columns) -> object:
        """Takes ``{column: array[n]}`` (strings as ``object`` arrays of ``str``)."""


class Tee:
    """Feeds each chunk to several sinks, in order (``None`` entries are skipped)."""

    def __init__(self, *sinks: ChunkSink | None) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def add(self, columns: Columns) -> None:
        for sink in self.sinks:
            sink.add(columns)


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
    sample: Columns


def scan_files(source: FileSource, schema: Schema, sink: ChunkSink | None = None, *,
               invalid: InvalidPolicy = "error", holdout: Holdout | None = None,
               chunk_rows: int = SCAN_CHUNK_ROWS) -> ScanResult:
    """Validates every row in one pass and gives the valid ones to ``sink``.

    Args:
        source: The interaction files.
        schema: Names the columns and the rating scale.
        sink: Receives each chunk of valid (and, with ``holdout``, kept) rows.
        invalid: ``error`` raises at the first invalid row; ``drop`` counts and logs them (and
            the training pipeline drops the same rows).
        holdout: Keep only this side of a validation carve (invalid rows are still checked in
            every row).
        chunk_rows: Rows per chunk.

    Raises:
        DataError: An unreadable file or value, or (policy ``error``) an invalid row; the
            message names the file, column, value and row.
    """
    reader = file_reader(source, chunk_rows)
    report = CleaningReport()
    rows_per_file: list[int] = []
    sample: Columns = {}
    for path in source.files:
        seen = kept = 0
        try:
            for chunk in reader(tf.constant(path)):
                masks = {c: m.numpy() for c, m in tensor_masks(schema, chunk).items()}
                bad = np.zeros(len(chunk[schema.user_id]), dtype=bool)
                for mask in masks.values():
                    bad |= mask
                if bad.any():
                    _handle_invalid(masks, bad, chunk, seen, path, source, invalid, report)
                keep = ~bad
                if holdout is not None:
                    keep &= holdout.tensor_keep(schema, chunk).numpy()
                columns = {k: decode(v.numpy()[keep]) for k, v in chunk.items()}
                if sink is not None:
                    sink.add(columns)
                if not sample:
                    sample = {k: v[:4] for k, v in columns.items()}
                seen += len(bad)
                kept += int(keep.sum())
        except tf.errors.OpError as exc:
            raise DataError(f"cannot read: {exc.message.splitlines()[0][:500]}", path=path,
                            fix="check that every shard has the schema's columns and types.") from None
        rows_per_file.append(kept)
        logger.info("%s: %d rows (%d kept)", path, seen, kept)
    total = sum(rows_per_file)
    if total == 0:
        raise DataError("no valid interaction rows", path=",".join(source.files[:3]),
                        fix="check the files and the schema's column names.")
    return ScanResult(total, rows_per_file, report, sample)


def _handle_invalid(masks: dict[str, np.ndarray], bad: np.ndarray, chunk: dict[str, tf.Tensor],
                    seen: int, path: str, source: FileSource, invalid: InvalidPolicy,
                    report: CleaningReport) -> None:
    """Raises on the chunk's first invalid row (policy ``error``) or counts each dropped row
    once, under its first bad column."""
    column = next(c for c, m in masks.items() if m.any())
    first = int(np.flatnonzero(masks[column])[0])
    row = seen + first + 1
    if invalid == "error":
        value = chunk[column][first].numpy()
        raise DataError(
            f"invalid value in data row {row} ({int(bad.sum())} invalid row(s) in this chunk)",
            path=path, column=column, line=row + 1 if source.format == "csv" else None,
            value=value.decode() if isinstance(value, bytes) else value,
            fix="fix or remove the rows, or pass --invalid drop to count and drop them.")
    remaining = bad.copy()
    for name, mask in masks.items():
        if (mask & remaining).any():
            report.drop(f"invalid {name}", int((mask & remaining).sum()), path)
        remaining &= ~mask


def decode(values: np.ndarray) -> np.ndarray:
    """TF output -> the arrays the in-memory path uses (``str`` objects for strings)."""
    if values.dtype == object:
        return np.asarray([v.decode("utf-8", "replace") for v in values], dtype=object)
    return values
