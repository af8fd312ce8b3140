"""Models of the ``implicit`` library behind the :class:`Recommender` interface.

``als`` (implicit ALS, Hu et al. 2008), ``bpr`` (Rendle et al. 2009) and item-item
neighbourhoods weighted by ``bm25``, ``cosine`` or ``tfidf``. Each adapter turns the split's
training rows into one CSR matrix ``[users, catalog]`` and scores the catalog the way
``implicit``'s own ``recommend`` does -- factor products, or ``x_u S`` with the item-item
similarity ``S`` -- so the harness ranks them through the same top-k path as every model.

Values of the matrix: 1 for each interaction of an explicit (rated) data set -- relevance is the
interaction, as in the evaluation protocol; for implicit data with a weight column (play counts)
``log1p(weight)``, which ALS turns into the confidence ``1 + alpha * log1p(w)``.

Users without training items get the popularity ranking. BPR trains on one thread: its
multi-threaded updates race (Hogwild) and would make results depend on timing.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tfrec.errors import ConfigError
from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.recommenders.registry import Build

KINDS = ("als", "bpr", "bm25", "cosine", "tfidf")


class ImplicitRecommender(Recommender):
    """One ``implicit`` model.

    Args:
        kind: ``als``, ``bpr``, ``bm25``, ``cosine`` or ``tfidf``.
        seed: ``random_state`` of the factor models.
        name: Report name.
        **params: Constructor arguments of the ``implicit`` class (``factors``,
            ``regularization``, ``alpha``, ``iterations``, ``learning_rate``, ``K``, ``K1``, ``B``).
    """

    predicts_ratings = False

    def __init__(self, kind: str, *, seed: int = 42, name: str | None = None, **params: Any) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"unknown implicit model {kind!r}; use one of {list(KINDS)}")
        self.kind, self.seed, self.params = kind, int(seed), dict(params)
        self.name = name or kind
        self._model: Any = None

    @staticmethod
    def search_space(kind: str, trial: Any) -> dict[str, Any]:
        """Optuna search space of ``kind``'s parameters."""
        if kind == "als":
            return {"factors": trial.suggest_int("factors", 16, 256, log=True),
                    "regularization": trial.suggest_float("regularization", 1e-3, 100.0, log=True),
                    "alpha": trial.suggest_float("alpha", 0.1, 50.0, log=True),
                    "iterations": trial.suggest_int("iterations", 5, 30)}
        if kind == "bpr":
            return {"factors": trial.suggest_int("factors", 16, 256, log=True),
                    "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.2, log=True),
                    "regularization": trial.suggest_float("regularization", 1e-5, 0.1, log=True),
                    "iterations": trial.suggest_int("iterations", 20, 200, log=True)}
        space = {"K": trial.suggest_int("K", 10, 1000, log=True)}
        if kind == "bm25":
            space.update(K1=trial.suggest_float("K1", 0.1, 3.0), B=trial.suggest_float("B", 0.0, 1.0))
        return space

    def _values(self, train: pd.DataFrame) -> np.ndarray | None:
        schema = self.dataset.schema
        if schema.rating is None and schema.weight:
            weights = self.seen.ordered(train, schema.weight, schema.user_id, schema.item_id)
            return np.log1p(np.maximum(weights.astype(np.float64), 0.0))
        return None

    def _fit(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

        self._x = self.seen.matrix(self._values(train))
        # implicit runs its own threads: BLAS's pool on top of them oversubscribes the cores.
        with warnings.catch_warnings(), threadpool_limits(1, "blas"):
            warnings.filterwarnings("ignore", message="Method expects CSR input")  # KNN weighting
            warnings.filterwarnings("ignore", message="OpenBLAS is configured")
            if self.kind == "als":
                params = {"factors": 64, "regularization": 1.0, "alpha": 2.0, **self.params}
                self._model = AlternatingLeastSquares(random_state=self.seed, **params)
            elif self.kind == "bpr":
                params = {"factors": 64, **self.params}
                self._model = BayesianPersonalizedRanking(random_state=self.seed, num_threads=1, **params)
            else:
                cls = {"bm25": BM25Recommender, "cosine": CosineRecommender, "tfidf": TFIDFRecommender}[self.kind]
                self._model = cls(**{"K": 100, **self.params})
            self._model.fit(self._x, show_progress=False)
        self._popularity = np.asarray(self._x.sum(axis=0), dtype=np.float32).ravel()

    @property
    def model(self) -> Any:
        """The fitted ``implicit`` model (user rows = this adapter's training-user order)."""
        return self._model

    @property
    def user_items(self) -> Any:
        """The training CSR matrix ``[train users, catalog]`` the model was fitted on."""
        return self._x

    def score_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        rows = self.seen.rows(np.asarray(user_ids))
        known = rows >= 0
        scores = np.empty((len(rows), len(self.catalog)), dtype=np.float32)
        if self.kind in ("als", "bpr"):  # the product written in place (unknown rows overwritten below)
            np.matmul(self._model.user_factors[np.maximum(rows, 0)], self._model.item_factors.T, out=scores)
        else:
            scores[known] = (self._x[rows[known]] @ self._model.similarity).toarray()
        scores[~known] = self._popularity
        return scores

    @property
    def uses_history(self) -> bool:  # type: ignore[override]
        """Item-item models score any history; ALS folds a history in (``recalculate_user``);
        BPR cannot."""
        return self.kind != "bpr"

    def score_histories(self, user_ids: np.ndarray, history: SeenItems) -> np.ndarray:
        if not self.uses_history:
            return self.score_matrix(user_ids)
        rows = history.rows(np.asarray(user_ids))
        known = rows >= 0
        scores = np.empty((len(rows), len(self.catalog)), dtype=np.float32)
        items = history.ones[rows[known]]
        if self.kind == "als":
            factors = self._model.recalculate_user(np.arange(items.shape[0]), items)
            scores[known] = np.atleast_2d(factors) @ self._model.item_factors.T
        else:
            scores[known] = (items @ self._model.similarity).toarray()
        scores[~known] = self._popularity
        return scores

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        return self.score_pairs(user_ids, item_ids)


def build(build: Build, *, kind: str) -> ImplicitRecommender:
    """The registry's factory: one ``implicit`` model of ``kind``."""
    return ImplicitRecommender(kind, seed=build.seed, name=build.name, **build.params)


def space(trial: Any, *, kind: str) -> dict[str, Any]:
    """The registry's search space of ``kind`` (:meth:`ImplicitRecommender.search_space`)."""
    return ImplicitRecommender.search_space(kind, trial)
