"""The small protocol every cache backend implements, and the types it speaks.

A backend stores envelopes (bytes) under `StoreKey`s and implements five atomic operations:
`read` (with a lease on a miss), `fill` (only with a live lease and unchanged generations),
`write` (unconditional, cancels leases), `invalidate` (mark keys dead, cancel their leases,
bump generations) and `release`. Redis does each in one Lua script (one round trip);
the in-process backend does the same in plain Python under the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from pgkeel.cache.keys import StoreKey

__all__ = ["CacheBackend", "LeaseMode", "ReadResult", "ReadStatus"]


class LeaseMode(IntEnum):
    """What `read` should do about the lease."""

    NONE = 0
    """Plain read: never take a lease."""
    ON_MISS = 1
    """Take the lease when the value is missing or invalid (look-aside fill)."""
    FORCE = 2
    """Take the lease even on a valid hit (early refresh / replacing an undecodable value)."""
    STEAL = 3
    """On a miss, take the lease over from its holder (after a bounded wait: the holder may
    have died). Safe: the old holder's fill is then rejected, and the new holder reads the
    database only after taking the lease."""


class ReadStatus(IntEnum):
    """The outcome of `read`; values match the Lua scripts' replies."""

    MISS = 0
    """No valid value, and no lease was asked for."""
    HIT = 1
    """A valid value (`value`)."""
    LEASED = 2
    """No valid value; this caller holds the lease and may fill."""
    WAIT = 3
    """No valid value; another caller holds the lease."""
    HIT_LEASED = 4
    """A valid value, and (FORCE) this caller holds the lease to refresh it."""


@dataclass(slots=True)
class ReadResult:
    status: ReadStatus
    value: bytes | None = None
    """The valid value (HIT, HIT_LEASED)."""
    stale: bytes | None = None
    """An invalidated or outdated value still present (misses only); served if allowed."""
    gens: tuple[str, ...] = ()
    """When leased: the org epoch and the requested tags' generations at lease time; a fill
    is accepted only if they are unchanged."""
    tag_keys: tuple[str, ...] = field(default=())
    """On a hit: the generation keys the stored value depends on."""

    @property
    def is_hit(self) -> bool:
        return self.status in (ReadStatus.HIT, ReadStatus.HIT_LEASED)

    @property
    def leased(self) -> bool:
        return self.status in (ReadStatus.LEASED, ReadStatus.HIT_LEASED)


class CacheBackend(Protocol):
    """Storage for envelopes with leases and generations. Errors propagate (the `Cache`
    counts them and opens its circuit breaker); a backend never swallows them."""

    name: str

    async def read(self, key: StoreKey, mode: LeaseMode, token: str,
                   lease_ttl_ms: int) -> ReadResult:
        """The value if valid (its epoch and every tag generation it recorded are current and
        it was not invalidated); otherwise the stale value, and a lease as `mode` asks."""
        ...

    async def fill(self, key: StoreKey, data: bytes, ttl_ms: int, token: str,
                   gens: Sequence[str]) -> bool:
        """Store `data` only if `token` still holds the lease and `gens` are still current;
        False means the fill was rejected (an invalidation happened since the lease)."""
        ...

    async def release(self, key: StoreKey, token: str) -> None:
        """Give the lease back without filling (the loader failed)."""
        ...

    async def write(self, key: StoreKey, data: bytes, ttl_ms: int) -> None:
        """Store unconditionally under the current generations; cancels any lease."""
        ...

    async def invalidate(self, keys: Sequence[StoreKey], gen_keys: Sequence[str]) -> None:
        """Mark `keys` invalid and cancel their leases; bump every generation in `gen_keys`
        (tag generations or org epochs) to a value it never had before. One round trip."""
        ...

    async def ping(self) -> None:
        """Raise if the backend is unreachable."""
        ...

    async def reset(self) -> None:
        """Drop pooled connections (before a recovery probe: they may have died with the
        server, and each would otherwise fail one request on its way out)."""
        ...

    async def add_counters(self, counters: Mapping[str, int], stats_key: str) -> None:
        """Add to the service-wide counters (one round trip)."""
        ...

    async def aclose(self) -> None:
        """Release connections and background tasks."""
        ...
