"""One evaluation harness: every model, the same splits, the same metrics, the same code path.

:func:`evaluate` fits each model on each split's train rows, then measures

* rating accuracy (RMSE, MAE) on the test pairs, for models that predict ratings;
* top-k ranking over the **full catalog with each user's training items excluded**:
  precision, recall, NDCG (binary and graded by rating), MAP, hit rate, MRR -- relevance is
  every test item of the user, or those rated at least ``relevance_threshold``;
* coverage, novelty and intra-list diversity of the top-k lists;
* fit and predict seconds, and how many test pairs had a user or item unseen in training
  (each model then applies its own documented fallback; the counts are reported, never hidden).

It returns a tidy table (model, fold, metric, k, value); only the CLI prints or writes files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec import metrics
from tfrec.data.dataset import Dataset
from tfrec.evaluation.splits import Split
from tfrec.evaluation.stats import compare_to_best
from tfrec.progress import Progress
from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.schema import BucketizedFeature, CategoricalFeature, MultiCategoricalFeature

logger = logging.getLogger(__name__)

RATING_METRICS = ("rmse", "mae")
LIST_METRICS = metrics.RANKING_METRICS + ("ndcg_graded", "coverage", "novelty", "diversity")
COST_METRICS = ("fit_seconds", "predict_seconds", "unknown_users", "unknown_items")


PerUser = dict[tuple[str, int], np.ndarray]


@dataclasses.dataclass
class EvaluationResult:
    """Tidy evaluation results.

    Attributes:
        rows: One row per (model, fold, metric, k); ``k`` is 0 for metrics without a cut-off.
        per_user: ``(model, metric, k)`` -> per-user values of each ranking metric, one array
            per fold in split order (the same users in the same order for every model).
        ranked: ``(model, fold)`` -> what the model produced (:class:`Ranked`).
    """

    rows: pd.DataFrame
    per_user: dict[tuple[str, str, int], list[np.ndarray]] = dataclasses.field(default_factory=dict)
    ranked: dict[tuple[str, str], Ranked] = dataclasses.field(default_factory=dict)

    def intervals(self, *, seed: int = 0) -> pd.DataFrame:
        """Per ranking metric and k: each model's mean over users, its bootstrap 95% interval,
        the Holm-corrected p-value of the paired test against the best model, and whether it is
        not significantly different from the best (see :mod:`tfrec.evaluation.stats`)."""
        keys = sorted({(metric, k) for _, metric, k in self.per_user})
        records = []
        for metric, k in keys:
            values = {m: v for (m, name, cut), v in self.per_user.items() if (name, cut) == (metric, k)}
            for model, c in compare_to_best(values, seed=seed).items():
                records.append({"model": model, "metric": metric, "k": k, "user_mean": c.mean,
                                "ci_low": c.low, "ci_high": c.high, "p_vs_best": c.p_value,
                                "same_as_best": c.same_as_best})
        return pd.DataFrame(records, columns=["model", "metric", "k", "user_mean", "ci_low", "ci_high",
                                              "p_vs_best", "same_as_best"])

    def summary(self) -> pd.DataFrame:
        """Mean, standard deviation (population) and fold count per (model, metric, k)."""
        grouped = self.rows.groupby(["model", "metric", "k"], sort=False)["value"]
        out = grouped.agg(mean="mean", std=lambda v: float(np.std(v)), folds="count").reset_index()
        return out

    def to_dict(self, *, seed: int = 0) -> dict:
        """JSON-ready form: the rows, the summary and the intervals/tests."""
        return {"rows": self.rows.to_dict(orient="records"),
                "summary": self.summary().to_dict(orient="records"),
                "intervals": self.intervals(seed=seed).to_dict(orient="records")}


def item_feature_vectors(dataset: Dataset) -> np.ndarray | None:
    """One-/multi-hot item vectors ``[n_catalog, d]`` from categorical, multi-valued and
    bucketized item features (for intra-list diversity); ``None`` without such features."""
    if dataset.items is None:
        return None
    table = dataset.items.set_index(dataset.schema.item_id).loc[dataset.item_ids]
    parts = []
    for feature in dataset.schema.item_features:
        values = table[feature.name]
        if isinstance(feature, CategoricalFeature):
            parts.append(pd.get_dummies(values.astype(str)).to_numpy(dtype=float))
        elif isinstance(feature, MultiCategoricalFeature):
            parts.append(values.astype(str).str.get_dummies(sep=feature.separator).to_numpy(dtype=float))
        elif isinstance(feature, BucketizedFeature):
            buckets = np.searchsorted(np.asarray(feature.boundaries), values.to_numpy(float), side="right")
            parts.append(np.eye(len(feature.boundaries) + 1)[buckets])
    return np.concatenate(parts, axis=1) if parts else None


def _popularity(train: pd.DataFrame, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    schema = dataset.schema
    pairs = train[[schema.user_id, schema.item_id]].drop_duplicates()
    n_users = pairs[schema.user_id].nunique()
    counts = pairs[schema.item_id].value_counts()
    return counts.index.to_numpy(), counts.to_numpy() / n_users, n_users


@dataclasses.dataclass
class Ranked:
    """What one model produced on one split: everything its metrics are computed from.

    Attributes:
        fit_seconds: Wall time of ``fit``.
        predict_seconds: Wall time of predicting and ranking.
        unknown_users: Test pairs whose user training never saw.
        unknown_items: Test pairs whose item training never saw.
        predicted: ``[n_test]`` predicted ratings in test-row order, or ``None``.
        eval_users: ``[n_eval]`` the ranked users, sorted.
        recommended: ``[n_eval, k_max]`` their ranked item ids.
        uses_history: Whether the model read the fold-in history (``None``: no fold-in).
    """

    fit_seconds: float
    predict_seconds: float
    unknown_users: int
    unknown_items: int
    predicted: np.ndarray | None
    eval_users: np.ndarray
    recommended: np.ndarray
    uses_history: float | None = None


def _relevant(split: Split, relevance_threshold: float | None) -> pd.DataFrame:
    schema, test = split.dataset.schema, split.test
    if relevance_threshold is not None and schema.rating is not None:
        return test[test[schema.rating] >= relevance_threshold]
    return test


def rank_split(model: Recommender, split: Split, *, k_max: int = 10,
               relevance_threshold: float | None = None, seen: SeenItems | None = None,
               fold_in: SeenItems | None = None) -> Ranked:
    """Fits ``model`` on ``split.train`` (validation: ``split.validation``), predicts the test
    ratings and ranks the full catalog for every user with a relevant test item (training
    items left out; with ``split.fold_in``, from the fold-in history, its items left out)."""
    dataset, schema, test = split.dataset, split.dataset.schema, split.test
    start = time.perf_counter()
    model.fit(split.train, dataset, split.validation, seen=seen, carve=split.carve)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    users, items = test[schema.user_id].to_numpy(), test[schema.item_id].to_numpy()
    unknown = model.unknown_counts(users, items)
    predicted = (np.asarray(model.predict(users, items), dtype=np.float64)
                 if model.predicts_ratings and schema.rating is not None else None)
    eval_users = np.unique(_relevant(split, relevance_threshold)[schema.user_id].to_numpy())
    uses_history = None
    if split.fold_in is not None:
        fold_in = fold_in if fold_in is not None else SeenItems.build(split.fold_in, dataset)
        recommended, _ = model.recommend_from_history(eval_users, fold_in, k=k_max)
        uses_history = float(model.uses_history)
    else:
        recommended, _ = model.recommend(eval_users, k=k_max, exclude_seen=True)
    return Ranked(fit_seconds, time.perf_counter() - start, unknown["unknown_users"], unknown["unknown_items"],
                  predicted, eval_users, recommended, uses_history)


def score_ranked(ranked: Ranked, split: Split, *, ks: Sequence[int] = (10,),
                 relevance_threshold: float | None = None, item_vectors: np.ndarray | None = None,
                 catalog_index: pd.Index | None = None) -> tuple[list[dict], PerUser]:
    """The metrics of :class:`Ranked` outputs on ``split``'s test rows.

    Returns:
        Tidy rows ``{"metric", "k", "value"}``, and the per-user values of each ranking metric
        ``{(metric, k): [n_eval_users]}``.
    """
    dataset, schema, test = split.dataset, split.dataset.schema, split.test
    catalog_index = catalog_index if catalog_index is not None else pd.Index(dataset.item_ids)
    rows: list[dict] = []
    per_user: PerUser = {}

    def add(metric: str, value: float, k: int = 0) -> None:
        rows.append({"metric": metric, "k": int(k), "value": float(value)})

    add("fit_seconds", ranked.fit_seconds)
    add("unknown_users", ranked.unknown_users)
    add("unknown_items", ranked.unknown_items)
    if ranked.predicted is not None:
        truth = test[schema.rating].to_numpy(float)
        add("rmse", metrics.rmse(truth, ranked.predicted))
        add("mae", metrics.mae(truth, ranked.predicted))
    if ranked.uses_history is not None:
        add("uses_history", ranked.uses_history)
    add("predict_seconds", ranked.predict_seconds)
    relevant = _relevant(split, relevance_threshold)
    eval_users, user_rows = np.unique(relevant[schema.user_id].to_numpy(), return_inverse=True)
    if not np.array_equal(eval_users, ranked.eval_users):
        raise ValueError("the ranked users are not this split's users with a relevant test item")
    relevant_items = relevant[schema.item_id].to_numpy()
    gains = relevant[schema.rating].to_numpy(float) if schema.rating is not None else None
    pop_items, pop_p, n_train_users = _popularity(split.train, dataset)
    for k in ks:
        top = ranked.recommended[:, :k]
        for name, values in metrics.per_user_ranking_metrics(top, user_rows, relevant_items, k).items():
            add(name, values.mean() if len(values) else np.nan, k)
            per_user[(name, k)] = values
        if gains is not None:
            add("ndcg_graded", metrics.ranking_metrics(top, user_rows, relevant_items, k, gains=gains)["ndcg"], k)
        add("coverage", metrics.coverage(top, len(catalog_index)), k)
        add("novelty", metrics.novelty(top, items=pop_items, probabilities=pop_p, n_users=n_train_users), k)
        if item_vectors is not None and k > 1:
            positions = catalog_index.get_indexer(top.ravel()).reshape(top.shape)
            add("diversity", metrics.intra_list_diversity(positions, item_vectors), k)
    return rows, per_user


def evaluate_split(model: Recommender, split: Split, *, ks: Sequence[int] = (10,),
                   relevance_threshold: float | None = None,
                   item_vectors: np.ndarray | None = None,
                   seen: SeenItems | None = None,
                   fold_in: SeenItems | None = None) -> tuple[list[dict], PerUser]:
    """Fits ``model`` on ``split.train`` and measures it on ``split.test``
    (:func:`rank_split`, then :func:`score_ranked`); ``seen`` is the split's shared seen-items
    index, ``fold_in`` its shared index of the fold-in history.

    Returns:
        Tidy rows ``{"metric", "k", "value"}``, and the per-user values of each ranking metric
        ``{(metric, k): [n_eval_users]}``.
    """
    ranked = rank_split(model, split, k_max=max(ks), relevance_threshold=relevance_threshold, seen=seen,
                        fold_in=fold_in)
    return score_ranked(ranked, split, ks=ks, relevance_threshold=relevance_threshold,
                        item_vectors=item_vectors, catalog_index=pd.Index(model.catalog))


def evaluate(
    models: Mapping[str, Callable[[], Recommender]],
    splits: Sequence[Split],
    *,
    ks: Sequence[int] = (10,),
    relevance_threshold: float | None = None,
    progress: Progress | None = None,
    log_dir: str | os.PathLike | None = None,
) -> EvaluationResult:
    """Evaluates every model on every split with the same code path.

    Args:
        models: Name -> factory returning a fresh, unfitted model (one per split).
        splits: The shared splits (e.g. ml-100k u1..u5).
        ks: Cut-offs of the ranking metrics.
        relevance_threshold: Relevant test items are those rated at least this; ``None``:
            every test item.
        progress: Told when each fit starts and ends (CLI progress bars); given to the models,
            which report their own steps (the two-tower's epochs).
        log_dir: TensorBoard logs of the Keras-trained models go to ``log_dir/<model>/<fold>``.

    Returns:
        The tidy results.
    """
    ranked: dict[tuple[str, str], Ranked] = {}
    progress = progress or Progress()
    progress.run_started(len(models) * len(splits))
    for split in splits:
        seen = SeenItems.build(split.train, split.dataset)  # one index per split, every model
        fold_in = None if split.fold_in is None else SeenItems.build(split.fold_in, split.dataset)
        for name, factory in models.items():
            logger.info("evaluating %s on %s", name, split.name)
            progress.fit_started(name, split.name)
            model = factory()
            model.progress = progress
            model.log_dir = Path(log_dir) / name / split.name if log_dir is not None else None
            ranked[(name, split.name)] = rank_split(model, split, k_max=max(ks), seen=seen, fold_in=fold_in,
                                                    relevance_threshold=relevance_threshold)
            progress.fit_finished(name, split.name)
    return score_all(ranked, list(models), splits, ks=ks, relevance_threshold=relevance_threshold)


def score_all(ranked: Mapping[tuple[str, str], Ranked], models: Sequence[str], splits: Sequence[Split], *,
              ks: Sequence[int] = (10,), relevance_threshold: float | None = None) -> EvaluationResult:
    """The tidy results of every ``(model, fold)``'s :class:`Ranked` outputs, in split then
    model order (what :func:`evaluate` returns; merged shards go through it too)."""
    rows = []
    per_user: dict[tuple[str, str, int], list[np.ndarray]] = {}
    vectors = item_feature_vectors(splits[0].dataset) if splits else None
    for split in splits:
        for name in models:
            fold_rows, fold_users = score_ranked(ranked[(name, split.name)], split, ks=ks,
                                                 relevance_threshold=relevance_threshold, item_vectors=vectors)
            rows += [{"model": name, "fold": split.name, **row} for row in fold_rows]
            for (metric, k), values in fold_users.items():
                per_user.setdefault((name, metric, k), []).append(values)
    frame = pd.DataFrame(rows, columns=["model", "fold", "metric", "k", "value"])
    return EvaluationResult(frame, per_user, dict(ranked))
