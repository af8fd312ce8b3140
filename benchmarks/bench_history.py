"""Does the two-tower beat EASE? The #14 benchmark, on ml-100k, every figure in one run.

EASE's l2 is tuned on validation carves of each protocol's training rows (``tfrec tune``'s
code: the test rows are never looked at); the two-tower runs with its defaults, untouched.
Protocol everywhere: full catalog, training items excluded, relevant = all test items, k=10.

* ``predefined``: folds u1-u5 -- per-fold nDCG@10, mean, folds won, fit seconds, RMSE;
* ``random`` (80/20) and ``temporal`` (latest 20%);
* ``implicit``: ml-100k with the ratings dropped (events only), random 80/20;
* ``cold``: 20% of users held out, 80% of each one's rows given as history at test time
  (strong generalization) -- two-tower, EASE, item-KNN (BM25), popularity;
* ``top100``: TFRS tutorial protocol (random 80/20): factorized top-100 accuracy on test;
* ``examples``: fold u1, retrieval only (``rating_weight = 0``): the same model trained on
  users' batches and on interaction batches -- nDCG@10 and fit seconds side by side.

Run: python benchmarks/bench_history.py --data-dir ../shared/data/ml-100k
(``--config FILE``: another two-tower config than the default, e.g.
``--config benchmarks/configs/history_interactions.toml --out /tmp/h.json``, the previous default;
the ``examples`` part runs only for configs without the linear path, which trains on users'
batches only.)
(``--parts`` re-runs some parts and keeps the others in the result file; ``--smoke``: fold u1
and the examples part, two epochs, nothing written: the script cannot rot).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from stamp import ML100K, stamp  # noqa: E402

import tfrec  # noqa: E402, F401
from tfrec.data import load_dataset  # noqa: E402
from tfrec.data.columns import side_columns  # noqa: E402
from tfrec.data.dataset import build_dataset  # noqa: E402
from tfrec.data.sources import FrameSource  # noqa: E402
from tfrec.evaluation.harness import evaluate  # noqa: E402
from tfrec.evaluation.splits import make_splits  # noqa: E402
from tfrec.evaluation.tuning import tune  # noqa: E402
from tfrec.model.config import ModelConfig  # noqa: E402
from tfrec.model.network.tower import batched_apply  # noqa: E402
from tfrec.model.training.evaluate import evaluate as evaluate_model  # noqa: E402
from tfrec.model.training.fit import train  # noqa: E402
from tfrec.recommenders import make_model  # noqa: E402

TOP100 = "factorized_top_k/top_100_categorical_accuracy"


def tuned_ease(splits, trials: int, seed: int) -> float:
    """EASE's l2 tuned on validation carves of ``splits`` (the test rows are not read); the
    Optuna study lives in a temporary folder."""
    with tempfile.TemporaryDirectory() as work:
        result = tune(splits, ["ease"], work, trials=trials, seed=seed)
    return float(result[0].best_params["l2"])


def top100_seen(trained, dataset, split) -> dict:
    """What the user's own training items do to the tutorial's metric, which ranks every item:
    their mean share of each test user's top 100, and the top-100 accuracy without them."""
    schema, model = dataset.schema, trained.model
    items = pd.Index(trained.catalog[schema.item_id].to_numpy())
    users = pd.Index(pd.unique(split.test[schema.user_id]))
    queries = batched_apply(model.query_embedding, side_columns(dataset, "user", users.to_numpy(), missing="default"))
    scores = queries @ model.indexed_item_embeddings.T  # [test users, catalog]
    seen = np.zeros(scores.shape, dtype=bool)
    known = split.train[split.train[schema.user_id].isin(users)]
    seen[users.get_indexer(known[schema.user_id]), items.get_indexer(known[schema.item_id])] = True
    top = np.argpartition(-scores, 99, axis=1)[:, :100]
    rows, cols = users.get_indexer(split.test[schema.user_id]), items.get_indexer(split.test[schema.item_id])
    target = scores[rows, cols][:, None]
    unseen_rank = (np.where(seen, -np.inf, scores)[rows] > target).sum(axis=1)
    return {"seen_share_of_top100": float(np.take_along_axis(seen, top, axis=1).mean()),
            "top100_accuracy_seen_excluded": float((unseen_rank < 100).mean())}


