"""Interaction frames as Surprise data: a ``Trainset`` and a testset of raw ids."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from surprise import Dataset as SurpriseDataset
from surprise import Reader

from tfrec.data.dataset import Dataset


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


def to_surprise_trainset(dataset: Dataset, frame: pd.DataFrame) -> Any:
    """Builds a Surprise ``Trainset`` from interaction rows (raw ids kept as given)."""
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
                    _ratings(dataset, frame).tolist(), strict=True))
