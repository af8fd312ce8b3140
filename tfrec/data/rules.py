"""The invalid-row rules of interaction data, written once and read by both back-ends.

:func:`row_rules` turns a schema into a table of :class:`RowRule`; the pandas loader
(:func:`tfrec.data.validate.clean_interactions`) evaluates it with :func:`frame_mask` and the
streaming reader (:mod:`tfrec.data.scan`, :mod:`tfrec.data.pipeline`) with
:func:`tensor_mask`. A rule is one of:

* ``id``: the id is missing or empty;
* ``finite``: the value is missing, non-numeric or not finite;
* ``scale``: the rating lies outside the schema's ``rating_scale``;
* ``non_negative``: the weight is negative;
* ``magnitude``: a rating without a declared scale, or a weight, beyond +/-1e9.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.schema import Schema

Check = Literal["id", "finite", "scale", "non_negative", "magnitude"]
#: Largest rating or weight accepted without a declared scale (float32 holds far more, but a
#: value this large is a unit error or garbage, and its square overflows the RMSE).
MAX_MAGNITUDE = 1e9


@dataclasses.dataclass(frozen=True)
class RowRule:
    """One rule a column's values must satisfy.

    Attributes:
        column: The interaction column.
        check: What is checked (see the module docstring).
        reason: What a violation is, for messages and drop counts.
        fix: How the user fixes a violation.
        low: Lower bound of ``scale``.
        high: Upper bound of ``scale``.
    """

    column: str
    check: Check
    reason: str
    fix: str
    low: float = -np.inf
    high: float = np.inf


def row_rules(schema: Schema) -> tuple[RowRule, ...]:
    """The rules of ``schema``'s interaction columns, in the order they are checked."""
    rules = [RowRule(column, "id", "empty or NaN id",
                     "every interaction needs a user id and an item id")
             for column in (schema.user_id, schema.item_id)]
    for column in (schema.rating, schema.timestamp, schema.weight):
        if column:
            rules.append(RowRule(column, "finite", "missing or non-numeric value",
                                 f"column {column!r} must hold a finite number on every row"))
    if schema.rating and schema.rating_scale is not None:
        low, high = schema.rating_scale
        rules.append(RowRule(schema.rating, "scale", f"rating outside the scale [{low:g}, {high:g}]",
                             "fix the rating, or declare the right rating_scale in the schema",
                             float(low), float(high)))
    if schema.rating and schema.rating_scale is None:
        rules.append(RowRule(schema.rating, "magnitude", f"rating beyond +/-{MAX_MAGNITUDE:g}",
                             "declare the rating_scale in the schema, or rescale the ratings",
                             -MAX_MAGNITUDE, MAX_MAGNITUDE))
    if schema.weight:
        rules.append(RowRule(schema.weight, "non_negative", "negative weight",
                             f"column {schema.weight!r} holds weights, which must be >= 0"))
        rules.append(RowRule(schema.weight, "magnitude", f"weight above {MAX_MAGNITUDE:g}",
                             "rescale the weights (e.g. log1p of counts)", 0.0, MAX_MAGNITUDE))
    return tuple(rules)


def numeric(values: pd.Series) -> pd.Series:
    """A column as numbers (non-numeric values become NaN, which ``finite`` rejects)."""
    return pd.to_numeric(values, errors="coerce")


def frame_mask(rule: RowRule, values: pd.Series) -> np.ndarray:
    """``bool[n]``: the rows of a pandas column that break ``rule``."""
    if rule.check == "id":
        mask = values.isna().to_numpy().copy()
        if values.dtype.kind not in "iufb":
            mask |= values.astype(str).str.strip().isin(["", "nan", "None", "NaN"]).to_numpy()
        return mask
    x = numeric(values).to_numpy(dtype="float64", na_value=np.nan)
    if rule.check == "finite":
        return ~np.isfinite(x)
    with np.errstate(invalid="ignore"):
        if rule.check in ("scale", "magnitude"):
            return (x < rule.low) | (x > rule.high)
        return x < 0


def tensor_mask(rule: RowRule, values: tf.Tensor) -> tf.Tensor:
    """``bool[n]``: the rows of a column tensor that break ``rule`` (integer ids are never
    empty: readers reject empty integer fields themselves)."""
    if rule.check == "id":
        if values.dtype == tf.string:
            return tf.equal(tf.strings.strip(values), "")
        return tf.zeros_like(values, dtype=tf.bool)
    x = tf.cast(values, tf.float32)
    if rule.check == "finite":
        return ~tf.math.is_finite(x)
    if rule.check in ("scale", "magnitude"):
        return (x < rule.low) | (x > rule.high)
    return x < 0


def tensor_masks(schema: Schema, chunk: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Per-column masks ``{column: bool[n]}`` of the rows breaking any rule, for the columns
    present in ``chunk``."""
    masks: dict[str, tf.Tensor] = {}
    for rule in row_rules(schema):
        if rule.column in chunk:
            mask = tensor_mask(rule, chunk[rule.column])
            masks[rule.column] = masks[rule.column] | mask if rule.column in masks else mask
    return masks


def drop_invalid(schema: Schema, chunk: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Removes the rows of a chunk that break a rule (counted beforehand by the scan)."""
    n = tf.shape(chunk[schema.user_id])[0]
    bad = tf.zeros([n], tf.bool)
    for mask in tensor_masks(schema, chunk).values():
        bad |= mask
    return {name: tf.boolean_mask(values, ~bad) for name, values in chunk.items()}
