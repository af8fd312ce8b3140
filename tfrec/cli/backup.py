"""The epoch backup of ``tfrec train`` (``.NAME.backup`` beside ``--out``), used only when it
matches the run.

A backup records a fingerprint of what the run trains -- the model config, the schema, the data
(file paths, sizes and modification times, or a hash of the in-memory rows) and the seed. It
is restored only with ``--resume`` and only when the fingerprint matches; otherwise a one-line
error says what differs. Without ``--resume`` a backup tfrec made is discarded.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from tfrec.data.sources import BatchSource, FileBatchSource, FrameSource
from tfrec.errors import TfrecError
from tfrec.model.config import ModelConfig

FINGERPRINT = "tfrec-fingerprint.json"


def fingerprint(config: ModelConfig, batches: BatchSource) -> dict[str, Any]:
    """What a run trains: config (without the epoch count), schema, data and seed."""
    options = {k: v for k, v in config.to_dict().items() if k not in ("epochs", "seed")}
    if isinstance(batches, FileBatchSource):
        data: Any = [[f, Path(f).stat().st_size, Path(f).stat().st_mtime_ns] for f in batches.files.files]
    elif isinstance(batches, FrameSource):
        import pandas as pd

        hashed = pd.util.hash_pandas_object(batches.frame, index=False).to_numpy().tobytes()
        data = hashlib.sha256(hashed).hexdigest()
    else:  # pragma: no cover - the CLI builds only these two
        data = repr(batches)
    return {"config": options, "schema": batches.tables.schema.to_dict(), "data": data,
            "seed": config.seed}


def backup_path(out: Path) -> Path:
    """Where the epoch backup of a run to ``out`` lives."""
    return out.parent / f".{out.name}.backup"


def prepare_backup(out: Path, expected: dict[str, Any], *, resume: bool) -> tuple[Path, bool]:
    """Readies the backup folder; returns it and whether training resumes from it.

    Raises:
        TfrecError: ``--resume`` with a backup of another run (the message says what differs),
            or a folder at the backup path that tfrec did not make.
    """
    backup = backup_path(out)
    stored_path = backup / FINGERPRINT
    if backup.exists() and not stored_path.is_file():
        raise TfrecError(f"{backup} is not a tfrec backup (no {FINGERPRINT}); tfrec leaves it "
                         "alone: move it away or choose another --out")
    if backup.exists() and not resume:
        shutil.rmtree(backup)  # tfrec's own backup of an earlier run; not asked to resume
    elif backup.exists():
        stored = json.loads(stored_path.read_text())
        differs = _differences(stored, expected)
        if differs:
            raise TfrecError(f"--resume: the backup at {backup} is of another run ({differs} "
                             "differ); rerun without --resume to start over")
        return backup, True
    backup.mkdir(parents=True)
    stored_path.write_text(json.dumps(expected))
    return backup, False


def _differences(stored: dict[str, Any], expected: dict[str, Any]) -> str:
    names = []
    for key in ("config", "schema", "data", "seed"):
        if key == "config":
            keys = sorted(k for k in set(stored.get(key, {})) | set(expected[key])
                          if stored.get(key, {}).get(k) != expected[key].get(k))
            names += [f"config {k}" for k in keys]
        elif stored.get(key) != expected[key]:
            names.append(key)
    return ", ".join(names)
