"""Declarative feature schema: the single source of truth the towers are built from.

A :class:`Schema` names the interaction columns (user id, item id, optional rating, timestamp
and weight) and lists typed features for each side (user, item, optionally context). It
round-trips through JSON::

    schema = Schema.from_json(path.read_text())
    assert Schema.from_json(schema.to_json()) == schema

Feature types:
    * :class:`CategoricalFeature` -- one value per row, string or integer (lookup + embedding).
    * :class:`ContinuousFeature` -- a real number (normalized).
    * :class:`BucketizedFeature` -- a real number cut at ``boundaries`` (discretize + embedding).
    * :class:`TextFeature` -- free text (tokenized, pooled word embeddings).
    * :class:`MultiCategoricalFeature` -- several categories in one ``separator``-joined string
      (pooled embeddings), e.g. ``"Action|Comedy"``.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from tfrec.errors import SchemaError

IdType = Literal["int", "string"]


@dataclasses.dataclass(frozen=True)
class Feature:
    """Base of every feature type.

    Args:
        name: Column name in the user, item or interaction table.
        embedding_dim: Width of this feature's embedding; ``None`` lets the model choose.
    """

    name: str
    embedding_dim: int | None = None
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError(f"feature name must be a non-empty string, got {self.name!r}")
        if self.embedding_dim is not None and (
            not isinstance(self.embedding_dim, int) or self.embedding_dim <= 0
        ):
            raise SchemaError(
                f"feature {self.name!r}: embedding_dim must be a positive integer, "
                f"got {self.embedding_dim!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON-ready form, with a ``type`` key naming the feature kind."""
        out: dict[str, Any] = {"type": self.kind}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclasses.dataclass(frozen=True)
class CategoricalFeature(Feature):
    """One category per row.

    Args:
        dtype: ``"string"`` (StringLookup) or ``"int"`` (IntegerLookup).
        num_hash_bins: Hash into this many bins instead of learning a vocabulary (huge spaces).
        max_vocab: Keep at most this many most frequent values; rarer ones map to OOV.
    """

    dtype: IdType = "string"
    num_hash_bins: int | None = None
    max_vocab: int | None = None
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dtype(self.name, self.dtype)
        _check_positive(self.name, "num_hash_bins", self.num_hash_bins)
        _check_positive(self.name, "max_vocab", self.max_vocab)


@dataclasses.dataclass(frozen=True)
class ContinuousFeature(Feature):
    """A real-valued feature, standardized with statistics of the training split.

    Args:
        log: Apply ``log1p`` before standardizing (heavy-tailed values such as prices).
    """

    log: bool = False
    kind: ClassVar[str] = "continuous"


@dataclasses.dataclass(frozen=True)
class BucketizedFeature(Feature):
    """A real-valued feature cut into buckets at fixed, strictly increasing ``boundaries``."""

    boundaries: tuple[float, ...] = ()
    kind: ClassVar[str] = "bucketized"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.boundaries, (list, tuple)) or any(
            isinstance(b, bool) or not isinstance(b, (int, float)) for b in self.boundaries
        ):
            raise SchemaError(
                f"bucketized feature {self.name!r}: boundaries must be a list of numbers, "
                f"got {self.boundaries!r}"
            )
        bounds = tuple(float(b) for b in self.boundaries)
        object.__setattr__(self, "boundaries", bounds)
        if not bounds:
            raise SchemaError(
                f"bucketized feature {self.name!r} needs at least one boundary, "
                "e.g. boundaries=[18, 25, 35, 45, 55]"
            )
        if any(not lo < hi for lo, hi in zip(bounds, bounds[1:])) or any(b != b for b in bounds):
            raise SchemaError(
                f"bucketized feature {self.name!r}: boundaries must increase strictly, "
                f"got {list(bounds)}"
            )


@dataclasses.dataclass(frozen=True)
class TextFeature(Feature):
    """Free text, tokenized on whitespace/punctuation and embedded as a bag of words.

    Args:
        max_tokens: Vocabulary size (most frequent tokens of the training split).
    """

    max_tokens: int = 10_000
    kind: ClassVar[str] = "text"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive(self.name, "max_tokens", self.max_tokens)


@dataclasses.dataclass(frozen=True)
class MultiCategoricalFeature(Feature):
    """Several categories per row, stored as one string joined by ``separator``."""

    separator: str = "|"
    kind: ClassVar[str] = "multi_categorical"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.separator, str) or not self.separator:
            raise SchemaError(
                f"multi-categorical feature {self.name!r} needs a non-empty separator"
            )


