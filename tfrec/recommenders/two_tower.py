"""The two-tower model behind the :class:`Recommender` interface."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tfrec.data.columns import side_columns
from tfrec.data.holdout import nested_seed
from tfrec.data.sources import FrameSource
from tfrec.errors import ConfigError, TfrecError
from tfrec.model.config import ModelConfig
from tfrec.model.features.history_table import HISTORY_ITEMS, HISTORY_WEIGHTS
from tfrec.model.network.tower import batched_apply
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.fit import TrainResult, train
from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.recommenders.registry import Build

RANK_BY = ("retrieval", "rating")


class TwoTowerRecommender(Recommender):
    """Trains :class:`~tfrec.model.network.two_tower.TwoTowerModel` through :func:`tfrec.model.training.fit.train`.

    Args:
        config: Model and training options (default: :class:`ModelConfig` defaults).
        rank_by: ``"retrieval"`` ranks the catalog by the towers' dot product (what the
            retrieval task learns); ``"rating"`` ranks by the predicted rating.
        name: Report name.

    :meth:`score` is the ranking score (dot product or predicted rating, by ``rank_by``) and
    :meth:`predict` the rating head's predicted rating (needs ``rating_weight > 0``). Users and
    items unknown to training -- even absent from the feature tables -- are scored through
    the out-of-vocabulary embeddings and their known features, never an error. Validation rows
    given to :meth:`fit` are the model's validation set (early stopping, validation curves);
    without them, ``validation_ratio`` holds out rows by the split's carve when :meth:`fit` is
    given one (the harness does), else by the hash.
    """

    def __init__(self, config: ModelConfig | None = None, *, rank_by: str = "retrieval",
                 name: str = "two-tower") -> None:
        super().__init__()
        if rank_by not in RANK_BY:
            raise ConfigError(f"rank_by must be one of {list(RANK_BY)}, got {rank_by!r}")
        self.config = config or ModelConfig()
        if rank_by == "retrieval" and self.config.retrieval_weight == 0:
            raise ConfigError("rank_by='retrieval' needs retrieval_weight > 0")
        self.rank_by = rank_by
        self.name = name
        self.predicts_ratings = self.config.rating_weight > 0
        self._model: TwoTowerModel | None = None
        self.result: TrainResult | None = None

    @property
    def model(self) -> TwoTowerModel:
        """The trained model."""
        if self._model is None:
            raise self.not_fitted()
        return self._model

    def _fit(self, train_rows: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        if self.dataset.schema.rating is None:
            self.predicts_ratings = False
        source = FrameSource(self.dataset, train_rows.reset_index(drop=True), "train")
        held_out = (FrameSource(self.dataset, validation.reset_index(drop=True), "validation")
                    if validation is not None and len(validation) else None)
        carve = None
        if held_out is None and self.carve is not None and self.config.validation_ratio > 0:
            # The split's own carve (the latest rows of a temporal split) instead of the hash.
            kept, held = self.carve(self.config.validation_ratio, nested_seed(self.config.seed))
            if held is not None:
                carve = (FrameSource(self.dataset, kept, "train"), FrameSource(self.dataset, held, "validation"))
        self.result = train(self.config, source, held_out, carve=carve, progress=self.progress,
                            tensorboard_dir=self.log_dir)
        self._model = self.result.model
        # train() indexed the whole catalog (dataset.item_ids order = self.catalog order).
        self._scorer = CatalogScorer(self.model.indexed_item_embeddings, self.model.linear_columns())

    def _pair_columns(self, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        return {**side_columns(self.dataset, "user", np.asarray(user_ids), missing="default"),
                **side_columns(self.dataset, "item", np.asarray(item_ids), missing="default")}

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        self._check_fitted()
        if not self.predicts_ratings:
            raise TfrecError(f"{self.name} has no rating head (rating_weight = 0 or no ratings)")
        columns = self._pair_columns(user_ids, item_ids)
        return batched_apply(self.model.predict_rating, columns).astype(np.float64)

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        self._check_fitted()
        if self.rank_by == "rating":
            return self.predict(user_ids, item_ids)
        columns = self._pair_columns(user_ids, item_ids)
        queries = batched_apply(self.model.query_embedding, columns)
        items = batched_apply(self.model.candidate_embedding, columns)
        return np.sum(queries * items, axis=1).astype(np.float64)

    @property
    def uses_history(self) -> bool:  # type: ignore[override]
        """Models trained with ``history = true`` serve any history without retraining."""
        return self.config.history and self.rank_by == "retrieval"

    def score_histories(self, user_ids: np.ndarray, history: SeenItems) -> np.ndarray:
        if not self.uses_history:
            return self.score_matrix(user_ids)
        user_ids = np.asarray(user_ids)
        rows = history.rows(user_ids)
        lengths = np.where(rows >= 0, history.indptr[rows + 1] - history.indptr[np.maximum(rows, 0)], 0)
        width = max(1, int(lengths.max()) if len(lengths) else 1)
        # Catalog positions of each user's items, padded with position 0 at weight 0.
        positions = np.zeros((len(rows), width), dtype=np.int64)
        weights = np.zeros((len(rows), width), dtype=np.float32)
        for i, (row, n) in enumerate(zip(rows, lengths, strict=True)):
            if n:
                positions[i, :n] = history.codes_of(row)
                weights[i, :n] = 1.0
        columns = side_columns(self.dataset, "user", user_ids, missing="default")
        columns[HISTORY_ITEMS] = self.catalog[positions]
        columns[HISTORY_WEIGHTS] = weights
        return self._scorer(batched_apply(self.model.query_embedding, columns))

    def score_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        self._check_fitted()
        user_ids = np.asarray(user_ids)
        if self.rank_by == "rating":
            return super().score_matrix(user_ids)
        return self._scorer(batched_apply(self.model.query_embedding,
                                          side_columns(self.dataset, "user", user_ids, missing="default")))


class CatalogScorer:
    """Every catalog item's score for query embeddings: their dot products with the indexed
    item embeddings, the linear path's columns (a multi-hot history: a few nonzeros among
    ``n_index``) as a sparse product -- ``history nonzeros x catalog`` multiply-adds instead of
    ``n_index x catalog`` per user.

    Args:
        items: ``[n_catalog, dim]`` the indexed item embeddings.
        linear: Where the linear path's columns are in both embeddings (``None``: no path).
    """

    def __init__(self, items: np.ndarray, linear: slice | None) -> None:
        self.linear = linear
        if linear is None:
            self.dense = items
            self.rows = None
        else:
            self.dense = np.ascontiguousarray(np.delete(items, np.arange(linear.start, linear.stop), axis=1))
            self.rows = np.ascontiguousarray(items[:, linear].T)  # [n_index, n_catalog]: B's rows by history item

    def __call__(self, queries: np.ndarray) -> np.ndarray:
        """Scores ``[n, n_catalog]`` (float64) of queries ``[n, dim]``."""
        if self.linear is None or self.rows is None:
            return (queries @ self.dense.T).astype(np.float64)
        dense = np.delete(queries, np.arange(self.linear.start, self.linear.stop), axis=1)
        scores = dense @ self.dense.T
        scores += sp.csr_matrix(queries[:, self.linear]) @ self.rows
        return scores.astype(np.float64)


def build(build: Build, *, rank_by: str) -> TwoTowerRecommender:
    """The registry's factory: the build's config (default :class:`ModelConfig`) with its seed and
    parameters, ranking by ``rank_by``."""
    config = (build.config or ModelConfig()).replace(seed=build.seed, **build.params)
    return TwoTowerRecommender(config, rank_by=rank_by, name=build.name)


def space(trial: Any, **_: Any) -> dict[str, Any]:
    """The two-tower's main knobs (fields of :class:`~tfrec.model.config.ModelConfig`): the
    towers' width, step size, epochs and history dropout, and the linear path's closed form."""
    return {"embedding_dim": trial.suggest_categorical("embedding_dim", [32, 64, 128]),
            "learning_rate": trial.suggest_float("learning_rate", 2e-4, 5e-3, log=True),
            "epochs": trial.suggest_int("epochs", 1, 30),
            "history_dropout": trial.suggest_float("history_dropout", 0.0, 0.7),
            "linear_l2": trial.suggest_float("linear_l2", 20.0, 3000.0, log=True),
            "linear_dropout": trial.suggest_float("linear_dropout", 0.2, 0.8)}
