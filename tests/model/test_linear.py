"""The linear item-to-item path (``history_linear``), learned or solved, and the squared user loss."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import tensorflow as tf
from helpers import build_from_frame

from tfrec.data.columns import side_columns
from tfrec.data.sources import FrameSource
from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.config_check import LINEAR_MAX_ITEMS, SOLVED_LINEAR_MAX_ITEMS
from tfrec.model.features.history_table import HISTORY_ITEMS, HISTORY_WEIGHTS
from tfrec.model.network.linear import ItemToItem
from tfrec.model.network.persist import load_model, save_model
from tfrec.model.training.closed_form import dlae_weights, regularized_inverse
from tfrec.model.training.fit import train
from tfrec.model.training.seen_penalty import without_seen_penalty

LINEAR = ModelConfig(history=True, embedding_dim=8, id_embedding_dim=8, use_user_id=False,
                     user_features=(), item_features=(), context_features=(), tower_layers=(),
                     projection=False, rating_weight=0.0, epochs=3, user_batch_size=16,
                     history_dropout=0.0, learning_rate=0.01, examples="users",
                     user_loss="squared", history_linear=True, item_bias=True, linear_solver="sgd",
                     linear_l2=75.0)
SOLVED = LINEAR.replace(linear_solver="closed_form", linear_l2=2.0, linear_dropout=0.5, history_dropout=0.5)


def _randomized(synthetic, config=LINEAR):
    model = build_from_frame(config, synthetic, synthetic.interactions)
    catalog = side_columns(synthetic, "item", synthetic.item_ids, missing="default")
    model.set_training_catalog(catalog)
    model.linear.set_matrix(tf.random.normal(model.linear.matrix.shape, seed=2))
    model.retrieval_bias.embeddings.assign(tf.random.normal(model.retrieval_bias.embeddings.shape, seed=2))
    return model, catalog


def test_the_layer_is_a_multi_hot_dot_a_zero_diagonal_matrix():
    layer = ItemToItem(5)
    matrix = np.arange(25, dtype=np.float32).reshape(5, 5)
    layer.set_matrix(matrix)
    items = tf.ragged.constant([[1, 3, 3], [2]], dtype=tf.int64)
    weights = tf.ragged.constant([[1.0, 0.5, 0.5], [2.0]])
    np.testing.assert_allclose(layer.query(items, weights), [[0, 1, 0, 1, 0], [0, 0, 2, 0, 0]])
    own = layer.candidate(tf.constant([3, 0]))
    np.testing.assert_allclose(own, [[15, 16, 17, 0, 19], [0, 1, 2, 3, 4]])
    layer.seen_score.assign(-7.0)  # seen_penalty, set after training
    np.testing.assert_allclose(layer.candidate(tf.constant([3, 0])), [[15, 16, 17, -7, 19], [-7, 1, 2, 3, 4]])
    np.testing.assert_allclose(layer.candidate(tf.constant([3, 0]), seen=False), own)
    off_diagonal = matrix - np.diag(np.diag(matrix))
    np.testing.assert_allclose(float(layer.penalty()), (off_diagonal ** 2).sum(), rtol=1e-6)


def test_a_catalog_above_the_limit_is_refused_before_allocating():
    with pytest.raises(ConfigError, match="above its limit of 10,000 learned by sgd .*; set history_linear = false"):
        ItemToItem(LINEAR_MAX_ITEMS + 2)
    with pytest.raises(ConfigError, match="above its limit of 20,000; set history_linear = false"):
        ItemToItem(SOLVED_LINEAR_MAX_ITEMS + 2, solved=True)


def test_scores_add_the_history_items_rows_of_the_matrix_never_the_items_own(synthetic):
    model, catalog = _randomized(synthetic)
    user = model.user_vocabulary[3]
    query = model.query_embedding({"user_id": tf.constant([user])}).numpy()[0]
    items = model.candidate_embedding(catalog).numpy()
    width = LINEAR.embedding_dim + 1  # towers + bias
    towers = items[:, :width] @ query[:width]
    seen = synthetic.interactions[synthetic.interactions.user_id == user].item_id.unique()
    index = model.item_positions(tf.constant(catalog["item_id"])).numpy()
    seen_index = model.item_positions(tf.constant(seen)).numpy()
    matrix = model.linear.matrix.numpy()
    by_hand = towers + np.array([matrix[j, seen_index].sum() - (matrix[j, j] if j in seen_index else 0.0)
                                 for j in index])
    np.testing.assert_allclose(items @ query, by_hand, rtol=1e-4, atol=1e-4)


def test_stored_and_explicit_histories_give_the_same_query(synthetic):
    model, _ = _randomized(synthetic)
    user = model.user_vocabulary[5]
    seen = synthetic.interactions[synthetic.interactions.user_id == user].item_id.unique()
    stored = model.query_embedding({"user_id": tf.constant([user])}).numpy()
    padded = np.concatenate([seen, [seen[0]]])  # padding: any id with weight 0
    explicit = model.query_embedding({
        "user_id": tf.constant([10**9]), HISTORY_ITEMS: tf.constant([padded]),
        HISTORY_WEIGHTS: tf.constant([[1.0] * len(seen) + [0.0]])}).numpy()
    np.testing.assert_allclose(stored, explicit, rtol=1e-5, atol=1e-6)


def test_squared_user_loss_is_every_catalog_cells_error_plus_the_l2_share(synthetic):
    model, catalog = _randomized(synthetic, LINEAR.replace(linear_l2=3.0, kept_item_weight=1.0))
    users = np.asarray(model.user_vocabulary[:7])
    loss = float(model.users_loss({"user_id": tf.constant(users)}))
    query = model.query_embedding({"user_id": tf.constant(users)}).numpy()
    scores = query @ model.candidate_embedding(catalog).numpy().T
    target = np.zeros_like(scores)
    pairs = synthetic.interactions[["user_id", "item_id"]].drop_duplicates()
    position = pd.Index(catalog["item_id"])
    for u, user in enumerate(users):
        target[u, position.get_indexer(pairs[pairs.user_id == user].item_id)] = 1.0
    matrix = model.linear.matrix.numpy()
    penalty = (matrix ** 2).sum() - (np.diag(matrix) ** 2).sum()
    expected = ((target - scores) ** 2).sum() + 3.0 * len(users) / len(model.user_vocabulary) * penalty
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_the_linear_path_needs_users_batches_and_a_known_loss():
    with pytest.raises(ConfigError, match="needs examples = 'users'"):
        LINEAR.replace(examples="interactions")
    with pytest.raises(ConfigError, match="user_loss must be one of"):
        LINEAR.replace(user_loss="hinge")
    with pytest.raises(ConfigError, match="linear_l2 must be a number"):
        LINEAR.replace(linear_l2=-1.0)
    with pytest.raises(ConfigError, match="linear_l2 must be a number from 1e-06"):
        LINEAR.replace(linear_l2=0.0)  # the closed form of an item nobody has would be singular
    with pytest.raises(ConfigError, match='history_linear must be true, false or "auto", got \'maybe\''):
        LINEAR.replace(history_linear="maybe")
    with pytest.raises(ConfigError, match="linear_solver must be one of"):
        LINEAR.replace(linear_solver="qr")
    with pytest.raises(ConfigError, match=r"linear_dropout must be in \[0, 1\), got 1.0"):
        LINEAR.replace(linear_dropout=1.0)


def test_training_learns_the_matrix_and_is_seeded(synthetic):
    rows = synthetic.interactions
    first, second = (train(LINEAR.replace(history_dropout=0.5), FrameSource(synthetic, rows)) for _ in range(2))
    assert first.history["loss"] == second.history["loss"]
    losses = first.history["retrieval_loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    matrix = first.model.linear.matrix.numpy()
    assert np.abs(matrix).max() > 0, "the matrix trained"


@pytest.mark.parametrize("optimizer", ["adam", "lazy_adam", "adagrad"])
def test_every_optimizer_keeps_the_diagonal_at_zero(synthetic, optimizer):
    """The squared loss pulls each stored item's own entry up (it is its own target): only the
    constraint keeps it at zero."""
    result = train(LINEAR.replace(epochs=2, optimizer=optimizer), FrameSource(synthetic, synthetic.interactions))
    matrix = result.model.linear.matrix.numpy()
    assert np.abs(matrix).max() > 0
    assert not np.any(np.diag(matrix))


def test_the_dropout_term_is_the_expected_loss_of_dropped_inputs():
    """``E||X - (X * M / (1 - p)) B||^2 = ||X - X B||^2 + p / (1 - p) sum_h G_hh ||B_h||^2``:
    the regularizer :func:`regularized_inverse` adds, checked by sampling masks."""
    rng = np.random.default_rng(0)
    x = (rng.random((30, 6)) < 0.4).astype(np.float64)
    b = rng.normal(size=(6, 6))
    p = 0.4
    masks = rng.random((20_000, *x.shape)) >= p
    sampled = np.mean([((x - (x * m / (1 - p)) @ b) ** 2).sum() for m in masks])
    gram = x.T @ x
    expected = ((x - x @ b) ** 2).sum() + p / (1 - p) * (np.diag(gram) * (b ** 2).sum(axis=1)).sum()
    np.testing.assert_allclose(sampled, expected, rtol=0.01)


def test_dlae_weights_are_the_ridge_regression_with_the_dropout_penalty():
    """Against a least-squares solve of the stacked system ``[X; sqrt(L)] B = [X; 0]``."""
    rng = np.random.default_rng(1)
    x = (rng.random((40, 7)) < 0.3).astype(np.float32)
    x[:, 6] = 0  # an item nobody has: only l2 keeps the system solvable
    l2, p = 3.0, 0.5
    weights = dlae_weights(sp.csr_matrix(x), l2, p)
    penalty = l2 + p / (1 - p) * (x ** 2).sum(axis=0)
    stacked = np.vstack([x, np.diag(np.sqrt(penalty))]).astype(np.float64)
    target = np.vstack([x, np.zeros((7, 7))])
    expected = np.linalg.lstsq(stacked, target, rcond=None)[0]
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(weights, expected, atol=1e-5)
    inverse, diagonal = regularized_inverse(sp.csr_matrix(x), l2)
    np.testing.assert_allclose(inverse @ (x.T @ x + np.diag(diagonal)), np.eye(7), atol=1e-4)


def test_a_solved_matrix_is_the_closed_form_of_the_histories_and_stays_fixed(synthetic):
    result = train(SOLVED, FrameSource(synthetic, synthetic.interactions))
    model = result.model
    pairs = synthetic.interactions[["user_id", "item_id"]].drop_duplicates()
    users = model.user_index(tf.constant(pairs.user_id.to_numpy())).numpy()
    items = model.item_positions(tf.constant(pairs.item_id.to_numpy())).numpy()
    n = model.linear.n_index
    x = sp.csr_matrix((np.ones(len(pairs), np.float32), (users, items)), shape=(users.max() + 1, n))
    np.testing.assert_allclose(model.linear.matrix.numpy(), dlae_weights(x, 2.0, 0.5).T, atol=1e-5)
    assert not model.linear.matrix.trainable
    towers = train(SOLVED.replace(epochs=1), FrameSource(synthetic, synthetic.interactions)).model
    assert not np.allclose(towers.candidate_tower.get_weights()[0], model.candidate_tower.get_weights()[0]), \
        "the towers trained around it"


def test_a_solved_matrix_reads_the_whole_history_in_training(synthetic):
    """History dropout denoises the towers' input; the solved matrix's input is the history itself
    (the learned matrix's is dropped, as the towers')."""
    width = SOLVED.embedding_dim + 1
    user = {"user_id": tf.constant([synthetic.interactions.user_id.value_counts().index[0]])}
    for config, same in ((SOLVED.replace(history_dropout=0.9), True), (LINEAR.replace(history_dropout=0.9), False)):
        model = build_from_frame(config, synthetic, synthetic.interactions)
        trained = model.query_embedding(user, training=True).numpy()[0, width:]
        served = model.query_embedding(user).numpy()[0, width:]
        assert np.array_equal(trained, served) == same
        assert served.sum() > 5, "the user's whole history"


def test_beside_a_solved_matrix_the_towers_start_near_zero_and_seeded(synthetic):
    """The model starts at the closed form: the shared item embedding is drawn at N(0, 0.01)
    (Keras's default, uniform in +-0.05, added scores as large as the closed form's)."""
    first, second = (build_from_frame(SOLVED, synthetic, synthetic.interactions) for _ in range(2))
    table = first.history_pool.item_embedding.embeddings.numpy()
    assert 0.008 < table.std() < 0.012
    np.testing.assert_array_equal(table, second.history_pool.item_embedding.embeddings.numpy())
    learned = build_from_frame(LINEAR, synthetic, synthetic.interactions)
    assert learned.history_pool.item_embedding.embeddings.numpy().std() > 0.02, "only beside a solved matrix"


def _scores(model, synthetic, users, catalog):
    query = model.query_embedding({"user_id": tf.constant(users)}).numpy()
    return query @ model.candidate_embedding(catalog).numpy().T


def test_after_training_a_users_own_items_score_below_every_other_item(synthetic, tmp_path):
    """``seen_penalty``: the diagonal scores each own item ``seen_score x its weight``, set after
    training; the other items' scores, and so every list that leaves own items out, are unchanged."""
    result = train(SOLVED.replace(epochs=1), FrameSource(synthetic, synthetic.interactions))
    model = result.model
    penalty = float(model.linear.seen_score.numpy())
    assert penalty < 0
    catalog = side_columns(synthetic, "item", result.catalog[synthetic.schema.item_id].to_numpy(), missing="default")
    users = np.asarray(model.user_vocabulary[:40])
    scores = _scores(model, synthetic, users, catalog)
    np.testing.assert_allclose(model.query_embedding({"user_id": tf.constant(users)}).numpy()
                               @ model.indexed_item_embeddings.T, scores, rtol=1e-5, atol=1e-5)
    with without_seen_penalty(model):
        plain = _scores(model, synthetic, users, catalog)
    items = pd.Index(result.catalog[synthetic.schema.item_id])
    rows = synthetic.interactions
    for i, user in enumerate(users):
        seen = np.zeros(len(items), bool)
        seen[items.get_indexer(rows[rows.user_id == user].item_id)] = True
        assert scores[i, seen].max() < scores[i, ~seen].min(), user
        np.testing.assert_array_equal(scores[i, ~seen], plain[i, ~seen])
        np.testing.assert_allclose(scores[i, seen], plain[i, seen] + penalty, rtol=1e-4)  # weights are 1
    save_model(model, tmp_path / "m")
    assert float(load_model(tmp_path / "m").linear.seen_score.numpy()) == penalty


