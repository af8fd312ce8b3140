"""Export a trained two-tower model as a self-contained SavedModel, and serve it.

The export holds the towers, the rating head and a top-k index over the **whole item
catalog** (with item features, not only items seen in training). Named signatures:

* ``recommend(<query features>) -> {item_ids [batch, k], scores [batch, k]}``
* ``recommend_excluding(<query features>, exclude [batch, max_exclude]) -> same``, ``exclude``
  holding item ids to leave out, padded to the export's fixed ``max_exclude`` width with ids
  that are not in the catalog (-1 or ""); ids not in the catalog are ignored
* ``predict_rating(<query and item features>) -> {rating [batch]}`` (when trained with ratings)
* ``user_embedding(<query features>) -> {embedding [batch, dim]}``
* ``item_embedding(<item features>) -> {embedding [batch, dim]}``

Every input is a 1-D tensor per feature. A fresh process loads it with plain
``tf.saved_model.load`` (``import scann`` first for a ScaNN index); tfrec is not needed. Unknown
ids map to the out-of-vocabulary embeddings; NaN numbers to the training mean. Beside the
SavedModel: ``tfrec_export.json`` (feature names and dtypes, k, index, versions), the schema,
vocabularies, model config, training metrics, and the user and item tables. Export writes to a
temporary folder and renames it, so a crash never leaves a half export at the target.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfrec.atomic import atomic_directory
from tfrec.errors import TfrecError

logger = logging.getLogger(__name__)

INDEXES = ("brute-force", "scann")
EXPORT_FILE = "tfrec_export.json"
SAVEDMODEL_DIR = "savedmodel"
COPIED_FILES = ("schema.json", "vocabularies.json", "config.json", "history.json")


def export_model(model_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                 index: str = "brute-force", k: int = 100, max_exclude: int = 100,
                 overwrite: bool = False) -> Path:
    """Exports a model trained by ``tfrec train`` as a SavedModel with a top-k index.

    Args:
        model_dir: The ``--out`` folder of ``tfrec train``.
        out_dir: Export folder (created atomically).
        index: ``"brute-force"`` (exact) or ``"scann"`` (approximate; needs the ``scann`` extra).
        k: Items returned by the ``recommend`` signatures (capped at the catalog size).
        max_exclude: Width of ``recommend_excluding``'s exclusion input (capped so that
            ``k + max_exclude`` fits the catalog).
        overwrite: Replace an existing ``out_dir``.

    Raises:
        TfrecError: Missing or incomplete model folder, unknown index, ScaNN not installed,
            or an existing target without ``overwrite``.
    """
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    from tfrec.model.train import load_model
    from tfrec.model.two_tower import batched_apply

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if index not in INDEXES:
        raise TfrecError(f"unknown index {index!r}; use one of {list(INDEXES)}")
    if int(k) != k or k < 1:
        raise TfrecError(f"k must be a positive integer, got {k!r}")
    catalog_path = model_dir / "catalog.parquet"
    if not catalog_path.is_file():
        raise TfrecError(f"{model_dir}: not a tfrec training folder (catalog.parquet missing); "
                         "run `tfrec train --out DIR` and export DIR")
    model = load_model(model_dir / "model")
    catalog = pd.read_parquet(catalog_path)
    dtypes = model.input_dtypes()
    item_columns = {name: _as_array(catalog[name], dtype) for name, dtype in dtypes["candidate"].items()}
    item_ids = item_columns[model.item_id]
    embeddings = batched_apply(model.candidate_embedding, item_columns)
    k = int(min(k, len(item_ids)))
    # TFRS retrieves k + (exclusion width) items: the width is fixed and fits the catalog.
    max_exclude = int(max(0, min(max_exclude, len(item_ids) - k)))
    if index == "scann":
        try:
            import scann  # noqa: F401  (registers the ScaNN ops)
        except ImportError:
            raise TfrecError("the ScaNN index needs the scann extra: pip install 'tfrec[scann]'") from None
        # Measured (scripts/bench_serving.py): searching 10% of the leaves with 100 reordering
        # candidates gave recall@10 0.82 at 1M items; 20% and 1000 candidates reach >= 0.95.
        # Small catalogs search enough leaves to hold the reordering candidates (all of them
        # below ~5k items), so their results are exact instead of depending on the random
        # k-means partition (recall@10 of a 500-item catalog varied between runs otherwise).
        leaves = int(max(1, min(2000, np.sqrt(len(item_ids)))))
        candidates = max(10 * k, 1000)
        to_search = max(1, leaves // 5, min(leaves, math.ceil(candidates * leaves / len(item_ids))))
        top_k = tfrs.layers.factorized_top_k.ScaNN(
            k=k, num_leaves=leaves, num_leaves_to_search=to_search,
            num_reordering_candidates=candidates)
    else:
        top_k = tfrs.layers.factorized_top_k.BruteForce(k=k)
    top_k.index(tf.constant(embeddings), tf.constant(item_ids))
    module, functions = _serving_module(model, top_k, dtypes, max_exclude)
    signatures = {name: function.get_concrete_function() for name, function in functions.items()}
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if index == "scann" else None)
        tf.saved_model.save(module, str(staging / SAVEDMODEL_DIR), signatures=signatures, options=options)
        for name in COPIED_FILES:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, staging / name)
        catalog.to_parquet(staging / "catalog.parquet", index=False)
        if (model_dir / "users.parquet").is_file():
            shutil.copy2(model_dir / "users.parquet", staging / "users.parquet")
        (staging / EXPORT_FILE).write_text(json.dumps({
            "index": index, "k": k, "max_exclude": max_exclude, "catalog_size": int(len(item_ids)),
            "user_id": model.user_id, "item_id": model.item_id, "features": dtypes,
            "signatures": sorted(signatures), "has_rating": bool(model.has_rating_head),
            "versions": _versions(), "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=2))
    logger.info("exported %s (%s index, k=%d, %d items) to %s", model_dir, index, k, len(item_ids), out_dir)
    return out_dir


def _versions() -> dict[str, str]:
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    from tfrec import __version__

    return {"tfrec": __version__, "tensorflow": tf.__version__, "tensorflow_recommenders": tfrs.__version__}


def _as_array(values: pd.Series, dtype: str) -> np.ndarray:
    if dtype == "string":
        return values.astype(str).to_numpy(dtype=object)
    if dtype == "int64":
        return values.to_numpy(dtype=np.int64)
    return values.to_numpy(dtype=np.float32)


def _number(value) -> float | None:
    """``value`` as a float (missing -> NaN), or ``None`` when it is not a number."""
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _specs(names: dict[str, str]):
    import tensorflow as tf

    return {name: tf.TensorSpec([None], getattr(tf, dtype), name=name) for name, dtype in names.items()}


def _serving_module(model, top_k, dtypes: dict[str, dict[str, str]], max_exclude: int):
    """The exported ``tf.Module`` and its signature functions (name -> ``tf.function``)."""
    import tensorflow as tf

    module = tf.Module()
    module.model, module.top_k = model, top_k
    query_specs, item_specs = _specs(dtypes["query"]), _specs(dtypes["candidate"])
    item_id_dtype = item_specs[model.item_id].dtype

    @tf.function(input_signature=[query_specs])
    def recommend(features):
        scores, ids = top_k(model.query_embedding(features))
        return {"item_ids": ids, "scores": scores}

    @tf.function(input_signature=[query_specs,
                                  tf.TensorSpec([None, max_exclude], item_id_dtype, name="exclude")])
    def recommend_excluding(features, exclude):
        scores, ids = top_k.query_with_exclusions(model.query_embedding(features), exclude)
        return {"item_ids": ids, "scores": scores}

    @tf.function(input_signature=[query_specs])
    def user_embedding(features):
        return {"embedding": model.query_embedding(features)}

    @tf.function(input_signature=[item_specs])
    def item_embedding(features):
        return {"embedding": model.candidate_embedding(features)}

    functions = {"recommend": recommend, "recommend_excluding": recommend_excluding,
                 "user_embedding": user_embedding, "item_embedding": item_embedding}
    if model.has_rating_head:
        @tf.function(input_signature=[{**query_specs, **item_specs}])
        def predict_rating(features):
            return {"rating": model.predict_rating(features)}

        functions["predict_rating"] = predict_rating
    for name, function in functions.items():
        setattr(module, name, function)
    return module, functions


class ExportedModel:
    """A loaded export, with input checks and defaults for missing user features.

    Args:
        path: Export folder written by :func:`export_model`.

    Raises:
        TfrecError: Missing, incomplete or corrupt export.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import tensorflow as tf

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
        self.catalog = pd.read_parquet(self.path / "catalog.parquet")
        users = self.path / "users.parquet"
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
            if position is not None:
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
        import tensorflow as tf

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
                numbers = [_number(v) for v in exclude]
                if any(n is None for n in numbers):
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
