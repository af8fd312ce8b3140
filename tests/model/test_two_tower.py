"""Two-tower model: shapes, OOV, learning, leakage guard, round trips, determinism."""

import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import build_from_frame as build_model
from helpers import evaluate_frame as evaluate_model
from helpers import train_split as train_model

from tfrec.data import load_synthetic
from tfrec.data.columns import feature_columns
from tfrec.data.dataset import build_dataset
from tfrec.errors import ConfigError
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.model.features.encoder import FeatureEncoder
from tfrec.model.features.stats import fit_spec
from tfrec.model.network.persist import load_model, save_model
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.schema import (
    BucketizedFeature,
    CategoricalFeature,
    ContinuousFeature,
    MultiCategoricalFeature,
    Schema,
    TextFeature,
)

# The feature-driven towers: these tests exercise every feature kind (tests/model/test_history.py
# covers the default history model).
FAST = ModelConfig.feature_towers(embedding_dim=16, tower_layers=(32,), id_embedding_dim=16,
                                  feature_embedding_dim=8, rating_layers=(16,), epochs=8, batch_size=256,
                                  optimizer="adam", learning_rate=0.01, top_k=50, logq_correction=True,
                                  retrieval_weight=1.0, rating_weight=1.0)


@pytest.fixture(scope="module")
def synthetic_split():
    dataset = load_synthetic(400, 200, 8000, seed=11)
    return make_splits(dataset, "random", seed=0)[0]


@pytest.fixture(scope="module")
def trained(synthetic_split):
    return train_model(FAST, synthetic_split)


def movie_like():
    """A tiny data set with every feature kind (text, multi-valued, bucketized...)."""
    import pandas as pd

    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["Toy Story", "Heat", "Toy Soldiers"],
                          "genres": ["Animation|Comedy", "Action", ""], "year": [1995.0, 1995.0, 1984.0],
                          "price": [3.0, 5.0, np.nan]})
    users = pd.DataFrame({"user_id": ["u1", "u2"], "age": [20, 40], "job": ["x", "y"]})
    ratings = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "c"], "rating": [5, 3, 4]})
    schema = Schema(user_id_dtype="string", item_id_dtype="string",
                    user_features=(BucketizedFeature("age", boundaries=(30,)), CategoricalFeature("job")),
                    item_features=(TextFeature("title"), MultiCategoricalFeature("genres"),
                                   BucketizedFeature("year", boundaries=(1990,)), ContinuousFeature("price")))
    items["price"] = items["price"].fillna(4.0)
    return build_dataset("movies", schema, ratings, users=users, items=items)


def test_encoder_handles_every_kind_and_unseen_values():
    dataset = movie_like()
    columns = feature_columns(dataset, dataset.interactions)
    specs = [fit_spec(f, columns[f.name], 4) for f in dataset.schema.item_features]
    encoder = FeatureEncoder(specs)
    out = encoder({k: tf.constant(v) for k, v in columns.items()})
    assert out.shape == (3, 4 + 4 + 4 + 1)
    unseen = encoder({"title": tf.constant(["Never Seen Words", ""]), "genres": tf.constant(["Western|Zzz", ""]),
                      "year": tf.constant([float("nan"), 2100.0]), "price": tf.constant([float("nan"), 1e9])})
    assert unseen.shape == (2, 13) and bool(tf.reduce_all(tf.math.is_finite(unseen)))
    # get_config round trip gives the same outputs.
    clone = FeatureEncoder.from_config(json.loads(json.dumps(encoder.get_config())))
    clone({k: tf.constant(v) for k, v in columns.items()})
    clone.set_weights(encoder.get_weights())
    np.testing.assert_allclose(clone({k: tf.constant(v) for k, v in columns.items()}), out, rtol=1e-6)


def test_towers_end_in_the_same_width(synthetic_split):
    # Both towers end in config.embedding_dim (one field), so their dot product always exists.
    model = build_model(FAST.replace(tower_layers=(8, 4)), synthetic_split.dataset, synthetic_split.train)
    sample = {k: v[:5] for k, v in feature_columns(synthetic_split.dataset, synthetic_split.train).items()}
    assert model.query_embedding(sample).shape == model.candidate_embedding(sample).shape == (5, 16)
    assert model.query_tower.output_dim == model.candidate_tower.output_dim == FAST.embedding_dim


