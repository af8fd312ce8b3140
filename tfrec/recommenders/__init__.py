"""Every model behind one interface (:class:`Recommender`), built by name, with its search space.

Default model lists depend on the feedback: a schema with a rating column is explicit feedback
(:data:`EXPLICIT_DEFAULTS`); events only, optionally weighted, are implicit
(:data:`IMPLICIT_DEFAULTS`, without Surprise's rating models, which need ``implicit_as`` there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfrec.errors import ConfigError
from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.recommenders.baselines import Popularity, RandomRecommender
from tfrec.schema import Schema

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
# name -> kind of :class:`~tfrec.recommenders.implicit_models.ImplicitRecommender`.
IMPLICIT_MODELS = {"als": "als", "bpr": "bpr", "item-knn-bm25": "bm25", "item-knn-cosine": "cosine",
                   "item-knn-tfidf": "tfidf"}
MODEL_NAMES = (tuple(SURPRISE_MODELS) + ("ease",) + tuple(IMPLICIT_MODELS)
               + ("popularity", "random", "two-tower", "two-tower-rating"))
EXPLICIT_DEFAULTS = ("svd", "user-knn", "item-knn", "ease", "als", "two-tower", "popularity")
IMPLICIT_DEFAULTS = ("ease", "als", "bpr", "item-knn-bm25", "two-tower", "popularity")


def default_models(schema: Schema) -> tuple[str, ...]:
    """The default comparison for a data set: explicit (rated) or implicit (events) feedback."""
    return EXPLICIT_DEFAULTS if schema.rating is not None else IMPLICIT_DEFAULTS


def is_rating_model(name: str) -> bool:
    """Whether the model needs ratings (Surprise's rating predictors)."""
    return name in SURPRISE_MODELS


def _surprise_space(name: str, trial: Any) -> dict[str, Any]:
    """Search spaces of the Surprise adapters (constructor arguments of their classes)."""
    if name in ("svd", "svdpp", "nmf"):
        space = {"n_factors": trial.suggest_int("n_factors", 10, 200, log=True),
                 "n_epochs": trial.suggest_int("n_epochs", 10, 60)}
        if name != "nmf":
            space.update(lr_all=trial.suggest_float("lr_all", 1e-3, 0.05, log=True),
                         reg_all=trial.suggest_float("reg_all", 1e-3, 0.5, log=True))
        return space
    if name in ("user-knn", "item-knn", "knn-baseline", "knn-means"):
        return {"k": trial.suggest_int("k", 5, 200, log=True)}
    return {}


def _two_tower_space(trial: Any) -> dict[str, Any]:
    """The two-tower's main knobs (fields of :class:`~tfrec.model.config.ModelConfig`)."""
    return {"embedding_dim": trial.suggest_categorical("embedding_dim", [200, 400, 600, 800]),
            "learning_rate": trial.suggest_float("learning_rate", 2e-4, 5e-3, log=True),
            "epochs": trial.suggest_int("epochs", 5, 40),
            "history_dropout": trial.suggest_float("history_dropout", 0.0, 0.7)}


#: Each model's default parameters in the terms of its search space (the tuner tries them
#: first, so tuned parameters are never worse than the defaults on validation).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "svd": {"n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02},
    "svdpp": {"n_factors": 20, "n_epochs": 20, "lr_all": 0.007, "reg_all": 0.02},
    "nmf": {"n_factors": 15, "n_epochs": 50},
    "user-knn": {"k": 40}, "item-knn": {"k": 40}, "knn-baseline": {"k": 40}, "knn-means": {"k": 40},
    "ease": {"l2": 300.0},
    "als": {"factors": 64, "regularization": 1.0, "alpha": 2.0, "iterations": 15},
    "bpr": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    "item-knn-bm25": {"K": 100, "K1": 1.2, "B": 0.75}, "item-knn-cosine": {"K": 100}, "item-knn-tfidf": {"K": 100},
    "two-tower": {"embedding_dim": 600, "learning_rate": 0.001, "epochs": 30, "history_dropout": 0.3},
}
DEFAULT_PARAMS["two-tower-rating"] = DEFAULT_PARAMS["two-tower"]


def search_space(name: str) -> Callable[[Any], dict[str, Any]] | None:
    """``trial -> parameters`` of a model for :mod:`tfrec.evaluation.tuning` (``None``: nothing
    to tune, e.g. popularity)."""
    from tfrec.recommenders.ease import EASE
    from tfrec.recommenders.implicit_models import ImplicitRecommender

    if name in SURPRISE_MODELS and name not in ("baseline", "slope-one", "co-clustering", "normal"):
        return lambda trial: _surprise_space(name, trial)
    if name == "ease":
        return EASE.search_space
    if name in IMPLICIT_MODELS:
        return lambda trial: ImplicitRecommender.search_space(IMPLICIT_MODELS[name], trial)
    if name in ("two-tower", "two-tower-rating"):
        return _two_tower_space
    return None


def make_model(name: str, *, seed: int = 42, config: Any = None, params: dict[str, Any] | None = None,
               implicit_as: str | None = None) -> Recommender:
    """Builds an unfitted model by name.

    Args:
        name: One of :data:`MODEL_NAMES`.
        seed: Seed for every random part of the model.
        config: :class:`~tfrec.model.config.ModelConfig` for the two-tower models.
        params: Parameters (e.g. tuned by ``tfrec tune``): constructor arguments of the adapter,
            or ``ModelConfig`` fields for the two-tower models.
        implicit_as: How Surprise's rating models read implicit events (``binary``/``log1p``).

    Raises:
        ConfigError: Unknown name or parameters.
    """
    params = dict(params or {})
    try:
        if name in SURPRISE_MODELS:
            from tfrec.recommenders.surprise_models import SurpriseRecommender

            algorithm, defaults = SURPRISE_MODELS[name]
            return SurpriseRecommender(algorithm, name=name, seed=seed, implicit_as=implicit_as,
                                       **{**defaults, **params})
        if name == "ease":
            from tfrec.recommenders.ease import EASE

            return EASE(**params)
        if name in IMPLICIT_MODELS:
            from tfrec.recommenders.implicit_models import ImplicitRecommender

            return ImplicitRecommender(IMPLICIT_MODELS[name], seed=seed, name=name, **params)
        if name == "popularity" and not params:
            return Popularity()
        if name == "random" and not params:
            return RandomRecommender(seed=seed)
        if name in ("two-tower", "two-tower-rating"):
            from tfrec.model.config import ModelConfig
            from tfrec.recommenders.two_tower import TwoTowerRecommender

            config = (config or ModelConfig()).replace(seed=seed, **params)
            rank_by = "rating" if name == "two-tower-rating" else "retrieval"
            return TwoTowerRecommender(config, rank_by=rank_by, name=name)
    except TypeError as exc:
        raise ConfigError(f"{name}: invalid parameters {sorted(params)} ({exc})") from None
    if name in ("popularity", "random"):
        raise ConfigError(f"{name} takes no parameters, got {sorted(params)}")
    raise ConfigError(f"unknown model {name!r}; choose from {list(MODEL_NAMES)}")


__all__ = ["EXPLICIT_DEFAULTS", "IMPLICIT_DEFAULTS", "MODEL_NAMES", "Popularity",
           "RandomRecommender", "Recommender", "SeenItems", "default_models",
           "is_rating_model", "make_model", "search_space"]
