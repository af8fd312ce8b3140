"""The predict step of ``tfrec compare`` itself, per model: what a user waits for after each fit.

    python benchmarks/bench_harness.py                      # 16,000 x 8,000 and 100,000 x 50,000
    python benchmarks/bench_harness.py --sizes 16000x8000 --models svd,als --against HEAD~3
    python benchmarks/bench_harness.py --smoke              # 2,000 x 1,000, seconds; nothing written

For each size, ``tfrec data generate`` writes a synthetic data set (``--rows-per-user`` ratings
per user) and ``tfrec compare --models ... --k 10`` runs on it in a fresh process, exactly as a
user types them. The figures are read back from the run's ``results.json``: each model's
``predict_seconds`` -- the test pairs' rating predictions, the unknown-id counts and the
full-catalog top-k of every test user, training items excluded -- and cells/s = test users x
catalog items / ``predict_seconds``. ``--against REV`` runs that revision's tfrec (a temporary
git worktree) on the same data right after, side by side. Each compare's peak RSS is the compare process's own. A model
that refuses a size (EASE's dense matrices above its memory limit at 50,000 items) is left out
of it, and the result says so.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import stamp, write_result  # noqa: E402

MODELS = "svd,als,ease,popularity,bpr"


#: Runs ``tfrec ARGS`` and writes the process's peak RSS (KiB) to the file named by $PEAK_RSS_FILE.
CHILD = ("import os, resource, sys\n"
         "from tfrec.cli import main\n"
         "code = main(sys.argv[1:])\n"
         "open(os.environ['PEAK_RSS_FILE'], 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
         "sys.exit(code)\n")


def tfrec(*args: str, checkout: Path | None = None, work: Path | None = None) -> float:
    """``tfrec ARGS`` in a fresh process -- this checkout's tfrec, or ``checkout``'s -- and its
    peak RSS in MB (stderr shown on failure)."""
    peak = Path(tempfile.mkstemp(dir=work)[1])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PEAK_RSS_FILE": str(peak)}
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env,
                          cwd=checkout)
    if done.returncode != 0:
        raise SystemExit(f"tfrec {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return int(peak.read_text()) / 1024


def fitting(models: str, items: int) -> tuple[str, list[str]]:
    """``models`` without those that refuse ``items`` (EASE's dense matrices above its memory
    limit), and the names left out."""
    from tfrec.recommenders.ease import EASE, ease_memory_bytes

    names = models.split(",")
    limit = EASE().max_memory_gb * 2**30
    refused = [n for n in names if n == "ease" and ease_memory_bytes(items, in_place=True) > limit]
    return ",".join(n for n in names if n not in refused), refused


def compare(data: Path, models: str, out: Path, checkout: Path | None) -> dict:
    """``tfrec compare`` on generated data: per model fit/predict seconds, nDCG@10, cells/s."""
    ratings = next(data.glob("ratings*.parquet"))
    start = time.perf_counter()
    peak = tfrec("compare", "--data", f"parquet:{ratings}", "--schema", "synthetic", "--users",
                 str(data / "users.parquet"), "--items", str(data / "items.parquet"), "--models", models,
                 "--k", "10", "--quiet", "--out", str(out), checkout=checkout, work=out.parent)
    wall = time.perf_counter() - start
    payload = json.loads((out / "results.json").read_text())
    test_users = sum(fold["test_users"] for fold in payload["folds"])
    import pandas as pd

    catalog = len(pd.read_parquet(data / "items.parquet"))  # the catalog: every item of the item table
    per_model: dict[str, dict] = {}
    for row in payload["rows"]:
        if row["metric"] in ("predict_seconds", "fit_seconds", "ndcg") and row["k"] in (0, 10):
            per_model.setdefault(row["model"], {})[row["metric"]] = row["value"]
    for figures in per_model.values():
        figures["cells_per_second"] = test_users * catalog / figures["predict_seconds"]
    return {"commit": payload["run"]["git_commit"], "test_users": test_users, "catalog_items": catalog,
            "cells": test_users * catalog, "compare_wall_seconds": wall, "peak_rss_mb": peak, "models": per_model}


def run_size(users: int, items: int, rows_per_user: int, models: str, work: Path,
             against: Path | None) -> dict:
    """One size: its data generated once, ``tfrec compare`` run on it by this checkout and, with
    ``against``, by that checkout (an earlier commit), one after the other."""
    models, refused = fitting(models, items)
    data = work / f"g{users}x{items}"
    tfrec("data", "generate", "--rows", str(users * rows_per_user), "--users", str(users), "--items",
          str(items), "--shards", "1", "--out", str(data), work=work)
    run = {"users": users, "items": items, "rows": users * rows_per_user, "left_out": refused,
           **compare(data, models, work / f"compare{users}x{items}", None)}
    if against is not None:
        run["against"] = compare(data, models, work / f"against{users}x{items}", against)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16000x8000,100000x50000", help="users x items, comma-separated")
    parser.add_argument("--models", default=MODELS, help=f"tfrec compare --models (default {MODELS})")
    parser.add_argument("--rows-per-user", type=int, default=20, help="generated ratings per user (default 20)")
    parser.add_argument("--against", default=None,
                        help="also run this git revision (a temporary worktree) on the same data, side by side")
    parser.add_argument("--smoke", action="store_true", help="2,000 x 1,000, svd,als,ease (CI)")
    parser.add_argument("--out", default=str(HERE / "results" / "harness.json"), help="result JSON")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.models = "2000x1000", "svd,als,ease"
    record = stamp()  # the commit measured: taken before the runs
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        against = None
        if args.against:
            against = Path(tmp) / "against"
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach", str(against), args.against],
                           check=True, capture_output=True)
        try:
            for size in args.sizes.split(","):
                users, items = map(int, size.split("x"))
                run = run_size(users, items, args.rows_per_user, args.models, Path(tmp), against)
                runs.append(run)
                for name, figures in run["models"].items():
                    before = run.get("against", {}).get("models", {}).get(name)
                    print(f"{users:,} x {items:,} {name}: predict {figures['predict_seconds']:.2f} s = "
                          f"{figures['cells_per_second'] / 1e6:,.0f}M cells/s (fit {figures['fit_seconds']:.1f} s, "
                          f"nDCG@10 {figures['ndcg']:.4f})"
                          + (f"; {args.against}: {before['predict_seconds']:.2f} s = "
                             f"{before['cells_per_second'] / 1e6:,.0f}M cells/s, nDCG@10 {before['ndcg']:.4f}"
                             if before else ""), flush=True)
        finally:
            if against is not None:
                subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force", str(against)],
                               capture_output=True)
    result = {**record, "benchmark": "harness", "smoke": args.smoke, "k": 10, "rows_per_user": args.rows_per_user,
              "against": args.against, "runs": runs}
    write_result(args.out, result, args.smoke)


if __name__ == "__main__":
    main()
