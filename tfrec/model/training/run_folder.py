"""The layout of a training run's folder, written by ``tfrec train`` and read by export.

One :class:`RunFolder` names every file, so the writer (:func:`save_run`) and the readers
(:mod:`tfrec.serving.export`) cannot drift apart::

    model/              config JSON (vocabularies included) + TF checkpoint (persist.py)
    config.json         the ModelConfig, by section (ModelConfig.to_sections)
    schema.json         the data schema (read back by export)
    vocabularies.json   vocabulary of every feature
    history.json        per-epoch metrics, test metrics, what was trained on
    history.png         loss and metrics per epoch
    catalog.parquet     the whole item catalog (ids + item features)
    users.parquet       the user feature table, when there is one
    seen.parquet        the training (user, item) pairs: served recommendations leave them out
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.data.parquet import read_local_parquet, write_local_parquet
from tfrec.errors import SchemaError, TfrecError
from tfrec.model.network.persist import load_model, save_model
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.build import fill_history
from tfrec.model.training.fit import TrainResult
from tfrec.schema import Schema


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """Paths of a training run's files.

    Attributes:
        path: The run folder (``tfrec train --out``).
    """

    path: Path

    MODEL = "model"
    CONFIG = "config.json"
    SCHEMA = "schema.json"
    VOCABULARIES = "vocabularies.json"
    HISTORY = "history.json"
    HISTORY_PLOT = "history.png"
    CATALOG = "catalog.parquet"
    USERS = "users.parquet"
    SEEN = "seen.parquet"
    #: Files an export copies beside its SavedModel.
    DESCRIPTIONS = (CONFIG, SCHEMA, VOCABULARIES, HISTORY, SEEN)

    def __init__(self, path: str | os.PathLike) -> None:
        object.__setattr__(self, "path", Path(path))

    def file(self, name: str) -> Path:
        """The path of one of the folder's files (a class constant above)."""
        return self.path / name

    def check(self) -> RunFolder:
        """Raises a :class:`TfrecError` unless the folder holds a complete run."""
        if not self.file(self.CATALOG).is_file():
            raise TfrecError(f"{self.path}: not a tfrec training folder ({self.CATALOG} missing); "
                             "run `tfrec train --out DIR` and export DIR")
        return self

    def load_model(self) -> TwoTowerModel:
        """The trained model."""
        return load_model(self.file(self.MODEL))

    def catalog(self) -> pd.DataFrame:
        """The item catalog (ids and item features)."""
        return read_local_parquet(self.file(self.CATALOG))

    def seen(self) -> pd.DataFrame | None:
        """The training (user, item) pairs, or ``None`` for a run saved before tfrec kept them."""
        path = self.file(self.SEEN)
        return read_local_parquet(path) if path.is_file() else None

    def schema(self) -> Schema:
        """The data schema of the run.

        Raises:
            TfrecError: ``schema.json`` is missing or invalid.
        """
        path = self.file(self.SCHEMA)
        try:
            return Schema.from_json(path.read_text("utf-8"))
        except (OSError, SchemaError) as exc:
            raise TfrecError(f"{path}: cannot read the run's schema ({exc}); re-train") from None


def save_run(result: TrainResult, tables: Dataset, directory: str | os.PathLike, *,
             split_summary: dict[str, Any] | None = None,
             test_metrics: dict[str, float] | None = None) -> Path:
    """Writes a training run: everything ``tfrec export`` and ``tfrec recommend`` need.

    With ``result.served_history`` the model's history table is first refilled with it (the
    validation rows join each user's history), in memory too.

    Args:
        result: The trained model, its history and catalog.
        tables: Schema and feature tables of the run.
        directory: Output folder (see the module docstring for its files).
        split_summary: What the model was trained on (``Split.summary()`` or file counts).
        test_metrics: Held-out metrics to record.
    """
    run = RunFolder(directory)
    model = result.model
    if result.served_history is not None:  # known users are served from all their training rows
        fill_history(model, result.served_history)
    save_model(model, run.file(run.MODEL))
    run.file(run.CONFIG).write_text(json.dumps(model.model_config.to_sections(), indent=2))
    run.file(run.SCHEMA).write_text(tables.schema.to_json())
    vocabularies = {s.name: list(s.vocabulary) for s in model.query_specs + model.candidate_specs
                    if s.vocabulary is not None}
    run.file(run.VOCABULARIES).write_text(json.dumps(vocabularies))
    summary = {"data": tables.name, "split": split_summary or {}, "seconds": result.seconds,
               "examples_per_second": result.examples_per_second, "history": result.history,
               "validation_rows": result.validation_rows, "best_epoch": result.best_epoch,
               "refit": result.refit,
               "dropped": result.scan.report.to_dict(),
               "test": test_metrics or {}}
    run.file(run.HISTORY).write_text(json.dumps(summary, indent=2))
    write_local_parquet(result.catalog, run.file(run.CATALOG))
    if tables.users is not None:
        write_local_parquet(tables.users, run.file(run.USERS))
    write_local_parquet(result.seen, run.file(run.SEEN))
    plot_history(result.history, run.file(run.HISTORY_PLOT), result.best_epoch)
    return run.path


def plot_history(history: dict[str, list[float]], path: str | os.PathLike | None = None,
                 best_epoch: int | None = None) -> Any:
    """The training curves per epoch: one panel per quantity, training and validation together.

    Panels: the retrieval cross-entropy per example (the objective's scale-free part; the raw
    ``loss`` is a sum over each batch and is drawn only without it), RMSE, validation nDCG@10,
    and validation top-k accuracies when they were computed. Every value is an epoch mean.

    Args:
        history: Keras history (metric -> per-epoch values; ``val_`` for validation).
        path: PNG to write; ``None`` returns the figure instead (notebooks).
        best_epoch: The epoch early stopping kept (1-based), marked on every panel.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    bases = ["retrieval_loss" if any(k.endswith("retrieval_loss") for k in history) else "loss",
             "rmse", "ndcg@10"]
    panels = [b for b in bases if b in history or f"val_{b}" in history]
    topk = sorted((k for k in history if "factorized_top_k" in k),
                  key=lambda k: int(k.rsplit("top_", 1)[1].split("_")[0]))
    titles = {"retrieval_loss": "retrieval loss per example (lower is better)",
              "loss": "loss (lower is better)", "rmse": "RMSE (lower is better)",
              "ndcg@10": "nDCG@10 (higher is better)"}
    count = len(panels) + bool(topk)
    fig = Figure(figsize=(4.2 * max(count, 1), 3.6))
    axes = fig.subplots(1, max(count, 1), squeeze=False)[0]
    for ax, base in zip(axes, panels, strict=False):
        for key, label, style in ((base, "training", "-"), (f"val_{base}", "validation", "--")):
            if key in history:
                values = history[key]
                ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3, label=label)
        ax.set_title(titles[base], fontsize=9)
    if topk:
        ax = axes[len(panels)]
        for key in topk:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                    label=key.replace("val_factorized_top_k/", "").replace("_categorical_accuracy", ""))
        ax.set_title("validation top-k accuracy (higher is better)", fontsize=9)
    for ax in axes[:count]:
        ax.set_xlabel("epoch")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linewidth=0.8, linestyle=":", label=f"kept: epoch {best_epoch}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    return None
