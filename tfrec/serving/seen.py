"""Each known user's training items, inside the SavedModel, and top-k without them.

:class:`SeenItems` holds the training (user, item) pairs as a ragged table -- a
``StaticHashTable`` from user id to row, the items of all users in one flat tensor and their
row splits -- built from plain TensorFlow ops, so a stock ``tf.saved_model.load`` (or TF Serving)
uses it. :func:`top_k_excluding` retrieves ``k + width`` candidates from the index and drops the
excluded ones, which works for BruteForce and ScaNN alike.

Memory: the table holds one id per pair plus one row split and one hash entry per user -- about
``8 * pairs + 24 * users`` bytes for integer ids (ml-100k: 80k pairs, ~0.7 MB); it grows
linearly with the interactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf


def pad_id(dtype: tf.DType) -> tf.Tensor:
    """The id that pads exclusion rows: never a catalog id (-1, or the empty string)."""
    return tf.constant(-1, tf.int64) if dtype == tf.int64 else tf.constant("", tf.string)


class SeenItems(tf.Module):
    """The training items of every known user.

    Args:
        pairs: ``[user_id, item_id]`` rows, sorted by user.
        user_column: The user id column.
        item_column: The item id column.
        user_dtype: ``tf.int64`` or ``tf.string``.
        item_dtype: ``tf.int64`` or ``tf.string``.

    Attributes:
        width: The most items any user has: the width of :meth:`items`.
        nbytes: Memory of the table's tensors (ids, splits, hash keys).
    """

    def __init__(self, pairs: pd.DataFrame, user_column: str, item_column: str, user_dtype: tf.DType,
                 item_dtype: tf.DType) -> None:
        super().__init__(name="seen_items")
        users = pairs[user_column].to_numpy()
        items = pairs[item_column].to_numpy()
        distinct, starts, counts = np.unique(users, return_index=True, return_counts=True)
        order = np.argsort(starts)  # users in table order (sorted already, kept explicit)
        distinct, counts = distinct[order], counts[order]
        as_user = (lambda v: v.astype(np.int64)) if user_dtype == tf.int64 else (lambda v: v.astype(str).astype(object))
        as_item = (lambda v: v.astype(np.int64)) if item_dtype == tf.int64 else (lambda v: v.astype(str).astype(object))
        self.width = int(counts.max()) if len(counts) else 0
        self.pairs = int(len(items))
        self.n_users = len(distinct)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(as_user(distinct), user_dtype),
                                                tf.range(len(distinct), dtype=tf.int64)), default_value=-1)
        splits = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._values = tf.constant(as_item(items), item_dtype)
        self._splits = tf.constant(np.concatenate([splits, splits[-1:]]))  # + an empty row for unknown users
        self._item_dtype = item_dtype
        self.nbytes = int(8 * len(items) + 8 * len(splits) + 16 * len(distinct))

    def items(self, user_ids: tf.Tensor) -> tf.Tensor:
        """``[batch, width]`` training items of each user, padded; unknown users get only padding."""
        rows = self._table.lookup(user_ids)
        rows = tf.where(rows < 0, tf.constant(self.n_users, tf.int64), rows)
        ragged = tf.RaggedTensor.from_row_splits(self._values, self._splits, validate=False)
        picked = tf.gather(ragged, rows)
        return picked.to_tensor(default_value=pad_id(self._item_dtype), shape=[None, self.width])

    def known(self, user_ids: tf.Tensor) -> tf.Tensor:
        """``[batch]`` whether each user has training items."""
        return self._table.lookup(user_ids) >= 0


def top_k_excluding(scores: tf.Tensor, ids: tf.Tensor, exclusions: tf.Tensor | None, k: int,
                    fallback: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """The best ``k`` of ``[batch, n]`` retrieved candidates that are in neither ``exclusions``
    nor ``fallback``.

    When fewer than ``k`` remain (a catalog barely larger than what is left out), the list is
    filled with left-out candidates at score ``-inf``: ``fallback``'s first (a known user's
    training items, best first), ``exclusions``' last (ids the request asked to leave out).

    Args:
        scores: ``[batch, n]`` candidate scores, best first.
        ids: ``[batch, n]`` candidate ids.
        exclusions: ``[batch, m]`` ids to leave out (padding never matches a catalog id), or ``None``.
        k: Items to keep (a full list of others remains when ``n`` exceeds ``k`` plus what is left out).
        fallback: ``[batch, f]`` ids also left out, which fill the list before ``exclusions``.

    Returns:
        ``(scores [batch, k], ids [batch, k])``.
    """
    def left_out(group: tf.Tensor | None) -> tf.Tensor | None:
        if group is None or group.shape[-1] == 0:
            return None
        return tf.reduce_any(tf.equal(ids[:, :, None], group[:, None, :]), axis=-1)

    hard, soft = left_out(exclusions), left_out(fallback)
    if hard is None and soft is None:
        return scores[:, :k], ids[:, :k]
    none = tf.zeros(tf.shape(scores), tf.bool)
    hard = none if hard is None else hard
    soft = none if soft is None else soft & ~hard
    # The candidates come best first: a stable sort on the tier keeps that order within each.
    tier = tf.where(hard, 0, tf.where(soft, 1, 2))
    positions = tf.argsort(tier, axis=1, direction="DESCENDING", stable=True)[:, :k]
    kept = tf.where(tier == 2, scores, tf.fill(tf.shape(scores), tf.constant(-np.inf, scores.dtype)))
    return tf.gather(kept, positions, batch_dims=1), tf.gather(ids, positions, batch_dims=1)
