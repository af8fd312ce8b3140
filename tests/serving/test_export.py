"""Export to SavedModel, reload in a fresh process without tfrec, serve with `tfrec recommend`."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tfrec.cli import main
from tfrec.errors import TfrecError
from tfrec.serving import ExportedModel, export_model


# The feature-driven towers (history off): these tests exercise feature inputs end to end;
# the history model's serving is tests/serving/test_history_serving.py.
@pytest.fixture(scope="module")
def trained(feature_model):
    return feature_model / "run"


@pytest.fixture(scope="module")
def exported(feature_model):
    return feature_model / "export"


def test_export_layout_and_metadata(exported):
    info = json.loads((exported / "tfrec_export.json").read_text())
    assert info["index"] == "brute-force" and info["k"] == 20 and info["max_exclude"] == 5
    assert info["catalog_size"] == 500  # the whole catalog, not only items seen in training
    assert set(info["signatures"]) == {"recommend", "recommend_excluding", "recommend_including_seen",
                                       "predict_rating", "user_embedding", "item_embedding"}
    assert info["seen"]["users"] > 0 and info["seen"]["pairs"] >= info["seen"]["users"]
    assert info["seen"]["bytes"] > 8 * info["seen"]["pairs"] and info["seen"]["excluded_by_default"]
    assert info["versions"]["tensorflow"].startswith("2.20")
    for name in ("schema.json", "vocabularies.json", "config.json", "history.json", "catalog.parquet",
                 "users.parquet"):
        assert (exported / name).is_file(), name
    assert not any(p.name.startswith(".export-") for p in exported.parent.iterdir()), "no staging left"


FRESH = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert "tfrec" not in sys.modules
loaded = tf.saved_model.load(sys.argv[1])
features = {"user_id": tf.constant([3, 10**9], tf.int64), "age": tf.constant([30.0, float("nan")]),
            "gender": tf.constant([1, 0], tf.int64), "interactions": tf.constant([2, 9], tf.int64),
            "region": tf.constant([0, 4], tf.int64), "device_type": tf.constant([1, 2], tf.int64)}
items = {"item_id": tf.constant([5, 6], tf.int64), "category": tf.constant([1, 2], tf.int64),
         "subcategory": tf.constant([0, 1], tf.int64), "price": tf.constant([10.0, 150.0]),
         "brand": tf.constant([3, 4], tf.int64), "discount": tf.constant([0.1, 0.3])}
out = {
  "user_embedding": loaded.signatures["user_embedding"](**features)["embedding"].numpy().tolist(),
  "item_embedding": loaded.signatures["item_embedding"](**items)["embedding"].numpy().tolist(),
  "rating": loaded.signatures["predict_rating"](**features, **items)["rating"].numpy().tolist(),
  "top": loaded.signatures["recommend"](**features)["item_ids"].numpy().tolist(),
  "top_scores": loaded.signatures["recommend"](**features)["scores"].numpy().tolist(),
  "excluded": loaded.signatures["recommend_excluding"](
      exclude=tf.constant([[-1] * 5, [-1] * 5], tf.int64), **features)["item_ids"].numpy().tolist(),
  "known": loaded.signatures["recommend"](**features)["known_user"].numpy().tolist(),
  "with_seen": loaded.signatures["recommend_including_seen"](
      exclude=tf.constant([[-1] * 5, [-1] * 5], tf.int64), **features)["item_ids"].numpy().tolist(),
  "top32": loaded.recommend({k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v
                             for k, v in features.items()})["item_ids"].numpy().tolist(),
}
print(json.dumps(out))
"""


