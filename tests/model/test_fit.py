"""The one training entry point: in-memory and streamed batch sources train the same model."""

import numpy as np
import pandas as pd
import pytest
from conftest import tables

from tfrec.data import load_synthetic
from tfrec.data.columns import interaction_arrays
from tfrec.data.files import FileSource
from tfrec.data.holdout import Holdout, nested_seed
from tfrec.data.scan import scan_files
from tfrec.data.sources import FileBatchSource, FrameSource
from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.features.stats import TrainingStats
from tfrec.model.training.evaluate import evaluate
from tfrec.model.training.fit import chosen_epochs, train

SMALL = ModelConfig(epochs=1, batch_size=128, embedding_dim=16, tower_layers=(32,),
                    id_embedding_dim=16, feature_embedding_dim=8, rating_layers=(16,), seed=3)
#: For tests of the retrieval phase's data handling: no rating towers' phase after it.
RETRIEVAL = SMALL.replace(rating_epochs=0)


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
    assert stream.history["rating_phase_rmse"][0] == pytest.approx(memory.history["rating_phase_rmse"][0], abs=1e-5)


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
    config = RETRIEVAL.replace(epochs=2, validation_ratio=0.2, refit=False)
    stream = train(config, streamed(synthetic, files, "tfrecord"))
    memory = train(config, FrameSource(synthetic, synthetic.interactions))
    assert "val_loss" in stream.history and len(stream.history["val_loss"]) == 2
    assert stream.validation_rows == memory.validation_rows
    assert 0.15 * len(synthetic.interactions) < stream.validation_rows < 0.25 * len(synthetic.interactions)
    assert stream.scan.rows + stream.validation_rows == len(synthetic.interactions)
    # The carve is the data layer's one hash rule: the kept training rows are the same.
    keep = Holdout(0.2, nested_seed(config.seed)).frame_keep(synthetic.schema, synthetic.interactions)
    assert stream.scan.rows == memory.scan.rows == int(keep.sum())


def test_validation_files_are_the_validation_set(synthetic, files):
    train_part = streamed(synthetic, files, "tfrecord/ratings-0000[01]*")
    held_out = streamed(synthetic, files, "tfrecord/ratings-00002*")
    result = train(RETRIEVAL.replace(epochs=2), train_part, held_out)
    assert result.validation_rows == 1000 and "val_loss" in result.history


def test_streamed_training_learns_and_evaluates(synthetic, files):
    config = ModelConfig(epochs=3, batch_size=128, embedding_dim=16, tower_layers=(32,), seed=2)
    result = train(config, streamed(synthetic, files, "tfrecord/ratings-0000[01]*"))
    assert result.history["rating_phase_rmse"][-1] < result.history["rating_phase_rmse"][0]
    from_files = evaluate(result.model, streamed(synthetic, files, "tfrecord/ratings-00002*"))
    # The same rows evaluated from memory give the same numbers.
    from_memory = evaluate(result.model, FrameSource(synthetic, synthetic.interactions.iloc[2000:]))
    assert from_files["rmse"] == pytest.approx(from_memory["rmse"], rel=1e-4)
    key = "factorized_top_k/top_100_categorical_accuracy"
    assert from_files[key] == pytest.approx(from_memory[key], abs=1e-6)


def test_same_seed_same_training_from_files(synthetic, files):
    first = train(RETRIEVAL, streamed(synthetic, files, "tfrecord")).history["loss"]
    second = train(RETRIEVAL, streamed(synthetic, files, "tfrecord")).history["loss"]
    other = train(RETRIEVAL.replace(seed=4), streamed(synthetic, files, "tfrecord")).history["loss"]
    assert first == second and not np.allclose(first, other)


def test_a_catalog_smaller_than_top_k_trains_and_evaluates():
    tiny = load_synthetic(60, 40, 600, seed=2)
    result = train(RETRIEVAL.replace(top_k=100), FrameSource(tiny, tiny.interactions))
    assert result.model.model_config.top_k == 40
    metrics = evaluate(result.model, FrameSource(tiny, tiny.interactions.iloc[:100]))
    assert 0 <= metrics["factorized_top_k/top_10_categorical_accuracy"] <= 1


