"""Load test of `tfrec serve` on loopback: concurrent clients, throughput and latency percentiles.

Trains and exports ml-100k (fold u1) unless --export is given, starts `tfrec serve` in its own
process on 127.0.0.1, and drives it with --clients concurrent keep-alive clients sending
--requests `POST /recommend` requests for random known users (bounded in count and time).
The server runs ``--workers`` processes (default 1; on 2 cores shared with the clients, 2 measured
no better).
Writes JSON stamped with the commit, CPU, cores and versions.

    python benchmarks/bench_http.py --data-dir ../shared/data/ml-100k
    python benchmarks/bench_http.py --smoke     # 1 epoch per training phase, 4 clients, 100 requests, no file

Results: ``benchmarks/results/http.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import ML100K, stamp  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_export(data_dir: str, work: Path, index: str, epochs: int = 3, rating_epochs: int | None = None) -> Path:
    """ml-100k u1 trained for ``epochs`` (and ``rating_epochs``; ``None``: the default) and exported."""
    from tfrec.cli import main

    rating = "" if rating_epochs is None else f"rating_epochs = {rating_epochs}\n"
    (work / "m.toml").write_text(f"[model]\nepochs = {epochs}\n{rating}")
    assert main(["train", "--data", "ml-100k", "--data-dir", data_dir, "--split", "predefined", "--fold", "u1",
                 "--config", str(work / "m.toml"), "--out", str(work / "run")]) == 0
    assert main(["export", "--model", str(work / "run"), "--out", str(work / "export"), "--k", "10",
                 "--index", index]) == 0
    return work / "export"


def build_synthetic_export(n_items: int, work: Path, index: str) -> Path:
    """A synthetic catalog of ``n_items`` (20,000 users, 200,000 ratings), trained and exported."""
    from tfrec.data import load_synthetic
    from tfrec.data.sources import FrameSource
    from tfrec.evaluation.splits import make_splits
    from tfrec.model.config import ModelConfig
    from tfrec.model.training.fit import train
    from tfrec.model.training.run_folder import save_run
    from tfrec.serving import export_model

    dataset = load_synthetic(n_users=20_000, n_items=n_items, n_ratings=200_000, seed=1)
    (split,) = make_splits(dataset, "random", seed=1)
    config = ModelConfig.feature_towers(embedding_dim=32, tower_layers=(64,), id_embedding_dim=16, epochs=2,
                                        batch_size=4096, optimizer="lazy_adam")
    trained = train(config, FrameSource(split.dataset, split.train, split.name))
    run = save_run(trained, split.dataset, work / "run")
    return export_model(run, work / "export", index=index, k=10)


def client(port: int, users: list[int], latencies: list[float], errors: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for user in users:
        body = json.dumps({"user_id": user, "k": 10})
        start = time.perf_counter()
        connection.request("POST", "/recommend", body, {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            errors.append(response.status)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=ML100K, help=f"MovieLens 100k (default {ML100K})")
    parser.add_argument("--export", default=None, help="an existing export (default: train and export ml-100k)")
    parser.add_argument("--index", default="brute-force", choices=("brute-force", "scann"))
    parser.add_argument("--synthetic-items", type=int, default=None,
                        help="serve a synthetic catalog of this many items instead of ml-100k")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000, help="in total (bounded)")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=1, help="tfrec serve --workers (default 1)")
    parser.add_argument("--smoke", action="store_true", help="1 epoch of each phase, 4 clients, 100 requests (CI)")
    parser.add_argument("--out", default=str(HERE / "results" / "http.json"), help="result JSON")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.requests = 4, 100
    with tempfile.TemporaryDirectory() as tmp:
        if args.export:
            export = Path(args.export)
        elif args.synthetic_items:
            export = build_synthetic_export(args.synthetic_items, Path(tmp), args.index)
        else:
            export = (build_export(args.data_dir, Path(tmp), args.index, epochs=1, rating_epochs=1) if args.smoke
                      else build_export(args.data_dir, Path(tmp), args.index))
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "tfrec", "serve", "--model", str(export), "--port",
                                   str(port), "--max-batch", str(args.max_batch), "--max-wait-ms",
                                   str(args.max_wait_ms), "--workers", str(args.workers)], stdout=subprocess.DEVNULL,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            rng = np.random.default_rng(0)
            users = rng.integers(1, 944, size=args.requests).tolist()
            client(port, users[:20 if args.smoke else 200], [], [])  # warm-up: traces and caches
            latencies: list[float] = []
            errors: list[int] = []
            shares = [users[i::args.clients] for i in range(args.clients)]
            threads = [threading.Thread(target=client, args=(port, share, latencies, errors)) for share in shares]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            seconds = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
    ms = np.asarray(latencies) * 1000
    result = {**stamp(seed=0), "benchmark": "http", "index": args.index,
              "catalog": args.synthetic_items or "ml-100k", "clients": args.clients,
              "requests": len(latencies), "errors": len(errors),
              "seconds": seconds, "recommendations_per_second": len(latencies) / seconds,
              "latency_ms": {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
                             "p99": float(np.percentile(ms, 99))},
              "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms, "workers": args.workers}
    print(json.dumps({k: result[k] for k in ("recommendations_per_second", "latency_ms", "errors")}, indent=2))
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {sorted(set(errors))}")
    if not args.smoke:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
