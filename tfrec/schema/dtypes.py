"""The one mapping from schema types to dtypes: tensors, NumPy arrays and file readers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tfrec.schema.features import Feature


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
