"""Training statistics: what the model's preprocessing is fitted on, from any batch source.

:class:`TrainingStats` is fed chunk by chunk by a :class:`~tfrec.data.sources.BatchSource`
scan (one chunk for an in-memory frame, many for streamed files) and counts interactions per
user and item (vocabularies, logQ frequencies, the weights of the feature-table statistics),
the rating mean and the context features' statistics. :class:`FeatureStats` turns one
feature's values into its fitted :class:`~tfrec.model.features.specs.FeatureSpec`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.model.features.encoder import PUNCTUATION
from tfrec.model.features.specs import FeatureSpec
from tfrec.schema import (
    BucketizedFeature,
    CategoricalFeature,
    ContinuousFeature,
    Feature,
    IdType,
    MultiCategoricalFeature,
    Schema,
    TextFeature,
)


def _tokens(feature: Feature, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Splits texts ``[n]`` into tokens as the encoder does.

    Returns:
        ``(tokens [n_tokens], tokens_per_text [n])``: TextVectorization's standardization and
        whitespace split for text features, the separator for multi-categorical ones.
    """
    values = tf.constant(texts.astype(str))
    if isinstance(feature, TextFeature):
        values = tf.strings.regex_replace(tf.strings.lower(values), PUNCTUATION, "")
        ragged = tf.strings.split(values)
    elif isinstance(feature, MultiCategoricalFeature):
        ragged = tf.strings.split(values, sep=feature.separator)
    else:
        raise TypeError(f"{feature.name!r} ({feature.kind}) has no tokens")
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

    def spec(self, default_dim: int) -> FeatureSpec:
        """The feature's fitted preprocessing spec (kind, name, width, vocabulary/statistics)."""
        feature = self.feature
        base = FeatureSpec(feature.kind, feature.name, feature.embedding_dim or default_dim)
        if isinstance(feature, CategoricalFeature):
            if feature.num_hash_bins:
                return replace(base, dtype=feature.dtype, num_hash_bins=feature.num_hash_bins)
            return replace(base, dtype=feature.dtype, vocabulary=tuple(self.vocabulary(feature.max_vocab)))
        if isinstance(feature, ContinuousFeature):
            weight, total, squares = self.moments
            mean = total / weight if weight > 0 else 0.0
            variance = squares / weight - mean * mean if weight > 0 else 1.0
            return replace(base, log=feature.log, mean=float(mean),
                           variance=float(max(variance, 1e-12)), embedding_dim=1)
        if isinstance(feature, BucketizedFeature):
            return replace(base, boundaries=tuple(feature.boundaries))
        if isinstance(feature, TextFeature):
            # TextVectorization's max_tokens counts the padding and OOV tokens too.
            limit = feature.max_tokens - 2 if feature.max_tokens else None
            return replace(base, vocabulary=tuple(self.vocabulary(limit)))
        if not isinstance(feature, MultiCategoricalFeature):  # pragma: no cover - no other kind
            raise TypeError(f"unsupported feature {feature!r}")
        return replace(base, separator=feature.separator, vocabulary=tuple(self.vocabulary()))


def fit_spec(feature: Feature, values: np.ndarray, default_dim: int,
             weights: np.ndarray | None = None) -> FeatureSpec:
    """Computes one feature's preprocessing spec from its training values.

    Args:
        feature: The schema feature.
        values: The feature's training column, shape ``[n]``.
        default_dim: Embedding width when the feature does not set one.
        weights: Optional ``[n]`` weight of each value (e.g. interaction counts per table row).

    Returns:
        The feature's spec: kind, name, embedding_dim and vocabulary/statistics.
    """
    return FeatureStats(feature).add(values, weights).spec(default_dim)


