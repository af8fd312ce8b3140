"""``tfrec serve``: an HTTP JSON service over an export (Starlette on uvicorn), with a page.

Endpoints:

* ``POST /recommend`` -- ``{"user_id": ..., "features": {...}, "k": 10, "exclude": [...],
  "include_seen": false}`` -> the top-k with scores (and titles when the catalog has them);
  ``{"history": [item ids, oldest first], "history_weights": [...], "features": {...}}``
  serves a new user from their items (models trained with ``history = true``); with a
  ``user_id`` too, the given history replaces that user's stored one;
* ``POST /predict_rating`` -- ``{"user_id": ..., "item_id": ..., "features": {...}}``;
* ``GET /healthz``, ``GET /metadata`` (schema, k, index, catalog size, versions);
* ``GET /history?user_id=`` -- the user's training items (what the page shows);
* ``GET /items?q=`` -- up to 20 catalog items whose id is ``q`` or whose title contains it;
* ``GET /`` -- one static HTML page: enter a user id, see their history and top-k.

Requests that arrive together are micro-batched into one signature call (at most
``max_batch`` rows, waiting at most ``max_wait_ms`` for more). Every input is checked; a bad
request gets a 4xx JSON ``{"error": ...}`` naming the problem, bodies are capped, and no
traceback ever reaches a client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
from typing import Any

import numpy as np

from tfrec.errors import TfrecError
from tfrec.serving.exported import ExportedModel
from tfrec.serving.page import PAGE

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
RECOMMEND_FIELDS = {"user_id", "features", "k", "exclude", "include_seen", "history", "history_weights"}
RATING_FIELDS = {"user_id", "item_id", "features"}


class BadRequest(Exception):
    """A request the service refuses (status 4xx, message for the client)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class _Pending:
    features: dict[str, np.ndarray]
    include_seen: bool
    exclude: list
    future: asyncio.Future


class Batcher:
    """Collects concurrent recommend requests and answers them with one signature call per
    group (requests with and without ``include_seen`` go in separate calls).

    Args:
        served: The loaded export.
        max_batch: Most rows per call.
        max_wait_ms: Longest wait for more requests once one is queued.
    """

    def __init__(self, served: ExportedModel, max_batch: int = 64, max_wait_ms: float = 2.0) -> None:
        self.served, self.max_batch, self.max_wait = served, max_batch, max_wait_ms / 1000
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def submit(self, features: dict[str, np.ndarray], include_seen: bool, exclude: list) -> tuple:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(features, include_seen, exclude, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = asyncio.get_running_loop().time() + self.max_wait
            while len(batch) < self.max_batch:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            for include_seen in (False, True):
                group = [p for p in batch if p.include_seen == include_seen]
                if group:
                    await asyncio.to_thread(self._answer, group, include_seen)

    def _answer(self, group: list[_Pending], include_seen: bool) -> None:
        """Requests without exclusions in one call; each request with exclusions on its own."""
        plain = [p for p in group if not p.exclude]
        calls = ([plain] if plain else []) + [[p] for p in group if p.exclude]
        for call in calls:
            loop = call[0].future.get_loop()
            try:
                features = {n: np.concatenate([p.features[n] for p in call]) for n in call[0].features}
                ids, scores, known = self.served.recommend_with_status(
                    features, k=self.served.info.k, exclude=call[0].exclude, include_seen=include_seen)
                for row, pending in enumerate(call):
                    loop.call_soon_threadsafe(_resolve, pending.future, (ids[row], scores[row], bool(known[row])))
            except Exception as exc:  # delivered to each waiting request, never raised in the worker
                for pending in call:
                    loop.call_soon_threadsafe(_fail, pending.future, exc)


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)


