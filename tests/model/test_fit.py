"""The one training entry point: in-memory and streamed batch sources train the same model."""

import numpy as np
import pandas as pd
import pytest
from conftest import tables

from tfrec.data import load_synthetic
from tfrec.data.columns import interaction_arrays
from tfrec.data.files import FileSource
from tfrec.data.holdout import Holdout
from tfrec.data.scan import scan_files
from tfrec.data.sources import FileBatchSource, FrameSource
from tfrec.model.config import ModelConfig
from tfrec.model.evaluate import evaluate
from tfrec.model.fit import train
from tfrec.model.stats import TrainingStats

SMALL = ModelConfig(epochs=1, batch_size=128, embedding_dim=16, tower_layers=(32,),
                    id_embedding_dim=16, feature_embedding_dim=8, rating_layers=(16,), seed=3)


def streamed(synthetic, files, pattern, **options):
    schema = synthetic.schema
    return FileBatchSource(tables(files, schema), FileSource.from_pattern(str(files / pattern), schema),
                           **options)


def test_streamed_and_in_memory_training_agree(synthetic, files):
    """Same rows, same seed, same order: same vocabularies, statistics and first-epoch loss."""
    memory = train(SMALL, FrameSource(synthetic, synthetic.interactions), shuffle=False)
    stream = train(SMALL, streamed(synthetic, files, "one"), shuffle=False)
    a, b = memory.model, stream.model
    assert a.user_vocabulary == b.user_vocabulary and a.item_vocabulary == b.item_vocabulary
    assert a.item_probabilities == pytest.approx(b.item_probabilities, rel=1e-12)
    assert a.global_mean == pytest.approx(b.global_mean, rel=1e-12)
    assert [s.to_dict() for s in a.query_specs] == [s.to_dict() for s in b.query_specs]
    assert [s.to_dict() for s in a.candidate_specs] == [s.to_dict() for s in b.candidate_specs]
    assert memory.scan.rows == stream.scan.rows == len(synthetic.interactions)
    assert stream.history["loss"][0] == pytest.approx(memory.history["loss"][0], abs=1e-5)
    assert stream.history["rmse"][0] == pytest.approx(memory.history["rmse"][0], abs=1e-5)


def test_one_pass_statistics_match_the_in_memory_ones(synthetic, files):
    schema = synthetic.schema
    stats = TrainingStats(schema)
    scan = scan_files(FileSource.from_pattern(str(files / "tfrecord"), schema), schema, stats,
                      chunk_rows=700)
    assert scan.rows == len(synthetic.interactions) and sum(scan.rows_per_file) == scan.rows
    memory = TrainingStats(schema).add(interaction_arrays(schema, synthetic.interactions))
    pd.testing.assert_series_equal(stats.items.counts.sort_index(), memory.items.counts.sort_index())
    pd.testing.assert_series_equal(stats.users.counts.sort_index(), memory.users.counts.sort_index())
    assert stats.mean_rating == pytest.approx(memory.mean_rating, rel=1e-12)
    for streamed_biases, memory_biases in zip(stats.rating_biases(), memory.rating_biases(), strict=True):
        pd.testing.assert_series_equal(streamed_biases.sort_index(), memory_biases.sort_index(), rtol=1e-9)


def test_streaming_honours_validation(synthetic, files):
    """validation_ratio carves the same rows from streamed shards as from the frame."""
    config = SMALL.replace(epochs=2, validation_ratio=0.2)
    stream = train(config, streamed(synthetic, files, "tfrecord"))
    memory = train(config, FrameSource(synthetic, synthetic.interactions))
    assert "val_loss" in stream.history and len(stream.history["val_loss"]) == 2
    assert stream.validation_rows == memory.validation_rows
    assert 0.15 * len(synthetic.interactions) < stream.validation_rows < 0.25 * len(synthetic.interactions)
    assert stream.scan.rows + stream.validation_rows == len(synthetic.interactions)
    # The carve is the data layer's one hash rule: the kept training rows are the same.
    keep = Holdout(0.2, config.seed).frame_keep(synthetic.schema, synthetic.interactions)
    assert stream.scan.rows == memory.scan.rows == int(keep.sum())


