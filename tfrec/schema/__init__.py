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
from typing import Any

from tfrec.errors import SchemaError
from tfrec.schema.dtypes import (
    array_dtype,
    as_input_array,
    feature_dtype,
    id_dtype,
    input_dtype,
    reader_type,
)
from tfrec.schema.features import (
    BucketizedFeature,
    CategoricalFeature,
    ContinuousFeature,
    Feature,
    IdType,
    MultiCategoricalFeature,
    TextFeature,
    check_id_type,
    feature_from_dict,
)
from tfrec.textio import parse_json


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
        if self.user_id == self.item_id:
            raise SchemaError(f"user_id and item_id name the same column {self.user_id!r}; "
                              "interactions need a user column and a different item column")
        columns = [c for c in (self.rating, self.timestamp, self.weight) if c]
        if len(set(columns)) < len(columns) or set(columns) & {self.user_id, self.item_id}:
            raise SchemaError(f"rating, timestamp and weight must name distinct columns, other than the "
                              f"ids; got rating={self.rating!r}, timestamp={self.timestamp!r}, "
                              f"weight={self.weight!r}")
        check_id_type("user_id_dtype", self.user_id_dtype)
        check_id_type("item_id_dtype", self.item_id_dtype)
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
        return cls.from_dict(parse_json(text, SchemaError, "schema"))


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


__all__ = ["BUILTIN_SCHEMAS", "BucketizedFeature", "CategoricalFeature", "ContinuousFeature",
           "Feature", "IdType", "MultiCategoricalFeature", "Schema", "TextFeature", "array_dtype",
           "as_input_array", "builtin_schema", "feature_dtype", "feature_from_dict", "id_dtype",
           "input_dtype", "reader_type"]
