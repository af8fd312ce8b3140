"""Shared fixtures. The real MovieLens 100k lives outside the repo (its licence forbids copies).

Tests find it at ``../shared/data/ml-100k`` relative to the repository root. Where it is
absent they skip with a visible reason -- unless ``TFREC_REQUIRE_DATA=1`` (set by ``.ci/run``),
which turns the absence into a failure.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import tfrec  # noqa: F401  (selects Keras 2 before any test imports TensorFlow)

REPO_ROOT = Path(__file__).resolve().parents[1]
ML100K_DIR = REPO_ROOT.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path_factory, monkeypatch):
    """Each test runs in its own empty folder: commands that write to the current folder by
    default (``tfrec compare``'s ``runs/``) never touch the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def shared_data(folder: Path, marker: str, name: str) -> Path:
    """``folder`` when it holds ``marker``; else a visible skip, or a failure under
    ``TFREC_REQUIRE_DATA=1``."""
    if not (folder / marker).is_file():
        message = f"{name} not found at {folder}"
        if os.environ.get("TFREC_REQUIRE_DATA") == "1":
            pytest.fail(message + " and TFREC_REQUIRE_DATA=1 requires it")
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    return shared_data(ML100K_DIR, "u.data", "MovieLens 100k")


@pytest.fixture(scope="session")
def ml1m_lightgcn_dir() -> Path:
    """The LightGCN++ split of MovieLens 1M (``../shared/data/ml-1m``: train/valid/test.txt)."""
    return shared_data(REPO_ROOT.parent / "shared" / "data" / "ml-1m", "test.txt", "MovieLens 1M (LightGCN split)")


@pytest.fixture(scope="session")
def ml100k(ml100k_dir):
    from tfrec.data import load_dataset

    return load_dataset("ml-100k", data_dir=ml100k_dir)


SHARD_FORMATS = ("parquet", "csv", "tfrecord")


@pytest.fixture(scope="session")
def synthetic():
    """A small synthetic data set with user and item features."""
    from tfrec.data import load_synthetic

    return load_synthetic(300, 120, 3000, seed=5)


@pytest.fixture(scope="session")
def files(synthetic, tmp_path_factory):
    """``synthetic`` as files: its feature tables, its ratings as 3 shards in each format
    (``parquet/``, ``csv/``, ``tfrecord/``) and as one Parquet file (``one/``)."""
    from tfrec.data.shards import write_shards

    root = tmp_path_factory.mktemp("shards")
    synthetic.users.to_parquet(root / "users.parquet", index=False)
    synthetic.items.to_parquet(root / "items.parquet", index=False)
    for fmt in SHARD_FORMATS:
        write_shards(synthetic.interactions, root / fmt, shards=3, format=fmt, schema=synthetic.schema)
    write_shards(synthetic.interactions, root / "one", shards=1, format="parquet", schema=synthetic.schema)
    return root


def tables(root, schema):
    """The feature tables of the ``files`` fixture."""
    from tfrec.data.tabular import load_feature_tables

    return load_feature_tables(schema, users=root / "users.parquet", items=root / "items.parquet")


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once per test run, its folder shared by every test and xdist worker that
    asks for ``name`` (a file lock: the first builds, the others wait, then read). Only for
    read-only artifacts -- the trained models and exports that several modules serve from.
    A build that failed half-way is started again by the next asker."""
    import fcntl
    import shutil

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this run's folder, above each worker's own
    folder = base / f"shared-{name}"
    with open(base / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


#: The feature-driven towers (history off) on the synthetic data, served by the export, HTTP and
#: history-serving tests from one training (:func:`feature_model`).
FEATURE_CONFIG = ("[model]\nembedding_dim = 8\ntower_layers = [16]\nepochs = 2\nbatch_size = 512\n"
                  "history = false\nuse_user_id = true\nuser_features = \"all\"\nitem_features = \"all\"\n")


@pytest.fixture(scope="session")
def feature_model(tmp_path_factory) -> Path:
    """:data:`FEATURE_CONFIG` trained (``run/``) and exported with k 20, 5 exclusions
    (``export/``), once per test run. Read-only."""
    from tfrec.cli import main
    from tfrec.serving.export import export_model

    def build(root: Path) -> None:
        (root / "model.toml").write_text(FEATURE_CONFIG)
        assert main(["train", "--config", str(root / "model.toml"), "--out", str(root / "run")]) == 0
        export_model(root / "run", root / "export", k=20, max_exclude=5)

    return built_once(tmp_path_factory, "feature-model", build)


@pytest.fixture(scope="session")
def ml100k_u1_export(ml100k_dir, tmp_path_factory) -> Path:
    """ml-100k u1 trained 2 epochs (1 of the rating towers) as the README's serving commands
    lay it out: ``runs/ml100k`` and ``exports/ml100k`` (k 10) under the returned folder, once
    per test run (the README snippet and the page serve from it). Read-only."""
    from tfrec.cli import main

    def build(root: Path) -> None:
        (root / "m.toml").write_text("[model]\nepochs = 2\nrating_epochs = 1\n")  # serving is the subject
        assert main(["train", "--data", "ml-100k", "--data-dir", str(ml100k_dir), "--split", "predefined",
                     "--fold", "u1", "--config", str(root / "m.toml"), "--out", str(root / "runs" / "ml100k")]) == 0
        assert main(["export", "--model", str(root / "runs" / "ml100k"), "--out",
                     str(root / "exports" / "ml100k"), "--k", "10"]) == 0

    return built_once(tmp_path_factory, "ml100k-u1-export", build)


@contextlib.contextmanager
def running_server(export, log, *options):
    """``tfrec serve`` (with ``options``) on a free loopback port, answering /healthz; yields
    ``(url, port)``."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(log, "w") as stderr:  # a file: an unread pipe would fill and stall the server
        process = subprocess.Popen([sys.executable, "-m", "tfrec", "serve", "--model", str(export), "--port",
                                    str(port), *options], stdout=subprocess.DEVNULL, stderr=stderr,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail("tfrec serve did not answer /healthz: " + Path(log).read_text()[-2000:])
            yield url, port
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # open client connections delay a graceful stop
                process.kill()
                process.wait()


#: Test modules by measured time, heaviest first (``python -m pytest --durations=0``, summed per
#: module, 2026-12-04): xdist's ``loadscope`` hands whole modules to the workers in collection
#: order, so the longest go first and the short ones fill in at the end. Only the schedule reads
#: this list; a stale entry costs minutes, never a result.
HEAVIEST_MODULES = (
    "tests/test_benchmarks.py", "tests/serving/test_export.py", "tests/serving/test_readme_snippet.py",
    "tests/test_docs.py", "tests/cli/test_fuzz.py", "tests/model/test_fit.py", "tests/cli/test_train.py",
    "tests/serving/test_history_serving.py", "tests/model/test_distribute.py",
    "tests/evaluation/test_compare.py", "tests/evaluation/test_harness.py", "tests/model/test_two_tower.py",
    "tests/test_notebook.py", "tests/recommenders/test_contract.py", "tests/serving/test_http.py",
)


def pytest_collection_modifyitems(config, items):
    """Heaviest modules first (:data:`HEAVIEST_MODULES`), each module's tests kept together and in
    their own order (module-scoped fixtures are built once per module)."""
    rank = {name: i for i, name in enumerate(HEAVIEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
