"""Atomic outputs and safe deserialization."""

import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfrec.atomic import MARKER, check_target, is_tfrec_output, output_directory, write_atomic
from tfrec.errors import TfrecError


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_interrupted_directory_write_leaves_nothing_and_rerun_succeeds(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with output_directory(target, kind="test") as staging:
            (staging / "half.json").write_text("{")
            raise RuntimeError("interrupted")
    assert not target.exists() and names(tmp_path) == [".out.lock"]
    with output_directory(target, kind="test") as staging:
        (staging / "whole.json").write_text("{}")
    assert (target / "whole.json").read_text() == "{}" and is_tfrec_output(target)
    with pytest.raises(TfrecError, match="exists and is not empty"):
        with output_directory(target, kind="test"):
            pass
    with output_directory(target, kind="test", overwrite=True) as staging:
        (staging / "new.json").write_text("[]")
    assert names(target) == [MARKER, "new.json"]
    assert names(tmp_path) == [".out.lock", "out"], "no staging or old copy left"


@pytest.mark.parametrize("where", [".", "..", "/", "~", "cwd", "parent-of-cwd"])
def test_dangerous_targets_are_refused_whatever_the_flags(where, tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    (work / "mine.txt").write_text("keep me")
    monkeypatch.chdir(work)
    target = {"~": Path.home(), "cwd": work, "parent-of-cwd": tmp_path / "a"}.get(where, Path(where))
    with pytest.raises(TfrecError, match="never|'.' or '..'"):
        with output_directory(target, kind="test", overwrite=True):
            pass
    assert (work / "mine.txt").read_text() == "keep me"


def test_folders_and_files_tfrec_did_not_create_are_never_replaced(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(TfrecError, match="did not create"):
        with output_directory(user, kind="test", overwrite=True):
            pass
    assert (user / "notes.txt").read_text() == "mine"
    file = tmp_path / "file.txt"
    file.write_text("mine")
    with pytest.raises(TfrecError, match="not a folder"):
        check_target(file, overwrite=True)
    assert file.read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    with output_directory(empty, kind="test") as staging:  # an empty folder has nothing to lose
        (staging / "x").write_text("1")
    assert (empty / "x").read_text() == "1"


def test_unwritable_parent_is_refused_before_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(TfrecError, match="not a writable folder"):
            check_target(locked / "out")
    finally:
        locked.chmod(0o700)


def test_a_second_writer_fails_at_once_naming_the_first(tmp_path):
    target = tmp_path / "out"
    with output_directory(target, kind="test"):
        code = ("import sys\nfrom tfrec.atomic import output_directory\n"
                "from tfrec.errors import TfrecError\n"
                "try:\n    with output_directory(sys.argv[1], kind='test'): pass\n"
                "except TfrecError as e:\n    print(e)\n")
        result = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                                text=True, timeout=120)
    assert f"pid {os.getpid()}" in result.stdout and "another tfrec run" in result.stdout


def test_outputs_respect_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        with output_directory(tmp_path / "out", kind="test"):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


def test_staging_and_old_copies_left_by_killed_runs_are_cleaned_or_restored(tmp_path):
    from tfrec.atomic import OWNER_FILE

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale, live, foreign = (tmp_path / ".out-stale", tmp_path / ".out-live", tmp_path / ".out-foreign")
    for folder, owner in ((stale, f"{socket.gethostname()} {dead}"),
                          (live, f"{socket.gethostname()} {os.getpid()}"),
                          (foreign, f"some-other-host {dead}")):
        folder.mkdir()
        (folder / OWNER_FILE).write_text(owner)
    # A run killed between "rename aside" and "rename in" left only the aside copy.
    aside = tmp_path / ".out.old-1-2"
    aside.mkdir()
    (aside / MARKER).write_text("{}")
    (aside / "model.json").write_text("old")
    with pytest.raises(TfrecError, match="exists and is not empty"):
        with output_directory(tmp_path / "out", kind="test"):  # the old output is back in place
            pass
    assert (tmp_path / "out" / "model.json").read_text() == "old"
    with output_directory(tmp_path / "out", kind="test", overwrite=True) as staging:
        (staging / "model.json").write_text("{}")
    assert not stale.exists() and live.exists() and foreign.exists()
    assert names(tmp_path / "out") == [MARKER, "model.json"]  # no owner file kept


KILL_SCRIPT = """
import sys, time
from tfrec.atomic import output_directory
target, tag = sys.argv[1], sys.argv[2]
print("ready", flush=True)
while True:
    with output_directory(target, kind="test", overwrite=True) as staging:
        for i in range(40):
            (staging / f"part-{i}").write_text(tag * 2000)
        (staging / "complete").write_text(tag)
"""


def test_sigkill_at_random_instants_leaves_a_complete_old_or_new_output(tmp_path):
    """30 kills of a process replacing the output in a loop: the target is always whole.

    Each kill lands at a random instant after the writer has started its loop (it says so once imported,
    whatever the machine's speed); the target exists before the first kill, so a missing target is only
    allowed mid-swap, with the old copy beside it.
    """
    target = tmp_path / "out"
    with output_directory(target, kind="test") as staging:
        for i in range(40):
            (staging / f"part-{i}").write_text("i" * 2000)
        (staging / "complete").write_text("i")
    rng = random.Random(0)
    for trial in range(30):
        tag = "ab"[trial % 2]
        process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(target), tag], stdout=subprocess.PIPE)
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"  # imported: now writing
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if not target.exists():
            assert any(tmp_path.glob(".out.old-*")), f"the output vanished at trial {trial}"
            continue
        parts = sorted(target.glob("part-*"))
        marker = (target / "complete").read_text()
        assert len(parts) == 40 and all(p.read_text() == marker * 2000 for p in parts), trial
    with output_directory(target, kind="test", overwrite=True):  # recovers and cleans up
        pass
    assert not list(tmp_path.glob(".out-*")) and not list(tmp_path.glob(".out.old-*"))


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
