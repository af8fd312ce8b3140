"""``tfrec data``: describe, generate and download data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tfrec.cli.common import add_data_options, load, seed_value
from tfrec.errors import TfrecError


def cmd_data_describe(args: argparse.Namespace) -> int:
    from tfrec.evaluation.splits import make_splits

    dataset = load(args)
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


def cmd_data_generate(args: argparse.Namespace) -> int:
    """Writes synthetic users, items and (sharded) ratings into a new --out folder."""
    from tfrec.atomic import check_target, output_directory
    from tfrec.data.shards import write_shards
    from tfrec.data.synthetic import generate
    from tfrec.schema import builtin_schema

    for name, value, limit in (("--rows", args.rows, 100_000_000), ("--users", args.users, 10_000_000),
                               ("--items", args.items, 10_000_000), ("--shards", args.shards, 10_000)):
        if not 1 <= value <= limit:
            raise TfrecError(f"{name} must be from 1 to {limit:,}, got {value}")
    check_target(Path(args.out), overwrite=args.overwrite)  # before generating anything
    users, items, ratings = generate(args.users, args.items, args.rows, signal=args.signal,
                                     seed=args.seed)
    table_format = "parquet" if args.format == "tfrecord" else args.format
    out = Path(args.out)
    written = []
    # One folder, replaced whole: shards of an earlier run never mix with this one's.
    with output_directory(out, kind="data", overwrite=args.overwrite) as staging:
        for name, frame, shards, fmt in (("users", users, 1, table_format),
                                         ("items", items, 1, table_format),
                                         ("ratings", ratings, args.shards, args.format)):
            paths = write_shards(frame, staging, name=name, shards=shards, format=fmt,
                                 schema=builtin_schema("synthetic"))
            where = out / paths[0].name if len(paths) == 1 else f"{len(paths)} shards {out}/{name}-*"
            written.append(f"wrote {where} ({len(frame):,} rows)")
    print("\n".join(written))
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    from tfrec.data.download import download

    if not 0 < args.timeout <= 3600:  # also rejects nan
        raise TfrecError(f"--timeout must be a number of seconds from 0 to 3600, got {args.timeout}")

    target = download(args.name, args.dest, sha256=args.sha256, url=args.url, insecure=args.insecure,
                      timeout=args.timeout)
    print(f"downloaded {args.name} to {target}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    data = commands.add_parser("data", help="load, describe, generate or download data")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION")
    describe = data_commands.add_parser("describe", help="validate a data set and summarize it")
    add_data_options(describe)
    describe.add_argument("--split", default=None, help="also summarize this split method")
    describe.add_argument("--json", action="store_true", help="print JSON")
    describe.set_defaults(func=cmd_data_describe)

    gen = data_commands.add_parser("generate", help="write synthetic users/items/ratings files")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--rows", type=int, default=10_000, help="ratings (default 10,000)")
    gen.add_argument("--users", type=int, default=1000, help="users (default 1,000)")
    gen.add_argument("--items", type=int, default=500, help="items (default 500)")
    gen.add_argument("--signal", type=float, default=1.0, help="0 = the seed's pure noise")
    gen.add_argument("--seed", type=seed_value, default=42, help="random seed (default 42)")
    gen.add_argument("--overwrite", action="store_true",
                     help="replace an earlier generate --out (only folders tfrec created)")
    gen.add_argument("--format", choices=("csv", "parquet", "tfrecord"), default="parquet",
                     help="ratings file format (feature tables are Parquet for tfrecord)")
    gen.add_argument("--shards", type=int, default=1,
                     help="split the ratings into this many files ratings-0000i-of-0000N.*")
    gen.set_defaults(func=cmd_data_generate)

    down = data_commands.add_parser("download", help="fetch a MovieLens variant (explicit opt-in)")
    down.add_argument("name", choices=("ml-100k", "ml-1m", "ml-latest-small", "ml-latest"),
                      help="the MovieLens data set to download (its checksum is checked before anything is unpacked)")
    down.add_argument("--dest", required=True, help="parent folder for the data")
    down.add_argument("--sha256", default=None, help="expected SHA-256 of the zip archive")
    down.add_argument("--url", default=None, help="mirror URL instead of GroupLens (https://, or file://)")
    down.add_argument("--insecure", action="store_true", help="accept a plain http:// --url")
    down.add_argument("--timeout", type=float, default=60.0,
                      help="seconds to wait for the server on each read (default 60)")
    down.set_defaults(func=cmd_data_download)
