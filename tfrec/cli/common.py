"""Options and helpers shared by the ``tfrec`` subcommands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the data layer imports TensorFlow: only when a command runs
    from tfrec.data import Dataset

DEFAULT_SEED = 42
MAX_SEED = 2**31 - 1


def separator(text: str) -> str:
    """``--sep``: one character, ``tab``, or a short multi-character separator like ``::``."""
    value = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(text.lower(), text)
    if not 1 <= len(value) <= 3 or value.isalnum() or value in ('"', "\n", "\r"):
        raise argparse.ArgumentTypeError(f"not a usable separator: {text[:10]!r} (e.g. tab, ';', '|', '::')")
    return value


def seed_value(text: str) -> int:
    """``--seed``: an integer from 0 to 2**31 - 1 (what NumPy, TensorFlow and Surprise accept)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED:,}, got {seed}")
    return seed


def resolve_seed(args: argparse.Namespace) -> None:
    """Fills the default ``--seed`` and records whether the user gave one (``seed_given``)."""
    if hasattr(args, "seed"):
        args.seed_given = args.seed is not None
        if args.seed is None:
            args.seed = DEFAULT_SEED


#: The options that say which data set is loaded (recorded so that a merge can load it again).
DATA_OPTIONS = ("data", "data_dir", "schema", "users", "items", "seed", "sep", "signal", "duplicates", "invalid")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="synthetic",
                        help="synthetic (default), ml-100k, ml-1m, ml-latest-small, ml-latest, gowalla, "
                             "lightgcn:FOLDER (train/valid/test.txt), files:TRAIN,TEST[,VALID] (predefined "
                             "folds test and valid for --split predefined), csv:PATH, parquet:PATH or a "
                             ".csv/.parquet path")
    parser.add_argument("--data-dir", default=None,
                        help="MovieLens folder or its parent (default: $TFREC_DATA_DIR), or gowalla's folder")
    parser.add_argument("--schema", default=None, help="schema .json/.toml for generic files")
    parser.add_argument("--users", default=None, help="user feature table for generic files")
    parser.add_argument("--items", default=None, help="item feature table for generic files")
    parser.add_argument("--seed", type=seed_value, default=None,
                        help=f"seed of the data, split and models (default {DEFAULT_SEED}; `train` keeps "
                             "its config's seed unless --seed is given)")
    parser.add_argument("--signal", type=float, default=1.0,
                        help="synthetic data: planted signal strength; 0 = the seed's pure noise")
    parser.add_argument("--duplicates", choices=("last", "mean", "error"), default="last",
                        help="policy for repeated (user, item) rows (default: keep the last)")
    parser.add_argument("--sep", default=None, type=separator,
                        help="field separator of delimited files: a character, 'tab' or '::' "
                             "(default: tab for .tsv, else comma)")
    parser.add_argument("--invalid", choices=("error", "drop"), default="error",
                        help="policy for rows with empty ids or bad ratings (default: error)")


def load(args: argparse.Namespace) -> Dataset:
    from tfrec.data import load_dataset
    from tfrec.data.tabular import load_schema

    schema = load_schema(args.schema) if args.schema else None
    return load_dataset(args.data, data_dir=args.data_dir, schema=schema, users=args.users,
                        items=args.items, seed=args.seed, sep=args.sep,
                        signal=args.signal, duplicates=args.duplicates, invalid=args.invalid)
