"""Serving a user from their history: the SavedModel signature, the CLI and HTTP."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfrec.cli import main
from tfrec.errors import TfrecError
from tfrec.serving import ExportedModel, export_model

CONFIG = """[model]
history = true
history_max_len = 500
history_dropout = 0.2
use_user_id = false
user_features = []
item_features = []
tower_layers = []
projection = false
embedding_dim = 16
id_embedding_dim = 16
negatives = "full"
retrieval_weight = 1.0
rating_weight = 0.0
epochs = 2
batch_size = 512
"""


#: The same model with the linear item-to-item path, trained on users' batches.
LINEAR = 'examples = "users"\nuser_loss = "squared"\nhistory_linear = true\n'


@pytest.fixture(scope="module", params=["pooled", "linear"])
def served(tmp_path_factory, request):
    root = tmp_path_factory.mktemp("history-serving")
    (root / "model.toml").write_text(CONFIG + (LINEAR if request.param == "linear" else ""))
    assert main(["train", "--config", str(root / "model.toml"), "--out", str(root / "run")]) == 0
    return ExportedModel(export_model(root / "run", root / "export", k=20, max_exclude=5))


def _known_user(served):
    users = served.catalog  # noqa: F841  (the catalog is loaded; users come from the seen table)
    for user in range(1, 500):
        if len(served.history(user)) >= 5:
            return user
    raise AssertionError("no user with 5 training items")


def test_export_describes_the_history_signature(served):
    assert "recommend_from_history" in served.info.raw["signatures"]
    assert served.info.max_history == 500 or served.info.max_history == served.info.catalog_size - 20


def test_known_user_and_the_same_history_given_explicitly_get_the_same_top_k(served):
    user = _known_user(served)
    by_id, _ = served.recommend(served.user_features(user), k=10)
    by_history, _ = served.recommend_from_history(served.history(user), k=10)
    np.testing.assert_array_equal(by_id[0], by_history)


def test_given_items_are_left_out(served):
    user = _known_user(served)
    history = served.history(user)
    ids, scores = served.recommend_from_history(history, k=20)
    assert not set(ids.tolist()) & set(history)
    assert np.all(np.diff(scores) <= 1e-6) and len(ids) == 20


def test_unknown_and_padding_items_never_crash(served):
    ids, _ = served.recommend_from_history([10**12, -3, 1], k=5)
    assert len(ids) == 5 and 1 not in ids.tolist()
    empty_ids, _ = served.recommend_from_history([10**12], k=5)  # only unknown items: an empty history
    assert len(empty_ids) == 5


def test_plain_tensorflow_call(served):
    loaded = tf.saved_model.load(str(served.path / "savedmodel"))
    width = served.info.max_history
    history = np.full((1, width), -1, np.int32)
    history[0, :3] = [1, 2, 3]
    weights = np.zeros((1, width), np.float32)
    weights[0, :3] = 1.0
    features = {name: tf.constant([0], tf.int32) if dtype == "int64" else
                tf.constant([float("nan")]) if dtype == "float32" else tf.constant([""])
                for name, dtype in served.query_features.items()}
    out = loaded.recommend_from_history(features, tf.constant(history), tf.constant(weights))
    assert not {1, 2, 3} & set(out["item_ids"].numpy()[0].tolist())


@pytest.mark.parametrize("weights, message", [([1.0], "weights for"), ([-1.0, 1.0], ">= 0")])
def test_bad_weights_are_named(served, weights, message):
    with pytest.raises(TfrecError, match=message):
        served.recommend_from_history([1, 2], weights)


def test_cli_history(served, capsys):
    assert main(["recommend", "--model", str(served.path), "--history", "1,2,3", "-k", "5", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["user_status"] == "history" and answer["history"] == ["1", "2", "3"]
    assert len(answer["recommendations"]) == 5
    assert not {1, 2, 3} & {r["item_id"] for r in answer["recommendations"]}
    assert main(["recommend", "--model", str(served.path), "--history", "1", "--exclude", "4"]) == 2
    assert "does not combine" in capsys.readouterr().err


def test_model_without_history_says_so(tmp_path):
    (tmp_path / "c.toml").write_text("[model]\nembedding_dim = 8\nepochs = 1\nhistory = false\nuse_user_id = true\n")
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")]) == 0
    plain = ExportedModel(export_model(tmp_path / "run", tmp_path / "export", k=5))
    with pytest.raises(TfrecError, match="trained without history"):
        plain.recommend_from_history([1, 2], k=3)


def test_http_history(served):
    from starlette.testclient import TestClient

    from tfrec.serving.http import create_app

    with TestClient(create_app(served)) as client:
        user = _known_user(served)
        history = served.history(user)
        answer = client.post("/recommend", json={"history": history, "k": 10}).json()
        assert answer["user_status"] == "history"
        expected, _ = served.recommend(served.user_features(user), k=10)
        assert [i["item_id"] for i in answer["items"]] == expected[0].tolist()
        for bad in ({"history": []}, {"history": "1,2"}, {"history": [1], "history_weights": [1, 2]},
                    {"history": [1], "include_seen": True}, {"history": [1], "user_id": True},
                    {"history": [True]}):
            response = client.post("/recommend", json=bad)
            assert response.status_code == 400, bad
        found = client.get("/items?q=1").json()["items"]
        assert {"item_id": 1} in found or any(i["item_id"] == 1 for i in found)


def test_malformed_histories_get_4xx_never_5xx(served):
    from starlette.testclient import TestClient

    from tfrec.serving.http import create_app

    rng = np.random.default_rng(0)
    bad_values = [None, {}, [[1]], [{"a": 1}], ["x" * 10_000], [1.5], [-(2**70)], [2**70], ["日本", "é"],
                  [True, False], list(range(3000)), "", 0, [None]]
    with TestClient(create_app(served), raise_server_exceptions=False) as client:
        statuses = []
        for i in range(300):
            payload = {"history": bad_values[i % len(bad_values)], "k": int(rng.integers(-5, 500))}
            if i % 3 == 0:
                payload["history_weights"] = [float("inf")] if i % 2 else ["a"]
            response = client.post("/recommend", content=json.dumps(payload, allow_nan=True))
            statuses.append(response.status_code)
            assert "error" in response.json() or response.status_code == 200
        assert max(statuses) < 500, sorted(set(statuses))
        assert client.get("/healthz").json() == {"status": "ok"}


def test_rating_towers_serve_ratings_while_recommend_reads_the_history_inputs(tmp_path, capsys):
    """The default shape: history retrieval plus rating towers that read the user and item
    features. ``recommend`` takes the user id alone; ``predict_rating`` the features too, and
    the export, the HTTP route and the model in memory agree."""
    from starlette.testclient import TestClient

    from tfrec.data import load_synthetic
    from tfrec.data.columns import side_columns
    from tfrec.model.training.run_folder import RunFolder
    from tfrec.serving.http import create_app

    config = CONFIG.replace("rating_weight = 0.0", "rating_weight = 1.0\nrating_epochs = 2\nrating_batch_size = 256")
    (tmp_path / "model.toml").write_text(config)
    assert main(["train", "--config", str(tmp_path / "model.toml"), "--out", str(tmp_path / "run")]) == 0
    served = ExportedModel(export_model(tmp_path / "run", tmp_path / "export", k=20, max_exclude=5))
    dataset = load_synthetic()
    assert served.info.query == {"user_id": "int64"}
    assert set(served.info.rating_query) == {f.name for f in dataset.schema.user_features}
    assert set(served.info.rating_candidate) == {f.name for f in dataset.schema.item_features}
    loaded = tf.saved_model.load(str(served.path / "savedmodel"))
    assert set(loaded.signatures["recommend"].structured_input_signature[1]) == {"user_id"}
    user, item = _known_user(served), int(served.catalog["item_id"].iloc[3])
    rating = served.predict_rating(served.user_features(user, rating=True), item)
    model = RunFolder(tmp_path / "run").load_model()
    columns = {**side_columns(dataset, "user", np.array([user])), **side_columns(dataset, "item", np.array([item]))}
    assert rating == pytest.approx(float(model.predict_rating(columns).numpy()[0]), abs=1e-5)
    assert 0.0 < rating < 7.0
    with TestClient(create_app(served)) as client:
        answer = client.post("/predict_rating", json={"user_id": user, "item_id": item}).json()
        assert answer["rating"] == pytest.approx(rating, abs=1e-6)
        unknown = client.post("/predict_rating", json={"user_id": 10**9, "item_id": item})
        assert unknown.status_code == 200 and np.isfinite(unknown.json()["rating"])
        by_id = client.post("/recommend", json={"user_id": user, "k": 5}).json()
        assert len(by_id["items"]) == 5
        # The rating towers' score is the known user's: the same history given with the id gets
        # the same list (without the id, the history model alone ranks it).
        history = served.history(user)
        same = client.post("/recommend", json={"user_id": user, "history": history, "k": 5}).json()
        assert same["user_status"] == "history" and same["user_id"] == user
        assert [i["item_id"] for i in same["items"]] == [i["item_id"] for i in by_id["items"]]
    capsys.readouterr()  # training's output
    assert main(["recommend", "--model", str(served.path), "--user", str(user), "--history",
                 ",".join(map(str, history)), "-k", "5", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [r["item_id"] for r in answer["recommendations"]] == [i["item_id"] for i in by_id["items"]]
