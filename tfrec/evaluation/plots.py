"""PNG figures (matplotlib, headless). Callers decide where files go."""

from __future__ import annotations

import os


def plot_comparison(summary, metrics: list[tuple[str, int]], path: str | os.PathLike) -> None:
    """Bar chart of the main metrics per model, with standard-deviation error bars.

    Args:
        summary: Frame with columns model, metric, k, mean, std.
        metrics: ``(metric, k)`` pairs to draw, one panel each.
        path: PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(m, k) for m, k in metrics
              if not summary[(summary.metric == m) & (summary.k == k)].empty]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.6 * max(1, len(panels)), 3.8),
                             squeeze=False)
    for ax, (metric, k) in zip(axes[0], panels, strict=False):  # one empty axis when no panel
        rows = summary[(summary.metric == metric) & (summary.k == k)]
        ax.bar(rows["model"], rows["mean"], yerr=rows["std"], capsize=4, color="#4C72B0")
        ax.set_title(f"{metric}@{k}" if k else metric)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
