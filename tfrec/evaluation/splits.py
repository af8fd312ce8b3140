"""Train/validation/test splits, built once and shared by every model of an experiment.

Every method is seeded and deterministic, never overlaps train and test rows, and covers every
interaction (each row lands in exactly one of train, validation or test; cold-start splits
included). Methods:

* ``random``: a random ``test_ratio`` of rows (TFRS tutorials' protocol).
* ``stratified``: per user, a random ``round(test_ratio * n_u)`` of their rows (users with a
  single row stay in train) -- MS Recommenders' ``python_stratified_split``.
* ``temporal``: the globally latest ``test_ratio`` of rows by timestamp.
* ``leave_last``: per user, the latest ``n_last`` rows by timestamp (at least one row stays in
  train).
* ``kfold``: rows shuffled into ``n_folds`` folds; fold *f* is the test set of split *f*.
* ``predefined``: the data set's own folds (ml-100k ``u1``..``u5``, ``ua``, ``ub``; a
  LightGCN-format folder's ``test`` and ``valid``, :mod:`tfrec.data.lightgcn`).
* ``cold_users`` / ``cold_items``: whole users (items) held out; all their rows are test.
  With ``cold_history > 0`` (``cold_users`` only) each held-out user's rows are divided: a
  seeded random ``cold_history`` of them (rounded down) is the user's *fold-in* history,
  given to the models at test time, and the rest is test -- the "strong generalization"
  protocol of Mult-VAE (Liang et al. 2018). Models that can read a history (EASE, item-KNN,
  ALS by fold-in, the two-tower with ``history = true``) rank from it; the others score the
  users as unknown. Fold-in items are left out of every model's ranking.

A validation set, when asked for, is carved from the train rows by
:mod:`tfrec.data.holdout` (the one place carves are defined): the latest ``validation_ratio``
of them for ``temporal``, each user's next-latest ``n_last`` for ``leave_last``, a seeded
hash of (user, item) selecting ``validation_ratio`` of them otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.data.holdout import Holdout, latest_mask, latest_per_user_mask, per_user_rank
from tfrec.errors import DataError

logger = logging.getLogger(__name__)

SPLIT_METHODS = ("random", "stratified", "temporal", "leave_last", "kfold", "predefined",
                 "cold_users", "cold_items")


@dataclasses.dataclass(frozen=True)
class Split:
    """One train/validation/test partition of a data set's interactions.

    Attributes:
        name: ``"random"``, ``"u1"``, ``"kfold-2"``... unique within an experiment.
        dataset: The data set (feature tables, schema, catalog).
        train: Training interactions.
        test: Test interactions.
        validation: Validation interactions, or ``None``.
        fold_in: Held-out users' rows given as their history at test time (``cold_users``
            with ``cold_history``), or ``None``.
        method: The split method that made it (:meth:`carve` follows its protocol).
        n_last: ``leave_last``'s rows per user.
    """

    name: str
    dataset: Dataset
    train: pd.DataFrame
    test: pd.DataFrame
    validation: pd.DataFrame | None = None
    fold_in: pd.DataFrame | None = None
    method: str = "random"
    n_last: int = 1

    def carve(self, ratio: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The training rows divided into (kept, held out) by this split's own protocol -- the
        latest rows for time-based methods, the seeded hash otherwise (``make_splits``'s
        validation carve): where a model chooses how long to train, it is judged as it will be
        tested. ``(train, None)`` when ``ratio`` is 0."""
        return _carve_validation(self.dataset, self.train, self.method, ratio, self.n_last, seed)

    @property
    def unseen_test_users(self) -> np.ndarray:
        """Test user ids that never occur in train."""
        column = self.dataset.schema.user_id
        return np.setdiff1d(self.test[column].unique(), self.train[column].unique())

    @property
    def unseen_test_items(self) -> np.ndarray:
        """Test item ids that never occur in train."""
        column = self.dataset.schema.item_id
        return np.setdiff1d(self.test[column].unique(), self.train[column].unique())

    def sample_test_users(self, n: int, seed: int) -> Split:
        """This split with the test (and fold-in) rows of ``n`` test users drawn without
        replacement (seeded: the same users for every model); all of them when ``n`` is not
        smaller. Training rows are untouched: models fit as before, fewer users are ranked.

        Raises:
            DataError: ``n < 1``.
        """
        if n < 1:
            raise DataError(f"--sample-users must be at least 1, got {n}")
        column = self.dataset.schema.user_id
        users = np.unique(self.test[column].to_numpy())
        if n >= len(users):
            return self
        return self.restrict_test_users(np.sort(_rng(seed).choice(users, size=n, replace=False)))

    def shard_test_users(self, index: int, count: int) -> Split:
        """This split with the test (and fold-in) rows of shard ``index`` of ``count``: the test
        users at sorted positions ``index, index + count, ...`` (every user in exactly one shard,
        the shards within one user of each other in size).

        Raises:
            DataError: ``index`` outside ``0..count - 1``.
        """
        if not 0 <= index < count:
            raise DataError(f"shard {index}/{count}: the index must be in 0..{count - 1}")
        users = np.unique(self.test[self.dataset.schema.user_id].to_numpy())
        return self.restrict_test_users(users[index::count])

    def restrict_test_users(self, users: np.ndarray) -> Split:
        """This split with only ``users``' test and fold-in rows (order kept; train untouched)."""
        column = self.dataset.schema.user_id
        return dataclasses.replace(
            self, test=self.test[self.test[column].isin(users)],
            fold_in=None if self.fold_in is None else self.fold_in[self.fold_in[column].isin(users)])

    def summary(self) -> dict:
        """Row and cold-start counts (JSON-ready)."""
        return {
            "name": self.name,
            "train": len(self.train),
            "validation": 0 if self.validation is None else len(self.validation),
            "test": len(self.test),
            "test_users": int(self.test[self.dataset.schema.user_id].nunique()),
            "fold_in": 0 if self.fold_in is None else len(self.fold_in),
            "unseen_test_users": int(len(self.unseen_test_users)),
            "unseen_test_items": int(len(self.unseen_test_items)),
        }


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_ratio(name: str, value: float, allow_zero: bool = False) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise DataError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1), got {value!r}")


