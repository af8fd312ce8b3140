import json
import subprocess
import sys

import numpy as np
import pytest

from tfrec.cli import main
from tfrec.convert import (
    feature_columns,
    to_surprise_testset,
    to_surprise_trainset,
    to_tf_dataset,
)
from tfrec.data import load_synthetic
from tfrec.splits import make_splits


@pytest.fixture(scope="module")
def small():
    return load_synthetic(200, 100, 1500, seed=7)


def test_feature_columns_join_user_and_item_features(small):
    frame = small.interactions.iloc[:50]
    columns = feature_columns(small, frame)
    users = small.users.set_index("user_id")
    items = small.items.set_index("item_id")
    np.testing.assert_array_equal(columns["age"], users.loc[frame.user_id, "age"].to_numpy())
    np.testing.assert_allclose(columns["price"], items.loc[frame.item_id, "price"].to_numpy(), rtol=1e-6)
    assert set(columns) == {"user_id", "item_id", "rating", "timestamp", "age", "gender",
                            "interactions", "region", "device_type", "category", "subcategory",
                            "price", "brand", "discount"}


def test_tf_dataset_holds_every_row_once_and_is_seeded(small):
    frame = small.interactions
    batches = list(to_tf_dataset(small, frame, batch_size=128, seed=3))
    assert sum(int(b["user_id"].shape[0]) for b in batches) == len(frame)
    pairs = {(int(u), int(i)) for b in batches for u, i in zip(b["user_id"].numpy(), b["item_id"].numpy())}
    assert pairs == set(zip(frame.user_id, frame.item_id))
    again = list(to_tf_dataset(small, frame, batch_size=128, seed=3))
    np.testing.assert_array_equal(batches[0]["item_id"].numpy(), again[0]["item_id"].numpy())
    ordered = next(iter(to_tf_dataset(small, frame, batch_size=8, shuffle=False)))
    np.testing.assert_array_equal(ordered["item_id"].numpy(), frame.item_id.to_numpy()[:8])


def test_surprise_conversion(small):
    (split,) = make_splits(small, "random", seed=0)
    trainset = to_surprise_trainset(small, split.train)
    assert trainset.n_ratings == len(split.train)
    assert trainset.n_users == split.train.user_id.nunique()
    assert trainset.rating_scale == (1.0, 5.0)
    testset = to_surprise_testset(small, split.test)
    assert testset[0] == (split.test.user_id.iloc[0], split.test.item_id.iloc[0], split.test.rating.iloc[0])


def test_cli_describe_json(capsys):
    assert main(["data", "describe", "--json", "--split", "stratified"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["interactions"] == 10_000 and summary["schema"]["user_id"] == "user_id"
    assert summary["splits"][0]["test"] > 0


def test_cli_errors_are_one_line_not_a_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("TFREC_DATA_DIR", raising=False)
    assert main(["data", "describe", "--data", "ml-100k"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfrec: error:") and "Traceback" not in err and "--data-dir" in err


def test_cli_generate_writes_files(tmp_path, capsys):
    assert main(["data", "generate", "--out", str(tmp_path), "--rows", "500", "--format", "csv"]) == 0
    assert main(["data", "describe", "--data", f"csv:{tmp_path / 'ratings.csv'}", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 3)[-1])
    assert summary["interactions"] == 500


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "tfrec", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "data" in result.stdout


def test_keras3_already_loaded_is_refused():
    code = ("import os; os.environ['TF_USE_LEGACY_KERAS']='0'; import tensorflow as tf; tf.keras.layers;"
            "import tfrec")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "ImportError" in result.stderr and "tf-keras" in result.stderr
    ok = subprocess.run([sys.executable, "-c", "import tfrec, tensorflow as tf; print(tf.keras.__name__)"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().startswith("tf_keras")
