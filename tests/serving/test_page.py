"""The page of `tfrec serve`, rendered in a real headless browser (Debian's chromium)."""

import shutil
import subprocess

import pytest
from conftest import REPO_ROOT, running_server

from tfrec.serving import ExportedModel

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=15000"]


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def server(ml100k_u1_export, tmp_path_factory):
    export = ml100k_u1_export / "exports" / "ml100k"
    with running_server(export, tmp_path_factory.mktemp("page") / "serve.log") as (url, _port):
        yield url, export


@pytest.mark.slow
def test_the_page_shows_a_users_history_and_titled_recommendations(chromium, server, tmp_path):
    url, export = server
    served = ExportedModel(export)
    ids, _ = served.recommend(served.user_features(42), k=10)
    catalog = served.catalog.set_index("item_id")
    expected = [catalog.loc[int(i), "title"] for i in ids[0]]
    history = [catalog.loc[int(i), "title"] for i in served.history(42)[:3]]
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, "--dump-dom", f"{url}/?user=42"], capture_output=True,
                         text=True, timeout=120).stdout
    assert 'data-ready="yes"' in dom, dom[-2000:]
    for title in expected + history:
        assert title.replace("&", "&amp;") in dom, title
    assert "user 42: known (training items left out)" in dom
    artifacts = REPO_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "serve-page.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--screenshot={shot}", "--window-size=1200,900",
                    f"{url}/?user=42"], capture_output=True, timeout=120)
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_the_page_recommends_for_picked_items(chromium, server):
    url, export = server
    served = ExportedModel(export)
    ids, _ = served.recommend_from_history([50, 172, 181], k=10)
    catalog = served.catalog.set_index("item_id")
    expected = [catalog.loc[int(i), "title"] for i in ids]
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, "--dump-dom", f"{url}/?history=50,172,181"],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'data-ready="yes"' in dom, dom[-2000:]
    for title in expected + [catalog.loc[50, "title"]]:
        assert title.replace("&", "&amp;") in dom, title
    assert "new user from 3 picked item(s)" in dom