def test_config_errors_name_the_option(tmp_path):
    with pytest.raises(ConfigError, match="unknown model option"):
        ModelConfig.from_dict({"embeding_dim": 3})
    with pytest.raises(ConfigError, match="not both be 0"):
        ModelConfig(retrieval_weight=0, rating_weight=0)
    with pytest.raises(ConfigError, match="optimizer must be one of .*got 'sgd'"):
        ModelConfig(optimizer="sgd")
    path = tmp_path / "c.toml"
    path.write_text("[model]\nembedding_dim = 8\ntower_layers = [16]\n")
    assert ModelConfig.from_toml(path).embedding_dim == 8
    path.write_text("embedding_dim = 'x'\n")
    with pytest.raises(ConfigError, match="embedding_dim must be an integer from 1 to 4,096"):
        ModelConfig.from_toml(path)
    for option, value, limit in (("embedding_dim", 100_000_000, "4,096"), ("batch_size", 10**11, "1,048,576"),
                                 ("tower_layers", [10**9], "16,384"), ("learning_rate", 1e9, "100")):
        with pytest.raises(ConfigError, match=f"{option}.* must .*{limit}"):
            ModelConfig.from_dict({option: value})
    path.write_bytes(b"embedding_dim = 8 # caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        ModelConfig.from_toml(path)
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="c.toml"):
        ModelConfig.from_toml(path)


def test_unknown_features_in_config(synthetic_split):
    with pytest.raises(ConfigError, match=r"user_features \['colour'\]"):
        build_model(FAST.replace(user_features=["colour"]), synthetic_split.dataset, synthetic_split.train)


def test_unseen_ids_go_to_oov_without_error(trained, synthetic_split):
    model = trained.model
    sample = {k: v[:2] for k, v in feature_columns(synthetic_split.dataset, synthetic_split.test).items()}
    sample["user_id"] = np.array([10**9, -5])
    sample["item_id"] = np.array([10**9, 7])
    sample["category"] = np.array([999, 3])
    out = model(sample)
    assert out["query_embedding"].shape == (2, 16)
    assert bool(tf.reduce_all(tf.math.is_finite(out["rating"])))


def test_training_beats_untrained_on_both_tasks(trained, synthetic_split):
    untrained = build_model(FAST, synthetic_split.dataset, synthetic_split.train)
    before = evaluate_model(untrained, synthetic_split.dataset, synthetic_split.test)
    after = evaluate_model(trained.model, synthetic_split.dataset, synthetic_split.test)
    key = "factorized_top_k/top_10_categorical_accuracy"
    assert after[key] > 2 * before[key] and after[key] > 0.08
    assert after["rmse"] < before["rmse"] - 0.2
    global_mean = synthetic_split.train.rating.mean()
    baseline = np.sqrt(((synthetic_split.test.rating - global_mean) ** 2).mean())
    assert after["rmse"] < baseline - 0.05


def test_pure_noise_rating_model_does_not_beat_global_mean():
    """Guard against label leakage: with signal=0 nothing can be learned."""
    dataset = load_synthetic(400, 200, 8000, signal=0.0, seed=3)
    split = make_splits(dataset, "random", seed=0)[0]
    result = train_model(FAST.replace(retrieval_weight=0.0, epochs=4), split)
    rmse = evaluate_model(result.model, dataset, split.test)["rmse"]
    global_mean = split.train.rating.mean()
    baseline = float(np.sqrt(((split.test.rating - global_mean) ** 2).mean()))
    assert rmse > baseline - 0.02, (rmse, baseline)


