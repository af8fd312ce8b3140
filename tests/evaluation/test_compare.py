"""The main job from Python: tfrec.compare, the same code path as `tfrec compare`."""

import json

import pytest

import tfrec
from tfrec.cli import main
from tfrec.data import load_synthetic
from tfrec.errors import TfrecError


def test_compare_from_python_gives_a_table_a_figure_and_the_cli_payload(tmp_path, capsys):
    data = load_synthetic(150, 80, 2500, seed=3)
    outcome = tfrec.compare(data, models=["ease", "popularity"], split="random", ks=[10, 5], seed=3)
    table = outcome.table()
    assert list(table["model"]) == ["ease", "popularity"] and "ndcg@5" in table.columns
    assert "vs best" in table.columns and "ndcg@10" in outcome.table(10).columns
    assert "ndcg@10 95% CI" in outcome.table(10, metrics=None).columns
    figure = outcome.figure()
    assert type(figure).__name__ == "Figure" and len(figure.axes) >= 2
    assert outcome.payload["models"] == ["ease", "popularity"] and outcome.payload["intervals"]
    # The CLI on the same data and options records the same numbers.
    assert main(["compare", "--models", "ease,popularity", "--seed", "3", "--k", "10,5", "--quiet",
                 "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert cli["ks"] == outcome.payload["ks"] == [5, 10]
    with pytest.raises(TfrecError, match="unknown model"):
        tfrec.compare(data, models=["lightfm"])
    with pytest.raises(AttributeError):
        tfrec.no_such_thing  # noqa: B018
