"""Surprise's KNN ``estimate`` vectorized (:class:`KnnEstimator`), its neighbour selection and
the rating-matrix helpers of the Surprise adapters."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def baseline(mu: float, uu, ii, known_u, known_i, bu: np.ndarray, bi: np.ndarray) -> np.ndarray:
    """Surprise's baseline ``mu + b_u + b_i`` (a bias counts only for a known id), broadcast."""
    return mu + np.where(known_u, bu[uu], 0.0) + np.where(known_i, bi[ii], 0.0)


@dataclasses.dataclass(frozen=True)
class KnnEstimator:
    """The estimates of a fitted KNNBasic, KNNWithMeans or KNNBaseline for inner ids, NaN
    where Surprise finds a prediction impossible (the adapter replaces those and clips).

    Attributes:
        algorithm: The Surprise class name.
        algo: The fitted algorithm's arrays (``sim``, ``k``, ``min_k``, ``means``, ``bx``, ``by``,
            ``bu``, ``bi``, ``n_x``, ``sim_options``).
        neighbours: The raters of each anchor as CSR ``(indptr, ids, ratings)`` (:func:`csr`).
        global_mean: The training mean.
    """

    algorithm: str
    algo: Any
    neighbours: tuple[np.ndarray, np.ndarray, np.ndarray]
    global_mean: float



    def _base(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """What a KNN estimate starts from: the baseline for KNNBaseline, else 'impossible'."""
        if self.algorithm == "KNNBaseline":
            return baseline(self.global_mean, np.where(u >= 0, u, 0), np.where(i >= 0, i, 0), u >= 0, i >= 0,
                            self.algo.bu, self.algo.bi)
        return np.full(np.broadcast(u, i).shape, np.nan)

    def pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """KNN estimates for pairs of inner ids, grouped by the neighbourhood's anchor ``y``."""
        user_based = self.algo.sim_options.get("user_based", True)
        x, y = (u, i) if user_based else (i, u)
        est = self._base(u, i)
        positions = np.flatnonzero((u >= 0) & (i >= 0))
        order = positions[np.argsort(y[positions], kind="stable")]
        ys = y[order]
        starts = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]]) if len(ys) else np.array([], int)
        ends = np.r_[starts[1:], len(order)] if len(starts) else starts
        for start, end in zip(starts, ends, strict=True):
            pairs = order[start:end]
            est[pairs] = self._anchor(ys[start], x[pairs], est[pairs])
        return est

    def matrix(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """``[len(u), len(i)]`` KNN estimates: one neighbourhood pass per anchor, the anchors
        shared between two threads (NumPy releases the GIL in the heavy kernels)."""
        user_based = self.algo.sim_options.get("user_based", True)
        est = self._base(u[:, None], i[None, :])
        known_u, known_i = np.flatnonzero(u >= 0), np.flatnonzero(i >= 0)
        anchors_at, rows_at = (known_i, known_u) if user_based else (known_u, known_i)
        anchor_ids = (i if user_based else u)[anchors_at]
        row_ids = (u if user_based else i)[rows_at]
        # Computing every x and picking is cheaper than gathering columns when most are needed.
        everything = len(row_ids) * 2 >= self.algo.n_x

        def work(chunk: np.ndarray) -> None:
            for position in chunk:
                cells = (rows_at, anchors_at[position]) if user_based else (anchors_at[position], rows_at)
                if everything:  # the same estimates, computed for every x in inner order
                    est[cells] = self._anchor(anchor_ids[position], None, None)[row_ids]
                else:
                    est[cells] = self._anchor(anchor_ids[position], row_ids, est[cells])

        from concurrent.futures import ThreadPoolExecutor

        chunks = np.array_split(np.arange(len(anchor_ids)), 2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(work, chunks))
        return est

    def _anchor_base_all(self, anchor: int) -> np.ndarray:
        """KNNBaseline's starting estimate for one anchor and every x (inner ids)."""
        algo = self.algo
        return self.global_mean + algo.bx + algo.by[anchor]

    def _anchor(self, anchor: int, rows: np.ndarray | None, base: np.ndarray | None) -> np.ndarray:
        """Surprise's KNN ``estimate`` for one anchor ``y`` and many ``x`` (inner ids).

        Args:
            anchor: The item (user-based) or user (item-based) whose raters are neighbours.
            rows: ``[n]`` the other side's inner ids; ``None`` for all of them in inner order.
            base: ``[n]`` starting estimates (KNNBaseline; ``None`` computes them for all x).

        Returns:
            ``[n]`` estimates, NaN where Surprise finds the prediction impossible.
        """
        algo, mu = self.algo, self.global_mean
        indptr, neighbours, ratings = self.neighbours
        nb = neighbours[indptr[anchor]:indptr[anchor + 1]]
        r = ratings[indptr[anchor]:indptr[anchor + 1]]
        # sim is symmetric: gathering neighbour rows keeps memory access contiguous.
        similarity = algo.sim[nb] if rows is None else algo.sim[nb][:, rows]
        weights = top_k_positive(similarity, algo.k)  # [n_neighbours, n]
        n = weights.shape[1]
        actual_k = np.count_nonzero(weights, axis=0)
        sum_sim = weights.sum(axis=0)
        if self.algorithm == "KNNBasic":
            value = np.divide(r @ weights, sum_sim, out=np.full(n, np.nan), where=sum_sim > 0)
            return np.where(actual_k < algo.min_k, np.nan, value)
        if self.algorithm == "KNNWithMeans":
            base = algo.means if rows is None else algo.means[rows]
            deviation = r - algo.means[nb]
        else:  # KNNBaseline
            if base is None:
                base = self._anchor_base_all(anchor)
            deviation = r - (mu + algo.bx[nb] + algo.by[anchor])
        sum_ratings = np.where(actual_k < algo.min_k, 0.0, deviation @ weights)
        return base + np.divide(sum_ratings, sum_sim, out=np.zeros(n), where=sum_sim != 0)


def top_k_positive(similarity: np.ndarray, k: int) -> np.ndarray:
    """Weights of Surprise's neighbour selection, ``[n_neighbours, n]`` (one column per x).

    ``heapq.nlargest(k, ...)`` keeps the ``k`` largest similarities, earlier neighbours first
    among equals; only positive ones then count. Vectorized per column: everything above the
    k-th largest value, plus the first tied ones (in neighbour order) up to ``k``.
    """
    n = similarity.shape[0]
    if n > k:
        kth = np.partition(similarity, n - k, axis=0)[n - k]
        above = similarity > kth
        tied = similarity == kth
        need = k - above.sum(axis=0)
        chosen = above | tied
        crowded = tied.sum(axis=0) > need  # more ties than free places: keep the first ones
        if crowded.any():
            cols = np.flatnonzero(crowded)
            chosen[:, cols] = above[:, cols] | (tied[:, cols] & (np.cumsum(tied[:, cols], axis=0) <= need[cols]))
        return np.where(chosen & (similarity > 0), similarity, 0.0)
    return np.where(similarity > 0, similarity, 0.0)


def csr(lists: dict, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surprise's ``{inner id: [(other, rating), ...]}`` as CSR arrays, order kept."""
    lengths = np.array([len(lists.get(key, ())) for key in range(n)], dtype=np.int64)
    indptr = np.r_[0, np.cumsum(lengths)]
    flat = [pair for key in range(n) for pair in lists.get(key, ())]
    others = np.array([p[0] for p in flat], dtype=np.int64)
    ratings = np.array([p[1] for p in flat], dtype=np.float64)
    return indptr, others, ratings


def rated_matrix(trainset):
    """Sparse ``[n_users, n_items]`` indicator of training ratings."""
    from scipy.sparse import csr_matrix

    indptr, items, _ = csr(trainset.ur, trainset.n_users)
    return csr_matrix((np.ones(len(items)), items, indptr), shape=(trainset.n_users, trainset.n_items))
