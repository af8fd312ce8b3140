"""The one model interface every recommender in tfrec implements.

A model implements :meth:`Recommender._fit` and the pointwise primitive
:meth:`Recommender.score`; the base class builds full-catalog scoring, batched
:meth:`Recommender.recommend` (with seen-item filtering and candidate restriction) and the
counting of unknown users/items. Ids are always the data set's raw ids; each adapter keeps its
own inner ids private.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.errors import TfrecError

logger = logging.getLogger(__name__)


class Recommender:
    """Base class: fit on training interactions, score (user, item) pairs, recommend top-k.

    Attributes:
        name: Short model name used in reports.
        predicts_ratings: Whether :meth:`score` is a predicted rating (RMSE/MAE make sense).
        catalog: ``[n_items]`` raw ids of every item that may be recommended.
    """

    name = "recommender"
    predicts_ratings = True

    def __init__(self) -> None:
        self.dataset: Dataset | None = None
        self.catalog: np.ndarray = np.array([])
        self._catalog_index = pd.Index([])
        self._train_users = pd.Index([])
        self._train_items = pd.Index([])
        self._seen_indptr = np.zeros(1, dtype=np.int64)
        self._seen_items = np.array([], dtype=np.int64)
        self.global_mean = 0.0
        self._fitted = False

    # ------------------------------------------------------------------ to implement
    def _fit(self, train: pd.DataFrame) -> None:
        """Fits the model on ``train`` (``self.dataset`` and the indices are ready)."""
        raise NotImplementedError

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Scores ``[n]`` (user, item) pairs of raw ids; a predicted rating when
        :attr:`predicts_ratings`. Unknown ids get the model's documented fallback."""
        raise NotImplementedError

    # ------------------------------------------------------------------ provided
    def fit(self, train: pd.DataFrame, dataset: Dataset) -> Recommender:
        """Fits on the training interactions of ``dataset``.

        Args:
            train: Training interactions (a split's ``train`` frame; never test rows).
            dataset: Schema, feature tables and the item catalog.

        Returns:
            ``self``.
        """
        schema = dataset.schema
        self.dataset = dataset
        self.catalog = np.asarray(dataset.item_ids)
        self._catalog_index = pd.Index(self.catalog)
        users = train[schema.user_id].to_numpy()
        items = train[schema.item_id].to_numpy()
        self._train_users = pd.Index(np.unique(users))
        self._train_items = pd.Index(np.unique(items))
        user_rows = self._train_users.get_indexer(users)
        item_codes = self._catalog_index.get_indexer(items)
        if (item_codes < 0).any():
            raise TfrecError(f"{(item_codes < 0).sum()} training item(s) are not in the catalog of "
                             f"{dataset.name}; the item feature table must list every item")
        order = np.lexsort((item_codes, user_rows))
        self._seen_items = item_codes[order]
        self._seen_indptr = np.searchsorted(user_rows[order], np.arange(len(self._train_users) + 1))
        if schema.rating is not None:
            self.global_mean = float(train[schema.rating].mean())
        self._fit(train)
        self._fitted = True
        return self

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise TfrecError(f"{self.name}: call fit() before scoring or recommending")

    def score_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        """Scores every catalog item for each user: ``[n_users, n_catalog]``.

        The default repeats :meth:`score` over the catalog (vectorized); models override it
        when they can do better (factor products, neighbourhood aggregation, embeddings).
        """
        user_ids = np.asarray(user_ids)
        n_items = len(self.catalog)
        scores = self.score(np.repeat(user_ids, n_items), np.tile(self.catalog, len(user_ids)))
        return np.asarray(scores, dtype=np.float64).reshape(len(user_ids), n_items)

    def seen_items(self, user_id) -> np.ndarray:
        """Raw ids of the items ``user_id`` interacted with in training."""
        row = self._train_users.get_indexer([user_id])[0]
        if row < 0:
            return self.catalog[:0]
        return self.catalog[self._seen_items[self._seen_indptr[row]:self._seen_indptr[row + 1]]]

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True, candidates=None,
                  batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for each user, best first.

        Args:
            user_ids: ``[n_users]`` raw user ids (unknown users get the model's fallback).
            k: List length. When fewer items are available (small catalog, many seen items),
                the remaining slots hold the best excluded items with score ``-inf``.
            exclude_seen: Drop each user's training items.
            candidates: Restrict to these raw item ids (default: the whole catalog).
            batch_size: Users scored at once.

        Returns:
            ``(item_ids [n_users, k], scores [n_users, k])``; ties are broken by catalog order.

        Raises:
            TfrecError: ``k < 1``, unfitted model, or candidates outside the catalog.
        """
        self._check_fitted()
        if int(k) != k or k < 1:
            raise TfrecError(f"k must be a positive integer, got {k!r}")
        user_ids = np.asarray(user_ids)
        if candidates is None:
            codes = np.arange(len(self.catalog))
        else:
            codes = self._catalog_index.get_indexer(np.asarray(candidates))
            if (codes < 0).any():
                bad = np.asarray(candidates)[codes < 0][0]
                raise TfrecError(f"candidate item {bad!r} is not in the catalog")
        k = int(min(k, len(codes)))
        position = np.full(len(self.catalog), -1)
        position[codes] = np.arange(len(codes))
        all_ids, all_scores = [], []
        for start in range(0, len(user_ids), batch_size):
            batch = user_ids[start:start + batch_size]
            scores = self.score_matrix(batch)[:, codes].astype(np.float64)
            if exclude_seen:
                rows = self._train_users.get_indexer(batch)
                for r, row in enumerate(rows):  # one slice per user, vectorized inside
                    if row >= 0:
                        seen = position[self._seen_items[self._seen_indptr[row]:self._seen_indptr[row + 1]]]
                        scores[r, seen[seen >= 0]] = -np.inf
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            all_ids.append(self.catalog[codes[top]])
            all_scores.append(np.take_along_axis(scores, top, axis=1))
        if not all_ids:
            return self.catalog[:0].reshape(0, k), np.zeros((0, k))
        return np.concatenate(all_ids), np.concatenate(all_scores)

    def unknown_counts(self, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, int]:
        """How many of the pairs have a user, or an item, never seen in training."""
        users = self._train_users.get_indexer(np.asarray(user_ids)) < 0
        items = self._train_items.get_indexer(np.asarray(item_ids)) < 0
        return {"pairs": int(len(users)), "unknown_users": int(users.sum()),
                "unknown_items": int(items.sum()), "unknown_either": int((users | items).sum())}
