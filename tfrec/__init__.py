"""tfrec: two-tower recommenders on TensorFlow Recommenders, compared against classic baselines.

Importing :mod:`tfrec` selects Keras 2 (``tf-keras``) for TensorFlow, which TFRS 0.7.7 needs:
it sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported. TensorFlow itself is imported
lazily, only by the modules that need it, so the data layer and the CLI start fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__version__ = "0.1.0"

_KERAS_FIX = (
    "tfrec needs Keras 2 (the `tf-keras` package), because TensorFlow Recommenders 0.7.7 does not "
    "work with Keras 3. Import tfrec before TensorFlow, or set the environment variable "
    "TF_USE_LEGACY_KERAS=1 before Python starts, and install tf-keras at the same minor version "
    "as tensorflow (pip install 'tf-keras==2.20.*')."
)


def _select_legacy_keras() -> None:
    """Makes ``tf.keras`` resolve to tf-keras (Keras 2), or raises if it is too late for that.

    Raises:
        ImportError: Keras 3 was already loaded as ``tf.keras`` before tfrec was imported.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is None:
        return
    # TensorFlow was imported first. Its `tf.keras` is a lazy loader that reads the variable on
    # first access, so it may still be switched; check what it resolves to now.
    keras_module = getattr(tensorflow, "keras", None)
    module_name = getattr(keras_module, "__name__", "") or ""
    if not module_name.startswith("tf_keras"):
        raise ImportError(
            f"tf.keras is already bound to {module_name or 'Keras 3'!r}. " + _KERAS_FIX
        )


_select_legacy_keras()

from tfrec.errors import DataError, SchemaError, TfrecError  # noqa: E402
from tfrec.schema import Schema  # noqa: E402

__all__ = ["DataError", "Schema", "SchemaError", "TfrecError", "__version__", "compare"]


def __getattr__(name: str) -> Any:
    """``tfrec.compare``: the main job from Python, imported on first use (it loads TensorFlow)."""
    if name == "compare":
        from tfrec.evaluation.compare import compare

        return compare
    raise AttributeError(f"module 'tfrec' has no attribute {name!r}")