def test_fresh_process_without_tfrec_gets_same_outputs(trained, exported):
    result = subprocess.run([sys.executable, "-c", FRESH, str(exported / "savedmodel")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = json.loads(result.stdout.strip().splitlines()[-1])
    from tfrec.model.network.persist import load_model

    model = load_model(trained / "model")
    features = {"user_id": np.array([3, 10**9]), "age": np.array([30.0, np.nan], np.float32),
                "gender": np.array([1, 0]), "interactions": np.array([2, 9]), "region": np.array([0, 4]),
                "device_type": np.array([1, 2])}
    items = {"item_id": np.array([5, 6]), "category": np.array([1, 2]), "subcategory": np.array([0, 1]),
             "price": np.array([10.0, 150.0], np.float32), "brand": np.array([3, 4]),
             "discount": np.array([0.1, 0.3], np.float32)}
    np.testing.assert_allclose(fresh["user_embedding"], model.query_embedding(features).numpy(), atol=1e-5)
    np.testing.assert_allclose(fresh["item_embedding"], model.candidate_embedding(items).numpy(), atol=1e-5)
    np.testing.assert_allclose(fresh["rating"], model.predict_rating({**features, **items}).numpy(), atol=1e-5)
    # recommend = exact top-k of the dot products over the whole catalog
    import pandas as pd

    catalog = pd.read_parquet(exported / "catalog.parquet")
    columns = {c: catalog[c].to_numpy() for c in items}
    columns["price"] = columns["price"].astype(np.float32)
    columns["discount"] = columns["discount"].astype(np.float32)
    scores = model.query_embedding(features).numpy() @ model.candidate_embedding(columns).numpy().T
    seen = pd.read_parquet(trained / "seen.parquet")
    mine = set(seen.loc[seen.user_id == 3, "item_id"])
    assert mine, "user 3 has training items"
    scores[0, np.isin(columns["item_id"], list(mine))] = -np.inf  # left out for a known user
    expected = np.sort(scores, axis=1)[:, ::-1][:, :20]
    np.testing.assert_allclose(fresh["top_scores"], expected, atol=1e-4)
    assert not set(fresh["top"][0]) & mine
    assert fresh["excluded"] == fresh["top"] and fresh["known"] == [True, False]
    assert fresh["top32"] == fresh["top"], "int32 inputs are accepted (cast inside)"
    assert set(fresh["with_seen"][0]) & mine, "recommend_including_seen keeps them"


def test_exclusions_and_limits(exported):
    served = ExportedModel(exported)
    features = served.user_features(7)
    ids, scores = served.recommend(features, k=10)
    assert ids.shape == (1, 10) and np.all(np.diff(scores[0]) <= 1e-6)
    without, _ = served.recommend(features, k=10, exclude=[str(ids[0, 0]), "123456789"])
    assert ids[0, 0] not in without[0] and len(set(without[0])) == 10
    with pytest.raises(TfrecError, match="between 1 and 20"):
        served.recommend(features, k=21)
    with pytest.raises(TfrecError, match="between 1 and 20"):
        served.recommend(features, k=0)
    with pytest.raises(TfrecError, match="at most 5 exclusions"):
        served.recommend(features, k=5, exclude=list(range(6)))
    with pytest.raises(TfrecError, match="integers"):
        served.recommend(features, k=5, exclude=["abc"])
    with pytest.raises(TfrecError, match=r"unknown feature\(s\) \['colour'\]"):
        served.user_features(None, {"colour": "red"})
    with pytest.raises(TfrecError, match="must be a number"):
        served.user_features(None, {"age": "old"})
    cold, _ = served.recommend(served.user_features(999_999, {"age": "nan"}), k=5)  # unknown: cold start
    with pytest.raises(TfrecError, match="user ids are integers"):
        served.user_features("not-a-user")
    assert cold.shape == (1, 5)


def test_cli_recommend_known_unknown_and_json(exported, capsys):
    assert main(["recommend", "--model", str(exported), "--user", "3", "-k", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("top 3 for user 3") and len(text.strip().splitlines()) == 4
    # Integer item features print as integers (a catalog row read whole was upcast to floats).
    assert re.search(r"category=\d+, subcategory=\d+, price=[\d.]+, brand=\d+$", text.splitlines()[1]), text
    assert main(["recommend", "--model", str(exported), "--user", "999999", "--features",
                 "age=30,gender=1", "-k", "4", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["recommendations"]) == 4 and "category" in payload["recommendations"][0]
    assert isinstance(payload["recommendations"][0]["category"], int)


def _edit_info(target, change):
    info = json.loads((target / "tfrec_export.json").read_text())
    (target / "tfrec_export.json").write_text(json.dumps(change(info)))


DAMAGES = {
    "missing": ("not a tfrec export", None),
    "corrupt_json": ("not valid JSON", lambda t: (t / "tfrec_export.json").write_text("{not json")),
    "empty_object": ("field 'features' is missing", lambda t: (t / "tfrec_export.json").write_text("{}")),
    "a_list": ("not a JSON object", lambda t: (t / "tfrec_export.json").write_text("[1, 2]")),
    "k_string": ("field 'k' is '20'", lambda t: _edit_info(t, lambda i: {**i, "k": "20"})),
    "not_utf8": ("not UTF-8", lambda t: (t / "tfrec_export.json").write_bytes(b'{"index": "caf\xe9"}')),
    "deep": ("nested too deeply", lambda t: (t / "tfrec_export.json").write_text("[" * 100_000 + "]" * 100_000)),
    "corrupt_model": ("changed since export", lambda t: (t / "savedmodel" / "saved_model.pb").write_bytes(b"x")),
    "tampered_variables": ("changed since export", lambda t: next((t / "savedmodel" / "variables").glob(
        "*.data*")).write_bytes(b"\0" * 64)),
    "no_checksums": ("records no checksums", lambda t: _edit_info(t, lambda i: {**i, "sha256": {}})),
    "no_catalog": ("catalog.parquet: missing", lambda t: (t / "catalog.parquet").unlink()),
    "corrupt_catalog": ("catalog.parquet: unreadable", lambda t: (t / "catalog.parquet").write_bytes(b"PAR1")),
    "no_users": ("users.parquet: missing", lambda t: (t / "users.parquet").unlink()),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_cli_bad_exports_give_one_line_errors(exported, tmp_path, capsys, damage):
    """Damaged or tampered exports are refused with one line, before TensorFlow loads them."""
    import shutil

    fragment, apply = DAMAGES[damage]
    target = tmp_path / "copy"
    if apply is not None:
        shutil.copytree(exported, target)
        apply(target)
    assert main(["recommend", "--model", str(target), "--user", "1"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1, err


def test_integer_ids_must_be_whole_numbers(exported, capsys):
    assert main(["recommend", "--model", str(exported), "--user", "1.9"]) == 2
    assert "user ids are integers in this model; '1.9' is not one" in capsys.readouterr().err
    assert main(["recommend", "--model", str(exported), "--user", "1", "--exclude", "467.7"]) == 2
    assert "item ids are integers in this model; '467.7' is not one" in capsys.readouterr().err
    assert main(["recommend", "--model", str(exported), "--user", "1", "--exclude", "7, 99999999999999999999"]) == 0


def test_export_errors(trained, tmp_path, exported, monkeypatch):
    with pytest.raises(TfrecError, match="exists"):
        export_model(trained, exported)
    monkeypatch.chdir(exported)  # inside the export: '.', '..' and the folder itself are refused
    for out in (".", "..", str(exported), str(exported.parent)):
        with pytest.raises(TfrecError, match="never|'.' or '..'"):
            export_model(trained, out, overwrite=True)
    assert (exported / "tfrec_export.json").is_file() and (trained / "catalog.parquet").is_file()
    monkeypatch.undo()
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(TfrecError, match="not a folder"):
        export_model(trained, tmp_path / "a_file", overwrite=True)
    assert (tmp_path / "a_file").read_text() == "mine"
    with pytest.raises(TfrecError, match="not a tfrec training folder"):
        export_model(tmp_path, tmp_path / "x")
    with pytest.raises(TfrecError, match="unknown index"):
        export_model(trained, tmp_path / "y", index="faiss")
    assert main(["recommend", "--model", str(exported), "--features", "age"]) == 2


def test_scann_export_reloads_in_a_fresh_process(trained, exported, tmp_path):
    import scann  # noqa: F401  (the test extra installs it; a missing ScaNN must fail, not skip)
    out = export_model(trained, tmp_path / "scann", index="scann", k=10)
    code = ("import sys, json, scann, tensorflow as tf\n"
            "m = tf.saved_model.load(sys.argv[1])\n"
            "f = dict(user_id=tf.constant([3], tf.int64), age=tf.constant([30.0]),"
            " gender=tf.constant([1], tf.int64), interactions=tf.constant([2], tf.int64),"
            " region=tf.constant([0], tf.int64), device_type=tf.constant([1], tf.int64))\n"
            "print(json.dumps(m.signatures['recommend'](**f)['item_ids'].numpy().tolist()))")
    result = subprocess.run([sys.executable, "-c", code, str(out / "savedmodel")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    approximate = set(json.loads(result.stdout.strip().splitlines()[-1])[0])
    exact, _ = ExportedModel(exported).recommend(
        ExportedModel(exported).user_features(3, {"age": 30, "gender": 1, "interactions": 2,
                                                                   "region": 0, "device_type": 1}), k=10)
    # A 500-item catalog is small enough for ScaNN to search every leaf: exact results.
    assert approximate == set(exact[0].tolist())


def test_signature_with_missing_or_wrong_features_raises(exported):
    import tensorflow as tf

    signature = ExportedModel(exported).saved.signatures["recommend"]
    with pytest.raises(TypeError):  # documented: every input of the signature is required
        signature(user_id=tf.constant([1], tf.int64))
    full = {"user_id": tf.constant([1], tf.int64), "age": tf.constant([30.0]),
            "gender": tf.constant([1], tf.int64), "interactions": tf.constant([2], tf.int64),
            "region": tf.constant([0], tf.int64), "device_type": tf.constant([1], tf.int64)}
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):  # wrong dtype
        signature(**{**full, "age": tf.constant(["thirty"])})
    assert signature(**full)["item_ids"].shape == (1, 20)


@pytest.mark.slow
def test_ten_thousand_hostile_requests_never_crash(exported):
    """Unseen ids, empty/very long/unicode strings, out-of-range numbers, k of 0 or too large:
    every answer is well-formed or tfrec's own error."""
    served = ExportedModel(exported)
    catalog = set(served.catalog["item_id"].tolist())
    rng = np.random.default_rng(0)
    strings = ["", "x" * 10_000, "\u00e9\u4e2d\U0001f600", "NaN", "-1", "1e400", " 3 ", "\x00", "None"]
    numbers = ["nan", "inf", "-inf", "-1e30", "1e30", "0", "-5", "30", "abc", ""]
    answered = errors = 0
    for _request in range(10_000):
        user = rng.choice([rng.integers(-10**12, 10**12), rng.choice(strings), int(rng.integers(0, 200)), None])
        overrides = {}
        for name in ("age", "gender", "region"):
            if rng.random() < 0.3:
                overrides[name] = rng.choice(numbers)
        k = int(rng.choice([0, 1, 5, 20, 21, 10**6]))
        exclude = [str(v) for v in rng.choice(["-1", "0", "1", "2", "1e400", "-1e30", "12.0"],
                                              size=int(rng.integers(0, 7)))] or None
        try:
            ids, scores = served.recommend(served.user_features(user, overrides), k=k, exclude=exclude)
        except TfrecError:
            errors += 1
            continue
        answered += 1
        assert ids.shape == scores.shape == (1, k)
        assert set(ids[0].tolist()) <= catalog and np.isfinite(scores).all()
        if exclude:
            assert not set(ids[0].tolist()) & {int(float(v)) for v in exclude if abs(float(v)) < 1e18}
    # Non-integer ids (user or exclusion) are refused now: fewer answers, never a crash.
    assert answered + errors == 10_000 and answered > 1_000 and errors > 1_000


def test_unicode_ids_round_trip_through_training_export_and_recommend(tmp_path, capsys):
    """Non-ASCII user and item ids survive loading, training, export, recommend and JSON."""
    import pandas as pd

    users = ["zoë", "日本", "user😀", "plain"]
    items = ["café", "naïve", "東京", "🎬 film", "item-5", "item-6"]
    rows = [(u, i, 1 + (a + b) % 5) for a, u in enumerate(users) for b, i in enumerate(items) if (a + b) % 3]
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).to_csv(tmp_path / "r.csv", index=False)
    (tmp_path / "schema.json").write_text(json.dumps(
        {"user_id": "user_id", "item_id": "item_id", "rating": "rating", "rating_scale": [1, 5],
         "user_id_dtype": "string", "item_id_dtype": "string"}))
    (tmp_path / "m.toml").write_text("[model]\nembedding_dim = 4\ntower_layers = []\nepochs = 1\nbatch_size = 8\n")
    assert main(["train", "--data", f"csv:{tmp_path / 'r.csv'}", "--schema", str(tmp_path / "schema.json"),
                 "--config", str(tmp_path / "m.toml"), "--out", str(tmp_path / "run")]) == 0
    assert main(["export", "--model", str(tmp_path / "run"), "--out", str(tmp_path / "exp"), "--k", "3",
                 "--max-exclude", "2"]) == 0
    capsys.readouterr()
    for user in users:
        assert main(["recommend", "--model", str(tmp_path / "exp"), "--user", user, "-k", "3", "--json",
                     "--exclude", "café"]) == 0
        answer = json.loads(capsys.readouterr().out)
        got = [r["item_id"] for r in answer["recommendations"]]
        assert len(got) == 3 and set(got) <= set(items) and "café" not in got, got
    served = ExportedModel(tmp_path / "exp")
    ids, _ = served.recommend(served.user_features("日本"), k=3)
    assert all(isinstance(i, str) and i in items for i in ids[0])


@pytest.mark.slow
def test_sigkill_during_export_overwrite_leaves_a_complete_old_or_new_export(trained, tmp_path):
    """8 real `tfrec export --overwrite` processes killed at random instants from 0.6 to 1.4 times
    an export's time: the earlier part is Python and TensorFlow starting, the later the writing
    and the swap, or after the export finished (a new export beside the old)."""
    import random
    import signal
    import time

    from tfrec.serving.info import ExportInfo, verify_checksums

    target = tmp_path / "export"
    command = [sys.executable, "-m", "tfrec", "export", "--model", str(trained), "--out", str(target),
               "--overwrite", "--k", "10"]
    start = time.perf_counter()
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    duration = time.perf_counter() - start  # kill instants scale with this machine's speed
    stamps = {json.loads((target / "tfrec_export.json").read_text())["exported_at"]}
    rng = random.Random(1)
    for _trial in range(8):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.6 * duration, 1.4 * duration))
        process.send_signal(signal.SIGKILL)
        process.wait()
        info = ExportInfo.read(target)  # complete: description, checksummed SavedModel, tables
        verify_checksums(target, info)
        assert (target / "catalog.parquet").is_file() and (target / "users.parquet").is_file()
        stamps.add(info.raw["exported_at"])
    assert ExportedModel(target).recommend(ExportedModel(target).user_features(1), k=5)[0].shape == (1, 5)
    assert len(stamps) >= 2, "some kills came after an export finished: old and new both seen"
