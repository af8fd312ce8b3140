"""The rating towers' training phase (:class:`~tfrec.model.network.rating.RatingTowers`), after retrieval.

:func:`tfrec.model.training.fit.train` runs it on the same training rows as the retrieval phase, as
interaction batches of ``rating_batch_size`` for ``rating_epochs`` epochs, with a fresh optimizer
at ``rating_learning_rate``. Only the rating towers' variables change: the retrieval model (and
so every ranking) is the one the first phase trained.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import tensorflow as tf

from tfrec.data.columns import side_columns
from tfrec.data.dataset import Dataset
from tfrec.data.pipeline import sized
from tfrec.data.sources import BatchSource
from tfrec.model.network.tower import batched_apply
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.callbacks import check_finite
from tfrec.model.training.optimizers import compile_phase
from tfrec.model.training.seen_penalty import SAMPLE_USERS, sample_scores
from tfrec.schema import as_input_array

logger = logging.getLogger(__name__)

#: Prefix of the phase's curves in a training history (``rating_phase_loss``, ``rating_phase_rmse``).
PREFIX = "rating_phase_"


def fit_rating_towers(model: TwoTowerModel, batches: BatchSource, rows: int, shuffle: bool = True,
                      verbose: int = 0) -> tuple[dict[str, list[float]], float]:
    """Trains the model's rating towers on ``batches`` (``rows`` rows), then stores their
    outputs for the retrieval score (:func:`fill_tower_scores`); nothing without them.

    Args:
        model: A trained single-device model; its rating towers train in place.
        batches: The training rows (the retrieval phase's, validation carve excluded).
        rows: How many rows ``batches`` yields (from the scan).
        shuffle: Shuffle the rows each epoch (seeded with ``config.seed``).
        verbose: Keras progress output.

    Returns:
        The phase's per-epoch curves (names prefixed with :data:`PREFIX`) and its wall time.

    Raises:
        TfrecError: The loss became NaN/inf.
    """
    if model.rating_towers is None:
        return {}, 0.0
    config = model.model_config
    tf.keras.utils.set_random_seed(config.seed)
    data = sized(batches.batches(config.rating_batch_size, shuffle=shuffle, seed=config.seed,
                                 columns=model.training_columns()), rows, config.rating_batch_size)
    model.training_phase, model.train_function = "rating", None
    # Keras's BackupAndRestore deletes this attribute at the end of the first phase, and fit
    # reads it: a second fit of the same model needs it back (None: no backup to resume from).
    model._training_state = getattr(model, "_training_state", None)
    model.reset_compile_cache()
    compile_phase(model, config, int(data.cardinality()), config.rating_learning_rate)
    start = time.perf_counter()
    try:
        history = model.fit(data, epochs=config.rating_epochs, verbose=verbose,
                            callbacks=[tf.keras.callbacks.TerminateOnNaN()])
    finally:
        model.training_phase, model.train_function = None, None
        model.reset_compile_cache()
    seconds = time.perf_counter() - start
    curves = {PREFIX + name: [float(x) for x in values] for name, values in history.history.items()}
    check_finite(curves, PREFIX + "loss", "the rating towers' training",
                 f"Lower rating_learning_rate ({config.rating_learning_rate:g}).")
    logger.info("rating towers: %d epochs on %d rows in %.1f s, training RMSE %.4f", config.rating_epochs,
                rows, seconds, curves.get(PREFIX + "rmse", [float("nan")])[-1])
    fill_tower_scores(model, batches.tables)
    return curves, seconds


def fill_tower_scores(model: TwoTowerModel, tables: Dataset) -> None:
    """Stores the rating towers' outputs for every training user and item in the model's
    :class:`~tfrec.model.network.rating.TowerScores`, the user side scaled so that the added score's
    standard deviation is ``rating_blend`` times the retrieval score's (over the first
    :data:`~tfrec.model.training.seen_penalty.SAMPLE_USERS` users x the item vocabulary): the two scores live on
    unrelated scales (squared-loss history scores ~0.1, softmax logits ~5 on ml-100k). Nothing
    without them.
    """
    scores, towers = model.tower_scores, model.rating_towers
    if scores is None or towers is None:
        return
    users = side_columns(tables, "user", np.asarray(model.user_vocabulary), missing="default")
    items = side_columns(tables, "item", np.asarray(model.item_vocabulary), missing="default")
    user_out = batched_apply(lambda f: towers.user_tower(f), users)
    item_out = batched_apply(lambda f: towers.item_tower(f), items)
    # The stored scores' columns are left out (a second fill sees the first).
    retrieval = sample_scores(model, tables, drop_last=user_out.shape[1])
    added = user_out[:SAMPLE_USERS] @ item_out.T
    weight = model.model_config.rating_blend * float(retrieval.std()) / max(float(added.std()), 1e-12)
    scores.fill(model.user_index(as_input_array(np.asarray(model.user_vocabulary))).numpy(), weight * user_out,
                model.item_index(as_input_array(np.asarray(model.item_vocabulary))).numpy(), item_out)
    logger.info("rating towers' scores added to retrieval at weight %.4g (rating_blend %g)", weight,
                model.model_config.rating_blend)
