"""The one model interface every recommender in tfrec implements.

A model implements :meth:`Recommender._fit` and the pointwise primitive
:meth:`Recommender.score` (and, when it can do better than scoring pair by pair,
:meth:`Recommender.score_matrix`); the base class builds batched :meth:`Recommender.recommend`
(with seen-item filtering and candidate restriction) and the counting of unknown users/items.
Ids are always the data set's raw ids; each adapter keeps its own inner ids private.

What a user saw in training is a :class:`SeenItems` index, built once per split and shared by
every model of an experiment (the harness passes it to :meth:`Recommender.fit`).
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse
from threadpoolctl import threadpool_limits

from tfrec.data.dataset import Dataset
from tfrec.errors import TfrecError
from tfrec.progress import Progress
from tfrec.recommenders.screen import Screened, refined_top_k
from tfrec.recommenders.topk import mask_rows, top_k_rows

logger = logging.getLogger(__name__)

#: A split's protocol carve of its training rows: ``(ratio, seed) -> (kept, held out or None)``.
Carve = Callable[[float, int], tuple[pd.DataFrame, "pd.DataFrame | None"]]

#: Threads that rank blocks of users at once (one per core).
RANK_THREADS = os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class SeenItems:
    """Each training user's items, as catalog positions in CSR form.

    Attributes:
        catalog: ``[n_items]`` raw ids of every item that may be recommended.
        users: The training users (row ``r`` of the CSR is ``users[r]``).
        items: The distinct training items.
        indptr: ``[n_users + 1]`` CSR row pointers.
        codes: Catalog positions of each user's items, sorted within a user.
    """

    catalog: np.ndarray
    users: pd.Index
    items: pd.Index
    indptr: np.ndarray
    codes: np.ndarray

    @classmethod
    def build(cls, train: pd.DataFrame, dataset: Dataset) -> SeenItems:
        """Indexes the training interactions of ``dataset``'s catalog.

        Raises:
            TfrecError: A training item is not in the catalog.
        """
        schema = dataset.schema
        catalog = np.asarray(dataset.item_ids)
        users = train[schema.user_id].to_numpy()
        items = train[schema.item_id].to_numpy()
        train_users = pd.Index(np.unique(users))
        user_rows = train_users.get_indexer(users)
        item_codes = pd.Index(catalog).get_indexer(items)
        if (item_codes < 0).any():
            raise TfrecError(f"{(item_codes < 0).sum()} training item(s) are not in the catalog of "
                             f"{dataset.name}; the item feature table must list every item")
        order = np.lexsort((item_codes, user_rows))
        indptr = np.searchsorted(user_rows[order], np.arange(len(train_users) + 1))
        return cls(catalog, train_users, pd.Index(np.unique(items)), indptr, item_codes[order])

    @functools.cached_property
    def catalog_index(self) -> pd.Index:
        """Raw item id -> catalog position (built once; every recommend call reads it)."""
        return pd.Index(self.catalog)

    def rows(self, user_ids: np.ndarray) -> np.ndarray:
        """``[n]`` CSR rows of raw user ids (-1 for users without training items)."""
        return self.users.get_indexer(np.asarray(user_ids))

    def codes_of(self, row: int) -> np.ndarray:
        """Catalog positions of the items of CSR row ``row``."""
        return self.codes[self.indptr[row]:self.indptr[row + 1]]

    def matrix(self, values: np.ndarray | None = None) -> scipy.sparse.csr_matrix:
        """The interactions as a new CSR matrix ``[n_train_users, n_catalog]`` (float32): ones,
        or ``values`` given in this index's (user, item) order."""
        data = np.ones(len(self.codes), np.float32) if values is None else np.asarray(values, np.float32)
        return scipy.sparse.csr_matrix((data, self.codes, self.indptr),
                                       shape=(len(self.users), len(self.catalog)))

    @functools.cached_property
    def ones(self) -> scipy.sparse.csr_matrix:
        """:meth:`matrix` of ones, built once, for scorers that read rows of it per block of
        users; never to be modified (models that fit on a matrix take their own)."""
        return self.matrix()

    def ordered(self, train: pd.DataFrame, column: str, schema_user: str, schema_item: str) -> np.ndarray:
        """``train[column]`` in this index's (user, catalog position) order (for :meth:`matrix`)."""
        rows = self.rows(train[schema_user].to_numpy())
        codes = pd.Index(self.catalog).get_indexer(train[schema_item].to_numpy())
        order = np.lexsort((codes, rows))
        return train[column].to_numpy()[order]