def _require_timestamp(dataset: Dataset, method: str) -> str:
    column = dataset.schema.timestamp
    if column is None:
        raise DataError(f"split {method!r} needs timestamps but the schema has none",
                        fix="name the timestamp column in the schema, or use a random split.")
    return column


def _test_mask(dataset: Dataset, frame: pd.DataFrame, method: str, *, test_ratio: float,
               n_last: int, seed: int) -> np.ndarray:
    """Returns which rows of ``frame`` go to test for a single-split method."""
    schema, n = dataset.schema, len(frame)
    rng = _rng(seed)
    if method == "random":
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[: int(round(test_ratio * n))]] = True
        return mask
    if method == "stratified":
        rank, count = per_user_rank(frame, schema.user_id, rng.permutation(n))
        n_test = np.where(count > 1, np.round(test_ratio * count), 0)
        return rank < n_test
    if method == "temporal":
        return latest_mask(frame, _require_timestamp(dataset, method), test_ratio)
    if method == "leave_last":
        return latest_per_user_mask(frame, schema.user_id, _require_timestamp(dataset, method), n_last)
    if method in ("cold_users", "cold_items"):
        column = schema.user_id if method == "cold_users" else schema.item_id
        ids = np.sort(frame[column].unique())
        held = rng.permutation(ids)[: max(1, int(round(test_ratio * len(ids))))]
        return np.isin(frame[column].to_numpy(), held)
    raise DataError(f"unknown split method {method!r}", fix=f"use one of {list(SPLIT_METHODS)}.")


