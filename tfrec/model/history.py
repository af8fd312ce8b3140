"""Interaction history as a query-side feature: each user's training items, pooled over the
item id embedding the candidate tower uses (one table, shared weights).

:class:`HistoryTable` collects the history during the training scan (a
:class:`~tfrec.data.scan.ChunkSink`, so in-memory frames and streamed shards build it the
same way). It keeps at most ``max_len`` items per user -- the latest by timestamp, else the
last read -- and compacts as it goes, so its memory is bounded by
``users x max_len`` pairs plus one scan chunk, whatever the number of rows.

:class:`HistoryPooling` holds the table (non-trainable variables: saved with the weights) and
pools a user's item embeddings ``e_j`` with weights ``w_j``::

    mean:  sum_j w_j e_j / sum_j w_j     sqrt:  sum_j w_j e_j / sqrt(sum_j w_j)     sum:  sum_j w_j e_j

During training each row's positive item is removed from its own history (otherwise the model
learns to copy it) and history items are dropped at random (``dropout``: denoising). Both are
done without a per-row gather of the history: the pooled sum is computed once per distinct
user of the batch and the positive's term is subtracted per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.errors import ConfigError
from tfrec.model.encoder import as_id_dtype
from tfrec.schema import Schema

#: Feature names of an explicit history (serving a user from their items, not their id).
HISTORY_ITEMS = "__history_items__"
HISTORY_WEIGHTS = "__history_weights__"

#: Buffered pairs above which the table compacts to ``max_len`` per user.
COMPACT_ABOVE = 1_000_000


class HistoryTable:
    """Each user's latest ``max_len`` training items, with their weights.

    "Latest" is by timestamp when the scanned rows carry one (in-memory frames), else by read
    order (streamed shards are read without their timestamp column).

    Args:
        schema: Names the id, rating and timestamp columns.
        max_len: Items kept per user.
        weighting: ``none`` (1 each), ``rating`` (the rating; 1 without ratings) or
            ``recency`` (``1 / sqrt(1 + p)``, ``p`` = 0 for the latest item of the user).
    """

    def __init__(self, schema: Schema, max_len: int, weighting: str = "none") -> None:
        if weighting == "rating" and schema.rating is None:
            raise ConfigError("history_weighting = 'rating' needs a rating column; the data has none "
                              "(use 'none' or 'recency')")
        self.schema, self.max_len, self.weighting = schema, int(max_len), weighting
        self._parts: list[pd.DataFrame] = []
        self._buffered = 0
        self._compact_above = COMPACT_ABOVE
        self._order = 0
        self.peak_pairs = 0

    def add(self, columns: dict[str, np.ndarray]) -> HistoryTable:
        """Adds a chunk of interaction columns ``{name: array[n]}``."""
        schema = self.schema
        n = len(columns[schema.user_id])
        order = np.arange(self._order, self._order + n, dtype=np.float64)
        self._order += n
        part = pd.DataFrame({
            "user": columns[schema.user_id], "item": columns[schema.item_id],
            "time": (np.asarray(columns[schema.timestamp], dtype=np.float64)
                     if schema.timestamp and schema.timestamp in columns else order),
            "order": order,
            "rating": (np.asarray(columns[schema.rating], dtype=np.float32)
                       if schema.rating else np.ones(n, np.float32)),
        })
        self._parts.append(part)
        self._buffered += n
        self.peak_pairs = max(self.peak_pairs, self._buffered)
        if self._buffered > self._compact_above:
            self._compact()
        return self

    def _compact(self) -> pd.DataFrame:
        frame = pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame(
            {"user": [], "item": [], "time": [], "order": [], "rating": []})
        self._parts = []  # the chunks are in the frame now: free them before the sorted copies
        # Latest interaction of each (user, item) pair, then the latest max_len items per user.
        frame = frame.sort_values(["user", "time", "order"], kind="stable")
        frame = frame.drop_duplicates(["user", "item"], keep="last")
        frame = frame.groupby("user", sort=False).tail(self.max_len)
        self._parts, self._buffered = [frame], len(frame)
        # Next compaction once the buffer doubles: amortized linear time (compacting at every
        # chunk once the kept pairs exceed COMPACT_ABOVE re-sorted them all each time).
        self._compact_above = max(COMPACT_ABOVE, 2 * len(frame))
        return frame

    def frame(self) -> pd.DataFrame:
        """``[user, item, weight, rating]`` rows, sorted by user then item (``rating`` is 1
        without a rating column)."""
        frame = self._compact()
        if self.weighting == "rating":
            weight = frame["rating"].to_numpy()
        elif self.weighting == "recency":
            from_latest = frame.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
            weight = 1.0 / np.sqrt(1.0 + from_latest)
        else:
            weight = np.ones(len(frame))
        out = pd.DataFrame({"user": frame["user"].to_numpy(), "item": frame["item"].to_numpy(),
                            "weight": weight.astype(np.float32),
                            "rating": frame["rating"].to_numpy(dtype=np.float32)})
        # A canonical order (the weights already reflect recency): the same pairs give the same
        # table, whichever order the rows were read in.
        return out.sort_values(["user", "item"], kind="stable", ignore_index=True)

    @property
    def nbytes(self) -> int:
        """Bytes of the kept pairs (ids, times, weights)."""
        return int(sum(p.memory_usage(deep=True).sum() for p in self._parts))


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
        if training and self.dropout > 0:
            keep = tf.random.uniform(tf.shape(weights.flat_values)) >= self.dropout
            weights = weights.with_flat_values(weights.flat_values * tf.cast(keep, tf.float32))
        return items, weights * tf.cast(tf.not_equal(items, 0), tf.float32)

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


class HistorySide:
    """Mixin: the history methods of :class:`~tfrec.model.two_tower.TwoTowerModel` (its
    ``history_pool``, id lookups and dtypes)."""

    history_pool: HistoryPooling | None

    def history_items(self: Any, features: dict[str, tf.Tensor],
                      training: bool = False) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Ragged item indices and weights ``[batch, None]``: the explicit history in ``features``,
        else the user's stored one (history dropout in training; unknown items weighted 0)."""
        pool = self._history()
        if HISTORY_ITEMS in features:
            items = pool.item_lookup(as_id_dtype(features[HISTORY_ITEMS], self.item_id_dtype))
            weights = (tf.cast(features[HISTORY_WEIGHTS], tf.float32) if HISTORY_WEIGHTS in features
                       else tf.ones(tf.shape(items)))
            weights = tf.RaggedTensor.from_tensor(weights * tf.cast(tf.not_equal(items, 0), tf.float32))
            return tf.RaggedTensor.from_tensor(items), weights
        users = self.user_rows(features)
        return pool.kept_history(users, training)

    def history_vector(self: Any, features: dict[str, tf.Tensor], training: bool = False,
                       positives: tf.Tensor | None = None) -> tf.Tensor:
        """Pooled history ``[batch, id_dim]`` of :meth:`history_items` (empty for unknown users)."""
        if HISTORY_ITEMS in features:
            return self._history().pool(*self.history_items(features))
        users = self.user_rows(features)
        return self._history().pool_users(users, positives, training)

    def _history(self: Any) -> HistoryPooling:
        if self.history_pool is None:
            raise ConfigError("this model was trained without history = true")
        return self.history_pool

    def item_positions(self: Any, item_ids: tf.Tensor) -> tf.Tensor:
        """Index of each item id ``[batch]`` in the candidate tower's id embedding."""
        return self._history().item_lookup(as_id_dtype(item_ids, self.item_id_dtype))
