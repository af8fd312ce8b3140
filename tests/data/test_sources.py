"""Batch sources: streamed files -> tf.data with in-graph joins, the one-pass scan, errors."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import SHARD_FORMATS as FORMATS
from conftest import tables

from tfrec.cli import main
from tfrec.data.columns import feature_columns
from tfrec.data.files import FileSource
from tfrec.data.join import FeatureJoin
from tfrec.data.pipeline import stream_batches as stream_dataset
from tfrec.data.scan import scan_files
from tfrec.data.shards import write_shards
from tfrec.data.sources import FileBatchSource
from tfrec.errors import DataError
from tfrec.model.config import ModelConfig
from tfrec.model.features.stats import TrainingStats
from tfrec.model.training.fit import train


def rows(batches, columns):
    frame = pd.concat([pd.DataFrame({c: b[c].numpy() for c in columns}) for b in batches])
    return frame.sort_values(columns[:2]).reset_index(drop=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_yields_every_row_once_with_the_same_joined_features(synthetic, files, fmt):
    schema = synthetic.schema
    dataset = tables(files, schema)
    source = FileSource.from_pattern(str(files / fmt), schema)
    assert source.format == fmt and len(source.files) == 3
    data = stream_dataset(source, schema, FeatureJoin.from_dataset(dataset), batch_size=256, seed=1)
    expected = pd.DataFrame(feature_columns(synthetic, synthetic.interactions))
    columns = ["user_id", "item_id", "rating", "age", "region", "category", "price", "discount"]
    got = rows(data, columns)
    want = expected[columns].sort_values(columns[:2]).reset_index(drop=True)
    assert len(got) == len(synthetic.interactions)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-6)


def test_stream_order_is_seeded(synthetic, files):
    schema = synthetic.schema
    join = FeatureJoin.from_dataset(tables(files, schema))
    source = FileSource.from_pattern(str(files / "parquet" / "ratings-*"), schema)

    def first(seed):
        batch = next(iter(stream_dataset(source, schema, join, batch_size=64, seed=seed,
                                         shuffle_buffer=500)))
        return batch["user_id"].numpy()

    np.testing.assert_array_equal(first(3), first(3))
    assert not np.array_equal(first(3), first(4))


def write_csv(path, text):
    path.write_text(text)
    return path


def test_invalid_rows_are_named_or_counted(synthetic, files, tmp_path):
    schema = synthetic.schema
    bad = write_csv(tmp_path / "bad.csv", "user_id,item_id,rating\n1,2,4\n3,4,9\n5,6,5\n7,8,\n")
    source = FileSource.from_pattern(str(bad), schema)
    with pytest.raises(DataError) as error:
        scan_files(source, schema, TrainingStats(schema))
    message = str(error.value)
    assert "bad.csv" in message and "rating" in message and "row 2" in message and "9" in message
    assert "--invalid drop" in message
    scan = scan_files(source, schema, TrainingStats(schema), invalid="drop")
    assert scan.rows == 2 and scan.report.to_dict()["dropped"] == {"invalid rating": 2}
    dataset = tables(files, schema)
    kept = rows(stream_dataset(source, schema, FeatureJoin.from_dataset(dataset), batch_size=8),
                ["user_id", "item_id"])
    assert kept["item_id"].tolist() == [2, 6]


def test_unreadable_values_and_missing_columns_name_the_file(synthetic, tmp_path):
    schema = synthetic.schema
    text = write_csv(tmp_path / "text.csv", "user_id,item_id,rating\n1,abc,4\n")
    with pytest.raises(DataError, match="text.csv"):
        scan_files(FileSource.from_pattern(str(text), schema), schema, TrainingStats(schema))
    partial = tmp_path / "partial.parquet"
    pd.DataFrame({"user_id": [1], "rating": [3.0]}).to_parquet(partial)
    with pytest.raises(DataError, match=r"partial.parquet.*item_id|item_id.*partial.parquet"):
        scan_files(FileSource.from_pattern(str(partial), schema), schema, TrainingStats(schema))
    header = write_csv(tmp_path / "header.csv", "user,item_id,rating\n1,2,4\n")
    with pytest.raises(DataError, match="header.csv.*user_id"):
        scan_files(FileSource.from_pattern(str(header), schema), schema, TrainingStats(schema))


def test_file_patterns_are_checked(synthetic, tmp_path):
    schema = synthetic.schema
    with pytest.raises(DataError, match="no interaction files match"):
        FileSource.from_pattern(str(tmp_path / "nothing-*.parquet"), schema)
    (tmp_path / "a.csv").write_text("user_id,item_id,rating\n")
    (tmp_path / "b.parquet").write_bytes(b"")
    with pytest.raises(DataError, match="mix formats"):
        FileSource.from_pattern(f"{tmp_path}/a.csv,{tmp_path}/b.parquet", schema)
    (tmp_path / "c.txt").write_text("")
    with pytest.raises(DataError, match="c.txt"):
        FileSource.from_pattern(str(tmp_path / "c.txt"), schema)


def test_write_shards_checks_its_arguments(synthetic, tmp_path):
    with pytest.raises(DataError, match="unknown shard format 'orc'"):
        write_shards(synthetic.interactions, tmp_path, format="orc")
    with pytest.raises(DataError, match="shards must be >= 1"):
        write_shards(synthetic.interactions, tmp_path, shards=0)
    assert list(tmp_path.iterdir()) == []


def test_ids_without_a_feature_row_are_an_error(synthetic, files, tmp_path):
    schema = synthetic.schema
    dataset = tables(files, schema)
    unknown = write_csv(tmp_path / "unknown.csv", "user_id,item_id,rating\n1,2,4\n99999,3,4\n")
    with pytest.raises(DataError, match="99999"):
        train(ModelConfig(epochs=1, batch_size=2),
              FileBatchSource(dataset, FileSource.from_pattern(str(unknown), schema)))


def test_cli_generates_shards_and_trains_from_them(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["data", "generate", "--rows", "3000", "--users", "200", "--items", "100",
                 "--shards", "4", "--out", str(data)]) == 0
    assert sorted(p.name for p in data.glob("ratings-*")) == [
        f"ratings-{i:05d}-of-00004.parquet" for i in range(4)]
    config = tmp_path / "model.toml"
    config.write_text("[model]\nembedding_dim = 8\ntower_layers = [16]\nbatch_size = 256\nrefit = true\n")
    out = tmp_path / "run"
    assert main(["train", "--train-files", f"{data}/ratings-0000[0-2]*", "--eval-files",
                 f"{data}/ratings-00003-of-00004.parquet", "--schema", "synthetic", "--users",
                 str(data / "users.parquet"), "--items", str(data / "items.parquet"),
                 "--config", str(config), "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # refit: the epochs chosen on a carve of the streamed rows, then all rows trained.
    trained = re.search(r"trained on ([\d,]+) rows in", printed).group(1)
    held = re.search(r"chose [12] of 2 epochs on ([\d,]+) held-out rows", printed).group(1)
    assert int(trained.replace(",", "")) == 2250, "every row of the 3 shards"
    assert 0 < int(held.replace(",", "")) < 450 and "test rmse" in printed
    assert (out / "model" / "model.json").is_file() and (out / "catalog.parquet").is_file()
    # The run serves like an in-memory one.
    assert main(["export", "--model", str(out), "--out", str(tmp_path / "export")]) == 0
    assert main(["recommend", "--model", str(tmp_path / "export"), "--user", "3", "-k", "5"]) == 0
    assert main(["train", "--train-files", f"{data}/ratings-*", "--out", str(tmp_path / "x")]) == 2
    assert "--schema" in capsys.readouterr().err
