"""EASE^R (Steck 2019): a closed-form item-item linear model, the strongest simple baseline.

With the user-item interaction matrix ``X`` ``[n_users, n_items]`` (binary), EASE solves
``min_B ||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0``:

    P = (X^T X + l2 I)^-1          B = -P / diag(P) (column-wise), diag(B) = 0

and scores a user's catalog as ``x_u B``. The Gram matrix and its inverse are dense
``[n_items, n_items]``: memory grows with the square of the catalog. Within the limit the fast
path holds three such matrices (LU inverse, then ``B`` written row-major); above it, while one
matrix fits, the Gram matrix is inverted in place by Cholesky (slower, one matrix:
:func:`~tfrec.model.training.closed_form.ease_weights_in_place`; Gowalla's 40,981 items take
6.3 GiB); larger catalogs are refused with the memory they would need instead of swapping.

``B`` is kept in column tiles (:data:`TILE_COLUMNS` wide, each C order): a block of users is
scored tile by tile as a sparse-times-dense product, so each output row being summed stays in
the core's first cache instead of streaming a whole catalog row per history item (16,000 x
8,000 in ``tfrec compare``: 0.86 s -> about 0.4 s). The in-place path keeps its one matrix as a
single tile (re-tiling it would need a second one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tfrec.errors import ConfigError
from tfrec.model.training.closed_form import ease_weights_in_place, regularized_inverse
from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.recommenders.registry import Build

#: Dense float32 matrices EASE's fast path holds at once (Gram, inverse, weights).
_MATRICES = 3

#: Columns of ``B`` per tile: a block's output rows of this width stay in the first cache.
TILE_COLUMNS = 1024


def ease_memory_bytes(n_items: int, in_place: bool = False) -> int:
    """Bytes EASE's dense matrices take for a catalog of ``n_items`` (``in_place``: the
    Cholesky path's one matrix)."""
    return (1 if in_place else _MATRICES) * n_items * n_items * 4


class EASE(Recommender):
    """EASE^R behind the :class:`Recommender` interface.

    Args:
        l2: The L2 penalty ``lambda`` (default 300, tuned on ml-100k in the literature).
        max_memory_gb: Refuse catalogs whose dense matrices would need more than this.
        name: Report name.

    Users without training items (cold users) get the popularity ranking.
    """

    predicts_ratings = False

    def __init__(self, *, l2: float = 300.0, max_memory_gb: float = 8.0, name: str = "ease") -> None:
        super().__init__()
        if not l2 > 0:
            raise ConfigError(f"ease l2 must be > 0, got {l2!r}")
        self.l2 = float(l2)
        self.max_memory_gb = float(max_memory_gb)
        self.name = name

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        """Optuna search space of :meth:`__init__`'s parameters."""
        return {"l2": trial.suggest_float("l2", 1.0, 5000.0, log=True)}

    def _fit(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        n_items, limit = len(self.catalog), self.max_memory_gb * 2**30
        in_place = ease_memory_bytes(n_items) > limit  # the fast path's three matrices do not fit
        need = ease_memory_bytes(n_items, in_place)
        if need > limit:
            raise ConfigError(f"EASE on {n_items:,} items needs about {need / 2**30:.1f} GB of dense "
                              f"matrices (limit {self.max_memory_gb:g} GB); leave ease out of --models or "
                              "restrict the catalog")
        x = self.seen.matrix()
        self._popularity = np.asarray(x.sum(axis=0), dtype=np.float32).ravel()
        if in_place:  # one matrix, inverted in place (already C order, diagonal 0): one tile
            self._tiles = [ease_weights_in_place(x, self.l2)]
            return
        inverse, _ = regularized_inverse(x, self.l2)  # P, float32 (LAPACK's column-major order)
        # B = -P / diag(P) column-wise, written tile by tile (row-major within a tile: scoring
        # reads a tile's rows of a user's items); the tiles together take one matrix, as B did.
        scale = -np.diag(inverse)  # a copy
        self._tiles = []
        for start in range(0, n_items, TILE_COLUMNS):
            stop = min(start + TILE_COLUMNS, n_items)
            tile = np.empty((n_items, stop - start), dtype=np.float32, order="C")
            np.divide(inverse[:, start:stop], scale[None, start:stop], out=tile)
            tile[np.arange(start, stop), np.arange(stop - start)] = 0.0  # the diagonal
            self._tiles.append(tile)
        del inverse

    @property
    def weights(self) -> np.ndarray:
        """``B`` ``[n_catalog, n_catalog]`` float32 (a new array assembled from the tiles): row
        ``h`` holds history item ``h``'s weight for every item."""
        if not hasattr(self, "_tiles"):
            raise self.not_fitted()
        return np.concatenate(self._tiles, axis=1)

    def score_matrix(self, user_ids: np.ndarray) -> np.ndarray:
        return self._scores(self.seen, self.seen.rows(np.asarray(user_ids)))

    uses_history = True

    def score_histories(self, user_ids: np.ndarray, history: SeenItems) -> np.ndarray:
        """``x_h B`` for each user's history ``x_h`` (EASE needs no refit for new users)."""
        return self._scores(history, history.rows(np.asarray(user_ids)))

    def _scores(self, items: SeenItems, rows: np.ndarray) -> np.ndarray:
        """``[n, n_catalog]`` float32: ``x B`` of each CSR row of ``items`` (binary ``x``: the sum
        of ``B``'s rows of the user's items, added in item order), the popularity for ``-1`` rows."""
        scores = np.empty((len(rows), len(self.catalog)), dtype=np.float32)
        known = rows >= 0
        history = items.ones[rows[known]]  # [n_known, n_catalog] CSR
        into = scores if known.all() else np.empty((history.shape[0], scores.shape[1]), np.float32)
        start = 0
        for tile in self._tiles:
            stop = start + tile.shape[1]
            into[:, start:stop] = history @ tile
            start = stop
        if into is not scores:
            scores[known] = into
            scores[~known] = self._popularity
        return scores

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        return self.score_pairs(user_ids, item_ids)


def build(build: Build) -> EASE:
    """The registry's factory."""
    return EASE(name=build.name, **build.params)
