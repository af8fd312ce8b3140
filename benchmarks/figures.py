"""The benchmark figures, drawn from the result JSON alone (``render.py`` redraws them all; the
benchmarks draw theirs after a run): ``draw(name, result)`` writes ``results/<name>.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _axes(width: float = 7, panels: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, panels, figsize=(width, 4.2))


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})  # no version stamp: redraws are identical
    plt.close(fig)


def growth_training(result: dict, path: Path) -> None:
    """Streamed training: seconds (left) and peak RSS (right) vs interactions."""
    runs = result["runs"]
    xs = [r["interactions"] for r in runs]
    fig, ax = _axes()
    ax.plot(xs, [r["fit_s"] for r in runs], marker="o", label="fit seconds")
    ax.plot(xs, [r["total_s"] for r in runs], marker="o", label="total seconds (incl. scan, TF start)")
    ax.set(xscale="log", xlabel="interactions", ylabel="seconds",
           title=f"streamed training, 1 epoch ({result['users'] // 1000}k users x {result['items'] // 1000}k "
                 f"items, {result['optimizer']})")
    twin = ax.twinx()
    twin.plot(xs, [r["peak_rss_gb"] for r in runs], marker="s", linestyle="--", color="tab:red",
              label="peak RSS (GB)")
    twin.set_ylabel("peak RSS (GB)")
    handles, labels = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(handles + more[0], labels + more[1], fontsize=8, loc="upper left")
    _save(fig, path)


def growth_harness(result: dict, path: Path) -> None:
    """The whole harness and each model's scoring time vs users x items."""
    runs, models = result["runs"], result["models"]
    xs = [r["user_x_item_cells"] for r in runs]
    fig, ax = _axes()
    ax.plot(xs, [r["total_s"] for r in runs], marker="o", label="whole harness")
    for model in models:
        ax.plot(xs, [r.get(f"{model}/predict_seconds", np.nan) for r in runs], marker="o", label=f"{model} scoring")
    ax.set(xscale="log", xlabel="users x items", ylabel="seconds",
           title=f"compare harness ({', '.join(models)}), {result['per_user']} interactions per user")
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def growth_pipeline(result: dict, path: Path) -> None:
    """Input pipelines alone and in training, thousand examples/s."""
    fig, axes = _axes(11, 2)
    for ax, key, title in ((axes[0], "input_only_examples_per_s", "input pipeline alone"),
                           (axes[1], "training_examples_per_s", "training (same model)")):
        names = list(result[key])
        ax.barh(names, [result[key][n] / 1000 for n in names])
        ax.set_xlabel("thousand examples / s")
        ax.set_title(f"{title}, batch {result['batch_size']}, {result['rows']:,} rows", fontsize=9)
    _save(fig, path)


def serving_latency(result: dict, path: Path) -> None:
    """Single-query p50/p99 latency versus catalog size, one line per index."""
    catalogs = result["catalogs"]
    sizes = [c["n_items"] for c in catalogs]
    fig, ax = _axes()
    for index in ("brute-force", "scann", "numpy"):
        for quantile, style in (("p50_ms", "-"), ("p99_ms", ":")):
            ax.plot(sizes, [c[index][quantile] for c in catalogs], style, marker="o", label=f"{index} {quantile[:3]}")
    ax.set(xscale="log", yscale="log", xlabel="catalog size (items)", ylabel="single-query latency (ms)",
           title="top-10 retrieval latency, reloaded SavedModel (numpy: matmul bound)")
    ax.legend(fontsize=8)
    _save(fig, path)


#: Figure name -> (drawing function, the result JSON it is drawn from).
FIGURES = {
    "growth_training_lazy_adam": (growth_training, "growth_training_lazy_adam.json"),
    "growth_training_adam": (growth_training, "growth_training_adam.json"),
    "growth_harness": (growth_harness, "growth_harness.json"),
    "growth_pipeline": (growth_pipeline, "growth_pipeline.json"),
    "serving_latency": (serving_latency, "serving.json"),
}


def draw(name: str, result: dict, path: str | Path | None = None) -> Path:
    """Draws figure ``name`` (a key of :data:`FIGURES`, e.g. ``growth_training_adam``) from
    ``result`` into ``path`` (default ``results/<name>.png``)."""
    function = FIGURES[name][0]
    target = Path(path) if path else RESULTS / f"{name}.png"
    function(result, target)
    return target
