"""The tuning suite: the two-tower's defaults chosen on validation sides of several data sets,
never on a test set, then scored once on test.

Validation sides (each set's own protocol; EASE^R's lambda chosen on the same side from
100/300/1000/3000, ALS with its defaults, as a user gets them):

* ``ml-100k``: each of the folds' training rows carved by ``tfrec tune``'s carve (10%), nDCG@10;
* ``ml-1m``, ``gowalla`` and any ``lightgcn:FOLDER``: the LightGCN-format ``valid`` fold
  (train -> valid), NDCG@20 and Recall@20 over the full catalog, training items excluded (the
  published protocol).

Each candidate (two-tower config changes; ``--candidates FILE.json``: ``{"name": {option:
value}}``, default :data:`CANDIDATES`) is scored on every validation side relative to that side's
best EASE^R, and the chosen default is the candidate whose **worst** ratio is highest: a default
that wins on one set and loses on another is not a default. ``--test`` then scores the chosen
candidate, EASE^R (its lambda from validation) and ALS once on each set's test side (ml-100k:
folds u1-u5; ml-1m/gowalla: the ``test`` fold, train+valid -> test).

Run: python benchmarks/bench_defaults.py --sets ml-100k,ml-1m --test
(``--ml100k-folds u1,u2`` for a shorter carve set; ``--data-root`` the folder holding ml-100k,
ml-1m and gowalla; ``--smoke``: synthetic data, two candidates, one epoch, nothing written.)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stamp import stamp, write_result  # noqa: E402

import tfrec  # noqa: E402, F401
from tfrec.data import load_dataset, load_synthetic  # noqa: E402
from tfrec.evaluation.harness import evaluate  # noqa: E402
from tfrec.evaluation.splits import make_splits  # noqa: E402
from tfrec.evaluation.tuning import validation_splits  # noqa: E402
from tfrec.recommenders import make_model  # noqa: E402

#: The candidates of a run without --candidates: today's defaults and their neighbours.
CANDIDATES = {
    "defaults": {},
    "kept_item_weight=1": {"kept_item_weight": 1.0},
    "linear_l2=50": {"linear_l2": 50.0},
}
EASE_L2 = (100.0, 300.0, 1000.0, 3000.0)
DATA_ROOT = HERE.parents[1] / "shared" / "data"


def sides(name: str, root: Path, folds: list[str], smoke: bool) -> tuple[list, list, int]:
    """``(validation splits, test splits, k)`` of one data set."""
    if smoke:
        data = load_synthetic(120, 60, 2000, seed=3)
        test = make_splits(data, "random", seed=42)
        return validation_splits(test, 0.1, 42), test, 10
    if name == "ml-100k":
        data = load_dataset("ml-100k", data_dir=str(root / "ml-100k"))
        test = make_splits(data, "predefined", seed=42, folds=folds)
        return validation_splits(test, 0.1, 42), test, 10
    data = load_dataset(name if name.startswith("lightgcn:") else f"lightgcn:{root / name}")
    return (make_splits(data, "predefined", seed=42, folds=["valid"]),
            make_splits(data, "predefined", seed=42, folds=["test"]), 20)


def score(model: str, params: dict, splits: list, k: int) -> dict:
    """Mean nDCG@k and recall@k of one model over ``splits``, and its mean fit seconds."""
    start = time.perf_counter()
    result = evaluate({model: lambda: make_model(model, seed=42, params=params)}, splits, ks=(k,))
    rows = result.rows
    mean = {m: float(rows[(rows.metric == m) & (rows.k == k)]["value"].mean()) for m in ("ndcg", "recall")}
    fit = rows[rows.metric == "fit_seconds"]["value"]
    return {**mean, "k": k, "fit_seconds": float(fit.mean()) if len(fit) else None,
            "seconds": time.perf_counter() - start}


def _score_side(name: str, root: str, folds: list[str], smoke: bool, which: str, model: str, params: dict) -> dict:
    """:func:`score` of one model on one side (``valid`` or ``test``) of a data set."""
    valid, test, k = sides(name, Path(root), folds, smoke)
    return score(model, params, valid if which == "valid" else test, k)


def isolated(*args: object) -> dict:
    """:func:`_score_side` in a fresh process: TensorFlow keeps what a fit traced (a 17,500-item
    two-tower ~5 GB) until the process ends, so one process per fit keeps the suite's memory at
    one fit's."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_score_side, *args).result()


def run(args: argparse.Namespace) -> dict:
    candidates = json.loads(Path(args.candidates).read_text()) if args.candidates else CANDIDATES
    if args.smoke:
        candidates = {name: {**params, "epochs": 1, "rating_epochs": 1}
                      for name, params in list(candidates.items())[:2]}
    names = [s for s in args.sets.split(",") if s]
    folds = args.ml100k_folds.split(",")
    out: dict = {"stamp": stamp(), "candidates": candidates, "sets": {}}
    for name in names:
        side = (name, args.data_root, folds, args.smoke)
        record: dict = {"validation": {}}
        l2s = EASE_L2[:1] if args.smoke else EASE_L2
        ease = {l2: isolated(*side, "valid", "ease", {"l2": l2}) for l2 in l2s}
        best_l2 = max(ease, key=lambda l2: ease[l2]["ndcg"])
        record["ease_l2"], record["ease_by_l2"], record["validation"]["ease"] = best_l2, ease, ease[best_l2]
        record["k"] = ease[best_l2]["k"]
        record["validation"]["als"] = isolated(*side, "valid", "als", {})
        for candidate, params in candidates.items():
            record["validation"][candidate] = isolated(*side, "valid", "two-tower", params)
            print(name, candidate, record["validation"][candidate], flush=True)
        out["sets"][name] = record
    ratios = {c: min(out["sets"][s]["validation"][c]["ndcg"] / out["sets"][s]["validation"]["ease"]["ndcg"]
                     for s in names) for c in candidates}
    chosen = max(ratios, key=lambda c: ratios[c])
    out["worst_ratio_to_ease"], out["chosen"] = ratios, chosen
    print("worst nDCG ratio to EASE over the sets:", ratios, "chosen:", chosen, flush=True)
    for name in names:
        record, side = out["sets"][name], (name, args.data_root, folds, args.smoke)
        if args.test:
            record["test"] = {"two-tower": isolated(*side, "test", "two-tower", candidates[chosen]),
                              "ease": isolated(*side, "test", "ease", {"l2": record["ease_l2"]}),
                              "als": isolated(*side, "test", "als", {})}
            print(name, "test", record["test"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="ml-100k,ml-1m,gowalla",
                        help="data sets: ml-100k, ml-1m, gowalla (under --data-root) or lightgcn:FOLDER")
    parser.add_argument("--data-root", default=str(DATA_ROOT), help="folder holding ml-100k, ml-1m, gowalla")
    parser.add_argument("--ml100k-folds", default="u1,u2,u3,u4,u5", help="ml-100k folds whose training rows are carved")
    parser.add_argument("--candidates", default=None, help="JSON {name: {option: value}} of two-tower configs")
    parser.add_argument("--test", action="store_true", help="score the chosen candidate once on the test sides")
    parser.add_argument("--out", default=str(HERE / "results" / "defaults.json"))
    parser.add_argument("--smoke", action="store_true", help="synthetic data, two candidates, nothing written")
    args = parser.parse_args()
    if args.smoke:
        args.sets, args.test = "synthetic", True
    write_result(args.out, run(args), args.smoke)


if __name__ == "__main__":
    main()
