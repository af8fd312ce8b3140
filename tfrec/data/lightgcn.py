"""Predefined train/valid/test splits in the LightGCN format (Gowalla, Yelp2018, Amazon-Book, the
LightGCN++ ml-1m), and the published protocol they are scored by.

A folder holds ``train.txt`` and ``test.txt`` (and optionally ``valid.txt``): one line per user,
``user item item ...``, integer ids separated by spaces; a user may have no items. The data set
is implicit feedback (no rating column); its catalog is every item of any file. Its folds are
:mod:`tfrec.data.predefined`'s: ``test`` (train + valid -> test, the published protocol's split;
LightGCN's own ``train.txt`` is train + valid) and ``valid`` (train -> valid, to tune on).

``tfrec compare --data lightgcn:FOLDER --split predefined -k 20`` (or ``--data gowalla``) scores
Recall@20 = hits / |test items| and NDCG@20 with the ideal over min(|test items|, 20), over the
full catalog with training items excluded, averaged over users with a test item: the protocol
of LightGCN and the BARS leaderboard. A ``SHA256SUMS`` file beside the data is checked.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset, build_dataset
from tfrec.data.predefined import protocol_folds
from tfrec.data.validate import DuplicatePolicy, InvalidPolicy
from tfrec.errors import DataError
from tfrec.schema import Schema

#: Built-in names of LightGCN-format data sets (``--data NAME --data-dir FOLDER``).
NAMES = ("gowalla",)
FILES = ("train.txt", "valid.txt", "test.txt")
SCHEMA = Schema(user_id="user_id", item_id="item_id", rating=None, rating_scale=None,
                user_id_dtype="int", item_id_dtype="int")


def read_lists(path: Path) -> pd.DataFrame:
    """``user item item ...`` lines -> ``(user_id, item_id)`` rows in file order.

    Raises:
        DataError: A token that is not a non-negative integer, named by file, line and value.
    """
    users: list[int] = []
    counts: list[int] = []
    items: list[np.ndarray] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                ids = np.array(tokens, dtype=np.int64)
            except ValueError:
                bad = next(t for t in tokens if not t.lstrip("-").isdigit())
                raise DataError("not an integer id", path=path, line=number, value=bad,
                                fix="each line is 'user item item ...' with integer ids separated by spaces "
                                    "(the LightGCN format)") from None
            if (ids < 0).any():
                raise DataError("negative id", path=path, line=number, value=int(ids[ids < 0][0]),
                                fix="ids in the LightGCN format are 0-based non-negative integers")
            users.append(int(ids[0]))
            counts.append(len(ids) - 1)
            items.append(ids[1:])
    return pd.DataFrame({"user_id": np.repeat(np.asarray(users, np.int64), counts),
                         "item_id": np.concatenate(items) if items else np.zeros(0, np.int64)})


def check_sums(folder: Path) -> None:
    """Checks the data files against ``SHA256SUMS`` when the folder has one.

    Raises:
        DataError: A listed data file whose checksum differs.
    """
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[1].lstrip("*") not in FILES:
            continue
        name = parts[1].lstrip("*")
        if not (folder / name).is_file():
            continue
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if digest != parts[0].lower():
            raise DataError(f"{name}: checksum {digest[:12]}... differs from SHA256SUMS ({parts[0][:12]}...)",
                            path=folder / name, fix="the file is damaged or not the published one: fetch it again")


def load_lightgcn(folder: str | os.PathLike | None, name: str | None = None, *,
                  duplicates: DuplicatePolicy = "last", invalid: InvalidPolicy = "error") -> Dataset:
    """Loads a LightGCN-format folder as a :class:`Dataset` with folds ``test`` (and ``valid``).

    Args:
        folder: Holds ``train.txt``, ``test.txt`` and optionally ``valid.txt``.
        name: Data-set name (default: the folder's name).
        duplicates: Duplicate (user, item) policy, as for every loader.
        invalid: Invalid-row policy.

    Raises:
        DataError: No folder, missing files, malformed lines or a checksum mismatch.
    """
    if folder is None:
        raise DataError(f"no folder given for {name or 'the LightGCN-format data'}",
                        fix="pass --data-dir FOLDER (holding train.txt, test.txt and optionally valid.txt)")
    folder = Path(folder).expanduser()
    missing = [f for f in ("train.txt", "test.txt") if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{', '.join(missing)} not found", path=folder,
                        fix="point --data-dir (or lightgcn:FOLDER) at a folder with train.txt and test.txt "
                            "in the LightGCN format ('user item item ...' per line)")
    check_sums(folder)
    train, test = read_lists(folder / "train.txt"), read_lists(folder / "test.txt")
    valid = read_lists(folder / "valid.txt") if (folder / "valid.txt").is_file() else None
    folds = protocol_folds(train, test, valid, SCHEMA, ("train.txt", "test.txt", "valid.txt"))
    return build_dataset(name or folder.name, SCHEMA, pd.concat([t for t in (train, valid, test) if t is not None],
                                                               ignore_index=True),
                         folds=folds, source=str(folder), duplicates=duplicates, invalid=invalid)
