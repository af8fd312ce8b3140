"""Every benchmark in benchmarks/ runs in its --smoke mode, so that none can rot."""

import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

BENCHMARKS = sorted((REPO_ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_smoke_mode_runs(script, tmp_path):
    done = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "a benchmark reports what it measured"
    assert not (tmp_path / "r.json").exists(), "smoke runs never write results"


def test_the_benchmark_tables_in_the_docs_are_rendered_from_the_results():
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from render import DOCS, render

    texts = {doc.name: doc.read_text() for doc in DOCS}
    assert "<!-- render:topk -->" in texts["benchmarks.md"]
    assert "<!-- render:history -->" in texts["training.md"]
    for name, text in texts.items():
        assert render(text) == text, f"docs/{name} is stale: python benchmarks/render.py"


def test_every_figure_is_drawn_from_its_json(tmp_path):
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from render import draw_figures

    drawn = draw_figures(tmp_path)
    assert drawn and all(path.stat().st_size > 10_000 for path in drawn)
    assert {p.name for p in drawn} <= {p.name for p in (REPO_ROOT / "benchmarks" / "results").glob("*.png")}
