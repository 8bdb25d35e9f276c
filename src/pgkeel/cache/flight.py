"""In-process single-flight: concurrent calls for one key share one execution.

The shared work runs in its own task, and every caller awaits it through `asyncio.shield`, so
one caller being cancelled neither cancels the others nor leaves them waiting forever.
`run_first` lets the first step (the cache read, which usually hits) run in the caller's own
task -- a hit then costs no task at all -- while callers arriving meanwhile wait for it; only
what follows a miss becomes the shared task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Retry(Exception):
    """The caller doing a first step was cancelled: whoever waited on it starts over."""


class SingleFlight:
    """`await flight.run(key, fn)`: the first caller starts `fn()`, the rest join it."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(fn())
            self._running[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        result: T = await asyncio.shield(task)
        return result

    async def run_first(self, key: str, first: Callable[[], Awaitable[tuple[bool, Any]]],
                        rest: Callable[[Any], Awaitable[T]]) -> T:
        """`first()` in this task returns (done, value): done, `value` is the result;
        otherwise `rest(value)` runs as the shared task. Callers arriving during either step
        join it instead of starting their own."""
        while (current := self._running.get(key)) is not None:
            try:
                joined: T = await asyncio.shield(current)
                return joined
            except _Retry:
                continue
        waiting: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = waiting
        try:
            done, value = await first()
        except BaseException as exc:
            self._settle(key, waiting, _Retry() if isinstance(exc, asyncio.CancelledError)
                         else exc)
            raise
        if done:
            self._settle(key, waiting, None, value)
            result: T = value
            return result
        task = asyncio.ensure_future(rest(value))
        self._running[key] = task
        task.add_done_callback(lambda finished: self._pass_on(key, waiting, finished))
        shared: T = await asyncio.shield(task)
        return shared

    def _settle(self, key: str, waiting: asyncio.Future[Any], error: BaseException | None,
                value: Any = None) -> None:
        if self._running.get(key) is waiting:
            del self._running[key]
        if error is None:
            waiting.set_result(value)
        else:
            waiting.set_exception(error)
            waiting.exception()   # retrieved: a caller may not be waiting

    def _pass_on(self, key: str, waiting: asyncio.Future[Any],
                 task: asyncio.Task[Any]) -> None:
        """The shared task ended: forget it, and answer those who waited on the first step."""
        self._forget(key, task)
        if task.cancelled():
            waiting.set_exception(_Retry())
            waiting.exception()
        elif task.exception() is not None:
            waiting.set_exception(task.exception() or _Retry())
            waiting.exception()
        else:
            waiting.set_result(task.result())

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: the callers got it through shield

    def __len__(self) -> int:
        return len(self._running)
