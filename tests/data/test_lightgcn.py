"""LightGCN-format folders (train/valid/test.txt) and the published protocol they are scored by."""

import hashlib
import json

import pytest

from tfrec.cli import main
from tfrec.data import load_dataset
from tfrec.errors import DataError
from tfrec.evaluation.splits import make_splits


def write_folder(root, train, test, valid=None, sums=False):
    root.mkdir(parents=True, exist_ok=True)
    files = {"train.txt": train, "test.txt": test, **({"valid.txt": valid} if valid is not None else {})}
    for name, text in files.items():
        (root / name).write_text(text)
    if sums:
        (root / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(t.encode()).hexdigest()}  {n}\n"
                                                 for n, t in files.items()))
    return root


def test_the_folds_are_train_plus_valid_to_test_and_train_to_valid(tmp_path):
    folder = write_folder(tmp_path / "d", train="0 1 2 3\n1 2\n2\n", valid="0 4\n1 3\n", test="0 5\n1 1\n2 0 6\n",
                          sums=True)
    dataset = load_dataset(f"lightgcn:{folder}")
    assert dataset.schema.rating is None and list(dataset.item_ids) == [0, 1, 2, 3, 4, 5, 6]
    train, test = dataset.folds["test"]
    assert sorted(map(tuple, train.to_numpy().tolist())) == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3)]
    assert sorted(map(tuple, test.to_numpy().tolist())) == [(0, 5), (1, 1), (2, 0), (2, 6)]
    assert len(dataset.folds["valid"][0]) == 4 and len(dataset.folds["valid"][1]) == 2
    (split,) = make_splits(dataset, "predefined")  # default: the published protocol's fold
    assert split.name == "test" and len(split.train) == 6
    assert make_splits(dataset, "predefined", folds=["valid"])[0].name == "valid"


def test_without_valid_there_is_only_the_test_fold(tmp_path):
    folder = write_folder(tmp_path / "d", train="0 1\n1 0\n", test="0 0\n")
    dataset = load_dataset(f"lightgcn:{folder}")
    assert sorted(dataset.folds) == ["test"]


@pytest.mark.parametrize(("train", "value"), [("0 1 x2\n", "x2"), ("0 1\n1 -3\n", "-3")])
def test_a_malformed_line_is_one_line_naming_file_line_and_value(tmp_path, capsys, train, value):
    folder = write_folder(tmp_path / "d", train=train, test="0 0\n")
    assert main(["data", "describe", "--data", f"lightgcn:{folder}"]) != 0
    err = capsys.readouterr().err
    assert "train.txt" in err and value in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 2, err


def test_a_damaged_file_fails_its_checksum_and_missing_files_are_named(tmp_path):
    folder = write_folder(tmp_path / "d", train="0 1\n", test="0 0\n", sums=True)
    (folder / "test.txt").write_text("0 1\n")
    with pytest.raises(DataError, match="checksum"):
        load_dataset(f"lightgcn:{folder}")
    (folder / "train.txt").unlink()
    with pytest.raises(DataError, match="train.txt not found"):
        load_dataset(f"lightgcn:{folder}")
    with pytest.raises(DataError, match="no folder"):
        load_dataset("gowalla")


@pytest.mark.slow
def test_ml1m_ease_and_popularity_reproduce_the_protocol_s_anchors(ml1m_lightgcn_dir, tmp_path):
    """The figures measured with independent code on the same split (the data's README): EASE^R
    lambda 1000 Recall@20 0.2817 / NDCG@20 0.3873, popularity 0.1232 / 0.1809."""
    (tmp_path / "p.toml").write_text("[ease]\nl2 = 1000\n")
    assert main(["compare", "--data", "lightgcn:" + str(ml1m_lightgcn_dir), "--split", "predefined",
                 "--models", "ease,popularity", "--params", str(tmp_path / "p.toml"), "-k", "20", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    rows = json.loads((tmp_path / "run" / "results.json").read_text())["rows"]
    value = {(r["model"], r["metric"]): r["value"] for r in rows if r["k"] == 20}
    anchors = {("ease", "recall"): 0.2817, ("ease", "ndcg"): 0.3873,
               ("popularity", "recall"): 0.1232, ("popularity", "ndcg"): 0.1809}
    for key, anchor in anchors.items():
        assert value[key] == pytest.approx(anchor, abs=5e-4), (key, value[key])


def test_csv_files_give_the_same_folds_and_overlaps_are_refused(tmp_path, capsys):
    """files:TRAIN,TEST,VALID -- generic CSV files of one schema follow the same fold rule."""
    header = "user_id,item_id,rating\n"
    (tmp_path / "train.csv").write_text(header + "1,10,4\n1,11,3\n2,10,5\n")
    (tmp_path / "valid.csv").write_text(header + "2,12,2\n")
    (tmp_path / "test.csv").write_text(header + "1,12,5\n2,11,1\n")
    spec = f"files:{tmp_path / 'train.csv'},{tmp_path / 'test.csv'},{tmp_path / 'valid.csv'}"
    dataset = load_dataset(spec)
    assert dataset.schema.rating == "rating" and len(dataset.interactions) == 6
    assert [len(f) for f in dataset.folds["test"]] == [4, 2] and [len(f) for f in dataset.folds["valid"]] == [3, 1]
    assert make_splits(dataset, "predefined")[0].name == "test"
    (tmp_path / "test.csv").write_text(header + "1,11,5\n2,11,1\n")  # (1, 11) is a training pair
    assert main(["data", "describe", "--data", spec]) != 0
    err = capsys.readouterr().err
    assert "1 (user, item) pair(s) of test.csv are also in train.csv + valid.csv" in err and "Traceback" not in err
    (tmp_path / "test.csv").write_text(header + "1,12,five\n")
    assert main(["data", "describe", "--data", spec]) != 0
    err = capsys.readouterr().err
    assert "test.csv:2" in err and "five" in err, err
    with pytest.raises(DataError, match="TRAIN,TEST"):
        load_dataset(f"files:{tmp_path / 'train.csv'}")
