"""Neighbour selection and rating-matrix helpers for the Surprise KNN adapters."""

from __future__ import annotations

import numpy as np


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
