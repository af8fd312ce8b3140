"""The two-tower model: its configuration, features, network and training.

The public face, imported on first use (``import tfrec.model`` loads no TensorFlow):

* :class:`ModelConfig` -- every option, from TOML or keywords;
* :func:`train` and :class:`TrainResult` -- the one training entry point, any batch source;
* :class:`TwoTowerModel` -- the trained Keras model;
* :func:`save_model` / :func:`load_model` -- config JSON plus a TF checkpoint;
* :func:`evaluate` -- top-k and rating metrics of a trained model on held-out rows.

Sub-packages by job, lowest first (``tests/test_architecture.py`` keeps the order):
``config`` (this folder's ``config.py`` and ``config_check.py``) -> :mod:`~tfrec.model.features`
-> :mod:`~tfrec.model.network` -> :mod:`~tfrec.model.training`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfrec.model.config import ModelConfig
    from tfrec.model.network.persist import load_model, save_model
    from tfrec.model.network.two_tower import TwoTowerModel
    from tfrec.model.training.evaluate import evaluate
    from tfrec.model.training.fit import TrainResult, train

#: Public name -> the module that defines it.
EXPORTS = {
    "ModelConfig": "tfrec.model.config",
    "train": "tfrec.model.training.fit",
    "TrainResult": "tfrec.model.training.fit",
    "TwoTowerModel": "tfrec.model.network.two_tower",
    "save_model": "tfrec.model.network.persist",
    "load_model": "tfrec.model.network.persist",
    "evaluate": "tfrec.model.training.evaluate",
}

__all__ = ["ModelConfig", "TrainResult", "TwoTowerModel", "evaluate", "load_model", "save_model", "train"]


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'tfrec.model' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)
