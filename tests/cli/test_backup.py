"""The epoch backup is used only with --resume and only for the very same run."""

import json

import pytest

from tfrec.cli import main
from tfrec.cli.backup import FINGERPRINT, backup_path, fingerprint, prepare_backup
from tfrec.data import load_synthetic
from tfrec.data.sources import FrameSource
from tfrec.errors import TfrecError
from tfrec.model.config import ModelConfig


@pytest.fixture(scope="module")
def source():
    data = load_synthetic(100, 50, 1000, seed=1)
    return FrameSource(data, data.interactions)


def test_resume_needs_the_same_config_schema_data_and_seed(tmp_path, source):
    out = tmp_path / "run"
    config = ModelConfig(epochs=3)
    backup, resuming = prepare_backup(out, fingerprint(config, source), resume=False)
    assert backup == backup_path(out) and not resuming and (backup / FINGERPRINT).is_file()
    assert prepare_backup(out, fingerprint(config.replace(epochs=9), source), resume=True) == (backup, True)
    for changed, name in ((config.replace(seed=7), "seed"), (config.replace(embedding_dim=32), "embedding_dim"),
                          (config.replace(learning_rate=0.1), "learning_rate")):
        with pytest.raises(TfrecError, match=f"another run.*{name}"):
            prepare_backup(out, fingerprint(changed, source), resume=True)
    other = FrameSource(source.tables, source.frame.iloc[:-1])
    with pytest.raises(TfrecError, match="another run.*data"):
        prepare_backup(out, fingerprint(config, other), resume=True)
    # Without --resume tfrec's own backup is discarded and a fresh one is started.
    assert prepare_backup(out, fingerprint(config.replace(seed=7), source), resume=False) == (backup, False)
    assert json.loads((backup / FINGERPRINT).read_text())["seed"] == 7


def test_a_folder_at_the_backup_path_that_tfrec_did_not_make_is_left_alone(tmp_path, source):
    out = tmp_path / "run"
    foreign = backup_path(out)
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    with pytest.raises(TfrecError, match="not a tfrec backup"):
        prepare_backup(out, fingerprint(ModelConfig(), source), resume=False)
    assert (foreign / "mine.txt").read_text() == "keep"


def test_cli_resume_with_another_seed_is_one_line(tmp_path, capsys):
    config = tmp_path / "model.toml"
    config.write_text("[model]\nembedding_dim = 8\ntower_layers = []\nepochs = 1\nbatch_size = 512\n"
                      "rating_epochs = 0\n")
    out = tmp_path / "run"
    args = ["train", "--config", str(config), "--out", str(out)]
    # A backup as a killed run with seed 1 leaves it (the fingerprint is written before training).
    from tfrec.data import load_dataset
    from tfrec.evaluation.splits import make_splits

    data = load_dataset("synthetic")
    split = make_splits(data, "random", seed=1)[0]
    from tfrec.cli.train import DEFAULT_PATIENCE, DEFAULT_VALIDATION_RATIO

    cli_config = ModelConfig.from_toml(config).replace(seed=1, validation_ratio=DEFAULT_VALIDATION_RATIO,
                                                       early_stopping_patience=DEFAULT_PATIENCE)
    prepare_backup(out, fingerprint(cli_config,
                                    FrameSource(data, split.train, split.name)), resume=False)
    assert main(args + ["--seed", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another run (data, seed differ)" in err
    assert main(args + ["--seed", "2"]) == 0  # without --resume: a fresh run, the old backup dropped
    assert not backup_path(out).exists()
