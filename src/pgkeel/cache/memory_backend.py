"""The in-process backend: the Redis backend's semantics in plain Python.

TTLs, leases, generations, dead marks and stale values behave exactly as in the Lua scripts
(each method runs without an `await`, so it is atomic under the event loop). It is what
`REDIS_URL=memory://` gives you, and an honest stand-in in tests. Per process only: two
processes never see each other's values or invalidations. Bounded by `max_entries` (LRU).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pgkeel.cache.backend import LeaseMode, ReadResult, ReadStatus
from pgkeel.cache.keys import StoreKey

__all__ = ["MemoryBackend"]


@dataclass(slots=True)
class _Entry:
    data: bytes
    epoch: str
    gens: dict[str, str]
    expires: float
    dead: bool = False


class MemoryBackend:
    """Values, leases and generations in dicts of this process."""

    name = "memory"

    def __init__(self, *, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._leases: dict[str, tuple[str, float]] = {}
        self._gens: dict[str, str] = {}
        self._counters: dict[str, dict[str, int]] = {}
        self._max_entries = max_entries
        self._clock = clock

    # -- the five operations -----------------------------------------------------------------

    async def read(self, key: StoreKey, mode: LeaseMode, token: str,
                   lease_ttl_ms: int) -> ReadResult:
        entry = self._entry(key.value)
        valid = entry is not None and self._valid(entry, key.epoch)
        if valid and mode is not LeaseMode.FORCE:
            assert entry is not None
            return ReadResult(ReadStatus.HIT, value=entry.data, tag_keys=tuple(entry.gens))
        gens = (self._gen(key.epoch), *(self._gen(k) for k in key.tags))
        status = ReadStatus.HIT if valid else ReadStatus.MISS
        if mode is LeaseMode.STEAL:
            self._leases[key.lease] = (token, self._clock() + lease_ttl_ms / 1000)
            status = ReadStatus.LEASED
        elif mode >= LeaseMode.ON_MISS:
            if self._lease(key.lease) is None:
                self._leases[key.lease] = (token, self._clock() + lease_ttl_ms / 1000)
                status = ReadStatus.HIT_LEASED if valid else ReadStatus.LEASED
            elif not valid:
                status = ReadStatus.WAIT
        data = entry.data if entry is not None else None
        if valid:
            return ReadResult(status, value=data, gens=gens,
                              tag_keys=tuple(entry.gens) if entry else ())
        return ReadResult(status, stale=data, gens=gens)

    async def fill(self, key: StoreKey, data: bytes, ttl_ms: int, token: str,
                   gens: Sequence[str]) -> bool:
        if self._lease(key.lease) != token:
            return False
        del self._leases[key.lease]
        current = (self._gen(key.epoch), *(self._gen(k) for k in key.tags))
        if tuple(gens) != current:
            return False
        self._store(key, data, ttl_ms, dict(zip(key.tags, gens[1:], strict=True)), gens[0])
        return True

    async def release(self, key: StoreKey, token: str) -> None:
        if self._lease(key.lease) == token:
            del self._leases[key.lease]

    async def write(self, key: StoreKey, data: bytes, ttl_ms: int) -> None:
        self._leases.pop(key.lease, None)
        self._store(key, data, ttl_ms, {k: self._gen(k) for k in key.tags},
                    self._gen(key.epoch))

    async def invalidate(self, keys: Sequence[StoreKey], gen_keys: Sequence[str]) -> None:
        for item in keys:
            entry = self._entry(item.value)
            if entry is not None:
                entry.dead = True
            self._leases.pop(item.lease, None)
        now_us = time.time_ns() // 1000
        for gen_key in gen_keys:
            old = int(self._gens.get(gen_key, "0"))
            self._gens[gen_key] = str(max(now_us, old + 1))

    # -- the rest of the protocol ------------------------------------------------------------

    async def ping(self) -> None:
        return None

    async def reset(self) -> None:
        return None

    async def add_counters(self, counters: Mapping[str, int], stats_key: str) -> None:
        totals = self._counters.setdefault(stats_key, {})
        for field, amount in counters.items():
            totals[field] = totals.get(field, 0) + amount

    def counters(self, stats_key: str) -> dict[str, int]:
        """The counters `add_counters` accumulated (this process only)."""
        return dict(self._counters.get(stats_key, {}))

    async def aclose(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._entries)

    # -- internals ---------------------------------------------------------------------------

    def _entry(self, name: str) -> _Entry | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[name]
            return None
        self._entries.move_to_end(name)
        return entry

    def _lease(self, name: str) -> str | None:
        lease = self._leases.get(name)
        if lease is None:
            return None
        if lease[1] <= self._clock():
            del self._leases[name]
            return None
        return lease[0]

    def _gen(self, name: str) -> str:
        return self._gens.get(name, "0")

    def _valid(self, entry: _Entry, epoch_key: str) -> bool:
        if entry.dead or entry.epoch != self._gen(epoch_key):
            return False
        return all(self._gen(k) == gen for k, gen in entry.gens.items())

    def _store(self, key: StoreKey, data: bytes, ttl_ms: int, gens: dict[str, str],
               epoch: str) -> None:
        self._entries[key.value] = _Entry(data=data, epoch=epoch, gens=gens,
                                          expires=self._clock() + ttl_ms / 1000)
        self._entries.move_to_end(key.value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
