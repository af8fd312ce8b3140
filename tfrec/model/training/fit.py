"""The one training entry point: :func:`train`, for any :class:`~tfrec.data.sources.BatchSource`.

In-memory frames and streamed shards are two batch sources of the same feature dicts, so a
run goes through the same steps whatever the source:

1. scan the training rows once into :class:`~tfrec.model.features.stats.TrainingStats`
   (vocabularies, logQ frequencies, normalization statistics);
2. build the model from the statistics (:func:`~tfrec.model.training.build.build_model`);
3. fit it with Keras on the source's batches (under a ``tf.distribute`` strategy: fixed steps
   of full global batches on every replica; otherwise full passes over the rows), then its
   rating towers, if any (:mod:`tfrec.model.training.rating_fit`);
4. index the catalog for top-k retrieval.

Validation rows are the ``validation`` source, else (``config.validation_ratio > 0``) the hash
carve of :mod:`tfrec.data.holdout` applied to the training source -- in memory and streamed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.columns import catalog_columns, side_columns
from tfrec.data.dataset import Dataset
from tfrec.data.holdout import nested_seed
from tfrec.data.pipeline import batch_count, sized, tensor_batches
from tfrec.data.scan import ScanResult, Tee
from tfrec.data.sources import BatchSource
from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.features.history_table import HistoryTable
from tfrec.model.features.stats import SeenPairs, TrainingStats
from tfrec.model.network.persist import single_device_copy
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.build import build_model
from tfrec.model.training.callbacks import EpochLog, StepProgress, check_finite, training_callbacks
from tfrec.model.training.distribute import check_batch_size, is_distributed
from tfrec.model.training.optimizers import compile_phase
from tfrec.model.training.projector import write_projector
from tfrec.model.training.rating_fit import fit_rating_towers
from tfrec.model.training.seen_penalty import demote_seen
from tfrec.model.training.validation import RankingValidation
from tfrec.progress import Progress

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow and makes TF ops deterministic."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclasses.dataclass
class TrainResult:
    """A trained model and what training measured.

    Attributes:
        model: The trained model (top-k index built over the catalog).
        history: Keras history: metric name -> per-epoch values.
        seconds: Wall time of ``fit`` (and of the rating towers' phase,
            :mod:`tfrec.model.training.rating_fit`, whose curves ``history`` holds as ``rating_phase_*``).
        examples_per_second: Training examples per second over all epochs (retrieval phase).
        epoch_seconds: Wall time of each epoch (the first includes tracing).
        catalog: The item catalog the index holds (item table rows, or ids only).
        scan: What the scan of the training rows found (rows, drops).
        validation_rows: Rows of the validation source (0 without validation).
        best_epoch: The epoch (1-based) whose weights the model holds: the best validation
            epoch when early stopping restored it, else the last one.
        served_history: With history and validation rows: the users' training and validation
            items (``HistoryTable.frame()``), which :func:`~tfrec.model.training.run_folder.save_run`
            writes into the saved model for serving (the model in memory keeps the training-only table, so that rankings
            of held-out rows are not read from their own answers).
        seen: The distinct (user, item) pairs of the training and validation rows (excluded
            from served recommendations).
        refit: The model was trained again on all rows for ``best_epoch`` epochs, chosen on
            the validation carve (``history`` is that carve's run).
    """

    model: TwoTowerModel
    history: dict[str, list[float]]
    seconds: float
    examples_per_second: float
    epoch_seconds: list[float]
    catalog: pd.DataFrame
    scan: ScanResult
    validation_rows: int = 0
    seen: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    best_epoch: int = 0
    served_history: pd.DataFrame | None = None
    refit: bool = False

    @property
    def steady_examples_per_second(self) -> float:
        """Examples per second after the first (tracing) epoch, median over epochs."""
        epochs = self.epoch_seconds[1:] or self.epoch_seconds
        train_rows = self.examples_per_second * self.seconds / max(1, len(self.epoch_seconds))
        return float(train_rows / np.median(epochs))


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How one training run runs (:func:`train`'s keyword arguments)."""

    strategy: tf.distribute.Strategy | None = None
    shuffle: bool = True
    checkpoint_dir: str | os.PathLike | None = None
    tensorboard_dir: str | os.PathLike | None = None
    backup_dir: str | os.PathLike | None = None
    verbose: int = 0
    progress: Progress | None = None
    rating_phase: bool = True  # train the rating towers after retrieval (not in a refit's selection)


def train(
    config: ModelConfig,
    batches: BatchSource,
    validation: BatchSource | None = None,
    *,
    carve: tuple[BatchSource, BatchSource] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    shuffle: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    tensorboard_dir: str | os.PathLike | None = None,
    backup_dir: str | os.PathLike | None = None,
    verbose: int = 0,
    progress: Progress | None = None,
) -> TrainResult:
    """Trains a two-tower model on a batch source (in-memory frame or streamed shards).

    With ``config.refit`` and the carve (``validation_ratio > 0``, no ``validation`` given),
    training runs twice: on the carve's training rows, validated every epoch, to choose the
    number of epochs (the best ``val_ndcg@10``, else the lowest validation loss); then from
    the same seeded start on all rows for that many epochs -- the returned model. Its
    ``history`` and ``best_epoch`` are the first run's (the validation curves); checkpoints go
    to the second run, and TensorBoard logs of the first to ``tensorboard_dir/selection``.
    Validation rows given apart are not trained on (one run, logged): the evaluation harness
    ranks a split's validation items as candidates, so a model trained on them would be
    ranked on its own answers. Otherwise one run, whose weights are the best validation
    epoch's when early stopping restored them.

    Args:
        config: Model and training options (``batch_size`` is the global batch).
        batches: The training rows and the feature tables (schema included).
        validation: Validation rows; ``None`` carves ``config.validation_ratio`` of the
            training rows (seeded hash), or trains without validation when it is 0.
        carve: ``batches`` already divided into (kept, held out) -- by a split's protocol,
            e.g. the latest rows -- used instead of the hash carve (no ``validation``).
        strategy: A ``tf.distribute`` strategy (:func:`tfrec.model.training.distribute.make_strategy`);
            ``None`` trains on the default device.
        shuffle: Shuffle the rows each epoch (seeded); off: the source's order.
        checkpoint_dir: Write weights here each epoch (the best one with validation).
        tensorboard_dir: TensorBoard log folder: scalars per epoch, then the item embeddings
            for the projector (:func:`~tfrec.model.training.projector.write_projector`).
        backup_dir: Keras ``BackupAndRestore`` folder: model, optimizer state and epoch counter
            after every epoch; a run started with a backup present resumes from it.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
        progress: Told after every training step (epoch and step counts).

    Returns:
        The trained model (single-device, its top-k index built over the catalog) and its
        history.

    Raises:
        ConfigError: The batch does not split over the replicas or makes no full batch.
        DataError: Invalid rows, or ids without a feature row.
        TfrecError: The loss became NaN/inf (the likely cause is named).
    """
    run = RunOptions(strategy, shuffle, checkpoint_dir, tensorboard_dir, backup_dir, verbose, progress)
    if config.refit and validation is not None:
        logger.info("refit: validation rows given apart are not trained on; one run")
    kept, held = carve if carve is not None and validation is None else (batches, None)
    if not (config.refit and validation is None and config.validation_ratio > 0):
        return _fit_once(config, kept, held if held is not None else validation, run)
    selection = _fit_once(config, kept, held, dataclasses.replace(
        run, checkpoint_dir=None, rating_phase=False,
        tensorboard_dir=tensorboard_dir and os.path.join(tensorboard_dir, "selection")))
    history, seconds, held_out = selection.history, selection.seconds, selection.validation_rows
    epochs = chosen_epochs(history, config.epochs)
    del selection  # its model: only one model in memory at a time
    logger.info("refit: %d epochs chosen on %d validation rows; training again on all rows", epochs, held_out)
    refit_backup = backup_dir and os.path.join(backup_dir, "refit")
    final = _fit_once(config.replace(epochs=epochs, validation_ratio=0.0, early_stopping_patience=None),
                      batches, None, dataclasses.replace(run, backup_dir=refit_backup))
    return dataclasses.replace(final, history=history, best_epoch=epochs, validation_rows=held_out,
                               seconds=seconds + final.seconds, refit=True)


def chosen_epochs(history: dict[str, list[float]], fallback: int) -> int:
    """The epoch (1-based) with the best validation value in a Keras ``history``: the highest
    ``val_ndcg@10``, else the lowest ``val_loss``; the first of equal values. ``fallback``
    (logged) when there is no validation value (no rows were held out)."""
    ranking, loss = history.get("val_ndcg@10", []), history.get("val_loss", [])
    if not (ranking or loss):
        logger.warning("refit: no validation values (an empty carve?); training all rows for %d epochs", fallback)
        return fallback
    return int(np.argmax(ranking) if ranking else np.argmin(loss)) + 1


def _fit_once(config: ModelConfig, batches: BatchSource, validation: BatchSource | None,
              run: RunOptions) -> TrainResult:
    """One training run (no refit): :func:`train`'s arguments."""
    strategy, shuffle, verbose, progress = run.strategy, run.shuffle, run.verbose, run.progress
    checkpoint_dir, tensorboard_dir, backup_dir = run.checkpoint_dir, run.tensorboard_dir, run.backup_dir
    seed_everything(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    check_batch_size(config.batch_size, strategy)
    if validation is None and config.validation_ratio > 0:
        # A seed of its own: carved with the seed of an outer carve (tune's), it would be empty.
        batches, validation = batches.holdout(config.validation_ratio, nested_seed(config.seed))
    if validation is None and config.early_stopping_patience is not None:
        raise ConfigError("early_stopping_patience needs validation rows: set validation_ratio > 0 "
                          "or give a validation split")
    tables = batches.tables
    stats = TrainingStats(tables.schema, config.selected_features(tables.schema, "context"))
    seen = SeenPairs(tables.schema)
    history = (HistoryTable(tables.schema, config.history_max_len, config.history_weighting)
               if config.history else None)
    # With validation rows, a second table holds the training and validation rows (the user's
    # whole training data) for serving; the model trains and validates on the first.
    served = (HistoryTable(tables.schema, config.history_max_len, config.history_weighting)
              if config.history and validation is not None else None)
    scan = batches.scan(Tee(stats, seen, history, served))
    if history is not None:
        logger.info("history table: at most %d items per user, %d pairs at the peak of the scan, "
                    "%.1f MB kept", config.history_max_len, history.peak_pairs, history.nbytes / 2**20)
    catalog = batches.catalog(stats.items.vocabulary())
    if len(catalog) < config.top_k:  # top-k metrics and the index cannot rank more items than exist
        logger.warning("top_k %d is above the catalog size %d: using %d", config.top_k, len(catalog),
                       len(catalog))
        config = config.replace(top_k=len(catalog))
    distributed = is_distributed(strategy)
    validation_data = validation_rows = validation_pairs = None
    train_pairs = seen.frame()
    if validation is not None:
        held_out = SeenPairs(tables.schema)
        # The validation rows are the user's training data too: served lists leave them out
        # (``seen`` grows), while the validation ranking excludes the training pairs only.
        validation_rows = validation.scan(Tee(held_out, seen, served)).rows
        validation_pairs = held_out.frame()
        if not validation_rows:
            logger.warning("the validation rows are empty (%s): training without validation",
                           validation.summary().get("name", "validation"))
            validation = validation_pairs = served = None  # served would hold the training rows again
    served_pairs = served.frame() if served is not None else None
    with strategy.scope():
        model = build_model(config, tables, stats, batches.sample(scan.sample), history,
                            history_capacity=0 if served_pairs is None else len(served_pairs),
                            distributed=distributed)
    config = model.model_config  # its auto choices settled for this data
    # Under a strategy every replica (and worker) runs the same number of equal-sized steps.
    steps = _steps_per_epoch(scan.rows, config.batch_size) if distributed else None

    needed = model.training_columns()
    if validation is not None:
        validation_data = sized(validation.batches(config.batch_size, shuffle=False, columns=needed),
                                 validation_rows or 0, config.batch_size)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return batches.batches(context.get_per_replica_batch_size(config.batch_size),
                               shuffle=shuffle, seed=config.seed, repeat=distributed,
                               drop_remainder=distributed, input_context=context, columns=needed)

    if model.settled.examples == "users":  # batches of the users with a history, not of rows
        user_columns = side_columns(tables, "user", np.asarray(model.user_vocabulary), missing="default")
        train_data = tensor_batches({k: tf.constant(v) for k, v in user_columns.items() if k in needed},
                                    batch_size=config.user_batch_size, shuffle=shuffle, seed=config.seed)
    elif distributed:
        train_data = strategy.distribute_datasets_from_function(dataset_fn)
    else:
        train_data = sized(dataset_fn(tf.distribute.InputContext()), scan.rows, config.batch_size)
    with strategy.scope():  # a distributed dataset has no cardinality: its steps were counted
        compile_phase(model, config, steps or int(train_data.cardinality()), distributed=distributed)
    columns = catalog_columns(tables, catalog)
    if model.settled.negatives != "in_batch":
        model.set_training_catalog(columns)
    epoch_log = EpochLog()
    ranking = None
    if validation_pairs is not None and not distributed and config.retrieval_weight > 0:
        ranking = RankingValidation(tables, columns, train_pairs, validation_pairs)
    callbacks = training_callbacks(config, epoch_log, columns, validation_data is not None, distributed,
                           checkpoint_dir, tensorboard_dir, backup_dir, ranking)
    if progress is not None:
        callbacks.append(StepProgress(progress))
    start = time.perf_counter()
    model.training_phase = "retrieval"
    try:
        history = model.fit(train_data, validation_data=validation_data, epochs=config.epochs,
                            steps_per_epoch=steps, callbacks=callbacks, verbose=verbose)
    finally:
        model.training_phase = None
    if model.linear is not None:  # its training copy: the matrix itself is what scores now
        model.linear.release_solution()
    seconds = time.perf_counter() - start
    # Factorized top-k metrics are computed only in evaluation: drop their training zeros.
    values = {k: [float(x) for x in v] for k, v in history.history.items()
              if not k.startswith("factorized_top_k")}
    check_finite(values, "loss", "training", f"Likely cause: {likely_nan_cause(config, stats, tables)}")
    if distributed:
        model = single_device_copy(model)
    epochs_run = len(values.get("loss", [])) or config.epochs
    rate = epochs_run * (steps * config.batch_size if steps else scan.rows) / max(seconds, 1e-9)
    stopping = [c for c in callbacks if isinstance(c, tf.keras.callbacks.EarlyStopping)]
    best_epoch = stopping[0].best_epoch + 1 if stopping and stopping[0].best_weights is not None else epochs_run
    if run.rating_phase:  # its curves join the history; its time the fit's
        curves, rating_seconds = fit_rating_towers(model, batches, scan.rows, shuffle, verbose)
        values, seconds = {**values, **curves}, seconds + rating_seconds
    demote_seen(model, tables)
    model.index_candidates(columns)
    if tensorboard_dir is not None:
        write_projector(model.indexed_item_embeddings, catalog, tables.schema.item_id, tensorboard_dir)
    return TrainResult(model, values, seconds, rate, epoch_log.seconds, catalog, scan, validation_rows or 0,
                       seen.frame(), best_epoch, served_pairs)


def _steps_per_epoch(rows: int, batch_size: int) -> int:
    steps = batch_count(rows, batch_size, drop_remainder=True)
    if steps == 0:
        raise ConfigError(f"{rows} training rows make no full batch of {batch_size}; "
                          "lower batch_size")
    return steps


def likely_nan_cause(config: ModelConfig, stats: TrainingStats, tables: Dataset) -> str:
    """Names the most likely cause of a diverged run: a huge-valued column, else the step size."""
    magnitudes = dict(stats.max_abs)
    schema = tables.schema
    for table, features in ((tables.users, schema.user_features), (tables.items, schema.item_features)):
        for feature in features:
            if table is not None and table[feature.name].dtype.kind == "f" and len(table):
                magnitudes[feature.name] = float(np.nanmax(np.abs(table[feature.name].to_numpy())))
    name, largest = max(magnitudes.items(), key=lambda kv: kv[1], default=("", 0.0))
    if largest > 1e6:
        return (f"column {name!r} has values up to {largest:.3g}; rescale it (or declare it "
                "continuous with log=true) before training")
    return f"learning_rate={config.learning_rate:g} is too high for {config.optimizer}; lower it"


