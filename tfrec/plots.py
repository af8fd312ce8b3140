"""PNG figures (matplotlib, headless). Callers decide where files go."""

from __future__ import annotations

import os


def plot_history(history: dict[str, list[float]], path: str | os.PathLike) -> None:
    """Writes a loss/metric-per-epoch figure: losses on the left, other metrics on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = {k: v for k, v in history.items() if k.endswith("loss") and "regularization" not in k}
    metrics = {k: v for k, v in history.items() if k not in losses and "regularization" not in k
               and any(v)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, series, title in ((axes[0], losses, "loss"), (axes[1], metrics, "metrics")):
        for name, values in sorted(series.items()):
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name.replace("factorized_top_k/", ""))
        ax.set_xlabel("epoch")
        ax.set_title(title)
        if series:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
