"""Every model behind one interface (:class:`Recommender`), built by name from one registry
(:mod:`tfrec.recommenders.registry`: factory, defaults and search space per model).

Default model lists depend on the feedback: a schema with a rating column is explicit feedback
(:data:`EXPLICIT_DEFAULTS`); events only, optionally weighted, are implicit
(:data:`IMPLICIT_DEFAULTS`, without Surprise's rating models, which need ``implicit_as`` there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.recommenders.baselines import Popularity, RandomRecommender
from tfrec.recommenders.registry import REGISTRY, Build, ModelEntry, entry, names
from tfrec.schema import Schema

MODEL_NAMES = names()
#: Surprise's rating models and ``implicit``'s models (names).
SURPRISE_MODELS = names("surprise")
IMPLICIT_MODELS = names("implicit")
EXPLICIT_DEFAULTS = ("svd", "user-knn", "item-knn", "ease", "als", "two-tower", "popularity")
IMPLICIT_DEFAULTS = ("ease", "als", "bpr", "item-knn-bm25", "two-tower", "popularity")


def default_models(schema: Schema) -> tuple[str, ...]:
    """The default comparison for a data set: explicit (rated) or implicit (events) feedback."""
    return EXPLICIT_DEFAULTS if schema.rating is not None else IMPLICIT_DEFAULTS


def is_rating_model(name: str) -> bool:
    """Whether the model needs ratings (Surprise's rating predictors)."""
    return name in REGISTRY and REGISTRY[name].needs_ratings


def search_space(name: str) -> Callable[[Any], dict[str, Any]] | None:
    """``trial -> parameters`` of a model for :mod:`tfrec.evaluation.tuning` (``None``: nothing
    to tune, e.g. popularity).

    Raises:
        ConfigError: Unknown name.
    """
    return entry(name).search_space()


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
    return entry(name).build(Build(name, seed, dict(params or {}), config, implicit_as))


__all__ = ["EXPLICIT_DEFAULTS", "IMPLICIT_DEFAULTS", "IMPLICIT_MODELS", "MODEL_NAMES", "ModelEntry", "Popularity",
           "RandomRecommender", "Recommender", "SURPRISE_MODELS", "SeenItems", "default_models",
           "is_rating_model", "make_model", "search_space"]
