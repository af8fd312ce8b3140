"""Evaluation metrics: pure NumPy functions, no model imports.

Rating accuracy::

    RMSE = sqrt(mean((r - r_hat)^2))        MAE = mean(|r - r_hat|)

Top-k ranking metrics take each user's ranked list ``recommended[u, :k]`` (training items
already excluded by the recommender) and the user's relevant test items with gains
``g(u, i)`` (1 for binary relevance; the rating for graded relevance). With
``hit[u, j] = g(u, recommended[u, j])`` (0 when not relevant) and ``R_u`` the number of
relevant items of ``u``:

* Precision@k = sum_j [hit>0] / k
* Recall@k    = sum_j [hit>0] / R_u
* HitRate@k   = 1 if any hit else 0
* MRR@k       = 1 / (rank of the first hit), 0 if none
* MAP@k       = sum_j Precision@j * [hit_j>0] / min(R_u, k)
* NDCG@k      = DCG / IDCG with DCG = sum_j hit[u, j] / log2(j + 2) and IDCG the DCG of the
  user's relevant gains sorted descending (linear gains, as ``sklearn.metrics.ndcg_score``).

Each is averaged over users with at least one relevant item. Beyond accuracy:

* coverage  = distinct recommended items / catalog size
* novelty   = mean over recommended items of -log2(p_i), p_i = fraction of users who
  interacted with item i in training (unseen items get 1 / n_users)
* intra-list diversity = mean over lists of the mean pairwise cosine distance between the
  item vectors of a list.
"""

from __future__ import annotations

import numpy as np

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error of ``[n]`` arrays."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error of ``[n]`` arrays."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean(np.abs(y_true - y_pred)))


def gain_matrix(recommended: np.ndarray, users: np.ndarray, items: np.ndarray,
                gains: np.ndarray | None = None) -> np.ndarray:
    """Gains of each recommended item, vectorized.

    Args:
        recommended: ``[n_users, k]`` item ids (or codes); row ``u`` belongs to user row ``u``.
        users: ``[m]`` user row (0..n_users-1) of each relevant (user, item) pair.
        items: ``[m]`` item id of each relevant pair (same id space as ``recommended``).
        gains: ``[m]`` gain of each pair (default 1: binary relevance).

    Returns:
        ``[n_users, k]`` float array: the gain of ``recommended[u, j]`` for user ``u``, else 0.
    """
    n_users, k = recommended.shape
    gains = np.ones(len(users)) if gains is None else np.asarray(gains, float)
    catalog, codes = np.unique(np.concatenate([np.asarray(items).ravel(), recommended.ravel()]),
                               return_inverse=True)
    item_codes, rec_codes = codes[: len(items)], codes[len(items):].reshape(n_users, k)
    width = len(catalog)
    keys = np.asarray(users, np.int64) * width + item_codes
    order = np.argsort(keys, kind="stable")
    keys, sorted_gains = keys[order], gains[order]
    query = (np.arange(n_users, dtype=np.int64)[:, None] * width + rec_codes).ravel()
    position = np.searchsorted(keys, query)
    position = np.minimum(position, len(keys) - 1) if len(keys) else position
    found = (keys[position] == query) if len(keys) else np.zeros(query.shape, bool)
    out = np.where(found, sorted_gains[position] if len(keys) else 0.0, 0.0)
    return out.reshape(n_users, k)


