"""Saving and loading a model: config JSON (vocabularies included) + TF checkpoint, no pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfrec.errors import TfrecError
from tfrec.model.network.two_tower import TwoTowerModel

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
    """Rebuilds a model saved by :func:`save_model`.

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
    model(dummy_batch(model))
    model.load_weights(str(directory / WEIGHTS_PREFIX)).expect_partial()
    return model


def single_device_copy(model: TwoTowerModel) -> TwoTowerModel:
    """The same model and weights outside any strategy (for indexing, evaluation, saving)."""
    copy = TwoTowerModel.from_config(model.get_config())
    copy(dummy_batch(copy))
    copy.set_weights([np.asarray(w) for w in model.get_weights()])
    return copy


def dummy_batch(model: TwoTowerModel) -> dict[str, tf.Tensor]:
    """One example with every input the model reads (values need not be known)."""
    zeros = {"float32": tf.constant([0.0]), "int64": tf.constant([0], tf.int64), "string": tf.constant([""])}
    dtypes = model.input_dtypes()
    return {name: zeros[dtype] for side in dtypes.values() for name, dtype in side.items()}
