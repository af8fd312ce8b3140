"""The ``tfrec`` command line: one-line errors, subcommands, the console script."""

import json
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
