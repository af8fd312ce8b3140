"""Every model behind one interface (:class:`Recommender`), built by name."""

from __future__ import annotations

from typing import Any

from tfrec.errors import ConfigError
from tfrec.recommenders.base import Recommender
from tfrec.recommenders.baselines import Popularity, RandomRecommender

# name -> (Surprise class, constructor arguments); the first three are the seed notebook's.
SURPRISE_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "svd": ("SVD", {}),
    "user-knn": ("KNNBasic", {"sim_options": {"name": "cosine", "user_based": True}}),
    "item-knn": ("KNNBasic", {"sim_options": {"name": "cosine", "user_based": False}}),
    "svdpp": ("SVDpp", {}),
    "nmf": ("NMF", {}),
    "baseline": ("BaselineOnly", {}),
    "knn-baseline": ("KNNBaseline", {}),
    "knn-means": ("KNNWithMeans", {}),
    "slope-one": ("SlopeOne", {}),
    "co-clustering": ("CoClustering", {}),
    "normal": ("NormalPredictor", {}),
}
MODEL_NAMES = tuple(SURPRISE_MODELS) + ("popularity", "random", "two-tower", "two-tower-rating")
SEED_MODELS = ("svd", "user-knn", "item-knn", "two-tower")
DEFAULT_MODELS = SEED_MODELS + ("popularity",)


def make_model(name: str, *, seed: int = 42, config=None) -> Recommender:
    """Builds an unfitted model by name.

    Args:
        name: One of :data:`MODEL_NAMES`.
        seed: Seed for every random part of the model.
        config: :class:`~tfrec.model.config.ModelConfig` for the two-tower models.

    Raises:
        ConfigError: Unknown name.
    """
    if name in SURPRISE_MODELS:
        from tfrec.recommenders.surprise_models import SurpriseRecommender

        algorithm, params = SURPRISE_MODELS[name]
        return SurpriseRecommender(algorithm, name=name, seed=seed, **params)
    if name == "popularity":
        return Popularity()
    if name == "random":
        return RandomRecommender(seed=seed)
    if name in ("two-tower", "two-tower-rating"):
        from tfrec.model.config import ModelConfig
        from tfrec.recommenders.two_tower import TwoTowerRecommender

        config = (config or ModelConfig()).replace(seed=seed)
        rank_by = "rating" if name == "two-tower-rating" else "retrieval"
        return TwoTowerRecommender(config, rank_by=rank_by, name=name)
    raise ConfigError(f"unknown model {name!r}; choose from {list(MODEL_NAMES)}")


__all__ = ["DEFAULT_MODELS", "MODEL_NAMES", "Popularity", "RandomRecommender", "Recommender",
           "SEED_MODELS", "make_model"]