FEATURE_TYPES: dict[str, type[Feature]] = {
    cls.kind: cls
    for cls in (
        CategoricalFeature,
        ContinuousFeature,
        BucketizedFeature,
        TextFeature,
        MultiCategoricalFeature,
    )
}


def _check_dtype(name: str, dtype: object) -> None:
    if dtype not in ("int", "string"):
        raise SchemaError(f"{name!r}: dtype must be 'int' or 'string', got {dtype!r}")


def _check_positive(name: str, field: str, value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
        raise SchemaError(f"{name!r}: {field} must be a positive integer, got {value!r}")


def feature_from_dict(data: dict[str, Any]) -> Feature:
    """Builds a feature from its JSON form.

    Raises:
        SchemaError: The ``type`` is unknown or a field is missing, unknown or invalid.
    """
    if not isinstance(data, dict):
        raise SchemaError(f"a feature must be a JSON object, got {data!r}")
    data = dict(data)
    kind = data.pop("type", None)
    cls = FEATURE_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise SchemaError(
            f"unknown feature type {kind!r} in {data!r}; use one of {sorted(FEATURE_TYPES)}"
        )
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SchemaError(
            f"feature {data.get('name')!r} of type {kind!r}: unknown field(s) {unknown}; "
            f"allowed: {sorted(known)}"
        )
    if isinstance(data.get("boundaries"), list):
        data["boundaries"] = tuple(data["boundaries"])
    try:
        return cls(**data)
    except TypeError as exc:
        raise SchemaError(f"feature {data!r} of type {kind!r}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Schema:
    """Names the interaction columns and the typed features of each side.

    Args:
        user_id: User id column (in interactions and in the user feature table).
        item_id: Item id column (in interactions and in the item feature table).
        rating: Explicit rating column, or ``None`` for implicit feedback.
        timestamp: Interaction time column (seconds since the epoch), or ``None``.
        weight: Optional weight column for implicit events.
        user_id_dtype: ``"int"`` or ``"string"``.
        item_id_dtype: ``"int"`` or ``"string"``.
        rating_scale: ``(low, high)`` of explicit ratings; values outside are rejected.
        user_features: Features of the user table (query tower).
        item_features: Features of the item table (candidate tower).
        context_features: Features stored on each interaction row (query tower).
        item_title: Column shown to people when listing items (e.g. ``"title"``), if any.
    """

    user_id: str = "user_id"
    item_id: str = "item_id"
    rating: str | None = "rating"
    timestamp: str | None = None
    weight: str | None = None
    user_id_dtype: IdType = "int"
    item_id_dtype: IdType = "int"
    rating_scale: tuple[float, float] | None = (1.0, 5.0)
    user_features: tuple[Feature, ...] = ()
    item_features: tuple[Feature, ...] = ()
    context_features: tuple[Feature, ...] = ()
    item_title: str | None = None

    def __post_init__(self) -> None:
        for side in ("user_features", "item_features", "context_features"):
            features = tuple(getattr(self, side))
            for feature in features:
                if not isinstance(feature, Feature):
                    raise SchemaError(f"{side} must hold Feature objects, got {feature!r}")
            object.__setattr__(self, side, features)
        for field in ("user_id", "item_id"):
            if not isinstance(getattr(self, field), str) or not getattr(self, field):
                raise SchemaError(f"schema {field} must name a column, got {getattr(self, field)!r}")
        _check_dtype("user_id_dtype", self.user_id_dtype)
        _check_dtype("item_id_dtype", self.item_id_dtype)
        if self.rating_scale is not None:
            scale = tuple(float(v) for v in self.rating_scale)
            if len(scale) != 2 or not scale[0] < scale[1]:
                raise SchemaError(
                    f"rating_scale must be [low, high] with low < high, got {self.rating_scale!r}"
                )
            object.__setattr__(self, "rating_scale", scale)
        names = [f.name for f in self.all_features]
        taken = {self.user_id, self.item_id} | {
            c for c in (self.rating, self.timestamp, self.weight) if c
        }
        clashes = sorted({n for n in names if names.count(n) > 1} | (set(names) & taken))
        if clashes:
            raise SchemaError(
                f"feature names must be unique and differ from the id/rating/timestamp columns; "
                f"clashing: {clashes}"
            )

    @property
    def all_features(self) -> tuple[Feature, ...]:
        """User, item and context features, in that order."""
        return self.user_features + self.item_features + self.context_features

    @property
    def is_explicit(self) -> bool:
        """Whether interactions carry an explicit rating."""
        return self.rating is not None

    def interaction_columns(self) -> list[str]:
        """Columns an interaction table must have."""
        cols = [self.user_id, self.item_id]
        cols += [c for c in (self.rating, self.timestamp, self.weight) if c]
        cols += [f.name for f in self.context_features]
        return cols

    def replace(self, **changes: Any) -> Schema:
        """Returns a copy with ``changes`` applied (the schema is frozen)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON-ready form."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_features"):
                value = [f.to_dict() for f in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """Serializes the schema to JSON."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Builds a schema from its JSON-ready form.

        Raises:
            SchemaError: Unknown keys, unknown feature types or invalid values.
        """
        if not isinstance(data, dict):
            raise SchemaError(f"a schema must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SchemaError(f"unknown schema key(s) {unknown}; allowed: {sorted(known)}")
        kwargs = dict(data)
        for side in ("user_features", "item_features", "context_features"):
            if side in kwargs:
                if not isinstance(kwargs[side], list):
                    raise SchemaError(f"{side} must be a list of features")
                kwargs[side] = tuple(feature_from_dict(f) for f in kwargs[side])
        if kwargs.get("rating_scale") is not None:
            if not isinstance(kwargs["rating_scale"], (list, tuple)):
                raise SchemaError(f"rating_scale must be [low, high], got {kwargs['rating_scale']!r}")
            kwargs["rating_scale"] = tuple(kwargs["rating_scale"])
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"invalid schema: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Schema:
        """Parses a schema from JSON text.

        Raises:
            SchemaError: The text is not JSON or does not describe a valid schema.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(
                f"schema is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from None
        return cls.from_dict(data)


def input_dtype(kind: str, dtype: str | None = None) -> str:
    """The tensor dtype a feature (or, with kind ``categorical``, an id) is fed to TensorFlow as.

    This module is the one place that maps schema types to dtypes: tensors
    (:func:`input_dtype`), NumPy arrays (:func:`as_input_array`) and file readers
    (:func:`reader_type`) all derive from it.

    Args:
        kind: The feature kind (``Feature.kind`` or a spec's ``kind``).
        dtype: A categorical feature's or id's ``"int"``/``"string"``.

    Returns:
        ``float32`` for continuous and bucketized values, ``int64`` for integer categories and
        ids, ``string`` for everything else.
    """
    if kind in ("continuous", "bucketized"):
        return "float32"
    return "int64" if kind == "categorical" and dtype == "int" else "string"


def feature_dtype(feature: Feature) -> str:
    """The tensor dtype of a schema feature (see :func:`input_dtype`)."""
    return input_dtype(feature.kind, getattr(feature, "dtype", None))


def id_dtype(id_type: str) -> str:
    """The tensor dtype of a user or item id column of type ``"int"``/``"string"``."""
    return input_dtype("categorical", id_type)


def reader_type(feature: Feature) -> str:
    """How a file reader types a feature's column: ``int``, ``float`` or ``string``."""
    return {"int64": "int", "float32": "float", "string": "string"}[feature_dtype(feature)]


def array_dtype(kind: str) -> str:
    """The input dtype of a NumPy/pandas array by its dtype kind (``i``, ``f``, ``O``...):
    integers -> ``int64``, floats and booleans -> ``float32``, anything else -> ``string``."""
    if kind in "iu":
        return "int64"
    return "float32" if kind in "fb" else "string"


def as_input_array(values: Any, dtype: str | None = None) -> np.ndarray:
    """Converts a column (pandas Series or array) to the NumPy array fed to TensorFlow.

    Args:
        values: ``[n]`` values.
        dtype: ``int64``, ``float32`` or ``string``; ``None``: from the values' own kind.

    Returns:
        ``int64``/``float32`` arrays, or ``object`` arrays of ``str`` for strings.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    dtype = dtype or array_dtype(series.dtype.kind)
    if dtype == "int64":
        return series.to_numpy(dtype=np.int64)
    if dtype == "float32":
        return series.to_numpy(dtype=np.float32)
    return series.astype(str).to_numpy(dtype=object)


BUILTIN_SCHEMAS = ("synthetic", "ml-100k", "ml-1m", "ml-latest", "ml-latest-small")


def builtin_schema(name: str) -> Schema:
    """Returns a ready-made schema shipped with tfrec.

    Args:
        name: One of :data:`BUILTIN_SCHEMAS`.

    Raises:
        SchemaError: ``name`` is not a shipped schema.
    """
    if name not in BUILTIN_SCHEMAS:
        raise SchemaError(f"no built-in schema {name!r}; choose one of {list(BUILTIN_SCHEMAS)}")
    text = resources.files("tfrec").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return Schema.from_json(text)
