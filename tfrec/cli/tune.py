"""``tfrec tune``: search each model's parameters on validation carves, never on test."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfrec.cli.common import add_data_options, load
from tfrec.errors import TfrecError


def cmd_tune(args: argparse.Namespace) -> int:
    """Tunes the models, writes ``best_params.toml`` and ``tune.json`` into --out."""
    from tfrec.atomic import MARKER, check_target, is_tfrec_output, target_lock, write_atomic
    from tfrec.evaluation.provenance import provenance
    from tfrec.evaluation.splits import make_splits
    from tfrec.evaluation.tuning import PARAMS_FILE, to_toml, tune
    from tfrec.model.config import ModelConfig

    out = Path(args.out)
    resuming = is_tfrec_output(out)
    if not resuming:
        check_target(out)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        raise TfrecError("--models names the models to tune, e.g. ease,als")
    config = ModelConfig.from_toml(args.config) if args.config else None
    dataset = load(args)
    folds = args.folds.split(",") if args.folds else None
    splits = make_splits(dataset, args.split, seed=args.seed, folds=folds, test_ratio=args.test_ratio)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps({"tool": "tfrec", "kind": "tune"}))
    with target_lock(out):  # one tune per folder; the SQLite study inside resumes a killed one

        def progress(model: str, number: int, value: float) -> None:
            if not args.quiet:
                print(f"  {model} trial {number + 1}: validation {args.metric}@{args.k} = {value:.4f}",
                      file=sys.stderr)

        results = tune(splits, names, out, trials=args.trials, seed=args.seed, metric=args.metric, k=args.k,
                       validation_ratio=args.validation_ratio, config=config, progress=progress)
        best = {r.model: r.best_params for r in results}
        write_atomic(out / PARAMS_FILE, to_toml(best))
        report = {"data": dataset.name, "split": args.split, "folds": [s.summary() for s in splits],
                  "metric": f"{args.metric}@{args.k}", "validation_ratio": args.validation_ratio,
                  "run": provenance(seed=args.seed), "models": [r.__dict__ for r in results]}
        write_atomic(out / "tune.json", json.dumps(report, indent=2, default=str))
    label = f"{args.metric}@{args.k}"
    print(f"{dataset.name}, split {args.split}: best of {args.trials} trials per model, "
          f"validation = {args.validation_ratio:g} of each training split")
    print(f"{'model':16}{'trials':>7}  {'validation ' + label:>18}  {'test, default':>14}  {'test, tuned':>12}")
    for r in results:
        print(f"{r.model:16}{r.trials:>7}  {r.validation:>18.4f}  {r.test_default:>14.4f}  {r.test_tuned:>12.4f}")
    print(f"wrote {out / PARAMS_FILE} (use: tfrec compare --params {out / PARAMS_FILE}) and {out / 'tune.json'}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    tune = commands.add_parser("tune", help="tune model parameters on validation carves (Optuna)",
                               description="Searches each model's parameters on a validation carve of "
                                           "every training split (never the test rows), with a seeded "
                                           "TPE sampler; the study resumes if killed.")
    add_data_options(tune)
    tune.add_argument("--models", required=True, help="models to tune, e.g. ease,als,two-tower")
    tune.add_argument("--trials", type=int, default=30, help="trials per model (default 30)")
    tune.add_argument("--out", required=True, help="folder for the study, best_params.toml and tune.json")
    tune.add_argument("--split", default="random", help="split method (default random 80/20)")
    tune.add_argument("--folds", default=None, help="predefined folds, e.g. u1")
    tune.add_argument("--test-ratio", type=float, default=0.2, help="test fraction (default 0.2)")
    tune.add_argument("--validation-ratio", type=float, default=0.1,
                      help="fraction of each training split held out for validation (default 0.1)")
    tune.add_argument("--metric", default="ndcg", choices=("ndcg", "recall", "precision", "map", "mrr", "hit_rate"),
                      help="ranking metric to maximize (default ndcg)")
    tune.add_argument("-k", "--k", type=int, default=10, help="cut-off of the metric (default 10)")
    tune.add_argument("--config", default=None, help="base two-tower config TOML")
    tune.add_argument("--quiet", action="store_true", help="no per-trial lines")
    tune.set_defaults(func=cmd_tune)
