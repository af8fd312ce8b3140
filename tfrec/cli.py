"""The ``tfrec`` command line. Only this module prints; the library logs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tfrec import __version__
from tfrec.errors import TfrecError


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="synthetic",
                        help="synthetic (default), ml-100k, ml-1m, ml-latest-small, ml-latest, "
                             "csv:PATH, parquet:PATH or a .csv/.parquet path")
    parser.add_argument("--data-dir", default=None,
                        help="MovieLens folder or its parent (default: $TFREC_DATA_DIR)")
    parser.add_argument("--schema", default=None, help="schema .json/.toml for generic files")
    parser.add_argument("--users", default=None, help="user feature table for generic files")
    parser.add_argument("--items", default=None, help="item feature table for generic files")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--signal", type=float, default=1.0,
                        help="synthetic data: planted signal strength; 0 = the seed's pure noise")
    parser.add_argument("--duplicates", choices=("last", "mean", "error"), default="last",
                        help="policy for repeated (user, item) rows (default: keep the last)")
    parser.add_argument("--invalid", choices=("error", "drop"), default="error",
                        help="policy for rows with empty ids or bad ratings (default: error)")


def _load(args: argparse.Namespace):
    from tfrec.data import load_dataset
    from tfrec.data.tabular import load_schema

    schema = load_schema(args.schema) if args.schema else None
    return load_dataset(args.data, data_dir=args.data_dir, schema=schema, users=args.users,
                        items=args.items, seed=args.seed,
                        signal=args.signal, duplicates=args.duplicates, invalid=args.invalid)


def _cmd_data_describe(args: argparse.Namespace) -> int:
    from tfrec.splits import make_splits

    dataset = _load(args)
    summary = dataset.describe()
    summary["schema"] = dataset.schema.to_dict()
    if args.split:
        summary["splits"] = [s.summary() for s in make_splits(dataset, args.split, seed=args.seed)]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"data set        {summary['name']}")
    print(f"interactions    {summary['interactions']:,}")
    print(f"users / items   {summary['users']:,} / {summary['items']:,} "
          f"(catalog {summary['catalog_items']:,}), density {summary['density']:.4f}")
    for side in ("per_user", "per_item"):
        q = summary[side]
        print(f"{side.replace('_', ' '):15} min {q['min']}, median {q['median']:g}, "
              f"mean {q['mean']:.1f}, max {q['max']}")
    if "rating" in summary:
        r = summary["rating"]
        hist = ", ".join(f"{k}: {v}" for k, v in r["histogram"].items())
        print(f"ratings         mean {r['mean']:.3f}, std {r['std']:.3f}; {hist}")
    for side, names in summary["features"].items():
        if names:
            print(f"{side} features".ljust(16) + ", ".join(names))
    if summary["folds"]:
        print(f"folds           {', '.join(summary['folds'])}")
    cleaning = summary["cleaning"]
    print(f"cleaning        read {cleaning['rows_in']:,}, kept {cleaning['rows_out']:,}, "
          f"merged duplicates {cleaning['merged_duplicates']:,}, dropped {cleaning['dropped'] or 0}")
    for split in summary.get("splits", []):
        print(f"split {split['name']:10}train {split['train']:,}, test {split['test']:,}, "
              f"unseen test users {split['unseen_test_users']}, items {split['unseen_test_items']}")
    return 0


def _cmd_data_generate(args: argparse.Namespace) -> int:
    from tfrec.data.stream import write_shards
    from tfrec.data.synthetic import generate
    from tfrec.schema import builtin_schema

    users, items, ratings = generate(args.users, args.items, args.rows, signal=args.signal,
                                     seed=args.seed)
    table_format = "parquet" if args.format == "tfrecord" else args.format
    for name, frame, shards, fmt in (("users", users, 1, table_format), ("items", items, 1, table_format),
                                     ("ratings", ratings, args.shards, args.format)):
        paths = write_shards(frame, args.out, name=name, shards=shards, format=fmt,
                             schema=builtin_schema("synthetic"))
        where = paths[0] if len(paths) == 1 else f"{len(paths)} shards {paths[0].parent}/{name}-*"
        print(f"wrote {where} ({len(frame):,} rows)")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from tfrec.data.movielens import download

    target = download(args.name, args.dest, sha256=args.sha256, url=args.url)
    print(f"downloaded {args.name} to {target}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from tfrec.distribute import is_chief, make_strategy

    # The strategy comes first: TensorFlow must not have initialized its devices yet.
    strategy = make_strategy(args.strategy, logical_cpus=args.logical_cpus)
    from tfrec.atomic import atomic_directory
    from tfrec.model.config import ModelConfig
    from tfrec.model.train import (
        evaluate_files,
        evaluate_model,
        save_run,
        train_files,
        train_model,
    )
    from tfrec.splits import make_splits

    config = ModelConfig.from_toml(args.config) if args.config else ModelConfig()
    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    if args.batch_size is not None:
        config = config.replace(batch_size=args.batch_size)
    chief = is_chief(strategy)
    out = Path(args.out)
    # The backup lives beside the output (not in the staging folder) so that a killed run can
    # be resumed with --resume; without --resume a stale backup is discarded.
    backup = out.parent / f".{out.name}.backup"
    if backup.exists() and not args.resume and chief:
        shutil.rmtree(backup)
    elif args.resume and not backup.exists():
        print(f"tfrec: no backup at {backup}; training from the start", file=sys.stderr)
    verbose = 1 if sys.stdout.isatty() else 2
    if args.train_files:
        from tfrec.data.stream import FileSource
        from tfrec.data.tabular import load_feature_tables, load_schema

        if not args.schema:
            raise TfrecError("--train-files needs --schema: a .json/.toml schema file or a built-in "
                             "name such as synthetic")
        schema = load_schema(args.schema)
        dataset = load_feature_tables(schema, users=args.users, items=args.items, name=args.train_files)
        context = config.selected_features(schema, "context")
        source = FileSource.from_pattern(args.train_files, schema, context)
        eval_source = FileSource.from_pattern(args.eval_files, schema, context) if args.eval_files else None

        def train(checkpoints):
            result, scan = train_files(config, source, dataset, strategy=strategy, invalid=args.invalid,
                                       shuffle_buffer=args.shuffle_buffer, checkpoint_dir=checkpoints,
                                       tensorboard_dir=args.tensorboard, backup_dir=backup,
                                       verbose=verbose)
            metrics = evaluate_files(result.model, dataset, eval_source) if eval_source else {}
            summary = {"files": list(source.files), "rows": scan.rows,
                       "dropped": scan.report.to_dict()}
            return result, metrics, summary, scan.rows
    else:
        dataset = _load(args)
        split = make_splits(dataset, args.split, seed=args.seed, folds=args.fold and [args.fold])[0]

        def train(checkpoints):
            result = train_model(config, split, strategy=strategy, checkpoint_dir=checkpoints,
                                 tensorboard_dir=args.tensorboard, backup_dir=backup, verbose=verbose)
            return result, evaluate_model(result.model, dataset, split.test), split.summary(), len(split.train)

    if not chief:  # other workers train in step with the chief; only the chief writes --out
        with tempfile.TemporaryDirectory() as scratch:
            train(Path(scratch) / "checkpoints")
        print(f"worker done (the chief writes {out})")
        return 0
    with atomic_directory(out, overwrite=args.overwrite) as staging:
        result, test_metrics, summary, rows = train(staging / "checkpoints")
        save_run(result, dataset, staging, split_summary=summary, test_metrics=test_metrics)
    shutil.rmtree(backup, ignore_errors=True)  # the run is complete: nothing left to resume
    print(f"trained on {rows:,} rows in {result.seconds:.1f}s "
          f"({result.examples_per_second:,.0f} examples/s, {strategy.num_replicas_in_sync} "
          f"replica(s)); wrote {out}")
    for name, value in sorted(test_metrics.items()):
        if "regularization" not in name:
            print(f"  test {name:45} {value:.4f}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tfrec.atomic import atomic_file, write_atomic
    from tfrec.evaluation import evaluate
    from tfrec.model.config import ModelConfig
    from tfrec.plots import plot_comparison
    from tfrec.recommenders import make_model
    from tfrec.report import comparison_table, to_markdown, to_text
    from tfrec.splits import make_splits

    ks = sorted({int(k) for k in str(args.k).split(",")})
    if min(ks) < 1:
        raise TfrecError(f"--k must list positive integers, got {args.k!r}")
    config = ModelConfig.from_toml(args.config) if args.config else None
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:  # unknown names fail before any data is loaded or model trained
        make_model(name, seed=args.seed, config=config)
    dataset = _load(args)
    folds = args.folds.split(",") if args.folds else None
    splits = make_splits(dataset, args.split, seed=args.seed, folds=folds, test_ratio=args.test_ratio)
    factories = {name: (lambda name=name: make_model(name, seed=args.seed, config=config)) for name in names}
    with tqdm(total=len(names) * len(splits), desc="compare", unit="fit", disable=args.quiet,
              file=sys.stderr) as bar:
        result = evaluate(factories, splits, ks=ks, relevance_threshold=args.relevance_threshold,
                          progress=lambda model, fold: (bar.set_postfix_str(f"{model} on {fold}"), bar.update()))
    summary = result.summary()
    table = comparison_table(summary, ks[0])
    print(f"{dataset.name}, split {args.split} ({', '.join(s.name for s in splits)}), "
          f"relevance: {'all test items' if args.relevance_threshold is None else f'rating >= {args.relevance_threshold:g}'}")
    print(to_text(table))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        payload = {
            "data": dataset.name, "split": args.split, "folds": [s.summary() for s in splits],
            "models": names, "ks": ks, "relevance_threshold": args.relevance_threshold,
            "seed": args.seed, **result.to_dict(),
        }
        write_atomic(out / "results.json", json.dumps(payload, indent=2))
        markdown = (f"# tfrec compare: {dataset.name}\n\nSplit `{args.split}` "
                    f"({', '.join(s.name for s in splits)}); mean ± std over folds.\n\n"
                    + "\n\n".join(f"## k = {k}\n\n" + to_markdown(comparison_table(summary, k)) for k in ks)
                    + "\n")
        write_atomic(out / "report.md", markdown)
        with atomic_file(out / "metrics.png") as tmp:
            plot_comparison(summary, [("rmse", 0), ("ndcg", ks[0]), ("recall", ks[0]), ("coverage", ks[0])], tmp)
        print(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'metrics.png'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from tfrec.serving import export_model

    out = export_model(args.model, args.out, index=args.index, k=args.k,
                       max_exclude=args.max_exclude, overwrite=args.overwrite)
    print(f"exported {args.model} to {out} ({args.index} index, k={args.k})")
    return 0


def _parse_features(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise TfrecError(f"--features takes name=value pairs separated by commas, got {part!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def _cmd_recommend(args: argparse.Namespace) -> int:
    from tfrec.serving import ExportedModel

    served = ExportedModel(args.model)
    overrides = _parse_features(args.features)
    features = served.user_features(args.user, overrides)
    exclude = [v.strip() for v in args.exclude.split(",")] if args.exclude else None
    ids, scores = served.recommend(features, k=args.k, exclude=exclude)
    item_column = served.info["item_id"]
    catalog = served.catalog.copy()
    catalog["_key"] = catalog[item_column].astype(str)
    details = catalog.set_index("_key")
    rows = []
    for item, score in zip(ids[0], scores[0]):
        row = {"item_id": item.item() if hasattr(item, "item") else item, "score": float(score)}
        extra = details.loc[str(item)] if str(item) in details.index else None
        if extra is not None:
            row.update({c: (v.item() if hasattr(v, "item") else v) for c, v in extra.items()
                        if c != item_column})
        rows.append(row)
    if args.json:
        print(json.dumps({"user": args.user, "features": overrides, "k": args.k,
                          "recommendations": rows}, indent=2, default=str))
        return 0
    title = next((c for c in ("title", "name") if c in catalog.columns), None)
    print(f"top {args.k} for user {args.user if args.user is not None else '(features only)'}:")
    for rank, row in enumerate(rows, start=1):
        label = row.get(title, "") if title else ", ".join(f"{c}={row[c]}" for c in list(row)[2:6])
        print(f"{rank:3}. {str(row['item_id']):>8}  {row['score']:8.4f}  {label}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Returns the ``tfrec`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="tfrec",
        description="Two-tower recommenders on TensorFlow Recommenders, compared honestly "
                    "against classic baselines.",
    )
    parser.add_argument("--version", action="version", version=f"tfrec {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    data = commands.add_parser("data", help="load, describe, generate or download data")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION")
    describe = data_commands.add_parser("describe", help="validate a data set and summarize it")
    _add_data_options(describe)
    describe.add_argument("--split", default=None, help="also summarize this split method")
    describe.add_argument("--json", action="store_true", help="print JSON")
    describe.set_defaults(func=_cmd_data_describe)

    gen = data_commands.add_parser("generate", help="write synthetic users/items/ratings files")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--rows", type=int, default=10_000, help="ratings (default 10,000)")
    gen.add_argument("--users", type=int, default=1000, help="users (default 1,000)")
    gen.add_argument("--items", type=int, default=500, help="items (default 500)")
    gen.add_argument("--signal", type=float, default=1.0, help="0 = the seed's pure noise")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--format", choices=("csv", "parquet", "tfrecord"), default="parquet",
                     help="ratings file format (feature tables are Parquet for tfrecord)")
    gen.add_argument("--shards", type=int, default=1,
                     help="split the ratings into this many files ratings-0000i-of-0000N.*")
    gen.set_defaults(func=_cmd_data_generate)

    down = data_commands.add_parser("download", help="fetch a MovieLens variant (explicit opt-in)")
    down.add_argument("name", choices=("ml-100k", "ml-1m", "ml-latest-small", "ml-latest"))
    down.add_argument("--dest", required=True, help="parent folder for the data")
    down.add_argument("--sha256", default=None, help="expected SHA-256 of the zip archive")
    down.add_argument("--url", default=None, help="mirror URL instead of GroupLens")
    down.set_defaults(func=_cmd_data_download)
    from tfrec.recommenders import DEFAULT_MODELS, MODEL_NAMES

    compare = commands.add_parser(
        "compare", help="evaluate models on the same split with the same metrics (the main job)",
        description="Fits every model on the same split(s) and reports RMSE/MAE and top-k ranking "
                    "metrics over the full catalog with training items excluded.")
    _add_data_options(compare)
    compare.add_argument("--models", default=",".join(DEFAULT_MODELS),
                         help=f"comma-separated, from {', '.join(MODEL_NAMES)} "
                              f"(default: {','.join(DEFAULT_MODELS)})")
    compare.add_argument("--split", default="random",
                         help="split method: random (default, 80/20), stratified, temporal, "
                              "leave_last, kfold, predefined (ml-100k u1-u5), cold_users, cold_items")
    compare.add_argument("--folds", default=None, help="predefined folds, e.g. u1,u2,u3,u4,u5")
    compare.add_argument("--test-ratio", type=float, default=0.2, help="test fraction (default 0.2)")
    compare.add_argument("--k", default="10", help="cut-off(s) of ranking metrics, e.g. 10,20")
    compare.add_argument("--relevance-threshold", type=float, default=None,
                         help="relevant = rated at least this (default: every test item)")
    compare.add_argument("--config", default=None, help="two-tower model config TOML")
    compare.add_argument("--out", default=None, help="write results.json, report.md, metrics.png here")
    compare.add_argument("--quiet", action="store_true", help="no progress bar")
    compare.set_defaults(func=_cmd_compare)

    export = commands.add_parser("export", help="export a trained model as a SavedModel with a top-k index")
    export.add_argument("--model", required=True, help="the --out folder of `tfrec train`")
    export.add_argument("--out", required=True, help="export folder")
    export.add_argument("--index", choices=("brute-force", "scann"), default="brute-force")
    export.add_argument("--k", type=int, default=100, help="items per recommend call (default 100)")
    export.add_argument("--max-exclude", type=int, default=100,
                        help="how many item ids one request may exclude (default 100)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    export.set_defaults(func=_cmd_export)

    recommend = commands.add_parser("recommend", help="top-k items from an exported model")
    recommend.add_argument("--model", required=True, help="export folder of `tfrec export`")
    recommend.add_argument("--user", default=None, help="user id (unknown ids are served too)")
    recommend.add_argument("--features", default=None,
                           help="user features, e.g. age=30,gender=F,occupation=writer")
    recommend.add_argument("-k", "--k", type=int, default=10, help="number of items (default 10)")
    recommend.add_argument("--exclude", default=None, help="item ids to leave out, comma-separated")
    recommend.add_argument("--json", action="store_true", help="print JSON")
    recommend.set_defaults(func=_cmd_recommend)

    train = commands.add_parser("train", help="train the two-tower model and save it")
    _add_data_options(train)
    train.add_argument("--config", default=None, help="model config TOML (see ModelConfig)")
    train.add_argument("--out", required=True, help="output folder for the trained model")
    train.add_argument("--split", default="random", help="split method (default: random 80/20)")
    train.add_argument("--fold", default=None, help="predefined fold name, e.g. u1")
    train.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    train.add_argument("--tensorboard", default=None, help="TensorBoard log folder")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    train.add_argument("--resume", action="store_true",
                       help="continue a killed run from its last epoch backup (same --out)")
    train.add_argument("--batch-size", type=int, default=None,
                       help="override the config's global batch size (split across replicas)")
    stream = train.add_argument_group(
        "streaming input", "train from sharded interaction files without loading them whole "
                           "(--schema names the columns; --users/--items are the feature tables)")
    stream.add_argument("--train-files", default=None,
                        help="glob(s), files or folder of .parquet/.csv/.tfrecord shards")
    stream.add_argument("--eval-files", default=None, help="held-out files evaluated after training")
    stream.add_argument("--shuffle-buffer", type=int, default=100_000,
                        help="rows in the shuffle buffer (default 100,000)")
    dist = train.add_argument_group("distribution", "tf.distribute strategies")
    dist.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                      help="default: one device; mirrored: all local GPUs (or --logical-cpus); "
                           "multiworker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG")
    dist.add_argument("--logical-cpus", type=int, default=None,
                      help="split the CPU into this many logical devices (mirrored without GPUs)")
    train.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the process exit code (2 for usage and data errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return func(args)
    except TfrecError as exc:
        print(f"tfrec: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
