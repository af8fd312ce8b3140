"""A tower: schema features (plus an optional extra vector) -> Dense stack -> embedding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfrec.model.config import ModelConfig
from tfrec.model.features.encoder import FeatureEncoder
from tfrec.model.features.specs import FeatureSpec


def batched_apply(function: Callable[[dict[str, np.ndarray]], Any], columns: dict[str, np.ndarray],
                  batch_size: int = 8192) -> np.ndarray:
    """Applies ``function`` to ``{column: array[n]}`` in row batches.

    Returns:
        The batch outputs concatenated along the first axis, ``[n, ...]`` (NumPy).
    """
    n = len(next(iter(columns.values())))
    parts = [np.asarray(function({k: v[start:start + batch_size] for k, v in columns.items()}))
             for start in range(0, n, batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,))


class Tower(tf.keras.layers.Layer):
    """Feature encoder (plus an optional extra vector) -> Dense stack -> ``output_dim``,
    optionally L2-normalized.

    Args:
        specs: Feature specs for the :class:`FeatureEncoder`.
        hidden_layers: Widths of the hidden ReLU layers.
        output_dim: Width of the output embedding.
        dropout: Dropout rate after each hidden layer.
        normalize: L2-normalize the output.
        l2: L2 penalty on embedding tables.
        jit_compile: Compile the Dense stack with XLA (the feature lookups use hash tables,
            which XLA cannot compile, so they stay outside).
        projection: End in a Dense ``output_dim`` layer. Without it (and without hidden
            layers) the tower's output is its input vector, which must be ``output_dim`` wide
            (checked by the model builder): e.g. an item id embedding tied to the history.

    Call args:
        inputs: ``{feature: Tensor[batch]}``.
        extra: ``Tensor[batch, n]`` concatenated after the encoded features (the pooled
            history of the query tower), or ``None``.

    Returns:
        ``Tensor[batch, output_dim]``.
    """

    def __init__(self, specs: Sequence[FeatureSpec | dict[str, Any]], hidden_layers: Sequence[int],
                 output_dim: int, dropout: float = 0.0, normalize: bool = False, l2: float = 0.0,
                 jit_compile: bool = False, projection: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = FeatureEncoder(specs, l2=l2, name="features")
        self.projection = bool(projection)
        self.jit_compile = bool(jit_compile)
        self.hidden_layers = [int(w) for w in hidden_layers]
        self.output_dim = int(output_dim)
        self.dropout = float(dropout)
        self.normalize = bool(normalize)
        self.dense = []
        for i, width in enumerate(self.hidden_layers):
            self.dense.append(tf.keras.layers.Dense(width, activation="relu", name=f"hidden_{i}"))
            if self.dropout > 0:
                self.dense.append(tf.keras.layers.Dropout(self.dropout))
        if self.projection or self.hidden_layers:
            self.dense.append(tf.keras.layers.Dense(self.output_dim, name="output"))
        self._stack = tf.function(self._dense_stack, jit_compile=True) if self.jit_compile else self._dense_stack

    def _dense_stack(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        for layer in self.dense:
            x = layer(x, training=training)
        if self.normalize:
            x = tf.math.l2_normalize(x, axis=-1)
        return x

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False,
             extra: tf.Tensor | None = None) -> tf.Tensor:
        if extra is None:
            x = self.encoder(inputs)
        elif self.encoder.specs:
            x = tf.concat([self.encoder(inputs), extra], axis=-1)
        else:
            x = extra
        return self._stack(x, training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "specs": [spec.to_dict() for spec in self.encoder.specs],
                "hidden_layers": self.hidden_layers, "output_dim": self.output_dim,
                "dropout": self.dropout, "normalize": self.normalize, "l2": self.encoder.l2,
                "jit_compile": self.jit_compile, "projection": self.projection}


def side_tower(config: ModelConfig, specs: Sequence[FeatureSpec], extra: int, name: str) -> Tower:
    """A two-tower side's :class:`Tower`, ``config.embedding_dim`` wide (so that both sides
    dot-multiply), ending in a Dense projection as configured, else (``projection = None``)
    whenever it has hidden layers or its input (``specs`` plus ``extra`` columns) is not
    already ``embedding_dim`` wide."""
    projection = config.projection
    if projection is None:
        projection = bool(config.tower_layers) or sum(s.embedding_dim for s in specs) + extra != config.embedding_dim
    return Tower(specs, config.tower_layers, config.embedding_dim, config.dropout, config.normalize, config.l2,
                 config.jit_compile, projection, name=name)

