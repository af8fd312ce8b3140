"""Crash and resume: `tfrec train` killed with SIGKILL mid-training resumes with --resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

CONFIG = ("[model]\nembedding_dim = 8\ntower_layers = [16]\nepochs = 30\nbatch_size = 128\n"
          "seed = 3\n")


def train(out, config, *extra):
    return subprocess.Popen([sys.executable, "-m", "tfrec", "train", "--config", str(config), "--out",
                             str(out), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_then_resume_finishes_like_an_uninterrupted_run(tmp_path):
    config = tmp_path / "model.toml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    backup = tmp_path / ".run.backup"
    process = train(out, config)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if backup.exists() and any(p.is_file() for p in backup.rglob("*")):
            time.sleep(1.5)  # let it get a few epochs further, then kill it mid-epoch
            break
        time.sleep(0.1)
    assert process.poll() is None, "training finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists(), "a killed run leaves no partial output at the target"
    assert backup.exists()
    resumed = train(out, config, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    history = json.loads((out / "history.json").read_text())
    assert 0 < len(history["history"]["loss"]) < 30, "resumed from the backup, not from epoch 1"
    assert not backup.exists(), "backup removed once training completed"
    assert not list(tmp_path.glob(".run-*")), "the killed run's staging folder was cleaned up"
    reference = train(tmp_path / "reference", config)
    assert reference.wait(timeout=300) == 0
    expected = json.loads((tmp_path / "reference" / "history.json").read_text())
    assert len(expected["history"]["loss"]) == 30
    for metric in ("rmse", "factorized_top_k/top_10_categorical_accuracy"):
        assert abs(history["test"][metric] - expected["test"][metric]) < 0.05, metric
