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
    input_dtype,
)

# TextVectorization's default standardization ("lower_and_strip_punctuation").
_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


def _tokens(feature: Feature, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Splits texts ``[n]`` into tokens as the encoder does.

    Returns:
        ``(tokens [n_tokens], tokens_per_text [n])``: TextVectorization's standardization and
        whitespace split for text features, the separator for multi-categorical ones.
    """
    values = tf.constant(texts.astype(str))
    if isinstance(feature, TextFeature):
        values = tf.strings.regex_replace(tf.strings.lower(values), _PUNCTUATION, "")
        ragged = tf.strings.split(values)
    else:
        ragged = tf.strings.split(values, sep=feature.separator)
    tokens = np.asarray([t.decode("utf-8") for t in ragged.flat_values.numpy()], dtype=object)
    keep = tokens != ""
    rows = np.repeat(np.arange(len(texts)), ragged.row_lengths().numpy())
    return tokens[keep], np.bincount(rows[keep], minlength=len(texts))


class FeatureStats:
    """Accumulates what one feature's spec needs, over one or many chunks of values.

    Weights let a feature-table column stand for the interactions that join onto it: the
    values of a user (item) table weighted by each user's (item's) interaction count give the
    same vocabulary and statistics as the joined interaction column, without the join.

    Args:
        feature: The schema feature.
    """

    def __init__(self, feature: Feature) -> None:
        self.feature = feature
        self.counts = pd.Series(dtype="float64")  # value/token -> summed weight
        self.moments = np.zeros(3)  # [weight, weighted sum, weighted sum of squares]

    def add(self, values: np.ndarray, weights: np.ndarray | None = None) -> FeatureStats:
        """Adds a chunk of values ``[n]`` with optional non-negative weights ``[n]``."""
        feature = self.feature
        values = np.asarray(values)
        weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
        if isinstance(feature, ContinuousFeature):
            x = values.astype(np.float64)
            x = np.log1p(np.maximum(x, 0)) if feature.log else x
            ok = np.isfinite(x) & (weights > 0)
            x, w = x[ok], weights[ok]
            self.moments += [w.sum(), (w * x).sum(), (w * x * x).sum()]
            return self
        if isinstance(feature, BucketizedFeature) or getattr(feature, "num_hash_bins", None):
            return self
        if isinstance(feature, CategoricalFeature):
            tokens = values.astype(str) if feature.dtype == "string" else values
            token_weights = weights
        else:  # text and multi_categorical: weighted counts of the tokens of each value
            tokens, lengths = _tokens(feature, values)
            token_weights = np.repeat(weights, lengths)
        chunk = pd.Series(token_weights).groupby(pd.Series(tokens).to_numpy(), sort=False).sum()
        self.counts = chunk if self.counts.empty else self.counts.add(chunk, fill_value=0)
        return self

    def vocabulary(self, max_size: int | None = None) -> list:
        """Values seen with positive weight, by descending weight (ties by value)."""
        counts = self.counts[self.counts > 0]
        frame = pd.DataFrame({"value": counts.index, "count": counts.to_numpy()})
        frame = frame.sort_values(["count", "value"], ascending=[False, True], kind="stable")
        vocab = frame["value"].tolist()
        vocab = vocab[:max_size] if max_size else vocab
        return [v if isinstance(v, str) else int(v) for v in vocab]

    def spec(self, default_dim: int) -> dict[str, Any]:
        """The feature's preprocessing spec: kind, name, embedding_dim and vocabulary/statistics.

        Returns:
            A JSON-ready dict that :class:`FeatureEncoder` turns into layers.
        """
        feature = self.feature
        spec: dict[str, Any] = {"kind": feature.kind, "name": feature.name,
                                "embedding_dim": feature.embedding_dim or default_dim}
        if isinstance(feature, CategoricalFeature):
            spec["dtype"] = feature.dtype
            if feature.num_hash_bins:
                spec["num_hash_bins"] = feature.num_hash_bins
            else:
                spec["vocabulary"] = self.vocabulary(feature.max_vocab)
        elif isinstance(feature, ContinuousFeature):
            weight, total, squares = self.moments
            mean = total / weight if weight > 0 else 0.0
            variance = squares / weight - mean * mean if weight > 0 else 1.0
            spec.update(log=feature.log, mean=float(mean), variance=float(max(variance, 1e-12)),
                        embedding_dim=1)
        elif isinstance(feature, BucketizedFeature):
            spec["boundaries"] = list(feature.boundaries)
        elif isinstance(feature, TextFeature):
            # TextVectorization's max_tokens counts the padding and OOV tokens too.
            limit = feature.max_tokens - 2 if feature.max_tokens else None
            spec["vocabulary"] = self.vocabulary(limit)
        elif isinstance(feature, MultiCategoricalFeature):
            spec.update(separator=feature.separator, vocabulary=self.vocabulary())
        else:  # pragma: no cover - the schema rejects other kinds
            raise TypeError(f"unsupported feature {feature!r}")
        return spec


def fit_spec(feature: Feature, values: np.ndarray, default_dim: int,
             weights: np.ndarray | None = None) -> dict[str, Any]:
    """Computes one feature's preprocessing spec from its training values.

    Args:
        feature: The schema feature.
        values: The feature's training column, shape ``[n]``.
        default_dim: Embedding width when the feature does not set one.
        weights: Optional ``[n]`` weight of each value (e.g. interaction counts per table row).

    Returns:
        A JSON-ready dict: kind, name, embedding_dim and vocabulary/statistics.
    """
    return FeatureStats(feature).add(values, weights).spec(default_dim)


def id_spec(name: str, counts: pd.Series, dtype: str, embedding_dim: int,
            hash_bins_above: int | None) -> dict[str, Any]:
    """Spec of a user or item id embedding from training counts per id, hashed when the
    vocabulary has more than ``hash_bins_above`` ids.

    Args:
        name: The id column.
        counts: Interactions per id (index: raw ids).
        dtype: ``"int"`` or ``"string"``.
        embedding_dim: Id embedding width.
        hash_bins_above: Hash into this many bins above this many distinct ids (``None``: never).
    """
    feature = CategoricalFeature(name, embedding_dim, dtype)
    if hash_bins_above is not None and len(counts) > hash_bins_above:
        feature = CategoricalFeature(name, embedding_dim, dtype, num_hash_bins=hash_bins_above)
    return fit_spec(feature, counts.index.to_numpy(), embedding_dim, counts.to_numpy())


class TrainingStats:
    """Counts and statistics of the training interactions that building a model needs.

    Filled chunk by chunk (:meth:`add`), so an in-memory frame (one chunk) and a stream of
    files (many chunks) go through the same code.

    Args:
        schema: The data schema.
        context_features: The context features the model reads.

    Attributes:
        users: Interactions per user id (:class:`FeatureStats` of the id).
        items: Interactions per item id.
        context: Statistics of each context feature.
        rows: Interactions added.
        rating_sum: Sum of the ratings added (0 without a rating column).
    """

    def __init__(self, schema, context_features: tuple[Feature, ...] = ()) -> None:
        self.schema = schema
        self.users = FeatureStats(CategoricalFeature(schema.user_id, dtype=schema.user_id_dtype))
        self.items = FeatureStats(CategoricalFeature(schema.item_id, dtype=schema.item_id_dtype))
        self.context = {f.name: FeatureStats(f) for f in context_features}
        self.rows = 0
        self.rating_sum = 0.0

    def add(self, columns: dict[str, np.ndarray]) -> TrainingStats:
        """Adds a chunk of interaction columns ``{name: array[n]}``."""
        schema = self.schema
        self.users.add(columns[schema.user_id])
        self.items.add(columns[schema.item_id])
        for name, stats in self.context.items():
            stats.add(columns[name])
        self.rows += len(columns[schema.user_id])
        if schema.rating is not None:
            self.rating_sum += float(np.sum(columns[schema.rating], dtype=np.float64))
        return self

    @property
    def mean_rating(self) -> float:
        """Mean training rating (0 without ratings)."""
        return self.rating_sum / self.rows if self.rows and self.schema.rating else 0.0


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
    return input_dtype(spec["kind"], spec.get("dtype"))


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
