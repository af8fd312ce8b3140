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

from tfrec.convert import feature_columns, side_columns, to_tf_dataset
from tfrec.data.dataset import Dataset
from tfrec.errors import ConfigError, TfrecError
from tfrec.model.config import ModelConfig
from tfrec.model.features import fit_spec, id_spec
from tfrec.model.two_tower import Tower, TwoTowerModel
from tfrec.splits import Split

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow and makes TF ops deterministic."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _select(features, names: tuple[str, ...] | None, side: str):
    if names is None:
        return features
    known = {f.name: f for f in features}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"{side}_features {unknown} are not in the schema; it has {list(known)}")
    return tuple(known[n] for n in names)


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
    columns = feature_columns(dataset, train)
    user_side = _select(schema.user_features, config.user_features, "user") + _select(
        schema.context_features, config.context_features, "context")
    item_side = _select(schema.item_features, config.item_features, "item")
    dim = config.feature_embedding_dim
    query_specs = [fit_spec(f, columns[f.name], dim) for f in user_side]
    candidate_specs = [fit_spec(f, columns[f.name], dim) for f in item_side]
    if config.use_user_id:
        query_specs.insert(0, id_spec(schema.user_id, columns[schema.user_id], schema.user_id_dtype,
                                      config.id_embedding_dim, config.hash_bins_above))
    if config.use_item_id:
        candidate_specs.insert(0, id_spec(schema.item_id, columns[schema.item_id], schema.item_id_dtype,
                                          config.id_embedding_dim, config.hash_bins_above))
    for side, specs in (("query", query_specs), ("candidate", candidate_specs)):
        if not specs:
            raise ConfigError(f"the {side} tower has no input: enable the id or add features")
    item_counts = pd.Series(columns[schema.item_id]).value_counts()
    item_counts = item_counts.sort_values(ascending=False, kind="stable")
    item_vocabulary = [v if isinstance(v, str) else int(v) for v in item_counts.index]
    if schema.item_id_dtype == "string":
        item_vocabulary = [str(v) for v in item_vocabulary]
    user_vocabulary = sorted(pd.unique(columns[schema.user_id]).tolist(), key=str)
    if schema.user_id_dtype == "string":
        user_vocabulary = [str(v) for v in user_vocabulary]
    probabilities = (item_counts.to_numpy() / item_counts.sum()).tolist()
    global_mean = float(train[schema.rating].mean()) if schema.rating is not None else 0.0
    model = TwoTowerModel(
        config=config.to_dict(), query_specs=query_specs, candidate_specs=candidate_specs,
        user_id=schema.user_id, item_id=schema.item_id, user_id_dtype=schema.user_id_dtype,
        item_id_dtype=schema.item_id_dtype, user_vocabulary=user_vocabulary,
        item_vocabulary=item_vocabulary, item_probabilities=probabilities,
        rating=schema.rating, weight=schema.weight, global_mean=global_mean)
    sample = {k: v[:2] for k, v in columns.items()}
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


def _optimizer(config: ModelConfig):
    if config.optimizer == "adagrad":
        return tf.keras.optimizers.Adagrad(config.learning_rate)
    if config.optimizer == "adam":
        return tf.keras.optimizers.Adam(config.learning_rate)
    return tf.keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay)


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
    dataset = split.dataset
    train, validation = split.train, split.validation
    if validation is None and config.validation_ratio > 0:
        order = np.random.default_rng(config.seed).permutation(len(train))
        cut = int(round(len(train) * config.validation_ratio))
        validation = train.iloc[order[:cut]].reset_index(drop=True)
        train = train.iloc[order[cut:]].reset_index(drop=True)
    model = build_model(config, dataset, train)
    model.compile(optimizer=_optimizer(config), jit_compile=config.jit_compile)
    train_data = to_tf_dataset(dataset, train, batch_size=config.batch_size, seed=config.seed)
    epoch_log = _EpochLog()
    callbacks: list[tf.keras.callbacks.Callback] = [tf.keras.callbacks.TerminateOnNaN(), epoch_log]
    validation_data = None
    catalog = catalog_columns(dataset)
    if validation is not None and len(validation):
        validation_data = to_tf_dataset(dataset, validation, batch_size=config.batch_size, shuffle=False)
        callbacks.append(_RefreshIndex(catalog))
        if config.early_stopping_patience is not None:
            callbacks.append(tf.keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience,
                restore_best_weights=True))
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
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
                        callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    # Factorized top-k metrics are computed only in evaluation: drop their training zeros.
    values = {k: [float(x) for x in v] for k, v in history.history.items()
              if not k.startswith("factorized_top_k")}
    if any(not np.isfinite(v[-1]) for v in values.values() if v):
        raise TfrecError(
            f"training stopped: the loss became NaN/inf in epoch {len(values.get('loss', []))} "
            f"(TerminateOnNaN). Likely cause: {_likely_nan_cause(dataset, train, config)}")
    model.index_candidates(catalog)
    epochs_run = len(values.get("loss", [])) or config.epochs
    return TrainResult(model, values, seconds, epochs_run * len(train) / max(seconds, 1e-9),
                       epoch_seconds=epoch_log.seconds)


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
    if model.optimizer is None:  # a freshly built or loaded model: compile for evaluation
        model.compile()
    model.index_candidates(catalog_columns(dataset))
    data = to_tf_dataset(dataset, frame, batch_size=batch_size, shuffle=False)
    return {k: float(v) for k, v in model.evaluate(data, return_dict=True, verbose=0).items()}


def save_run(result: TrainResult, split: Split, directory: str | os.PathLike,
             test_metrics: dict[str, float] | None = None) -> Path:
    """Writes a training run: everything ``tfrec export`` and ``tfrec recommend`` need.

    ``directory`` receives ``model/`` (config JSON + weights), ``config.json``, ``schema.json``,
    ``vocabularies.json``, ``history.json`` (+ test metrics), ``history.png``, the whole item
    catalog ``catalog.parquet`` and, when there is one, the user table ``users.parquet``.
    """
    from tfrec.plots import plot_history

    directory = Path(directory)
    dataset, model = split.dataset, result.model
    save_model(model, directory / "model")
    (directory / "config.json").write_text(json.dumps(model.get_config()["config"], indent=2))
    (directory / "schema.json").write_text(dataset.schema.to_json())
    vocabularies = {s["name"]: s["vocabulary"] for s in model.query_specs + model.candidate_specs
                    if "vocabulary" in s}
    (directory / "vocabularies.json").write_text(json.dumps(vocabularies))
    summary = {"data": dataset.name, "split": split.summary(), "seconds": result.seconds,
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
