"""Atomic outputs and safe deserialization."""

import re

import pytest

from tfrec.atomic import atomic_directory, write_atomic
from tfrec.errors import TfrecError


def test_interrupted_directory_write_leaves_nothing_and_rerun_succeeds(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "half.json").write_text("{")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(target) as staging:
        (staging / "whole.json").write_text("{}")
    assert (target / "whole.json").read_text() == "{}"
    with pytest.raises(TfrecError, match="exists and is not empty"):
        with atomic_directory(target):
            pass
    with atomic_directory(target, overwrite=True) as staging:
        (staging / "new.json").write_text("[]")
    assert [p.name for p in target.iterdir()] == ["new.json"]


def test_staging_left_by_a_killed_run_is_removed_by_the_next_one(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from tfrec.atomic import OWNER_FILE

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale, live, foreign = (tmp_path / ".out-stale", tmp_path / ".out-live", tmp_path / ".out-foreign")
    for folder, owner in ((stale, f"{socket.gethostname()} {dead}"),
                          (live, f"{socket.gethostname()} {os.getpid()}"),
                          (foreign, f"some-other-host {dead}")):
        folder.mkdir()
        (folder / OWNER_FILE).write_text(owner)
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "model.json").write_text("{}")
    assert not stale.exists() and live.exists() and foreign.exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["model.json"]  # no owner file kept


def test_interrupted_file_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_atomic(path, "old")
    import pathlib

    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "replace", fail)
    with pytest.raises(OSError):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"], "no temporary file left"


def test_no_unsafe_deserialization_in_the_package():
    """tfrec never unpickles: no pickle/joblib/marshal loads, no allow_pickle, no yaml.load."""
    from conftest import REPO_ROOT

    forbidden = re.compile(r"pickle\.load|joblib\.load|marshal\.load|allow_pickle\s*=\s*True|yaml\.load\(|"
                           r"\beval\(|\bexec\(")
    offenders = [f"{path.relative_to(REPO_ROOT)}:{number}"
                 for path in (REPO_ROOT / "tfrec").rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), start=1)
                 if forbidden.search(line)]
    assert offenders == []
