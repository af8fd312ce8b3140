"""Interaction history inside the network: each user's stored items pooled over the item id
embedding the candidate tower uses (one table, shared weights).

:class:`HistoryPooling` holds the table (non-trainable variables: saved with the weights;
filled from :class:`~tfrec.model.features.history_table.HistoryTable`) and pools a user's item
embeddings ``e_j`` with weights ``w_j``::

    mean:  sum_j w_j e_j / sum_j w_j     sqrt:  sum_j w_j e_j / sqrt(sum_j w_j)     sum:  sum_j w_j e_j

During training each row's positive item is removed from its own history (otherwise the model
learns to copy it) and history items are dropped at random (``dropout``: denoising). Both are
done without a per-row gather of the history: the pooled sum is computed once per distinct
user of the batch and the positive's term is subtracted per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfrec.model.features.encoder import IdIndex, as_id_dtype
from tfrec.model.features.history_table import HISTORY_ITEMS, HISTORY_WEIGHTS


class HistoryPooling(tf.keras.layers.Layer):
    """Pools users' history items over a shared item embedding table.

    Args:
        n_users: Rows of the user index (vocabulary + 1 out-of-vocabulary row, which has no
            history).
        n_pairs: Stored (user, item) pairs.
        pooling: ``mean``, ``sqrt`` or ``sum``.
        dropout: Probability of dropping each history item in training.
        item_lookup: The candidate tower's item id preprocessing layer (raw id -> index).
        item_embedding: The candidate tower's item id embedding layer (shared weights).
        ratings: Also store each pair's rating (the rating targets of user-level training).

    The table (item indices ``[n_pairs]``, weights ``[n_pairs]``, row splits ``[n_users+1]``,
    with ``ratings`` the ratings ``[n_pairs]``) is filled by :meth:`set_table`; it is saved
    with the model's weights.
    """

    def __init__(self, n_users: int, n_pairs: int, pooling: str, dropout: float,
                 item_lookup: tf.keras.layers.Layer, item_embedding: tf.keras.layers.Layer,
                 ratings: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pooling, self.dropout = pooling, float(dropout)
        self.item_lookup, self.item_embedding = item_lookup, item_embedding
        self.items = tf.Variable(tf.zeros([n_pairs], tf.int64), trainable=False, name="history_items")
        self.weights_ = tf.Variable(tf.zeros([n_pairs], tf.float32), trainable=False, name="history_weights")
        self.splits = tf.Variable(tf.zeros([n_users + 1], tf.int64), trainable=False, name="history_splits")
        self.ratings = (tf.Variable(tf.zeros([n_pairs], tf.float32), trainable=False, name="history_ratings")
                        if ratings else None)

    @property
    def output_dim(self) -> int:
        return int(self.item_embedding.output_dim)

    def set_table(self, user_rows: np.ndarray, item_indices: np.ndarray, weights: np.ndarray,
                  ratings: np.ndarray | None = None) -> None:
        """Fills the table from pairs sorted by user row (at most the table's capacity).

        Args:
            user_rows: ``[n_pairs]`` user index of each pair (0 is the out-of-vocabulary row).
            item_indices: ``[n_pairs]`` item index (the shared lookup's output).
            weights: ``[n_pairs]`` weight of each pair.
            ratings: ``[n_pairs]`` rating of each pair (stored when the table keeps ratings).
        """
        n_users, capacity = int(self.splits.shape[0]) - 1, int(self.items.shape[0])
        if len(item_indices) > capacity:
            raise ValueError(f"{len(item_indices)} history pairs for a table of {capacity}")
        lengths = np.bincount(np.asarray(user_rows, dtype=np.int64), minlength=n_users)
        pad = capacity - len(item_indices)  # unused tail: no user's row splits reach it
        self.splits.assign(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
        self.items.assign(np.concatenate([np.asarray(item_indices, dtype=np.int64), np.zeros(pad, np.int64)]))
        self.weights_.assign(np.concatenate([np.asarray(weights, dtype=np.float32), np.zeros(pad, np.float32)]))
        if self.ratings is not None:
            if ratings is None:
                raise ValueError("this history table keeps ratings: pass them")
            self.ratings.assign(np.concatenate([np.asarray(ratings, dtype=np.float32), np.zeros(pad, np.float32)]))

    def user_history(self, user_rows: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Stored history of ``user_rows [batch]``: ragged item indices and weights ``[batch, None]``."""
        items = tf.RaggedTensor.from_row_splits(self.items, self.splits, validate=False)
        weights = tf.RaggedTensor.from_row_splits(self.weights_, self.splits, validate=False)
        return tf.gather(items, user_rows), tf.gather(weights, user_rows)

    def user_ratings(self, user_rows: tf.Tensor) -> tf.RaggedTensor:
        """Stored ratings of ``user_rows [batch]``, ragged ``[batch, None]`` like :meth:`user_history`."""
        if self.ratings is None:
            raise ValueError("this history table keeps no ratings")
        ratings = tf.RaggedTensor.from_row_splits(self.ratings, self.splits, validate=False)
        return tf.gather(ratings, user_rows)

    def _normalize(self, total: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
        if self.pooling == "sum":
            return total
        weight = tf.maximum(weight, 1e-6)[:, None]
        return total / (weight if self.pooling == "mean" else tf.sqrt(weight))

    def pool(self, items: tf.RaggedTensor, weights: tf.RaggedTensor) -> tf.Tensor:
        """Pooled embeddings ``[batch, dim]`` of ragged item indices/weights ``[batch, None]``
        (index 0, out of vocabulary, counts as absent; an empty history pools to zeros)."""
        weights = weights * tf.cast(tf.not_equal(items, 0), tf.float32)
        embedded = self.item_embedding(items.flat_values) * weights.flat_values[:, None]
        rows = items.value_rowids()
        n = items.nrows()
        total = tf.math.unsorted_segment_sum(embedded, rows, n)
        return self._normalize(total, tf.math.unsorted_segment_sum(weights.flat_values, rows, n))

    def kept_history(self, user_rows: tf.Tensor, training: bool = False) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Stored history of ``user_rows [batch]`` as ragged item indices and weights ``[batch,
        None]``, items dropped at ``dropout`` in training (weight 0), out-of-vocabulary ones
        weighted 0."""
        items, weights = self.user_history(user_rows)
        if training:
            weights = self.drop(weights)
        return items, weights * tf.cast(tf.not_equal(items, 0), tf.float32)

    def drop(self, weights: tf.RaggedTensor) -> tf.RaggedTensor:
        """``weights [batch, None]`` with each entry set to 0 at rate ``dropout`` (the denoising)."""
        if self.dropout <= 0:
            return weights
        keep = tf.random.uniform(tf.shape(weights.flat_values)) >= self.dropout
        return weights.with_flat_values(weights.flat_values * tf.cast(keep, tf.float32))

    def pool_users(self, user_rows: tf.Tensor, positives: tf.Tensor | None = None,
                   training: bool = False) -> tf.Tensor:
        """Pooled history ``[batch, dim]`` of ``user_rows [batch]``.

        Args:
            user_rows: User index of each row.
            positives: Item index ``[batch]`` of each row's positive, removed from its history.
            training: Apply history dropout.
        """
        unique, row_of = tf.unique(user_rows)
        items, weights = self.kept_history(unique, training)
        rows = items.value_rowids()
        embedded = self.item_embedding(items.flat_values) * weights.flat_values[:, None]
        total = tf.gather(tf.math.unsorted_segment_sum(embedded, rows, tf.shape(unique)[0]), row_of)
        weight = tf.gather(tf.math.unsorted_segment_sum(weights.flat_values, rows, tf.shape(unique)[0]),
                           row_of)
        if positives is not None:
            # The positive's own (kept) weight in its user's history, per row: integer compares
            # only; the embedding term is one lookup per row.
            row_items, row_weights = tf.gather(items, row_of), tf.gather(weights, row_of)
            match = tf.cast(tf.equal(row_items, tf.expand_dims(positives, 1)), tf.float32)
            own = tf.reduce_sum(row_weights * match, axis=1)
            total -= own[:, None] * self.item_embedding(positives)
            weight -= own
        return self._normalize(total, weight)


class QueryHistory:
    """The query's history input: an explicit history in the features (a user unknown to
    training, served from their items), else the user's stored one.

    Args:
        pool: The history table and pooling.
        users: The user id column and its vocabulary lookup.
        item_id_dtype: ``"int"`` or ``"string"``.
    """

    def __init__(self, pool: HistoryPooling, users: IdIndex, item_id_dtype: str) -> None:
        self.pool, self.users, self.item_id_dtype = pool, users, item_id_dtype

    def items(self, features: dict[str, tf.Tensor],
              training: bool = False) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Ragged item indices and weights ``[batch, None]``: the explicit history in ``features``
        (:data:`HISTORY_ITEMS`, :data:`HISTORY_WEIGHTS`), else the user's stored one (history
        dropout in training; unknown items weighted 0)."""
        if HISTORY_ITEMS in features:
            items = self.positions(features[HISTORY_ITEMS])
            weights = (tf.cast(features[HISTORY_WEIGHTS], tf.float32) if HISTORY_WEIGHTS in features
                       else tf.ones(tf.shape(items)))
            weights = tf.RaggedTensor.from_tensor(weights * tf.cast(tf.not_equal(items, 0), tf.float32))
            return tf.RaggedTensor.from_tensor(items), weights
        return self.pool.kept_history(self.users.rows(features), training)

    def vector(self, features: dict[str, tf.Tensor], training: bool = False,
               positives: tf.Tensor | None = None) -> tf.Tensor:
        """Pooled history ``[batch, id_dim]`` of :meth:`items` (zeros for unknown users), each
        row's positive (``positives [batch]``, item index) removed from its stored history."""
        if HISTORY_ITEMS in features:
            return self.pool.pool(*self.items(features))
        return self.pool.pool_users(self.users.rows(features), positives, training)

    def positions(self, item_ids: tf.Tensor) -> tf.Tensor:
        """Index of each item id (any shape) in the candidate tower's id embedding."""
        return self.pool.item_lookup(as_id_dtype(item_ids, self.item_id_dtype))
