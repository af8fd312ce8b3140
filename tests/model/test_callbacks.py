"""Training callbacks: a run resumed from its epoch backup stops and restores like the
uninterrupted run (early stopping's best epoch and weights survive the crash)."""

import json

import pytest
from helpers import train_split

from tfrec.data.columns import side_columns
from tfrec.evaluation.splits import make_splits
from tfrec.model.config import ModelConfig
from tfrec.model.training.callbacks import StoppingStateBackup
from tfrec.model.training.validation import RankingValidation
from tfrec.progress import Progress

CONFIG = ModelConfig(history=True, embedding_dim=32, id_embedding_dim=32, use_user_id=False, user_features=(),
                     item_features=(), context_features=(), tower_layers=(), projection=False,
                     rating_weight=0.0, examples="interactions", negatives="full", epochs=8, batch_size=256,
                     learning_rate=0.3, early_stopping_patience=8, steps_per_execution=1, seed=5)


class Crash(Exception):
    pass


class CrashAfter(Progress):
    """Raises at the first step of epoch ``epoch`` (the previous epochs are backed up)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def training_step(self, epoch, epochs, step, steps):
        if epoch == self.epoch:
            raise Crash


@pytest.fixture
def split(synthetic):
    return make_splits(synthetic, "random", test_ratio=0.2, validation_ratio=0.2, seed=3)[0]


def test_a_resumed_run_keeps_the_best_epoch_seen_before_the_crash(split, tmp_path):
    backup = tmp_path / "backup"
    with pytest.raises(Crash):
        train_split(CONFIG, split, backup_dir=backup, progress=CrashAfter(7))
    state = json.loads((backup / StoppingStateBackup.STATE).read_text())["stopping"]
    assert (backup / StoppingStateBackup.WEIGHTS).is_file()
    assert 0 <= state["best_epoch"] < 6 and state["best"] > 0
    # Resumed with a learning rate that wrecks every later epoch: the best stays the one seen
    # before the crash, and its weights are the ones restored at the end.
    resumed = train_split(CONFIG.replace(learning_rate=50.0), split, backup_dir=backup)
    assert len(resumed.history["val_ndcg@10"]) == 2, "epochs 7-8 ran after the resume"
    assert max(resumed.history["val_ndcg@10"]) < state["best"]
    assert resumed.best_epoch == state["best_epoch"] + 1
    ranking = RankingValidation(split.dataset, side_columns(split.dataset, "item", split.dataset.item_ids,
                                                            missing="default"),
                                split.train[["user_id", "item_id"]].drop_duplicates(),
                                split.validation[["user_id", "item_id"]])
    ranking.set_model(resumed.model)
    assert ranking.score() == pytest.approx(state["best"], abs=1e-6), "the best weights were restored"
