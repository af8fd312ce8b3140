"""The full-rank item-to-item path of ``history_linear``: EASE's model inside the two towers.

EASE (Steck 2019) scores item ``j`` for a user with history ``h`` as ``sum_h B[j, h]``, with a
learned items x items matrix ``B`` whose diagonal is zero (an item never explains itself).
Written as a dot product it is two more tower outputs, so the model's scores, exports and
indexes need nothing new:

    query:      x_u = the user's multi-hot history (weights, dropout-masked in training)  [batch, n]
    candidate:  B[j, :] with B[j, j] = 0                                                    [batch, n]
    score:      x_u . B[j, :] = sum_h w_h B[j, h]

``n`` is the item index of the shared id embedding (vocabulary + out-of-vocabulary row 0).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrec.errors import ConfigError
from tfrec.model.config import LINEAR_MAX_ITEMS


class ItemToItem(tf.keras.layers.Layer):
    """The items x items matrix of the linear path (starts at zero: the towers alone).

    Args:
        n_index: Rows of the item index (the shared item lookup's output range).
    """

    def __init__(self, n_index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if n_index - 1 > LINEAR_MAX_ITEMS:
            raise ConfigError(f"history_linear keeps an items x items matrix: {n_index - 1:,} items "
                              f"is above its limit of {LINEAR_MAX_ITEMS:,}; set history_linear = false")
        self.n_index = int(n_index)
        self.matrix = self.add_weight(name="matrix", shape=[self.n_index, self.n_index],
                                      initializer="zeros", trainable=True)

    def query(self, items: tf.RaggedTensor, weights: tf.RaggedTensor) -> tf.Tensor:
        """Multi-hot histories ``[batch, n_index]`` from ragged item indices and weights
        ``[batch, None]`` (a repeated item sums its weights)."""
        rows = items.value_rowids()
        pairs = tf.stack([rows, tf.cast(items.flat_values, tf.int64)], axis=1)
        return tf.scatter_nd(pairs, weights.flat_values, tf.stack([items.nrows(), self.n_index]))

    def candidate(self, index: tf.Tensor) -> tf.Tensor:
        """Rows ``B[j, :]`` ``[batch, n_index]`` of item indices ``index [batch]``, their own
        entry zeroed (the zero diagonal)."""
        own = tf.one_hot(index, self.n_index, on_value=0.0, off_value=1.0)
        return tf.gather(self.matrix, index) * own

    def penalty(self) -> tf.Tensor:
        """``sum(B ** 2)`` off the diagonal (the diagonal is never read)."""
        return tf.reduce_sum(tf.square(self.matrix)) - tf.reduce_sum(tf.square(tf.linalg.diag_part(self.matrix)))
