import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from tfrec import metrics


def test_rmse_mae_by_hand():
    assert metrics.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert metrics.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)


def test_ranking_metrics_by_hand():
    # user 0: relevant {b, d}; list a b c d -> hits at ranks 2 and 4.
    # user 1: relevant {z};   list z y x w -> hit at rank 1.
    # user 2: no relevant items: excluded from the averages.
    recommended = np.array([["a", "b", "c", "d"], ["z", "y", "x", "w"], ["a", "b", "c", "d"]])
    users = np.array([0, 0, 1])
    items = np.array(["b", "d", "z"])
    m = metrics.ranking_metrics(recommended, users, items, k=4)
    assert m["precision"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert m["recall"] == pytest.approx((1 + 1) / 2)
    assert m["hit_rate"] == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["map"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 1) / 2)
    dcg0 = 1 / np.log2(3) + 1 / np.log2(5)
    idcg0 = 1 + 1 / np.log2(3)
    assert m["ndcg"] == pytest.approx((dcg0 / idcg0 + 1) / 2)
    at2 = metrics.ranking_metrics(recommended, users, items, k=2)
    assert at2["precision"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert at2["recall"] == pytest.approx((1 / 2 + 1) / 2)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(2, 12), st.integers(1, 12), st.integers(0, 10**6))
def test_ndcg_matches_sklearn(n_users, n_items, k, seed):
    """With every item ranked, our graded NDCG@k equals sklearn's ndcg_score."""
    rng = np.random.default_rng(seed)
    scores = rng.random((n_users, n_items))
    relevance = rng.integers(0, 4, (n_users, n_items)) * (rng.random((n_users, n_items)) < 0.5)
    relevance[:, 0] = np.maximum(relevance[:, 0], 1)  # every user has something relevant
    ranked = np.argsort(-scores, axis=1)
    users, items = np.nonzero(relevance)
    ours = metrics.ranking_metrics(ranked, users, items, k=min(k, n_items), gains=relevance[users, items])
    theirs = ndcg_score(relevance, scores, k=min(k, n_items))
    assert ours["ndcg"] == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_beyond_accuracy_metrics():
    recommended = np.array([[0, 1], [0, 2]])
    assert metrics.coverage(recommended, catalog_size=4) == pytest.approx(3 / 4)
    nov = metrics.novelty(recommended, items=np.array([0, 1, 2]), probabilities=np.array([0.5, 0.25, 0.125]),
                          n_users=10)
    assert nov == pytest.approx(np.mean([1, 2, 1, 3]))
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert metrics.intra_list_diversity(recommended, vectors) == pytest.approx((1.0 + 0.0) / 2)


def test_no_relevant_items_gives_nan():
    out = metrics.ranking_metrics(np.array([[1, 2]]), np.array([], int), np.array([], int), k=2)
    assert np.isnan(out["ndcg"])
