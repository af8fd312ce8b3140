"""Uncertainty of ranking metrics: per-user bootstrap intervals and paired tests against the best.

A ranking metric is a mean over users, so its uncertainty comes from the users:

* :func:`bootstrap_interval` -- a 95% percentile interval of the mean from resampling users
  (seeded, 1,000 resamples, vectorized in blocks so memory stays bounded);
* :func:`compare_to_best` -- for every model, a Wilcoxon signed-rank test of its per-user values
  against the best model's (paired: the same users, the same folds), Holm-corrected over the
  models. Models whose per-user values equal the best's are "no difference" (p = 1), never an
  error or a NaN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.stats

RESAMPLES = 1000
ALPHA = 0.05


def bootstrap_interval(values: np.ndarray | Sequence[np.ndarray], *, resamples: int = RESAMPLES,
                       seed: int = 0, level: float = 0.95,
                       block_cells: int = 20_000_000) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean of per-user values.

    With several folds (a sequence of arrays), users are resampled within each fold and the
    statistic is the mean of the fold means -- the mean the comparison table reports.

    Args:
        values: ``[n]`` per-user values, or one such array per fold.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling (the same seed, the same interval).
        level: Coverage of the interval.
        block_cells: Resamples are drawn in blocks of at most this many indices.

    Returns:
        ``(low, high)``; ``(nan, nan)`` without values.
    """
    folds = [np.asarray(values, dtype=np.float64)] if isinstance(values, np.ndarray) else \
        [np.asarray(v, dtype=np.float64) for v in values]
    folds = [f for f in folds if len(f)]
    if not folds:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for fold in folds:
        n = len(fold)
        per_block = max(1, block_cells // n)
        for start in range(0, resamples, per_block):
            count = min(per_block, resamples - start)
            means[start:start + count] += fold[rng.integers(0, n, size=(count, n))].mean(axis=1) / len(folds)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    names = sorted(p_values, key=lambda n: p_values[n])
    adjusted: dict[str, float] = {}
    running = 0.0
    for rank, name in enumerate(names):
        running = max(running, min(1.0, (len(names) - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One model's metric with its uncertainty, relative to the best model.

    Attributes:
        mean: Mean over the evaluated users (pooled over folds).
        low: Lower end of the bootstrap interval.
        high: Upper end of the bootstrap interval.
        p_value: Holm-corrected p-value of the paired test against the best model (1 for the
            best itself).
        same_as_best: Not significantly different from the best at level ``ALPHA``.
    """

    mean: float
    low: float
    high: float
    p_value: float
    same_as_best: bool


def compare_to_best(per_user: Mapping[str, Sequence[np.ndarray]], *, seed: int = 0,
                    higher_is_better: bool = True) -> dict[str, Comparison]:
    """Intervals for every model and paired tests against the best one.

    Args:
        per_user: Model -> per-user values of each fold (aligned across models: the same users
            in the same order).
        seed: Seed of the bootstrap.
        higher_is_better: Direction of the metric.

    Returns:
        Model -> :class:`Comparison` (``mean``: the mean of the fold means).

    Raises:
        ValueError: The models' values are not aligned (different lengths).
    """
    folds = {m: [np.asarray(v, float) for v in ([v] if isinstance(v, np.ndarray) else v)]
             for m, v in per_user.items()}
    shapes = {tuple(len(f) for f in v) for v in folds.values()}
    if len(shapes) > 1:
        raise ValueError(f"per-user values must be aligned across models, got lengths {sorted(shapes)}")
    means = {m: float(np.mean([f.mean() for f in v if len(f)])) if any(len(f) for f in v) else float("nan")
             for m, v in folds.items()}
    sign = 1.0 if higher_is_better else -1.0
    best = max(means, key=lambda m: sign * means[m] if np.isfinite(means[m]) else -np.inf)
    pooled = {m: np.concatenate(v) if v else np.zeros(0) for m, v in folds.items()}
    raw = {}
    for model in folds:
        if model == best:
            continue
        diff = pooled[best] - pooled[model]
        if not np.any(diff != 0):
            raw[model] = 1.0  # identical per-user values: no difference
            continue
        raw[model] = float(scipy.stats.wilcoxon(diff, zero_method="wilcox").pvalue)
    adjusted = holm(raw)
    out = {}
    for model, values in folds.items():
        low, high = bootstrap_interval(values, seed=seed)
        p_value = 1.0 if model == best else adjusted[model]
        out[model] = Comparison(means[model], low, high, p_value, p_value >= ALPHA)
    return out
