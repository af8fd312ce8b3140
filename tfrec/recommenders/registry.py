"""The model registry: every model name, registered once, with its factory, default parameters
and search space.

An entry names its factory and search space as ``"module:attribute"`` strings, imported only
when a model is built or tuned: listing the models (the CLI's help) never loads Surprise,
``implicit`` or the two-tower's Keras code. Adding a model is its file (a
:class:`~tfrec.recommenders.base.Recommender`, a factory taking a :class:`Build`, optionally a
search space) plus one :func:`register` line in :data:`ENTRIES` (docs/architecture.md shows a
worked example).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tfrec.errors import ConfigError

if TYPE_CHECKING:
    from tfrec.recommenders.base import Recommender

#: Families, for listing: Surprise's rating models, ``implicit``'s models, the rest.
FAMILIES = ("surprise", "linear", "implicit", "baseline", "two-tower")


@dataclasses.dataclass(frozen=True)
class Build:
    """What a factory gets: the name it is built under and the experiment's settings.

    Attributes:
        name: The registered name (the report's name).
        seed: Seed for every random part of the model.
        params: Parameters from ``--params`` or tuning, in the model's own terms.
        config: The two-tower's base :class:`~tfrec.model.config.ModelConfig` (others ignore it).
        implicit_as: How Surprise's rating models read implicit events (others ignore it).
    """

    name: str
    seed: int = 42
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    config: Any = None
    implicit_as: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes:
        name: Its name in ``--models`` and reports.
        family: One of :data:`FAMILIES`.
        factory: ``"module:function"``: ``function(build: Build, **options) -> Recommender``.
        options: Fixed keyword arguments of the factory and the search space (e.g. which
            Surprise algorithm).
        defaults: The default parameters in the search space's terms (the tuner's first trial,
            so a tuned model is never worse than the default on validation).
        space: ``"module:function"``: ``function(trial, **options) -> params`` (``None``:
            nothing to tune).
        needs_ratings: A rating predictor (Surprise's): implicit data needs ``implicit_as``.
        takes_params: Whether the model has parameters at all.
    """

    name: str
    family: str
    factory: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    space: str | None = None
    needs_ratings: bool = False
    takes_params: bool = True

    def build(self, build: Build) -> Recommender:
        """A fresh, unfitted model.

        Raises:
            ConfigError: Parameters the model does not take.
        """
        if build.params and not self.takes_params:
            raise ConfigError(f"{self.name} takes no parameters, got {sorted(build.params)}")
        try:
            return _resolve(self.factory)(build, **self.options)
        except TypeError as exc:
            raise ConfigError(f"{self.name}: invalid parameters {sorted(build.params)} ({exc})") from None

    def search_space(self) -> Callable[[Any], dict[str, Any]] | None:
        """``trial -> parameters`` for :mod:`tfrec.evaluation.tuning`; ``None``: nothing to tune."""
        if self.space is None:
            return None
        space, options = _resolve(self.space), dict(self.options)
        return lambda trial: space(trial, **options)


def _resolve(target: str) -> Callable[..., Any]:
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Adds ``entry`` to :data:`REGISTRY`.

    Raises:
        ValueError: The name is taken, or the family is unknown.
    """
    if entry.name in REGISTRY:
        raise ValueError(f"model {entry.name!r} is registered twice")
    if entry.family not in FAMILIES:
        raise ValueError(f"model {entry.name!r}: unknown family {entry.family!r}; use one of {FAMILIES}")
    REGISTRY[entry.name] = entry
    return entry


def entry(name: str) -> ModelEntry:
    """The entry of ``name``.

    Raises:
        ConfigError: Unknown name.
    """
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose from {list(REGISTRY)}")
    return REGISTRY[name]


def names(family: str | None = None) -> tuple[str, ...]:
    """Registered names in registration order (of one family, when given)."""
    return tuple(n for n, e in REGISTRY.items() if family is None or e.family == family)


_SURPRISE = "tfrec.recommenders.surprise_models"
_IMPLICIT = "tfrec.recommenders.implicit_models"
_TWO_TOWER = "tfrec.recommenders.two_tower"
_COSINE = {"name": "cosine"}
#: ModelConfig()'s values of the two-tower's search space (tested equal to them).
_TWO_TOWER_DEFAULTS = {"embedding_dim": 64, "learning_rate": 0.001, "epochs": 20, "history_dropout": 0.5,
                       "linear_l2": 200.0, "linear_dropout": 0.67}

#: Every model, in the order lists show them; the first three are the seed notebook's.
ENTRIES = tuple(register(e) for e in (
    ModelEntry("svd", "surprise", f"{_SURPRISE}:build", {"algorithm": "SVD"}, space=f"{_SURPRISE}:factor_space",
               defaults={"n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02}, needs_ratings=True),
    ModelEntry("user-knn", "surprise", f"{_SURPRISE}:build",
               {"algorithm": "KNNBasic", "sim_options": {**_COSINE, "user_based": True}},
               space=f"{_SURPRISE}:knn_space", defaults={"k": 40}, needs_ratings=True),
    ModelEntry("item-knn", "surprise", f"{_SURPRISE}:build",
               {"algorithm": "KNNBasic", "sim_options": {**_COSINE, "user_based": False}},
               space=f"{_SURPRISE}:knn_space", defaults={"k": 40}, needs_ratings=True),
    ModelEntry("svdpp", "surprise", f"{_SURPRISE}:build", {"algorithm": "SVDpp"}, space=f"{_SURPRISE}:factor_space",
               defaults={"n_factors": 20, "n_epochs": 20, "lr_all": 0.007, "reg_all": 0.02}, needs_ratings=True),
    ModelEntry("nmf", "surprise", f"{_SURPRISE}:build", {"algorithm": "NMF"}, space=f"{_SURPRISE}:nmf_space",
               defaults={"n_factors": 15, "n_epochs": 50}, needs_ratings=True),
    ModelEntry("baseline", "surprise", f"{_SURPRISE}:build", {"algorithm": "BaselineOnly"}, needs_ratings=True),
    ModelEntry("knn-baseline", "surprise", f"{_SURPRISE}:build", {"algorithm": "KNNBaseline"},
               space=f"{_SURPRISE}:knn_space", defaults={"k": 40}, needs_ratings=True),
    ModelEntry("knn-means", "surprise", f"{_SURPRISE}:build", {"algorithm": "KNNWithMeans"},
               space=f"{_SURPRISE}:knn_space", defaults={"k": 40}, needs_ratings=True),
    ModelEntry("slope-one", "surprise", f"{_SURPRISE}:build", {"algorithm": "SlopeOne"}, needs_ratings=True),
    ModelEntry("co-clustering", "surprise", f"{_SURPRISE}:build", {"algorithm": "CoClustering"},
               needs_ratings=True),
    ModelEntry("normal", "surprise", f"{_SURPRISE}:build", {"algorithm": "NormalPredictor"}, needs_ratings=True),
    ModelEntry("ease", "linear", "tfrec.recommenders.ease:build", space="tfrec.recommenders.ease:EASE.search_space",
               defaults={"l2": 300.0}),
    ModelEntry("als", "implicit", f"{_IMPLICIT}:build", {"kind": "als"}, space=f"{_IMPLICIT}:space",
               defaults={"factors": 64, "regularization": 1.0, "alpha": 2.0, "iterations": 15}),
    ModelEntry("bpr", "implicit", f"{_IMPLICIT}:build", {"kind": "bpr"}, space=f"{_IMPLICIT}:space",
               defaults={"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100}),
    ModelEntry("item-knn-bm25", "implicit", f"{_IMPLICIT}:build", {"kind": "bm25"}, space=f"{_IMPLICIT}:space",
               defaults={"K": 100, "K1": 1.2, "B": 0.75}),
    ModelEntry("item-knn-cosine", "implicit", f"{_IMPLICIT}:build", {"kind": "cosine"}, space=f"{_IMPLICIT}:space",
               defaults={"K": 100}),
    ModelEntry("item-knn-tfidf", "implicit", f"{_IMPLICIT}:build", {"kind": "tfidf"}, space=f"{_IMPLICIT}:space",
               defaults={"K": 100}),
    ModelEntry("popularity", "baseline", "tfrec.recommenders.baselines:build_popularity", takes_params=False),
    ModelEntry("random", "baseline", "tfrec.recommenders.baselines:build_random", takes_params=False),
    ModelEntry("two-tower", "two-tower", f"{_TWO_TOWER}:build", {"rank_by": "retrieval"}, space=f"{_TWO_TOWER}:space",
               defaults=_TWO_TOWER_DEFAULTS),
    ModelEntry("two-tower-rating", "two-tower", f"{_TWO_TOWER}:build", {"rank_by": "rating"},
               space=f"{_TWO_TOWER}:space", defaults=_TWO_TOWER_DEFAULTS),
))
