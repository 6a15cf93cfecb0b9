"""Micro-batching: concurrent requests for the same model are scored in one call.

The first request for a model opens a batch; requests for the same model that arrive
within ``max_wait_ms`` join it until it holds ``max_batch_rows`` rows; then the batch is
scored once and each caller gets back exactly its own rows' results, in its own order.

``score`` is a coroutine function. Scoring a batch is a millisecond of CPU that holds the
GIL, so the server runs it on the event loop itself: handing it to a thread would only add
GIL hand-overs (up to the 5 ms switch interval each) to every request's latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

Score = Callable[[Hashable, list[Any]], Awaitable[Sequence[Any]]]


@dataclass
class _Batch:
    rows: list[Any] = field(default_factory=list)
    callers: list[tuple[int, int, asyncio.Future]] = field(default_factory=list)  # (start, count, future)
    full: asyncio.Event = field(default_factory=asyncio.Event)


class MicroBatcher:
    """``await submit(model, rows)`` returns ``score(model, rows)`` for those rows, batched.

    ``on_batch(rows)`` is told the size of every batch scored (for the metrics).
    """

    def __init__(
        self, score: Score, *, max_batch_rows: int, max_wait_ms: float, on_batch: Callable[[int], None] = lambda n: None
    ) -> None:
        self._score = score
        self._max_rows = max_batch_rows
        self._max_wait = max_wait_ms / 1000
        self._on_batch = on_batch
        self._open: dict[Hashable, _Batch] = {}
        self._closing: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    async def submit(self, model: Hashable, rows: list[Any]) -> list[Any]:
        if self._max_wait <= 0 or len(rows) >= self._max_rows:
            return list(await self._run(model, rows))
        batch = self._open.get(model)
        if batch is None or len(batch.rows) + len(rows) > self._max_rows:
            batch = _Batch()
            self._open[model] = batch
            task = asyncio.get_running_loop().create_task(self._close_after_wait(model, batch))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        future = asyncio.get_running_loop().create_future()
        batch.callers.append((len(batch.rows), len(rows), future))
        batch.rows.extend(rows)
        if len(batch.rows) >= self._max_rows:
            batch.full.set()
        return await future

    async def _close_after_wait(self, model: Hashable, batch: _Batch) -> None:
        try:
            await asyncio.wait_for(batch.full.wait(), self._max_wait)
        except TimeoutError:
            pass
        if self._open.get(model) is batch:
            del self._open[model]
        try:
            results = await self._run(model, batch.rows)
        except Exception as error:  # every caller of the batch gets the error its rows caused
            for _, _, future in batch.callers:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException:  # cancelled (the server stopping): no caller may wait for ever
            for _, _, future in batch.callers:
                future.cancel()
            raise
        for start, count, future in batch.callers:
            if not future.done():
                future.set_result(list(results[start : start + count]))

    async def _run(self, model: Hashable, rows: list[Any]) -> Sequence[Any]:
        self._on_batch(len(rows))
        return await self._score(model, rows)
