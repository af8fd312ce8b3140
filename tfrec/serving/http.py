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
``max_batch`` rows, waiting at most ``max_wait_ms`` for more: :mod:`.batching`). Every input is
checked (:mod:`.requests`); a bad request gets a 4xx JSON ``{"error": ...}`` naming the problem,
bodies are capped, and no traceback ever reaches a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from tfrec.errors import TfrecError
from tfrec.serving import requests as checks
from tfrec.serving.batching import Batcher
from tfrec.serving.exported import ExportedModel
from tfrec.serving.info import ExportInfo, verify_checksums
from tfrec.serving.page import PAGE
from tfrec.serving.requests import RATING_FIELDS, RECOMMEND_FIELDS, BadRequest, clean, read_body

logger = logging.getLogger(__name__)


class Service:
    """The endpoints over one loaded export (each a Starlette handler).

    Args:
        served: The loaded export.
        max_batch: Most rows per signature call of ``/recommend``.
        max_wait_ms: Longest wait for more requests once one is queued.
    """

    def __init__(self, served: ExportedModel, *, max_batch: int = 64, max_wait_ms: float = 2.0) -> None:
        self.served, self.info = served, served.info
        self.batcher = Batcher(served, max_batch=max_batch, max_wait_ms=max_wait_ms)
        self.item_column = served.info.item_id
        self.catalog = served.catalog.assign(_key=served.catalog[self.item_column].astype(str)).set_index("_key")
        self.title = next((c for c in (served.title_column, "title", "name") if c and c in self.catalog.columns),
                          None)
        # str(item id) -> its title, cleaned once (every answer lists k items: no pandas per item)
        self.titles: dict[str, Any] = ({} if self.title is None else
                                       {key: clean(value) for key, value in self.catalog[self.title].items()})

    def describe(self, item: Any, score: float | None = None) -> dict[str, Any]:
        """An item as the answers list it: its id, score and title (when the catalog has one)."""
        row = {"item_id": clean(item)}
        if score is not None:
            row["score"] = clean(float(score))
        key = str(item)
        if key in self.titles:
            row["title"] = self.titles[key]
        return row

    def listed(self, ids: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """:meth:`describe` of each ``(id, score)``, the arrays converted to Python values at once."""
        return [self.describe(i, s) for i, s in zip(ids.tolist(), scores.astype(float).tolist(), strict=True)]

    def user_row(self, data: dict[str, Any], rating: bool = False) -> dict[str, np.ndarray]:
        """The query inputs of the request's user: stored features of a known id, given ones over them."""
        features = checks.checked_features(data)
        return self.served.user_features(checks.checked_user(data, features), features, rating)

    async def recommend(self, request: Request) -> JSONResponse:
        data = await read_body(request, RECOMMEND_FIELDS)
        k = checks.checked_k(data, self.info)
        if data.get("history") is not None:
            return await self.from_history(data, k)
        exclude, include_seen = checks.checked_exclusions(data, self.info)
        ids, scores, known = await self.batcher.submit(self.user_row(data), include_seen, exclude)
        user = data.get("user_id")
        return JSONResponse({
            "user_id": user, "user_status": "known" if known else "cold" if user is not None else "features",
            "seen_items_excluded": not include_seen, "k": k,
            "items": self.listed(ids[:k], scores[:k])})

    async def from_history(self, data: dict[str, Any], k: int) -> JSONResponse:
        items, weights = checks.checked_history(data, self.info)
        # With a user_id, the history replaces the stored one; the user's stored features (and a
        # known user's rating-tower score) still apply.
        user = data.get("user_id")
        row = self.user_row(data) if user is not None else self.served.user_features(
            None, checks.checked_features(data))
        ids, scores = await asyncio.to_thread(self.served.recommend_from_history, items, weights, k, row)
        return JSONResponse({"user_id": user, "user_status": "history", "history_items": len(items),
                             "seen_items_excluded": True, "k": k,
                             "items": self.listed(np.asarray(ids), np.asarray(scores))})

    async def predict_rating(self, request: Request) -> JSONResponse:
        data = await read_body(request, RATING_FIELDS)
        if not self.info.has_rating:
            raise BadRequest("this model has no rating head", 422)
        item = checks.checked_item(data)
        rating = await asyncio.to_thread(self.served.predict_rating, self.user_row(data, rating=True), item)
        return JSONResponse({"user_id": data.get("user_id"), "item_id": item, "rating": clean(rating)})

    async def history(self, request: Request) -> JSONResponse:
        user = checks.checked_query(request.query_params.get("user_id", ""), "user_id")
        return JSONResponse({"user_id": user, "items": [self.describe(i) for i in self.served.history(user)]})

    async def items(self, request: Request) -> JSONResponse:
        query = checks.checked_query(request.query_params.get("q", "").strip().casefold(), "q")
        hit = self.catalog.index.to_series().str.casefold() == query
        if self.title is not None:
            hit |= self.catalog[self.title].astype(str).str.casefold().str.contains(query, regex=False)
        return JSONResponse({"items": [self.describe(i) for i in
                                       self.catalog.loc[hit.to_numpy(), self.item_column][:20]]})

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def metadata(self, request: Request) -> JSONResponse:
        info = self.info
        return JSONResponse({"index": info.index, "k": info.k, "max_exclude": info.max_exclude,
                             "catalog_size": info.catalog_size, "user_id": info.user_id,
                             "item_id": info.item_id, "query_features": info.query, "has_rating": info.has_rating,
                             "max_history": info.max_history,
                             "seen": info.raw.get("seen"), "versions": info.raw.get("versions"),
                             "schema": self.served.schema_json, "title_column": self.title})

    async def page(self, request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)


async def refuse(request: Request, exc: Exception) -> JSONResponse:
    """Every error as a JSON answer: 4xx naming the problem, or a logged 500 without details."""
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


def create_app(served: ExportedModel, *, max_batch: int = 64, max_wait_ms: float = 2.0) -> Starlette:
    """The Starlette application serving ``served``."""
    service = Service(served, max_batch=max_batch, max_wait_ms=max_wait_ms)
    routes = [Route("/recommend", service.recommend, methods=["POST"]),
              Route("/predict_rating", service.predict_rating, methods=["POST"]),
              Route("/history", service.history, methods=["GET"]), Route("/items", service.items, methods=["GET"]),
              Route("/healthz", service.healthz, methods=["GET"]),
              Route("/metadata", service.metadata, methods=["GET"]), Route("/", service.page, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers={
        BadRequest: refuse, TfrecError: refuse, ClientDisconnect: refuse, Exception: refuse,
        400: refuse, 404: refuse, 405: refuse, 413: refuse, 422: refuse})


#: How ``serve`` tells its worker processes what to serve (JSON: path, max_batch, max_wait_ms).
WORKER_ENV = "TFREC_SERVE_WORKER"


def app_from_environment() -> Starlette:
    """The application of one of ``serve``'s worker processes (uvicorn starts each from this
    import string): the export and batching options named by :data:`WORKER_ENV`."""
    options = json.loads(os.environ[WORKER_ENV])
    return create_app(ExportedModel(options["path"]), max_batch=options["max_batch"],
                      max_wait_ms=options["max_wait_ms"])


def serve(path: str, *, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 64,
          max_wait_ms: float = 2.0, workers: int = 1) -> None:
    """Loads the export and serves it until interrupted; with ``workers > 1``, that many
    processes (each loads the export and batches its own requests) share the port, so that
    the Python handling of requests, one core's work per process, can use more cores (on the
    2-core machine of ``benchmarks/bench_http.py``, whose clients share those cores, two
    workers measured no gain over one: 1,880-1,970 against 1,940-2,080 recommendations/s)."""
    import uvicorn

    settings: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "timeout_keep_alive": 5}
    if workers == 1:
        uvicorn.run(create_app(ExportedModel(path), max_batch=max_batch, max_wait_ms=max_wait_ms), **settings)
        return
    verify_checksums(Path(path), ExportInfo.read(Path(path)))  # a bad folder: one error here, not one per worker
    os.environ[WORKER_ENV] = json.dumps({"path": str(Path(path).resolve()), "max_batch": max_batch,
                                         "max_wait_ms": max_wait_ms})
    uvicorn.run("tfrec.serving.http:app_from_environment", factory=True, workers=workers, **settings)


__all__ = ["Batcher", "Service", "create_app", "serve"]
