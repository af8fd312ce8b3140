"""Schema-driven Keras preprocessing: features -> one dense vector per example.

:func:`fit_specs` computes vocabularies and statistics from the **training split only** and
returns plain, JSON-ready specs; :class:`FeatureEncoder` turns specs into Keras preprocessing
layers (lookups, normalization, discretization, text vectorization, hashing) plus embeddings,
and concatenates their outputs. Because the specs carry the vocabularies, ``get_config`` /
``from_config`` rebuild an identical encoder without the data.

Unseen ids and categories map to the out-of-vocabulary index (0) and its embedding, so an
unknown user, item or category never crashes; missing (NaN) numbers become the training mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.schema import (
    BucketizedFeature,
    CategoricalFeature,
    ContinuousFeature,
    Feature,
    MultiCategoricalFeature,
    TextFeature,
)


def _vocabulary(values: np.ndarray, max_size: int | None) -> list:
    """Distinct values by descending frequency (ties by value): deterministic order."""
    counts = pd.Series(values).value_counts(sort=False)
    frame = pd.DataFrame({"value": counts.index, "count": counts.to_numpy()})
    frame = frame.sort_values(["count", "value"], ascending=[False, True], kind="stable")
    vocab = frame["value"].tolist()[:max_size] if max_size else frame["value"].tolist()
    return [v if isinstance(v, str) else int(v) for v in vocab]


def id_spec(name: str, values: np.ndarray, dtype: str, embedding_dim: int,
            hash_bins_above: int | None) -> dict[str, Any]:
    """Spec of a user or item id embedding, hashed when the vocabulary is huge."""
    feature = CategoricalFeature(name, embedding_dim, dtype)
    if hash_bins_above is not None and len(np.unique(values)) > hash_bins_above:
        feature = CategoricalFeature(name, embedding_dim, dtype, num_hash_bins=hash_bins_above)
    return fit_spec(feature, values, embedding_dim)


def fit_spec(feature: Feature, values: np.ndarray, default_dim: int) -> dict[str, Any]:
    """Computes one feature's preprocessing spec from its training values.

    Args:
        feature: The schema feature.
        values: The feature's training column, shape ``[n]``.
        default_dim: Embedding width when the feature does not set one.

    Returns:
        A JSON-ready dict: kind, name, embedding_dim and vocabulary/statistics.
    """
    spec: dict[str, Any] = {"kind": feature.kind, "name": feature.name,
                            "embedding_dim": feature.embedding_dim or default_dim}
    if isinstance(feature, CategoricalFeature):
        spec["dtype"] = feature.dtype
        if feature.num_hash_bins:
            spec["num_hash_bins"] = feature.num_hash_bins
        else:
            if feature.dtype == "string":
                values = np.asarray(values).astype(str)
            spec["vocabulary"] = _vocabulary(values, feature.max_vocab)
    elif isinstance(feature, ContinuousFeature):
        x = np.asarray(values, dtype=np.float64)
        x = np.log1p(np.maximum(x, 0)) if feature.log else x
        spec.update(log=feature.log, mean=float(np.nanmean(x)), variance=float(max(np.nanvar(x), 1e-12)))
        spec["embedding_dim"] = 1
    elif isinstance(feature, BucketizedFeature):
        spec["boundaries"] = list(feature.boundaries)
    elif isinstance(feature, TextFeature):
        layer = tf.keras.layers.TextVectorization(max_tokens=feature.max_tokens)
        layer.adapt(np.asarray(values).astype(str), batch_size=4096)
        spec["vocabulary"] = [t for t in layer.get_vocabulary() if t not in ("", "[UNK]")]
    elif isinstance(feature, MultiCategoricalFeature):
        tokens = pd.Series(np.asarray(values).astype(str)).str.split(feature.separator, regex=False).explode()
        spec.update(separator=feature.separator, vocabulary=_vocabulary(tokens[tokens != ""].to_numpy(), None))
    else:  # pragma: no cover - the schema rejects other kinds
        raise TypeError(f"unsupported feature {feature!r}")
    return spec


class FeatureEncoder(tf.keras.layers.Layer):
    """Encodes a dict of raw feature tensors into one concatenated vector per example.

    Args:
        specs: Feature specs from :func:`fit_spec` / :func:`id_spec`.
        l2: L2 penalty on every embedding table.

    Call args:
        inputs: ``{name: Tensor[batch]}`` with at least every spec's feature.

    Returns:
        ``Tensor[batch, output_dim]`` (float32).
    """

    def __init__(self, specs: list[dict[str, Any]], l2: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.specs = [dict(s) for s in specs]
        self.l2 = float(l2)
        regularizer = tf.keras.regularizers.l2(self.l2) if self.l2 > 0 else None
        self._preprocess: dict[str, Any] = {}
        self._embed: dict[str, tf.keras.layers.Layer] = {}
        for spec in self.specs:
            name, kind, dim = spec["name"], spec["kind"], spec["embedding_dim"]
            key = _layer_key(name)
            if kind == "categorical":
                if "num_hash_bins" in spec:
                    pre = tf.keras.layers.Hashing(spec["num_hash_bins"], name=f"{key}_hash")
                    size = spec["num_hash_bins"]
                else:
                    pre = _lookup(spec["dtype"], spec["vocabulary"], f"{key}_lookup")
                    size = len(spec["vocabulary"]) + 1
                self._embed[name] = tf.keras.layers.Embedding(
                    size, dim, embeddings_regularizer=regularizer, name=f"{key}_embedding")
            elif kind == "continuous":
                pre = tf.keras.layers.Normalization(mean=spec["mean"], variance=spec["variance"],
                                                    axis=None, name=f"{key}_norm")
            elif kind == "bucketized":
                pre = tf.keras.layers.Discretization(bin_boundaries=spec["boundaries"],
                                                     name=f"{key}_buckets")
                self._embed[name] = tf.keras.layers.Embedding(
                    len(spec["boundaries"]) + 1, dim, embeddings_regularizer=regularizer,
                    name=f"{key}_embedding")
            elif kind == "text":
                pre = tf.keras.layers.TextVectorization(
                    vocabulary=spec["vocabulary"] or ["[empty]"], name=f"{key}_tokens")
                self._embed[name] = tf.keras.layers.Embedding(
                    len(spec["vocabulary"] or ["[empty]"]) + 2, dim, mask_zero=True,
                    embeddings_regularizer=regularizer, name=f"{key}_embedding")
            elif kind == "multi_categorical":
                pre = _lookup("string", spec["vocabulary"] or ["[empty]"], f"{key}_lookup")
                self._embed[name] = tf.keras.layers.Embedding(
                    len(spec["vocabulary"] or ["[empty]"]) + 1, dim,
                    embeddings_regularizer=regularizer, name=f"{key}_embedding")
            else:
                raise ValueError(f"unknown feature kind {kind!r} in spec {name!r}")
            self._preprocess[name] = pre
        self.output_dim = sum(s["embedding_dim"] for s in self.specs)

    @property
    def feature_names(self) -> list[str]:
        """Names of the input features this encoder reads."""
        return [s["name"] for s in self.specs]

    def call(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        missing = [n for n in self.feature_names if n not in inputs]
        if missing:
            raise KeyError(f"{self.name}: missing input feature(s) {missing}; "
                           f"it needs {self.feature_names}")
        parts = []
        for spec in self.specs:
            name, kind = spec["name"], spec["kind"]
            value = inputs[name]
            pre = self._preprocess[name]
            if kind == "categorical":
                value = _as_dtype(value, spec["dtype"])
                parts.append(self._embed[name](pre(value)))
            elif kind == "continuous":
                value = tf.cast(value, tf.float32)
                value = tf.where(tf.math.is_finite(value), value,
                                 tf.constant(float("nan"), tf.float32))
                if spec.get("log"):
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
                tokens = pre(tf.reshape(_as_dtype(value, "string"), [-1]))
                embedded = self._embed[name](tokens)
                mask = tf.cast(tf.not_equal(tokens, 0), tf.float32)[..., None]
                total = tf.reduce_sum(embedded * mask, axis=1)
                parts.append(total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0))
            else:  # multi_categorical
                tokens = tf.strings.split(_as_dtype(value, "string"), sep=spec["separator"])
                ids = tf.ragged.map_flat_values(pre, tokens)
                embedded = tf.ragged.map_flat_values(self._embed[name], ids)
                nonempty = tf.cast(tf.not_equal(tokens, ""), tf.float32)
                total = tf.reduce_sum(embedded * tf.expand_dims(nonempty, -1), axis=1)
                count = tf.reduce_sum(nonempty, axis=1, keepdims=True)
                parts.append(total.to_tensor() if isinstance(total, tf.RaggedTensor) else total)
                parts[-1] = parts[-1] / tf.maximum(count, 1.0)
        return tf.concat([tf.cast(p, tf.float32) for p in parts], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "specs": plain(self.specs), "l2": self.l2}


def spec_dtype(spec: dict[str, Any]) -> str:
    """The input dtype a spec's feature is fed as: ``float32``, ``int64`` or ``string``."""
    if spec["kind"] in ("continuous", "bucketized"):
        return "float32"
    if spec["kind"] == "categorical" and spec["dtype"] == "int":
        return "int64"
    return "string"


def plain(value: Any) -> Any:
    """Copies Keras-tracked containers (ListWrapper, _DictWrapper) into plain lists/dicts."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListWrapper":
        return [plain(v) for v in value]
    return value


def _layer_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def _lookup(dtype: str, vocabulary: list, name: str) -> tf.keras.layers.Layer:
    if dtype == "int":
        return tf.keras.layers.IntegerLookup(vocabulary=np.asarray(vocabulary, dtype=np.int64),
                                             mask_token=None, num_oov_indices=1, name=name)
    return tf.keras.layers.StringLookup(vocabulary=[str(v) for v in vocabulary], mask_token=None,
                                        num_oov_indices=1, name=name)


def _as_dtype(value: tf.Tensor, dtype: str) -> tf.Tensor:
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
