"""PNG figures (matplotlib, headless, no pyplot state). Callers decide where files go."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Metrics where a lower value is better (every other metric: higher is better).
LOWER_IS_BETTER = frozenset({"rmse", "mae", "fit_seconds", "predict_seconds"})


def plot_comparison(summary: Any, metrics: Sequence[tuple[str, int]], path: str | os.PathLike | None = None,
                    *, title: str = "", per_user: Mapping[str, np.ndarray] | None = None,
                    per_user_label: str = "") -> Any:
    """Bars of the main metrics per model, and the per-user distribution of one of them.

    Each bar carries its value; error bars (standard deviation over folds) appear only with
    more than one fold. Panels say whether lower or higher is better; error metrics (RMSE,
    MAE) get an axis around their values instead of one from 0, where the differences vanish.

    Args:
        summary: Frame with columns model, metric, k, mean, std, folds.
        metrics: ``(metric, k)`` pairs to draw, one panel each (absent ones are skipped).
        path: PNG file to write; ``None`` returns the figure instead (notebooks).
        title: The figure's title (data set, split, folds).
        per_user: Model -> per-user values ``[n_users]`` of one ranking metric, drawn as box
            plots in a last panel.
        per_user_label: What ``per_user`` holds, e.g. ``nDCG@10``.

    Returns:
        The figure when ``path`` is ``None``.
    """
    from matplotlib.figure import Figure

    panels = [(m, k) for m, k in metrics if not summary[(summary.metric == m) & (summary.k == k)].empty]
    boxes = {m: np.asarray(v, float) for m, v in (per_user or {}).items() if len(v)}
    count = max(1, len(panels) + bool(boxes))
    fig = Figure(figsize=(3.8 * count, 4.2))
    axes = fig.subplots(1, count, squeeze=False)[0]
    for ax, (metric, k) in zip(axes, panels, strict=False):
        rows = summary[(summary.metric == metric) & (summary.k == k)]
        means = rows["mean"].to_numpy(float)
        several = "folds" in rows and bool((rows["folds"] > 1).any())
        bars = ax.bar(rows["model"], means, yerr=rows["std"].to_numpy(float) if several else None,
                      capsize=4 if several else 0, color="#4C72B0")
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in means], fontsize=7, padding=2)
        lower = metric in LOWER_IS_BETTER
        ax.set_title(f"{metric}@{k}" if k else metric, fontsize=10)
        ax.set_xlabel("lower is better" if lower else "higher is better", fontsize=8, style="italic")
        if metric in ("rmse", "mae") and len(means):
            spread = max(float(np.ptp(means)), 0.02 * float(means.max()))
            ax.set_ylim(max(0.0, float(means.min()) - spread), float(means.max()) + spread)
        else:
            ax.set_ylim(0, float(np.nanmax(means, initial=0)) * 1.15 or 1.0)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    if boxes:
        ax = axes[len(panels)]
        ax.boxplot(list(boxes.values()), showmeans=True, flierprops={"markersize": 2})
        ax.set_xticks(range(1, len(boxes) + 1), list(boxes), rotation=45, fontsize=8)
        ax.set_title(f"{per_user_label} per user", fontsize=10)
        ax.set_xlabel("higher is better (triangle: mean)", fontsize=8, style="italic")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    return None
