"""What every benchmark result carries: commit, date, CPU model, cores, versions, command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def stamp(**extra: Any) -> dict[str, Any]:
    """The provenance record of ``tfrec compare``'s results (one definition), with the command
    that reproduces the result."""
    from tfrec.evaluation.provenance import provenance

    record = provenance(**extra)
    record["command"] = "python " + " ".join(sys.argv)
    return record


def write_result(out: str, result: dict[str, Any], smoke: bool) -> None:
    """Writes a benchmark's stamped ``result`` to ``out`` as JSON (a ``--smoke`` run writes nothing)."""
    import json

    if smoke:
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matmul rate (GFLOP/s, best of ``repeats``): the compute bound."""
    import time

    import numpy as np

    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


#: Where the suite and CI find MovieLens 100k (beside the checkout); benchmarks default to it.
ML100K = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k")