def test_training_and_evaluation_report_the_same_per_example_retrieval_loss(synthetic):
    """With the full softmax, the logged retrieval loss is the epoch mean of the per-example
    cross-entropy, and evaluation computes the same quantity: with (almost) no update and no
    dropout, the two agree; ``loss`` (the objective per batch) is an epoch mean too."""
    config = SMALL.replace(examples="interactions", negatives="full", learning_rate=1e-9, dropout=0.0,
                           history_dropout=0.0, rating_weight=0.0, validation_ratio=0.0)
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
    while the model trained on the rest only (refit off: with it the model trains on all rows)."""
    config = SMALL.replace(validation_ratio=0.2, refit=False)
    result = train(config, FrameSource(synthetic, synthetic.interactions))
    pairs = synthetic.interactions[["user_id", "item_id"]].drop_duplicates()
    assert result.validation_rows > 0 and result.scan.rows + result.validation_rows == len(synthetic.interactions)
    assert set(map(tuple, result.seen.to_numpy())) == set(map(tuple, pairs.to_numpy()))


def test_batches_carry_only_the_columns_the_model_reads(synthetic):
    """Training gathers only the model's columns: the same values as the full batches."""
    source = FrameSource(synthetic, synthetic.interactions)
    result = train(SMALL.replace(user_features=(), item_features=(), history=False, use_user_id=True,
                                 rating_epochs=0), source, shuffle=False)
    needed = result.model.training_columns()
    assert needed == {"user_id", "item_id", "rating"}
    full = next(iter(source.batches(64, seed=5)))
    only = next(iter(source.batches(64, seed=5, columns=needed)))
    assert set(only) == needed and set(full) > needed
    for name in needed:
        np.testing.assert_array_equal(only[name].numpy(), full[name].numpy())


