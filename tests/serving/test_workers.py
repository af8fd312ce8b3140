"""`tfrec serve --workers N`: processes sharing the port, each with the export loaded, answer as
one process does; bad options and folders are one line before any worker starts."""

import json
import urllib.request

from conftest import running_server

from tfrec.cli import main
from tfrec.serving import ExportedModel


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_two_workers_answer_as_the_export_does(ml100k_u1_export, tmp_path):
    export = ml100k_u1_export / "exports" / "ml100k"
    served = ExportedModel(export)
    with running_server(export, tmp_path / "serve.log", "--workers", "2") as (url, _port):
        for user in [*range(1, 21), 10**6]:  # and a user training never saw
            answer = post(url + "/recommend", {"user_id": user, "k": 10})
            ids, _ = served.recommend(served.user_features(user), k=10)
            assert [item["item_id"] for item in answer["items"]] == ids[0].tolist()
            assert answer["user_status"] == ("known" if user < 10**6 else "cold")


def test_workers_out_of_range_and_a_missing_export_are_one_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path), "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == "tfrec: error: --workers must be from 1 to 64, got 0"
    assert main(["serve", "--model", str(tmp_path / "missing"), "--workers", "2", "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("tfrec: error:") and "missing" in error and "\n" not in error
