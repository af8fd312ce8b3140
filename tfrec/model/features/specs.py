"""Typed feature specs: what one feature's preprocessing layers are built from.

A :class:`FeatureSpec` carries a feature's kind, width and the vocabulary or statistics fitted
on the training rows (:mod:`tfrec.model.features.stats`). It round-trips through JSON
(:meth:`FeatureSpec.to_dict` / :meth:`FeatureSpec.from_dict`), which is how a saved model
rebuilds identical preprocessing without the data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfrec.errors import ConfigError
from tfrec.schema import input_dtype

KINDS = ("categorical", "continuous", "bucketized", "text", "multi_categorical")


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """One feature's fitted preprocessing.

    Attributes:
        kind: ``categorical``, ``continuous``, ``bucketized``, ``text`` or ``multi_categorical``.
        name: The input column.
        embedding_dim: Output width (1 for continuous features).
        dtype: ``"int"``/``"string"`` of a categorical feature or id.
        vocabulary: Known values/tokens, most frequent first (categorical without hashing,
            text, multi-categorical).
        num_hash_bins: Hash bins of a hashed categorical feature.
        mean: Training mean of a continuous feature (after ``log``).
        variance: Training variance of a continuous feature.
        log: ``log1p`` a continuous feature before normalizing.
        boundaries: Bucket boundaries of a bucketized feature.
        separator: Separator of a multi-categorical feature.
    """

    kind: str
    name: str
    embedding_dim: int
    dtype: str | None = None
    vocabulary: tuple[Any, ...] | None = None
    num_hash_bins: int | None = None
    mean: float | None = None
    variance: float | None = None
    log: bool = False
    boundaries: tuple[float, ...] | None = None
    separator: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown feature kind {self.kind!r} in spec {self.name!r}; "
                              f"use one of {list(KINDS)}")
        for name in ("vocabulary", "boundaries"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def input_dtype(self) -> str:
        """The tensor dtype this feature is fed as (``float32``, ``int64`` or ``string``)."""
        return input_dtype(self.kind, self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (fields left at ``None`` are omitted)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or (field.name == "log" and not value and self.kind != "continuous"):
                continue
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Builds a spec from :meth:`to_dict`'s form.

        Raises:
            ConfigError: Unknown keys or kind.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"feature spec {data.get('name')!r} has unknown key(s) {unknown}")
        return cls(**dict(data))

    @classmethod
    def coerce(cls, value: FeatureSpec | dict[str, Any]) -> FeatureSpec:
        """A spec from a spec or its dict form (Keras configs hold the dict form)."""
        return value if isinstance(value, FeatureSpec) else cls.from_dict(_plain(value))


def _plain(value: Any) -> Any:
    """Copies Keras-tracked containers (ListWrapper, _DictWrapper) into plain lists/dicts."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListWrapper":
        return [_plain(v) for v in value]
    return value


plain = _plain
