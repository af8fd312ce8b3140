"""Serving benchmark: exported SavedModel latency/throughput, BruteForce vs ScaNN, cold start.

For each catalog size (default 100k and 1M synthetic items) a small two-tower model is trained
on synthetic interactions (so item embeddings are trained and clustered by item features, not
i.i.d. Gaussian) and exported twice (brute-force, ScaNN). Measured through the reloaded
SavedModel: single-query latency p50/p99, batched throughput, ScaNN recall@10 against exact
search, SavedModel size and load time, plus a plain NumPy matmul + argpartition over the same
embeddings (the memory-bandwidth bound). Cold start: the harness's cold-start split of ml-100k
(whole users held out) -- two-tower with and without the id embedding vs popularity and SVD.

    python benchmarks/bench_serving.py --data-dir ../shared/data/ml-100k --sizes 10000,100000,1000000
    python benchmarks/bench_serving.py --smoke     # a 2,000-item catalog, no cold start, nothing written

Results: ``benchmarks/results/serving.json`` and ``serving_latency.png`` (stamped).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import tfrec  # noqa: F401

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from figures import draw  # noqa: E402
from stamp import ML100K, stamp  # noqa: E402

from tfrec.data import load_dataset, load_synthetic  # noqa: E402
from tfrec.data.sources import FrameSource  # noqa: E402
from tfrec.evaluation.harness import evaluate  # noqa: E402
from tfrec.evaluation.splits import make_splits  # noqa: E402
from tfrec.model.config import ModelConfig  # noqa: E402
from tfrec.model.training.fit import train  # noqa: E402
from tfrec.model.training.run_folder import save_run  # noqa: E402
from tfrec.recommenders import make_model  # noqa: E402
from tfrec.serving import ExportedModel, export_model  # noqa: E402

CONFIG = ModelConfig.feature_towers(embedding_dim=32, tower_layers=(64,), id_embedding_dim=16, epochs=2,
                     batch_size=2048, rating_weight=0.0, retrieval_weight=1.0)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def latency(signature, features: dict, queries: int) -> dict:
    times = []
    n = len(next(iter(features.values())))
    for q in range(queries):
        row = {k: tf.constant(v[q % n: q % n + 1]) for k, v in features.items()}
        start = time.perf_counter()
        signature(**row)["item_ids"].numpy()
        times.append(time.perf_counter() - start)
    times = np.array(times[5:]) * 1000
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def throughput(signature, features: dict, batch: int, repeats: int = 5) -> float:
    rows = {k: tf.constant(np.resize(v, batch)) for k, v in features.items()}
    signature(**rows)
    start = time.perf_counter()
    for _ in range(repeats):
        signature(**rows)["item_ids"].numpy()
    return batch * repeats / (time.perf_counter() - start)


def numpy_bound(queries: np.ndarray, items: np.ndarray, k: int = 10) -> dict:
    single = []
    for q in queries[:200]:
        start = time.perf_counter()
        scores = items @ q
        top = np.argpartition(-scores, k)[:k]
        top[np.argsort(-scores[top])]
        single.append(time.perf_counter() - start)
    start = time.perf_counter()
    scores = queries[:256] @ items.T
    np.argpartition(-scores, k, axis=1)[:, :k]
    batched = 256 / (time.perf_counter() - start)
    single = np.array(single[5:]) * 1000
    return {"p50_ms": float(np.percentile(single, 50)), "p99_ms": float(np.percentile(single, 99)),
            "batched_queries_per_s": float(batched)}


def catalog_run(n_items: int, work: Path, queries: int) -> dict:
    dataset = load_synthetic(n_users=20_000, n_items=n_items, n_ratings=200_000, seed=1)
    (split,) = make_splits(dataset, "random", seed=1)
    trained = train(CONFIG, FrameSource(split.dataset, split.train, split.name))
    run_dir = save_run(trained, split.dataset, work / f"run-{n_items}", split_summary=split.summary())
    served = {}
    users = dataset.users.iloc[:500]
    features = {"user_id": users.user_id.to_numpy(), "age": users.age.to_numpy(np.float32),
                **{c: users[c].to_numpy() for c in ("gender", "interactions", "region", "device_type")}}
    out = {"n_items": n_items}
    for index in ("brute-force", "scann"):
        export_dir = export_model(run_dir, work / f"export-{n_items}-{index}", index=index, k=10)
        start = time.perf_counter()
        loaded = ExportedModel(export_dir)
        load_s = time.perf_counter() - start
        signature = loaded.saved.signatures["recommend"]
        result = signature(**{k: tf.constant(v) for k, v in features.items()})
        served[index] = result["item_ids"].numpy()
        out[index] = {"size_mb": _size(export_dir / "savedmodel") / 2**20, "load_s": load_s,
                      **latency(signature, features, queries),
                      "batched_queries_per_s": throughput(signature, features, 256)}
        if index == "brute-force":
            q = loaded.saved.signatures["user_embedding"](**{k: tf.constant(v) for k, v in features.items()})
            queries_np = q["embedding"].numpy()
            catalog = loaded.catalog
            items = {c: catalog[c].to_numpy() for c in ("item_id", "category", "subcategory", "brand")}
            items.update(price=catalog.price.to_numpy(np.float32), discount=catalog.discount.to_numpy(np.float32))
            item_emb = np.concatenate([
                loaded.saved.signatures["item_embedding"](**{k: tf.constant(v[s:s + 65536]) for k, v in items.items()})
                ["embedding"].numpy() for s in range(0, n_items, 65536)])
            out["numpy"] = numpy_bound(queries_np, item_emb)
        print(json.dumps({n_items: {index: out[index]}}), flush=True)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(served["scann"], served["brute-force"], strict=True)])
    out["scann_recall_at_10"] = float(recall)
    out["bruteforce_vs_numpy_p50"] = out["brute-force"]["p50_ms"] / out["numpy"]["p50_ms"]
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    return out


def cold_start(data_dir: str) -> dict:
    dataset = load_dataset("ml-100k", data_dir=data_dir)
    splits = make_splits(dataset, "cold_users", test_ratio=0.2, seed=42)
    features_only = ModelConfig.feature_towers(use_user_id=False)
    models = {"two-tower": lambda: make_model("two-tower"),
              "two-tower-features-only": lambda: make_model("two-tower", config=features_only),
              "popularity": lambda: make_model("popularity"), "svd": lambda: make_model("svd")}
    summary = evaluate(models, splits, ks=(10,)).summary()
    rows = summary[summary.metric.isin(["ndcg", "recall", "rmse", "unknown_users"])]
    return {f"{r.model}/{r.metric}" + (f"@{r.k}" if r.k else ""): float(r.mean) for r in rows.itertuples()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=ML100K, help=f"MovieLens 100k (default {ML100K})")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="a 2,000-item catalog, no cold start (CI)")
    parser.add_argument("--out", default=str(HERE / "results" / "serving.json"), help="result JSON")
    parser.add_argument("--plot", default=str(HERE / "results" / "serving_latency.png"),
                        help="PNG of latency vs catalog size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.smoke:
        args.sizes, args.queries = "2000", 20
    results = {**stamp(), "benchmark": "serving",
               "cold_start_ml100k": None if args.smoke else cold_start(args.data_dir)}
    print(json.dumps(results, indent=1), flush=True)
    work = Path(tempfile.mkdtemp(prefix="tfrec-bench-"))
    try:
        results["catalogs"] = [catalog_run(int(n), work, args.queries) for n in args.sizes.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if not args.smoke:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        draw("serving_latency", results, args.plot)
        print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
