"""``tfrec compare``: every model on the same split(s), the same metrics (the main job)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tfrec.cli.bars import Bars
from tfrec.cli.common import DATA_OPTIONS, add_data_options, load
from tfrec.errors import TfrecError

if TYPE_CHECKING:  # TensorFlow is imported only when a command runs
    from tfrec.data import Dataset
    from tfrec.evaluation.compare import Comparison


def parse_ks(text: str) -> list[int]:
    """``--k`` as sorted distinct positive integers.

    Raises:
        TfrecError: An empty part, a non-integer or a value below 1.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p.isdigit() for p in parts) or any(int(p) < 1 for p in parts):
        shown = str(text)[:40]
        raise TfrecError(f"--k takes positive integers separated by commas (e.g. 10 or 5,10,20), got {shown!r}")
    return sorted({int(p) for p in parts})


def check_ranking_options(dataset: Dataset, ks: list[int], threshold: float | None) -> None:
    """Checks ``--k`` against the catalog and ``--relevance-threshold`` against the ratings.

    Raises:
        TfrecError: ``k`` above the catalog size, or a threshold no rating reaches.
    """
    catalog = len(dataset.item_ids)
    if max(ks) > catalog:
        raise TfrecError(f"--k {max(ks)} is larger than the catalog of {dataset.name} ({catalog} items); "
                         f"use at most {catalog}")
    if threshold is None:
        return
    rating = dataset.schema.rating
    if rating is None:
        raise TfrecError("--relevance-threshold needs ratings, and this data set has implicit events only")
    low, high = dataset.interactions[rating].min(), dataset.interactions[rating].max()
    if not low <= threshold <= high:
        raise TfrecError(f"--relevance-threshold {threshold:g} is outside the ratings of {dataset.name} "
                         f"({low:g} to {high:g}): no test item would be relevant")


def cmd_compare(args: argparse.Namespace) -> int:
    """Fits every model on the same split(s) and reports the same metrics for each."""
    from tfrec.atomic import check_target, output_directory
    from tfrec.evaluation.compare import compare
    from tfrec.evaluation.shards import parse_shard
    from tfrec.evaluation.tuning import read_params
    from tfrec.model.config import ModelConfig
    from tfrec.recommenders import default_models, make_model

    ks = parse_ks(args.k)
    if args.sample_users is not None and args.sample_users < 1:
        raise TfrecError(f"--sample-users must be at least 1, got {args.sample_users}")
    shard = parse_shard(args.shard) if args.shard else None
    if args.out and args.no_out:
        raise TfrecError("--out and --no-out contradict each other; give one")
    if not args.out and not args.no_out:
        args.out = str(default_run_folder(args.data, args.split))
    if args.out:  # the output place is checked before any work
        check_target(Path(args.out), overwrite=args.overwrite)
    config = ModelConfig.from_toml(args.config) if args.config else None
    params = read_params(args.params) if args.params else {}
    requested = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    for name in requested or []:  # unknown names and parameters fail before any data is loaded
        make_model(name, seed=args.seed, config=config, params=params.get(name))
    dataset = load(args)
    names = requested or list(default_models(dataset.schema))
    check_ranking_options(dataset, ks, args.relevance_threshold)
    folds = args.folds.split(",") if args.folds else None
    with contextlib.ExitStack() as stack:
        staging = (stack.enter_context(output_directory(args.out, kind="compare", overwrite=args.overwrite))
                   if args.out else None)  # locked for the whole run: a second run fails at once
        with Bars("compare", disable=args.quiet) as bars:
            outcome = compare(dataset, models=names, split=args.split, ks=ks, seed=args.seed, folds=folds,
                              test_ratio=args.test_ratio, relevance_threshold=args.relevance_threshold,
                              config=config, params=params, implicit_as=args.implicit_as,
                              progress=bars, cold_history=args.cold_history, tensorboard_dir=args.tensorboard,
                              sample_users=args.sample_users, shard=shard, tune=args.tune,
                              validation_ratio=args.validation_ratio)
        payload = outcome.payload
        if args.params:
            for entry in payload["run"]["params"].values():
                entry["source"] = entry["source"].replace("tuned", f"tuned ({args.params})")
        payload["data_options"] = {o: getattr(args, o) for o in DATA_OPTIONS}
        print_and_write(outcome, args.metrics, staging)
        if args.tune:
            for model, entry in payload["run"]["params"].items():
                print(f"{model}: {entry['source']}" + (f" {entry['values']}" if entry["values"] else ""))
    if args.out:
        print(f"wrote {args.out}{os.sep}: results.json, report.md, metrics.png")
    return 0


def default_run_folder(data: str, split: str, root: str = "runs") -> Path:
    """``runs/<data>-<split>-<YYYYmmdd-HHMMSS>``: a new folder per run (a suffix when two runs
    start in the same second), as Keras/TensorBoard and RecBole users expect."""
    name = Path(data.split(":", 1)[1]).stem if ":" in data else data
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{name}-{split}").strip("._") or "run"
    base = Path(root) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, number = base, 1
    while path.exists():
        number += 1
        path = base.with_name(f"{base.name}-{number}")
    return path


