"""`tfrec train`: validation and early stopping by default; crash and resume with --resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tfrec.cli.backup import FINGERPRINT

# No rating towers' phase (rating_epochs = 0): the kill lands in the retrieval epochs, which the
# backup carries; the tiny model keeps three trainings of 30 epochs affordable.
CONFIG = ("[model]\nembedding_dim = 8\ntower_layers = [16]\nepochs = 30\nbatch_size = 128\n"
          "seed = 3\nrating_epochs = 0\n")


def train(out, config, *extra):
    # Every epoch runs (no early stopping): the backup must carry the run through all 30.
    return subprocess.Popen([sys.executable, "-m", "tfrec", "train", "--config", str(config), "--out",
                             str(out), "--no-validation", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_then_resume_finishes_like_an_uninterrupted_run(tmp_path):
    config = tmp_path / "model.toml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    backup = tmp_path / ".run.backup"
    process = train(out, config)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if backup.exists() and any(p.is_file() and p.name != FINGERPRINT for p in backup.rglob("*")):
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


def test_seed_reseeds_the_model(tmp_path):
    from tfrec.cli import main

    config = tmp_path / "model.toml"
    config.write_text("[model]\nembedding_dim = 8\ntower_layers = []\nepochs = 1\nbatch_size = 512\n"
                      "rating_epochs = 0\n")

    def first_loss(name, *seed):
        assert main(["train", "--config", str(config), "--out", str(tmp_path / name), *seed]) == 0
        history = json.loads((tmp_path / name / "history.json").read_text())["history"]
        return history["loss"][0]

    seed_1 = first_loss("a", "--seed", "1")
    assert first_loss("b", "--seed", "1") == seed_1
    assert first_loss("c", "--seed", "2") != seed_1
    saved = json.loads((tmp_path / "c" / "config.json").read_text())
    assert saved["training"]["seed"] == 2


def test_python_optimized_mode_still_rejects_bad_batch_sizes(tmp_path):
    """Input checks are explicit, not asserts: `python -O` keeps them."""
    result = subprocess.run(
        [sys.executable, "-O", "-m", "tfrec", "train", "--strategy", "mirrored", "--logical-cpus", "2",
         "--batch-size", "3", "--epochs", "1", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "batch_size 3 does not split evenly over 2 replicas" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
    bad_cluster = subprocess.run(
        [sys.executable, "-O", "-m", "tfrec", "train", "--strategy", "multiworker", "--epochs", "1",
         "--out", str(tmp_path / "run")],
        env={**os.environ, "TF_CONFIG": '{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}'},
        capture_output=True, text=True, timeout=300)
    assert bad_cluster.returncode == 2 and "TF_CONFIG is not a valid cluster" in bad_cluster.stderr


def test_train_validates_and_stops_early_by_default(tmp_path, capsys):
    from tfrec.cli import main

    config = tmp_path / "model.toml"
    config.write_text("[model]\nembedding_dim = 8\nepochs = 3\nbatch_size = 512\nrefit = false\nrating_epochs = 0\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "on")]) == 0
    out = capsys.readouterr().out
    assert "validation: 10% of the training rows (seeded); early stopping after 3 epochs" in out
    run = json.loads((tmp_path / "on" / "history.json").read_text())
    assert run["validation_rows"] > 0 and "val_ndcg@10" in run["history"] and not run["refit"]
    ndcg = run["history"]["val_ndcg@10"]
    assert run["best_epoch"] == 1 + ndcg.index(max(ndcg)), "the best validation epoch is the one kept"
    assert f"kept epoch {run['best_epoch']} of {len(ndcg)}" in out
    assert "test loss " not in out and "test retrieval_loss" in out

    # refit: every epoch validated, then the chosen count trained on all rows.
    config.write_text("[model]\nembedding_dim = 8\nepochs = 3\nbatch_size = 512\nrefit = true\nrating_epochs = 0\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "refit")]) == 0
    out = capsys.readouterr().out
    assert ("validation: 10% of the training rows (seeded); every epoch validated, then trained again on "
            "all rows for the best epoch's count") in out
    run = json.loads((tmp_path / "refit" / "history.json").read_text())
    ndcg = run["history"]["val_ndcg@10"]
    assert run["refit"] and len(ndcg) == 3 and run["best_epoch"] == 1 + ndcg.index(max(ndcg))
    assert f"chose {run['best_epoch']} of 3 epochs on {run['validation_rows']:,} held-out rows" in out
    assert f"on all {run['split']['rows']:,} rows" in out

    assert main(["train", "--config", str(config), "--out", str(tmp_path / "off"), "--no-validation"]) == 0
    assert "validation: off" in capsys.readouterr().out
    run = json.loads((tmp_path / "off" / "history.json").read_text())
    assert run["validation_rows"] == 0 and not any(k.startswith("val_") for k in run["history"])
    assert run["best_epoch"] == 3 == len(run["history"]["loss"])
