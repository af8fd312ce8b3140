"""Benchmark of the two-tower model on MovieLens 100k (issue "two-tower" targets).

Measures, on TFRS's tutorial protocol (random 80/20, seed 42) and on the official folds u1-u5:
retrieval top-100 categorical accuracy (whole catalog, like TFRS's FactorizedTopK), rating RMSE,
for the retrieval-only, rating-only and joint models; training throughput against the TFRS
basic-retrieval tutorial pipeline run in the same process; achieved vs peak FLOP/s of the
in-batch logits matmul. Writes JSON.

    python benchmarks/bench_two_tower.py --data-dir ../shared/data/ml-100k
    python benchmarks/bench_two_tower.py --smoke     # one epoch, the random split, joint only

Results: ``benchmarks/results/two_tower.json`` (stamped; ``--smoke`` writes nothing).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

# TFRS needs Keras 2; tensorflow_recommenders is imported below, before tfrec would set this.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

import tfrec  # noqa: F401

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import ML100K, stamp  # noqa: E402

from tfrec.data import load_dataset  # noqa: E402
from tfrec.data.sources import FrameSource  # noqa: E402
from tfrec.evaluation.splits import make_splits  # noqa: E402
from tfrec.model.config import ModelConfig  # noqa: E402
from tfrec.model.training.evaluate import evaluate  # noqa: E402
from tfrec.model.training.fit import seed_everything, train  # noqa: E402

# The feature-driven towers (the default before the history model; bench_history.py measures
# the history model).
BASE = dict(ModelConfig.feature_towers().to_dict(), optimizer="adam", logq_correction=True, seed=42)
VARIANTS = {
    "retrieval": dict(BASE, rating_weight=0.0),
    "rating": dict(BASE, retrieval_weight=0.0, l2=1e-4),
    # TFRS sums the retrieval loss over the batch while the rating loss is a batch mean:
    # 0.001 puts them on a comparable scale at batch 1024 (see docs/training.md).
    "joint": dict(BASE, retrieval_weight=0.001, rating_weight=1.0),
}
TOP100 = "factorized_top_k/top_100_categorical_accuracy"


def tutorial_throughput(train, epochs: int = 3) -> float:
    """TFRS basic-retrieval tutorial: ids only, dim 32, Adagrad 0.1, batch 8192, metrics in training."""
    seed_everything(42)
    users = train.user_id.astype(str).to_numpy()
    items = train.item_id.astype(str).to_numpy()
    user_vocab, item_vocab = np.unique(users), np.unique(items)
    user_model = tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=user_vocab, mask_token=None),
                                      tf.keras.layers.Embedding(len(user_vocab) + 1, 32)])
    item_model = tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=item_vocab, mask_token=None),
                                      tf.keras.layers.Embedding(len(item_vocab) + 1, 32)])
    candidates = tf.data.Dataset.from_tensor_slices(item_vocab).batch(128).map(item_model)
    task = tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(candidates=candidates))

    class Tutorial(tfrs.Model):
        def __init__(self):
            super().__init__()
            self.user_model, self.item_model, self.task = user_model, item_model, task

        def compute_loss(self, features, training=False):
            return self.task(self.user_model(features["user_id"]), self.item_model(features["item_id"]))

    model = Tutorial()
    model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
    data = (tf.data.Dataset.from_tensor_slices({"user_id": users, "item_id": items})
            .shuffle(len(users), seed=42).batch(8192).cache())
    times = []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(data, epochs=epochs, verbose=0, callbacks=[Timer()])
    return len(users) / float(np.median(times[1:]))


def matmul_flops(batch: int, dim: int, repeats: int = 20) -> float:
    """FLOP/s of a [batch, dim] x [dim, batch] matmul (the in-batch logits) on this machine."""
    a = tf.random.normal([batch, dim])
    b = tf.random.normal([batch, dim])
    fn = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y, transpose_b=True)))
    fn(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(a, b).numpy()
    return 2.0 * batch * batch * dim * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=ML100K, help=f"MovieLens 100k (default {ML100K})")
    parser.add_argument("--folds", default="u1,u2,u3,u4,u5")
    parser.add_argument("--variants", default="retrieval,rating,joint")
    parser.add_argument("--epochs", type=int, default=None, help="override epochs (quick runs)")
    parser.add_argument("--smoke", action="store_true", help="one epoch, the random split, joint only")
    parser.add_argument("--out", default=str(HERE / "results" / "two_tower.json"), help="result JSON")
    args = parser.parse_args()
    if args.smoke:
        args.folds, args.variants, args.epochs = "", "joint", 1
    logging.basicConfig(level=logging.WARNING)
    dataset = load_dataset("ml-100k", data_dir=args.data_dir)
    splits = make_splits(dataset, "random", test_ratio=0.2, seed=42)
    if args.folds:
        splits += make_splits(dataset, "predefined", folds=args.folds.split(","))
    results: dict = {**stamp(), "benchmark": "two_tower", "runs": []}
    for variant in args.variants.split(","):
        options = dict(VARIANTS[variant])
        if args.epochs:
            options["epochs"] = args.epochs
        config = ModelConfig(**options)
        for split in splits:
            trained = train(config, FrameSource(dataset, split.train, split.name))
            metrics = evaluate(trained.model, FrameSource(dataset, split.test))
            run = {"variant": variant, "split": split.name, "config": config.to_dict(),
                   "top100": metrics.get(TOP100) if config.retrieval_weight > 0 else None,
                   "rmse": metrics.get("rmse") if config.rating_weight > 0 else None,
                   "train_seconds": trained.seconds,
                   "steady_examples_per_second": trained.steady_examples_per_second}
            results["runs"].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "config"}), flush=True)
    summary = {}
    for variant in args.variants.split(","):
        for protocol, names in (("random80/20", ["random"]), ("u1-u5", [f for f in args.folds.split(",") if f])):
            rows = [r for r in results["runs"] if r["variant"] == variant and r["split"] in names]
            entry = {}
            for metric in ("top100", "rmse", "steady_examples_per_second"):
                values = [r[metric] for r in rows if r[metric] is not None]
                if values:
                    entry[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
            summary[f"{variant}/{protocol}"] = entry
    results["summary"] = summary
    tutorial = tutorial_throughput(splits[0].train, epochs=2 if args.smoke else 3)
    ours = summary.get("joint/random80/20", summary[next(iter(summary))])["steady_examples_per_second"]["mean"]
    batch, dim = BASE["batch_size"], BASE["embedding_dim"]
    peak = matmul_flops(2048, 2048)  # a square matmul: the machine's practical peak
    logits_flops = 6.0 * batch * dim * ours  # forward + 2 backward matmuls per example
    results["throughput"] = {
        "tutorial_examples_per_second": tutorial,
        "tfrec_joint_examples_per_second": ours,
        "speedup": ours / tutorial,
        "logits_matmul_achieved_flops": logits_flops,
        "logits_shape_matmul_flops": matmul_flops(batch, dim),
        "peak_square_matmul_flops": peak,
        "achieved_fraction_of_peak": logits_flops / peak,
    }
    results["targets"] = _targets(summary)
    print(json.dumps({"summary": summary, "throughput": results["throughput"],
                      "targets": results["targets"]}, indent=2))
    if not args.smoke:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")


def _targets(summary: dict) -> dict:
    def get(key, metric):
        return summary.get(key, {}).get(metric, {}).get("mean")

    out = {}
    for protocol in ("random80/20", "u1-u5"):
        top = get(f"retrieval/{protocol}", "top100")
        joint_top = get(f"joint/{protocol}", "top100")
        out[f"top100>=0.32 ({protocol})"] = top
        out[f"joint top100 within 2% ({protocol})"] = None if None in (top, joint_top) else joint_top >= 0.98 * top
        rmse = get(f"rating/{protocol}", "rmse")
        joint_rmse = get(f"joint/{protocol}", "rmse")
        out[f"joint rmse within 2% ({protocol})"] = None if None in (rmse, joint_rmse) else joint_rmse <= 1.02 * rmse
    out["rmse<=0.92 (u1-u5)"] = get("rating/u1-u5", "rmse")
    return out


if __name__ == "__main__":
    main()
