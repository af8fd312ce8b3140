"""Bootstrap intervals and paired tests of ranking metrics."""

import numpy as np
import pytest

from tfrec.evaluation.harness import evaluate
from tfrec.evaluation.splits import make_splits
from tfrec.evaluation.stats import bootstrap_interval, compare_to_best, holm
from tfrec.recommenders import make_model


def test_bootstrap_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        values = rng.beta(2, 5, size=300)  # per-user nDCG-like values, true mean 2/7
        low, high = bootstrap_interval(values, seed=trial)
        covered += low <= 2 / 7 <= high
    assert 0.91 <= covered / 200 <= 0.99, covered


def test_bootstrap_is_seeded_and_memory_bounded():
    values = np.random.default_rng(1).random(5000)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3, block_cells=10_000)
    assert bootstrap_interval(values, seed=3) != bootstrap_interval(values, seed=4)
    assert all(np.isnan(bootstrap_interval(np.array([]))))


def test_identical_models_are_no_difference_not_an_error():
    values = np.random.default_rng(2).random(100)
    result = compare_to_best({"a": values, "b": values.copy()})
    assert result["b"].p_value == 1.0 and result["b"].same_as_best
    assert np.isfinite(result["a"].low)


def test_holm_is_monotone_and_capped():
    adjusted = holm({"x": 0.01, "y": 0.04, "z": 0.03})
    assert adjusted == {"x": 0.03, "z": 0.06, "y": 0.06}
    assert holm({"x": 0.9, "y": 0.8}) == {"y": 1.0, "x": 1.0}


def test_misaligned_per_user_values_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        compare_to_best({"a": np.zeros(3), "b": np.zeros(4)})


@pytest.mark.slow
def test_popularity_is_significantly_worse_than_ease_on_ml100k_u1(ml100k):
    split = make_splits(ml100k, "predefined", folds=["u1"])
    result = evaluate({"ease": lambda: make_model("ease"), "popularity": lambda: make_model("popularity")},
                      split, ks=(10,))
    table = result.intervals(seed=0)
    ndcg = table[(table.metric == "ndcg") & (table.k == 10)].set_index("model")
    assert ndcg.loc["popularity", "p_vs_best"] < 0.01 and not ndcg.loc["popularity", "same_as_best"]
    assert ndcg.loc["ease", "same_as_best"] and ndcg.loc["ease", "ci_low"] > ndcg.loc["popularity", "ci_high"]
    means = result.summary().set_index(["model", "metric", "k"])["mean"]
    assert ndcg.loc["ease", "user_mean"] == pytest.approx(means[("ease", "ndcg", 10)])


def test_with_folds_the_interval_is_about_the_mean_of_fold_means():
    rng = np.random.default_rng(5)
    folds = [rng.normal(0.6, 0.1, 400), rng.normal(0.3, 0.1, 100)]  # unequal sizes and means
    low, high = bootstrap_interval(folds, seed=0)
    assert low < 0.45 < high  # the mean of fold means, not the pooled mean (0.54)
    result = compare_to_best({"a": folds, "b": [f - 0.01 for f in folds]})
    assert result["a"].mean == pytest.approx(np.mean([f.mean() for f in folds]))
    assert result["b"].p_value < 0.01
