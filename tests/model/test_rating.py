"""The rating towers: a phase of their own after retrieval, which leaves retrieval untouched."""

import numpy as np
import pytest
from helpers import evaluate_frame, train_split

from tfrec.data import load_synthetic
from tfrec.data.columns import feature_columns, side_columns
from tfrec.data.sources import FrameSource
from tfrec.errors import ConfigError, TfrecError
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.model.network.persist import load_model, save_model
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.rating_fit import fit_rating_towers
from tfrec.model.training.seen_penalty import SAMPLE_USERS, without_seen_penalty

CONFIG = ModelConfig(epochs=2, embedding_dim=16, id_embedding_dim=16, feature_embedding_dim=8, rating_layers=(16,),
                     rating_epochs=3, rating_batch_size=256, rating_learning_rate=0.01, seed=5)


@pytest.fixture(scope="module")
def split():
    return make_splits(load_synthetic(400, 200, 8000, seed=11), "random", seed=0)[0]


@pytest.fixture(scope="module")
def trained(split):
    return train_split(CONFIG, split)


def _weights(variables):
    return {v.name: v.numpy().copy() for v in variables}


def test_the_rating_phase_changes_the_rating_towers_only(trained, split):
    model = trained.model
    towers = {v.name for v in model.rating_towers.trainable_variables}
    derived = {v.name for v in model.tower_scores.variables}  # the towers' outputs, refilled
    before = _weights(model.variables)
    assert towers and len(towers) < len(before)
    curves, seconds = fit_rating_towers(model, FrameSource(split.dataset, split.train), len(split.train))
    after = _weights(model.variables)
    for name, value in before.items():
        if name in towers or name in derived:
            continue
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert all(not np.array_equal(after[name], before[name]) for name in towers if "bias" not in name)
    assert len(curves["rating_phase_rmse"]) == CONFIG.rating_epochs and seconds > 0
    assert curves["rating_phase_rmse"][-1] < trained.history["rating_phase_rmse"][0]


def test_without_the_blend_rankings_do_not_depend_on_the_rating_phase(split):
    """rating_blend = 0, same seed, a longer rating phase: the same retrieval embeddings."""
    config = CONFIG.replace(rating_blend=0.0)
    longer = train_split(config.replace(rating_epochs=5), split).model
    sample = {k: v[:64] for k, v in feature_columns(split.dataset, split.test).items()}
    first = TwoTowerModel.__call__(train_split(config, split).model, sample)
    second = longer(sample)
    for key in ("query_embedding", "candidate_embedding"):
        np.testing.assert_array_equal(first[key].numpy(), second[key].numpy())
    assert not np.allclose(first["rating"].numpy(), second["rating"].numpy())


def test_rating_towers_rate_better_than_the_head_on_the_history(trained, split):
    """The synthetic ratings follow user and item features, which only the rating towers read."""
    towers = evaluate_frame(trained.model, split.dataset, split.test)["rmse"]
    head = evaluate_frame(train_split(CONFIG.replace(rating_epochs=0), split).model, split.dataset,
                          split.test)["rmse"]
    mean = split.train.rating.mean()
    baseline = float(np.sqrt(((split.test.rating - mean) ** 2).mean()))
    assert towers < head - 0.02 and towers < baseline - 0.05, (towers, head, baseline)


def test_history_keeps_each_phase_apart(trained):
    assert len(trained.history["rating_phase_loss"]) == CONFIG.rating_epochs
    assert len(trained.history["loss"]) == CONFIG.epochs
    assert "rmse" not in trained.history  # the towers are not trained in the retrieval phase


def test_save_load_round_trip(trained, split, tmp_path):
    save_model(trained.model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    sample = {k: v[:32] for k, v in feature_columns(split.dataset, split.test).items()}
    np.testing.assert_allclose(loaded.predict_rating(sample), trained.model.predict_rating(sample), rtol=1e-5)
    assert loaded.get_config()["rating_specs"] == trained.model.get_config()["rating_specs"]
    assert [s["name"] for s in loaded.get_config()["rating_specs"][0]][0] == "user_id"


def test_rating_towers_need_both_tasks(split):
    """A rating-only model (or rating_epochs = 0) trains its head in one phase, without towers."""
    model = train_split(CONFIG.replace(retrieval_weight=0.0, rating_epochs=2, epochs=1), split).model
    assert model.rating_towers is None and model.has_rating_head


@pytest.mark.parametrize("changes, message", [
    ({"rating_epochs": -1}, "rating_epochs must be an integer from 0"),
    ({"rating_batch_size": 0}, "rating_batch_size must be an integer from 1"),
    ({"rating_learning_rate": 0}, "rating_learning_rate must be a number"),
])
def test_rating_options_are_checked(changes, message):
    with pytest.raises(ConfigError, match=message):
        CONFIG.replace(**changes)


def test_a_diverging_rating_phase_names_its_step_size(split):
    with pytest.raises(TfrecError, match="Lower rating_learning_rate"):
        train_split(CONFIG.replace(epochs=1, rating_learning_rate=100.0, rating_epochs=2), split)


def test_the_blend_adds_the_rating_towers_score_at_its_weight(trained, split):
    """score = retrieval score + w * user_tower . item_tower, w setting the added score's spread
    to rating_blend x the retrieval score's; users unknown to training get nothing added."""
    model = trained.model
    assert len(model.user_vocabulary) <= SAMPLE_USERS  # the sample that set the weight: every user
    users = side_columns(split.dataset, "user", np.asarray(model.user_vocabulary), missing="default")
    items = side_columns(split.dataset, "item", np.asarray(model.item_vocabulary), missing="default")
    with without_seen_penalty(model):  # set after the blend, which it does not enter
        query, candidate = model.query_embedding(users).numpy(), model.candidate_embedding(items).numpy()
    width = model.tower_scores.users.shape[1]
    full, retrieval = query @ candidate.T, query[:, :-width] @ candidate[:, :-width].T
    towers = model.rating_towers.user_tower(users).numpy() @ model.rating_towers.item_tower(items).numpy().T
    added = full - retrieval
    weight = float(np.sum(added * towers) / np.sum(towers * towers))
    np.testing.assert_allclose(added, weight * towers, rtol=1e-3, atol=1e-4)
    assert weight > 0 and added.std() / retrieval.std() == pytest.approx(CONFIG.rating_blend, rel=1e-3)
    unknown = {k: v[:5] for k, v in users.items()} | {"user_id": np.full(5, 10**9)}
    np.testing.assert_array_equal(model.query_embedding(unknown).numpy()[:, -width:], 0.0)
