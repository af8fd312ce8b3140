"""The Keras callbacks of :func:`tfrec.model.training.fit.train`: epoch log and timing, NaN stop,
step progress, index refresh, early stopping, checkpoints, TensorBoard, backups."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrec.data.join import Columns
from tfrec.errors import TfrecError
from tfrec.model.config import ModelConfig
from tfrec.model.training.validation import RankingValidation
from tfrec.progress import Progress

logger = logging.getLogger(__name__)


def check_finite(curves: dict[str, list[float]], loss: str, what: str, fix: str) -> None:
    """Raises when a fit ended on a NaN/inf value (Keras's ``TerminateOnNaN`` stops after the
    epoch it appears in).

    Args:
        curves: The fit's per-epoch values by metric name.
        loss: The name of the loss curve (its length is the epoch the fit stopped in).
        what: What trained (``"training"``, ``"the rating towers' training"``).
        fix: The likely cause and its fix, one sentence.

    Raises:
        TfrecError: A curve's last value is not finite.
    """
    if any(not np.isfinite(v[-1]) for v in curves.values() if v):
        raise TfrecError(f"{what} stopped: the loss became NaN/inf in epoch {len(curves.get(loss, []))} "
                         f"(training stops after a NaN epoch). {fix}")


class EpochLog(tf.keras.callbacks.Callback):
    """Logs each epoch's metrics and times it (training only, validation excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if len(self.seconds) < epoch + 1:
            self.seconds.append(time.perf_counter() - self._start)
        logger.info("epoch %d: %s", epoch + 1,
                    ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()))


class RefreshIndex(tf.keras.callbacks.Callback):
    """Rebuilds the top-k index before each validation pass (embeddings moved)."""

    def __init__(self, catalog: Columns) -> None:
        super().__init__()
        self.catalog = catalog

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.model.index_candidates(self.catalog)


class StopOnNaN(tf.keras.callbacks.Callback):
    """Stops training after an epoch whose loss is NaN/inf. Keras's ``TerminateOnNaN``
    checks every batch, which copies the logs out of the graph after each step and keeps
    the next step from starting early; an epoch mean is NaN when any batch was."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True


class StepProgress(tf.keras.callbacks.Callback):
    """Reports each training step to a :class:`~tfrec.progress.Progress`."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.epoch = 0
        self._supports_tf_logs = True  # it reads no logs: Keras need not copy them out every step

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.progress.training_step(self.epoch, self.params.get("epochs") or 0, batch + 1,
                                    self.params.get("steps"))


class StoppingStateBackup(tf.keras.callbacks.Callback):
    """Keeps early stopping's and the best checkpoint's state in the epoch backup folder, so a
    resumed run stops and restores as the uninterrupted one would. Keras's ``BackupAndRestore``
    saves the model, the optimizer and the epoch counter only: without this, a resumed run
    would forget the best epoch seen before the crash (and its weights), and a best-only
    checkpoint would be overwritten by a worse epoch. Runs after the callbacks it restores
    (their ``on_train_begin`` resets them first)."""

    STATE, WEIGHTS = "stopping_state.json", "stopping_best_weights.npz"

    def __init__(self, folder: str | os.PathLike, stopping: tf.keras.callbacks.EarlyStopping | None,
                 checkpoint: tf.keras.callbacks.ModelCheckpoint | None) -> None:
        super().__init__()
        self.folder, self.stopping, self.checkpoint = Path(folder), stopping, checkpoint
        self._saved_epoch = -1

    def on_train_begin(self, logs: dict | None = None) -> None:
        state_path = self.folder / self.STATE
        if not state_path.is_file():
            return
        state = json.loads(state_path.read_text())
        if self.stopping is not None and "stopping" in state:
            stopping = state["stopping"]
            self.stopping.best, self.stopping.wait = stopping["best"], stopping["wait"]
            self.stopping.best_epoch = stopping["best_epoch"]
            weights = self.folder / self.WEIGHTS
            if weights.is_file():
                with np.load(weights) as arrays:
                    self.stopping.best_weights = [arrays[f"w{i}"] for i in range(len(arrays.files))]
            self._saved_epoch = stopping["best_epoch"]
        if self.checkpoint is not None and "checkpoint_best" in state:
            self.checkpoint.best = state["checkpoint_best"]
        logger.info("resumed early stopping: best epoch %s", state.get("stopping", {}).get("best_epoch"))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state: dict = {}
        stopping = self.stopping
        if stopping is not None:
            state["stopping"] = {"best": float(stopping.best), "wait": int(stopping.wait),
                                 "best_epoch": int(stopping.best_epoch)}
            if stopping.best_weights is not None and stopping.best_epoch != self._saved_epoch:
                partial = self.folder / f".{self.WEIGHTS}.partial.npz"
                np.savez(partial, **{f"w{i}": w for i, w in enumerate(stopping.best_weights)})
                os.replace(partial, self.folder / self.WEIGHTS)
                self._saved_epoch = stopping.best_epoch
        if self.checkpoint is not None:
            state["checkpoint_best"] = float(self.checkpoint.best)
        partial = self.folder / f".{self.STATE}.partial"
        partial.write_text(json.dumps(state))
        os.replace(partial, self.folder / self.STATE)


def training_callbacks(config: ModelConfig, epoch_log: EpochLog, catalog: Columns, validating: bool,
               distributed: bool, checkpoint_dir: str | os.PathLike | None,
               tensorboard_dir: str | os.PathLike | None, backup_dir: str | os.PathLike | None,
               ranking: RankingValidation | None = None) -> list[tf.keras.callbacks.Callback]:
    """Keras callbacks in order: the ranking validation writes ``val_ndcg@10`` into the epoch
    logs before early stopping and checkpoints read it (they monitor it when it exists:
    validation nDCG@10, higher is better; else the validation loss)."""
    callbacks: list[tf.keras.callbacks.Callback] = [StopOnNaN()]
    monitor, mode = ("val_loss", "min") if ranking is None else (ranking.name, "max")
    if validating:
        if not distributed and ranking is None:  # the index is a single-device layer; with the
            callbacks.append(RefreshIndex(catalog))  # ranking validation it would be redundant
        if ranking is not None:
            callbacks.append(ranking)
        if config.early_stopping_patience is not None:
            callbacks.append(tf.keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=config.early_stopping_patience,
                restore_best_weights=True))
    callbacks.append(epoch_log)
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        # Under MultiWorkerMirroredStrategy Keras writes from the chief only (other workers
        # write to temporary folders it deletes).
        callbacks.append(tf.keras.callbacks.ModelCheckpoint(
            str(Path(checkpoint_dir) / "ckpt-{epoch:03d}"), save_weights_only=True,
            monitor=monitor if validating else "loss", mode=mode if validating else "min",
            save_best_only=validating))
    if tensorboard_dir is not None:
        callbacks.append(tf.keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    if backup_dir is not None:
        callbacks.append(tf.keras.callbacks.BackupAndRestore(str(backup_dir)))
        stopping = next((c for c in callbacks if isinstance(c, tf.keras.callbacks.EarlyStopping)), None)
        best = next((c for c in callbacks if isinstance(c, tf.keras.callbacks.ModelCheckpoint)), None)
        if stopping is not None or best is not None:
            callbacks.append(StoppingStateBackup(backup_dir, stopping, best))
    return callbacks
