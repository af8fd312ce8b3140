"""EASE^R: the closed form, cold users, memory refusal, and the ml-100k reference figure."""

import numpy as np
import pytest

from tfrec.data import load_synthetic
from tfrec.errors import ConfigError
from tfrec.evaluation.harness import evaluate
from tfrec.evaluation.splits import make_splits
from tfrec.recommenders import make_model
from tfrec.recommenders.ease import EASE, ease_memory_bytes


@pytest.fixture(scope="module")
def split():
    return make_splits(load_synthetic(120, 60, 1500, seed=4), "random", seed=1)[0]


def test_weights_solve_the_constrained_ridge_problem(split):
    model = EASE(l2=50.0).fit(split.train, split.dataset)
    x = model.seen.matrix().toarray().astype(np.float64)
    b = model._weights.astype(np.float64)
    assert np.allclose(np.diag(b), 0.0)
    # Stationarity of the Lagrangian: (X^T X + l2 I) B - X^T X = -diag(mu), only on the diagonal.
    residual = (x.T @ x + 50.0 * np.eye(len(b))) @ b - x.T @ x
    off = residual - np.diag(np.diag(residual))
    assert np.abs(off).max() < 1e-3 * np.abs(x.T @ x).max()
    users = split.train.user_id.unique()[:5]
    np.testing.assert_allclose(model.score_matrix(users), x[model.seen.rows(users)] @ b, rtol=1e-4, atol=1e-5)


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
