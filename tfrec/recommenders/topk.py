"""Top-k of score rows without sorting whole rows, and seen-item masking from CSR.

:func:`top_k_rows` returns exactly what ``np.argsort(-scores, kind="stable")[:, :k]`` returns --
best first, ties in catalog order -- in a few vectorized passes over each row:

1. the columns are dealt into groups of :data:`CHUNK` (strided: group ``g`` holds columns
   ``g, g + G, g + 2G...``, so the group maxima are one reduction over a strided view)
   and each group's maximum taken;
2. the k-th largest group maximum is a bound: k distinct items reach it, so the k-th best
   score is at least the bound and every item of the top k is at or above it;
3. only the groups whose maximum reaches the bound (about k of them) are gathered, their items
   at or above the bound kept and sorted by (score descending, column ascending).

Rows where the bound is the row's maximum and most groups reach it (scores clipped to the top
of a rating scale) are the first ``k`` columns at the maximum. Rows where the shortcut does not
pay otherwise (NaN scores, or so many ties at the bound that most of the row qualifies, e.g. a
fully masked row) take the exact ``argpartition`` path.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: Items per group of the bound (step 1).
CHUNK = 32


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """``[n, k]`` column indices of each row's ``k`` best scores, best first, ties by column.

    Args:
        scores: ``[n, m]`` scores (NaN ranks as -inf). Not modified.
        k: Items per row, ``1 <= k``.

    Returns:
        ``[n, min(k, m)]`` column indices.
    """
    n, m = scores.shape
    groups = m // CHUNK  # group g holds columns g, g + groups, g + 2 groups, ... (CHUNK of them)
    if k >= m or groups < 4 * k:
        return _exact(scores, k)
    maxes = np.empty((n, groups + 1), dtype=scores.dtype)
    row, column = scores.strides
    # [n, CHUNK, groups] view: [r, j, g] is column g + j groups; its maximum over j is group g's
    # (NaN propagates). One reduction, 2-4x faster than CHUNK elementwise maxima of slices.
    view = as_strided(scores, (n, CHUNK, groups), (row, groups * column, column), writeable=False)
    view.max(axis=1, out=maxes[:, :groups])
    tail = scores[:, groups * CHUNK:]  # the last m % CHUNK columns: one more group
    maxes[:, groups] = tail.max(axis=1) if tail.shape[1] else -np.inf
    bound = -np.partition(-maxes, k - 1, axis=1)[:, k - 1]
    hit = maxes >= bound[:, None]  # the groups that can hold a top-k item
    per_row = hit.sum(axis=1)
    nan = np.isnan(maxes).any(axis=1)
    # k groups hold the row's maximum (e.g. ratings clipped to the top of the scale): the top k
    # are the first k columns at the maximum, in column order.
    at_max = ~nan & (bound == maxes.max(axis=1)) & (per_row > 4 * k)
    slow = (nan | (per_row > 4 * k)) & ~at_max  # NaN, or ties spread over many groups
    out = np.empty((n, k), dtype=np.int64)
    if at_max.any():
        tied = np.flatnonzero(at_max)
        out[tied] = first_at(scores, tied, bound[tied], k, per_row[tied])
    hit[at_max] = False
    if slow.any():
        out[slow] = _exact(scores[slow], k)
        hit[slow] = False
    if (slow | at_max).all():
        return out
    rows, group = np.nonzero(hit)
    regular = group < groups
    columns = np.where(regular[:, None], group[:, None] + groups * np.arange(CHUNK), -1)  # -1: padding
    values = np.full(columns.shape, -np.inf, dtype=scores.dtype)
    values[regular] = view[rows[regular], :, group[regular]]  # [pairs, CHUNK]: 3x faster than pairs
    last = np.flatnonzero(~regular)  # the tail group's hits
    columns[last, :tail.shape[1]] = np.arange(groups * CHUNK, m)
    values[last, :tail.shape[1]] = tail[rows[last]]
    rows = np.broadcast_to(rows[:, None], columns.shape)
    keep = (columns >= 0) & (values >= bound[rows])
    rows, columns, values = rows[keep], columns[keep], values[keep]
    order = np.lexsort((columns, -values, rows))  # by row, then score down, then column
    counts = np.bincount(rows, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    fast = np.flatnonzero(~slow & ~at_max)
    out[fast] = columns[order[(starts[fast][:, None] + np.arange(k)).ravel()]].reshape(-1, k)
    return out


def first_at(scores: np.ndarray, rows: np.ndarray, value: np.ndarray, k: int,
             least: np.ndarray) -> np.ndarray:
    """``[len(rows), k]`` the first ``k`` columns (in column order) of each of ``scores``'s
    ``rows`` that hold ``value`` (per row; each row holds it ``least`` times or more, ``>= k``).

    A prefix of the rows is searched first -- long enough to hold about twice ``k`` such
    columns if they were spread evenly -- and only the rows it does not settle are searched whole.
    """
    m = scores.shape[1]
    prefix = int(min(m, np.ceil(2 * k * m / max(int(least.min()), 1))))
    out = np.empty((len(rows), k), dtype=np.int64)
    todo = np.arange(len(rows))
    for width in (prefix, m) if prefix < m else (m,):
        hits, columns = np.nonzero(scores[rows[todo], :width] == value[todo][:, None])  # column order
        counts = np.bincount(hits, minlength=len(todo))
        done = counts >= k
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[todo[done]] = columns[starts[done][:, None] + np.arange(k)]
        todo = todo[~done]
        if not len(todo):
            break
    return out


def _exact(scores: np.ndarray, k: int) -> np.ndarray:
    """The exact path: ``argpartition`` finds the k-th score, the row's items above it plus
    the earliest ones equal to it are the top k, and only those k are sorted."""
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
