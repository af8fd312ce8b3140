"""Building, training, saving and loading the two-tower model."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.convert import (
    column_array,
    feature_columns,
    interaction_arrays,
    side_columns,
    to_tf_dataset,
)
from tfrec.data.dataset import Dataset
from tfrec.data.stream import (
    FeatureJoin,
    FileSource,
    ScanResult,
    check_feature_rows,
    scan_files,
    stream_dataset,
)
from tfrec.data.validate import InvalidPolicy
from tfrec.distribute import check_batch_size
from tfrec.errors import ConfigError, TfrecError
from tfrec.model.config import ModelConfig
from tfrec.model.features import TrainingStats, fit_spec, id_spec
from tfrec.model.optimizers import make_optimizer
from tfrec.model.two_tower import Tower, TwoTowerModel
from tfrec.splits import Split

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow and makes TF ops deterministic."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def catalog_columns(dataset: Dataset) -> dict[str, np.ndarray]:
    """Item id plus item features for the whole catalog (``{column: array[n_items]}``)."""
    return side_columns(dataset, "item", dataset.item_ids)


def build_model(config: ModelConfig, dataset: Dataset, train: pd.DataFrame) -> TwoTowerModel:
    """Builds a model whose preprocessing is adapted on ``train`` only.

    Args:
        config: Model and training options.
        dataset: Schema and feature tables.
        train: The training interactions (vocabularies and statistics come from these rows).

    Raises:
        ConfigError: Unknown features named in the config, or no feature in a tower.
    """
    schema = dataset.schema
    stats = TrainingStats(schema, config.selected_features(schema, "context"))
    stats.add(interaction_arrays(schema, train))
    sample = feature_columns(dataset, train.iloc[:2])
    return model_from_stats(config, dataset, stats, sample)


def model_from_stats(config: ModelConfig, dataset: Dataset, stats: TrainingStats,
                     sample: dict[str, np.ndarray]) -> TwoTowerModel:
    """Builds a model from training statistics (in-memory or streamed, the same code).

    User and item feature statistics come from the feature tables, each row weighted by its
    id's training interactions -- the same numbers as the joined interaction columns.

    Args:
        config: Model and training options.
        dataset: Schema and feature tables (its interactions are not read).
        stats: Counts per id, rating mean and context statistics of the training rows.
        sample: A few joined training rows ``{column: array[n]}`` (variables are created on them).

    Raises:
        ConfigError: Unknown features named in the config, or no feature in a tower.
    """
    schema = dataset.schema
    user_side = config.selected_features(schema, "user")
    context = config.selected_features(schema, "context")
    item_side = config.selected_features(schema, "item")
    dim = config.feature_embedding_dim

    def side_specs(features, table, id_column, counts):
        if not features:
            return []
        weights = counts.reindex(table[id_column].to_numpy()).fillna(0.0).to_numpy()
        return [fit_spec(f, column_array(table[f.name]), dim, weights) for f in features]

    query_specs = side_specs(user_side, dataset.users, schema.user_id, stats.users.counts)
    query_specs += [stats.context[f.name].spec(dim) for f in context]
    candidate_specs = side_specs(item_side, dataset.items, schema.item_id, stats.items.counts)
    if config.use_user_id:
        query_specs.insert(0, id_spec(schema.user_id, stats.users.counts, schema.user_id_dtype,
                                      config.id_embedding_dim, config.hash_bins_above))
    if config.use_item_id:
        candidate_specs.insert(0, id_spec(schema.item_id, stats.items.counts, schema.item_id_dtype,
                                          config.id_embedding_dim, config.hash_bins_above))
    for side, specs in (("query", query_specs), ("candidate", candidate_specs)):
        if not specs:
            raise ConfigError(f"the {side} tower has no input: enable the id or add features")
    item_vocabulary = stats.items.vocabulary()
    item_counts = stats.items.counts.reindex(item_vocabulary).to_numpy()
    user_vocabulary = sorted(stats.users.vocabulary(), key=str)
    model = TwoTowerModel(
        config=config.to_dict(), query_specs=query_specs, candidate_specs=candidate_specs,
        user_id=schema.user_id, item_id=schema.item_id, user_id_dtype=schema.user_id_dtype,
        item_id_dtype=schema.item_id_dtype, user_vocabulary=user_vocabulary,
        item_vocabulary=item_vocabulary, item_probabilities=(item_counts / item_counts.sum()).tolist(),
        rating=schema.rating, weight=schema.weight, global_mean=stats.mean_rating)
    sample = {k: v[:2] for k, v in sample.items()}
    check_tower_outputs(model.query_tower, model.candidate_tower, sample)
    model(sample)  # creates every variable
    return model


def check_tower_outputs(query_tower: Tower, candidate_tower: Tower, sample: dict) -> None:
    """Runs both towers on ``sample`` and checks their outputs can be dot-multiplied.

    Raises:
        ValueError: The outputs' shapes differ; the message names both.
    """
    query = query_tower(sample)
    candidate = candidate_tower(sample)
    if query.shape[-1] != candidate.shape[-1]:
        raise ValueError(
            f"query tower output shape {tuple(query.shape)} and candidate tower output shape "
            f"{tuple(candidate.shape)} differ in the last dimension; set the same embedding_dim "
            "for both towers"
        )


@dataclasses.dataclass
class TrainResult:
    """A trained model and what training measured.

    Attributes:
        model: The trained model (top-k index built over the catalog).
        history: Keras history: metric name -> per-epoch values.
        seconds: Wall time of ``fit``.
        examples_per_second: Training examples per second over all epochs.
        epoch_seconds: Wall time of each epoch (the first includes tracing).
    """

    model: TwoTowerModel
    history: dict[str, list[float]]
    seconds: float
    examples_per_second: float
    epoch_seconds: list[float]

    @property
    def steady_examples_per_second(self) -> float:
        """Examples per second after the first (tracing) epoch, median over epochs."""
        epochs = self.epoch_seconds[1:] or self.epoch_seconds
        train_rows = self.examples_per_second * self.seconds / max(1, len(self.epoch_seconds))
        return float(train_rows / np.median(epochs))


class _EpochLog(tf.keras.callbacks.Callback):
    """Logs each epoch's metrics and times it (training only, validation excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def on_epoch_end(self, epoch, logs=None):
        if len(self.seconds) < epoch + 1:
            self.seconds.append(time.perf_counter() - self._start)
        logger.info("epoch %d: %s", epoch + 1,
                    ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()))


