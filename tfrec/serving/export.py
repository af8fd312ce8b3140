"""Export a trained two-tower model as a self-contained SavedModel.

The export holds the towers, the rating head and a top-k index over the **whole item
catalog** (with item features, not only items seen in training). Named signatures:

* ``recommend(<query features>) -> {item_ids [batch, k], scores [batch, k]}``
* ``recommend_excluding(<query features>, exclude [batch, max_exclude]) -> same``, ``exclude``
  holding item ids to leave out, padded to the export's fixed ``max_exclude`` width with ids
  that are not in the catalog (-1 or ""); ids not in the catalog are ignored
* ``predict_rating(<query and item features, and the rating towers'>) -> {rating [batch]}`` (when
  trained with ratings)
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

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.atomic import check_target, output_directory
from tfrec.data.parquet import write_local_parquet
from tfrec.errors import TfrecError
from tfrec.model.features.history_table import HISTORY_ITEMS, HISTORY_WEIGHTS
from tfrec.model.network.tower import batched_apply
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.run_folder import RunFolder
from tfrec.schema import as_input_array
from tfrec.serving.info import EXPORT_FILE, INDEXES, SAVEDMODEL_DIR, savedmodel_checksums
from tfrec.serving.seen import CatalogPositions, SeenItems, pad_id, top_k_excluding

logger = logging.getLogger(__name__)



class _SaveNotes(logging.Filter):
    """Drops TensorFlow's notes on saving a module whose Keras layers are used through their
    methods, never called (so never marked built): they concern Keras metadata, not the
    signatures, and every export would print them."""

    NOTES = ("Skipping full serialization of TF-Keras layer", "Assets written to")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.NOTES)


_SAVE_NOTES = _SaveNotes()


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
    out_dir = Path(out_dir)
    if index not in INDEXES:
        raise TfrecError(f"unknown index {index!r}; use one of {list(INDEXES)}")
    if int(k) != k or k < 1:
        raise TfrecError(f"k must be a positive integer, got {k!r}")
    check_target(out_dir, overwrite=overwrite)  # before loading and indexing the model
    run = RunFolder(model_dir).check()
    model = run.load_model()
    schema = run.schema()
    catalog = run.catalog()
    dtypes = model.input_dtypes()
    item_columns = {name: as_input_array(catalog[name], dtype) for name, dtype in dtypes["candidate"].items()}
    item_ids = item_columns[model.item_id]
    embeddings = batched_apply(model.candidate_embedding, item_columns)
    k = int(min(k, len(item_ids)))
    seen = _seen_items(run, model, dtypes)
    # The index retrieves k + (seen width) + (request exclusions) candidates, then drops the
    # excluded ones: the widths are fixed at export and fit the catalog.
    max_exclude = int(max(0, min(max_exclude, len(item_ids) - k)))
    max_history = int(min(model.model_config.history_max_len, len(item_ids) - k)) if model.history_pool else 0
    retrieved = int(min(len(item_ids), k + max(seen.width + max_exclude, max_history)))
    if index == "scann":
        try:
            import scann  # noqa: F401  (registers the ScaNN ops)
        except ImportError:
            raise TfrecError("the ScaNN index needs the scann extra: pip install 'tfrec[scann]'") from None
        # Measured (benchmarks/bench_serving.py): searching 10% of the leaves with 100 reordering
        # candidates gave recall@10 0.82 at 1M items; 20% and 1000 candidates reach >= 0.95.
        # Small catalogs search enough leaves to hold the reordering candidates (all of them
        # below ~5k items), so their results are exact instead of depending on the random
        # k-means partition (recall@10 of a 500-item catalog varied between runs otherwise).
        leaves = int(max(1, min(2000, np.sqrt(len(item_ids)))))
        candidates = max(10 * retrieved, 1000)
        to_search = max(1, leaves // 5, min(leaves, math.ceil(candidates * leaves / len(item_ids))))
        top_k = tfrs.layers.factorized_top_k.ScaNN(
            k=retrieved, num_leaves=leaves, num_leaves_to_search=to_search,
            num_reordering_candidates=candidates)
    else:
        top_k = tfrs.layers.factorized_top_k.BruteForce(k=retrieved)
    top_k.index(tf.constant(embeddings), tf.constant(item_ids))
    catalog_positions = CatalogPositions(item_ids, tf.as_dtype(dtypes["candidate"][model.item_id]))
    module, signatures = serving_module(model, top_k, seen, catalog_positions, dtypes, k=k,
                                        max_exclude=max_exclude, max_history=max_history)
    with output_directory(out_dir, kind="export", overwrite=overwrite) as staging:
        options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if index == "scann" else None)
        tensorflow_log = logging.getLogger("tensorflow")
        tensorflow_log.addFilter(_SAVE_NOTES)
        try:
            tf.saved_model.save(module, str(staging / SAVEDMODEL_DIR), signatures=signatures, options=options)
        finally:
            tensorflow_log.removeFilter(_SAVE_NOTES)
        for name in RunFolder.DESCRIPTIONS:
            if run.file(name).is_file():
                shutil.copy2(run.file(name), staging / name)
        write_local_parquet(catalog, staging / RunFolder.CATALOG)
        has_users = run.file(RunFolder.USERS).is_file()
        if has_users:
            shutil.copy2(run.file(RunFolder.USERS), staging / RunFolder.USERS)
        (staging / EXPORT_FILE).write_text(json.dumps({
            "index": index, "k": k, "max_exclude": max_exclude, "max_history": max_history,
            "catalog_size": int(len(item_ids)),
            "user_id": schema.user_id, "item_id": schema.item_id, "features": dtypes,
            "signatures": sorted(signatures), "has_rating": bool(model.has_rating_head),
            "has_users": has_users, "sha256": savedmodel_checksums(staging / SAVEDMODEL_DIR),
            "seen": {"users": seen.n_users, "pairs": seen.pairs,
                     "width": seen.width, "bytes": seen.nbytes, "excluded_by_default": True},
            "versions": _versions(), "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=2))
    logger.info("exported %s (%s index, k=%d, %d items; seen-items table %d users, %.1f MB) to %s",
                model_dir, index, k, len(item_ids), seen.n_users, seen.nbytes / 2**20, out_dir)
    return out_dir


def _versions() -> dict[str, str]:
    from tfrec import __version__

    return {"tfrec": __version__, "tensorflow": tf.__version__, "tensorflow_recommenders": tfrs.__version__}


def _seen_items(run: RunFolder, model: TwoTowerModel, dtypes: dict[str, dict[str, str]]) -> SeenItems:
    pairs = run.seen()
    if pairs is None:
        logger.warning("%s has no %s (trained by an older tfrec): served lists will not leave out the "
                       "users' training items; re-train to get them", run.path, RunFolder.SEEN)
        pairs = pd.DataFrame({model.user_id: [], model.item_id: []})
    return SeenItems(pairs, model.user_id, model.item_id,
                     tf.as_dtype(dtypes["query"][model.user_id]), tf.as_dtype(dtypes["candidate"][model.item_id]))


def _specs(names: dict[str, str], integers: tf.DType = tf.int64) -> dict[str, tf.TensorSpec]:
    return {name: tf.TensorSpec([None], integers if dtype == "int64" else getattr(tf, dtype), name=name)
            for name, dtype in names.items()}


def serving_module(model: TwoTowerModel, top_k: tf.keras.layers.Layer, seen: SeenItems,
                   catalog: CatalogPositions, dtypes: dict[str, dict[str, str]], *, k: int, max_exclude: int,
                   max_history: int = 0) -> tuple[tf.Module, dict]:
    """The exported ``tf.Module`` and its signatures (name -> concrete function).

    A model trained with ``history = true`` also gets ``recommend_from_history(query,
    history [batch, max_history], history_weights [batch, max_history])``: item ids padded
    with any id of weight 0 (the index retrieves ``max_history`` extra candidates so that a
    full list remains after leaving the given items out).

    Every function is traced for int64 and for int32 integer inputs (cast inside), so Python
    callers of ``loaded.recommend({...})`` may pass either; the named signatures (TF Serving)
    take int64.
    """
    module = tf.Module()
    module.model, module.top_k, module.seen, module.catalog = model, top_k, seen, catalog
    item_dtype = tf.as_dtype(dtypes["candidate"][model.item_id])

    def user_ids(features: dict[str, tf.Tensor]) -> tf.Tensor:
        ids = features[model.user_id]
        return tf.cast(ids, tf.int64) if ids.dtype.is_integer else ids

    def wide(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {n: tf.cast(v, tf.int64) if v.dtype == tf.int32 else v for n, v in features.items()}

    def answer(features: dict[str, tf.Tensor], exclusions: tf.Tensor | None,
               training_items: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        scores, ids = top_k(model.query_embedding(wide(features)))
        scores, ids = top_k_excluding(scores, ids, exclusions, k, catalog, fallback=training_items)
        return {"item_ids": ids, "scores": scores, "known_user": seen.known(user_ids(features))}

    def request_exclusions(exclude: tf.Tensor) -> tf.Tensor:
        return tf.cast(exclude, tf.int64) if exclude.dtype.is_integer else exclude

    @tf.function
    def recommend(features):
        return answer(features, None, seen.items(user_ids(features)))

    @tf.function
    def recommend_excluding(features, exclude):
        return answer(features, request_exclusions(exclude), seen.items(user_ids(features)))

    @tf.function
    def recommend_including_seen(features, exclude):
        return answer(features, request_exclusions(exclude))

    @tf.function
    def recommend_from_history(features, history, history_weights):
        # A user described by their items (padded with weight 0): the query tower pools them
        # over the shared item embedding; the given items are left out of the answer.
        query = {**wide(features), HISTORY_ITEMS: request_exclusions(history),
                 HISTORY_WEIGHTS: tf.cast(history_weights, tf.float32)}
        scores, ids = top_k(model.query_embedding(query))
        given = tf.where(history_weights > 0, request_exclusions(history),
                         tf.fill(tf.shape(history), pad_id(item_dtype)))
        scores, ids = top_k_excluding(scores, ids, given, k, catalog)
        return {"item_ids": ids, "scores": scores, "known_user": seen.known(user_ids(features))}

    @tf.function
    def user_embedding(features):
        return {"embedding": model.query_embedding(wide(features))}

    @tf.function
    def item_embedding(features):
        return {"embedding": model.candidate_embedding(wide(features))}

    @tf.function
    def predict_rating(features):
        return {"rating": model.predict_rating(wide(features))}

    functions = {"recommend": (recommend, ["query"]),
                 "recommend_excluding": (recommend_excluding, ["query", "exclude"]),
                 "recommend_including_seen": (recommend_including_seen, ["query", "exclude"]),
                 "user_embedding": (user_embedding, ["query"]), "item_embedding": (item_embedding, ["candidate"])}
    if model.has_rating_head:
        functions["predict_rating"] = (predict_rating, ["query+candidate"])
    if model.history_pool is not None:
        functions["recommend_from_history"] = (recommend_from_history, ["query", "history", "weights"])
    signatures = {}
    for name, (function, inputs) in functions.items():
        for integers in (tf.int32, tf.int64):  # the int64 trace, traced last, is the signature
            args = []
            for part in inputs:
                if part == "exclude":
                    dtype = integers if item_dtype == tf.int64 else tf.string
                    args.append(tf.TensorSpec([None, max_exclude], dtype, name="exclude"))
                elif part == "history":
                    dtype = integers if item_dtype == tf.int64 else tf.string
                    args.append(tf.TensorSpec([None, max_history], dtype, name="history"))
                elif part == "weights":
                    args.append(tf.TensorSpec([None, max_history], tf.float32, name="history_weights"))
                elif part == "query+candidate":
                    args.append({n: spec for side in dtypes.values() for n, spec in _specs(side, integers).items()})
                else:
                    args.append(_specs(dtypes[part], integers))
            signatures[name] = function.get_concrete_function(*args)
        setattr(module, name, function)
    return module, signatures
