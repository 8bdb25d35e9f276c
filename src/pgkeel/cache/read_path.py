"""The read path of `get_or_set`: read with a lease, load, fill -- and its variations.

- hit: decode and return; XFetch may decide to refresh early, under a forced lease.
- miss with the lease: load, then fill; the fill is rejected if an invalidation came since.
- miss while another process holds the lease: serve stale (if allowed), else poll for its
  fill, and after `lease_wait_s` take the lease over (the holder may be dead).
- undecodable value: a miss, replaced under a forced lease.
- backend unavailable: just the loader (the caller's single-flight still applies).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pgkeel.cache.backend import CacheBackend, LeaseMode, ReadResult, ReadStatus
from pgkeel.cache.envelope import Codec, Decoded, UndecodableValue, decode, encode
from pgkeel.cache.guard import BackendGuard, Unavailable
from pgkeel.cache.keys import StoreKey
from pgkeel.cache.metrics import Recorder
from pgkeel.cache.options import CacheOptions
from pgkeel.cache.ttl import jittered
from pgkeel.db.context import primary_reads

__all__ = ["FillPlan", "ReadPath", "to_ms"]

log = logging.getLogger("pgkeel.cache")

T = TypeVar("T")
Loader = Callable[[], Awaitable[T]]

_rng = random.Random()  # noqa: S311 -- XFetch coin flips, not cryptography


@dataclass(frozen=True, slots=True)
class FillPlan:
    """How one `get_or_set` stores what it loads."""

    ttl: float | None
    negative_ttl: float | None
    stale_ok: bool
    codec: Codec


def to_ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class ReadPath:
    """`fetch` is `get_or_set` minus single-flight (the cache wraps it in that)."""

    def __init__(self, backend: CacheBackend, guard: BackendGuard, options: CacheOptions,
                 recorder: Recorder) -> None:
        self.backend = backend
        self.guard = guard
        self.options = options
        self.recorder = recorder
        self._mode = LeaseMode.ON_MISS if options.leases else LeaseMode.NONE
        self._lease_ttl_ms = to_ms(options.lease_ttl_s)

    async def fetch(self, key: StoreKey, loader: Loader[T], plan: FillPlan,
                    token: str) -> T:
        done, outcome = await self.start(key, plan, token)
        if done:
            value: T = outcome
            return value
        return await self.finish(key, loader, plan, token, outcome)

    async def start(self, key: StoreKey, plan: FillPlan, token: str) -> tuple[bool, Any]:
        """The read: (True, value) for a plain hit, else (False, what `finish` needs: the
        read's result, or None when the backend is unavailable)."""
        backend, mode, ttl_ms = self.backend, self._mode, self._lease_ttl_ms
        try:  # `_read`, inlined: one coroutine fewer on every hit
            result = await self.guard.call(lambda: backend.read(key, mode, token, ttl_ms))
        except Unavailable:
            return False, None
        if result.is_hit and result.value:
            try:
                decoded = decode(result.value, plan.codec)
            except UndecodableValue:
                return False, result
            if not self._refresh_due(decoded):
                self._count(key, "hits")
                return True, decoded.value
        return False, result

    async def finish(self, key: StoreKey, loader: Loader[T], plan: FillPlan, token: str,
                     result: ReadResult | None) -> T:
        """Everything after a read that was not a plain hit."""
        if result is None:
            return await self._load(key, loader)
        if result.is_hit:
            decoded = self.decode(key, result.value or b"", plan.codec)
            if decoded is None:  # undecodable: replace it, under a lease
                self._count(key, "misses")
                return await self._refresh(key, loader, plan, token, current=None)
            self._count(key, "hits")
            if self._refresh_due(decoded):
                self._count(key, "early_refreshes")
                return await self._refresh(key, loader, plan, token, current=decoded)
            value: T = decoded.value
            return value
        self._count(key, "misses")
        if result.status is ReadStatus.WAIT:
            return await self._wait_for_fill(key, loader, plan, token, result)
        return await self._load_and_fill(key, loader, plan, token, result)

    def decode(self, key: StoreKey, data: bytes, codec: Codec) -> Decoded | None:
        """The envelope's content, or None (counted as an error) when it can't be read."""
        try:
            return decode(data, codec)
        except UndecodableValue:
            self._count(key, "errors")
            return None

    # -- the branches ------------------------------------------------------------------------

    async def _read(self, key: StoreKey, mode: LeaseMode, token: str) -> ReadResult:
        ttl_ms = self._lease_ttl_ms
        return await self.guard.call(lambda: self.backend.read(key, mode, token, ttl_ms))

    async def _load_and_fill(self, key: StoreKey, loader: Loader[T], plan: FillPlan,
                             token: str, result: ReadResult) -> T:
        leased = result.leased
        started = time.perf_counter()
        try:
            value = await self._load(key, loader)
        except BaseException:
            if leased:  # give the lease back so waiters don't wait for nothing
                await self.guard.quietly(lambda: self.backend.release(key, token))
            raise
        data = self._encode(key, value, plan, time.perf_counter() - started)
        if data is None:
            if leased:
                await self.guard.quietly(lambda: self.backend.release(key, token))
            return value
        envelope, ttl_ms = data
        try:
            if leased:
                stored = await self.guard.call(lambda: self.backend.fill(
                    key, envelope, ttl_ms, token, result.gens))
            else:  # leases disabled: the classic (racy) look-aside set
                await self.guard.call(lambda: self.backend.write(key, envelope, ttl_ms))
                stored = True
        except Unavailable:
            return value
        self._count(key, "sets" if stored else "fills_rejected")
        return value

    async def _wait_for_fill(self, key: StoreKey, loader: Loader[T], plan: FillPlan,
                             token: str, result: ReadResult) -> T:
        """Another process holds the lease: serve stale if allowed, else poll for its fill,
        and after `lease_wait_s` take the lease over and load (the holder may be dead)."""
        if plan.stale_ok and result.stale is not None:
            stale = self.decode(key, result.stale, plan.codec)
            if stale is not None:
                self._count(key, "stale_served")
                value: T = stale.value
                return value
        self._count(key, "lease_waits")
        deadline = time.monotonic() + self.options.lease_wait_s
        delay = 0.002
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)
            try:
                again = await self._read(key, LeaseMode.ON_MISS, token)
            except Unavailable:
                break
            if again.is_hit:
                decoded = self.decode(key, again.value or b"", plan.codec)
                if decoded is not None:
                    found: T = decoded.value
                    return found
                break
            if again.status is ReadStatus.LEASED:  # the holder gave up or was cancelled
                return await self._load_and_fill(key, loader, plan, token, again)
        return await self._take_over(key, loader, plan, token)

    async def _take_over(self, key: StoreKey, loader: Loader[T], plan: FillPlan,
                         token: str) -> T:
        """The lease holder is slow or dead: take its lease (its fill will be rejected)."""
        try:
            result = await self._read(key, LeaseMode.STEAL, token)
        except Unavailable:
            return await self._load(key, loader)
        if result.is_hit:
            decoded = self.decode(key, result.value or b"", plan.codec)
            if decoded is not None:
                value: T = decoded.value
                return value
            return await self._refresh(key, loader, plan, token, current=None)
        return await self._load_and_fill(key, loader, plan, token, result)

    async def _refresh(self, key: StoreKey, loader: Loader[T], plan: FillPlan, token: str,
                       current: Decoded | None) -> T:
        """Reload a present value under a forced lease (XFetch, or an undecodable value)."""
        try:
            result = await self._read(key, LeaseMode.FORCE, token)
        except Unavailable:
            result = ReadResult(ReadStatus.MISS)
        if result.leased:
            return await self._load_and_fill(key, loader, plan, token, result)
        if current is not None:  # someone else is refreshing it; ours is still valid
            value: T = current.value
            return value
        return await self._load(key, loader)

    def _refresh_due(self, decoded: Decoded) -> bool:
        """XFetch: refresh early with a probability that rises as expiry nears."""
        beta = self.options.xfetch_beta
        if beta <= 0 or decoded.delta <= 0:
            return False
        gap = -decoded.delta * beta * math.log(1.0 - _rng.random())
        return time.time() + gap >= decoded.expiry

    # -- helpers ---------------------------------------------------------------------------

    async def _load(self, key: StoreKey, loader: Loader[T]) -> T:
        """Run the loader with every read on the primary: a replica may lag behind the
        invalidation this fill follows, and what it returned would be cached for the TTL."""
        self._count(key, "loads")
        with primary_reads():
            return await loader()

    def _encode(self, key: StoreKey, value: Any, plan: FillPlan,
                delta: float) -> tuple[bytes, int] | None:
        negative = value is None
        base = ((plan.negative_ttl or self.options.negative_ttl_s) if negative
                else (plan.ttl or self.options.default_ttl_s))
        ttl_s = jittered(base, self.options.jitter)
        try:
            envelope = encode(value, plan.codec, ttl_s=ttl_s, delta_s=delta,
                              negative=negative)
        except Exception:
            log.warning("cannot encode a %r value for the cache; not cached", key.resource,
                        exc_info=True)
            self._count(key, "errors")
            return None
        return envelope, to_ms(ttl_s)

    def _count(self, key: StoreKey, event: str) -> None:
        self.recorder.add(key.resource, event)
