"""One contract suite for every model, plus exactness of the vectorized Surprise scoring."""

import numpy as np
import pandas as pd
import pytest

from tfrec.data import load_synthetic
from tfrec.errors import ConfigError, TfrecError
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.recommenders import MODEL_NAMES, SURPRISE_MODELS, make_model
from tfrec.recommenders.base import SeenItems
from tfrec.recommenders.surprise_models import SurpriseRecommender

TINY = ModelConfig(embedding_dim=8, tower_layers=(), id_embedding_dim=8, feature_embedding_dim=4,
                   rating_layers=(8,), epochs=2, batch_size=256, top_k=20)


@pytest.fixture(scope="module")
def split():
    dataset = load_synthetic(120, 60, 1500, seed=5)
    return make_splits(dataset, "random", seed=1)[0]


@pytest.fixture(scope="module")
def fitted(split):
    models = {}
    for name in MODEL_NAMES:
        models[name] = make_model(name, seed=3, config=TINY).fit(split.train, split.dataset)
    return models


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_recommend_contract(name, fitted, split):
    model = fitted[name]
    users = np.unique(split.test.user_id)[:25]
    ids, scores = model.recommend(users, k=10)
    assert ids.shape == scores.shape == (len(users), 10)
    assert np.all(np.diff(scores, axis=1) <= 0), "scores sorted best first"
    for user, row in zip(users, ids, strict=True):
        assert not set(row) & set(model.seen_items(user)), "seen items excluded"
        assert len(set(row)) == 10
        assert set(row) <= set(split.dataset.item_ids)
    kept, _ = model.recommend(users[:3], k=10, exclude_seen=False)
    assert kept.shape == (3, 10)
    candidates = split.dataset.item_ids[:15]
    restricted, _ = model.recommend(users[:3], k=5, candidates=candidates)
    assert set(restricted.ravel()) <= set(candidates)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_users_and_items_never_crash(name, fitted, split):
    model = fitted[name]
    ids, scores = model.recommend(np.array([10**6]), k=5)
    assert ids.shape == (1, 5) and np.isfinite(scores).all()
    counts = model.unknown_counts(np.array([10**6, split.train.user_id.iloc[0]]), np.array([0, 10**6]))
    assert counts == {"pairs": 2, "unknown_users": 1, "unknown_items": 1, "unknown_either": 2}
    if model.predicts_ratings:
        values = model.predict(np.array([10**6, split.train.user_id.iloc[0]]),
                             np.array([split.train.item_id.iloc[0], 10**6]))
        assert np.isfinite(values).all() and values.shape == (2,)


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "normal"])
def test_score_means_what_score_matrix_ranks_by(name, fitted, split):
    model = fitted[name]
    users = np.unique(split.test.user_id)[:4]
    items = model.catalog[:30]
    matrix = model.score_matrix(users)[:, :30]
    pairs = model.score(np.repeat(users, 30), np.tile(items, 4)).reshape(4, 30)
    np.testing.assert_allclose(pairs, matrix, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_lists(name, fitted, split):
    users = np.unique(split.test.user_id)[:10]
    again = make_model(name, seed=3, config=TINY).fit(split.train, split.dataset)
    first, _ = fitted[name].recommend(users, k=5)
    second, _ = again.recommend(users, k=5)
    if name == "normal":  # draws fresh random numbers on every call, like Surprise's predict
        assert first.shape == second.shape
    else:
        np.testing.assert_array_equal(first, second)


def test_k_larger_than_catalog_and_bad_arguments(fitted, split):
    model = fitted["svd"]
    ids, scores = model.recommend(split.test.user_id.iloc[:2].to_numpy(), k=10**6)
    assert ids.shape[1] == len(split.dataset.item_ids)
    assert np.isneginf(scores[:, -1]).all(), "excluded seen items fill the tail with -inf"
    with pytest.raises(TfrecError, match="k must be a positive integer"):
        model.recommend([1], k=0)
    with pytest.raises(TfrecError, match="not in the catalog"):
        model.recommend([1], k=3, candidates=[10**6])
    with pytest.raises(TfrecError, match="call fit"):
        make_model("svd").recommend([1], k=3)
    with pytest.raises(ConfigError, match="unknown model 'lightfm'"):
        make_model("lightfm")
    with pytest.raises(ConfigError, match="popularity takes no parameters"):
        make_model("popularity", params={"k": 3})
    with pytest.raises(ConfigError, match="ease: invalid parameters"):
        make_model("ease", params={"lambda": 3})
    with pytest.raises(TfrecError, match="no rating head"):
        retrieval_only = make_model("two-tower", config=TINY.replace(rating_weight=0.0))
        retrieval_only.fit(split.train, split.dataset).predict([1], [1])


@pytest.mark.parametrize("name", [n for n in SURPRISE_MODELS if n != "normal"])
def test_vectorized_scoring_equals_surprise_predict(name, fitted, split):
    model = fitted[name]
    rng = np.random.default_rng(0)
    users = np.r_[rng.choice(split.dataset.user_ids, 150), [10**6, 10**6]]
    items = np.r_[rng.choice(split.dataset.item_ids, 150), [split.train.item_id.iloc[0], 10**6]]
    expected = np.array([model.algo.predict(u, i).est for u, i in zip(users, items, strict=True)])
    np.testing.assert_allclose(model.score(users, items), expected, atol=1e-6, rtol=0)
    matrix = model.score_matrix(users[:20])
    catalog = split.dataset.item_ids
    full = np.array([[model.algo.predict(u, i).est for i in catalog] for u in users[:20]])
    np.testing.assert_allclose(matrix, full, atol=1e-6, rtol=0)


def test_normal_predictor_draws_from_the_fitted_normal(fitted, split):
    model = fitted["normal"]
    values = model.score(np.repeat(split.train.user_id.iloc[0], 20000), np.repeat(split.train.item_id.iloc[0], 20000))
    low, high = split.dataset.schema.rating_scale
    assert values.min() >= low and values.max() <= high
    unclipped_mean = model.trainset.global_mean
    assert abs(np.median(values) - unclipped_mean) < 0.1


@pytest.mark.parametrize("user_based", [True, False])
def test_knn_ties_follow_surprise_order(user_based):
    """Cosine similarities of 1.0 tie often; neighbour selection must match heapq.nlargest."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"user_id": rng.integers(0, 40, 600), "item_id": rng.integers(0, 25, 600),
                          "rating": rng.integers(1, 6, 600)}).drop_duplicates(["user_id", "item_id"])
    from tfrec.data.dataset import build_dataset
    from tfrec.schema import Schema

    dataset = build_dataset("ties", Schema(), frame)
    model = SurpriseRecommender("KNNBasic", k=3, sim_options={"name": "cosine", "user_based": user_based})
    model.fit(frame, dataset)
    users, items = np.meshgrid(dataset.user_ids, dataset.item_ids, indexing="ij")
    expected = np.array([model.algo.predict(u, i).est for u, i in zip(users.ravel(), items.ravel(), strict=True)])
    np.testing.assert_allclose(model.score(users.ravel(), items.ravel()), expected, atol=1e-9)


@pytest.mark.slow
def test_knn_on_ml100k_match_predict(ml100k):
    (split,) = make_splits(ml100k, "predefined", folds=["u1"])
    rng = np.random.default_rng(1)
    users = rng.choice(ml100k.user_ids, 300)
    items = rng.choice(ml100k.item_ids, 300)
    for name in ("item-knn", "knn-baseline"):
        model = make_model(name).fit(split.train, ml100k)
        expected = np.array([model.algo.predict(u, i).est for u, i in zip(users, items, strict=True)])
        np.testing.assert_allclose(model.score(users, items), expected, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in SURPRISE_MODELS if n != "normal"])
def test_saved_surprise_models_load_without_pickle_and_score_the_same(name, fitted, split, tmp_path):
    model = fitted[name]
    model.save(tmp_path / name)
    with np.load(tmp_path / name / "arrays.npz", allow_pickle=False) as stored:
        assert stored.files  # plain arrays: loadable with pickling disabled
    loaded = SurpriseRecommender.load(tmp_path / name)
    users = np.r_[split.test.user_id.to_numpy()[:50], [10**6]]
    items = np.r_[split.test.item_id.to_numpy()[:50], [10**6]]
    np.testing.assert_allclose(loaded.score(users, items), model.score(users, items), atol=1e-12)
    first, _ = model.recommend(users[:5], k=7)
    again, _ = loaded.recommend(users[:5], k=7)
    np.testing.assert_array_equal(first, again)


def test_loading_a_damaged_surprise_model_is_a_clear_error(tmp_path):
    (tmp_path / "model.json").write_text("{")
    with pytest.raises(TfrecError, match="not a saved Surprise model"):
        SurpriseRecommender.load(tmp_path)


HISTORY_TINY = TINY.replace(history=True, use_user_id=False, user_features=(), item_features=(),
                            context_features=(), projection=False, negatives="full", history_dropout=0.0,
                            retrieval_weight=1.0, rating_weight=0.0)


#: The history two-tower, and the same with the linear item-to-item path on users' batches.
HISTORY_CONFIGS = {"two-tower-history": HISTORY_TINY,
                   "two-tower-linear": HISTORY_TINY.replace(examples="users", user_loss="squared",
                                                            history_linear=True, history_dropout=0.5)}


@pytest.fixture(scope="module")
def history_two_tower(split):
    return {name: make_model("two-tower", seed=3, config=config).fit(split.train, split.dataset)
            for name, config in HISTORY_CONFIGS.items()}


def _new_users(split):
    """The test rows as histories of users unknown to training."""
    fold = split.test.assign(user_id=split.test.user_id + 10**6)
    return np.unique(fold.user_id)[:20], SeenItems.build(fold, split.dataset)


@pytest.mark.parametrize("name", [*MODEL_NAMES, *HISTORY_CONFIGS])
def test_recommend_from_history_contract(name, fitted, history_two_tower, split):
    model = history_two_tower[name] if name in history_two_tower else fitted[name]
    users, history = _new_users(split)
    ids, scores = model.recommend_from_history(users, history, k=10)
    assert ids.shape == scores.shape == (len(users), 10)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for user, row in zip(users, ids, strict=True):
        given = history.catalog[history.codes_of(history.rows(np.array([user]))[0])]
        assert not set(row) & set(given), "history items left out"
        assert set(row) <= set(split.dataset.item_ids) and len(set(row)) == 10
    if model.uses_history:  # different histories, different lists
        assert len({tuple(r) for r in ids}) > 1


@pytest.mark.parametrize("name", ["ease", "item-knn-bm25", "item-knn-cosine", *HISTORY_CONFIGS])
def test_a_training_history_given_again_scores_like_the_trained_user(name, fitted, history_two_tower, split):
    model = history_two_tower[name] if name in history_two_tower else fitted[name]
    assert model.uses_history
    users = np.unique(split.train.user_id)[:20]
    again = SeenItems.build(split.train, split.dataset)
    np.testing.assert_allclose(model.score_histories(users, again), model.score_matrix(users),
                               rtol=1e-4, atol=1e-5)
