"""Harness: tidy results, metric plumbing, leakage guard, and the `tfrec compare` command."""

import json

import numpy as np
import pandas as pd
import pytest

from tfrec.cli import main
from tfrec.data import load_synthetic
from tfrec.evaluation.harness import evaluate, item_feature_vectors
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.recommenders import make_model
from tfrec.recommenders.base import Recommender

SEEN_INDEXES = []


class Oracle(Recommender):
    """Knows the test set: ranks test items first and predicts the true rating."""

    name = "oracle"

    def __init__(self, test):
        super().__init__()
        self.truth = {(u, i): r for u, i, r in zip(test.user_id, test.item_id, test.rating, strict=True)}

    def _fit(self, train, validation):
        SEEN_INDEXES.append(self.seen)

    def score(self, user_ids, item_ids):
        return np.array([self.truth.get((u, i), 0.0) for u, i in zip(user_ids, item_ids, strict=True)])


@pytest.fixture(scope="module")
def split():
    return make_splits(load_synthetic(150, 80, 2500, seed=2), "kfold", n_folds=2, seed=0)


def test_oracle_gets_perfect_scores_and_rows_are_tidy(split):
    result = evaluate({"oracle": lambda: Oracle(split[0].test)}, split[:1], ks=(5, 10))
    rows = result.rows
    assert list(rows.columns) == ["model", "fold", "metric", "k", "value"]
    value = rows.set_index(["metric", "k"])["value"]
    assert value[("rmse", 0)] == 0 and value[("mae", 0)] == 0
    assert value[("hit_rate", 10)] == 1 and value[("mrr", 10)] == 1
    assert value[("ndcg_graded", 10)] == pytest.approx(1.0)
    assert 0 < value[("coverage", 5)] <= value[("coverage", 10)] <= 1
    assert value[("fit_seconds", 0)] >= 0 and value[("unknown_users", 0)] == 0


def test_kfold_summary_has_mean_and_std(split):
    result = evaluate({"popularity": lambda: make_model("popularity"),
                       "random": lambda: make_model("random")}, split, ks=(10,))
    summary = result.summary()
    ndcg = summary[(summary.metric == "ndcg") & (summary.k == 10)].set_index("model")
    assert (ndcg["folds"] == 2).all()
    per_fold = result.rows[(result.rows.metric == "ndcg") & (result.rows.model == "random")]["value"]
    assert ndcg.loc["random", "mean"] == pytest.approx(per_fold.mean())
    assert ndcg.loc["random", "std"] == pytest.approx(np.std(per_fold))
    assert ndcg.loc["popularity", "mean"] > ndcg.loc["random", "mean"]
    assert "rmse" not in set(result.rows[result.rows.model == "popularity"].metric)


def test_relevance_threshold_restricts_relevant_items(split):
    all_items = evaluate({"p": lambda: make_model("popularity")}, split[:1], ks=(10,)).rows
    liked = evaluate({"p": lambda: make_model("popularity")}, split[:1], ks=(10,), relevance_threshold=5).rows
    def recall(rows):
        return rows[(rows.metric == "recall")]["value"].iloc[0]
    assert recall(all_items) != recall(liked)


def test_unknown_pairs_are_counted():
    dataset = load_synthetic(150, 80, 2500, seed=2)
    (cold,) = make_splits(dataset, "cold_users", test_ratio=0.2, seed=0)
    rows = evaluate({"svd": lambda: make_model("svd")}, [cold], ks=(10,)).rows.set_index("metric")["value"]
    assert rows["unknown_users"] == len(cold.test)


def test_item_feature_vectors_one_hot():
    dataset = load_synthetic(50, 30, 300, seed=1)
    vectors = item_feature_vectors(dataset)
    assert vectors.shape[0] == 30 and set(np.unique(vectors)) <= {0.0, 1.0}


def test_pure_noise_no_model_beats_global_mean():
    """Leakage guard for the harness: on signal=0 data nothing can predict ratings."""
    dataset = load_synthetic(300, 150, 6000, signal=0.0, seed=4)
    (split,) = make_splits(dataset, "random", seed=0)
    tiny = ModelConfig(embedding_dim=8, tower_layers=(), epochs=3, batch_size=256)
    names = ["svd", "user-knn", "item-knn", "baseline", "two-tower"]
    rows = evaluate({n: (lambda n=n: make_model(n, config=tiny)) for n in names}, [split]).rows
    mean = split.train.rating.mean()
    baseline = float(np.sqrt(((split.test.rating - mean) ** 2).mean()))
    rmse = rows[rows.metric == "rmse"].set_index("model")["value"]
    assert (rmse > baseline - 0.02).all(), (rmse.to_dict(), baseline)