def test_refit_chooses_the_epochs_on_the_carve_then_trains_all_rows(synthetic):
    """With the carve and refit, the model returned is a fresh run on all rows for the best
    validation epoch's count: the same weights as training it so directly."""
    config = SMALL.replace(epochs=3, validation_ratio=0.2, refit=True)
    source = FrameSource(synthetic, synthetic.interactions)
    result = train(config, source)
    ndcg = result.history["val_ndcg@10"]
    assert result.refit and len(ndcg) == len(result.history["loss"]) == 3
    assert result.best_epoch == int(np.argmax(ndcg)) + 1
    assert result.scan.rows == len(synthetic.interactions), "the final run reads every row"
    assert 0.15 * len(synthetic.interactions) < result.validation_rows < 0.25 * len(synthetic.interactions)
    assert result.served_history is None, "the model's own history holds the validation rows"
    direct = train(config.replace(epochs=result.best_epoch, validation_ratio=0.0), source)
    assert result.model.model_config.epochs == result.best_epoch
    for mine, theirs in zip(result.model.get_weights(), direct.model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_without_refit_the_carves_model_is_kept(synthetic):
    result = train(SMALL.replace(epochs=2, validation_ratio=0.2, refit=False),
                   FrameSource(synthetic, synthetic.interactions))
    assert not result.refit and result.scan.rows + result.validation_rows == len(synthetic.interactions)


@pytest.mark.parametrize("given", ["frame", "files"])
def test_validation_rows_given_apart_are_not_trained_on(synthetic, files, caplog, given):
    """A split's validation frame or validation files: the harness ranks them as candidates."""
    rows = synthetic.interactions
    if given == "frame":
        parts = FrameSource(synthetic, rows.iloc[:2000]), FrameSource(synthetic, rows.iloc[2000:])
    else:
        parts = (streamed(synthetic, files, "tfrecord/ratings-0000[01]*"),
                 streamed(synthetic, files, "tfrecord/ratings-00002*"))
    with caplog.at_level("INFO"):
        result = train(SMALL.replace(epochs=2, refit=True), *parts)
    assert not result.refit and result.scan.rows == 2000 and result.validation_rows == 1000
    assert "validation rows given apart are not trained on" in caplog.text


@pytest.mark.parametrize(("history", "epochs"), [
    ({"loss": [3, 2, 1], "val_ndcg@10": [0.1, 0.3, 0.3]}, 2),  # the first of equal values
    ({"loss": [3, 2, 1], "val_loss": [2.0, 1.0, 1.5], "val_ndcg@10": [0.2, 0.1, 0.3]}, 3),  # nDCG first
    ({"loss": [3, 2, 1], "val_loss": [2.0, 1.0, 1.5]}, 2),
])
def test_chosen_epochs(history, epochs):
    assert chosen_epochs(history, 0) == epochs


def test_chosen_epochs_without_held_out_rows_trains_the_configured_count(caplog):
    with caplog.at_level("WARNING"):
        assert chosen_epochs({"loss": [3, 2]}, 20) == 20
    assert "no validation values" in caplog.text


def test_the_training_carve_inside_a_tune_carve_of_the_same_seed_is_not_empty(synthetic):
    """tune carves validation with its seed, then the model carves its own with the same seed:
    with one hash the inner carve would hold nothing (and Keras refused the empty set)."""
    outer = Holdout(0.1, SMALL.seed).frame_keep(synthetic.schema, synthetic.interactions)
    rows = synthetic.interactions.loc[outer].reset_index(drop=True)
    assert not (~Holdout(0.1, SMALL.seed).frame_keep(synthetic.schema, rows)).any(), "the same hash: empty"
    result = train(SMALL.replace(epochs=1, validation_ratio=0.1, refit=True), FrameSource(synthetic, rows))
    assert 0.05 * len(rows) < result.validation_rows < 0.15 * len(rows) and result.refit


def test_empty_validation_rows_train_without_validation(synthetic, caplog):
    rows = synthetic.interactions
    with caplog.at_level("WARNING"):
        result = train(SMALL.replace(epochs=1), FrameSource(synthetic, rows), FrameSource(synthetic, rows.iloc[:0]))
    assert "validation rows are empty" in caplog.text
    assert result.validation_rows == 0 and not any(k.startswith("val_") for k in result.history)
    assert result.served_history is None, "nothing beyond the training rows to serve from"


@pytest.mark.parametrize(("line", "message"), [('refit = "yes"', "refit must be true or false, got 'yes'"),
                                               ("normalize = 1", "normalize must be true or false, got 1")])
def test_a_flag_that_is_not_a_boolean_is_one_error_line(tmp_path, line, message):
    """TOML's "yes" or 1 would read as true: every boolean option refuses them, by name."""
    path = tmp_path / "model.toml"
    path.write_text(f"[model]\n{line}\n")
    with pytest.raises(ConfigError, match=f"model.toml: {message}"):
        ModelConfig.from_toml(path)


def test_a_given_carve_replaces_the_hash(synthetic):
    """carve=(kept, held): validated on the held rows (e.g. the latest); with refit, trained
    again on every row."""
    rows = synthetic.interactions
    latest = (rows.timestamp >= rows.timestamp.quantile(0.9)).to_numpy()
    carve = (FrameSource(synthetic, rows[~latest].reset_index(drop=True)),
             FrameSource(synthetic, rows[latest].reset_index(drop=True)))
    config = SMALL.replace(epochs=2, validation_ratio=0.1, rating_epochs=0)
    once = train(config, FrameSource(synthetic, rows), carve=carve)
    assert not once.refit and once.validation_rows == latest.sum() and once.scan.rows == (~latest).sum()
    refit = train(config.replace(refit=True), FrameSource(synthetic, rows), carve=carve)
    assert refit.refit and refit.validation_rows == latest.sum() and refit.scan.rows == len(rows)
    assert len(refit.history["val_loss"]) == 2