class Recommender(abc.ABC):
    """Base class: fit on training interactions, score (user, item) pairs, recommend top-k.

    Attributes:
        name: Short model name used in reports.
        predicts_ratings: Whether :meth:`score` is a predicted rating (RMSE/MAE make sense).
    """

    name = "recommender"
    predicts_ratings = True

    def __init__(self) -> None:
        self._dataset: Dataset | None = None
        self._seen: SeenItems | None = None
        #: Where a model with long training reports its steps (the harness sets it).
        self.progress: Progress | None = None
        #: Where a Keras-trained model writes its TensorBoard logs (``None``: none).
        self.log_dir: Path | None = None
        #: ``(ratio, seed) -> (kept, held out)``: the training rows divided by the split's own
        #: protocol, for models that hold rows out to choose how long to train (set by fit).
        self.carve: Carve | None = None

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def _fit(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        """Fits the model (``self.dataset`` and ``self.seen`` are ready)."""

    @abc.abstractmethod
    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Ranking scores of ``[n]`` (user, item) pairs of raw ids: the values
        :meth:`score_matrix` gives for the same pairs. Unknown ids get the model's documented
        fallback."""

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Predicted ratings ``[n]`` (RMSE/MAE); by default the score, for models whose score
        is a rating.

        Raises:
            TfrecError: The model does not predict ratings.
        """
        if not self.predicts_ratings:
            raise TfrecError(f"{self.name} does not predict ratings")
        return self.score(user_ids, item_ids)

    # ------------------------------------------------------------------ provided
    @property
    def dataset(self) -> Dataset:
        """The data set the model was fitted on."""
        if self._dataset is None:
            raise self.not_fitted()
        return self._dataset

    @property
    def seen(self) -> SeenItems:
        """Each training user's items (shared by the models of a split)."""
        if self._seen is None:
            raise self.not_fitted()
        return self._seen

    @property
    def catalog(self) -> np.ndarray:
        """``[n_items]`` raw ids of every item that may be recommended."""
        return self.seen.catalog

    def fit(self, train: pd.DataFrame, dataset: Dataset, validation: pd.DataFrame | None = None,
            *, seen: SeenItems | None = None, carve: Carve | None = None) -> Recommender:
        """Fits on the training interactions of ``dataset``.

        Args:
            train: Training interactions (a split's ``train`` frame; never test rows).
            dataset: Schema, feature tables and the item catalog.
            validation: Validation interactions for models that tune or stop early on them.
            seen: The split's :class:`SeenItems` (built from ``train`` when not given).
            carve: The split's carve of ``train`` (:attr:`carve`; the harness gives
                :meth:`~tfrec.evaluation.splits.Split.carve`).

        Returns:
            ``self``.
        """
        self._dataset = dataset
        self._seen = seen if seen is not None else SeenItems.build(train, dataset)
        self.carve = carve
        self._fit(train, validation)
        return self

    def _restore(self, dataset: Dataset | None, seen: SeenItems) -> None:
        """Marks a loaded model as fitted (for adapters' ``load``)."""
        self._dataset, self._seen = dataset, seen

    def not_fitted(self) -> TfrecError:
        """The error of scoring or recommending before :meth:`fit` (the one wording)."""
        return TfrecError(f"{self.name}: call fit() before scoring or recommending")

    def _check_fitted(self) -> None:
        if self._seen is None:
            raise self.not_fitted()

    def score_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        """Scores every catalog item for each user: ``[n_users, n_catalog]``.

        The default repeats :meth:`score` over the catalog (vectorized); models override it
        when they can do better (factor products, neighbourhood aggregation, embeddings).
        """
        user_ids = np.asarray(user_ids)
        n_items = len(self.catalog)
        scores = self.score(np.repeat(user_ids, n_items), np.tile(self.catalog, len(user_ids)))
        return np.asarray(scores, dtype=np.float64).reshape(len(user_ids), n_items)

    def screen_matrix(self, user_ids: np.ndarray) -> Screened | None:
        """Cheap scores of every catalog item with a bound on their error
        (:mod:`tfrec.recommenders.screen`): :meth:`recommend` then ranks at their speed and
        scores exactly only the items the bound cannot rule out -- the same lists as from
        :meth:`score_matrix`. ``None`` (the default): :meth:`recommend` ranks
        :meth:`score_matrix`."""
        return None

    def score_pairs(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Scores of ``[n]`` pairs read from :meth:`score_matrix` (one row per distinct user);
        items outside the catalog score 0. For models whose natural primitive is the matrix."""
        users, inverse = np.unique(np.asarray(user_ids), return_inverse=True)
        codes = self.seen.catalog_index.get_indexer(np.asarray(item_ids))
        matrix = self.score_matrix(users)
        out = matrix[inverse, np.maximum(codes, 0)].astype(np.float64)
        return np.where(codes >= 0, out, 0.0)

    def seen_items(self, user_id: object) -> np.ndarray:
        """Raw ids of the items ``user_id`` interacted with in training."""
        row = self.seen.rows(np.asarray([user_id]))[0]
        if row < 0:
            return self.catalog[:0]
        return self.catalog[self.seen.codes_of(row)]

    #: Whether :meth:`score_histories` reads the given histories; otherwise the users are
    #: scored as users unknown to training (the model's cold fallback).
    uses_history = False

    def score_histories(self, user_ids: np.ndarray, history: SeenItems) -> np.ndarray:
        """Scores every catalog item for users described by ``history`` -- their items, e.g. a
        held-out user's fold-in rows -- instead of their training rows: ``[n_users, n_catalog]``.

        The default cannot use a history: it scores the users as :meth:`score_matrix` scores
        users unknown to training. Models that can (``uses_history``) override it.
        """
        return self.score_matrix(user_ids)

    def recommend(self, user_ids: np.ndarray, k: int = 10, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None,
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
        return self._rank(self.score_matrix, user_ids, self.seen if exclude_seen else None, k,
                          candidates, batch_size, screen=self.screen_matrix)

    def recommend_from_history(self, user_ids: np.ndarray, history: SeenItems, k: int = 10,
                               batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` for users described by ``history`` (see :meth:`score_histories`); each
        user's history items are left out. Same return value as :meth:`recommend`."""
        return self._rank(lambda batch: self.score_histories(batch, history), user_ids, history, k,
                          None, batch_size)

    def _rank(self, score_rows: Callable[[np.ndarray], np.ndarray], user_ids: np.ndarray,
              excluded: SeenItems | None, k: int, candidates: np.ndarray | None, batch_size: int,
              screen: Callable[[np.ndarray], Screened | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Batched top-``k`` of ``score_rows(users) [n, n_catalog]`` without ``excluded``'s items
        (from ``screen(users)``'s screened scores when it gives them)."""
        self._check_fitted()
        if int(k) != k or k < 1:
            raise TfrecError(f"k must be a positive integer, got {k!r}")
        user_ids = np.asarray(user_ids)
        if candidates is None:
            codes = np.arange(len(self.catalog))
        else:
            codes = self.seen.catalog_index.get_indexer(np.asarray(candidates))
            if (codes < 0).any():
                bad = np.asarray(candidates)[codes < 0][0]
                raise TfrecError(f"candidate item {bad!r} is not in the catalog")
        k = int(min(k, len(codes)))
        everything = candidates is None
        position = np.full(len(self.catalog), -1)
        position[codes] = np.arange(len(codes))

        def block(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            screened = screen(batch) if screen is not None else None
            # a fresh [n, n_catalog] array: masked in place
            scores = score_rows(batch) if screened is None else screened.approx
            if not everything:
                scores = scores[:, codes]
            if excluded is not None:
                mask_rows(scores, excluded.rows(batch), excluded.indptr, excluded.codes, position)
            if screened is not None:
                exact = screened.exact
                top, values = refined_top_k(dataclasses.replace(screened, approx=scores,
                                                                exact=lambda r, c: exact(r, codes[c])), k)
                return self.catalog[codes[top]], values
            top = top_k_rows(scores, k)
            return self.catalog[codes[top]], np.take_along_axis(scores, top, axis=1).astype(np.float64)

        blocks = [user_ids[start:start + batch_size] for start in range(0, len(user_ids), batch_size)]
        if not blocks:
            return self.catalog[:0].reshape(0, k), np.zeros((0, k))
        # Blocks in threads: NumPy's and BLAS's heavy loops release the GIL, so every core works;
        # memory stays within a few blocks of scores, never users x items. One BLAS thread per
        # block while they run: BLAS's own pool on top of the blocks' oversubscribes the cores
        # (16k x 8k: SVD 1.24 s -> 0.72 s, ALS 0.54 s -> 0.28 s on 2 cores).
        threads = min(RANK_THREADS, len(blocks))
        with (threadpool_limits(1, "blas") if threads > 1 else contextlib.nullcontext(),
              concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool):
            ranked = list(pool.map(block, blocks))
        return np.concatenate([ids for ids, _ in ranked]), np.concatenate([sc for _, sc in ranked])

    def unknown_counts(self, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, int]:
        """How many of the pairs have a user, or an item, never seen in training."""
        users = self.seen.rows(np.asarray(user_ids)) < 0
        items = self.seen.items.get_indexer(np.asarray(item_ids)) < 0
        return {"pairs": int(len(users)), "unknown_users": int(users.sum()),
                "unknown_items": int(items.sum()), "unknown_either": int((users | items).sum())}