def ideal_dcg(users: np.ndarray, gains: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """``[n_users]`` DCG of each user's relevant gains sorted descending, truncated at ``k``."""
    users = np.asarray(users, np.int64)
    gains = np.asarray(gains, float)
    order = np.lexsort((-gains, users))
    users, gains = users[order], gains[order]
    starts = np.searchsorted(users, users, side="left")
    rank = np.arange(len(users)) - starts
    keep = rank < k
    out = np.zeros(n_users)
    np.add.at(out, users[keep], gains[keep] / np.log2(rank[keep] + 2))
    return out


def per_user_ranking_metrics(recommended: np.ndarray, users: np.ndarray, items: np.ndarray, k: int,
                             gains: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Precision, recall, NDCG, MAP, hit rate and MRR at ``k`` of each user with at least one
    relevant item (rows in user-row order): the values :func:`ranking_metrics` averages, kept
    for confidence intervals and paired tests.

    Args:
        recommended: ``[n_users, >=k]`` ranked item ids per user row.
        users: ``[m]`` user row of each relevant test pair.
        items: ``[m]`` item of each relevant test pair.
        k: Cut-off.
        gains: ``[m]`` graded relevance for NDCG (binary metrics use gain > 0).

    Returns:
        Metric name -> ``[n_active]`` values.
    """
    recommended = np.asarray(recommended)[:, :k]
    n_users = recommended.shape[0]
    gains = np.ones(len(users)) if gains is None else np.asarray(gains, float)
    hit_gain = gain_matrix(recommended, users, items, gains)
    hit = hit_gain > 0
    n_relevant = np.bincount(np.asarray(users, np.int64), minlength=n_users)
    active = n_relevant > 0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit_gain * discounts).sum(axis=1)
    idcg = ideal_dcg(users, gains, n_users, k)
    hits_so_far = np.cumsum(hit, axis=1)
    precision_at_j = hits_so_far / np.arange(1, k + 1)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    out = {
        "precision": hit.sum(axis=1) / k,
        "recall": hit.sum(axis=1) / np.maximum(n_relevant, 1),
        "ndcg": np.divide(dcg, idcg, out=np.zeros(n_users), where=idcg > 0),
        "map": (precision_at_j * hit).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1),
        "hit_rate": hit.any(axis=1).astype(float),
        "mrr": 1.0 / first,
    }
    return {name: values[active] for name, values in out.items()}


def ranking_metrics(recommended: np.ndarray, users: np.ndarray, items: np.ndarray, k: int,
                    gains: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, NDCG, MAP, hit rate and MRR at ``k``, averaged over users with at
    least one relevant item (NaN when there is none); see :func:`per_user_ranking_metrics`."""
    per_user = per_user_ranking_metrics(recommended, users, items, k, gains)
    return {name: float(values.mean()) if len(values) else float("nan") for name, values in per_user.items()}


def coverage(recommended: np.ndarray, catalog_size: int) -> float:
    """Fraction of the catalog that appears in at least one list."""
    return float(len(np.unique(np.asarray(recommended))) / catalog_size)


def novelty(recommended: np.ndarray, *,
            items: np.ndarray | None = None, probabilities: np.ndarray | None = None,
            n_users: int | None = None) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items.

    Args:
        recommended: ``[n_users, k]`` item ids.
        items: ``[n]`` item ids with known training popularity.
        probabilities: ``[n]`` fraction of training users who interacted with each item.
        n_users: Number of training users (unseen items get ``p = 1 / n_users``).
    """
    if items is None or probabilities is None or n_users is None:
        raise ValueError("novelty needs items, probabilities and n_users")
    recommended = np.asarray(recommended)
    order = np.argsort(items)
    sorted_items, sorted_p = np.asarray(items)[order], np.asarray(probabilities, float)[order]
    position = np.clip(np.searchsorted(sorted_items, recommended.ravel()), 0, len(sorted_items) - 1)
    known = sorted_items[position] == recommended.ravel()
    p = np.where(known, sorted_p[position], 1.0 / n_users)
    return float(np.mean(-np.log2(np.clip(p, 1e-12, 1.0))))


def intra_list_diversity(recommended_rows: np.ndarray, item_vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance within each list.

    Args:
        recommended_rows: ``[n_users, k]`` row indices into ``item_vectors`` (k >= 2).
        item_vectors: ``[n_items, d]`` item representation (e.g. one-hot features).
    """
    vectors = np.asarray(item_vectors, float)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    lists = unit[np.asarray(recommended_rows)]  # [n_users, k, d]
    k = lists.shape[1]
    if k < 2:
        return float("nan")
    similarity = np.einsum("ukd,ujd->ukj", lists, lists)
    off_diagonal = (similarity.sum(axis=(1, 2)) - np.trace(similarity, axis1=1, axis2=2)) / (k * (k - 1))
    return float(np.mean(1.0 - off_diagonal))
