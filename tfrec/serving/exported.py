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

from tfrec.data.parquet import read_local_parquet
from tfrec.errors import TfrecError
from tfrec.model.training.run_folder import RunFolder
from tfrec.schema import as_input_array
from tfrec.serving.info import SAVEDMODEL_DIR, ExportInfo, verify_checksums
from tfrec.textio import read_text

logger = logging.getLogger(__name__)


def _number(value: Any) -> float | None:
    """``value`` as a float (missing -> NaN), or ``None`` when it is not a number."""
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def integer_id(value: Any, what: str) -> int:
    """An integer id from a request value; ids outside int64 map to -1 (never in a catalog).

    Raises:
        TfrecError: The value is not a whole number (``1.9``, ``abc``): it cannot be an id.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        whole = int(value)
    else:
        text = str(value).strip()
        if not text.lstrip("+-").isdigit() or len(text) > 40:
            raise TfrecError(f"{what} are integers in this model; {str(value)[:40]!r} is not one")
        whole = int(text)
    return whole if abs(whole) < 2**62 else -1


def decode_ids(ids: np.ndarray) -> np.ndarray:
    """Item ids from a signature: bytes -> ``str`` (UTF-8), numbers unchanged."""
    if ids.dtype != object:
        return ids
    return np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v),
                        otypes=[object])(ids)


class ExportedModel:
    """A loaded export, with input checks and defaults for missing user features.

    Args:
        path: Export folder written by :func:`~tfrec.serving.export.export_model`.

    Attributes:
        info: The export's checked description.
        catalog: The item catalog (ids and item features).
        users: The user table, or ``None`` when the model was trained without one.

    Raises:
        TfrecError: Missing, incomplete, corrupt or changed export.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.info = ExportInfo.read(self.path)
        verify_checksums(self.path, self.info)  # before TensorFlow reads the program
        if self.info.index == "scann":
            try:
                import scann  # noqa: F401
            except ImportError:
                raise TfrecError("this export uses a ScaNN index: pip install 'tfrec[scann]'") from None
        self.catalog = self._table(RunFolder.CATALOG)
        if self.info.item_id not in self.catalog.columns:
            raise TfrecError(f"{self.path / RunFolder.CATALOG}: no {self.info.item_id!r} column; re-export")
        self.users = self._table(RunFolder.USERS) if self.info.has_users else None
        try:
            self.saved = tf.saved_model.load(str(self.path / SAVEDMODEL_DIR))
        except Exception as exc:  # TF raises several types for a damaged SavedModel
            raise TfrecError(f"{self.path}: cannot load the SavedModel ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}); re-export the model") from None
        self._user_rows = ({} if self.users is None else
                           {str(v): i for i, v in enumerate(self.users[self.info.user_id])})
        # Each stored column as an array: a request reads one position of each (no pandas row).
        self._user_columns = ({} if self.users is None else
                              {str(c): self.users[c].to_numpy() for c in self.users.columns})
        schema_path = self.path / RunFolder.SCHEMA
        self.schema_json = read_text(schema_path, TfrecError, "schema") if schema_path.is_file() else None
        self.title_column = json.loads(self.schema_json).get("item_title") if self.schema_json else None
        self._seen: dict[str, list] | None = None

    def history(self, user_id: Any) -> list:
        """The user's training items (empty for an unknown user or an export without them)."""
        if self._seen is None:  # read and grouped once, on the first request
            pairs = (self._table(RunFolder.SEEN) if (self.path / RunFolder.SEEN).is_file()
                     else pd.DataFrame({self.info.user_id: [], self.info.item_id: []}))
            groups = pairs.groupby(pairs[self.info.user_id].astype(str), sort=False)[self.info.item_id]
            self._seen = {user: items.tolist() for user, items in groups}
        return list(self._seen.get(str(user_id), []))

    def predict_rating(self, features: dict[str, np.ndarray], item_id: Any) -> float:
        """The rating head's prediction for one user row (``user_features(..., rating=True)``)
        and one catalog item.

        Raises:
            TfrecError: No rating head, or an item id that is not in the catalog.
        """
        if not self.info.has_rating:
            raise TfrecError("this model has no rating head")
        ids = self.catalog[self.info.item_id]
        match = self.catalog[ids.astype(str) == str(item_id)]
        if match.empty:
            raise TfrecError(f"item {str(item_id)[:40]!r} is not in the catalog")
        inputs = {name: tf.constant(value) for name, value in features.items()}
        for name, dtype in {**self.info.candidate, **self.info.rating_candidate}.items():
            inputs[name] = tf.constant(as_input_array(match[name].iloc[:1], dtype))
        return float(self.saved.signatures["predict_rating"](**inputs)["rating"].numpy()[0])

    def _table(self, name: str) -> pd.DataFrame:
        path = self.path / name
        if not path.is_file():
            raise TfrecError(f"{path}: missing from the export; re-export the model")
        try:
            return read_local_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise TfrecError(f"{path}: unreadable ({type(exc).__name__}); re-export the model") from None

    @property
    def query_features(self) -> dict[str, str]:
        """Query-side input name -> dtype."""
        return self.info.query

    def user_features(self, user_id: Any = None, overrides: dict[str, str] | None = None,
                      rating: bool = False) -> dict[str, np.ndarray]:
        """One query row: the stored features of ``user_id`` (if known), then ``overrides``;
        with ``rating``, also the user features only the rating towers read (``predict_rating``).

        Missing features get neutral values (empty string, -1, NaN), which the model maps to
        out-of-vocabulary and to the training mean.

        Raises:
            TfrecError: An override names an unknown feature or has a non-numeric value for a
                numeric feature, or an integer user id is not a whole number.
        """
        overrides = dict(overrides or {})
        names = {**self.query_features, **self.info.rating_query} if rating else self.query_features
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TfrecError(f"unknown feature(s) {unknown}; this model reads {sorted(names)}")
        row: dict[str, Any] = {}
        user_column = self.info.user_id
        if user_id is not None:
            if self.query_features.get(user_column) == "int64":
                user_id = integer_id(user_id, "user ids")
            row[user_column] = user_id
            position = self._user_rows.get(str(user_id))
            if position is not None:
                row.update({c: self._user_columns[c][position] for c in names if c in self._user_columns})
        row.update(overrides)
        out = {}
        for name, dtype in names.items():
            value = row.get(name)
            if dtype == "string":
                out[name] = np.array(["" if value is None else str(value)], dtype=object)
                continue
            number = _number(value)
            if number is None:
                raise TfrecError(f"feature {name!r} must be a number, got {str(value)[:40]!r}")
            if dtype == "int64":
                # Categories and ids outside int64 (or not finite) cannot be known: OOV (-1).
                whole = np.isfinite(number) and abs(number) < 2**62
                out[name] = np.array([int(number) if whole else -1], dtype=np.int64)
            else:
                out[name] = np.array([number], dtype=np.float32)  # NaN/inf -> training mean
        return out

    def is_known_user(self, user_id: Any) -> bool:
        """Whether the export holds features for ``user_id`` (else it is served cold)."""
        return str(user_id) in self._user_rows

    def recommend(self, features: dict[str, np.ndarray], k: int = 10, exclude: list | None = None,
                  include_seen: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` for each row of ``features``: ``(item_ids [n, k], scores [n, k])``.

        Known users' training items are left out unless ``include_seen``; ``exclude`` adds
        request-time exclusions.

        Raises:
            TfrecError: ``k`` outside 1..(export k), too many exclusions, or exclusions that are
                not ids of this catalog's type.
        """
        ids, scores, _ = self.recommend_with_status(features, k, exclude, include_seen)
        return ids, scores

    def recommend_with_status(self, features: dict[str, np.ndarray], k: int = 10, exclude: list | None = None,
                              include_seen: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`recommend` plus ``[n]`` whether each user is known (has training items)."""
        self._check_k(k)
        inputs = {name: tf.constant(value) for name, value in features.items()}
        width = self.info.max_exclude
        exclude = list(exclude or [])
        if len(exclude) > width:
            raise TfrecError(f"at most {width} exclusions (this export's max_exclude), got "
                             f"{len(exclude)}; re-export with a larger --max-exclude")
        ids = self._padded_items(exclude, width)
        rows = len(next(iter(features.values())))
        matrix = tf.constant(np.repeat(ids, rows, axis=0))
        if include_seen:
            result = self.saved.signatures["recommend_including_seen"](exclude=matrix, **inputs)
        elif exclude:
            result = self.saved.signatures["recommend_excluding"](exclude=matrix, **inputs)
        else:
            result = self.saved.signatures["recommend"](**inputs)
        found, scores = result["item_ids"].numpy()[:, :k], result["scores"].numpy()[:, :k]
        return decode_ids(found), scores, result["known_user"].numpy()

    def _check_k(self, k: Any) -> None:
        limit = self.info.k
        if int(k) != k or not 1 <= k <= limit:
            raise TfrecError(f"k must be between 1 and {limit} (the k this model was exported with; "
                             f"re-export with --k to raise it), got {k!r}")

    def _padded_items(self, values: list, width: int) -> np.ndarray:
        """``[1, width]`` item ids of the catalog's type, padded with ids no catalog holds.

        Raises:
            TfrecError: An integer catalog given an id that is not a whole number.
        """
        if self.info.candidate[self.info.item_id] == "int64":
            kept = [integer_id(v, "item ids") for v in values]
            return np.array([kept + [-1] * (width - len(kept))], dtype=np.int64).reshape(1, width)
        return np.array([[str(v) for v in values] + [""] * (width - len(values))], dtype=object).reshape(1, width)

    def recommend_from_history(self, history: list, weights: list[float] | None = None, k: int = 10,
                               features: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` for a user described by their items (no retraining): ``(item_ids [k],
        scores [k])``; the given items are left out.

        Args:
            history: Item ids, oldest first (the latest ``max_history`` are used; ids unknown
                to the model are ignored).
            weights: One weight per item (ratings with ``history_weighting = "rating"``);
                default 1 each.
            k: Items to return.
            features: One query row (:meth:`user_features`); default: no user features.

        Raises:
            TfrecError: The model was trained without history, ``k`` out of range, ids not of
                the catalog's type, or weights that do not match the items.
        """
        width = self.info.max_history
        if width == 0:
            raise TfrecError("this model was trained without history = true: it cannot serve a user "
                             "from their items; train with history = true (the default config does)")
        self._check_k(k)
        history = list(history)
        weights = [1.0] * len(history) if weights is None else list(weights)
        if len(weights) != len(history):
            raise TfrecError(f"{len(weights)} weights for {len(history)} history items; give one each")
        numbers = [_number(w) for w in weights]
        if any(w is None or not np.isfinite(w) or w < 0 for w in numbers):
            raise TfrecError("history weights must be finite numbers >= 0")
        history, numbers = history[-width:], numbers[-width:]
        pad = width - len(history)
        ids = self._padded_items(history, width)
        inputs = {name: tf.constant(value) for name, value in
                  (features or self.user_features(None)).items()}
        result = self.saved.signatures["recommend_from_history"](
            history=tf.constant(ids),
            history_weights=tf.constant(np.array([numbers + [0.0] * pad], dtype=np.float32)), **inputs)
        return decode_ids(result["item_ids"].numpy()[0, :k]), result["scores"].numpy()[0, :k]
