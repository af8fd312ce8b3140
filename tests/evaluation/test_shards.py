"""Sharded evaluation: the merged shards equal the single run exactly (timings aside)."""

import json

import pytest

from tfrec.cli import main
from tfrec.evaluation.shards import parse_shard

TIMINGS = {"fit_seconds", "predict_seconds"}


def without_timings(records):
    return [r for r in records if r["metric"] not in TIMINGS]


@pytest.mark.parametrize("split", ["kfold", "cold_users"])
def test_merged_shards_equal_the_single_run(tmp_path, capsys, split):
    common = ["compare", "--models", "svd,ease,item-knn,popularity", "--split", split, "--k", "5,10", "--quiet",
              "--seed", "7"]
    assert main([*common, "--out", str(tmp_path / "single")]) == 0
    shards = [str(tmp_path / f"shard-{i}") for i in range(3)]
    for i, out in enumerate(shards):
        assert main([*common, "--shard", f"{i}/3", "--out", out]) == 0
    partial = json.loads((tmp_path / "shard-1" / "results.json").read_text())
    single = json.loads((tmp_path / "single" / "results.json").read_text())
    assert sum(f["test_users"] for f in partial["folds"]) < sum(f["test_users"] for f in single["folds"])
    capsys.readouterr()
    assert main(["report", "merge", *reversed(shards), "--out", str(tmp_path / "merged")]) == 0
    assert "merged 3 shards" in capsys.readouterr().out
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert without_timings(merged["rows"]) == without_timings(single["rows"])
    assert merged["intervals"] == single["intervals"], "the same per-user values, the same bootstrap"
    assert merged["folds"] == single["folds"]
    assert {p.name for p in (tmp_path / "merged").iterdir()} >= {"results.json", "report.md", "metrics.png"}


def test_merge_refuses_missing_repeated_or_foreign_shards(tmp_path, capsys):
    common = ["compare", "--models", "popularity", "--quiet"]
    for i in range(2):
        assert main([*common, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")]) == 0
    assert main([*common, "--shard", "1/2", "--seed", "3", "--out", str(tmp_path / "other")]) == 0
    assert main([*common, "--out", str(tmp_path / "whole")]) == 0
    capsys.readouterr()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "results.json").write_text('{"data_options": {"data": "synthetic"}}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    cases = [([tmp_path / "odd", tmp_path / "s1"], "no data options"),
             ([tmp_path / "broken", tmp_path / "s1"], "no data options"),
             ([tmp_path / "s0"], "each of 0..1 exactly once"),
             ([tmp_path / "s0", tmp_path / "s0"], "each of 0..1 exactly once"),
             ([tmp_path / "s0", tmp_path / "other"], "options differ"),
             ([tmp_path / "whole", tmp_path / "s1"], "no data options|unsharded")]
    for folders, message in cases:
        assert main(["report", "merge", *map(str, folders), "--out", str(tmp_path / "m")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and any(part in err for part in message.split("|")), err
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(Exception, match="INDEX/COUNT"):
            parse_shard(bad)


def test_a_shard_index_outside_the_count_is_refused_from_python_too():
    import tfrec
    from tfrec.data import load_synthetic

    with pytest.raises(Exception, match=r"shard 3/3: the index must be in 0\.\.2"):
        tfrec.compare(load_synthetic(100, 50, 800, seed=1), models=["popularity"], shard=(3, 3))
