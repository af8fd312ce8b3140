"""The ``tfrec`` command line: one-line errors, subcommands, the console script."""

import json
import os
import subprocess
import sys

from tfrec.cli import main


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


def test_compare_and_generate_outputs_never_mix_or_overwrite_silently(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["compare", "--models", "popularity", "--quiet", "--out", str(out)]
    assert main(args) == 0
    first = (out / "results.json").read_text()
    assert main(args + ["--seed", "7"]) == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "results.json").read_text() == first
    assert main(args + ["--seed", "7", "--overwrite"]) == 0
    assert json.loads((out / "results.json").read_text())["seed"] == 7
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text("my own results")
    assert main(["compare", "--models", "popularity", "--quiet", "--out", str(mine), "--overwrite"]) == 2
    assert (mine / "results.json").read_text() == "my own results"
    data = tmp_path / "gen"
    assert main(["data", "generate", "--rows", "400", "--users", "80", "--items", "40", "--shards", "4",
                 "--out", str(data)]) == 0
    assert main(["data", "generate", "--rows", "300", "--users", "80", "--items", "40", "--shards", "3",
                 "--seed", "7", "--out", str(data)]) == 2
    assert main(["data", "generate", "--rows", "300", "--users", "80", "--items", "40", "--shards", "3",
                 "--seed", "7", "--out", str(data), "--overwrite"]) == 0
    assert sorted(p.name for p in data.glob("ratings-*")) == [f"ratings-{i:05d}-of-00003.parquet" for i in range(3)]


def implicit_files(tmp_path):
    """A play-count data set: events with weights, no ratings."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 60, 900), rng.zipf(1.6, 900) % 40
    frame = pd.DataFrame({"user_id": users, "item_id": items, "plays": rng.integers(1, 50, 900)})
    frame = frame.drop_duplicates(["user_id", "item_id"])
    frame.to_csv(tmp_path / "plays.csv", index=False)
    (tmp_path / "schema.json").write_text(json.dumps(
        {"user_id": "user_id", "item_id": "item_id", "rating": None, "weight": "plays",
         "user_id_dtype": "int", "item_id_dtype": "int"}))
    return ["--data", f"csv:{tmp_path / 'plays.csv'}", "--schema", str(tmp_path / "schema.json")]


def test_implicit_data_gets_the_implicit_defaults(tmp_path, capsys):
    from tfrec.recommenders import IMPLICIT_DEFAULTS

    data = implicit_files(tmp_path)
    assert main(["compare", *data, "--quiet", "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["models"] == list(IMPLICIT_DEFAULTS)
    ndcg = {r["model"] for r in results["summary"] if r["metric"] == "ndcg"}
    assert ndcg == set(IMPLICIT_DEFAULTS) and not {"svd", "user-knn", "item-knn"} & ndcg
    capsys.readouterr()
    assert main(["compare", *data, "--models", "svd,ease", "--quiet"]) == 2
    assert "--implicit-as binary|log1p" in capsys.readouterr().err
    assert main(["compare", *data, "--models", "svd,ease", "--implicit-as", "log1p", "--quiet"]) == 0
    assert "tfrec: warning: svd predict ratings" in capsys.readouterr().err


def test_results_record_how_they_were_made(tmp_path):
    assert main(["compare", "--models", "popularity,ease", "--quiet", "--out", str(tmp_path / "o")]) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    run = results["run"]
    assert run["versions"]["tensorflow"].startswith("2.20") and run["cores"] >= 1 and run["cpu"]
    assert run["seed"] == 42 and run["command"].startswith("tfrec") and run["date"].endswith("Z")
    assert results["folds"][0]["train"] > 0 and results["intervals"]
    report = (tmp_path / "o" / "report.md").read_text()
    assert "95% CI" in report and "vs best" in report and "machine:" in report


def test_every_option_has_help_and_k_is_spelled_both_ways():
    import argparse

    from tfrec.cli import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    missing = []
    for parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
                continue
            if not action.help:  # options and positional arguments alike
                missing.append(f"{parser.prog} {(action.option_strings or [action.dest])[0]}")
            if "--k" in action.option_strings:
                assert "-k" in action.option_strings, parser.prog
    assert not missing, missing


def test_tensorflow_is_silent_unless_asked(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-m", "tfrec", "data", "describe"], capture_output=True, text=True,
                           env=clean, cwd=tmp_path)
    assert quiet.returncode == 0 and "tensorflow/core" not in quiet.stderr and "cuda" not in quiet.stderr
    chatty = subprocess.run([sys.executable, "-m", "tfrec", "-v", "data", "describe"], capture_output=True,
                            text=True, env=clean, cwd=tmp_path)
    assert chatty.returncode == 0 and "tensorflow" in chatty.stderr
