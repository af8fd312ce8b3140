"""Top-k of score rows without sorting whole rows, and seen-item masking from CSR.

:func:`top_k_rows` returns exactly what ``np.argsort(-scores, kind="stable")[:, :k]`` returns --
best first, ties in catalog order -- in ``O(n_items)`` per row instead of ``O(n_items log
n_items)``: ``argpartition`` finds the k-th score, the rows' items above it plus the earliest
ones equal to it are the top k, and only those k are sorted.
"""

from __future__ import annotations

import numpy as np


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """``[n, k]`` column indices of each row's ``k`` best scores, best first, ties by column.

    Args:
        scores: ``[n, m]`` scores (NaN ranks as -inf).
        k: Items per row, ``1 <= k``.

    Returns:
        ``[n, min(k, m)]`` column indices.
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n, m = scores.shape
    if k >= m:
        return np.argsort(-scores, axis=1, kind="stable")
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1)[:, None]
    greater = scores > kth
    equal = scores == kth
    need = k - greater.sum(axis=1)[:, None]
    keep = greater | (equal & (np.cumsum(equal, axis=1) <= need))
    columns = np.nonzero(keep)[1].reshape(n, k)  # row-major: catalog order within each row
    order = np.argsort(-np.take_along_axis(scores, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)


def mask_rows(scores: np.ndarray, rows: np.ndarray, indptr: np.ndarray, codes: np.ndarray,
              position: np.ndarray) -> None:
    """Sets ``scores[r, position[c]] = -inf`` for every code ``c`` of CSR row ``rows[r]`` (in place).

    Args:
        scores: ``[n, m]`` scores of ``n`` users over ``m`` candidates.
        rows: ``[n]`` CSR row of each user (-1: no row, nothing masked).
        indptr: CSR row pointers.
        codes: CSR column codes (catalog positions).
        position: Catalog position -> column of ``scores`` (-1: not a candidate).
    """
    valid = np.flatnonzero(rows >= 0)
    starts, ends = indptr[rows[valid]], indptr[rows[valid] + 1]
    counts = ends - starts
    total = int(counts.sum())
    if total == 0:
        return
    first = np.repeat(np.cumsum(counts) - counts, counts)
    flat = codes[np.arange(total) - first + np.repeat(starts, counts)]
    columns = position[flat]
    users = np.repeat(valid, counts)
    hit = columns >= 0
    scores[users[hit], columns[hit]] = -np.inf