def test_training_never_sees_the_penalty_and_it_can_be_turned_off(synthetic):
    rows = FrameSource(synthetic, synthetic.interactions)
    on, off = (train(SOLVED.replace(epochs=1, seen_penalty=flag), rows) for flag in (True, False))
    assert on.history["loss"] == off.history["loss"]
    assert float(off.model.linear.seen_score.numpy()) == 0.0
    user = off.model.user_vocabulary[0]
    catalog = side_columns(synthetic, "item", off.catalog[synthetic.schema.item_id].to_numpy(), missing="default")
    scores = _scores(off.model, synthetic, np.array([user]), catalog)[0]
    seen = off.catalog[synthetic.schema.item_id].isin(synthetic.interactions.query("user_id == @user").item_id)
    assert scores[seen.to_numpy()].max() > np.median(scores), "own items keep the model's own scores"


def test_a_solution_keeps_every_training_users_scores_of_its_rows_until_released():
    layer = ItemToItem(6, solved=True)
    by_history = np.random.default_rng(0).normal(size=(6, 6)).astype(np.float32)
    histories = sp.csr_matrix(np.array([[0, 1, 0, 0.5, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 2, 0, 0, 1]],
                                       dtype=np.float32))
    layer.set_solution(by_history.copy(), histories)
    zero_diagonal = by_history - np.diag(np.diag(by_history))
    by_hand = np.stack([zero_diagonal[1] + 0.5 * zero_diagonal[3], np.zeros(6),
                        2 * zero_diagonal[2] + zero_diagonal[5]])
    np.testing.assert_allclose(layer.training_scores(tf.constant([2, 0, 1])).numpy(), by_hand[[2, 0, 1]],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.matrix.numpy(), zero_diagonal.T)  # row j: item j's weights
    # The same scores as the model's dot product of the multi-hot query and the rows of B.
    items = tf.ragged.constant([[1, 3], [2, 5]], dtype=tf.int64)
    weights = tf.ragged.constant([[1.0, 0.5], [2.0, 1.0]])
    dense = layer.query(items, weights) @ tf.transpose(layer.candidate(tf.range(6), seen=False))
    np.testing.assert_allclose(dense.numpy(), by_hand[[0, 2]], rtol=1e-5, atol=1e-6)
    layer.release_solution()
    with pytest.raises(ConfigError, match="set by set_solution"):
        layer.training_scores(tf.constant([0]))


