"""Short forms of the library's one training path for tests (frames in, results out)."""

from __future__ import annotations

import pandas as pd

from tfrec.data.dataset import Dataset
from tfrec.data.scan import Tee
from tfrec.data.sources import FrameSource
from tfrec.evaluation.splits import Split
from tfrec.model.config import ModelConfig
from tfrec.model.features.history_table import HistoryTable
from tfrec.model.features.stats import TrainingStats
from tfrec.model.network.two_tower import TwoTowerModel
from tfrec.model.training.build import build_model
from tfrec.model.training.evaluate import evaluate
from tfrec.model.training.fit import TrainResult, train


def train_split(config: ModelConfig, split: Split, **options) -> TrainResult:
    """:func:`tfrec.model.training.fit.train` on a split's train (and validation) rows."""
    validation = None
    if split.validation is not None and len(split.validation):
        validation = FrameSource(split.dataset, split.validation, "validation")
    return train(config, FrameSource(split.dataset, split.train, split.name), validation, **options)


def evaluate_frame(model: TwoTowerModel, dataset: Dataset, frame: pd.DataFrame) -> dict[str, float]:
    """:func:`tfrec.model.training.evaluate.evaluate` on in-memory rows."""
    return evaluate(model, FrameSource(dataset, frame))


def build_from_frame(config: ModelConfig, dataset: Dataset, frame: pd.DataFrame) -> TwoTowerModel:
    """An untrained model whose statistics come from ``frame``."""
    source = FrameSource(dataset, frame)
    stats = TrainingStats(dataset.schema, config.selected_features(dataset.schema, "context"))
    history = (HistoryTable(dataset.schema, config.history_max_len, config.history_weighting)
               if config.history else None)
    scan = source.scan(Tee(stats, history))
    return build_model(config, dataset, stats, source.sample(scan.sample), history)
