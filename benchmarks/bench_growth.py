"""Growth benchmarks: how tfrec's costs grow with the data. JSON results plus a PNG per curve.

    # streamed training time and peak RSS vs interactions (one epoch, fixed 200k users x 50k items)
    python benchmarks/bench_growth.py training --sizes 100000,1000000,10000000 --optimizer adam
    python benchmarks/bench_growth.py training --sizes 100000,1000000,10000000 --optimizer lazy_adam
    # input pipelines at equal batch size: from_tensor_slices vs tfrec in-memory vs streaming; XLA
    python benchmarks/bench_growth.py pipeline --rows 1000000 --optimizer lazy_adam --repeats 3
    # the comparison harness's time vs users x items
    python benchmarks/bench_growth.py harness --sizes 1000x500,4000x2000,16000x8000
    # all three at toy sizes, nothing written (CI)
    python benchmarks/bench_growth.py --smoke

Each writes ``benchmarks/results/growth_<name>.json`` (stamped) and ``growth_<name>.png`` beside it
(``--out``/``--plot`` change that). Training runs in a fresh process per size so that its peak
RSS (``ru_maxrss``) is that run's alone; it includes TensorFlow itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
from figures import draw  # noqa: E402
from stamp import stamp  # noqa: E402

USERS, ITEMS = 200_000, 50_000


def _write(results: dict, out: Path | None, name: str) -> dict:
    """Prints the stamped results and writes them (``out`` ``None``: a smoke run, nothing
    written); returns them."""
    results = {**stamp(), "benchmark": f"growth_{name}", **results}
    print(json.dumps(results, indent=2))
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n")
    return results


# ----------------------------------------------------------------------------- training
def train_one(args: argparse.Namespace) -> None:
    """One streamed epoch in this process; prints a JSON line with times and peak RSS."""
    import tfrec  # noqa: F401
    from tfrec.data.files import FileSource
    from tfrec.data.sources import FileBatchSource
    from tfrec.data.tabular import load_feature_tables, load_schema
    from tfrec.model.config import ModelConfig
    from tfrec.model.training.fit import train

    start = time.perf_counter()
    schema = load_schema("synthetic")
    data = Path(args.data)
    dataset = load_feature_tables(schema, users=data / "users.parquet", items=data / "items.parquet")
    source = FileSource.from_pattern(str(data / "ratings*"), schema)
    config = ModelConfig.feature_towers(epochs=1, batch_size=args.batch_size, optimizer=args.optimizer)
    result = train(config, FileBatchSource(dataset, source))
    scan = result.scan
    total = time.perf_counter() - start
    print("RESULT" + json.dumps({
        "rows": scan.rows, "files": len(source.files), "total_s": total, "fit_s": result.seconds,
        "prepare_s": total - result.seconds, "examples_per_s": result.examples_per_second,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


def training(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="tfrec-growth-"))
    runs = []
    try:
        for rows in [int(x) for x in args.sizes.split(",")]:
            data = work / f"data-{rows}"
            shards = max(1, rows // 1_000_000)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tfrec", "data", "generate", "--rows", str(rows),
                            "--users", str(USERS), "--items", str(ITEMS), "--shards", str(shards),
                            "--out", str(data)], check=True, stdout=subprocess.DEVNULL)
            generate_s = time.perf_counter() - start
            process = subprocess.run([sys.executable, str(Path(__file__).resolve()), "_train-one", "--data", str(data),
                                      "--batch-size", str(args.batch_size), "--optimizer", args.optimizer],
                                     capture_output=True, text=True, check=False)
            if process.returncode:
                sys.exit(process.stderr[-3000:])
            line = next(x for x in process.stdout.splitlines() if x.startswith("RESULT"))
            run = {"interactions": rows, "generate_s": generate_s, **json.loads(line[6:])}
            print(json.dumps(run), flush=True)
            runs.append(run)
            shutil.rmtree(data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = runs[0]
    for run in runs:  # linear time <=> constant seconds per row; flat RSS <=> ratio ~1
        run["fit_s_per_million_rows"] = run["fit_s"] / run["rows"] * 1e6
        run["rss_vs_smallest"] = run["peak_rss_gb"] / first["peak_rss_gb"]
    results = {"users": USERS, "items": ITEMS, "batch_size": args.batch_size, "epochs": 1,
               "optimizer": args.optimizer, "runs": runs}
    name = f"training_{args.optimizer}"
    results = _write(results, _out(args, name), name)
    if args.smoke:
        return
    draw(f"growth_{name}", results, args.plot)


# ----------------------------------------------------------------------------- pipeline
def pipeline(args: argparse.Namespace) -> None:
    import tensorflow as tf

    import tfrec  # noqa: F401
    from tfrec.data import load_synthetic
    from tfrec.data.columns import feature_columns
    from tfrec.data.files import FileSource
    from tfrec.data.join import FeatureJoin
    from tfrec.data.pipeline import frame_batches as to_tf_dataset
    from tfrec.data.pipeline import stream_batches as stream_dataset
    from tfrec.data.shards import write_shards
    from tfrec.data.sources import FrameSource
    from tfrec.data.tabular import load_feature_tables
    from tfrec.model.config import ModelConfig
    from tfrec.model.features.stats import TrainingStats
    from tfrec.model.training.build import build_model as build_from_stats
    from tfrec.model.training.fit import seed_everything
    from tfrec.model.training.optimizers import make_optimizer

    def build_model(config, dataset, frame):
        source = FrameSource(dataset, frame)
        stats = TrainingStats(dataset.schema, config.selected_features(dataset.schema, "context"))
        scan = source.scan(stats)
        return build_from_stats(config, dataset, stats, source.sample(scan.sample))

    dataset = load_synthetic(USERS // 4, ITEMS // 4, args.rows, seed=3)
    frame = dataset.interactions
    work = Path(tempfile.mkdtemp(prefix="tfrec-pipeline-"))
    batch = args.batch_size
    try:
        dataset.users.to_parquet(work / "users.parquet", index=False)
        dataset.items.to_parquet(work / "items.parquet", index=False)
        write_shards(frame, work, shards=8)
        tables = load_feature_tables(dataset.schema, users=work / "users.parquet",
                                     items=work / "items.parquet")
        source = FileSource.from_pattern(str(work / "ratings-*"), dataset.schema)

        def tensor_slices():  # the TFRS tutorials' pipeline: every joined column in memory
            columns = feature_columns(dataset, frame)
            return tf.data.Dataset.from_tensor_slices(columns).shuffle(
                len(frame), seed=1).batch(batch).prefetch(tf.data.AUTOTUNE)

        pipelines = {
            "from_tensor_slices": tensor_slices,
            "tfrec in-memory (index gather)": lambda: to_tf_dataset(dataset, frame, batch_size=batch, seed=1),
            "tfrec streaming (8 Parquet shards)": lambda: stream_dataset(
                source, dataset.schema, FeatureJoin.from_dataset(tables), batch_size=batch, seed=1),
        }
        results = {"rows": args.rows, "batch_size": batch, "optimizer": args.optimizer,
                   "repeats": args.repeats, "input_only_examples_per_s": {}, "training_examples_per_s": {}}
        for name, make in pipelines.items():
            data = make()
            start = time.perf_counter()
            n = sum(int(tf.shape(b["user_id"])[0]) for b in data)
            results["input_only_examples_per_s"][name] = n / (time.perf_counter() - start)
            print(name, "input only", results["input_only_examples_per_s"][name], flush=True)
        runs = [(name, False) for name in pipelines] + [("tfrec in-memory (index gather)", True),
                                                        ("tfrec streaming (8 Parquet shards)", True)]
        speeds: dict[str, list[float]] = {}
        for _ in range(args.repeats):  # interleaved repeats: drifts of the machine hit all alike
            for name, xla in runs:
                seed_everything(1)
                config = ModelConfig.feature_towers(epochs=1, batch_size=batch, jit_compile=xla,
                                     optimizer=args.optimizer)
                model = build_model(config, dataset, frame)
                model.compile(optimizer=make_optimizer(config))
                data = pipelines[name]()
                model.fit(data.take(20), verbose=0)  # trace / compile outside the timing
                start = time.perf_counter()
                model.fit(data, verbose=0)
                label = f"{name}{' + XLA' if xla else ''}"
                speeds.setdefault(label, []).append(args.rows / (time.perf_counter() - start))
                print(label, "training", speeds[label][-1], flush=True)
        results["training_examples_per_s"] = {k: float(np.median(v)) for k, v in speeds.items()}
        results["training_examples_per_s_runs"] = speeds
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = _write(results, _out(args, "pipeline"), "pipeline")
    if args.smoke:
        return
    draw("growth_pipeline", results, args.plot)


# ----------------------------------------------------------------------------- harness
def harness(args: argparse.Namespace) -> None:
    import tfrec  # noqa: F401
    from tfrec.data import load_synthetic
    from tfrec.evaluation.harness import evaluate
    from tfrec.evaluation.splits import make_splits
    from tfrec.model.config import ModelConfig
    from tfrec.recommenders import make_model

    models = args.models.split(",")
    config = ModelConfig.feature_towers(epochs=3)
    runs = []
    for size in args.sizes.split(","):
        n_users, n_items = (int(x) for x in size.split("x"))
        dataset = load_synthetic(n_users, n_items, n_users * args.per_user, seed=7)
        splits = make_splits(dataset, "random", seed=7)
        start = time.perf_counter()
        factories = {m: (lambda m=m: make_model(m, seed=7, config=config)) for m in models}
        summary = evaluate(factories, splits, ks=(10,)).summary()
        total = time.perf_counter() - start
        run = {"users": n_users, "items": n_items, "interactions": len(dataset.interactions),
               "user_x_item_cells": n_users * n_items, "total_s": total}
        for row in summary[summary.metric.isin(["fit_seconds", "predict_seconds", "ndcg"])].itertuples():
            run[f"{row.model}/{row.metric}"] = float(row.mean)
        print(json.dumps(run), flush=True)
        runs.append(run)
    results = {"models": models, "per_user": args.per_user, "runs": runs}
    results = _write(results, _out(args, "harness"), "harness")
    if args.smoke:
        return
    draw("growth_harness", results, args.plot)


def _out(args: argparse.Namespace, name: str) -> Path | None:
    return None if args.smoke else Path(args.out or RESULTS / f"growth_{name}.json")


def smoke() -> None:
    """Every curve at toy sizes in this process (the training one in a child, as always)."""
    base = {"smoke": True, "out": None, "plot": None, "batch_size": 256}
    harness(argparse.Namespace(**base, sizes="200x100", models="popularity,svd", per_user=10))
    pipeline(argparse.Namespace(**base, rows=5000, optimizer="lazy_adam", repeats=1))
    training(argparse.Namespace(**base, sizes="5000", optimizer="adam"))


def main() -> None:
    if "--smoke" in sys.argv[1:]:
        return smoke()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("training")
    p.add_argument("--sizes", default="100000,1000000,10000000")
    p.add_argument("--batch-size", type=int, default=1024)
    p.set_defaults(func=training)
    p.add_argument("--optimizer", default="adam")
    p = commands.add_parser("_train-one")
    p.add_argument("--data", required=True)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--optimizer", default="adam")
    p.set_defaults(func=train_one)
    p = commands.add_parser("pipeline")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--optimizer", default="lazy_adam")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(func=pipeline)
    p = commands.add_parser("harness")
    p.add_argument("--sizes", default="1000x500,4000x2000,16000x8000")
    p.add_argument("--models", default="popularity,svd,item-knn,two-tower")
    p.add_argument("--per-user", type=int, default=20)
    p.set_defaults(func=harness)
    for sub in commands.choices.values():
        sub.add_argument("--out", default=None)
        sub.add_argument("--plot", default=None)
        sub.set_defaults(smoke=False)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.func(args)


if __name__ == "__main__":
    main()