def test_compare_command_outputs_agree(tmp_path, capsys):
    out = tmp_path / "cmp"
    config = tmp_path / "tt.toml"
    config.write_text("[model]\nembedding_dim = 8\ntower_layers = []\nepochs = 2\nbatch_size = 512\n"
                      "rating_epochs = 0\n")  # what is checked is the outputs' agreement: the quickest two-tower
    code = main(["compare", "--models", "svd,user-knn,item-knn,two-tower,popularity", "--k", "5,10",
                 "--config", str(config), "--out", str(out), "--quiet", "--split", "kfold"])
    assert code == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    assert (out / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert results["models"] == ["svd", "user-knn", "item-knn", "two-tower", "popularity"]
    assert len(results["folds"]) == 5 and results["ks"] == [5, 10]
    summary = pd.DataFrame(results["summary"])
    for k in (5, 10):
        values = summary[(summary.metric == "ndcg") & (summary.k == k)].set_index("model")["mean"]
        assert len(values) == 5
        section = report.split(f"## k = {k}")[1].split("## k =")[0]
        for model, value in values.items():
            row = next(line for line in section.splitlines() if line.startswith(f"| {model} |"))
            assert f"{value:.4f}" in row
            if k == 5:  # the terminal table shows the first cut-off
                printed_row = next(line for line in printed.splitlines() if line.startswith(model + " "))
                assert f"{value:.4f}" in printed_row


def test_compare_rejects_unknown_model_before_loading(capsys):
    assert main(["compare", "--models", "svd,lightfm", "--data", "ml-100k", "--quiet"]) == 2
    assert "unknown model 'lightfm'" in capsys.readouterr().err


def test_scripts_compare_is_the_cli(tmp_path):
    import subprocess
    import sys

    from conftest import REPO_ROOT

    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "compare.py"), "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--relevance-threshold" in result.stdout


def test_two_compare_runs_give_identical_results(tmp_path):
    """Same seed -> identical results.json (timings excluded: wall-clock time is not data)."""
    config = tmp_path / "tt.toml"
    config.write_text("[model]\nembedding_dim = 8\ntower_layers = [8]\nepochs = 2\nbatch_size = 512\n")
    rows = []
    for run in ("a", "b"):
        assert main(["compare", "--models", "svd,item-knn,two-tower,random", "--config", str(config),
                     "--out", str(tmp_path / run), "--quiet", "--seed", "7"]) == 0
        payload = json.loads((tmp_path / run / "results.json").read_text())
        rows.append([r for r in payload["rows"] if not r["metric"].endswith("seconds")])
    assert rows[0] == rows[1] and len(rows[0]) > 40


def test_the_seen_items_index_is_built_once_per_split_and_shared(split):
    SEEN_INDEXES.clear()
    evaluate({"a": lambda: Oracle(split[0].test), "b": lambda: Oracle(split[0].test)}, split, ks=(5,))
    assert len(SEEN_INDEXES) == 4
    assert SEEN_INDEXES[0] is SEEN_INDEXES[1] and SEEN_INDEXES[2] is SEEN_INDEXES[3]
    assert SEEN_INDEXES[0] is not SEEN_INDEXES[2]


def test_recommender_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Recommender()


class Recording:
    """A Progress that records its calls (any object with the hooks will do)."""

    def __init__(self):
        self.calls = []

    def run_started(self, fits):
        self.calls.append(("run", fits))

    def fit_started(self, model, fold):
        self.calls.append(("start", model, fold))

    def fit_finished(self, model, fold):
        self.calls.append(("end", model, fold))

    def training_step(self, epoch, epochs, step, steps):
        self.calls.append(("step", epoch, epochs, step, steps))


@pytest.mark.parametrize("per_execution", [1, 3])
def test_progress_names_the_model_being_fitted_and_counts_two_tower_steps(split, per_execution):
    config = ModelConfig(epochs=2, batch_size=256, embedding_dim=8, seed=1, steps_per_execution=per_execution,
                         examples="interactions")
    progress = Recording()
    evaluate({"popularity": lambda: make_model("popularity"),
              "two-tower": lambda: make_model("two-tower", config=config)}, split, progress=progress)
    calls = progress.calls
    assert calls[0] == ("run", 4)
    fits = [c for c in calls if c[0] in ("start", "end")]
    assert fits == [(e, m, f) for f in ("kfold-0", "kfold-1") for m in ("popularity", "two-tower")
                    for e in ("start", "end")], "each fit is announced before it runs and closed after"
    first = calls.index(("start", "two-tower", "kfold-0"))
    steps = [c for c in calls[first:calls.index(("end", "two-tower", "kfold-0"))] if c[0] == "step"]
    rows = len(split[0].train)
    per_epoch = -(-rows // 256)
    assert per_epoch > 3, "the test needs several executions per epoch"
    # Reported after every execution of `per_execution` steps, and at the epoch's last step.
    reported = sorted(set(range(per_execution, per_epoch + 1, per_execution)) | {per_epoch})
    assert per_epoch % per_execution or per_execution == 1, "and a last, shorter execution"
    assert steps == [("step", e, 2, s, per_epoch) for e in (1, 2) for s in reported]


def test_the_two_tower_is_validated_on_the_split_s_own_carve():
    """On a temporal split the model's held-out rows are the latest training rows (Split.carve),
    not a hash of them; the harness hands the carve to every model's fit."""
    from tfrec.data.holdout import nested_seed
    from tfrec.evaluation.harness import rank_split

    (split,) = make_splits(load_synthetic(150, 80, 2500, seed=3), "temporal", seed=0)
    config = ModelConfig(epochs=2, embedding_dim=16, id_embedding_dim=16, rating_weight=0.0,
                         validation_ratio=0.1, refit=True, seed=4)
    model = make_model("two-tower", config=config)
    rank_split(model, split)
    kept, held = split.carve(0.1, nested_seed(config.seed))
    assert model.carve is not None and model.result.refit
    assert model.result.validation_rows == len(held) and model.result.scan.rows == len(split.train)
    assert kept.timestamp.max() <= held.timestamp.min()