def id_spec(name: str, counts: pd.Series, dtype: IdType, embedding_dim: int,
            hash_bins_above: int | None) -> FeatureSpec:
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
        user_rating_sums: Sum of the ratings of each user id (empty without ratings).
        item_rating_sums: Sum of the ratings of each item id.
        max_abs: Largest finite absolute value of each float column (names a likely cause
            when training diverges).
    """

    def __init__(self, schema: Schema, context_features: tuple[Feature, ...] = ()) -> None:
        self.schema = schema
        self.users = FeatureStats(CategoricalFeature(schema.user_id, dtype=schema.user_id_dtype))
        self.items = FeatureStats(CategoricalFeature(schema.item_id, dtype=schema.item_id_dtype))
        self.context = {f.name: FeatureStats(f) for f in context_features}
        self.rows = 0
        self.rating_sum = 0.0
        self.user_rating_sums = pd.Series(dtype="float64")
        self.item_rating_sums = pd.Series(dtype="float64")
        self.max_abs: dict[str, float] = {}

    def add(self, columns: dict[str, np.ndarray]) -> TrainingStats:
        """Adds a chunk of interaction columns ``{name: array[n]}`` (a
        :class:`~tfrec.data.scan.ChunkSink`)."""
        schema = self.schema
        self.users.add(columns[schema.user_id])
        self.items.add(columns[schema.item_id])
        for name, stats in self.context.items():
            stats.add(columns[name])
        self.rows += len(columns[schema.user_id])
        if schema.rating is not None:
            ratings = pd.Series(np.asarray(columns[schema.rating], dtype=np.float64))
            self.rating_sum += float(ratings.sum())
            self.user_rating_sums = _add_sums(self.user_rating_sums, ratings, columns[schema.user_id])
            self.item_rating_sums = _add_sums(self.item_rating_sums, ratings, columns[schema.item_id])
        for name, values in columns.items():
            if values.dtype.kind == "f" and len(values):
                finite = np.abs(values[np.isfinite(values)])
                largest = float(finite.max()) if len(finite) else 0.0
                self.max_abs[name] = max(self.max_abs.get(name, 0.0), largest)
        return self

    @property
    def mean_rating(self) -> float:
        """Mean training rating (0 without ratings)."""
        return self.rating_sum / self.rows if self.rows and self.schema.rating else 0.0

    def rating_biases(self, shrinkage: float = 10.0) -> tuple[pd.Series, pd.Series]:
        """Each user's and each item's mean deviation from the mean rating, shrunk towards 0 as
        ``sum(r - mean) / (count + shrinkage)`` (one pass: the user's is not net of its items').

        Returns:
            ``(users, items)``: Series of biases indexed by id (empty without ratings).
        """
        mean = self.mean_rating
        biases = []
        for sums, stats in ((self.user_rating_sums, self.users), (self.item_rating_sums, self.items)):
            counts = stats.counts.reindex(sums.index).fillna(0.0)
            biases.append((sums - counts * mean) / (counts + shrinkage))
        return biases[0], biases[1]


def _add_sums(sums: pd.Series, values: pd.Series, keys: np.ndarray) -> pd.Series:
    """``sums`` plus the sums of ``values`` per key of this chunk."""
    chunk = values.groupby(np.asarray(keys), sort=False).sum()
    return chunk if sums.empty else sums.add(chunk, fill_value=0.0)


class SeenPairs:
    """The distinct (user, item) pairs of the training rows, gathered during the scan: what an
    export excludes from each known user's recommendations.

    Args:
        schema: The data schema (names the id columns).
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._users: list[np.ndarray] = []
        self._items: list[np.ndarray] = []

    def add(self, columns: dict[str, np.ndarray]) -> SeenPairs:
        """Adds a chunk of interaction columns (a :class:`~tfrec.data.scan.ChunkSink`)."""
        self._users.append(np.asarray(columns[self.schema.user_id]))
        self._items.append(np.asarray(columns[self.schema.item_id]))
        return self

    def frame(self) -> pd.DataFrame:
        """``[user_id, item_id]`` rows, distinct, sorted by user then item."""
        schema = self.schema
        if not self._users:
            return pd.DataFrame({schema.user_id: [], schema.item_id: []})
        frame = pd.DataFrame({schema.user_id: np.concatenate(self._users),
                              schema.item_id: np.concatenate(self._items)})
        return frame.drop_duplicates().sort_values([schema.user_id, schema.item_id], kind="stable",
                                                   ignore_index=True)
