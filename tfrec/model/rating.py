"""The rating head: a predicted rating from the two towers' outputs, plus bias terms."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.model.config import ModelConfig


class RatingHead(tf.keras.layers.Layer):
    """``global_mean + MLP([q, c, q * c]) + b_user + b_item``, optionally behind a DCN ``Cross``.

    Args:
        config: ``rating_layers``, ``use_cross``, ``use_bias`` and ``dropout`` are read.
        n_users: Rows of the user index (vocabulary + 1 out-of-vocabulary row).
        n_items: Rows of the item index.
        global_mean: Mean training rating.

    Call args:
        query: ``[batch, dim]`` query tower outputs.
        candidate: ``[batch, dim]`` candidate tower outputs.
        users: ``[batch]`` user index; items: ``[batch]`` item index.

    Returns:
        ``[batch]`` predicted ratings.
    """

    def __init__(self, config: ModelConfig, n_users: int, n_items: int, global_mean: float,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.global_mean, self.use_bias = float(global_mean), config.use_bias
        self.stack: list[tf.keras.layers.Layer] = []
        if config.use_cross:
            self.stack.append(tfrs.layers.dcn.Cross(name="cross"))
        for i, width in enumerate(config.rating_layers):
            self.stack.append(tf.keras.layers.Dense(width, activation="relu", name=f"rating_hidden_{i}"))
            if config.dropout > 0:
                self.stack.append(tf.keras.layers.Dropout(config.dropout))
        self.stack.append(tf.keras.layers.Dense(1, name="rating_output"))

        if self.use_bias:
            self.user_bias = tf.keras.layers.Embedding(n_users, 1, embeddings_initializer="zeros",
                                                       name="user_bias")
            self.item_bias = tf.keras.layers.Embedding(n_items, 1, embeddings_initializer="zeros",
                                                       name="item_bias")

    def set_biases(self, user_rows: np.ndarray, user_biases: np.ndarray, item_rows: np.ndarray,
                   item_biases: np.ndarray) -> None:
        """Sets the user and item bias terms of the given index rows (``[n]`` each); the other
        rows keep their values."""
        for layer, rows, values in ((self.user_bias, user_rows, user_biases), (self.item_bias, item_rows, item_biases)):
            table = layer.embeddings.numpy()
            table[np.asarray(rows, dtype=np.int64), 0] = values
            layer.embeddings.assign(table)

    def call(self, query: tf.Tensor, candidate: tf.Tensor, users: tf.Tensor, items: tf.Tensor,
             training: bool = False) -> tf.Tensor:
        x = tf.concat([query, candidate, query * candidate], axis=-1)
        for layer in self.stack:
            x = layer(x, training=training)
        prediction = tf.squeeze(x, -1) + self.global_mean
        if self.use_bias:
            prediction += tf.squeeze(self.user_bias(users), -1) + tf.squeeze(self.item_bias(items), -1)
        return prediction
