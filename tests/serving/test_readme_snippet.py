"""The serving docs' plain-TensorFlow snippet runs as printed, and served lists leave out every
user's training items (ml-100k fold u1, all users: SavedModel, ExportedModel and the CLI)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

from tfrec.cli import main
from tfrec.serving import ExportedModel


def readme_snippet() -> str:
    text = (REPO_ROOT / "docs" / "serving.md").read_text()
    return re.findall(r"```python\n(.+?)\n```", text, flags=re.S)[0]


@pytest.fixture(scope="module")
def ml100k_export(ml100k_u1_export):
    return ml100k_u1_export


@pytest.mark.slow
def test_readme_snippet_runs_exactly_as_printed(ml100k_export):
    code = readme_snippet()
    assert 'tf.saved_model.load("exports/ml100k/savedmodel")' in code
    result = subprocess.run([sys.executable, "-c", code], cwd=ml100k_export, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[ True]" in result.stdout  # user 42 is known


@pytest.mark.slow
def test_no_user_is_served_a_training_item(ml100k_export, ml100k_dir, capsys):
    import pandas as pd

    served = ExportedModel(ml100k_export / "exports" / "ml100k")
    train = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=["user_id", "item_id", "rating", "ts"])
    seen = train.groupby("user_id")["item_id"].apply(set)
    users = sorted(seen.index)
    rows = [served.user_features(u) for u in users]
    features = {name: np.concatenate([r[name] for r in rows]) for name in rows[0]}
    ids, scores, known = served.recommend_with_status(features, k=10)
    assert known.all() and ids.shape == (len(users), 10) and np.isfinite(scores).all()
    assert all(not set(ids[i]) & seen[u] for i, u in enumerate(users)), "a training item was served"
    # The default model's own score puts each user's training items last (seen_penalty): allowed
    # back in, none of them reaches a top 10.
    included, _ = served.recommend(features, k=10, include_seen=True)
    np.testing.assert_array_equal(included, ids)
    from starlette.testclient import TestClient

    from tfrec.serving.http import create_app

    with TestClient(create_app(served)) as client:  # HTTP, every user
        for user in users:
            body = client.post("/recommend", json={"user_id": int(user), "k": 10}).json()
            assert body["user_status"] == "known" and len(body["items"]) == 10
            assert not {i["item_id"] for i in body["items"]} & seen[user], user
            assert all(i.get("title") for i in body["items"])
    for user in users[:5]:  # the CLI, as a user runs it (each call loads the export: seconds)
        assert main(["recommend", "--model", str(ml100k_export / "exports" / "ml100k"), "--user", str(user),
                     "-k", "10", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["user_status"] == "known" and answer["seen_items_excluded"]
        assert not {r["item_id"] for r in answer["recommendations"]} & seen[user]


@pytest.mark.slow
def test_the_tf_serving_rest_request_in_the_readme_fits_the_signature(ml100k_export):
    """TF Serving's REST 'instances' (row format) become one tensor per input, batched on
    axis 0, cast to the signature's dtypes: do the same with plain TensorFlow."""
    import tensorflow as tf

    text = (REPO_ROOT / "docs" / "serving.md").read_text()
    request = json.loads(re.findall(r"```json\n(.+?)\n```", text.split("TF Serving", 1)[1], flags=re.S)[0])
    loaded = tf.saved_model.load(str(ml100k_export / "exports" / "ml100k" / "savedmodel"))
    signature = loaded.signatures[request["signature_name"]]
    specs = signature.structured_input_signature[1]
    assert set(specs) == set(request["instances"][0])
    inputs = {name: tf.constant([row[name] for row in request["instances"]], spec.dtype)
              for name, spec in specs.items()}
    out = signature(**inputs)
    assert out["item_ids"].shape == (len(request["instances"]), 10) and bool(out["known_user"][0])