def test_save_load_round_trip(trained, synthetic_split, tmp_path):
    save_model(trained.model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    sample = {k: v[:32] for k, v in feature_columns(synthetic_split.dataset, synthetic_split.test).items()}
    for key in ("query_embedding", "candidate_embedding", "rating"):
        np.testing.assert_allclose(loaded(sample)[key], trained.model(sample)[key], rtol=1e-5, atol=1e-5)
    assert TwoTowerModel.from_config(trained.model.get_config()).get_config() == trained.model.get_config()


def test_same_seed_same_metrics(synthetic_split):
    config = FAST.replace(epochs=2)
    first = train_model(config, synthetic_split).history
    second = train_model(config, synthetic_split).history
    assert first["loss"] == second["loss"]


@pytest.mark.parametrize("options", [
    dict(rating_weight=0.0, logq_correction=True, remove_accidental_hits=True, num_hard_negatives=10),
    dict(retrieval_weight=0.0, use_cross=True, use_bias=False),
    dict(normalize=True, temperature=0.1, optimizer="adamw", weight_decay=1e-4, use_user_id=False),
    dict(hash_bins_above=50, validation_ratio=0.1, early_stopping_patience=1, dropout=0.1),
])
def test_task_and_negative_options_train(options, synthetic_split, tmp_path):
    config = FAST.replace(epochs=2, **options)
    result = train_model(config, synthetic_split, checkpoint_dir=tmp_path / "ckpt",
                         tensorboard_dir=tmp_path / "tb")
    assert np.isfinite(result.history["loss"]).all()
    assert any((tmp_path / "ckpt").iterdir()) and any((tmp_path / "tb").iterdir())
    if config.validation_ratio:
        assert "val_loss" in result.history
    if config.rating_weight == 0:
        sample = {k: v[:2] for k, v in feature_columns(synthetic_split.dataset, synthetic_split.test).items()}
        assert "rating" not in result.model(sample)
        with pytest.raises(ValueError, match="no rating head"):
            result.model.predict_rating(sample)


def test_every_feature_kind_trains_end_to_end():
    dataset = movie_like()
    split = make_splits(dataset, "random", test_ratio=0.3, seed=1)[0]
    result = train_model(FAST.replace(epochs=1, batch_size=2), split)
    assert np.isfinite(result.history["loss"]).all()


def test_cli_train_writes_model_config_history_and_plot(tmp_path, capsys):
    from tfrec.cli import main

    config = tmp_path / "model.toml"
    config.write_text("[model]\nembedding_dim = 8\ntower_layers = []\nepochs = 2\nbatch_size = 512\n"
                      "optimizer = 'adam'\nlearning_rate = 0.01\nvalidation_ratio = 0.1\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"model", "config.json", "schema.json", "vocabularies.json",
                                               "history.json", "history.png", "checkpoints"}
    history = json.loads((out / "history.json").read_text())
    assert len(history["history"]["loss"]) == 2 and "val_loss" in history["history"]
    assert 0 <= history["test"]["factorized_top_k/top_100_categorical_accuracy"] <= 1
    assert (out / "history.png").read_bytes()[:4] == b"\x89PNG"
    loaded = load_model(out / "model")
    assert loaded.get_config()["config"]["model"]["embedding_dim"] == 8
    assert main(["train", "--config", str(config), "--out", str(out)]) == 2  # no silent overwrite
    assert "exists" in capsys.readouterr().err
    config.write_text("[model]\nembedding_dimension = 8\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    assert "unknown model option" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_shipped_configs_parse():
    from conftest import REPO_ROOT

    paths = sorted((REPO_ROOT / "benchmarks" / "configs").glob("*.toml"))
    assert paths
    for path in paths:
        config = ModelConfig.from_toml(path)
        assert config.retrieval_weight > 0 and config.rating_weight > 0


def test_nan_loss_stops_with_the_likely_cause(tmp_path):
    import pandas as pd

    from tfrec.errors import DataError, TfrecError

    frame = pd.DataFrame({"user_id": np.arange(200) % 20, "item_id": np.arange(200) // 20,
                          "rating": np.where(np.arange(200) % 2, 3e38, -3e38)})
    with pytest.raises(DataError, match=r"rating beyond \+/-1e\+09.*rating_scale"):
        build_dataset("huge", Schema(rating_scale=None), frame)  # refused before training
    frame["rating"] = np.where(np.arange(200) % 2, 1e6, -1e6)
    # A diverging run names the step size.
    plain = build_dataset("steps", Schema(rating_scale=(-1e6, 1e6)), frame.drop(columns=[]))
    split = make_splits(plain, "random", seed=0)[0]
    with pytest.raises(TfrecError, match=r"NaN/inf.*learning_rate=100 is too high for adagrad"):
        train_model(FAST.replace(epochs=3, retrieval_weight=0.0, learning_rate=100.0, optimizer="adagrad"), split)


def test_xla_training_runs_and_matches_the_plain_step(synthetic_split):
    """jit_compile compiles the dense stacks and the softmax loss (lookups stay outside XLA)."""
    config = FAST.replace(epochs=2)
    plain = train_model(config, synthetic_split).history
    compiled = train_model(config.replace(jit_compile=True), synthetic_split).history
    assert np.isfinite(compiled["loss"]).all()
    assert compiled["rmse"][-1] == pytest.approx(plain["rmse"][-1], rel=0.02)
    assert compiled["loss"][-1] == pytest.approx(plain["loss"][-1], rel=0.02)
