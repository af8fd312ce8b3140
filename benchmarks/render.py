"""Renders the benchmark tables of docs/benchmarks.md from the stamped JSON results, so that no
figure there is copied by hand: ``python benchmarks/render.py`` rewrites each block between
``<!-- render:NAME -->`` and ``<!-- /render:NAME -->`` (a test checks the file is current).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks.md"


def topk(result: dict) -> str:
    """The full-catalog top-10 throughput table of ``results/topk.json``."""
    lines = [f"Measured {result['date'][:10]} at commit `{(result['git_commit'] or '')[:12]}` on {result['cpu']} "
             f"({result['cores']} cores; NumPy {result['versions']['numpy']}; matmul peak "
             f"{result['matmul_gflops']:.0f} GFLOP/s) — `{result['command']}`:", "",
             "| users × items | cells | end to end | scored cells/s | of matmul peak | implicit ALS recommend "
             "| tfrec ÷ implicit | peak RSS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in result["runs"]:
        lines.append(f"| {run['users']:,} × {run['items']:,} | {run['cells'] / 1e6:,.0f}M | {run['seconds']:.2f} s | "
                     f"{run['cells_per_second'] / 1e6:,.0f}M | {run['fraction_of_matmul_peak']:.0%} | "
                     f"{run['implicit_cells_per_second'] / 1e6:,.0f}M/s | {run['vs_implicit']:.2f}× | "
                     f"{run['peak_rss_mb']:,.0f} MB |")
    return "\n".join(lines)


def training(result: dict) -> str:
    """tfrec's ids-only training against the TFRS tutorial model (``results/training.json``)."""
    speeds, runs = result["examples_per_second"], result["runs"]
    lines = [f"Measured {result['date'][:10]} at commit `{(result['git_commit'] or '')[:12]}` on {result['cpu']} "
             f"({result['cores']} cores; TensorFlow {result['versions']['tensorflow']}) — `{result['command']}` "
             f"({result['rows']:,} rows, batch {result['batch_size']}, dim {result['dim']}, {result['epochs']} epochs "
             f"of which the first is not timed, {result['repeats']} interleaved repeats):", "",
             "| model | examples/s (median) | runs |", "| --- | --- | --- |"]
    for name, value in speeds.items():
        lines.append(f"| {name} | {value:,.0f} | {', '.join(f'{v / 1000:,.0f}k' for v in runs[name])} |")
    lines += ["", f"tfrec ÷ TFRS: **{result['tfrec_over_tfrs']:.2f}×**."]
    return "\n".join(lines)


RENDERERS = {"topk": (topk, HERE / "results" / "topk.json"),
             "training": (training, HERE / "results" / "training.json")}


def render(text: str) -> str:
    """``text`` with every known block rendered from its JSON."""
    for name, (function, path) in RENDERERS.items():
        block = function(json.loads(path.read_text()))
        text = re.sub(rf"(<!-- render:{name} -->\n)(?:.*?\n)?(<!-- /render:{name} -->)",
                      lambda m, b=block: m[1] + b + "\n" + m[2], text, flags=re.S)
    return text


if __name__ == "__main__":
    current = DOCS.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if updated == current else 1)
    DOCS.write_text(updated)
