"""The main job from Python: tfrec.compare, the same code path as `tfrec compare`."""

import json

import pytest

import tfrec
from tfrec.cli import main
from tfrec.data import load_synthetic
from tfrec.errors import TfrecError


def test_compare_from_python_gives_a_table_a_figure_and_the_cli_payload(tmp_path, capsys):
    data = load_synthetic(150, 80, 2500, seed=3)
    outcome = tfrec.compare(data, models=["ease", "popularity"], split="random", ks=[10, 5], seed=3)
    table = outcome.table()
    assert list(table["model"]) == ["ease", "popularity"] and "ndcg@5" in table.columns
    assert "vs best" in table.columns and "ndcg@10" in outcome.table(10).columns
    assert "ndcg@10 95% CI" in outcome.table(10, metrics=None).columns
    figure = outcome.figure()
    assert type(figure).__name__ == "Figure" and len(figure.axes) >= 2
    assert outcome.payload["models"] == ["ease", "popularity"] and outcome.payload["intervals"]
    # The CLI on the same data and options records the same numbers.
    assert main(["compare", "--models", "ease,popularity", "--seed", "3", "--k", "10,5", "--quiet",
                 "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert cli["ks"] == outcome.payload["ks"] == [5, 10]
    with pytest.raises(TfrecError, match="unknown model"):
        tfrec.compare(data, models=["lightfm"])
    with pytest.raises(AttributeError):
        tfrec.no_such_thing  # noqa: B018


def test_cold_users_are_ranked_from_their_fold_in_history():
    data = load_synthetic(200, 100, 3000, seed=3)
    outcome = tfrec.compare(data, models=["ease", "svd", "popularity"], split="cold_users", seed=3)
    assert outcome.payload["cold_history"] == 0.8 and outcome.payload["folds"][0]["fold_in"] > 0
    rows = outcome.result.rows
    used = rows[rows.metric == "uses_history"].set_index("model")["value"].to_dict()
    assert used == {"ease": 1.0, "svd": 0.0, "popularity": 0.0}
    split = outcome.splits[0]
    # No model recommends a held-out user's fold-in items.
    from tfrec.recommenders import make_model
    from tfrec.recommenders.base import SeenItems

    ease = make_model("ease", seed=3).fit(split.train, data)
    history = SeenItems.build(split.fold_in, data)
    users = split.test.user_id.unique()
    ids, _ = ease.recommend_from_history(users, history, k=10)
    for user, row in zip(users, ids, strict=True):
        assert not set(row) & set(split.fold_in[split.fold_in.user_id == user].item_id)
    plain = tfrec.compare(data, models=["popularity"], split="cold_users", seed=3, cold_history=0)
    assert plain.payload["folds"][0]["fold_in"] == 0


def test_compare_writes_a_new_run_folder_by_default_and_says_where(capsys):
    from pathlib import Path

    assert main(["compare", "--models", "popularity", "--quiet"]) == 0
    def folders():
        return [p for p in Path("runs").iterdir() if not p.name.startswith(".")]  # not the lock files

    runs = folders()
    assert len(runs) == 1 and runs[0].name.startswith("synthetic-random-")
    assert {p.name for p in runs[0].iterdir()} >= {"results.json", "report.md", "metrics.png"}
    assert f"wrote {runs[0]}" in capsys.readouterr().out
    assert main(["compare", "--models", "popularity", "--quiet"]) == 0
    assert len(folders()) == 2, "a second run never replaces the first"
    capsys.readouterr()
    assert main(["compare", "--models", "popularity", "--quiet", "--no-out"]) == 0
    assert len(folders()) == 2 and "wrote" not in capsys.readouterr().out


def test_compare_tensorboard_logs_each_two_tower_fit(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text("[model]\nembedding_dim = 8\nepochs = 1\nbatch_size = 512\nrating_epochs = 0\n")
    assert main(["compare", "--models", "popularity,two-tower", "--config", str(config), "--split", "kfold",
                 "--tensorboard", str(tmp_path / "tb"), "--no-out", "--quiet"]) == 0
    runs = sorted(p.relative_to(tmp_path / "tb").as_posix() for p in (tmp_path / "tb").glob("*/*"))
    assert runs == [f"two-tower/kfold-{i}" for i in range(5)], "one log folder per fit; popularity has none"
    assert all((tmp_path / "tb" / run / "projector_config.pbtxt").is_file() for run in runs)


@pytest.mark.slow
def test_compare_on_ml100k_runs_clean_and_leaves_a_readable_run_folder(ml100k_dir, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "m.toml"
    config.write_text("[model]\nepochs = 2\nembedding_dim = 64\n")
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "tfrec", "compare", "--data", "ml-100k", "--data-dir",
                           str(ml100k_dir), "--split", "predefined", "--folds", "u1,u2", "--k", "10,20",
                           "--models", "svd,ease,two-tower,popularity", "--config", str(config)],
                          capture_output=True, text=True, env=clean, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    import re

    lines = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", done.stderr).replace("\r", "\n").splitlines()
    noise = [line for line in lines if line.strip() and not line.startswith(("compare:", "  two-tower:"))]
    assert noise == [] or all("without a release year" in line for line in noise), noise
    table = done.stdout.splitlines()
    assert max(map(len, table)) <= 120 and sum("ndcg@20" in line for line in table) == 1
    runs = [p for p in Path("runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1 and runs[0].name.startswith("ml-100k-predefined-")
    assert (runs[0] / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert "## k = 20" in (runs[0] / "report.md").read_text()


def test_sampled_users_get_the_same_values_as_in_the_full_run(capsys):
    import numpy as np

    data = load_synthetic(300, 120, 4000, seed=4)
    full = tfrec.compare(data, models=["ease", "popularity"], seed=4)
    sampled = tfrec.compare(data, models=["ease", "popularity"], seed=4, sample_users=40)
    assert sampled.payload["sampled_users"] == {"users": 40, "of": [full.payload["folds"][0]["test_users"]],
                                                "seed": 4}
    assert sampled.payload["folds"][0]["test_users"] == 40 and full.payload["sampled_users"] is None
    users = np.unique(full.splits[0].test["user_id"])
    chosen = np.isin(users, sampled.splits[0].test["user_id"].unique())
    for model in ("ease", "popularity"):  # a user's list does not depend on who else is ranked
        np.testing.assert_array_equal(sampled.result.per_user[(model, "ndcg", 10)][0],
                                      full.result.per_user[(model, "ndcg", 10)][0][chosen])
    assert main(["compare", "--models", "popularity", "--sample-users", "25", "--quiet", "--no-out"]) == 0
    assert "sampled: 25 test users per fold" in capsys.readouterr().out


def test_tune_gives_every_tunable_model_its_trials_on_validation_then_scores_test_once(tmp_path, capsys):
    data = load_synthetic(150, 80, 2500, seed=3)
    outcome = tfrec.compare(data, models=["ease", "als", "popularity"], ks=[10], seed=3, tune=3)
    params = outcome.payload["run"]["params"]
    for name in ("ease", "als"):
        assert params[name]["source"].startswith("tuned: best of 3 trials on validation carves (0.1 of training)")
        assert params[name]["values"]
    assert params["popularity"] == {"values": {}, "source": "defaults (nothing to tune)"}
    assert params["ease"]["values"]["l2"] != 300.0  # not the default: the check below can tell
    # The test score is the model with the best parameters, fitted once: the same as passing them.
    again = tfrec.compare(data, models=["ease"], ks=[10], seed=3, params={"ease": params["ease"]["values"]})
    summary = outcome.result.summary().set_index(["model", "metric", "k"])["mean"]
    assert summary["ease", "ndcg", 10] == again.result.summary().set_index(["model", "metric", "k"])["mean"][
        "ease", "ndcg", 10]
    with pytest.raises(TfrecError, match="--tune chooses every model's parameters on validation; leave out --params"):
        tfrec.compare(data, models=["ease"], tune=2, params={"ease": {"l2": 10.0}})
    with pytest.raises(TfrecError, match="--tune takes a number of trials of at least 1, got 0"):
        tfrec.compare(data, models=["ease"], tune=0)
    assert main(["compare", "--models", "ease,popularity", "--seed", "3", "--tune", "2", "--quiet",
                 "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert "ease: tuned: best of 2 trials" in printed and "popularity: defaults (nothing to tune)" in printed
    report = (tmp_path / "cli" / "report.md").read_text()
    assert "ease: tuned: best of 2 trials" in report
