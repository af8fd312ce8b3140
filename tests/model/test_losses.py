"""The retrieval objectives on plain tensors: each class against the formula it implements."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.features.encoder import lookup_layer
from tfrec.model.network.losses import (
    FullSoftmax,
    InBatchSoftmax,
    MixedSoftmax,
    TrainingCatalog,
    UserMultinomial,
    UserSquared,
    make_objective,
    softmax_loss,
)
from tfrec.model.settled import Settled

RNG = np.random.default_rng(0)
ITEMS = np.array([10, 20, 30, 40, 50], dtype=np.int64)
DIM = 4
TABLE = RNG.normal(size=(len(ITEMS), DIM)).astype(np.float32)


def embed(features, training=False):
    """A candidate 'tower' on plain tensors: item id -> its row of TABLE."""
    rows = tf.searchsorted(tf.constant(ITEMS), tf.cast(features["item_id"], tf.int64))
    return tf.gather(tf.constant(TABLE), rows)


def log_softmax(x):
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


@pytest.fixture()
def parts():
    index = lookup_layer("int", list(ITEMS), "item_index")
    catalog = TrainingCatalog({"item_id": ITEMS}, "item_id", "int", index)
    probabilities = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    log_p = tf.constant(np.log(np.concatenate([[0.1], probabilities])), tf.float32)
    return index, catalog, probabilities, log_p


def test_full_softmax_is_the_catalog_cross_entropy(parts):
    _, catalog, _, _ = parts
    query = RNG.normal(size=(3, DIM)).astype(np.float32)
    ids = np.array([30, 10, 50])
    loss = FullSoftmax(catalog, embed, temperature=0.5, loss=softmax_loss())(tf.constant(query), None, tf.constant(ids))
    log_p = log_softmax(query @ TABLE.T / 0.5)
    expected = -log_p[np.arange(3), np.searchsorted(ITEMS, ids)].sum()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_in_batch_softmax_is_the_logq_corrected_cross_entropy_of_the_batch(parts):
    index, _, probabilities, log_p = parts
    config = ModelConfig(logq_correction=True)
    loss_of = InBatchSoftmax(tfrs.tasks.Retrieval(loss=softmax_loss()), config, index, "int", log_p)
    query = RNG.normal(size=(3, DIM)).astype(np.float32)
    ids = np.array([20, 40, 10])
    candidates = TABLE[np.searchsorted(ITEMS, ids)]
    loss = loss_of(tf.constant(query), tf.constant(candidates), tf.constant(ids), None, True)
    logits = query @ candidates.T - np.log(probabilities[np.searchsorted(ITEMS, ids)])[None, :]
    expected = -np.diag(log_softmax(logits)).sum()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    uncorrected = InBatchSoftmax(tfrs.tasks.Retrieval(loss=softmax_loss()), config.replace(logq_correction=False),
                                 index, "int", log_p)
    plain = uncorrected(tf.constant(query), tf.constant(candidates), tf.constant(ids), None, True)
    assert not np.isclose(float(plain), expected), "the correction changes the loss"


def test_mixed_softmax_adds_logq_corrected_uniform_samples_of_the_catalog(parts):
    index, catalog, probabilities, log_p = parts
    task = tfrs.tasks.Retrieval(loss=softmax_loss(), remove_accidental_hits=True)
    objective = MixedSoftmax(task, catalog, embed, index, log_p, num_sampled=4)
    query = RNG.normal(size=(2, DIM)).astype(np.float32)
    ids = np.array([20, 40])
    candidates = TABLE[np.searchsorted(ITEMS, ids)]
    tf.random.set_seed(7)
    loss = float(objective(tf.constant(query), tf.constant(candidates), tf.constant(ids)))
    tf.random.set_seed(7)
    rows = tf.random.uniform([4], 0, len(ITEMS), dtype=tf.int64).numpy()
    pool = np.concatenate([candidates, TABLE[rows]])
    pool_ids = np.concatenate([ids, ITEMS[rows]])
    correction = np.concatenate([2 * probabilities[np.searchsorted(ITEMS, ids)], np.full(4, 4 / len(ITEMS))])
    logits = query @ pool.T - np.log(correction)[None, :]
    for i in range(2):  # accidental hits: a sample that is the row's own positive
        logits[i, 2:][pool_ids[2:] == ids[i]] = -np.inf
        logits[i, :2][[j for j in range(2) if j != i and pool_ids[j] == ids[i]]] = -np.inf
    expected = -sum(log_softmax(logits)[i, i] for i in range(2))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_users_objectives_score_every_catalog_cell():
    query = RNG.normal(size=(2, DIM)).astype(np.float32)
    cells = np.array([[0, 1], [0, 3], [1, 4]], dtype=np.int64)
    weights = np.array([1.0, 0.5, 2.0], dtype=np.float32)
    scores = query @ TABLE.T
    inputs = tf.constant(query), tf.constant(TABLE), tf.constant(cells), tf.constant(weights)
    multinomial = UserMultinomial(None)(*inputs)
    expected = -(weights * log_softmax(scores)[cells[:, 0], cells[:, 1]]).sum()
    np.testing.assert_allclose(float(multinomial), expected, rtol=1e-5)
    target = np.zeros_like(scores)
    target[cells[:, 0], cells[:, 1]] = weights
    squared = UserSquared(2.0)(*inputs)
    np.testing.assert_allclose(float(squared), ((target - scores / 2.0) ** 2).sum(), rtol=1e-5)


def test_users_objectives_add_fixed_scores_and_weigh_their_target_cells():
    query = RNG.normal(size=(2, DIM)).astype(np.float32)
    offset = RNG.normal(size=(2, len(TABLE))).astype(np.float32)
    cells = np.array([[0, 1], [0, 3], [1, 4]], dtype=np.int64)
    weights = np.array([1.0, 0.5, 2.0], dtype=np.float32)
    cell_weights = np.array([0.0, 1.0, 0.25], dtype=np.float32)  # e.g. kept_item_weight 0 and 0.25
    scores = query @ TABLE.T + offset
    target = np.zeros_like(scores)
    target[cells[:, 0], cells[:, 1]] = weights
    weight = np.ones_like(scores)
    weight[cells[:, 0], cells[:, 1]] = cell_weights
    dot = tf.constant(query @ TABLE.T)
    squared = UserSquared(None).scores_loss(dot, tf.constant(cells), tf.constant(weights), tf.constant(offset),
                                            tf.constant(cell_weights))
    np.testing.assert_allclose(float(squared), (weight * (target - scores) ** 2).sum(), rtol=1e-5)
    multinomial = UserMultinomial(None).scores_loss(dot, tf.constant(cells), tf.constant(weights),
                                                    tf.constant(offset), tf.constant(cell_weights))
    expected = -(cell_weights * weights * log_softmax(scores)[cells[:, 0], cells[:, 1]]).sum()
    np.testing.assert_allclose(float(multinomial), expected, rtol=1e-5)
    # The call form: the dot product of query and candidates, then the same loss.
    called = UserSquared(None)(tf.constant(query), tf.constant(TABLE), tf.constant(cells), tf.constant(weights))
    np.testing.assert_allclose(float(called), ((target - (scores - offset)) ** 2).sum(), rtol=1e-5)


def test_target_cells_keep_the_stored_items_in_the_catalog():
    history = lookup_layer("int", [10, 20, 30, 99], "history")  # 99: in the history, not the catalog
    catalog = TrainingCatalog({"item_id": np.array([30, 10, 20])}, "item_id", "int",
                              lookup_layer("int", [10, 20, 30], "items"), history)
    items = tf.ragged.constant([[history(tf.constant(10)).numpy(), 4, 0], [history(tf.constant(20)).numpy()]],
                               dtype=tf.int64)
    weights = tf.ragged.constant([[1.0, 2.0, 3.0], [4.0]])
    cells, target, valid = catalog.target_cells(items, weights)
    np.testing.assert_array_equal(cells.numpy(), [[0, 1], [1, 2]])  # 10 is catalog row 1, 20 row 2
    np.testing.assert_array_equal(target.numpy(), [1.0, 4.0])
    np.testing.assert_array_equal(valid.numpy(), [True, False, False, True])


@pytest.mark.parametrize("changes,kind", [
    ({"negatives": "full", "examples": "interactions"}, FullSoftmax),
    ({"negatives": "mixed", "examples": "interactions"}, MixedSoftmax),
    ({"negatives": "in_batch", "examples": "interactions"}, InBatchSoftmax),
    ({"negatives": "full", "examples": "users", "user_loss": "squared", "history_linear": True}, UserSquared),
    ({"negatives": "full", "examples": "users", "user_loss": "multinomial"}, UserMultinomial),
])
def test_one_config_value_chooses_one_class(parts, changes, kind):
    index, catalog, _, log_p = parts
    config = ModelConfig(**{"history_linear": False, "user_loss": "multinomial", **changes})
    task = tfrs.tasks.Retrieval(loss=softmax_loss())
    in_batch = InBatchSoftmax(task, config, index, "int", log_p)
    objective = make_objective(config, Settled.of(config), task, in_batch, catalog, embed, index, log_p,
                               softmax_loss())
    assert isinstance(objective, kind)


def test_a_config_with_a_choice_left_auto_is_not_settled():
    with pytest.raises(ConfigError, match="settled for the data by tfrec.model.training.build.resolve_examples"):
        Settled.of(ModelConfig())
    settled = Settled.of(ModelConfig(examples="users", negatives="full", history_linear=True, user_loss="squared"))
    assert settled == Settled("users", "full", True, "squared", 0.0)  # kept_item_weight auto: its rule
    assert Settled.of(ModelConfig(examples="users", negatives="full", history_linear=False, user_loss="multinomial",
                                  kept_item_weight=0.5)).kept_item_weight == 0.5
