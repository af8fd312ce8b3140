"""EASE^R: the closed form, cold users, memory refusal, and the ml-100k reference figure."""

import numpy as np
import pytest

from tfrec.data import load_synthetic
from tfrec.errors import ConfigError
from tfrec.evaluation.harness import evaluate
from tfrec.evaluation.splits import make_splits
from tfrec.recommenders import ease as ease_module
from tfrec.recommenders import make_model
from tfrec.recommenders.ease import EASE, ease_memory_bytes


@pytest.fixture(scope="module")
def split():
    return make_splits(load_synthetic(120, 60, 1500, seed=4), "random", seed=1)[0]


def test_weights_solve_the_constrained_ridge_problem(split):
    model = EASE(l2=50.0).fit(split.train, split.dataset)
    x = model.seen.matrix().toarray().astype(np.float64)
    b = model.weights.astype(np.float64)
    assert np.allclose(np.diag(b), 0.0)
    # Stationarity of the Lagrangian: (X^T X + l2 I) B - X^T X = -diag(mu), only on the diagonal.
    residual = (x.T @ x + 50.0 * np.eye(len(b))) @ b - x.T @ x
    off = residual - np.diag(np.diag(residual))
    assert np.abs(off).max() < 1e-3 * np.abs(x.T @ x).max()
    users = split.train.user_id.unique()[:5]
    np.testing.assert_allclose(model.score_matrix(users), x[model.seen.rows(users)] @ b, rtol=1e-4, atol=1e-5)


def test_column_tiles_score_exactly_the_sum_of_each_users_rows_of_b(split, monkeypatch):
    whole = EASE(l2=50.0).fit(split.train, split.dataset)  # 60 items: one tile
    monkeypatch.setattr(ease_module, "TILE_COLUMNS", 7)
    tiled = EASE(l2=50.0).fit(split.train, split.dataset)
    assert len(tiled._tiles) == 9 and all(t.flags.c_contiguous for t in tiled._tiles)
    np.testing.assert_array_equal(tiled.weights, whole.weights)
    b = whole.weights
    users = np.concatenate([split.train.user_id.unique()[:20], [10**9]])  # the last one is cold
    rows = tiled.seen.rows(users)
    expected = np.stack([b[tiled.seen.codes_of(r)].sum(axis=0) if r >= 0 else whole.score_matrix(users[-1:])[0]
                         for r in rows])
    np.testing.assert_array_equal(tiled.score_matrix(users), expected)  # bit for bit, item order
    np.testing.assert_array_equal(tiled.score_matrix(users[:-1]), expected[:-1])


def test_cold_users_get_popularity_and_big_catalogs_are_refused(split):
    model = make_model("ease").fit(split.train, split.dataset)
    cold = model.score_matrix(np.array([10**9]))[0]
    assert np.argmax(cold) == np.argmax(np.bincount(model.seen.codes, minlength=len(model.catalog)))
    assert ease_memory_bytes(100_000) == 3 * 4 * 10**10
    with pytest.raises(ConfigError, match=r"needs about .* GB .*limit 1e-06 GB"):
        EASE(max_memory_gb=1e-6).fit(split.train, split.dataset)
    with pytest.raises(ConfigError, match="l2 must be > 0"):
        EASE(l2=0)


@pytest.mark.slow
def test_ease_reproduces_the_reference_on_ml100k(ml100k):
    """nDCG@10 0.4725 +/- 0.005 at lambda = 300 on u1-u5 (full catalog, seen excluded, k = 10)."""
    result = evaluate({"ease": lambda: EASE(l2=300.0)}, make_splits(ml100k, "predefined"), ks=(10,))
    rows = result.rows
    ndcg = rows[(rows.metric == "ndcg") & (rows.k == 10)]["value"]
    assert len(ndcg) == 5 and abs(ndcg.mean() - 0.4725) < 0.005, ndcg.mean()


def test_above_the_fast_paths_memory_one_matrix_inverted_in_place_gives_the_same_model(split):
    fast = EASE(l2=50.0).fit(split.train, split.dataset)
    n = len(fast.catalog)
    between = (ease_memory_bytes(n, in_place=True) + ease_memory_bytes(n)) / 2 / 2**30  # only in place fits
    lean = EASE(l2=50.0, max_memory_gb=between).fit(split.train, split.dataset)
    assert lean.weights.flags.c_contiguous and lean.weights.dtype == np.float32
    np.testing.assert_allclose(lean.weights, fast.weights, rtol=1e-3, atol=1e-5 * np.abs(fast.weights).max())
    assert not np.any(np.diag(lean.weights))
    users = split.train.user_id.unique()[:50]
    same = [len(set(a) & set(b)) for a, b in zip(np.argsort(-fast.score_matrix(users))[:, :10],
                                                 np.argsort(-lean.score_matrix(users))[:, :10], strict=True)]
    assert np.mean(same) >= 9.5, "the same top 10, up to near ties"
    with pytest.raises(ConfigError, match="needs about"):
        EASE(max_memory_gb=ease_memory_bytes(n, in_place=True) / 2 / 2**30).fit(split.train, split.dataset)


def test_the_in_place_inverse_mirrors_every_block():
    """Blocks smaller than the catalog: the triangles across block borders are mirrored too."""
    import scipy.sparse as sp

    from tfrec.model.training.closed_form import ease_weights_in_place, regularized_inverse

    x = sp.random(60, 23, density=0.3, random_state=1, format="csr", dtype=np.float64)
    x.data[:] = 1.0
    inverse, _ = regularized_inverse(x, 5.0)
    expected = inverse / -np.diag(inverse)[None, :]
    expected[np.diag_indices(23)] = 0.0
    np.testing.assert_allclose(ease_weights_in_place(x, 5.0, block=5), expected, rtol=1e-4, atol=1e-6)
