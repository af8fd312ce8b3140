"""``tfrec compare``: every model on the same split(s), the same metrics (the main job)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tfrec.cli.common import add_data_options, load
from tfrec.errors import TfrecError


def cmd_compare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tfrec.atomic import atomic_file, write_atomic
    from tfrec.evaluation.harness import evaluate
    from tfrec.evaluation.plots import plot_comparison
    from tfrec.evaluation.report import comparison_table, to_markdown, to_text
    from tfrec.evaluation.splits import make_splits
    from tfrec.model.config import ModelConfig
    from tfrec.recommenders import make_model

    ks = sorted({int(k) for k in str(args.k).split(",")})
    if min(ks) < 1:
        raise TfrecError(f"--k must list positive integers, got {args.k!r}")
    config = ModelConfig.from_toml(args.config) if args.config else None
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:  # unknown names fail before any data is loaded or model trained
        make_model(name, seed=args.seed, config=config)
    dataset = load(args)
    folds = args.folds.split(",") if args.folds else None
    splits = make_splits(dataset, args.split, seed=args.seed, folds=folds, test_ratio=args.test_ratio)
    factories = {name: (lambda name=name: make_model(name, seed=args.seed, config=config)) for name in names}
    with tqdm(total=len(names) * len(splits), desc="compare", unit="fit", disable=args.quiet,
              file=sys.stderr) as bar:
        result = evaluate(factories, splits, ks=ks, relevance_threshold=args.relevance_threshold,
                          progress=lambda model, fold: _advance(bar, f"{model} on {fold}"))
    summary = result.summary()
    table = comparison_table(summary, ks[0])
    relevance = ("all test items" if args.relevance_threshold is None
                 else f"rating >= {args.relevance_threshold:g}")
    print(f"{dataset.name}, split {args.split} ({', '.join(s.name for s in splits)}), relevance: {relevance}")
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


def _advance(bar: Any, label: str) -> None:
    bar.set_postfix_str(label)
    bar.update()


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    from tfrec.recommenders import DEFAULT_MODELS, MODEL_NAMES

    compare = commands.add_parser(
        "compare", help="evaluate models on the same split with the same metrics (the main job)",
        description="Fits every model on the same split(s) and reports RMSE/MAE and top-k ranking "
                    "metrics over the full catalog with training items excluded.")
    add_data_options(compare)
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
    compare.set_defaults(func=cmd_compare)
