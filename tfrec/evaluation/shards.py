"""Sharded evaluation: each job ranks a share of the test users, and merging the jobs' outputs
gives exactly the single run's results.

A job (``tfrec compare --shard i/n --out DIR``) fits every model as usual but ranks only the
test users at sorted positions ``i, i + n, ...`` of each fold. Besides its own (partial)
report it writes what the metrics are computed from (:class:`~tfrec.evaluation.harness.Ranked`):
``ranked.parquet`` (each user's top-k list), ``predicted.parquet`` (predicted ratings, in the
shard's test-row order) and the scalars in ``results.json``. :func:`merge` rebuilds the splits
from the recorded options, puts every user's list and every prediction back in its place and
computes the metrics with the harness's own code: the same arrays in the same order, so the
same numbers (only the timings differ: the merged fit time is the slowest shard's, the
prediction time the shards' sum).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.data.parquet import read_local_parquet, write_local_parquet
from tfrec.errors import TfrecError
from tfrec.evaluation.compare import Comparison, comparison_payload, evaluation_splits
from tfrec.evaluation.harness import Ranked, score_all
from tfrec.evaluation.provenance import provenance

RANKED, PREDICTED, RESULTS = "ranked.parquet", "predicted.parquet", "results.json"
#: Options every shard of one evaluation must share.
SHARED = ("split", "seed", "folds", "test_ratio", "cold_history", "sample_users", "ks", "relevance_threshold",
          "models")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)`` with ``0 <= i < n``.

    Raises:
        TfrecError: Anything else.
    """
    parts = str(text).split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or not 0 <= int(parts[0]) < int(parts[1]):
        raise TfrecError(f"--shard takes INDEX/COUNT with 0 <= INDEX < COUNT (e.g. 0/4), got {str(text)[:40]!r}")
    return int(parts[0]), int(parts[1])


def write_ranked(folder: str | os.PathLike, ranked: dict[tuple[str, str], Ranked]) -> list[dict[str, Any]]:
    """Writes the lists and predictions of a shard; returns the scalar records for ``results.json``."""
    folder = Path(folder)
    lists, predictions, records = [], [], []
    for (model, fold), r in ranked.items():
        k = r.recommended.shape[1]
        lists.append(pd.DataFrame({"model": model, "fold": fold, "user": np.repeat(r.eval_users, k),
                                   "rank": np.tile(np.arange(k), len(r.eval_users)),
                                   "item": r.recommended.ravel()}))
        if r.predicted is not None:
            predictions.append(pd.DataFrame({"model": model, "fold": fold, "prediction": r.predicted}))
        records.append({"model": model, "fold": fold, "fit_seconds": r.fit_seconds,
                        "predict_seconds": r.predict_seconds, "unknown_users": r.unknown_users,
                        "unknown_items": r.unknown_items, "uses_history": r.uses_history,
                        "predicts": r.predicted is not None, "k": k})
    write_local_parquet(pd.concat(lists, ignore_index=True), folder / RANKED)
    frame = (pd.concat(predictions, ignore_index=True) if predictions
             else pd.DataFrame({"model": [], "fold": [], "prediction": []}))
    write_local_parquet(frame, folder / PREDICTED)
    return records


def read_shard(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[tuple[str, str], Ranked]]:
    """A shard's ``results.json`` and its :class:`Ranked` outputs by ``(model, fold)``.

    Raises:
        TfrecError: Not a shard folder of ``tfrec compare --shard``, or unreadable files.
    """
    folder = Path(folder)
    try:
        payload = json.loads((folder / RESULTS).read_text())
        if "shard" not in payload or "ranked" not in payload["shard"]:
            raise TfrecError(f"{folder}: results of an unsharded run; merge only the folders of --shard i/n runs")
        lists, predictions = read_local_parquet(folder / RANKED), read_local_parquet(folder / PREDICTED)
    except (OSError, ValueError) as exc:
        raise TfrecError(f"{folder}: not a finished `tfrec compare --shard` folder ({exc})") from None
    ranked = {}
    for record in payload["shard"]["ranked"]:
        key = (record["model"], record["fold"])
        rows = lists[(lists["model"] == key[0]) & (lists["fold"] == key[1])].sort_values(["user", "rank"])
        users = rows["user"].to_numpy()[::record["k"]] if len(rows) else np.array([])
        mine = predictions[(predictions["model"] == key[0]) & (predictions["fold"] == key[1])]
        ranked[key] = Ranked(record["fit_seconds"], record["predict_seconds"], record["unknown_users"],
                             record["unknown_items"],
                             mine["prediction"].to_numpy(np.float64) if record["predicts"] else None,
                             users, rows["item"].to_numpy().reshape(len(users), record["k"]),
                             record["uses_history"])
    return payload, ranked


def merge(folders: Sequence[str | os.PathLike], dataset: Dataset) -> Comparison:
    """Joins the shards of one evaluation into its single-run results.

    Args:
        folders: The ``--out`` folders of ``tfrec compare --shard i/n``, every ``i`` once.
        dataset: The data set the shards ran on (loaded with the same options).

    Raises:
        TfrecError: Missing, repeated or foreign shards, or another data set.
    """
    shards = [read_shard(f) for f in folders]
    first = shards[0][0]
    count = first["shard"]["count"]
    indices = sorted(p["shard"]["index"] for p, _ in shards)
    if indices != list(range(count)):
        raise TfrecError(f"the shards are {indices} of {count}; merge needs each of 0..{count - 1} exactly once")
    for payload, _ in shards:
        if payload["shard"]["count"] != count or any(payload["options"][o] != first["options"][o] for o in SHARED):
            raise TfrecError("the shards come from different evaluations (options differ); merge one evaluation")
        if payload["data"] != dataset.name:
            raise TfrecError(f"the shards ran on {payload['data']}, not on {dataset.name}: load the same data")
    options = first["options"]
    splits, all_test_users = evaluation_splits(dataset, options)
    by_index = {p["shard"]["index"]: r for p, r in shards}
    user_column = dataset.schema.user_id
    merged = {}
    for split in splits:
        # Each shard's test rows, as positions in the full test (its order kept): one per split.
        rows = [split.test[user_column].isin(split.shard_test_users(i, count).test[user_column]).to_numpy()
                for i in range(count)]
        for model in options["models"]:
            parts = [by_index[i][(model, split.name)] for i in range(count)]
            users = np.concatenate([p.eval_users for p in parts])
            order = np.argsort(users, kind="stable")
            predicted = None
            if parts[0].predicted is not None:
                predicted = np.empty(len(split.test))
                for mask, part in zip(rows, parts, strict=True):
                    predicted[mask] = part.predicted
            merged[(model, split.name)] = Ranked(
                max(p.fit_seconds for p in parts), sum(p.predict_seconds for p in parts),
                sum(p.unknown_users for p in parts), sum(p.unknown_items for p in parts), predicted,
                users[order], np.concatenate([p.recommended for p in parts])[order], parts[0].uses_history)
    result = score_all(merged, options["models"], splits, ks=options["ks"],
                       relevance_threshold=options["relevance_threshold"])
    run = provenance(seed=options["seed"], params=first["run"]["params"],
                     merged=[str(f) for f in folders])
    payload = comparison_payload(dataset, splits, options, result, run, all_test_users)
    return Comparison(dataset, list(splits), options["ks"], options["models"], result, payload)
