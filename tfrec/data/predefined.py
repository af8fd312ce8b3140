"""Predefined splits given as files: train -> test (and train -> valid) folds, the rule every
file-given split follows (LightGCN-format folders, :mod:`tfrec.data.lightgcn`; CSV/Parquet files,
``files:TRAIN,TEST[,VALID]``).

Folds of a :class:`~tfrec.data.dataset.Dataset`:

* ``test``: train (+ valid) -> test, what a published protocol scores (training = train + valid);
* ``valid`` (with a validation file): train -> valid, to choose parameters on, never on test.

A (user, item) pair in both a training side and its test side would be excluded from ranking as
a training item and still counted as relevant: such files are refused, with the count.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tfrec.data.dataset import Dataset, build_dataset
from tfrec.data.validate import DuplicatePolicy, InvalidPolicy
from tfrec.errors import DataError
from tfrec.schema import Schema

FOLDS = ("test", "valid")


def protocol_folds(train: pd.DataFrame, test: pd.DataFrame, valid: pd.DataFrame | None,
                   schema: Schema, names: Sequence[str] = ("train", "test", "valid")
                   ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The ``test`` fold (train + valid -> test) and, with ``valid``, the ``valid`` fold.

    Args:
        names: How the three parts are named in errors (their files).

    Raises:
        DataError: A test (or valid) pair that is also a training pair.
    """
    training = train if valid is None else pd.concat([train, valid], ignore_index=True)
    folds = {"test": (training, test)}
    check_disjoint(training, test, schema, f"{names[0]}{'' if valid is None else ' + ' + names[2]}", names[1])
    if valid is not None:
        check_disjoint(train, valid, schema, names[0], names[2])
        folds["valid"] = (train, valid)
    return folds


def check_disjoint(train: pd.DataFrame, test: pd.DataFrame, schema: Schema, train_name: str, test_name: str) -> None:
    """Refuses (user, item) pairs present in both ``train`` and ``test``."""
    keys = [schema.user_id, schema.item_id]
    both = test[keys].drop_duplicates().merge(train[keys].drop_duplicates(), on=keys)
    if len(both):
        first = both.iloc[0]
        raise DataError(f"{len(both):,} (user, item) pair(s) of {test_name} are also in {train_name}, e.g. user "
                        f"{first[schema.user_id]!r} item {first[schema.item_id]!r}",
                        fix="a test pair must not be a training pair (it would be left out of the ranking as "
                            "seen): remove such pairs from one of the files")


def load_split_files(paths: Sequence[str | os.PathLike], schema: Schema, *, users: str | os.PathLike | None = None,
                     items: str | os.PathLike | None = None, sep: str = ",",
                     duplicates: DuplicatePolicy = "last", invalid: InvalidPolicy = "error") -> Dataset:
    """``TRAIN,TEST[,VALID]`` CSV/Parquet files of one schema as a data set with :data:`FOLDS`.

    Each file is read and validated on its own (errors name its lines); the data set's
    interactions are all of them, its catalog the item table's (else every item of any file).

    Raises:
        DataError: Not two or three files, any read or validation failure, or overlapping pairs.
    """
    from tfrec.data.tabular import load_tables

    if len(paths) not in (2, 3):
        raise DataError(f"files: needs TRAIN,TEST or TRAIN,TEST,VALID, got {len(paths)} path(s)",
                        fix="e.g. --data files:train.csv,test.csv,valid.csv (CSV or Parquet, one schema)")
    parts = [load_tables(path, schema, users=users, items=items, sep=sep, duplicates=duplicates, invalid=invalid)
             for path in paths]
    frames = [part.interactions for part in parts]
    valid = frames[2] if len(frames) == 3 else None
    names = [Path(p).name for p in paths] + ([] if valid is not None else ["valid"])
    folds = protocol_folds(frames[0], frames[1], valid, schema, names)
    return build_dataset(f"{names[0]}+{names[1]}", schema, pd.concat(frames, ignore_index=True),
                         users=parts[0].users, items=parts[0].items, folds=folds,
                         source=",".join(str(p) for p in paths), duplicates=duplicates, invalid=invalid)
