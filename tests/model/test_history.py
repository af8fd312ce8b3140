"""The history feature: the table, shared-weight pooling, positive removal, and training with it."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import tables
from helpers import build_from_frame, train_split

from tfrec.data.columns import side_columns
from tfrec.data.files import FileSource
from tfrec.data.sources import FileBatchSource, FrameSource
from tfrec.errors import ConfigError
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.model.features import history_table as history_module
from tfrec.model.features.history_table import HISTORY_ITEMS, HISTORY_WEIGHTS, HistoryTable
from tfrec.model.training.fit import train
from tfrec.model.training.validation import RankingValidation
from tfrec.schema import Schema

HISTORY = ModelConfig(history=True, embedding_dim=8, id_embedding_dim=8, use_user_id=False,
                      user_features=(), item_features=(), context_features=(), tower_layers=(),
                      projection=False, negatives="full", rating_weight=0.0, retrieval_weight=1.0,
                      epochs=2, batch_size=256, history_dropout=0.0, examples="interactions")


def _columns(users, items, times=None, ratings=None):
    out = {"user_id": np.asarray(users), "item_id": np.asarray(items)}
    if times is not None:
        out["timestamp"] = np.asarray(times)
    if ratings is not None:
        out["rating"] = np.asarray(ratings, float)
    return out


def test_table_keeps_each_users_latest_items_once():
    schema = Schema("user_id", "item_id", rating=None, timestamp="timestamp")
    table = HistoryTable(schema, max_len=2)
    table.add(_columns([1, 1, 1, 2], [10, 11, 12, 10], [5, 1, 9, 3]))
    table.add(_columns([1, 2], [11, 13], [20, 1]))  # 11 again, later: counts once, at its latest time
    frame = table.frame()
    assert frame[frame.user == 1].item.tolist() == [11, 12]  # the latest two, sorted
    assert frame[frame.user == 2].item.tolist() == [10, 13]
    assert (frame.weight == 1).all()


def test_weightings():
    schema = Schema("user_id", "item_id", rating="rating", timestamp="timestamp")
    rated = HistoryTable(schema, 5, "rating").add(_columns([1, 1], [3, 4], [1, 2], [2.0, 5.0])).frame()
    assert rated.weight.tolist() == [2.0, 5.0]
    recent = HistoryTable(schema, 5, "recency").add(_columns([1, 1, 1], [5, 4, 3], [1, 2, 3], [1, 1, 1])).frame()
    assert recent.item.tolist() == [3, 4, 5]  # item 3 is the latest
    np.testing.assert_allclose(recent.weight, [1.0, 1 / np.sqrt(2), 1 / np.sqrt(3)], rtol=1e-6)
    with pytest.raises(ConfigError, match="needs a rating column"):
        HistoryTable(Schema("user_id", "item_id", rating=None), 5, "rating")


def test_table_memory_is_bounded_by_users_times_max_len(monkeypatch):
    monkeypatch.setattr(history_module, "COMPACT_ABOVE", 100)
    table = HistoryTable(Schema("user_id", "item_id", rating=None), max_len=3)
    rng = np.random.default_rng(0)
    for _ in range(50):  # 5,000 rows of 10 users
        table.add(_columns(rng.integers(0, 10, 100), rng.integers(0, 1000, 100)))
    assert table.peak_pairs <= 100 + 10 * 3 + 100  # one compacted table plus one buffered chunk
    assert len(table.frame()) == 30


def test_compaction_is_amortized_and_changes_nothing(monkeypatch):
    """Kept pairs above the threshold: the table compacts when its buffer doubles (a few
    times), not at every chunk, and ends with the same pairs as one compaction at the end."""
    rng = np.random.default_rng(1)
    chunks = [_columns(rng.integers(0, 1000, 100), rng.integers(0, 1000, 100)) for _ in range(50)]

    def build(threshold):
        monkeypatch.setattr(history_module, "COMPACT_ABOVE", threshold)
        table, calls = HistoryTable(Schema("user_id", "item_id", rating=None), max_len=1000), []
        compact = table._compact
        monkeypatch.setattr(table, "_compact", lambda: calls.append(1) or compact())
        for chunk in chunks:
            table.add(chunk)
        return table.frame(), len(calls) - 1  # frame() compacts once more

    frame, compactions = build(100)
    once, none = build(10**9)
    assert none == 0 and 1 <= compactions <= 7  # 5,000 kept pairs: doubling from 100
    pd.testing.assert_frame_equal(frame, once)


@pytest.mark.parametrize("key, value, message", [
    ("history_weighting", "votes", "history_weighting must be one of"),
    ("history_pooling", "max", "history_pooling must be one of"),
    ("negatives", "hard", "negatives must be one of"),
    ("history_dropout", 1.0, "history_dropout must be in"),
])
def test_bad_options_are_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        HISTORY.replace(**{key: value})
    with pytest.raises(ConfigError, match="needs use_item_id"):
        HISTORY.replace(use_item_id=False)


def test_projection_false_needs_matching_widths(synthetic):
    with pytest.raises(ConfigError, match="input is 8 wide .*embedding_dim is 16"):
        build_from_frame(HISTORY.replace(embedding_dim=16), synthetic, synthetic.interactions)


def _model(synthetic, **changes):
    return build_from_frame(dataclasses.replace(HISTORY, **changes), synthetic, synthetic.interactions)


def test_history_shares_the_candidate_item_embedding(synthetic):
    model = _model(synthetic)
    _, shared = model.candidate_tower.encoder.id_layers("item_id")
    assert model.history_pool.item_embedding is shared
    ids = [id(v) for v in model.trainable_variables]
    assert len(ids) == len(set(ids))  # one table, not a copy


def test_stored_history_equals_the_same_history_given_explicitly(synthetic):
    model = _model(synthetic)
    frame = synthetic.interactions
    user = int(frame.user_id.iloc[0])
    items = sorted(frame.loc[frame.user_id == user, "item_id"].unique())
    stored = model.query_embedding({"user_id": tf.constant([user], tf.int64)}).numpy()
    given = model.query_embedding({"user_id": tf.constant([-5], tf.int64),
                                   HISTORY_ITEMS: tf.constant([items + [0, 0]], tf.int64),
                                   HISTORY_WEIGHTS: tf.constant([[1.0] * len(items) + [0.0, 0.0]])}).numpy()
    np.testing.assert_allclose(stored, given, rtol=1e-5, atol=1e-6)
    unknown = model.query_embedding({"user_id": tf.constant([10**9], tf.int64)}).numpy()
    np.testing.assert_array_equal(unknown[:, :-1], 0)  # no history: the zero vector, never an error
    np.testing.assert_array_equal(unknown[:, -1], 1)  # ... and the constant that meets the item bias


def test_training_removes_the_positive_from_its_own_history(synthetic):
    model = _model(synthetic, history_pooling="mean")
    frame = synthetic.interactions
    user, item = int(frame.user_id.iloc[0]), int(frame.item_id.iloc[0])
    rest = [int(i) for i in frame.loc[frame.user_id == user, "item_id"].unique() if i != item]
    users = model.user_index(tf.constant([user, user], tf.int64))
    positives = model.item_positions(tf.constant([item, rest[0]], tf.int64))
    pooled = model.history_pool.pool_users(users, positives).numpy()
    expected = model.history_input().vector({HISTORY_ITEMS: tf.constant([rest], tf.int64)}).numpy()[0]
    np.testing.assert_allclose(pooled[0], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(pooled[0], pooled[1])  # each row leaves out its own positive


def test_history_dropout_only_in_training(synthetic):
    model = _model(synthetic, history_dropout=0.5)
    users = model.user_index(tf.constant(synthetic.interactions.user_id.to_numpy()[:50], tf.int64))
    plain = model.history_pool.pool_users(users).numpy()
    np.testing.assert_array_equal(plain, model.history_pool.pool_users(users).numpy())
    assert not np.allclose(plain, model.history_pool.pool_users(users, training=True).numpy())


def test_full_softmax_is_the_catalog_cross_entropy(synthetic):
    model = _model(synthetic)
    catalog = side_columns(synthetic, "item", synthetic.item_ids, missing="default")
    model.set_training_catalog(catalog)
    rows = synthetic.interactions.iloc[:32]
    query = model.query_embedding({"user_id": tf.constant(rows.user_id.to_numpy())})
    items = model.candidate_embedding(catalog).numpy()
    loss = model.objective(query, None, tf.constant(rows.item_id.to_numpy()), None, False)
    logits = query.numpy() @ items.T
    label = pd.Index(catalog["item_id"]).get_indexer(rows.item_id.to_numpy())
    expected = -(logits[np.arange(32), label] - np.log(np.exp(logits).sum(axis=1))).sum()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


@pytest.mark.parametrize("negatives", ["full", "mixed", "in_batch"])
def test_training_with_history_learns(synthetic, negatives):
    split = make_splits(synthetic, "random", test_ratio=0.2, validation_ratio=0.1, seed=3)[0]
    config = HISTORY.replace(negatives=negatives, num_sampled=64, epochs=4, learning_rate=0.05,
                             early_stopping_patience=2)
    result = train_split(config, split)
    losses = result.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert "val_ndcg@10" in result.history and len(result.history["val_ndcg@10"]) == len(losses)


def test_early_stopping_restores_the_best_validation_ndcg(synthetic):
    split = make_splits(synthetic, "random", test_ratio=0.2, validation_ratio=0.2, seed=3)[0]
    config = HISTORY.replace(epochs=8, learning_rate=0.3, early_stopping_patience=1)
    result = train_split(config, split)
    values = result.history["val_ndcg@10"]
    ranking = RankingValidation(synthetic, side_columns(synthetic, "item", synthetic.item_ids, missing="default"),
                                split.train[["user_id", "item_id"]].drop_duplicates(),
                                split.validation[["user_id", "item_id"]])
    ranking.set_model(result.model)
    # The restored weights score the best epoch's value, whichever epoch that was.
    assert ranking.score() == pytest.approx(max(values), abs=1e-6)


def test_streamed_and_in_memory_build_the_same_history(synthetic, files):
    source = FileBatchSource(tables(files, synthetic.schema),
                             FileSource.from_pattern(str(files / "parquet" / "*"), synthetic.schema))
    # max_len above any user's count: the same pairs whatever order "latest" is taken in.
    streamed, in_memory = HistoryTable(synthetic.schema, 1000), HistoryTable(synthetic.schema, 1000)
    source.scan(streamed)
    FrameSource(synthetic, synthetic.interactions).scan(in_memory)
    order = ["user", "item"]
    pd.testing.assert_frame_equal(streamed.frame().sort_values(order).reset_index(drop=True),
                                  in_memory.frame().sort_values(order).reset_index(drop=True),
                                  check_dtype=False)


def test_train_with_history_from_streamed_files(synthetic, files):
    source = FileBatchSource(tables(files, synthetic.schema),
                             FileSource.from_pattern(str(files / "parquet" / "*"), synthetic.schema))
    result = train(HISTORY, source)
    assert result.model.history_pairs == len(synthetic.interactions[["user_id", "item_id"]].drop_duplicates())
    assert np.isfinite(result.history["loss"]).all()


def test_item_bias_adds_one_column_that_scores_the_bias(synthetic):
    model = _model(synthetic, item_bias=True)
    bias = model.retrieval_bias.embeddings
    bias.assign(tf.random.normal(bias.shape))
    query = model.query_embedding({"user_id": tf.constant([int(synthetic.interactions.user_id.iloc[0])])})
    items = model.candidate_embedding({"item_id": tf.constant([1, 2], tf.int64)})
    assert query.shape[-1] == items.shape[-1] == 9
    np.testing.assert_array_equal(query.numpy()[:, -1], 1.0)
    positions = model.item_index(tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_allclose(items.numpy()[:, -1], bias.numpy()[positions, 0])


def test_a_user_without_history_gets_the_bias_ranking(synthetic):
    model = _model(synthetic, item_bias=True)
    bias = model.retrieval_bias.embeddings
    bias.assign(tf.random.normal(bias.shape, seed=1))
    ids = np.asarray(synthetic.item_ids)
    query = model.query_embedding({"user_id": tf.constant([10**9], tf.int64)}).numpy()
    scores = query @ model.candidate_embedding({"item_id": tf.constant(ids)}).numpy().T
    expected = bias.numpy()[model.item_index(tf.constant(ids)).numpy(), 0]
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)
