"""Validation of interaction and feature tables against a :class:`~tfrec.schema.Schema`.

Every problem is either an error naming the file, line, column, value and fix, or -- where
the caller chose a dropping policy -- a logged count recorded in a :class:`CleaningReport`.
Nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Literal

import numpy as np
import pandas as pd

from tfrec.data.rules import RowRule, frame_mask, numeric, row_rules
from tfrec.errors import DataError
from tfrec.schema import (
    BucketizedFeature,
    CategoricalFeature,
    ContinuousFeature,
    Feature,
    Schema,
)

logger = logging.getLogger(__name__)

DuplicatePolicy = Literal["last", "mean", "error"]
InvalidPolicy = Literal["error", "drop"]
DUPLICATE_POLICIES = ("last", "mean", "error")
INVALID_POLICIES = ("error", "drop")


@dataclasses.dataclass
class CleaningReport:
    """Counts of what validation changed; logged and kept on the dataset.

    Attributes:
        rows_in: Interaction rows read.
        rows_out: Interaction rows kept.
        dropped: Reason -> number of rows dropped for it.
        merged_duplicates: Duplicate (user, item) rows merged into one by the policy.
    """

    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    merged_duplicates: int = 0

    def drop(self, reason: str, count: int, source: str) -> None:
        """Records and logs ``count`` rows dropped for ``reason``."""
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)
            logger.warning("%s: dropped %d row(s): %s", source, count, reason)

    def to_dict(self) -> dict:
        """Returns the JSON-ready form."""
        return dataclasses.asdict(self)


def require_columns(frame: pd.DataFrame, columns: list[str], source: str, what: str) -> None:
    """Raises a :class:`DataError` naming every column of ``columns`` missing from ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} lacks column(s) {missing}; it has {list(frame.columns)}",
            path=source,
            fix="rename the columns in the file, or describe them with a schema whose names match.",
        )


def _bad_rows(mask: np.ndarray, frame: pd.DataFrame, column: str, message: str, fix: str,
              source: str, line_offset: int | None, policy: InvalidPolicy,
              report: CleaningReport) -> np.ndarray:
    """Errors on the first True row of ``mask`` or, with policy 'drop', counts them all."""
    if not mask.any():
        return mask
    if policy == "error":
        row = int(np.flatnonzero(mask)[0])
        raise DataError(
            message,
            path=source,
            line=None if line_offset is None else row + line_offset,
            column=column,
            value=frame[column].iloc[row],
            fix=fix + " (or pass invalid='drop' to drop and count such rows)",
        )
    report.drop(f"{message} in column {column!r}", int(mask.sum()), source)
    return mask


