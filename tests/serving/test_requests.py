"""The service's request checks on plain dicts (no server): each bad field is one 4xx message."""

from types import SimpleNamespace

import pytest

from tfrec.serving.requests import (
    BadRequest,
    checked_exclusions,
    checked_features,
    checked_history,
    checked_item,
    checked_k,
    checked_query,
    checked_user,
    clean,
)

INFO = SimpleNamespace(k=20, max_exclude=2, max_history=50)


@pytest.mark.parametrize(("check", "data", "message"), [
    (lambda d: checked_k(d, INFO), {"k": 0}, "k must be an integer from 1 to 20"),
    (lambda d: checked_k(d, INFO), {"k": True}, "k must be an integer"),
    (lambda d: checked_exclusions(d, INFO), {"exclude": [1, 2, 3]}, "at most 2 exclusions"),
    (lambda d: checked_exclusions(d, INFO), {"exclude": "7"}, "exclude must be a list"),
    (lambda d: checked_exclusions(d, INFO), {"include_seen": "yes"}, "include_seen must be true or false"),
    (checked_features, {"features": {"age": [1]}}, "features must be an object"),
    (lambda d: checked_user(d, {}), {}, "give a user_id, features, or both"),
    (lambda d: checked_user(d, {}), {"user_id": 1.5}, "user_id must be a string or an integer"),
    (lambda d: checked_history(d, INFO), {"history": []}, "history must be a non-empty list"),
    (lambda d: checked_history(d, INFO), {"history": [1], "history_weights": [1, 2]}, "one per history item"),
    (lambda d: checked_history(d, INFO), {"history": [1], "exclude": [2]}, "does not combine"),
    (lambda d: checked_history(d, SimpleNamespace(max_history=0)), {"history": [1]}, "without history = true"),
    (checked_item, {"item_id": None}, "item_id must be a string or an integer"),
    (lambda d: checked_query(d["q"], "q"), {"q": "x" * 201}, "at most 200 characters"),
])
def test_each_bad_field_is_refused_with_its_message(check, data, message):
    with pytest.raises(BadRequest, match=message) as refused:
        check(data)
    assert 400 <= refused.value.status < 500


def test_good_fields_pass_through():
    assert checked_k({}, INFO) == 10 and checked_exclusions({"exclude": [1]}, INFO) == ([1], False)
    assert checked_features({"features": {1: "a"}}) == {"1": "a"}
    assert checked_history({"history": ["a", 2], "history_weights": [1, 0.5]}, INFO) == (["a", 2], [1, 0.5])
    assert checked_user({}, {"age": 3}) is None and checked_item({"item_id": "日本"}) == "日本"
    assert clean(float("nan")) is None and clean(__import__("numpy").int64(3)) == 3
