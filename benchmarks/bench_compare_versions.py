"""``tfrec compare`` on ml-100k's five folds with the default models: an earlier commit and this
checkout, one after the other in one run, on the same machine.

    python benchmarks/bench_compare_versions.py --data-dir ../shared/data/ml-100k --before baa851e
    python benchmarks/bench_compare_versions.py --smoke       # synthetic data, two cheap models

``--before`` is checked out in a temporary git worktree and imported from there (``PYTHONPATH``),
so both sides run the code of their commit with this environment's packages. Each side runs
``python -m tfrec compare --split predefined`` (or ``--smoke``: the synthetic data, popularity and
EASE) in a fresh process; its wall time and the per-model figures of its ``results.json``
(nDCG@10 mean over folds, fit and predict seconds summed over folds) are reported side by side.
The default ``--before`` is the commit before the evaluation rewrite (issue #17).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from stamp import stamp  # noqa: E402

BEFORE = "baa851e"


def run_compare(tree: Path, arguments: list[str], out: Path) -> dict:
    """One ``tfrec compare`` with the code of ``tree``: wall seconds and per-model figures."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out.parent.mkdir(parents=True, exist_ok=True)
    imported = subprocess.run([sys.executable, "-c", "import tfrec; print(tfrec.__file__)"], env=env, cwd=out.parent,
                              capture_output=True, text=True, check=True).stdout.strip()
    if not Path(imported).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"tfrec was imported from {imported}, not from {tree}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tfrec", "compare", *arguments, "--out", str(out)],
                          cwd=out.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"compare failed in {tree}:\n{done.stderr[-3000:]}")
    rows = json.loads((out / "results.json").read_text())["rows"]
    models: dict[str, dict[str, float]] = {}
    for row in rows:
        entry = models.setdefault(row["model"], {"ndcg@10": [], "fit_seconds": 0.0, "predict_seconds": 0.0})
        if row["metric"] == "ndcg" and row.get("k") == 10:
            entry["ndcg@10"].append(row["value"])
        elif row["metric"] in ("fit_seconds", "predict_seconds"):
            entry[row["metric"]] += row["value"]
    for entry in models.values():
        values = entry.pop("ndcg@10")
        entry["ndcg@10"] = round(sum(values) / len(values), 4) if values else None
        entry["fit_seconds"] = round(entry["fit_seconds"], 1)
        entry["predict_seconds"] = round(entry["predict_seconds"], 2)
    return {"seconds": round(seconds, 1), "models": models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MovieLens 100k (five predefined folds)")
    parser.add_argument("--before", default=BEFORE, help=f"the earlier commit (default {BEFORE})")
    parser.add_argument("--smoke", action="store_true", help="synthetic data, two cheap models (CI)")
    parser.add_argument("--out", default=str(HERE / "results" / "compare_versions.json"), help="result JSON")
    args = parser.parse_args()
    if args.smoke:
        arguments = ["--models", "popularity,ease", "--seed", "1"]
    elif args.data_dir:
        arguments = ["--data", "ml-100k", "--data-dir", str(Path(args.data_dir).resolve()),
                     "--split", "predefined", "--k", "10"]
    else:
        parser.error("--data-dir is required (or --smoke)")
    commit = subprocess.run(["git", "rev-parse", args.before], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.strip()
    result = {}
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=REPO,
                       capture_output=True, check=True)
        try:
            for side, code in (("before", tree), ("after", REPO)):
                result[side] = {"commit": commit if side == "before" else None,
                                **run_compare(code, arguments, Path(work) / side / "run")}
                print(json.dumps({side: result[side]}), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
    result["after_over_before_seconds"] = round(result["after"]["seconds"] / result["before"]["seconds"], 3)
    print(f"compare: before {result['before']['seconds']} s, after {result['after']['seconds']} s")
    if not args.smoke:
        record = {**stamp(), "benchmark": "compare_versions", "arguments": arguments, **result}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