def test_a_solved_path_trains_on_its_scores_added_apart_the_same_loss(synthetic):
    config = SOLVED.replace(history_dropout=0.0)  # no random draw between the two losses
    model = build_from_frame(config, synthetic, synthetic.interactions)
    model.set_training_catalog(side_columns(synthetic, "item", synthetic.item_ids, missing="default"))
    assert model.linear.user_scores is not None
    users = {"user_id": tf.constant(model.user_vocabulary[:9])}
    apart = float(model.users_loss(users))
    rows = model.users.rows(users)
    cells, target, _ = model.catalog.target_cells(*model.history_pool.user_history(rows))
    query = model.query_embedding(users, training=True)  # n_index-wide: the multi-hot history
    catalog = model.candidate_embedding(model.catalog.columns, training=True)
    assert query.shape[1] > config.embedding_dim + 1 + model.linear.n_index - 1
    together = float(model.objective(query, catalog, cells, target, True))
    assert apart == pytest.approx(together, rel=1e-5)
    assert apart > 0


def test_kept_item_weight_zero_fits_only_what_the_query_did_not_see(synthetic):
    # One dropout draw: the kept stored items' cells count 0, the dropped ones and the unseen
    # catalog count 1; the same draw again (the same seed) rebuilds the loss by hand.
    config = SOLVED.replace(kept_item_weight=0.0)
    model = build_from_frame(config, synthetic, synthetic.interactions)
    model.set_training_catalog(side_columns(synthetic, "item", synthetic.item_ids, missing="default"))
    users = {"user_id": tf.constant(model.user_vocabulary[:9])}
    tf.random.set_seed(5)
    loss = float(model.users_loss(users))
    rows = model.users.rows(users)
    items, weights = model.history_pool.user_history(rows)
    tf.random.set_seed(5)
    kept = model.history_pool.drop(weights)
    cells, _, valid = model.catalog.target_cells(items, weights)
    scores = (model.query_embedding(users, training=True, history=(items, kept)).numpy()
              @ model.candidate_embedding(model.catalog.columns, training=True).numpy().T)
    target, weight = np.zeros_like(scores), np.ones_like(scores)
    cells = cells.numpy()
    was_kept = tf.boolean_mask(kept.flat_values, valid).numpy() > 0
    assert 0 < was_kept.sum() < len(was_kept)  # some kept, some dropped
    target[cells[:, 0], cells[:, 1]] = 1.0
    weight[cells[was_kept, 0], cells[was_kept, 1]] = 0.0
    assert loss == pytest.approx(float((weight * (target - scores) ** 2).sum()), rel=1e-4)
    assert loss != pytest.approx(float(((target - scores) ** 2).sum()), rel=1e-3)  # the kept cells mattered