def run(splits, names, config, l2, seed=42):
    factories = {"two-tower": lambda: make_model("two-tower", seed=seed, config=config),
                 "ease": lambda: make_model("ease", seed=seed, params={"l2": l2}),
                 "item-knn-bm25": lambda: make_model("item-knn-bm25", seed=seed),
                 "popularity": lambda: make_model("popularity", seed=seed)}
    result = evaluate({n: factories[n] for n in names}, splits, ks=(10,))
    rows = result.rows
    out = {}
    for name in names:
        mine = rows[rows.model == name]
        ndcg = mine[(mine.metric == "ndcg") & (mine.k == 10)]["value"].to_numpy()
        entry = {"ndcg@10": [round(float(v), 4) for v in ndcg], "mean": round(float(ndcg.mean()), 4),
                 "fit_seconds": [round(float(v), 1) for v in mine[mine.metric == "fit_seconds"]["value"]]}
        rmse = mine[mine.metric == "rmse"]["value"].to_numpy()
        if len(rmse):
            entry["rmse"] = [round(float(v), 4) for v in rmse]
            entry["rmse_mean"] = round(float(rmse.mean()), 4)
        used = mine[mine.metric == "uses_history"]["value"].to_numpy()
        if len(used):
            entry["uses_history"] = bool(used[0])
        out[name] = entry
    if "two-tower" in out and "ease" in out:
        tt, ease = np.array(out["two-tower"]["ndcg@10"]), np.array(out["ease"]["ndcg@10"])
        out["two_tower_wins"] = int((tt >= ease).sum())
        out["splits"] = [s.name for s in splits]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=ML100K, help=f"MovieLens 100k (default {ML100K})")
    parser.add_argument("--parts", default=None, help="comma-separated (default: all; --smoke: predefined,examples)")
    parser.add_argument("--trials", type=int, default=20, help="EASE tuning trials per protocol")
    parser.add_argument("--smoke", action="store_true", help="one fold, two epochs (seconds)")
    parser.add_argument("--config", default=None, help="two-tower model config TOML (default: the defaults)")
    parser.add_argument("--out", default=str(HERE / "results" / "history.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = ModelConfig.from_toml(args.config) if args.config else ModelConfig()
    if args.smoke:
        config = config.replace(epochs=2)
        args.trials = 2
    chosen = args.parts is not None
    both = config.history_linear is False  # the linear path trains on users' batches only
    args.parts = args.parts or ("predefined" + (",examples" if both else "") if args.smoke else
                                "predefined,random,temporal,implicit,cold,top100" + (",examples" if both else ""))
    dataset = load_dataset("ml-100k", data_dir=args.data_dir)
    events = build_dataset("ml-100k-implicit", dataset.schema.replace(rating=None, rating_scale=None),
                           dataset.interactions.drop(columns=[dataset.schema.rating]),
                           users=dataset.users, items=dataset.items)
    results = {**stamp(seed=42, params={"two-tower": config.to_dict()}), "benchmark": "history",
               "config_file": args.config, "parts": {}}
    protocols = {
        "predefined": (dataset, dict(method="predefined", folds=["u1"] if args.smoke else None),
                       ["two-tower", "ease"]),
        "random": (dataset, dict(method="random"), ["two-tower", "ease"]),
        "temporal": (dataset, dict(method="temporal"), ["two-tower", "ease"]),
        "implicit": (events, dict(method="random"), ["two-tower", "ease"]),
        "cold": (dataset, dict(method="cold_users", cold_history=0.8),
                 ["two-tower", "ease", "item-knn-bm25", "popularity"]),
    }
    for part in args.parts.split(","):
        start = time.perf_counter()
        if part == "examples":
            split = make_splits(dataset, "predefined", folds=["u1"], seed=42)
            retrieval = config.replace(rating_weight=0.0)
            results["parts"]["examples"] = {
                examples: run(split, ["two-tower"], retrieval.replace(examples=examples), 0.0)["two-tower"]
                for examples in ("users", "interactions")}
        elif part == "top100":
            split = make_splits(dataset, "random", test_ratio=0.2, seed=42)[0]
            trained = train(config, FrameSource(dataset, split.train, split.name))
            value = evaluate_model(trained.model, FrameSource(dataset, split.test)).get(TOP100)
            results["parts"]["top100"] = {"top100_accuracy": value, "train_seconds": trained.seconds,
                                          **top100_seen(trained, dataset, split)}
        else:
            data, options, names = protocols[part]
            method = options.pop("method")
            splits = make_splits(data, method, seed=42, **options)
            l2 = tuned_ease(splits, args.trials, seed=42)
            results["parts"][part] = {"ease_l2_tuned_on_validation": l2, **run(splits, names, config, l2)}
        results["parts"][part]["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps({part: results["parts"][part]}), flush=True)
    if not args.smoke:
        if chosen and Path(args.out).is_file():  # some parts re-run: the others are kept, and say so
            kept = json.loads(Path(args.out).read_text())
            kept["parts"].update(results["parts"])
            rerun = {"git_commit": results["git_commit"], "date": results["date"], "command": results["command"]}
            kept.setdefault("reruns", {}).update({part: rerun for part in results["parts"]})
            results = kept
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
