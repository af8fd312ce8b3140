"""PNG figures (matplotlib, headless). Callers decide where files go."""

from __future__ import annotations

import os
from typing import Any


def plot_comparison(summary: Any, metrics: list[tuple[str, int]], path: str | os.PathLike | None = None) -> Any:
    """Bar chart of the main metrics per model, with standard-deviation error bars.

    Args:
        summary: Frame with columns model, metric, k, mean, std.
        metrics: ``(metric, k)`` pairs to draw, one panel each.
        path: PNG file to write; ``None`` returns the figure instead (notebooks).

    Returns:
        The figure when ``path`` is ``None``.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    panels = [(m, k) for m, k in metrics
              if not summary[(summary.metric == m) & (summary.k == k)].empty]
    fig = Figure(figsize=(3.6 * max(1, len(panels)), 3.8))
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)
    for ax, (metric, k) in zip(axes[0], panels, strict=False):  # one empty axis when no panel
        rows = summary[(summary.metric == metric) & (summary.k == k)]
        ax.bar(rows["model"], rows["mean"], yerr=rows["std"], capsize=4, color="#4C72B0")
        ax.set_title(f"{metric}@{k}" if k else metric)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    return None