class _RefreshIndex(tf.keras.callbacks.Callback):
    """Rebuilds the top-k index before each validation pass (embeddings moved)."""

    def __init__(self, catalog: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.catalog = catalog

    def on_test_begin(self, logs=None):
        self.model.index_candidates(self.catalog)


def train_model(
    config: ModelConfig,
    split: Split,
    *,
    strategy: tf.distribute.Strategy | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    tensorboard_dir: str | os.PathLike | None = None,
    backup_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Trains a two-tower model on ``split.train`` (validation: ``split.validation`` or a
    ``config.validation_ratio`` carve-out of train).

    Args:
        config: Model and training options.
        split: The shared split; its test rows are never touched here.
        strategy: A ``tf.distribute`` strategy (:func:`tfrec.distribute.make_strategy`);
            ``None`` trains on the default device. ``config.batch_size`` is the global batch.
        checkpoint_dir: Write the best weights here each epoch (ModelCheckpoint).
        tensorboard_dir: TensorBoard log folder.
        backup_dir: Keras ``BackupAndRestore`` folder: the model, optimizer state and epoch
            counter are saved there after every epoch, and a run started with a backup present
            resumes from it (the backup is deleted when training completes).
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).

    Returns:
        The trained model (with its top-k index built) and its history.
    """
    seed_everything(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    check_batch_size(config.batch_size, strategy)
    dataset = split.dataset
    train, validation = split.train, split.validation
    if validation is None and config.validation_ratio > 0:
        order = np.random.default_rng(config.seed).permutation(len(train))
        cut = int(round(len(train) * config.validation_ratio))
        validation = train.iloc[order[:cut]].reset_index(drop=True)
        train = train.iloc[order[cut:]].reset_index(drop=True)
    with strategy.scope():
        model = build_model(config, dataset, train)
    distributed = _distributed(strategy)
    # Under a strategy every replica (and worker) runs the same number of equal-sized steps.
    steps = _steps_per_epoch(len(train), config.batch_size) if distributed else None

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return to_tf_dataset(dataset, train, batch_size=context.get_per_replica_batch_size(config.batch_size),
                             seed=config.seed, drop_remainder=distributed, repeat=distributed,
                             input_context=context)

    validation_data = None
    if validation is not None and len(validation):
        validation_data = to_tf_dataset(dataset, validation, batch_size=config.batch_size, shuffle=False)
    return _fit(model, config, strategy, dataset, dataset_fn, train_rows=len(train),
                steps_per_epoch=steps, validation_data=validation_data,
                checkpoint_dir=checkpoint_dir, tensorboard_dir=tensorboard_dir,
                backup_dir=backup_dir, verbose=verbose,
                nan_cause=lambda: _likely_nan_cause(dataset, train, config))


def train_files(
    config: ModelConfig,
    source: FileSource,
    dataset: Dataset,
    *,
    strategy: tf.distribute.Strategy | None = None,
    invalid: InvalidPolicy = "error",
    shuffle_buffer: int = 100_000,
    checkpoint_dir: str | os.PathLike | None = None,
    tensorboard_dir: str | os.PathLike | None = None,
    backup_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> tuple[TrainResult, ScanResult]:
    """Trains on interaction files streamed through ``tf.data`` (never loaded whole).

    One streaming pass validates the rows and computes vocabularies and statistics; training
    then reads the files again each epoch (sharded per worker under a strategy) and joins
    ``dataset``'s user/item feature tables inside the pipeline.

    Args:
        config: Model and training options (``batch_size`` is the global batch).
        source: The training interaction files (:class:`~tfrec.data.stream.FileSource`).
        dataset: Schema and feature tables (:func:`~tfrec.data.tabular.load_feature_tables`);
            without an item table the catalog is every item id in the files.
        strategy: A ``tf.distribute`` strategy, or ``None`` for the default device.
        invalid: ``error`` or ``drop`` (counted, logged and reported) for invalid rows.
        shuffle_buffer: Rows in the shuffle buffer.
        checkpoint_dir: Weights after each epoch.
        tensorboard_dir: TensorBoard log folder.
        backup_dir: ``BackupAndRestore`` folder (resume a killed run).
        verbose: Keras progress output.

    Returns:
        The trained model (top-k index built over the catalog) and the scan's counts.

    Raises:
        DataError: Unreadable or invalid rows, or ids without a feature row.
    """
    seed_everything(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    check_batch_size(config.batch_size, strategy)
    schema = dataset.schema
    stats = TrainingStats(schema, config.selected_features(schema, "context"))
    scan = scan_files(source, schema, stats, invalid=invalid)
    check_feature_rows(stats, dataset)
    if dataset.items is None:
        dataset.items = pd.DataFrame({schema.item_id: stats.items.vocabulary()})
    sample = {k: np.asarray(v) for k, v in FeatureJoin.from_dataset(dataset)(
        {k: tf.constant(v) for k, v in scan.sample.items()}).items()}
    with strategy.scope():
        model = model_from_stats(config, dataset, stats, sample)
    steps = _steps_per_epoch(scan.rows, config.batch_size)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return stream_dataset(source, schema, FeatureJoin.from_dataset(dataset),
                              batch_size=context.get_per_replica_batch_size(config.batch_size),
                              seed=config.seed, shuffle_buffer=shuffle_buffer, repeat=True,
                              drop_remainder=True, input_context=context)

    result = _fit(model, config, strategy, dataset, dataset_fn, train_rows=scan.rows,
                  steps_per_epoch=steps, validation_data=None, checkpoint_dir=checkpoint_dir,
                  tensorboard_dir=tensorboard_dir, backup_dir=backup_dir, verbose=verbose,
                  nan_cause=lambda: f"learning_rate={config.learning_rate:g} may be too high; "
                                    "check the files for huge values")
    return result, scan


def _distributed(strategy: tf.distribute.Strategy) -> bool:
    return strategy is not tf.distribute.get_strategy()


def _steps_per_epoch(rows: int, batch_size: int) -> int:
    steps = rows // batch_size
    if steps == 0:
        raise ConfigError(f"{rows} training rows make no full batch of {batch_size}; "
                          "lower batch_size")
    return steps


def _fit(model: TwoTowerModel, config: ModelConfig, strategy: tf.distribute.Strategy,
         dataset: Dataset, dataset_fn, *, train_rows: int, steps_per_epoch: int | None,
         validation_data, checkpoint_dir, tensorboard_dir, backup_dir, verbose: int,
         nan_cause) -> TrainResult:
    """Compiles and fits ``model`` (built under ``strategy``) on ``dataset_fn``'s batches,
    then returns a plain (single-device) copy with its top-k index built over ``dataset``'s
    catalog.

    ``dataset_fn(input_context)`` returns per-replica batches; under a strategy it is
    distributed with ``distribute_datasets_from_function`` (one input pipeline per worker).
    """
    if _distributed(strategy):
        train_data = strategy.distribute_datasets_from_function(dataset_fn)
    else:
        train_data = dataset_fn(tf.distribute.InputContext())
    with strategy.scope():
        # XLA cannot compile the lookup tables: the model compiles its dense parts itself.
        model.compile(optimizer=make_optimizer(config), jit_compile=False)
    epoch_log = _EpochLog()
    callbacks: list[tf.keras.callbacks.Callback] = [tf.keras.callbacks.TerminateOnNaN(), epoch_log]
    catalog = catalog_columns(dataset)
    if validation_data is not None:
        if not _distributed(strategy):  # the index is a single-device layer
            callbacks.append(_RefreshIndex(catalog))
        if config.early_stopping_patience is not None:
            callbacks.append(tf.keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience,
                restore_best_weights=True))
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        # Under MultiWorkerMirroredStrategy Keras writes from the chief only (other workers
        # write to temporary folders it deletes).
        callbacks.append(tf.keras.callbacks.ModelCheckpoint(
            str(Path(checkpoint_dir) / "ckpt-{epoch:03d}"), save_weights_only=True,
            monitor="val_loss" if validation_data is not None else "loss",
            save_best_only=validation_data is not None))
    if tensorboard_dir is not None:
        callbacks.append(tf.keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    if backup_dir is not None:
        callbacks.append(tf.keras.callbacks.BackupAndRestore(str(backup_dir)))
    start = time.perf_counter()
    history = model.fit(train_data, validation_data=validation_data, epochs=config.epochs,
                        steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    # Factorized top-k metrics are computed only in evaluation: drop their training zeros.
    values = {k: [float(x) for x in v] for k, v in history.history.items()
              if not k.startswith("factorized_top_k")}
    if any(not np.isfinite(v[-1]) for v in values.values() if v):
        raise TfrecError(
            f"training stopped: the loss became NaN/inf in epoch {len(values.get('loss', []))} "
            f"(TerminateOnNaN). Likely cause: {nan_cause()}")
    if _distributed(strategy):
        model = _single_device_copy(model)
    model.index_candidates(catalog)
    epochs_run = len(values.get("loss", [])) or config.epochs
    rows_per_epoch = steps_per_epoch * config.batch_size if steps_per_epoch else train_rows
    return TrainResult(model, values, seconds, epochs_run * rows_per_epoch / max(seconds, 1e-9),
                       epoch_seconds=epoch_log.seconds)


def _single_device_copy(model: TwoTowerModel) -> TwoTowerModel:
    """The same model and weights outside any strategy (for indexing, evaluation, saving)."""
    copy = TwoTowerModel.from_config(model.get_config())
    copy(_dummy_batch(copy))
    copy.set_weights([np.asarray(w) for w in model.get_weights()])
    return copy


def _likely_nan_cause(dataset: Dataset, train: pd.DataFrame, config: ModelConfig) -> str:
    """Names the most likely cause of a diverged run: a huge-valued column, else the step size."""
    columns = feature_columns(dataset, train)
    magnitudes = {name: float(np.nanmax(np.abs(values))) for name, values in columns.items()
                  if values.dtype.kind == "f" and len(values)}
    name, largest = max(magnitudes.items(), key=lambda kv: kv[1], default=("", 0.0))
    if largest > 1e6:
        return (f"column {name!r} has values up to {largest:.3g}; rescale it (or declare it "
                "continuous with log=true) before training")
    return f"learning_rate={config.learning_rate:g} is too high for {config.optimizer}; lower it"


def evaluate_model(model: TwoTowerModel, dataset: Dataset, frame: pd.DataFrame,
                   batch_size: int = 8192) -> dict[str, float]:
    """Keras evaluation on ``frame``: factorized top-k accuracy (whole catalog) and RMSE."""
    return _evaluate(model, dataset, to_tf_dataset(dataset, frame, batch_size=batch_size, shuffle=False))


def evaluate_files(model: TwoTowerModel, dataset: Dataset, source: FileSource,
                   batch_size: int = 8192) -> dict[str, float]:
    """Keras evaluation on streamed interaction files (invalid rows are left out, as in
    training): factorized top-k accuracy over the whole catalog and RMSE."""
    data = stream_dataset(source, dataset.schema, FeatureJoin.from_dataset(dataset),
                          batch_size=batch_size, shuffle=False)
    return _evaluate(model, dataset, data)


def _evaluate(model: TwoTowerModel, dataset: Dataset, data: tf.data.Dataset) -> dict[str, float]:
    if model.optimizer is None:  # a freshly built or loaded model: compile for evaluation
        model.compile()
    model.index_candidates(catalog_columns(dataset))
    return {k: float(v) for k, v in model.evaluate(data, return_dict=True, verbose=0).items()}


def save_run(result: TrainResult, dataset: Dataset, directory: str | os.PathLike, *,
             split_summary: dict[str, Any] | None = None,
             test_metrics: dict[str, float] | None = None) -> Path:
    """Writes a training run: everything ``tfrec export`` and ``tfrec recommend`` need.

    Args:
        result: The trained model and its history.
        dataset: Schema and feature tables of the run.
        directory: Output folder.
        split_summary: What the model was trained on (``Split.summary()`` or file counts).
        test_metrics: Held-out metrics to record.

    ``directory`` receives ``model/`` (config JSON + weights), ``config.json``, ``schema.json``,
    ``vocabularies.json``, ``history.json`` (+ test metrics), ``history.png``, the whole item
    catalog ``catalog.parquet`` and, when there is one, the user table ``users.parquet``.
    """
    from tfrec.plots import plot_history

    directory = Path(directory)
    model = result.model
    save_model(model, directory / "model")
    (directory / "config.json").write_text(json.dumps(model.get_config()["config"], indent=2))
    (directory / "schema.json").write_text(dataset.schema.to_json())
    vocabularies = {s["name"]: s["vocabulary"] for s in model.query_specs + model.candidate_specs
                    if "vocabulary" in s}
    (directory / "vocabularies.json").write_text(json.dumps(vocabularies))
    summary = {"data": dataset.name, "split": split_summary or {}, "seconds": result.seconds,
               "examples_per_second": result.examples_per_second, "history": result.history,
               "test": test_metrics or {}}
    (directory / "history.json").write_text(json.dumps(summary, indent=2))
    catalog = dataset.items if dataset.items is not None else pd.DataFrame(
        {dataset.schema.item_id: dataset.item_ids})
    catalog.to_parquet(directory / "catalog.parquet", index=False)
    if dataset.users is not None:
        dataset.users.to_parquet(directory / "users.parquet", index=False)
    plot_history(result.history, directory / "history.png")
    return directory


MODEL_FILE = "model.json"
WEIGHTS_PREFIX = "weights/model"


def save_model(model: TwoTowerModel, directory: str | os.PathLike) -> Path:
    """Saves the model's config (JSON, vocabularies included) and weights (TF checkpoint)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_text(json.dumps(model.get_config()))
    model.save_weights(str(directory / WEIGHTS_PREFIX))
    return directory


def load_model(directory: str | os.PathLike) -> TwoTowerModel:
    """Rebuilds a model saved by :func:`save_model` (no pickle involved).

    Raises:
        TfrecError: The folder is missing or not a saved tfrec model.
    """
    directory = Path(directory)
    config_path = directory / MODEL_FILE
    if not config_path.is_file():
        raise TfrecError(f"{directory}: not a saved tfrec model ({MODEL_FILE} missing); "
                         "train one with `tfrec train --out DIR`")
    config: dict[str, Any] = json.loads(config_path.read_text())
    model = TwoTowerModel.from_config(config)
    model(_dummy_batch(model))
    model.load_weights(str(directory / WEIGHTS_PREFIX)).expect_partial()
    return model


def _dummy_batch(model: TwoTowerModel) -> dict[str, tf.Tensor]:
    """One example with every input the model reads (values need not be known)."""
    zeros = {"float32": tf.constant([0.0]), "int64": tf.constant([0], tf.int64), "string": tf.constant([""])}
    dtypes = model.input_dtypes()
    return {name: zeros[dtype] for side in ("query", "candidate") for name, dtype in dtypes[side].items()}