def _clean(value: Any) -> Any:
    """NumPy scalars and non-finite floats -> JSON values."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def create_app(served: ExportedModel, *, max_batch: int = 64, max_wait_ms: float = 2.0) -> Any:
    """The Starlette application serving ``served``."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    batcher = Batcher(served, max_batch=max_batch, max_wait_ms=max_wait_ms)
    item_column = served.info.item_id
    catalog = served.catalog.assign(_key=served.catalog[item_column].astype(str)).set_index("_key")
    title = next((c for c in (served.title_column, "title", "name") if c and c in catalog.columns), None)

    def describe(item: Any, score: float | None = None) -> dict[str, Any]:
        row = {"item_id": _clean(item)}
        if score is not None:
            row["score"] = _clean(float(score))
        if title is not None and str(item) in catalog.index:
            row["title"] = _clean(catalog.loc[str(item), title])
        return row

    async def body(request: Request, allowed: set[str]) -> dict[str, Any]:
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
        features = data.get("features") or {}
        if not isinstance(features, dict) or not all(isinstance(v, (str, int, float, type(None)))
                                                     for v in features.values()):
            raise BadRequest("features must be an object of feature name -> string or number")
        return features

    def features_of(data: dict[str, Any], rating: bool = False) -> dict[str, np.ndarray]:
        features = checked_features(data)
        user = data.get("user_id")
        if user is not None and not isinstance(user, (str, int)) or isinstance(user, bool):
            raise BadRequest("user_id must be a string or an integer")
        if user is None and not features:
            raise BadRequest("give a user_id, features, or both")
        return served.user_features(user, {str(k): v for k, v in features.items()}, rating)

    async def recommend(request: Request) -> JSONResponse:
        data = await body(request, RECOMMEND_FIELDS)
        k = data.get("k", 10)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= served.info.k:
            raise BadRequest(f"k must be an integer from 1 to {served.info.k}")
        if data.get("history") is not None:
            return await from_history(data, k)
        exclude = data.get("exclude") or []
        if not isinstance(exclude, list) or not all(isinstance(v, (str, int)) for v in exclude):
            raise BadRequest("exclude must be a list of item ids")
        if len(exclude) > served.info.max_exclude:
            raise BadRequest(f"at most {served.info.max_exclude} exclusions")
        include_seen = data.get("include_seen", False)
        if not isinstance(include_seen, bool):
            raise BadRequest("include_seen must be true or false")
        features = features_of(data)
        ids, scores, known = await batcher.submit(features, include_seen, exclude)
        user = data.get("user_id")
        return JSONResponse({
            "user_id": user, "user_status": "known" if known else "cold" if user is not None else "features",
            "seen_items_excluded": not include_seen, "k": k,
            "items": [describe(i, s) for i, s in zip(ids[:k], scores[:k], strict=True)]})

    async def from_history(data: dict[str, Any], k: int) -> JSONResponse:
        if served.info.max_history == 0:
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
        # With a user_id, the history replaces the stored one; the user's stored features (and a
        # known user's rating-tower score) still apply.
        user = data.get("user_id")
        row = features_of(data) if user is not None else served.user_features(
            None, {str(key): v for key, v in checked_features(data).items()})
        ids, scores = await asyncio.to_thread(served.recommend_from_history, items, weights, k, row)
        return JSONResponse({"user_id": user, "user_status": "history", "history_items": len(items),
                             "seen_items_excluded": True, "k": k,
                             "items": [describe(i, s) for i, s in zip(ids, scores, strict=True)]})

    async def predict_rating(request: Request) -> JSONResponse:
        data = await body(request, RATING_FIELDS)
        if not served.info.has_rating:
            raise BadRequest("this model has no rating head", 422)
        item = data.get("item_id")
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise BadRequest("item_id must be a string or an integer")
        features = features_of(data, rating=True)
        rating = await asyncio.to_thread(served.predict_rating, features, item)
        return JSONResponse({"user_id": data.get("user_id"), "item_id": item, "rating": _clean(rating)})

    async def history(request: Request) -> JSONResponse:
        user = request.query_params.get("user_id", "")
        if not user or len(user) > 200:
            raise BadRequest("give ?user_id= (at most 200 characters)")
        return JSONResponse({"user_id": user, "items": [describe(i) for i in served.history(user)]})

    async def items(request: Request) -> JSONResponse:
        query = request.query_params.get("q", "").strip().casefold()
        if not query or len(query) > 200:
            raise BadRequest("give ?q= (at most 200 characters)")
        keys = catalog.index.to_series()
        hit = keys.str.casefold() == query
        if title is not None:
            hit |= catalog[title].astype(str).str.casefold().str.contains(query, regex=False)
        return JSONResponse({"items": [describe(i) for i in catalog.loc[hit.to_numpy(), item_column][:20]]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def metadata(request: Request) -> JSONResponse:
        info = served.info
        return JSONResponse({"index": info.index, "k": info.k, "max_exclude": info.max_exclude,
                             "catalog_size": info.catalog_size, "user_id": info.user_id,
                             "item_id": info.item_id, "query_features": info.query, "has_rating": info.has_rating,
                             "max_history": info.max_history,
                             "seen": info.raw.get("seen"), "versions": info.raw.get("versions"),
                             "schema": served.schema_json, "title_column": title})

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def refuse(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ClientDisconnect):  # the client went away mid-request: nothing to answer
            return JSONResponse({"error": "client disconnected"}, status_code=400)
        if isinstance(exc, BadRequest):
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if isinstance(exc, TfrecError):
            return JSONResponse({"error": str(exc)}, status_code=400)
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            return JSONResponse({"error": getattr(exc, "detail", "bad request")}, status_code=status)
        logger.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": "internal error (logged by the server)"}, status_code=500)

    routes = [Route("/recommend", recommend, methods=["POST"]),
              Route("/predict_rating", predict_rating, methods=["POST"]),
              Route("/history", history, methods=["GET"]), Route("/items", items, methods=["GET"]),
              Route("/healthz", healthz, methods=["GET"]),
              Route("/metadata", metadata, methods=["GET"]), Route("/", page, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers={
        BadRequest: refuse, TfrecError: refuse, ClientDisconnect: refuse, Exception: refuse,
        400: refuse, 404: refuse, 405: refuse, 413: refuse, 422: refuse})


def serve(path: str, *, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 64,
          max_wait_ms: float = 2.0) -> None:
    """Loads the export and serves it until interrupted."""
    import uvicorn

    app = create_app(ExportedModel(path), max_batch=max_batch, max_wait_ms=max_wait_ms)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5)
