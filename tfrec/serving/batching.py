"""Micro-batching of concurrent recommend requests into one signature call per group."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np

from tfrec.serving.exported import ExportedModel


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
