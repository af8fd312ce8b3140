"""The :class:`Dataset` every loader returns and every split and model consumes."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from tfrec.data.validate import (
    CleaningReport,
    DuplicatePolicy,
    InvalidPolicy,
    clean_features,
    clean_interactions,
)
from tfrec.errors import DataError
from tfrec.schema import Schema

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Dataset:
    """Validated interactions plus optional user and item feature tables.

    Attributes:
        name: Human-readable name (``"ml-100k"``, ``"synthetic"``, a file name).
        schema: Column names and typed features.
        interactions: One row per (user, item) with the schema's interaction columns.
        users: One row per user id with the user features, or ``None``.
        items: One row per item id with the item features (the whole catalog), or ``None``.
        folds: Predefined train/test folds by name (ml-100k ``u1``..``u5``, ``ua``, ``ub``).
        report: What validation dropped or merged.
    """

    name: str
    schema: Schema
    interactions: pd.DataFrame
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    folds: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = dataclasses.field(default_factory=dict)
    report: CleaningReport = dataclasses.field(default_factory=CleaningReport)

    @property
    def user_ids(self) -> np.ndarray:
        """All known user ids: the feature table's, else those in the interactions."""
        source = self.users if self.users is not None else self.interactions
        return np.unique(source[self.schema.user_id].to_numpy())

    @property
    def item_ids(self) -> np.ndarray:
        """The item catalog: the feature table's ids, else those in the interactions."""
        source = self.items if self.items is not None else self.interactions
        return np.unique(source[self.schema.item_id].to_numpy())

    def describe(self) -> dict:
        """Returns summary statistics (JSON-ready) of the interactions and feature tables."""
        schema, frame = self.schema, self.interactions
        n_users = frame[schema.user_id].nunique()
        n_items = frame[schema.item_id].nunique()
        out = {
            "name": self.name,
            "interactions": len(frame),
            "users": int(n_users),
            "items": int(n_items),
            "catalog_items": int(len(self.item_ids)),
            "density": float(len(frame) / max(1, n_users * n_items)),
            "per_user": _quantiles(frame.groupby(schema.user_id).size()),
            "per_item": _quantiles(frame.groupby(schema.item_id).size()),
            "folds": sorted(self.folds),
            "cleaning": self.report.to_dict(),
        }
        if schema.rating is not None:
            ratings = frame[schema.rating]
            counts = ratings.value_counts().sort_index()
            out["rating"] = {
                "mean": float(ratings.mean()),
                "std": float(ratings.std(ddof=0)),
                "histogram": {f"{k:g}": int(v) for k, v in counts.items()},
            }
        if schema.timestamp is not None:
            ts = frame[schema.timestamp]
            out["timestamp"] = {"min": float(ts.min()), "max": float(ts.max())}
        out["features"] = {
            side: [f"{f.name} ({f.kind})" for f in getattr(schema, f"{side}_features")]
            for side in ("user", "item", "context")
        }
        return out


def _quantiles(counts: pd.Series) -> dict[str, float]:
    return {
        "min": int(counts.min()),
        "median": float(counts.median()),
        "mean": float(counts.mean()),
        "max": int(counts.max()),
    }


def build_dataset(
    name: str,
    schema: Schema,
    interactions: pd.DataFrame,
    *,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    folds: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    source: str | None = None,
    line_offset: int | None = None,
    duplicates: DuplicatePolicy = "last",
    invalid: InvalidPolicy = "error",
    user_source: str | None = None,
    item_source: str | None = None,
) -> Dataset:
    """Validates the tables against ``schema`` and assembles a :class:`Dataset`.

    Args:
        name: Data-set name.
        schema: Describes every table.
        interactions: Raw interactions (row ``i`` = line ``i + line_offset`` of ``source``).
        users: User feature table, required when the schema has user features.
        items: Item feature table, required when the schema has item features.
        folds: Predefined (train, test) frames by name; validated like the interactions.
        source: File name for messages (defaults to ``name``).
        line_offset: Line number of the first interaction row in ``source``.
        duplicates: Duplicate (user, item) policy, see :func:`clean_interactions`.
        invalid: Invalid-row policy, see :func:`clean_interactions`.
        user_source: The user table's file, named in its messages (default: a name derived
            from ``source``).
        item_source: The item table's file, likewise.

    Raises:
        DataError: Any validation failure.
    """
    source = source or name
    report = CleaningReport()
    frame, report = clean_interactions(
        interactions, schema, source=source, line_offset=line_offset,
        duplicates=duplicates, invalid=invalid, report=report,
    )
    if schema.user_features and users is None:
        raise_missing_table(source, "user", schema)
    if schema.item_features and items is None:
        raise_missing_table(source, "item", schema)
    if users is not None:
        users = clean_features(users, id_column=schema.user_id, id_dtype=schema.user_id_dtype,
                               features=schema.user_features,
                               known_ids=frame[schema.user_id].unique(),
                               source=user_source or f"{source} (user features)", report=report)
    if items is not None:
        items = clean_features(items, id_column=schema.item_id, id_dtype=schema.item_id_dtype,
                               features=schema.item_features,
                               known_ids=frame[schema.item_id].unique(),
                               source=item_source or f"{source} (item features)", report=report)
    cleaned_folds = {}
    for fold, (train, test) in (folds or {}).items():
        parts = []
        for part_name, part in (("train", train), ("test", test)):
            cleaned, _ = clean_interactions(part, schema, source=f"{source} fold {fold} {part_name}",
                                            duplicates=duplicates, invalid=invalid)
            parts.append(cleaned)
        cleaned_folds[fold] = (parts[0], parts[1])
    logger.info("%s: %d interactions, %d users, %d items", name, len(frame),
                frame[schema.user_id].nunique(), frame[schema.item_id].nunique())
    return Dataset(name=name, schema=schema, interactions=frame, users=users, items=items,
                   folds=cleaned_folds, report=report)


def raise_missing_table(source: str, side: str, schema: Schema) -> None:
    """Raises the error for a schema with ``side`` features but no ``side`` table."""
    names = [f.name for f in getattr(schema, f"{side}_features")]
    id_column = schema.user_id if side == "user" else schema.item_id
    raise DataError(
        f"the schema lists {side} features {names} but no {side} feature table was given",
        path=source,
        fix=f"pass the {side} table (--{side}s TABLE: CSV or Parquet keyed by {id_column!r}), or remove "
            f"{side}_features from the schema.",
    )
