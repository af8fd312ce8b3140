"""Full-catalog top-10 evaluation of a 64-factor model: scored cells per second, end to end.

    python benchmarks/bench_topk.py                  # 16,000 x 8,000 and 100,000 x 50,000
    python benchmarks/bench_topk.py --smoke          # seconds: CI runs it so that it cannot rot

End to end = what the harness does for every model: score a block of users against the whole
catalog (BLAS matmul), mask each user's training items (CSR scatter), take the top 10 (the
group-maximum bound of :mod:`tfrec.recommenders.topk`), then compute the ranking metrics from
the top-10 ids. Each size runs in a fresh process, so its peak RSS is its own. Beside it, in
the same process: ``implicit``'s ALS ``recommend`` (C++ top-k, threads, seen items filtered) on
the same factors and users, and the machine's matmul rate (the compute bound).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import matmul_gflops, stamp, write_result  # noqa: E402

FACTORS, K, SEEN_PER_USER, TEST_PER_USER = 64, 10, 20, 5


def run_one(users: int, items: int, seed: int = 0) -> dict:
    """One size, in this process: tfrec's ranking, then implicit's on the same factors."""
    import pandas as pd
    import scipy.sparse

    from tfrec import metrics
    from tfrec.recommenders.base import Recommender, SeenItems

    rng = np.random.default_rng(seed)
    user_factors = rng.standard_normal((users, FACTORS)).astype(np.float32)
    item_factors = rng.standard_normal((items, FACTORS)).astype(np.float32)
    rows = np.repeat(np.arange(users), SEEN_PER_USER)
    codes = rng.integers(0, items, len(rows))
    seen_matrix = scipy.sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, codes)), shape=(users, items))
    seen_matrix.sum_duplicates()
    seen = SeenItems(np.arange(items), pd.RangeIndex(users), pd.RangeIndex(items),
                     seen_matrix.indptr.astype(np.int64), seen_matrix.indices.astype(np.int64))

    class Factors(Recommender):
        name, predicts_ratings = "factors", False

        def _fit(self, train, validation):  # pragma: no cover - built fitted
            raise NotImplementedError

        def score(self, user_ids, item_ids):  # pragma: no cover - unused here
            raise NotImplementedError

        def score_matrix(self, user_ids):
            return user_factors[np.asarray(user_ids)] @ item_factors.T

    model = Factors()
    model._restore(None, seen)
    test_users = np.repeat(np.arange(users), TEST_PER_USER)
    test_items = rng.integers(0, items, len(test_users))
    user_ids = np.arange(users)

    start = time.perf_counter()
    top, _ = model.recommend(user_ids, k=K, exclude_seen=True)
    ranked = time.perf_counter() - start
    values = metrics.per_user_ranking_metrics(top, test_users, test_items, K)
    seconds = time.perf_counter() - start
    ndcg = float(values["ndcg"].mean())
    assert not any(np.isin(top[u], seen.codes_of(u)).any() for u in range(0, users, max(1, users // 500)))

    from implicit.cpu.als import AlternatingLeastSquares

    als = AlternatingLeastSquares(factors=FACTORS, random_state=seed)
    als.user_factors, als.item_factors = user_factors, item_factors
    start = time.perf_counter()
    reference, _ = als.recommend(user_ids, seen_matrix, N=K, filter_already_liked_items=True)
    implicit_seconds = time.perf_counter() - start
    same = float(np.mean(np.sort(reference, axis=1) == np.sort(top, axis=1)))
    cells = users * items
    return {"users": users, "items": items, "cells": cells, "seconds": seconds, "rank_seconds": ranked,
            "cells_per_second": cells / seconds, "ndcg@10": ndcg,
            "implicit_seconds": implicit_seconds, "implicit_cells_per_second": cells / implicit_seconds,
            "same_items_as_implicit": same,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16000x8000,100000x50000", help="users x items, comma-separated")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a child process: one size
    parser.add_argument("--out", default=str(HERE / "results" / "topk.json"), help="result JSON")
    args = parser.parse_args()
    if args.one:
        users, items = map(int, args.one.split("x"))
        print(json.dumps(run_one(users, items)))
        return
    sizes = "2000x1000,3000x2000" if args.smoke else args.sizes
    peak = matmul_gflops()
    runs = []
    for size in sizes.split(","):
        done = subprocess.run([sys.executable, __file__, "--one", size], capture_output=True, text=True, check=True)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        run["fraction_of_matmul_peak"] = run["cells_per_second"] * 2 * FACTORS / (peak * 1e9)
        run["vs_implicit"] = run["cells_per_second"] / run["implicit_cells_per_second"]
        runs.append(run)
        print(f"{run['users']:,} x {run['items']:,}: {run['seconds']:.2f} s, {run['cells_per_second'] / 1e6:,.0f}M "
              f"cells/s ({run['fraction_of_matmul_peak']:.1%} of matmul peak), implicit "
              f"{run['implicit_cells_per_second'] / 1e6:,.0f}M cells/s, peak RSS {run['peak_rss_mb']:,.0f} MB")
    result = {**stamp(), "benchmark": "topk", "smoke": args.smoke, "factors": FACTORS, "k": K,
              "matmul_gflops": peak, "runs": runs}
    write_result(args.out, result, args.smoke)


if __name__ == "__main__":
    main()
