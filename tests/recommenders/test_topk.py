"""The top-k path every model ranks through: the same lists as a stable full sort."""

import numpy as np
import pytest

from tfrec.recommenders.topk import mask_rows, top_k_rows


@pytest.mark.parametrize("seed", range(20))
def test_top_k_equals_the_stable_full_sort_ties_included(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 40)), int(rng.integers(1, 300))
    scores = rng.integers(0, 6, size=(n, m)).astype(np.float64)  # many ties
    scores[rng.random((n, m)) < 0.2] = -np.inf
    if seed % 2:
        scores += rng.random((n, m))  # and distinct ones
    for k in {1, 3, 10, m, m + 5}:
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(top_k_rows(scores, k), expected)


def test_seen_items_are_masked_from_csr():
    scores = np.zeros((3, 5))
    indptr = np.array([0, 2, 2, 4])
    codes = np.array([1, 4, 0, 2])
    position = np.array([0, 1, -1, 3, 4])  # catalog code 2 is not a candidate
    mask_rows(scores, np.array([2, -1, 0]), indptr, codes, position)
    assert np.isneginf(scores[0, 0]) and np.isneginf(scores[2, 1]) and np.isneginf(scores[2, 4])
    assert np.isinf(scores).sum() == 3 and not np.isinf(scores[1]).any()


@pytest.mark.parametrize("seed", range(12))
def test_the_chunk_bound_path_gives_the_stable_full_sort(seed):
    """Catalogs large enough for the chunk bound: distinct scores, ties, masked rows, NaN."""
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(1, 60)), int(rng.integers(128, 3000))
    scores = rng.standard_normal((n, m)).astype(np.float32 if seed % 3 == 0 else np.float64)
    if seed % 3 == 1:
        scores = np.round(scores * 2)  # heavy ties
    scores[rng.random((n, m)) < 0.1] = -np.inf
    scores[0] = -np.inf  # a fully masked row
    if seed % 4 == 2 and n > 1:
        scores[1, rng.integers(0, m, 3)] = np.nan
    before = scores.copy()
    for k in {1, 5, 10, 50, m // 40 + 1}:
        expected = np.argsort(-np.where(np.isnan(scores), -np.inf, scores), axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(top_k_rows(scores, k), expected)
    np.testing.assert_array_equal(scores, before)


@pytest.mark.parametrize("seed", range(8))
def test_rows_clipped_to_the_top_of_the_scale_give_the_stable_full_sort(seed):
    """Predicted ratings clipped at 5: many items tie at the row's maximum (the shortcut that
    takes the first k of them), beside rows with too few at the maximum and masked items."""
    rng = np.random.default_rng(200 + seed)
    n, m = int(rng.integers(2, 50)), int(rng.integers(400, 4000))
    scores = np.clip(rng.normal(4.5, 1.0, (n, m)), 1, 5).astype(np.float64 if seed % 2 else np.float32)
    scores[0] = np.minimum(scores[0], 4.999)  # no item at the maximum 5 in this row
    scores[1, : m // 2] = 5.0  # half the row at the maximum, in one run of columns
    scores[rng.random((n, m)) < 0.1] = -np.inf
    for k in {1, 10, 50}:
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(top_k_rows(scores, k), expected)
