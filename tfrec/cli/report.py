"""``tfrec report merge``: join the shards of one sharded ``tfrec compare`` run."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tfrec.cli.common import DATA_OPTIONS, load
from tfrec.errors import TfrecError


def cmd_merge(args: argparse.Namespace) -> int:
    """Loads the data set the shards ran on, merges their outputs and writes one run folder."""
    from tfrec.atomic import check_target, output_directory
    from tfrec.cli.compare import print_and_write
    from tfrec.evaluation.shards import RESULTS, merge

    check_target(Path(args.out), overwrite=args.overwrite)
    first = Path(args.shards[0]) / RESULTS
    try:
        options = json.loads(first.read_text())["data_options"]
    except (OSError, ValueError, KeyError, TypeError):
        options = None
    if not isinstance(options, dict) or set(DATA_OPTIONS) - set(options):
        raise TfrecError(f"{first}: not the results of `tfrec compare --shard` (no data options)")
    dataset = load(argparse.Namespace(**options))
    outcome = merge(args.shards, dataset)
    outcome.payload["data_options"] = options
    with output_directory(args.out, kind="compare", overwrite=args.overwrite) as staging:
        print_and_write(outcome, args.metrics, staging)
    print(f"merged {len(args.shards)} shards; wrote {args.out}{os.sep}: results.json, report.md, metrics.png")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    report = commands.add_parser("report", help="work with the results of tfrec compare")
    actions = report.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    parser_class=type(report))
    merge = actions.add_parser("merge", help="join the shards of a `tfrec compare --shard i/n` run",
                               description="Joins the --out folders of `tfrec compare --shard i/n` (every i "
                                           "once) into the results the unsharded run would have given.")
    merge.add_argument("shards", nargs="+", help="the shards' --out folders")
    merge.add_argument("--out", required=True, help="run folder for the merged results.json, report.md, metrics.png")
    merge.add_argument("--overwrite", action="store_true", help="replace an earlier merge at --out")
    merge.add_argument("--metrics", default=None, help="terminal table columns (as in tfrec compare)")
    merge.set_defaults(func=cmd_merge)
