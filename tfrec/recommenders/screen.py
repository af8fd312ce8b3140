"""Exact top-k from cheap scores: a float32 screen with a proven error bound, then exact scores
for the few items the bound cannot rule out.

A model whose exact scores are float64 products (Surprise's factor models: ``b_u + c_i + p_u .
q_i``, clipped to the rating scale) ranks the catalog at float32's speed without changing a
list: :meth:`FactorScreen.screen` gives ``approx`` with ``|approx - exact| <= slack`` per user,
and :func:`refined_top_k` keeps only the items whose approximate score is within ``2 slack`` of
the k-th best approximate score -- every other item has k items surely above it -- and ranks
those by their exact scores (ties by column, as :func:`~tfrec.recommenders.topk.top_k_rows`).

The bound is the textbook one for a float32 dot product of length ``d`` computed in any order
(with or without fused multiply-adds) from inputs rounded once to float32: ``(d + 2) u sum_j
|x_j y_j|`` with ``u = 2^-24``. :data:`SAFETY` doubles it. Clipping is 1-Lipschitz, so it
holds after clipping too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from tfrec.recommenders.topk import top_k_rows

#: float32's unit roundoff.
UNIT = 2.0**-24

#: The approximate top ``WIDEN k`` of a row hold its candidates unless the bound is wider than
#: their gaps (then that row is scanned whole).
WIDEN = 2

#: Factor on the proven bound (room for what the bound's first-order terms leave out).
SAFETY = 2.0


@dataclasses.dataclass(frozen=True)
class Screened:
    """Approximate scores of a block of users and how to score cells exactly.

    Attributes:
        approx: ``[n, m]`` float32 scores (a fresh array: the caller masks it in place).
        slack: ``[n]`` bound of ``|approx - exact|`` per row.
        exact: ``(rows [p], columns [p]) -> [p]`` float64 exact scores of those cells (columns
            are positions in ``approx``'s columns).
        ceiling: No exact score exceeds it (the top of a clipped rating scale), or ``None``.
    """

    approx: np.ndarray
    slack: np.ndarray
    exact: Callable[[np.ndarray, np.ndarray], np.ndarray]
    ceiling: float | None = None


def refined_top_k(screened: Screened, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of each row by exact score, from :class:`Screened` scores.

    A row's candidates are its cells within ``2 slack`` of its k-th best approximate score:
    usually among its approximate top ``WIDEN k``, else found by scanning the row. A row whose
    candidates reach ``screened.ceiling`` (scores clipped to the top of a rating scale, often
    hundreds of items) is settled by its first candidates in column order when ``k`` of them
    score the ceiling exactly; otherwise every candidate is scored. Cells of ``approx`` at
    ``-inf`` (masked) stay excluded at ``-inf``; they fill a row's last slots only when fewer
    than ``k`` cells are finite, as in :func:`~tfrec.recommenders.topk.top_k_rows`.

    Args:
        screened: The approximate scores (no NaN), their slack and the exact scorer.
        k: Items per row, ``1 <= k <= m``.

    Returns:
        ``(columns [n, k], exact scores [n, k] float64)``, best first, ties by column.
    """
    approx = screened.approx
    n, m = approx.shape
    if n == 0:
        return np.zeros((0, k), np.int64), np.zeros((0, k))
    wide = min(m, WIDEN * k)
    top = top_k_rows(approx, wide)  # [n, wide]: the candidates, unless the bound reaches past them
    every = np.arange(n)
    bound = approx[every, top[:, k - 1]].astype(np.float64) - 2.0 * screened.slack
    # Rounded down to float32: a cell at or above the float64 threshold passes the float32 test.
    threshold = np.nextafter(bound.astype(np.float32), np.float32(-np.inf))
    inside = approx[every[:, None], top] >= threshold[:, None]
    scan = inside[:, -1] & (wide < m)  # rows whose candidates may lie past the list
    inside[scan] = False
    rows, slots = np.nonzero(inside)
    parts = [(rows, top[rows, slots])]
    if scan.any():
        parts.append(_scanned(screened, np.flatnonzero(scan), top, threshold, k))
    rows = np.concatenate([r for r, _ in parts])
    columns = np.concatenate([c for _, c in parts])
    values = screened.exact(rows, columns).astype(np.float64)
    values[np.isneginf(approx[rows, columns])] = -np.inf  # masked cells stay masked
    order = np.lexsort((columns, -values, rows))  # by row, then exact score down, then column
    counts = np.bincount(rows, minlength=n)  # >= k: the approximate top k all pass
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picked = order[(starts[:, None] + np.arange(k)).ravel()]
    return columns[picked].reshape(n, k), values[picked].reshape(n, k)


def _scanned(screened: Screened, scan: np.ndarray, top: np.ndarray, threshold: np.ndarray,
             k: int) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of rows ``scan`` (their approximate top ``WIDEN k`` all pass ``threshold``)
    that can be in the top ``k``, as ``(rows, columns)``.

    With a ceiling, each row's first ``WIDEN k`` candidates in column order are scored first:
    they lie before the row's last column in ``top`` (those cells are candidates themselves),
    so only that prefix of the rows is read. A row where ``k`` of them score the ceiling exactly
    is settled by those ``k`` (no later column can precede them). Every other row is read whole
    and all its candidates returned.
    """
    approx = screened.approx
    rest = scan
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    if screened.ceiling is not None:
        width = int(top[scan].max()) + 1
        hits, found = np.nonzero(approx[scan, :width] >= threshold[scan][:, None])  # column order
        counts = np.bincount(hits, minlength=len(scan))
        head = np.arange(len(hits)) - (np.cumsum(counts) - counts)[hits] < WIDEN * k
        hits, found = hits[head], found[head]
        at_ceiling = screened.exact(scan[hits], found) >= screened.ceiling
        # at-ceiling cells before each (over all rows, then within its row)
        before: np.ndarray = np.cumsum(at_ceiling) - at_ceiling.astype(np.int64)
        rank: np.ndarray = before - before[np.searchsorted(hits, hits)]
        settled = np.bincount(hits, weights=at_ceiling, minlength=len(scan)) >= k
        keep = at_ceiling & (rank < k) & settled[hits]
        rows.append(scan[hits[keep]])
        columns.append(found[keep])
        rest = scan[~settled]
    if len(rest):
        far, found = np.nonzero(approx[rest] >= threshold[rest][:, None])
        rows.append(rest[far])
        columns.append(found)
    return np.concatenate(rows), np.concatenate(columns)


class FactorScreen:
    """Screens ``clip(b_u + c_i + p_u . q_i, lower, upper)`` over a fixed set of columns.

    The approximation is one float32 product ``[b_u, 1, p_u] . [1, c_i, q_i]``: a dot product of
    length ``f + 2`` whose terms' magnitudes sum to at most ``|b_u| + max |c| + ||p_u|| max ||q||``.

    Args:
        item_bias: ``[m]`` float64 ``c_i`` of each column.
        item_factors: ``[m, f]`` float64 ``q_i``.
        lower, upper: The clipping range (``-inf``/``inf``: none).
    """

    def __init__(self, item_bias: np.ndarray, item_factors: np.ndarray, lower: float, upper: float) -> None:
        self.item_bias, self.item_factors = item_bias, item_factors
        self.items32 = np.empty((len(item_bias), item_factors.shape[1] + 2), np.float32)  # [1, c_i, q_i]
        self.items32[:, 0], self.items32[:, 1], self.items32[:, 2:] = 1.0, item_bias, item_factors
        self.lower, self.upper = lower, upper
        self.max_bias = float(np.abs(item_bias).max(initial=0.0))
        self.max_norm = float(np.sqrt(np.square(item_factors).sum(axis=1)).max(initial=0.0))

    def screen(self, user_bias: np.ndarray, user_factors: np.ndarray) -> Screened:
        """:class:`Screened` scores of users ``[n]`` biases ``b_u`` and ``[n, f]`` factors ``p_u``
        (float64) over every column."""
        users32 = np.empty((len(user_bias), user_factors.shape[1] + 2), np.float32)  # [b_u, 1, p_u]
        users32[:, 0], users32[:, 1], users32[:, 2:] = user_bias, 1.0, user_factors
        approx = users32 @ self.items32.T
        np.clip(approx, self.lower, self.upper, out=approx)
        terms = np.abs(user_bias) + self.max_bias + np.sqrt(np.square(user_factors).sum(axis=1)) * self.max_norm
        slack = SAFETY * UNIT * (users32.shape[1] + 2) * terms

        def exact(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
            dot = np.einsum("pf,pf->p", user_factors[rows], self.item_factors[columns])
            return np.clip(user_bias[rows] + self.item_bias[columns] + dot, self.lower, self.upper)

        return Screened(approx, slack, exact, None if np.isinf(self.upper) else float(self.upper))
