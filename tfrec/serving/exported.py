"""A loaded export: input checks, stored user features, and top-k calls of its signatures."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.errors import TfrecError
from tfrec.model.run_folder import RunFolder
from tfrec.serving.export import EXPORT_FILE, SAVEDMODEL_DIR

logger = logging.getLogger(__name__)


def _number(value) -> float | None:
    """``value`` as a float (missing -> NaN), or ``None`` when it is not a number."""
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None




class ExportedModel:
    """A loaded export, with input checks and defaults for missing user features.

    Args:
        path: Export folder written by :func:`export_model`.

    Raises:
        TfrecError: Missing, incomplete or corrupt export.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        info_path = self.path / EXPORT_FILE
        if not info_path.is_file():
            raise TfrecError(f"{self.path}: not a tfrec export ({EXPORT_FILE} missing); "
                             "create one with `tfrec export --model DIR --out EXPORT_DIR`")
        try:
            self.info = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise TfrecError(f"{info_path}: corrupt export description ({exc.msg}); re-export") from None
        if self.info.get("index") == "scann":
            try:
                import scann  # noqa: F401
            except ImportError:
                raise TfrecError("this export uses a ScaNN index: pip install 'tfrec[scann]'") from None
        try:
            self.saved = tf.saved_model.load(str(self.path / SAVEDMODEL_DIR))
        except Exception as exc:  # TF raises several types for a damaged SavedModel
            raise TfrecError(f"{self.path}: cannot load the SavedModel ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}); re-export the model") from None
        self.catalog = pd.read_parquet(self.path / RunFolder.CATALOG)
        users = self.path / RunFolder.USERS
        self.users = pd.read_parquet(users) if users.is_file() else None
        self._user_rows = ({} if self.users is None else
                           {str(v): i for i, v in enumerate(self.users[self.info["user_id"]])})

    @property
    def query_features(self) -> dict[str, str]:
        return self.info["features"]["query"]

    def user_features(self, user_id=None, overrides: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """One query row: the stored features of ``user_id`` (if known), then ``overrides``.

        Missing features get neutral values (empty string, -1, NaN), which the model maps to
        out-of-vocabulary and to the training mean.

        Raises:
            TfrecError: An override names an unknown feature or has a non-numeric value for a
                numeric feature.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.query_features))
        if unknown:
            raise TfrecError(f"unknown feature(s) {unknown}; this model reads {sorted(self.query_features)}")
        row: dict[str, Any] = {}
        user_column = self.info["user_id"]
        if user_id is not None:
            row[user_column] = user_id
            position = self._user_rows.get(str(user_id))
            if position is not None and self.users is not None:
                stored = self.users.iloc[position]
                row.update({c: stored[c] for c in self.query_features if c in stored.index})
        row.update(overrides)
        out = {}
        for name, dtype in self.query_features.items():
            value = row.get(name)
            if dtype == "string":
                out[name] = np.array(["" if value is None else str(value)], dtype=object)
                continue
            number = _number(value)
            if number is None and name == user_column:  # cannot be a known id: serve as unknown
                logger.info("user id %r is not a number: served as an unknown user", value)
                number = -1.0
            if number is None:
                raise TfrecError(f"feature {name!r} must be a number, got {value!r}")
            if dtype == "int64":
                # Categories and ids outside int64 (or not finite) cannot be known: OOV (-1).
                whole = np.isfinite(number) and abs(number) < 2**62
                out[name] = np.array([int(number) if whole else -1], dtype=np.int64)
            else:
                out[name] = np.array([number], dtype=np.float32)  # NaN/inf -> training mean
        return out

    def recommend(self, features: dict[str, np.ndarray], k: int = 10,
                  exclude: list | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` for each row of ``features``: ``(item_ids [n, k], scores [n, k])``.

        Raises:
            TfrecError: ``k`` outside 1..(export k), or exclusions that leave fewer than k items.
        """
        limit = self.info["k"]
        if int(k) != k or not 1 <= k <= limit:
            raise TfrecError(f"k must be between 1 and {limit} (the k this model was exported with; "
                             f"re-export with --k to raise it), got {k!r}")
        inputs = {name: tf.constant(value) for name, value in features.items()}
        width = self.info["max_exclude"]
        if exclude and len(exclude) > width:
            raise TfrecError(f"at most {width} exclusions (this export's max_exclude), got "
                             f"{len(exclude)}; re-export with a larger --max-exclude")
        if exclude:
            dtype = self.info["features"]["candidate"][self.info["item_id"]]
            if dtype == "int64":
                parsed = [_number(v) for v in exclude]
                numbers = [n for n in parsed if n is not None]
                if len(numbers) < len(parsed):
                    raise TfrecError(f"item ids are integers here; cannot exclude {exclude!r}")
                # Ids that no int64 catalog can hold are simply not in the catalog: padding.
                kept = [int(n) for n in numbers if np.isfinite(n) and abs(n) < 2**62]
                ids = np.array([kept + [-1] * (width - len(kept))], dtype=np.int64)
            else:
                ids = np.array([[str(v) for v in exclude] + [""] * (width - len(exclude))], dtype=object)
            rows = len(next(iter(features.values())))
            result = self.saved.signatures["recommend_excluding"](
                exclude=tf.constant(np.repeat(ids, rows, axis=0)), **inputs)
        else:
            result = self.saved.signatures["recommend"](**inputs)
        ids, scores = result["item_ids"].numpy()[:, :k], result["scores"].numpy()[:, :k]
        if ids.dtype == object:
            ids = ids.astype(str)
        return ids, scores