def _carve_validation(dataset: Dataset, train: pd.DataFrame, method: str, ratio: float,
                      n_last: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Splits ``train`` into (train, validation) with the carves of :mod:`tfrec.data.holdout`:
    the latest rows for time-based methods, the seeded row hash otherwise."""
    if ratio <= 0:
        return train, None
    if method == "temporal":
        mask = latest_mask(train, _require_timestamp(dataset, method), ratio)
    elif method == "leave_last":
        mask = latest_per_user_mask(train, dataset.schema.user_id, _require_timestamp(dataset, method), n_last)
    else:
        mask = ~Holdout(ratio, seed).frame_keep(dataset.schema, train)
    return train.loc[~mask].reset_index(drop=True), train.loc[mask].reset_index(drop=True)


def default_folds(available: Sequence[str]) -> list[str]:
    """The predefined folds scored when none are named: ml-100k's ``u1``..``u5``; a
    LightGCN-format data set's ``test`` (train + valid -> test, the published protocol)."""
    numbered = [f for f in available if f.startswith("u") and f[1:].isdigit()]
    return numbered or [f for f in available if f == "test"]


def make_splits(
    dataset: Dataset,
    method: str = "random",
    *,
    test_ratio: float = 0.2,
    validation_ratio: float = 0.0,
    n_folds: int = 5,
    n_last: int = 1,
    folds: Sequence[str] | None = None,
    cold_history: float = 0.0,
    seed: int = 42,
) -> list[Split]:
    """Builds the split(s) of ``dataset`` that every model of an experiment shares.

    Args:
        dataset: The data.
        method: One of :data:`SPLIT_METHODS`.
        test_ratio: Fraction of rows (users/items for cold-start methods) in test.
        validation_ratio: Fraction of the train rows set aside for validation.
        n_folds: Folds for ``kfold``.
        n_last: Rows per user in test for ``leave_last``.
        folds: Names of predefined folds (default: all of ``u1``..``u5`` present).
        cold_history: For ``cold_users``: the fraction of each held-out user's rows given as
            fold-in history at test time (0: none, the users are cold).
        seed: Random seed; the same seed gives the same split.

    Returns:
        One split, or one per fold for ``kfold`` and ``predefined``.

    Raises:
        DataError: Unknown method, bad ratios, missing timestamps or missing folds.
    """
    if method not in SPLIT_METHODS:
        raise DataError(f"unknown split method {method!r}", fix=f"use one of {list(SPLIT_METHODS)}.")
    _check_ratio("validation_ratio", validation_ratio, allow_zero=True)
    _check_ratio("cold_history", cold_history, allow_zero=True)
    if cold_history and method != "cold_users":
        raise DataError(f"cold_history applies to --split cold_users, not {method!r}")
    frame = dataset.interactions
    splits: list[tuple[str, pd.DataFrame, pd.DataFrame]] = []
    if method == "predefined":
        available = sorted(dataset.folds)
        wanted = list(folds) if folds else default_folds(available)
        missing = [f for f in wanted if f not in dataset.folds]
        if not available:
            raise DataError(f"{dataset.name} has no predefined folds",
                            fix="use --split random, stratified, temporal, leave_last, kfold, cold_users or "
                                "cold_items (predefined folds come with ml-100k: u1-u5, ua, ub).")
        if missing or not wanted:
            raise DataError(
                f"{dataset.name} has no predefined fold(s) {missing or wanted}; it has {available}",
                fix="name folds it has (--folds), or use another split method.",
            )
        splits = [(f, *dataset.folds[f]) for f in wanted]
    elif method == "kfold":
        if int(n_folds) != n_folds or n_folds < 2:
            raise DataError(f"n_folds must be an integer >= 2, got {n_folds!r}")
        assignment = np.empty(len(frame), dtype=np.int64)
        assignment[_rng(seed).permutation(len(frame))] = np.arange(len(frame)) % n_folds
        for fold in range(n_folds):
            test = assignment == fold
            splits.append((f"kfold-{fold}", frame.loc[~test], frame.loc[test]))
    else:
        _check_ratio("test_ratio", test_ratio)
        if method == "leave_last" and (int(n_last) != n_last or n_last < 1):
            raise DataError(f"n_last must be a positive integer, got {n_last!r}")
        test = _test_mask(dataset, frame, method, test_ratio=test_ratio, n_last=n_last, seed=seed)
        splits.append((method, frame.loc[~test], frame.loc[test]))
    out = []
    for name, train, test in splits:
        train, validation = _carve_validation(dataset, train.reset_index(drop=True), method,
                                              validation_ratio, n_last, seed)
        test, fold_in = test.reset_index(drop=True), None
        if cold_history:
            rank, count = per_user_rank(test, dataset.schema.user_id, _rng(seed).permutation(len(test)))
            history = rank < np.floor(cold_history * count)
            test, fold_in = test.loc[~history].reset_index(drop=True), test.loc[history].reset_index(drop=True)
        split = Split(name, dataset, train, test, validation, fold_in, method, int(n_last))
        logger.info("split %s", split.summary())
        out.append(split)
    return out
