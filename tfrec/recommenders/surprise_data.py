"""Interaction frames as Surprise data: a ``Trainset`` and a testset of raw ids."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from surprise import Dataset as SurpriseDataset
from surprise import Reader

from tfrec.data.dataset import Dataset

IMPLICIT_TRANSFORMS = ("binary", "log1p")


def _ratings(dataset: Dataset, frame: pd.DataFrame, implicit_as: str | None = None) -> np.ndarray:
    """The rating column; for implicit events, 1 per event (``binary``) or ``log1p(weight)``."""
    schema = dataset.schema
    if schema.rating is not None:
        return frame[schema.rating].to_numpy(dtype=np.float64)
    if implicit_as == "log1p" and schema.weight:
        return np.log1p(np.maximum(frame[schema.weight].to_numpy(dtype=np.float64), 0.0))
    return np.ones(len(frame))


def rating_scale(dataset: Dataset, implicit_as: str | None = None) -> tuple[float, float]:
    """The declared rating scale, else the observed range of the (transformed) values."""
    schema = dataset.schema
    if schema.rating_scale is not None:
        return schema.rating_scale
    values = _ratings(dataset, dataset.interactions, implicit_as)
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    return (low, high) if high > low else (low, low + 1.0)


def to_surprise_trainset(dataset: Dataset, frame: pd.DataFrame, implicit_as: str | None = None) -> Any:
    """Builds a Surprise ``Trainset`` from interaction rows (raw ids kept as given)."""
    schema = dataset.schema
    table = pd.DataFrame({
        "user": frame[schema.user_id].to_numpy(),
        "item": frame[schema.item_id].to_numpy(),
        "rating": _ratings(dataset, frame, implicit_as),
    })
    data = SurpriseDataset.load_from_df(table, Reader(rating_scale=rating_scale(dataset, implicit_as)))
    return data.build_full_trainset()


def to_surprise_testset(dataset: Dataset, frame: pd.DataFrame) -> list[tuple]:
    """Builds a Surprise testset: a list of ``(raw_user, raw_item, rating)`` tuples."""
    schema = dataset.schema
    return list(zip(frame[schema.user_id].tolist(), frame[schema.item_id].tolist(),
                    _ratings(dataset, frame).tolist(), strict=True))
