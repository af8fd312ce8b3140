"""metrics.png: titled, labelled, honest axes, per-user distribution."""

import numpy as np
import pandas as pd

from tfrec.evaluation.plots import plot_comparison


def summary(folds):
    rows = [("a", "rmse", 0, 0.95, 0.01), ("b", "rmse", 0, 0.91, 0.02),
            ("a", "ndcg", 10, 0.40, 0.02), ("b", "ndcg", 10, 0.45, 0.01)]
    return pd.DataFrame([{"model": m, "metric": x, "k": k, "mean": v, "std": s if folds > 1 else np.nan,
                          "folds": folds} for m, x, k, v, s in rows])


def test_single_fold_bars_have_values_no_error_caps_and_a_title():
    per_user = {"a": np.array([0.0, 0.5, 1.0]), "b": np.array([0.2, 0.4])}
    fig = plot_comparison(summary(1), [("rmse", 0), ("ndcg", 10), ("recall", 10)], title="ml-100k: split u1",
                          per_user=per_user, per_user_label="nDCG@10")
    rmse, ndcg, users = fig.axes  # recall is absent: no empty panel
    assert fig._suptitle.get_text() == "ml-100k: split u1"
    assert [t.get_text() for t in rmse.texts] == ["0.950", "0.910"], "each bar carries its value"
    assert not rmse.collections and not ndcg.collections, "no error bars with one fold"
    assert rmse.get_xlabel() == "lower is better" and ndcg.get_xlabel() == "higher is better"
    low, high = rmse.get_ylim()
    assert 0.5 < low < 0.91 and high > 0.95, "RMSE axis around the values, not from 0"
    assert ndcg.get_ylim()[0] == 0
    assert users.get_title() == "nDCG@10 per user"
    assert [t.get_text() for t in users.get_xticklabels()] == ["a", "b"]


def test_several_folds_draw_error_bars():
    fig = plot_comparison(summary(5), [("rmse", 0), ("ndcg", 10)])
    assert all(ax.collections for ax in fig.axes), "standard deviation over folds"
