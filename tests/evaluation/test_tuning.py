"""Tuning on validation carves with Optuna: resumable studies, parameters files, CLI."""

import json

import pytest

from tfrec.cli import main
from tfrec.data import load_synthetic
from tfrec.errors import ConfigError
from tfrec.evaluation.splits import make_splits
from tfrec.evaluation.tuning import read_params, to_toml, tune, validation_splits


@pytest.fixture(scope="module")
def splits():
    return make_splits(load_synthetic(150, 80, 2500, seed=3), "random", seed=0)


def test_validation_carves_come_from_train_only_and_are_the_same_for_every_model(splits):
    inner = validation_splits(splits, 0.1, seed=5)
    outer = splits[0]
    pairs = lambda f: set(zip(f.user_id, f.item_id, strict=True))  # noqa: E731
    assert pairs(inner[0].train) | pairs(inner[0].test) == pairs(outer.train)
    assert not pairs(inner[0].test) & pairs(outer.test)
    assert 0.05 < len(inner[0].test) / len(outer.train) < 0.15
    assert pairs(validation_splits(splits, 0.1, seed=5)[0].test) == pairs(inner[0].test)


def test_tune_finds_parameters_and_resumes_a_study(splits, tmp_path):
    first = tune(splits, ["ease"], tmp_path, trials=3, seed=1)
    assert first[0].trials == 3 and "l2" in first[0].best_params
    assert first[0].validation >= 0 and first[0].test_tuned >= 0
    again = tune(splits, ["ease"], tmp_path, trials=5, seed=1)  # two more, not five
    assert again[0].trials == 5 and again[0].validation >= first[0].validation
    with pytest.raises(ConfigError, match="nothing to tune"):
        tune(splits, ["popularity"], tmp_path, trials=2)


def test_defaults_are_the_first_trial(splits, tmp_path):
    import optuna

    tune(splits, ["als"], tmp_path, trials=2, seed=1)
    study = optuna.load_study(study_name="als", storage=f"sqlite:///{tmp_path / 'tune.db'}")
    assert study.trials[0].params == {"factors": 64, "regularization": 1.0, "alpha": 2.0, "iterations": 15}


def test_parameters_files_round_trip(tmp_path):
    params = {"ease": {"l2": 310.5}, "two-tower": {"embedding_dim": 32, "learning_rate": 0.003}}
    path = tmp_path / "p.toml"
    path.write_text(to_toml(params))
    assert read_params(path) == params
    path.write_text("ease = 3\n")
    with pytest.raises(ConfigError, match="must be tables"):
        read_params(path)


def test_cli_tune_then_compare_with_the_tuned_parameters(tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", "--models", "ease", "--trials", "3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "validation ndcg@10" in printed and (out / "best_params.toml").is_file()
    report = json.loads((out / "tune.json").read_text())
    assert report["models"][0]["trials"] == 3 and report["run"]["versions"]["optuna"]
    assert main(["compare", "--models", "ease,popularity", "--params", str(out / "best_params.toml"),
                 "--quiet", "--out", str(tmp_path / "cmp")]) == 0
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert results["run"]["params"]["ease"]["source"].startswith("tuned")
    assert results["run"]["params"]["ease"]["values"] == read_params(out / "best_params.toml")["ease"]


def test_validation_carves_follow_the_split_protocol():
    """A temporal split is tuned on its latest training rows, not a hash of them."""
    (temporal,) = make_splits(load_synthetic(150, 80, 2500, seed=3), "temporal", seed=0)
    (inner,) = validation_splits([temporal], 0.1, seed=5)
    assert inner.method == "temporal" and len(inner.test)
    assert inner.train.timestamp.max() <= inner.test.timestamp.min()
