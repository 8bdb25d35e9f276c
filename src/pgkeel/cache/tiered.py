"""Two tiers: an in-process L1 in front of the Redis backend (L2), kept coherent by pub/sub.

Every invalidation script also PUBLISHes the keys and generations it touched (in the same
round trip); each process's listener drops the matching L1 entries. The guarantees:

- A process's own invalidations and writes reach its L1 before the call returns (L1 is
  cleared of them before and again after the L2 round trip, so a read racing the call
  can't leave the old value behind).
- Another process's invalidation reaches this L1 one pub/sub delivery later (typically well
  under a millisecond on a LAN): in that window this L1 can still serve the old value.
- Whatever happens to pub/sub, an L1 entry is never older than `l1_ttl_s`: that is the hard
  staleness bound. L1 is used only while the subscription is confirmed; when it breaks, L1
  is cleared and bypassed until the listener has re-subscribed.
- A value is put in L1 only if no invalidation arrived while it was being read from L2 (the
  "caching-in-progress" check Redis's client-side-caching docs prescribe).

Leases, fills and generations are all L2's: L1 only ever holds values L2 said were valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from pgkeel.cache.backend import LeaseMode, ReadResult, ReadStatus
from pgkeel.cache.keys import StoreKey
from pgkeel.cache.redis_backend import RedisBackend
from pgkeel.redis_client import initialized

__all__ = ["TieredBackend"]

log = logging.getLogger("pgkeel.cache")


@dataclass(slots=True)
class _L1Entry:
    data: bytes
    expires: float
    deps: tuple[tuple[str, int], ...]
    """(generation key, local invalidation count) for the epoch and every tag at fill time."""
    tag_keys: tuple[str, ...]


class TieredBackend:
    """L1 (this process, short TTL, LRU) over an L2 `RedisBackend` that publishes."""

    name = "tiered"

    def __init__(self, l2: RedisBackend, *, channel: str, origin: str, l1_ttl_s: float = 1.0,
                 max_entries: int = 10_000) -> None:
        self.l2 = l2
        self.channel = channel
        self.origin = origin
        self.l1_ttl_s = l1_ttl_s
        self.max_entries = max_entries
        self._l1: OrderedDict[str, _L1Entry] = OrderedDict()
        self._local_gens: dict[str, int] = {}
        self._seq = 0
        self._subscribed = False
        self._listener: asyncio.Task[None] | None = None
        self._closed = False
        self.l1_hits = 0

    @property
    def l1_enabled(self) -> bool:
        """True while the invalidation subscription is confirmed."""
        return self._subscribed

    # -- the protocol ----------------------------------------------------------------------

    async def read(self, key: StoreKey, mode: LeaseMode, token: str,
                   lease_ttl_ms: int) -> ReadResult:
        self._ensure_listener()
        if mode is not LeaseMode.FORCE and self._subscribed:
            entry = self._l1_get(key.value)
            if entry is not None:
                self.l1_hits += 1
                return ReadResult(ReadStatus.HIT, value=entry.data, tag_keys=entry.tag_keys)
        seq = self._seq
        result = await self.l2.read(key, mode, token, lease_ttl_ms)
        if result.is_hit and result.value is not None and seq == self._seq and self._subscribed:
            deps = tuple((k, self._local_gens.get(k, 0)) for k in (key.epoch, *result.tag_keys))
            self._l1[key.value] = _L1Entry(result.value, time.monotonic() + self.l1_ttl_s,
                                           deps, result.tag_keys)
            self._l1.move_to_end(key.value)
            while len(self._l1) > self.max_entries:
                self._l1.popitem(last=False)
        return result

    async def fill(self, key: StoreKey, data: bytes, ttl_ms: int, token: str,
                   gens: Sequence[str]) -> bool:
        # L1 may hold what this fill replaces (an undecodable value, or one XFetch refreshes).
        self._drop_local([key.value], [])
        stored = await self.l2.fill(key, data, ttl_ms, token, gens)
        self._drop_local([key.value], [])
        return stored

    async def release(self, key: StoreKey, token: str) -> None:
        await self.l2.release(key, token)

    async def write(self, key: StoreKey, data: bytes, ttl_ms: int) -> None:
        self._drop_local([key.value], [])
        await self.l2.write(key, data, ttl_ms)  # publishes: other L1s drop their copy
        self._drop_local([key.value], [])  # and a read that raced the write can't linger

    async def invalidate(self, keys: Sequence[StoreKey], gen_keys: Sequence[str]) -> None:
        self._drop_local([k.value for k in keys], gen_keys)
        await self.l2.invalidate(keys, gen_keys)
        self._drop_local([k.value for k in keys], gen_keys)

    async def ping(self) -> None:
        await self.l2.ping()

    async def reset(self) -> None:
        self._clear()
        await self.l2.reset()

    async def add_counters(self, counters: Mapping[str, int], stats_key: str) -> None:
        await self.l2.add_counters(counters, stats_key)

    async def aclose(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self.l2.aclose()

    # -- L1 --------------------------------------------------------------------------------

    def _l1_get(self, name: str) -> _L1Entry | None:
        entry = self._l1.get(name)
        if entry is None:
            return None
        if entry.expires <= time.monotonic() or any(
                self._local_gens.get(k, 0) != n for k, n in entry.deps):
            del self._l1[name]
            return None
        self._l1.move_to_end(name)
        return entry

    def _drop_local(self, value_keys: Sequence[str], gen_keys: Sequence[str]) -> None:
        self._seq += 1
        for name in value_keys:
            self._l1.pop(name, None)
        for gen_key in gen_keys:
            self._local_gens[gen_key] = self._local_gens.get(gen_key, 0) + 1

    def _clear(self) -> None:
        self._seq += 1
        self._l1.clear()

    # -- the listener ----------------------------------------------------------------------

    def _ensure_listener(self) -> None:
        if self._listener is None and not self._closed:
            self._listener = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        backoff = 0.05
        while not self._closed:
            pubsub = self.l2.client.pubsub()
            try:
                await initialized(self.l2.client)  # a cluster client must know its slots
                await pubsub.subscribe(self.channel)
                while not self._closed:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._on_message(message)
                        backoff = 0.05
            except Exception as exc:  # any failure: subscribe again
                # RedisError and OSError mostly; redis-py can also fail with its own internal
                # errors on a connection torn down under it (a cluster failover), and the
                # listener must outlive those too.
                log.debug("cache L1 subscription lost: %r", exc)
            finally:
                self._subscribed = False
                self._clear()
                with contextlib.suppress(Exception):
                    # `aclose` is untyped in some redis-py releases and typed in others.
                    await cast(Any, pubsub).aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # (Re)subscribed: anything published while we were away is unknown, so start
            # from an empty L1.
            self._clear()
            self._subscribed = True
            return
        if kind != "message":
            return
        try:
            body = orjson.loads(message["data"])
            value_keys, gen_keys = list(body["k"]), list(body["g"])
        except Exception:
            self._clear()  # can't tell what it invalidates: assume everything
            return
        self._drop_local(value_keys, gen_keys)
