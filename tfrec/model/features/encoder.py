"""Schema-driven Keras preprocessing: features -> one dense vector per example.

:class:`FeatureEncoder` turns typed :class:`~tfrec.model.features.specs.FeatureSpec` s (fitted on the
training rows only, by :mod:`tfrec.model.features.stats`) into Keras preprocessing layers (lookups,
normalization, discretization, text vectorization, hashing) plus embeddings, and concatenates
their outputs. Because the specs carry the vocabularies, ``get_config`` / ``from_config``
rebuild an identical encoder without the data.

Unseen ids and categories map to the out-of-vocabulary index (0) and its embedding, so an
unknown user, item or category never crashes; missing (NaN) numbers become the training mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfrec.errors import DataError
from tfrec.model.features.specs import FeatureSpec

# TextVectorization's default standardization ("lower_and_strip_punctuation").
PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


class FeatureEncoder(tf.keras.layers.Layer):
    """Encodes a dict of raw feature tensors into one concatenated vector per example.

    Args:
        specs: Typed feature specs (or their dict form, as in a Keras config).
        l2: L2 penalty on every embedding table.

    Call args:
        inputs: ``{name: Tensor[batch]}`` with at least every spec's feature.

    Returns:
        ``Tensor[batch, output_dim]`` (float32).
    """

    def __init__(self, specs: Sequence[FeatureSpec | dict[str, Any]], l2: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.specs = [FeatureSpec.coerce(s) for s in specs]
        self.l2 = float(l2)
        regularizer = tf.keras.regularizers.l2(self.l2) if self.l2 > 0 else None
        self._preprocess: dict[str, Any] = {}
        self._embed: dict[str, tf.keras.layers.Layer] = {}
        for spec in self.specs:
            name, kind, dim = spec.name, spec.kind, spec.embedding_dim
            key = _layer_key(name)
            if kind == "categorical":
                if spec.num_hash_bins:
                    pre = tf.keras.layers.Hashing(spec.num_hash_bins, name=f"{key}_hash")
                    size = spec.num_hash_bins
                else:
                    pre = lookup_layer(spec.dtype or "string", list(spec.vocabulary or ()), f"{key}_lookup")
                    size = len(spec.vocabulary or ()) + 1
                self._embed[name] = tf.keras.layers.Embedding(
                    size, dim, embeddings_regularizer=regularizer, name=f"{key}_embedding")
            elif kind == "continuous":
                pre = tf.keras.layers.Normalization(mean=spec.mean, variance=spec.variance,
                                                    axis=None, name=f"{key}_norm")
            elif kind == "bucketized":
                pre = tf.keras.layers.Discretization(bin_boundaries=list(spec.boundaries or ()),
                                                     name=f"{key}_buckets")
                self._embed[name] = tf.keras.layers.Embedding(
                    len(list(spec.boundaries or ())) + 1, dim, embeddings_regularizer=regularizer,
                    name=f"{key}_embedding")
            elif kind == "text":
                vocabulary = list(spec.vocabulary or ()) or ["[empty]"]
                pre = tf.keras.layers.TextVectorization(vocabulary=vocabulary, name=f"{key}_tokens")
                self._embed[name] = tf.keras.layers.Embedding(
                    len(vocabulary) + 2, dim, mask_zero=True,
                    embeddings_regularizer=regularizer, name=f"{key}_embedding")
            elif kind == "multi_categorical":
                vocabulary = list(spec.vocabulary or ()) or ["[empty]"]
                pre = lookup_layer("string", vocabulary, f"{key}_lookup")
                self._embed[name] = tf.keras.layers.Embedding(
                    len(vocabulary) + 1, dim,
                    embeddings_regularizer=regularizer, name=f"{key}_embedding")
            self._preprocess[name] = pre
        self.output_dim = sum(s.embedding_dim for s in self.specs)

    def id_layers(self, name: str) -> tuple[tf.keras.layers.Layer, tf.keras.layers.Layer]:
        """The (lookup or hashing, embedding) layers of categorical feature ``name``: what
        another layer shares to embed the same ids with the same weights."""
        return self._preprocess[name], self._embed[name]

    @property
    def feature_names(self) -> list[str]:
        """Names of the input features this encoder reads."""
        return [s.name for s in self.specs]

    def call(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        missing = [n for n in self.feature_names if n not in inputs]
        if missing:
            raise DataError(f"{self.name}: missing input feature(s) {missing}; "
                           f"it needs {self.feature_names}")
        parts = []
        for spec in self.specs:
            name, kind = spec.name, spec.kind
            value = inputs[name]
            pre = self._preprocess[name]
            if kind == "categorical":
                value = as_id_dtype(value, spec.dtype or "string")
                parts.append(self._embed[name](pre(value)))
            elif kind == "continuous":
                value = tf.cast(value, tf.float32)
                value = tf.where(tf.math.is_finite(value), value,
                                 tf.constant(float("nan"), tf.float32))
                if spec.log:
                    value = tf.math.log1p(tf.maximum(value, 0.0))
                normalized = pre(value)
                # Missing or non-finite inputs become the training mean (0 after normalizing).
                normalized = tf.where(tf.math.is_nan(normalized), tf.zeros_like(normalized), normalized)
                parts.append(tf.reshape(normalized, [-1, 1]))
            elif kind == "bucketized":
                value = tf.cast(value, tf.float32)
                value = tf.where(tf.math.is_nan(value), tf.fill(tf.shape(value), -np.inf), value)
                parts.append(self._embed[name](pre(value)))
            elif kind == "text":
                tokens = pre(tf.reshape(as_id_dtype(value, "string"), [-1]))
                embedded = self._embed[name](tokens)
                mask = tf.cast(tf.not_equal(tokens, 0), tf.float32)[..., None]
                total = tf.reduce_sum(embedded * mask, axis=1)
                parts.append(total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0))
            else:  # multi_categorical
                tokens = tf.strings.split(as_id_dtype(value, "string"), sep=spec.separator or "|")
                ids = tf.ragged.map_flat_values(pre, tokens)
                embedded = tf.ragged.map_flat_values(self._embed[name], ids)
                nonempty = tf.cast(tf.not_equal(tokens, ""), tf.float32)
                total = tf.reduce_sum(embedded * tf.expand_dims(nonempty, -1), axis=1)
                count = tf.reduce_sum(nonempty, axis=1, keepdims=True)
                parts.append(total.to_tensor() if isinstance(total, tf.RaggedTensor) else total)
                parts[-1] = parts[-1] / tf.maximum(count, 1.0)
        return tf.concat([tf.cast(p, tf.float32) for p in parts], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "specs": [s.to_dict() for s in self.specs], "l2": self.l2}


def _layer_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def lookup_layer(dtype: str, vocabulary: list, name: str) -> tf.keras.layers.Layer:
    """IntegerLookup/StringLookup over ``vocabulary`` with one OOV index (0) and no mask."""
    if dtype == "int":
        return tf.keras.layers.IntegerLookup(vocabulary=np.asarray(vocabulary, dtype=np.int64),
                                             mask_token=None, num_oov_indices=1, name=name)
    return tf.keras.layers.StringLookup(vocabulary=[str(v) for v in vocabulary], mask_token=None,
                                        num_oov_indices=1, name=name)


@dataclasses.dataclass(frozen=True)
class IdIndex:
    """An id column and its vocabulary lookup (the lookup layer is tracked by its owner).

    Attributes:
        column: The id column.
        dtype: ``"int"`` or ``"string"``.
        lookup: Id -> index layer (0: out of vocabulary).
    """

    column: str
    dtype: str
    lookup: tf.keras.layers.Layer

    def rows(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """Index ``[batch]`` of each row's id in the vocabulary (0: unknown)."""
        return self.lookup(as_id_dtype(features[self.column], self.dtype))


def as_id_dtype(value: tf.Tensor, dtype: str) -> tf.Tensor:
    """Casts an id/category tensor to int64 or string as its lookup expects."""
    if dtype == "int":
        if value.dtype == tf.string:
            # Non-numeric strings cannot be known ids: map them to -1, which is out of vocabulary.
            numeric = tf.strings.regex_full_match(value, r"\s*-?[0-9]{1,18}\s*")
            safe = tf.where(numeric, value, tf.fill(tf.shape(value), "-1"))
            return tf.strings.to_number(tf.strings.strip(safe), out_type=tf.int64)
        return tf.cast(value, tf.int64)
    if value.dtype == tf.string:
        return value
    if value.dtype.is_floating:
        value = tf.cast(value, tf.int64)
    return tf.strings.as_string(value)
