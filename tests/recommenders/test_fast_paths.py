"""The harness's fast scoring paths give the numbers of the plain formulas they replace, bit for
bit, so that every list and metric stays what it was: SVD/SVD++'s baseline-plus-product (and the
lists ranked from its float32 screen), EASE's ``x B`` (tile by tile), ALS/BPR's factor product
written in place. The references below are the formulas as they were computed before (kept here
only)."""

import numpy as np
import pytest

from tfrec.data import load_synthetic
from tfrec.evaluation.splits import make_splits
from tfrec.recommenders import make_model
from tfrec.recommenders.base import SeenItems


def reference_svd(model, users):
    """Surprise's estimate for every catalog item, as the masked formula computed it."""
    algo, mu = model.algo, model.trainset.global_mean
    u = model._user_inner.get_indexer(np.asarray(users))
    i = model._catalog_inner
    known_u, known_i = u >= 0, i >= 0
    uu, ii = np.where(known_u, u, 0), np.where(known_i, i, 0)
    both = known_u[:, None] & known_i[None, :]
    factor = algo.pu[uu] + (model._implicit[uu] if model.algorithm == "SVDpp" else 0.0)
    base = (mu + np.where(known_u[:, None], algo.bu[uu][:, None], 0.0)
            + np.where(known_i[None, :], algo.bi[ii][None, :], 0.0))
    estimates = base + np.where(both, factor @ algo.qi[ii].T, 0.0)
    estimates = np.where(np.isnan(estimates), mu, estimates)
    return np.clip(estimates, *model.trainset.rating_scale)


def reference_ease(model, history: SeenItems, users):
    rows = history.rows(np.asarray(users))
    out = np.empty((len(rows), len(model.catalog)), np.float32)
    out[rows >= 0] = history.matrix()[rows[rows >= 0]] @ model.weights
    out[rows < 0] = model._popularity
    return out


def reference_factors(model, users):
    rows = model.seen.rows(np.asarray(users))
    return model.model.user_factors[rows] @ model.model.item_factors.T


def reference_lists(model, scores, users, k=10):
    """The stable full sort of the reference scores, training items left out."""
    scores = scores.astype(np.float64).copy()
    for r, user in enumerate(users):
        scores[r, model.seen.catalog_index.get_indexer(model.seen_items(user))] = -np.inf
    return model.catalog[np.argsort(-scores, axis=1, kind="stable")[:, :k]]


@pytest.fixture(scope="module")
def split():
    return make_splits(load_synthetic(300, 400, 6000, seed=7), "random", seed=2)[0]


@pytest.mark.parametrize("name", ["svd", "svdpp"])
def test_svd_matrix_is_the_masked_formula_bit_for_bit(name, split):
    model = make_model(name, seed=1, params={"n_epochs": 3}).fit(split.train, split.dataset)
    users = np.r_[split.dataset.user_ids[:50], [10**6]]  # and a user training never saw
    np.testing.assert_array_equal(model.score_matrix(users), reference_svd(model, users))


@pytest.mark.parametrize("name", ["svd", "svdpp"])
def test_svd_lists_ranked_from_the_float32_screen_are_the_float64_lists(name, split):
    model = make_model(name, seed=1, params={"n_epochs": 40, "lr_all": 0.02}).fit(split.train, split.dataset)
    assert model.screen_matrix(split.dataset.user_ids[:2]) is not None  # the screened path is the one run
    users = np.r_[split.dataset.user_ids, [10**6]]
    reference = reference_svd(model, users)
    assert (reference == 5.0).sum(axis=1).max() > 10, "rows tied at the top of the scale are exercised"
    lists, scores = model.recommend(users, k=10)
    np.testing.assert_array_equal(lists, reference_lists(model, reference, users))
    positions = model.seen.catalog_index.get_indexer(lists.ravel()).reshape(lists.shape)
    np.testing.assert_allclose(scores, np.take_along_axis(reference, positions, axis=1), rtol=1e-12)
    candidates = model.catalog[::3]
    lists, _ = model.recommend(users, k=7, candidates=candidates, exclude_seen=False)
    columns = model.seen.catalog_index.get_indexer(candidates)
    np.testing.assert_array_equal(lists, candidates[np.argsort(-reference[:, columns], axis=1, kind="stable")[:, :7]])


def test_ease_gather_is_the_sparse_product_bit_for_bit(split):
    model = make_model("ease").fit(split.train, split.dataset)
    users = np.r_[split.dataset.user_ids[:80], [10**6]]
    np.testing.assert_array_equal(model.score_matrix(users), reference_ease(model, model.seen, users))
    history = SeenItems.build(split.test, split.dataset)
    np.testing.assert_array_equal(model.score_histories(users, history), reference_ease(model, history, users))


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_factor_models_write_the_same_product(name, split):
    model = make_model(name, seed=1).fit(split.train, split.dataset)
    users = split.dataset.user_ids[:60]
    np.testing.assert_array_equal(model.score_matrix(users), reference_factors(model, users))


@pytest.mark.slow
def test_the_lists_on_ml100k_are_the_stable_sort_of_the_reference_scores(ml100k):
    """u1 (its catalog has items u1.base never saw): the harness's lists of SVD, EASE and ALS
    equal the stable full sort of the formulas they replaced, user for user."""
    split = make_splits(ml100k, "predefined", folds=["u1"])[0]
    users = np.unique(split.test[ml100k.schema.user_id])
    for name, reference in (("svd", reference_svd), ("ease", lambda m, u: reference_ease(m, m.seen, u)),
                            ("als", reference_factors)):
        model = make_model(name, seed=1).fit(split.train, ml100k)
        lists, _ = model.recommend(users, k=10)
        np.testing.assert_array_equal(lists, reference_lists(model, reference(model, users), users), name)


@pytest.mark.parametrize("linear", [slice(3, 9), None])
def test_the_two_towers_catalog_scores_are_the_dot_products(linear):
    from tfrec.recommenders.two_tower import CatalogScorer

    rng = np.random.default_rng(0)
    items = rng.normal(size=(7, 12)).astype(np.float32)
    queries = rng.normal(size=(5, 12)).astype(np.float32)
    if linear is not None:  # the multi-hot history: a few nonzeros, weighted
        queries[:, linear] = (rng.random((5, 6)) < 0.3) * rng.choice([0.5, 1.0], size=(5, 6))
    scores = CatalogScorer(items, linear)(queries)
    assert scores.dtype == np.float64 and scores.shape == (5, 7)
    np.testing.assert_allclose(scores, queries.astype(np.float64) @ items.T.astype(np.float64), rtol=1e-5, atol=1e-5)
