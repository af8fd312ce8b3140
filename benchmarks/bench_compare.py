"""Benchmark of the evaluation harness on MovieLens 100k (issue "harness" targets).

1. Quality: every seed model (+ references) on the official folds u1-u5, relevance = all test
   items, k = 10; Surprise figures checked against the values measured with the same protocol
   before tfrec existed (tolerance 0.005).
2. Speed: full-catalog scoring (943 x 1682 pairs) from fitted internals versus Surprise's
   per-pair ``predict`` loop (timed on a sample, extrapolated), per adapter.
3. Wall time of the whole ``tfrec compare --data ml-100k`` (seed models, one split).

    python benchmarks/bench_compare.py --data-dir ../shared/data/ml-100k
    python benchmarks/bench_compare.py --smoke     # fold u1, popularity and SVD, no compare run

Results: ``benchmarks/results/compare.json`` (stamped; ``--smoke`` writes nothing).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import ML100K, stamp  # noqa: E402

import tfrec  # noqa: E402, F401
from tfrec.data import load_dataset  # noqa: E402
from tfrec.evaluation.harness import evaluate  # noqa: E402
from tfrec.evaluation.splits import make_splits  # noqa: E402
from tfrec.model.config import ModelConfig  # noqa: E402
from tfrec.recommenders import SURPRISE_MODELS, make_model  # noqa: E402

REFERENCE = {  # measured before tfrec, same protocol (u1-u5 mean, k=10, all test items relevant)
    ("popularity", "ndcg"): 0.251, ("svd", "ndcg"): 0.108,
    ("svd", "rmse"): 0.938, ("knn-baseline", "rmse"): 0.932,
    ("user-knn", "rmse"): 1.017, ("item-knn", "rmse"): 1.030,
}
QUALITY_MODELS = ("popularity", "svd", "user-knn", "item-knn", "knn-baseline", "two-tower")


def speed(dataset, split, names, sample: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    users, items = dataset.user_ids, dataset.item_ids
    for name in names:
        model = make_model(name).fit(split.train, dataset)
        pair_users, pair_items = rng.choice(users, sample), rng.choice(items, sample)
        start = time.perf_counter()
        for u, i in zip(pair_users, pair_items, strict=True):
            model.algo.predict(u, i)
        per_pair = (time.perf_counter() - start) / sample
        start = time.perf_counter()
        model.score_matrix(users)
        vectorized = time.perf_counter() - start
        loop = per_pair * len(users) * len(items)
        out[name] = {"predict_us_per_pair": per_pair * 1e6, "predict_loop_full_catalog_s": loop,
                     "vectorized_full_catalog_s": vectorized, "speedup": loop / vectorized}
        print(json.dumps({name: out[name]}), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=ML100K, help=f"MovieLens 100k (default {ML100K})")
    parser.add_argument("--folds", default="u1,u2,u3,u4,u5")
    parser.add_argument("--models", default=",".join(QUALITY_MODELS))
    parser.add_argument("--speed-sample", type=int, default=20000)
    parser.add_argument("--smoke", action="store_true", help="fold u1, popularity and SVD (seconds)")
    parser.add_argument("--out", default=str(HERE / "results" / "compare.json"), help="result JSON")
    args = parser.parse_args()
    if args.smoke:
        args.folds, args.models, args.speed_sample = "u1", "popularity,svd", 200
    logging.basicConfig(level=logging.WARNING)
    dataset = load_dataset("ml-100k", data_dir=args.data_dir)
    splits = make_splits(dataset, "predefined", folds=args.folds.split(","))
    names = args.models.split(",")
    start = time.perf_counter()
    # The two-tower row of docs/compare.md's table was measured with the feature towers (the default
    # then); benchmarks/bench_history.py measures the history model against EASE.
    towers = ModelConfig.feature_towers()
    result = evaluate({n: (lambda n=n: make_model(n, config=towers)) for n in names}, splits, ks=(10,))
    harness_seconds = time.perf_counter() - start
    summary = result.summary()
    per_fold = result.rows[result.rows.metric.isin(["ndcg", "rmse", "recall", "precision"])]
    quality = {}
    for name in names:
        entry = {}
        for metric, k in (("rmse", 0), ("ndcg", 10), ("precision", 10), ("recall", 10), ("map", 10),
                          ("coverage", 10)):
            rows = summary[(summary.model == name) & (summary.metric == metric) & (summary.k == k)]
            if not rows.empty:
                entry[metric] = {"mean": float(rows["mean"].iloc[0]), "std": float(rows["std"].iloc[0])}
        entry["per_fold"] = {
            metric: per_fold[(per_fold.model == name) & (per_fold.metric == metric)]["value"].round(4).tolist()
            for metric in ("ndcg", "rmse")}
        quality[name] = entry
    checks = {f"{m} {metric} {ref} ±0.005": {"measured": quality[m][metric]["mean"],
                                              "ok": abs(quality[m][metric]["mean"] - ref) <= 0.005}
              for (m, metric), ref in REFERENCE.items() if m in quality}
    print(json.dumps({"quality": quality, "checks": checks}, indent=1), flush=True)
    speed_models = [n for n in SURPRISE_MODELS if n not in ("normal",)][:1 if args.smoke else None]
    speeds = speed(dataset, splits[0], speed_models, args.speed_sample)
    if args.smoke:
        return
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "tfrec", "compare", "--data", "ml-100k",
                                "--data-dir", args.data_dir, "--quiet", "--no-out"], capture_output=True, text=True)
    compare_seconds = time.perf_counter() - start
    results = {**stamp(), "benchmark": "compare",
        "protocol": "ml-100k u1-u5, relevance = all test items, k = 10, train items excluded",
        "harness_seconds": harness_seconds, "quality": quality, "reference_checks": checks,
        "speed": speeds, "min_speedup": min(v["speedup"] for v in speeds.values()),
        "tfrec_compare_ml100k_seconds": compare_seconds, "tfrec_compare_rc": completed.returncode,
        "tfrec_compare_table": completed.stdout,
        "two_tower_ndcg10_target_0.45": quality.get("two-tower", {}).get("ndcg", {}).get("mean"),
        "two_tower_rmse_target_0.92": quality.get("two-tower", {}).get("rmse", {}).get("mean"),
    }
    print(json.dumps({k: v for k, v in results.items() if k not in ("quality", "speed")}, indent=1))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
