"""Validation carves: which training rows are held out for validation, decided in one place.

Two rules, both deterministic for a seed:

* :class:`Holdout` -- a hash of the row's (user id, item id) and the seed puts a fraction of
  the rows in validation. It needs no pass over the data and no memory, so the same rule
  carves in-memory frames and streamed shards (the same rows for the same data), and it is
  what training applies when it is given no validation rows (``validation_ratio``).
* :func:`latest_mask` -- the latest rows by timestamp (globally, or each user's latest
  ``n_last``), for temporal splits, where validation must come after training in time.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.errors import DataError
from tfrec.schema import Schema, as_input_array

_BUCKETS = 1 << 30
_SALT = 0x5F3759DF


def nested_seed(seed: int) -> int:
    """The seed of a carve made inside another carve of ``seed`` (training's own validation
    carve inside ``tfrec tune``'s): with the same seed every row the inner carve would hold out
    is already gone, and it would be empty."""
    return (seed * 0x9E3779B1 + 0x7F4A7C15) & 0x7FFFFFFF


@dataclasses.dataclass(frozen=True)
class Holdout:
    """Hash-based validation carve.

    Attributes:
        ratio: Fraction of rows in validation, in (0, 1).
        seed: Seed of the hash (another seed, other rows).
        keep: ``"train"`` keeps the rows outside validation, ``"validation"`` the others.
    """

    ratio: float
    seed: int
    keep: Literal["train", "validation"] = "train"

    def __post_init__(self) -> None:
        if not 0 < self.ratio < 1:
            raise DataError(f"validation ratio must be in (0, 1), got {self.ratio!r}")

    def other(self) -> Holdout:
        """The complementary carve (validation for train, train for validation)."""
        return dataclasses.replace(self, keep="validation" if self.keep == "train" else "train")

    def tensor_keep(self, schema: Schema, chunk: dict[str, tf.Tensor]) -> tf.Tensor:
        """``bool[n]``: the rows of a chunk of column tensors this carve keeps."""
        key = tf.strings.join([_as_text(chunk[schema.user_id]), _as_text(chunk[schema.item_id])],
                              separator="\x1f")
        bucket = tf.strings.to_hash_bucket_strong(key, _BUCKETS, key=[self.seed & 0x7FFFFFFF, _SALT])
        in_validation = bucket < int(round(self.ratio * _BUCKETS))
        return in_validation if self.keep == "validation" else ~in_validation

    def frame_keep(self, schema: Schema, frame: pd.DataFrame) -> np.ndarray:
        """``bool[len(frame)]``: the rows of an interaction frame this carve keeps (the same
        rows :meth:`tensor_keep` keeps when the frame is streamed)."""
        if len(frame) == 0:
            return np.zeros(0, dtype=bool)
        chunk = {c: tf.constant(as_input_array(frame[c])) for c in (schema.user_id, schema.item_id)}
        return self.tensor_keep(schema, chunk).numpy()


def _as_text(ids: tf.Tensor) -> tf.Tensor:
    return ids if ids.dtype == tf.string else tf.strings.as_string(ids)


def latest_mask(frame: pd.DataFrame, timestamp: str, ratio: float) -> np.ndarray:
    """``bool[n]``: the globally latest ``ratio`` of the rows (ties by row order)."""
    n = len(frame)
    order = np.lexsort((np.arange(n), frame[timestamp].to_numpy()))
    mask = np.zeros(n, dtype=bool)
    mask[order[n - int(round(ratio * n)):]] = True
    return mask


def latest_per_user_mask(frame: pd.DataFrame, user: str, timestamp: str, n_last: int) -> np.ndarray:
    """``bool[n]``: each user's latest ``n_last`` rows, leaving at least one row per user."""
    n = len(frame)
    newest_first = np.lexsort((-np.arange(n), -frame[timestamp].to_numpy()))
    rank, count = per_user_rank(frame, user, newest_first)
    return rank < np.minimum(n_last, count - 1)


def per_user_rank(frame: pd.DataFrame, user: str, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows visited in ``order``: each row's rank within its user and its user's row count."""
    users = frame[user].to_numpy()[order]
    ranked = pd.Series(users).groupby(users, sort=False)
    rank = np.empty(len(frame), dtype=np.int64)
    count = np.empty(len(frame), dtype=np.int64)
    rank[order] = ranked.cumcount().to_numpy()
    count[order] = ranked.transform("size").to_numpy()
    return rank, count
