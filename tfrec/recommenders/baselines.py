"""Non-personalized baselines: popularity and random."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.recommenders.base import Recommender
from tfrec.recommenders.registry import Build


class Popularity(Recommender):
    """Scores an item by its number of training interactions (same list for every user)."""

    name = "popularity"
    predicts_ratings = False

    def _fit(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        counts = train[self.dataset.schema.item_id].value_counts()
        self._index = self.seen.catalog_index
        self._counts = np.zeros(len(self.catalog))
        self._counts[self._index.get_indexer(counts.index)] = counts.to_numpy()

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        codes = self._index.get_indexer(np.asarray(item_ids))
        return np.where(codes >= 0, self._counts[codes], 0.0)

    def score_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._counts, (len(user_ids), len(self.catalog))).copy()


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a fast, well-spread hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class RandomRecommender(Recommender):
    """Uniform random scores in [0, 1), a fixed function of (seed, user, item).

    Args:
        seed: Random seed; the same seed gives the same lists whatever the batching.
    """

    name = "random"
    predicts_ratings = False

    def __init__(self, *, seed: int = 42) -> None:
        super().__init__()
        self.seed = int(seed)

    def _fit(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        pass

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        users = pd.util.hash_array(np.asarray(user_ids).astype(str).astype(object))
        items = pd.util.hash_array(np.asarray(item_ids).astype(str).astype(object))
        mixed = _mix(_mix(users ^ np.uint64(self.seed)) ^ items)
        return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def build_popularity(build: Build) -> Popularity:
    """The registry's factory of ``popularity``."""
    return Popularity()


def build_random(build: Build) -> RandomRecommender:
    """The registry's factory of ``random``."""
    return RandomRecommender(seed=build.seed)
