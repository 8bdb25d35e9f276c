"""Every backend call goes through here: a time limit, the circuit breaker, and invalidations
that can't be delivered kept until recovery.

A failed call raises `Unavailable`, which the cache turns into "use the loader" (reads) or
"remember it" (invalidations) -- never into an error for the caller. One undelivered
invalidation opens the breaker at once: nothing is read from Redis again until recovery has
delivered it, so the value it was about can't be served. Recovery runs in the background,
with or without traffic (other processes may be reading those values): drop the pooled
connections, ping, deliver every pending invalidation, and only then close the breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pgkeel.cache.backend import CacheBackend
from pgkeel.cache.breaker import BreakerState, CircuitBreaker
from pgkeel.cache.deadline import Deadlines
from pgkeel.cache.keys import StoreKey
from pgkeel.cache.metrics import BREAKER_OPENS_FIELD, BREAKER_STATE, PENDING, Recorder
from pgkeel.cache.options import CacheOptions
from pgkeel.cache.pending import PendingInvalidations
from pgkeel.redis_client import redis_unavailable

__all__ = ["BackendGuard", "Unavailable"]

log = logging.getLogger("pgkeel.cache")

R = TypeVar("R")

_TAG_RESOURCE = "_tag"
_RECOVERY_CHUNK = 1_000


class Unavailable(Exception):
    """The backend could not be used for this call (breaker open, error or timeout)."""


class BackendGuard:
    """The breaker, the pending invalidations and the background work of one cache."""

    def __init__(self, backend: CacheBackend, options: CacheOptions,
                 recorder: Recorder, stats_key: str) -> None:
        self.backend = backend
        self.options = options
        self.recorder = recorder
        self.stats_key = stats_key
        self.breaker = CircuitBreaker(failure_threshold=options.breaker_failures,
                                      reset_timeout_s=options.breaker_reset_s,
                                      on_change=self._breaker_changed)
        self.pending = PendingInvalidations(options.max_pending)
        self._deadlines = Deadlines(options.op_timeout_s)
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next_flush = time.monotonic() + options.stats_flush_s
        self.closed = False
        BREAKER_STATE.labels(options.name).set(0)
        PENDING.labels(options.name).set(0)

    # -- calls -----------------------------------------------------------------------------

    async def call(self, operation: Callable[[], Awaitable[R]]) -> R:
        """Run one backend call under the breaker and the per-call time limit."""
        if not self.breaker.closed:
            self._ensure_recovery()
            raise Unavailable
        try:
            result = await self._deadlines.run(operation)
        except Exception as exc:
            if not redis_unavailable(exc):
                raise
            self.recorder.add("_backend", "errors")
            self.breaker.record_failure()
            log.debug("cache call failed: %r", exc)
            raise Unavailable from exc
        self.breaker.record_success()
        self._maybe_flush()
        return result

    async def quietly(self, operation: Callable[[], Awaitable[Any]]) -> None:
        """A best-effort call (releasing a lease): failure changes nothing."""
        with contextlib.suppress(Unavailable):
            await self.call(operation)

    # -- invalidations ---------------------------------------------------------------------

    async def invalidate(self, store_keys: list[StoreKey], gen_keys: list[str]) -> None:
        """Deliver now, or keep for recovery. Never raises."""
        if not store_keys and not gen_keys:
            return
        for store_key in store_keys:
            self.recorder.add(store_key.resource, "invalidations")
        if gen_keys:
            self.recorder.add(_TAG_RESOURCE, "invalidations", len(gen_keys))
        try:
            await self.call(lambda: self.backend.invalidate(store_keys, gen_keys))
        except Unavailable:
            self.defer(store_keys, gen_keys)

    def defer(self, store_keys: list[StoreKey], gen_keys: list[str]) -> None:
        """Keep undeliverable invalidations and stop reading Redis until they are delivered."""
        self.pending.add(store_keys, gen_keys)
        PENDING.labels(self.options.name).set(len(self.pending))
        if self.breaker.closed:
            log.warning("cache invalidation could not be delivered; Redis reads are "
                        "suspended until it is (%d pending)", len(self.pending))
        self.breaker.trip()

    async def deliver_pending(self) -> None:
        """Apply every pending invalidation, in chunks; what fails stays pending."""
        while self.pending:
            batch = self.pending.take()
            keys, gens = list(batch.keys.values()), sorted(batch.gen_keys)
            while keys or gens:
                chunk_keys, chunk_gens = keys[:_RECOVERY_CHUNK], gens[:_RECOVERY_CHUNK]
                try:
                    async with asyncio.timeout(max(self.options.op_timeout_s, 1.0)):
                        await self.backend.invalidate(chunk_keys, chunk_gens)
                except BaseException as exc:  # undelivered: kept, even when cancelled
                    self.pending.add(keys, gens)
                    PENDING.labels(self.options.name).set(len(self.pending))
                    if isinstance(exc, Exception) and redis_unavailable(exc):
                        return
                    raise
                keys, gens = keys[_RECOVERY_CHUNK:], gens[_RECOVERY_CHUNK:]
        PENDING.labels(self.options.name).set(0)

    # -- recovery --------------------------------------------------------------------------

    def _ensure_recovery(self) -> None:
        if self._recovery is None and not self.closed:
            self._recovery = asyncio.ensure_future(self._recovery_loop())
            self._recovery.add_done_callback(self._recovery_done)

    async def _recovery_loop(self) -> None:
        while not self.closed and not self.breaker.closed:
            await asyncio.sleep(self.breaker.until_probe())
            await self._probe()

    async def _probe(self) -> None:
        """Half-open: reconnect, ping, deliver every pending invalidation, then close."""
        self.breaker.begin_probe()
        try:
            async with asyncio.timeout(self.options.op_timeout_s):
                await self.backend.reset()
                await self.backend.ping()
            await self.deliver_pending()
            if not self.pending:
                self.breaker.close()
                log.info("cache: Redis is back; breaker closed")
                return
        except Exception as exc:
            if not redis_unavailable(exc):
                raise
        self.breaker.trip()

    def _recovery_done(self, task: asyncio.Task[None]) -> None:
        self._recovery = None
        if not task.cancelled() and task.exception() is not None:
            log.error("cache recovery failed", exc_info=task.exception())
            self.breaker.trip()

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        BREAKER_STATE.labels(self.options.name).set(int(new))
        if old is BreakerState.CLOSED and new is BreakerState.OPEN:
            self.recorder.add_field(BREAKER_OPENS_FIELD)
            log.warning("cache: circuit breaker open; reading through to the loader")
            self._ensure_recovery()

    # -- service-wide counters and shutdown ----------------------------------------------------

    async def flush_stats(self) -> None:
        """Add this process's counters to the totals in Redis (kept for later on failure)."""
        deltas = self.recorder.take_unflushed()
        if not deltas:
            return
        try:
            await self.call(lambda: self.backend.add_counters(deltas, self.stats_key))
        except Unavailable:
            self.recorder.restore_unflushed(deltas)

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if now < self._next_flush or self.closed:
            return
        self._next_flush = now + self.options.stats_flush_s
        task = asyncio.ensure_future(self.flush_stats())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop background work, try once more to deliver pending invalidations, flush."""
        if self.closed:
            return
        self.closed = True
        for task in [*self._tasks, *([self._recovery] if self._recovery else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.pending:
            self.breaker.begin_probe()
            await self.deliver_pending()
            if self.pending:
                log.error("cache closed with %d undelivered invalidations; those entries "
                          "may be served until their TTL ends", len(self.pending))
            else:
                self.breaker.close()
        if self.breaker.closed:
            await self.flush_stats()
