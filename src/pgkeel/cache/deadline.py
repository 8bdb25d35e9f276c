"""Per-call time limits that share their timers: what `asyncio.timeout` does, for less.

Every cache call to Redis has a time limit (`CACHE_OP_TIMEOUT_S`). `asyncio.timeout` makes a
context object and a timer per call and cancels the timer after it; on a hit, which is one
round trip, that was a noticeable part of the client's CPU. Here calls whose limits end within
the same millisecond share one timer: it cancels those still running when it fires, and each
of them raises `TimeoutError` -- as `asyncio.timeout` does, and no earlier than the limit (at
most a millisecond after it). A cancellation from elsewhere still propagates as such.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Deadlines"]

R = TypeVar("R")
_TICKS_PER_S = 1000


class _Due:
    """The calls whose limits end in one tick; `fired` once its timer ran."""

    __slots__ = ("fired", "tasks")

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self.fired = False


class Deadlines:
    """`await deadlines.run(operation)`: `operation()` with a time limit of `limit_s`."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._due: dict[tuple[asyncio.AbstractEventLoop, int], _Due] = {}

    async def run(self, operation: Callable[[], Awaitable[R]]) -> R:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:  # not in a task (a bare coroutine driven by hand): no sharing
            async with asyncio.timeout(self.limit_s):
                return await operation()
        tick = math.ceil((loop.time() + self.limit_s) * _TICKS_PER_S)
        key = (loop, tick)
        due = self._due.get(key)
        if due is None:
            due = self._due[key] = _Due()
            loop.call_at(tick / _TICKS_PER_S, self._fire, key, due)
        cancelling = task.cancelling()
        due.tasks.add(task)
        try:
            result = await operation()
        except BaseException as exc:
            if due.fired and task.uncancel() <= cancelling \
                    and isinstance(exc, asyncio.CancelledError):
                raise TimeoutError from exc
            raise
        finally:
            due.tasks.discard(task)
        if due.fired:  # the limit passed as the call ended: take back our cancellation
            task.uncancel()
        return result

    def _fire(self, key: tuple[asyncio.AbstractEventLoop, int], due: _Due) -> None:
        self._due.pop(key, None)
        due.fired = True
        for task in due.tasks:
            task.cancel()