def test_validation_files_are_the_validation_set(synthetic, files):
    train_part = streamed(synthetic, files, "tfrecord/ratings-0000[01]*")
    held_out = streamed(synthetic, files, "tfrecord/ratings-00002*")
    result = train(SMALL.replace(epochs=2), train_part, held_out)
    assert result.validation_rows == 1000 and "val_loss" in result.history


def test_streamed_training_learns_and_evaluates(synthetic, files):
    config = ModelConfig(epochs=3, batch_size=128, embedding_dim=16, tower_layers=(32,), seed=2)
    result = train(config, streamed(synthetic, files, "tfrecord/ratings-0000[01]*"))
    assert result.history["rmse"][-1] < result.history["rmse"][0]
    from_files = evaluate(result.model, streamed(synthetic, files, "tfrecord/ratings-00002*"))
    # The same rows evaluated from memory give the same numbers.
    from_memory = evaluate(result.model, FrameSource(synthetic, synthetic.interactions.iloc[2000:]))
    assert from_files["rmse"] == pytest.approx(from_memory["rmse"], rel=1e-4)
    key = "factorized_top_k/top_100_categorical_accuracy"
    assert from_files[key] == pytest.approx(from_memory[key], abs=1e-6)


def test_same_seed_same_training_from_files(synthetic, files):
    first = train(SMALL, streamed(synthetic, files, "tfrecord")).history["loss"]
    second = train(SMALL, streamed(synthetic, files, "tfrecord")).history["loss"]
    other = train(SMALL.replace(seed=4), streamed(synthetic, files, "tfrecord")).history["loss"]
    assert first == second and not np.allclose(first, other)


def test_a_catalog_smaller_than_top_k_trains_and_evaluates():
    tiny = load_synthetic(60, 40, 600, seed=2)
    result = train(SMALL.replace(top_k=100), FrameSource(tiny, tiny.interactions))
    assert result.model.model_config.top_k == 40
    metrics = evaluate(result.model, FrameSource(tiny, tiny.interactions.iloc[:100]))
    assert 0 <= metrics["factorized_top_k/top_10_categorical_accuracy"] <= 1


def test_training_and_evaluation_report_the_same_per_example_retrieval_loss(synthetic):
    """With the full softmax, the logged retrieval loss is the epoch mean of the per-example
    cross-entropy, and evaluation computes the same quantity: with (almost) no update and no
    dropout, the two agree; ``loss`` (the objective per batch) is an epoch mean too."""
    config = SMALL.replace(examples="interactions", negatives="full", learning_rate=1e-9, dropout=0.0,
                           history_dropout=0.0, rating_weight=0.0)
    source = FrameSource(synthetic, synthetic.interactions)
    result = train(config, source, shuffle=False)
    assert set(result.history) == {"loss", "retrieval_loss"}, "no metric that was not computed"
    logged = result.history["retrieval_loss"][0]
    measured = evaluate(result.model, source, batch_size=500)
    assert measured["retrieval_loss"] == pytest.approx(logged, rel=1e-4)
    rows, batch = len(synthetic.interactions), config.batch_size
    assert result.history["loss"][0] == pytest.approx(logged * rows / -(-rows // batch), rel=1e-4)


def test_served_exclusions_cover_the_validation_carve(synthetic):
    """The carve is the user's training data too: what serving leaves out covers every input row,
    while the model trained on the rest only."""
    config = SMALL.replace(validation_ratio=0.2)
    result = train(config, FrameSource(synthetic, synthetic.interactions))
    pairs = synthetic.interactions[["user_id", "item_id"]].drop_duplicates()
    assert result.validation_rows > 0 and result.scan.rows + result.validation_rows == len(synthetic.interactions)
    assert set(map(tuple, result.seen.to_numpy())) == set(map(tuple, pairs.to_numpy()))


def test_batches_carry_only_the_columns_the_model_reads(synthetic):
    """Training gathers only the model's columns: the same values as the full batches."""
    source = FrameSource(synthetic, synthetic.interactions)
    result = train(SMALL.replace(user_features=(), item_features=(), history=False, use_user_id=True),
                   source, shuffle=False)
    needed = result.model.training_columns()
    assert needed == {"user_id", "item_id", "rating"}
    full = next(iter(source.batches(64, seed=5)))
    only = next(iter(source.batches(64, seed=5, columns=needed)))
    assert set(only) == needed and set(full) > needed
    for name in needed:
        np.testing.assert_array_equal(only[name].numpy(), full[name].numpy())
