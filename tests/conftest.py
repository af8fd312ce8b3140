"""Shared fixtures. The real MovieLens 100k lives outside the repo (its licence forbids copies).

Tests find it at ``../shared/data/ml-100k`` relative to the repository root. Where it is
absent they skip with a visible reason -- unless ``TFREC_REQUIRE_DATA=1`` (set by ``.ci/run``),
which turns the absence into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tfrec  # noqa: F401  (selects Keras 2 before any test imports TensorFlow)

REPO_ROOT = Path(__file__).resolve().parents[1]
ML100K_DIR = REPO_ROOT.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    if not (ML100K_DIR / "u.data").is_file():
        message = f"MovieLens 100k not found at {ML100K_DIR}"
        if os.environ.get("TFREC_REQUIRE_DATA") == "1":
            pytest.fail(message + " and TFREC_REQUIRE_DATA=1 requires it")
        pytest.skip(message)
    return ML100K_DIR


@pytest.fixture(scope="session")
def ml100k(ml100k_dir):
    from tfrec.data import load_dataset

    return load_dataset("ml-100k", data_dir=ml100k_dir)