def print_and_write(outcome: Comparison, metrics: str | None, staging: Path | None) -> None:
    """Prints the tables of a comparison and writes its run folder (``results.json``,
    ``report.md``, ``metrics.png``; a shard's outputs too) into ``staging``."""
    from tfrec.evaluation.report import TERMINAL_METRICS, comparison_table, report_markdown, sampled_note, to_text
    from tfrec.evaluation.shards import write_ranked

    payload, result, splits, ks = outcome.payload, outcome.result, outcome.splits, outcome.ks
    name = outcome.dataset.name
    columns = tuple(m.strip() for m in metrics.split(",")) if metrics else TERMINAL_METRICS

    summary = result.summary()
    intervals = pd.DataFrame(payload["intervals"])
    threshold = payload["relevance_threshold"]
    relevance = "all test items" if threshold is None else f"rating >= {threshold:g}"
    folds = ", ".join(s.name for s in splits)
    shard = payload.get("shard")
    print(f"{name}, split {payload['split']} ({folds}), relevance: {relevance}"
          + (f"; shard {shard['index']}/{shard['count']} of the test users" if shard else ""))
    if payload["sampled_users"]:
        print(sampled_note(payload["sampled_users"]))
    for k in ks:  # every k, in a table that fits 120 columns (report.md has every metric)
        print(to_text(comparison_table(summary, k, intervals, metrics=columns, compact=True)))
    if staging is None:
        return
    if shard:
        shard["ranked"] = write_ranked(staging, result.ranked)
    (staging / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    (staging / "report.md").write_text(report_markdown(payload, summary, intervals, name))
    outcome.figure().savefig(staging / "metrics.png", dpi=100)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    from tfrec.recommenders import EXPLICIT_DEFAULTS, IMPLICIT_DEFAULTS, MODEL_NAMES

    compare = commands.add_parser(
        "compare", help="evaluate models on the same split with the same metrics (the main job)",
        description="Fits every model on the same split(s) and reports RMSE/MAE and top-k ranking "
                    "metrics over the full catalog with training items excluded.")
    add_data_options(compare)
    compare.add_argument("--models", default=None,
                         help=f"comma-separated, from {', '.join(MODEL_NAMES)} (default: explicit "
                              f"ratings {','.join(EXPLICIT_DEFAULTS)}; implicit events "
                              f"{','.join(IMPLICIT_DEFAULTS)})")
    compare.add_argument("--params", default=None,
                         help="TOML of model parameters by model name (e.g. the best of `tfrec tune`)")
    compare.add_argument("--tune", type=int, default=None, metavar="N",
                         help="give every model with parameters N seeded Optuna trials on a validation carve of "
                              "each split's training rows (nDCG at the first k), then fit it with the best and "
                              "score it once on test; the report says what each got (default: the defaults)")
    compare.add_argument("--validation-ratio", type=float, default=0.1,
                         help="--tune's validation carve: this fraction of each split's training rows (default 0.1)")
    compare.add_argument("--implicit-as", choices=("binary", "log1p"), default=None,
                         help="let Surprise's rating models read implicit events as 1 or log1p(weight)")
    compare.add_argument("--split", default="random",
                         help="split method: random (default, 80/20), stratified, temporal, "
                              "leave_last, kfold, predefined (ml-100k u1-u5), cold_users, cold_items")
    compare.add_argument("--folds", default=None, help="predefined folds, e.g. u1,u2,u3,u4,u5")
    compare.add_argument("--cold-history", type=float, default=None,
                         help="cold_users: fraction of each held-out user's rows given to the models as "
                              "history at test time, the rest scored (default 0.8; 0: no history)")
    compare.add_argument("--sample-users", type=int, default=None,
                         help="rank only this many test users per fold (seeded, the same for every model): "
                              "faster evaluation on large data; the report says so")
    compare.add_argument("--shard", default=None,
                         help="INDEX/COUNT: rank only this share of the test users (every model is still "
                              "fitted); join the shards' --out folders with `tfrec report merge`")
    compare.add_argument("--test-ratio", type=float, default=0.2, help="test fraction (default 0.2)")
    compare.add_argument("-k", "--k", default="10", help="cut-off(s) of ranking metrics, e.g. 10,20")
    compare.add_argument("--relevance-threshold", type=float, default=None,
                         help="relevant = rated at least this (default: every test item)")
    compare.add_argument("--config", default=None, help="two-tower model config TOML")
    compare.add_argument("--out", default=None,
                         help="run folder for results.json, report.md, metrics.png (default: a new "
                              "runs/<data>-<split>-<date-time>)")
    compare.add_argument("--no-out", action="store_true", help="print the table only; write no run folder")
    compare.add_argument("--overwrite", action="store_true",
                         help="replace an earlier compare --out (only folders tfrec created)")
    compare.add_argument("--metrics", default=None,
                         help="terminal table columns, e.g. ndcg,recall,map,mrr,novelty,diversity "
                              "(default rmse,ndcg,recall,precision,coverage,fit_seconds; report.md has all)")
    compare.add_argument("--quiet", action="store_true", help="no progress bar")
    compare.add_argument("--tensorboard", default=None,
                         help="TensorBoard log folder: the two-tower's scalars per epoch and item embeddings "
                              "(titles as labels) for the projector, in <folder>/<model>/<fold>")
    compare.set_defaults(func=cmd_compare)
