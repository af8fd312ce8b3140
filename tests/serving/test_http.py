"""The HTTP service: answers, micro-batching, and 10,000 malformed requests without a 5xx."""

import asyncio
import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from tfrec.serving import ExportedModel
from tfrec.serving.http import Batcher, create_app


@pytest.fixture(scope="module")
def export(feature_model):
    return feature_model / "export"


@pytest.fixture(scope="module")
def client(export):
    with TestClient(create_app(ExportedModel(export))) as test_client:
        yield test_client


def test_recommend_rating_history_metadata_and_page(client, export):
    seen = set(ExportedModel(export).history(3))
    answer = client.post("/recommend", json={"user_id": 3, "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user_status"] == "known" and body["seen_items_excluded"] and len(body["items"]) == 5
    assert not {i["item_id"] for i in body["items"]} & seen
    with_seen = client.post("/recommend", json={"user_id": 3, "k": 20, "include_seen": True}).json()
    assert {i["item_id"] for i in with_seen["items"]} & seen
    cold = client.post("/recommend", json={"user_id": 999999, "features": {"age": 30}}).json()
    assert cold["user_status"] == "cold" and len(cold["items"]) == 10
    excluded = client.post("/recommend", json={"user_id": 3, "k": 5, "exclude": [body["items"][0]["item_id"]]})
    assert body["items"][0]["item_id"] not in {i["item_id"] for i in excluded.json()["items"]}
    rating = client.post("/predict_rating", json={"user_id": 3, "item_id": body["items"][0]["item_id"]}).json()
    assert 0 < rating["rating"] < 6
    assert client.get("/history", params={"user_id": 3}).json()["items"]
    meta = client.get("/metadata").json()
    assert meta["k"] == 20 and meta["catalog_size"] == 500 and meta["seen"]["users"] > 0
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text and "http" not in page.text.split("<script>")[0]


def test_concurrent_requests_are_micro_batched(export):
    served = ExportedModel(export)
    calls = []
    original = served.recommend_with_status

    def counting(features, **kwargs):
        calls.append(len(next(iter(features.values()))))
        return original(features, **kwargs)

    served.recommend_with_status = counting
    batcher = Batcher(served, max_batch=64, max_wait_ms=50)

    async def many():
        jobs = [batcher.submit(served.user_features(u), False, []) for u in range(40)]
        return await asyncio.gather(*jobs)

    answers = asyncio.run(many())
    assert len(answers) == 40 and sum(calls) == 40 and len(calls) < 10, calls
    single = original(served.user_features(7), k=20)[0][0]
    np.testing.assert_array_equal(answers[7][0], single)


def hostile_bodies(rng):
    """Malformed requests of many kinds (bodies as bytes)."""
    ids = [None, True, 1.5, "x" * 10_000, "\u00e9\u4e2d\U0001f600", -1, 10**30, [], {}, "nan", "1e400"]
    values = [None, "abc", -1, 10**30, "", [1], {"a": 1}, 3.5, "\x00", True]
    kinds = rng.integers(0, 9)
    if kinds == 0:
        return b"{not json"
    if kinds == 1:
        return json.dumps([1, 2, 3]).encode()
    if kinds == 2:
        return b"[" * 5000 + b"]" * 5000
    if kinds == 3:
        return json.dumps({"user_id": 1, "surprise": rng.integers(0, 10).item()}).encode()
    if kinds == 4:
        return b'{"user_id": "' + b"9" * 70_000 + b'"}'
    body = {"user_id": ids[rng.integers(len(ids))]}
    if rng.random() < 0.5:
        body["k"] = values[rng.integers(len(values))]
    if rng.random() < 0.4:
        body["exclude"] = [values[rng.integers(len(values))] for _ in range(rng.integers(0, 8))]
    if rng.random() < 0.4:
        body["features"] = {"age": values[rng.integers(len(values))], "colour": "red"} if rng.random() < 0.3 \
            else {"age": values[rng.integers(len(values))]}
    if rng.random() < 0.2:
        body["include_seen"] = values[rng.integers(len(values))]
    return json.dumps(body).encode()


def test_ten_thousand_malformed_requests_get_4xx_json_never_5xx(client):
    rng = np.random.default_rng(0)
    statuses = {}
    for _ in range(10_000):
        path = "/recommend" if rng.random() < 0.85 else "/predict_rating"
        response = client.post(path, content=hostile_bodies(rng), headers={"content-type": "application/json"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["error"], response.text
    for method, path in (("GET", "/recommend"), ("DELETE", "/"), ("GET", "/nope"), ("GET", "/history")):
        response = client.request(method, path)
        assert 400 <= response.status_code < 500 and response.json()["error"]
    assert client.get("/healthz").status_code == 200
    assert sum(statuses.values()) == 10_000 and statuses.get(200, 0) > 100 and statuses.get(400, 0) > 1000


@pytest.mark.slow
def test_slow_and_stalled_clients_do_not_block_others(export):
    """A real server: 20 clients that send half a request and stall; others are answered."""
    import socket
    import time
    import urllib.request

    from conftest import running_server

    with running_server(export, export.parent / "serve.log") as (url, port):
        stalled = []
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"user_id\": " +
                      str(i).encode())
            stalled.append(s)
        start = time.perf_counter()
        for user in range(20):
            request = urllib.request.Request(url + "/recommend", data=json.dumps({"user_id": user}).encode(),
                                             headers={"content-type": "application/json"})
            assert json.loads(urllib.request.urlopen(request, timeout=10).read())["items"]
        assert time.perf_counter() - start < 20
        for s in stalled:
            s.close()
        assert urllib.request.urlopen(url + "/healthz", timeout=5).status == 200
