"""Outputs that appear complete or not at all: write to a temporary path, then rename."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tfrec.errors import TfrecError

logger = logging.getLogger(__name__)

OWNER_FILE = ".tfrec-staging-owner"


def _owner_alive(staging: Path) -> bool:
    """Whether the process that created ``staging`` may still be writing it."""
    try:
        host, pid = (staging / OWNER_FILE).read_text().split()
        if host != socket.gethostname():
            return True  # another machine's run (shared file system): leave it alone
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return True  # no readable owner file: not provably stale
    return True


def _remove_stale_staging(target: Path) -> None:
    """Removes staging folders of ``target`` left by killed runs (owner process gone)."""
    for staging in target.parent.glob(f".{target.name}-*"):
        if staging.is_dir() and (staging / OWNER_FILE).is_file() and not _owner_alive(staging):
            shutil.rmtree(staging, ignore_errors=True)
            logger.warning("removed %s, left behind by a killed run", staging)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yields a staging folder beside ``target`` that replaces ``target`` only on success.

    Staging folders of earlier runs that were killed (their process is gone) are removed first.

    Raises:
        TfrecError: ``target`` exists and is not empty, and ``overwrite`` is false.
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise TfrecError(f"{target} exists and is not empty; pass --overwrite or choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    (staging / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")
    try:
        yield staging
        (staging / OWNER_FILE).unlink(missing_ok=True)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same suffix, so writers pick the same format)
    that replaces ``path`` only when the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    with atomic_file(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
