"""Typed features of a schema: categorical, continuous, bucketized, text, multi-categorical."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, ClassVar, Literal

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
        check_id_type(self.name, self.dtype)
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
        if any(not lo < hi for lo, hi in itertools.pairwise(bounds)) or any(b != b for b in bounds):
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


def check_id_type(name: str, dtype: object) -> None:
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
    cls = FEATURE_TYPES.get(str(kind))
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