def clean_interactions(
    frame: pd.DataFrame,
    schema: Schema,
    *,
    source: str,
    line_offset: int | None = None,
    duplicates: DuplicatePolicy = "last",
    invalid: InvalidPolicy = "error",
    report: CleaningReport | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Checks an interaction table and applies the duplicate and invalid-row policies.

    Args:
        frame: Interactions with the schema's columns; row ``i`` is line ``i + line_offset``.
        schema: Names the columns, id types and rating scale.
        source: File or data-set name used in messages.
        line_offset: Line number of row 0 in ``source``, when rows map to file lines.
        duplicates: For repeated (user, item) pairs: ``"last"`` keeps the latest by timestamp
            (file order when there is no timestamp), ``"mean"`` averages ratings (latest
            timestamp), ``"error"`` refuses them.
        invalid: ``"error"`` raises on the first empty id or bad rating; ``"drop"`` drops and
            counts them.
        report: Report to add counts to; a new one by default.

    Returns:
        The cleaned frame (fresh index, ids typed per the schema) and the report.

    Raises:
        DataError: Missing columns, empty/NaN ids, non-numeric or out-of-scale ratings,
            duplicates under policy ``"error"``.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise DataError(f"unknown duplicate policy {duplicates!r}; use one of {DUPLICATE_POLICIES}")
    if invalid not in INVALID_POLICIES:
        raise DataError(f"unknown invalid-row policy {invalid!r}; use one of {INVALID_POLICIES}")
    report = report or CleaningReport()
    require_columns(frame, schema.interaction_columns(), source, "interaction table")
    report.rows_in += len(frame)
    if len(frame) == 0:
        raise DataError("no interaction rows", path=source, fix="supply at least one interaction.")
    frame = frame.reset_index(drop=True)
    drop = np.zeros(len(frame), dtype=bool)
    for rule in row_rules(schema):  # the same rule table the streaming reader applies
        drop |= _bad_rows(frame_mask(rule, frame[rule.column]) & ~drop, frame, rule.column,
                          rule.reason, rule.fix, source, line_offset, invalid, report)
    for column in (schema.rating, schema.timestamp, schema.weight):
        if column:
            frame[column] = numeric(frame[column])
    if drop.any():
        frame = frame.loc[~drop].reset_index(drop=True)
    frame[schema.user_id] = _typed_ids(frame[schema.user_id], schema.user_id_dtype, schema.user_id, source)
    frame[schema.item_id] = _typed_ids(frame[schema.item_id], schema.item_id_dtype, schema.item_id, source)
    frame = _resolve_duplicates(frame, schema, duplicates, source, report)
    report.rows_out = len(frame)
    return frame, report


def _typed_ids(values: pd.Series, dtype: str, column: str, source: str) -> pd.Series:
    """Casts ids to int64 or str, naming the first value that is not an integer."""
    if dtype == "string":
        if values.dtype.kind == "f":
            values = values.astype("int64") if (values == np.floor(values)).all() else values
        return values.astype(str).str.strip()
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna().to_numpy() | (numeric.to_numpy(dtype="float64", na_value=np.nan) % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            "id is not an integer",
            path=source,
            column=column,
            value=values.iloc[row],
            fix=f"declare {column}_dtype='string' in the schema, or fix the id.",
        )
    return numeric.astype("int64")


def _resolve_duplicates(frame: pd.DataFrame, schema: Schema, policy: DuplicatePolicy,
                        source: str, report: CleaningReport) -> pd.DataFrame:
    keys = [schema.user_id, schema.item_id]
    dup_mask = frame.duplicated(keys, keep=False).to_numpy()
    if not dup_mask.any():
        return frame
    n_extra = int(frame.duplicated(keys, keep="first").sum())
    if policy == "error":
        row = int(np.flatnonzero(dup_mask)[0])
        pair = (frame[schema.user_id].iloc[row], frame[schema.item_id].iloc[row])
        raise DataError(
            f"{n_extra} duplicate (user, item) row(s), e.g. {pair}",
            path=source,
            fix="remove the duplicates, or choose duplicates='last' or 'mean'.",
        )
    work = frame.assign(_order=np.arange(len(frame)))
    if schema.timestamp is not None:
        work = work.sort_values([schema.timestamp, "_order"], kind="stable")
    if policy == "mean":
        for column in (schema.rating, schema.weight):
            if column:
                work[column] = work.groupby(keys, sort=False)[column].transform("mean")
    kept = work.drop_duplicates(keys, keep="last").sort_values("_order")
    report.merged_duplicates += n_extra
    logger.warning("%s: merged %d duplicate (user, item) row(s) with policy %r", source, n_extra, policy)
    return kept.drop(columns="_order").reset_index(drop=True)


def require_feature_rows(ids: np.ndarray, table: pd.DataFrame, id_column: str, source: str) -> None:
    """Every id used in the interactions needs a row in the feature table.

    Raises:
        DataError: Names the table, how many ids lack a row and one of them.
    """
    missing_rows = ~np.isin(ids, table[id_column].to_numpy())
    if missing_rows.any():
        raise DataError(
            f"{int(missing_rows.sum())} id(s) used in the interactions have no feature row",
            path=source, column=id_column, value=ids[np.flatnonzero(missing_rows)[0]],
            fix="add a feature row for every id, or drop the side's features from the schema.",
        )


def clean_features(
    table: pd.DataFrame,
    *,
    id_column: str,
    id_dtype: str,
    features: tuple[Feature, ...],
    known_ids: np.ndarray | None,
    source: str,
    report: CleaningReport,
) -> pd.DataFrame:
    """Checks a user or item feature table.

    Args:
        table: One row per id with the feature columns.
        id_column: The id column.
        id_dtype: ``"int"`` or ``"string"``.
        features: The side's features from the schema.
        known_ids: Ids that occur in the interactions (``None``: not known yet -- streamed
            interactions are checked against the table while they are read).
        source: File or data-set name for messages.
        report: Where counts of dropped rows go.

    Returns:
        The table with typed ids, one row per id (catalog rows for ids without interactions are
        kept: they are valid cold-start candidates).

    Raises:
        DataError: Missing columns, empty or repeated ids, missing or non-numeric feature
            values, or interaction ids that have no feature row.
    """
    require_columns(table, [id_column] + [f.name for f in features], source, "feature table")
    table = table.reset_index(drop=True)
    empty = frame_mask(RowRule(id_column, "id", "", ""), table[id_column])
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError("empty or NaN id", path=source, column=id_column, value=table[id_column].iloc[row],
                        fix="every feature row needs an id.")
    table[id_column] = _typed_ids(table[id_column], id_dtype, id_column, source)
    repeated = table[id_column].duplicated().to_numpy()
    if repeated.any():
        value = table[id_column].iloc[int(np.flatnonzero(repeated)[0])]
        raise DataError(f"{int(repeated.sum())} id(s) have more than one feature row",
                        path=source, column=id_column, value=value,
                        fix="keep exactly one row per id in the feature table.")
    for feature in features:
        values = table[feature.name]
        if isinstance(feature, (ContinuousFeature, BucketizedFeature)):
            numeric = pd.to_numeric(values, errors="coerce")
            bad = ~np.isfinite(numeric.to_numpy(dtype="float64", na_value=np.nan))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"missing or non-numeric value ({int(bad.sum())} row(s))",
                    path=source, column=feature.name, value=values.iloc[row],
                    fix=f"fill {feature.name!r} with numbers (e.g. impute the median) before loading.",
                )
            table[feature.name] = numeric.astype("float64")
        elif isinstance(feature, CategoricalFeature) and feature.dtype == "int":
            table[feature.name] = _typed_ids(values, "int", feature.name, source)
        else:
            table[feature.name] = values.fillna("").astype(str)
    if known_ids is None:
        return table
    require_feature_rows(known_ids, table, id_column, source)
    unused = int((~np.isin(table[id_column].to_numpy(), known_ids)).sum())
    if unused:
        logger.info("%s: %d feature row(s) have no interaction; kept as cold-start catalog rows",
                    source, unused)
    return table
