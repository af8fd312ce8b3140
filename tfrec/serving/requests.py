"""The HTTP service's requests: bodies read with a size cap, every field checked, one
:class:`BadRequest` (a 4xx and a message naming the problem) for anything else."""

from __future__ import annotations

import json
import math
from typing import Any

from tfrec.serving.info import ExportInfo

MAX_BODY = 64 * 1024
RECOMMEND_FIELDS = {"user_id", "features", "k", "exclude", "include_seen", "history", "history_weights"}
RATING_FIELDS = {"user_id", "item_id", "features"}


class BadRequest(Exception):
    """A request the service refuses (status 4xx, message for the client)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def clean(value: Any) -> Any:
    """NumPy scalars and non-finite floats -> JSON values."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


async def read_body(request: Any, allowed: set[str]) -> dict[str, Any]:
    """The JSON object of a Starlette request, at most :data:`MAX_BODY` bytes, only ``allowed`` fields."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BadRequest(f"body over {MAX_BODY // 1024} KiB", 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadRequest(f"body over {MAX_BODY // 1024} KiB", 413)
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {[str(u)[:40] for u in unknown[:5]]}; allowed: {sorted(allowed)}")
    return data


def checked_features(data: dict[str, Any]) -> dict[str, Any]:
    """``features``: an object of feature name -> string, number or null (default ``{}``)."""
    features = data.get("features") or {}
    if not isinstance(features, dict) or not all(isinstance(v, (str, int, float, type(None)))
                                                 for v in features.values()):
        raise BadRequest("features must be an object of feature name -> string or number")
    return {str(k): v for k, v in features.items()}


def checked_user(data: dict[str, Any], features: dict[str, Any]) -> Any:
    """``user_id`` (a string, an integer or absent); absent with no ``features`` either, refused."""
    user = data.get("user_id")
    if user is not None and not isinstance(user, (str, int)) or isinstance(user, bool):
        raise BadRequest("user_id must be a string or an integer")
    if user is None and not features:
        raise BadRequest("give a user_id, features, or both")
    return user


def checked_k(data: dict[str, Any], info: ExportInfo) -> int:
    """``k``: an integer from 1 to the export's k (default 10)."""
    k = data.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= info.k:
        raise BadRequest(f"k must be an integer from 1 to {info.k}")
    return k


def checked_exclusions(data: dict[str, Any], info: ExportInfo) -> tuple[list, bool]:
    """``(exclude, include_seen)``: at most the export's ``max_exclude`` item ids, and a boolean."""
    exclude = data.get("exclude") or []
    if not isinstance(exclude, list) or not all(isinstance(v, (str, int)) for v in exclude):
        raise BadRequest("exclude must be a list of item ids")
    if len(exclude) > info.max_exclude:
        raise BadRequest(f"at most {info.max_exclude} exclusions")
    include_seen = data.get("include_seen", False)
    if not isinstance(include_seen, bool):
        raise BadRequest("include_seen must be true or false")
    return exclude, include_seen


def checked_history(data: dict[str, Any], info: ExportInfo) -> tuple[list, list | None]:
    """``(history, history_weights)`` of a model trained with a history."""
    if info.max_history == 0:
        raise BadRequest("this model was trained without history = true: give user_id or features", 422)
    if data.get("exclude") or data.get("include_seen"):
        raise BadRequest("history does not combine with exclude or include_seen (its items are left out)")
    items, weights = data["history"], data.get("history_weights")
    if not isinstance(items, list) or not items or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
        raise BadRequest("history must be a non-empty list of item ids")
    if weights is not None and (not isinstance(weights, list) or len(weights) != len(items) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)):
        raise BadRequest("history_weights must be a list of numbers, one per history item")
    return items, weights


def checked_item(data: dict[str, Any]) -> Any:
    """``item_id``: a string or an integer."""
    item = data.get("item_id")
    if not isinstance(item, (str, int)) or isinstance(item, bool):
        raise BadRequest("item_id must be a string or an integer")
    return item


def checked_query(value: str, name: str) -> str:
    """A query parameter that must be given, at most 200 characters."""
    if not value or len(value) > 200:
        raise BadRequest(f"give ?{name}= (at most 200 characters)")
    return value
