"""User-level training (``examples = "users"``): its loss, its choice by ``auto``, its training."""


import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers import build_from_frame, train_split

from tfrec.data.columns import side_columns
from tfrec.data.sources import FrameSource
from tfrec.errors import ConfigError
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.model.config_check import FULL_SOFTMAX_LOGITS, LINEAR_MAX_ITEMS, SOLVED_LINEAR_MAX_ITEMS
from tfrec.model.training.build import resolve_examples
from tfrec.model.training.fit import train

USERS = ModelConfig(history=True, embedding_dim=8, id_embedding_dim=8, use_user_id=False,
                    user_features=(), item_features=(), context_features=(), tower_layers=(),
                    projection=False, rating_weight=0.0, epochs=3, user_batch_size=16,
                    history_dropout=0.0, learning_rate=0.05, examples="users", history_linear=False)


def test_user_loss_is_the_multinomial_likelihood_of_the_stored_items(synthetic):
    model = build_from_frame(USERS.replace(item_bias=True), synthetic, synthetic.interactions)
    catalog = side_columns(synthetic, "item", synthetic.item_ids, missing="default")
    model.set_training_catalog(catalog)
    bias = model.retrieval_bias.embeddings
    bias.assign(tf.random.normal(bias.shape, seed=1))
    users = np.asarray(model.user_vocabulary[:7])
    loss = float(model.users_loss({"user_id": tf.constant(users)}))
    # By hand: log-softmax of each user's scores over the catalog, summed over its distinct items.
    query = model.query_embedding({"user_id": tf.constant(users)}).numpy()
    logits = query @ model.candidate_embedding(catalog).numpy().T
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    pairs = synthetic.interactions[["user_id", "item_id"]].drop_duplicates()
    position = pd.Index(catalog["item_id"])
    expected = -sum(log_p[u, position.get_indexer(pairs[pairs.user_id == user].item_id)].sum()
                    for u, user in enumerate(users))
    assert expected > 0
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_user_loss_adds_the_rating_error_of_the_same_pairs(synthetic):
    config = USERS.replace(rating_weight=1.0, retrieval_weight=1e-9, rating_epochs=0)  # the joint head
    model = build_from_frame(config, synthetic, synthetic.interactions)
    assert model.history_pool.ratings is not None, "the table keeps the ratings"
    model.set_training_catalog(side_columns(synthetic, "item", synthetic.item_ids, missing="default"))
    users = np.asarray(model.user_vocabulary[:5])
    loss = float(model.users_loss({"user_id": tf.constant(users)}))
    rows = synthetic.interactions[synthetic.interactions.user_id.isin(users)]
    rows = rows.drop_duplicates(["user_id", "item_id"], keep="last")
    predicted = model.predict_rating({"user_id": tf.constant(rows.user_id.to_numpy()),
                                      "item_id": tf.constant(rows.item_id.to_numpy())}).numpy()
    expected = np.mean((predicted - rows.rating.to_numpy()) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-3)


def test_auto_trains_users_with_the_linear_path_where_it_can():
    def resolved(n_items=1000, distributed=False, weighted=False, **changes):
        config = resolve_examples(ModelConfig(**changes), n_items, distributed, weighted)
        return config.examples, config.history_linear, config.user_loss, config.negatives

    assert resolve_examples(ModelConfig(), 1000, False).kept_item_weight == 0.0  # squared: the kept items skipped
    assert resolve_examples(ModelConfig(), SOLVED_LINEAR_MAX_ITEMS + 1, False).kept_item_weight == 1.0  # multinomial
    assert resolve_examples(ModelConfig(kept_item_weight=0.5), 1000, False).kept_item_weight == 0.5

    assert resolved() == ("users", True, "squared", "full")
    assert resolved(n_items=SOLVED_LINEAR_MAX_ITEMS) == ("users", True, "squared", "full")
    assert resolved(n_items=SOLVED_LINEAR_MAX_ITEMS + 1) == ("users", False, "multinomial", "full")
    learned = {"linear_solver": "sgd"}  # its optimizer's n x n moments: a lower limit
    assert resolved(n_items=LINEAR_MAX_ITEMS, **learned) == ("users", True, "squared", "full")
    assert resolved(n_items=LINEAR_MAX_ITEMS + 1, **learned) == ("users", False, "multinomial", "full")
    assert resolved(distributed=True) == ("interactions", False, "multinomial", "full")
    assert resolved(weighted=True) == ("interactions", False, "multinomial", "full")
    assert resolved(history=False) == ("interactions", False, "multinomial", "full")
    assert resolved(negatives="mixed") == ("interactions", False, "multinomial", "mixed")
    beyond = FULL_SOFTMAX_LOGITS // ModelConfig().user_batch_size + 1  # the users' softmax too large
    assert resolved(n_items=beyond) == ("interactions", False, "multinomial", "mixed")
    assert resolved(examples="interactions") == ("interactions", False, "multinomial", "full")
    assert resolved(user_loss="multinomial") == ("users", True, "multinomial", "full")
    with pytest.raises(ConfigError, match="set examples = 'users' or history_linear = false"):
        resolve_examples(ModelConfig(history_linear=True), 1000, distributed=True)
    resolved_users = resolve_examples(USERS.replace(negatives="auto"), 1000, distributed=False)
    assert (resolved_users.examples, resolved_users.negatives) == ("users", "full")


def test_building_settles_the_auto_choices(synthetic):
    model = build_from_frame(ModelConfig(embedding_dim=8, epochs=1), synthetic, synthetic.interactions)
    config = model.model_config
    assert (config.examples, config.history_linear, config.user_loss) == ("users", True, "squared")
    assert model.linear is not None and model.linear.solved


def test_users_asked_for_with_a_weight_column_warn_that_it_is_not_read(caplog):
    resolve_examples(USERS, 100, distributed=False, weighted=True)
    assert "does not read the weight column" in caplog.text


def test_users_are_refused_where_they_cannot_train():
    with pytest.raises(ConfigError, match="needs history = true"):
        USERS.replace(history=False)
    with pytest.raises(ConfigError, match="negatives = 'in_batch' applies to examples = 'interactions'"):
        USERS.replace(negatives="in_batch")
    with pytest.raises(ConfigError, match="examples must be one of"):
        USERS.replace(examples="rows")
    with pytest.raises(ConfigError, match="trains on one device"):
        resolve_examples(USERS, 100, distributed=True)


def test_training_on_users_learns_and_ranks(synthetic):
    split = make_splits(synthetic, "random", test_ratio=0.2, validation_ratio=0.1, seed=3)[0]
    result = train_split(USERS.replace(epochs=6), split)
    assert result.model.model_config.examples == "users"
    losses = result.history["retrieval_loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0]
    # Validation runs on interaction rows as usual: the same per-example loss and nDCG@10.
    assert len(result.history["val_retrieval_loss"]) == len(result.history["val_ndcg@10"]) == 6
    assert result.model.indexed_item_embeddings.shape[0] == len(synthetic.item_ids)


def test_training_on_users_is_seeded(synthetic):
    rows = synthetic.interactions
    first, second = (train(USERS.replace(history_dropout=0.5), FrameSource(synthetic, rows)) for _ in range(2))
    assert first.history["loss"] == second.history["loss"]
    other = train(USERS.replace(history_dropout=0.5, seed=7), FrameSource(synthetic, rows))
    assert other.history["loss"] != first.history["loss"]
