"""Outputs that appear complete or not at all, never mix, and never cost a user a file.

Every folder tfrec writes (training runs, exports, compare reports, generated data) goes
through :func:`output_directory`:

* **Refusals first.** ``/``, the home folder, the current folder and any of its ancestors are
  never a target, whatever the flags; a target that is a file, or an existing folder without
  tfrec's marker file (:data:`MARKER`), is never replaced -- tfrec only replaces what it made.
* **One writer per target.** An exclusive ``fcntl`` lock on ``.NAME.lock`` beside the target;
  a second run fails at once, naming the process that holds it.
* **Atomic replacement.** The output is built in a staging sibling. A new target is renamed
  into place; an existing one is swapped with the staging folder in one
  ``renameat2(RENAME_EXCHANGE)`` call, then the old copy is deleted. Where the exchange is not
  available: rename aside, rename in, delete the old copy -- and a run that finds the target
  missing beside an aside copy puts it back. A kill at any instant leaves a complete old or a
  complete new output.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tfrec.errors import TfrecError

logger = logging.getLogger(__name__)

OWNER_FILE = ".tfrec-staging-owner"
MARKER = ".tfrec-output"
_ASIDE = ".old-"


def _host_pid() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _owner_alive(staging: Path) -> bool:
    """Whether the process that created ``staging`` may still be writing it."""
    try:
        host, pid = (staging / OWNER_FILE).read_text().split()
        if host != socket.gethostname():
            return True  # another machine's run (shared file system): leave it alone
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except ValueError:
        return False  # killed while writing the owner file (callers hold the target's lock)
    except OSError:
        return True
    return True


def is_tfrec_output(path: Path) -> bool:
    """Whether ``path`` is a folder tfrec created (it holds the marker file)."""
    return path.is_dir() and (path / MARKER).is_file()


def check_target(target: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Checks that tfrec may write ``target``; call it before any work.

    Raises:
        TfrecError: A forbidden place (``/``, home, the current folder or an ancestor), a file,
            a folder tfrec did not create, an existing output without ``overwrite``, or a parent
            that cannot be written.
    """
    target = Path(target)
    if target.name in ("", ".", ".."):
        raise TfrecError(f"--out {str(target)!r} names a folder by '.' or '..'; give a new folder name")
    if len(os.fsencode(target.name)) > 200:
        raise TfrecError(f"--out name is {len(os.fsencode(target.name))} bytes long; use at most 200 "
                         "(tfrec adds a suffix for its lock, backup and staging files)")
    resolved = Path(os.path.abspath(target))
    real = target.resolve()
    cwd = Path.cwd().resolve()
    for path in {resolved, real}:
        if path == Path(path.anchor) or path == Path.home().resolve() or cwd.is_relative_to(path):
            raise TfrecError(f"--out {target} is the root, the home folder, the current folder or one "
                             "of its parents; tfrec never writes or replaces those: give a new folder")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise TfrecError(f"--out {target} exists and is not a folder; tfrec will not replace it")
    if target.is_dir() and any(target.iterdir()):
        if not is_tfrec_output(target):
            raise TfrecError(f"--out {target} holds files tfrec did not create (no {MARKER} marker); "
                             "tfrec never replaces them: choose another --out")
        if not overwrite:
            raise TfrecError(f"{target} exists and is not empty; pass --overwrite or choose another --out")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise TfrecError(f"cannot write --out {target}: {parent} is not a writable folder")
    return target


@contextlib.contextmanager
def target_lock(target: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``target`` (the file ``.NAME.lock`` beside it).

    Raises:
        TfrecError: Another process holds it; the message names the process.
    """
    lock_path = target.parent / f".{target.name}.lock"
    handle: IO[str] = open(lock_path, "a+")  # noqa: SIM115 (held for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise TfrecError(f"another tfrec run ({holder}) is writing {target}; wait for it to "
                             "finish or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _recover(target: Path) -> None:
    """Puts back an output left aside by a run killed between its two renames, and removes
    what runs that are gone left behind (we hold the target's lock): their staging folders and
    the old copies they were deleting."""
    asides = sorted(target.parent.glob(f".{target.name}{_ASIDE}*"))
    if not target.exists() and asides and is_tfrec_output(asides[-1]):
        asides[-1].rename(target)  # complete: copies being deleted lose their marker first
        logger.warning("restored %s, left aside by a killed run", target)
    for path in target.parent.glob(f".{target.name}-*"):
        if not path.is_dir() or path.is_symlink():
            continue
        owned = (path / OWNER_FILE).is_file()
        dead = owned and not _owner_alive(path)
        finished = not owned and is_tfrec_output(path)  # killed between its last two steps
        if dead or finished or not any(path.iterdir()):
            _discard(path, target)
            logger.warning("removed %s, left behind by a killed run", path)
    for path in target.parent.glob(f".{target.name}{_ASIDE}*"):
        if path.is_dir() and not path.is_symlink():
            _discard(path, target)  # an old copy being deleted, or a garbage staging folder


def _aside(target: Path) -> Path:
    return target.parent / f".{target.name}{_ASIDE}{os.getpid()}-{time.time_ns()}"


def _discard(path: Path, target: Path) -> None:
    """Deletes a folder tfrec made for ``target`` so that a kill at any instant leaves nothing
    that looks complete: renamed to an old-copy name, marker removed first, then the rest."""
    if not path.name.startswith(f".{target.name}{_ASIDE}"):
        old = _aside(target)
        path.rename(old)
        path = old
    (path / MARKER).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


def _replace(staging: Path, target: Path) -> None:
    """Moves the finished ``staging`` folder to ``target``, atomically replacing an old one."""
    if not target.exists():
        staging.rename(target)
        return
    if not any(target.iterdir()):
        target.rmdir()  # an empty folder: nothing to lose
        staging.rename(target)
        return
    if _exchange(staging, target):
        _discard(staging, target)  # the old output, now at the staging path
        return
    old = _aside(target)
    target.rename(old)
    staging.rename(target)
    _discard(old, target)


@contextlib.contextmanager
def output_directory(target: str | os.PathLike, *, kind: str, overwrite: bool = False) -> Iterator[Path]:
    """Yields a staging folder that becomes ``target`` only when the block succeeds.

    Args:
        target: The output folder.
        kind: What the output is (``train``, ``export``, ``compare``, ``data``), recorded in
            the marker file.
        overwrite: Replace an existing output that tfrec created.

    Raises:
        TfrecError: See :func:`check_target` and :func:`target_lock`.
    """
    target = check_target(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target_lock(target):
        _recover(target)
        check_target(target, overwrite=overwrite)  # again, under the lock
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        os.chmod(staging, 0o777 & ~_umask())
        (staging / OWNER_FILE).write_text(_host_pid())
        try:
            yield staging
            (staging / MARKER).write_text(json.dumps({"tool": "tfrec", "kind": kind,
                                                      "created": time.strftime("%Y-%m-%dT%H:%M:%S")}))
            (staging / OWNER_FILE).unlink(missing_ok=True)
            _replace(staging, target)
        finally:
            if staging.exists() and (staging / OWNER_FILE).exists():
                _discard(staging, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
