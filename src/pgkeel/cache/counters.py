"""`Counters`: atomic counters in Redis, flushed to the database in batches.

    views = Counters(redis, name="views", prefix="pgkeel:", ttl_s=TTL.DAY)
    await views.incr(car_id, org=org)               # one round trip: INCRBY + EXPIRE + mark
    await views.get_many([a, b], org=org)           # {a: 3, b: 0}
    await views.set_many({a: 10}, org=org)
    drained = await views.drain(org=org)            # {a: 13}: read and reset, atomically

A counter page view must never wait for PostgreSQL: it is one Redis round trip. `drain` hands
the accumulated counts to whoever writes them to the database and resets them in the same Lua
script, so an increment lands either in this drain or in the next one -- never in neither,
never in both. Keys are `{prefix}{org}:counter:{name}:{id}` (the organization is a Redis
Cluster hash tag, like the cache's keys), each living `ttl_s` after its last increment; the
organization's set of counters with something to drain lives in the same slot. Without a
Redis client (`redis=None`) the counters live in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pgkeel.cache.keys import CONTEXT_ORG, encode_part
from pgkeel.db.context import current_context
from pgkeel.errors import TenantRequired

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Counters"]

INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return value
"""

DRAIN = """
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
local out = {}
for _, id in ipairs(ids) do
    local value = redis.call('GETDEL', ARGV[2] .. id)
    if value then
        out[#out + 1] = id
        out[#out + 1] = value
    end
end
return out
"""


class Counters:
    """Named counters per organization (see the module docstring)."""

    def __init__(self, redis: Redis | None, *, name: str, prefix: str = "pgkeel:",
                 ttl_s: float = 86_400) -> None:
        self.redis = redis
        self.name = name
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self._local: dict[str, dict[str, int]] = {}
        self._incr = redis.register_script(INCR) if redis is not None else None
        self._drain = redis.register_script(DRAIN) if redis is not None else None

    def _org(self, org: Any) -> str:
        value = current_context().org_id if org is CONTEXT_ORG else org
        if value is None:
            raise TenantRequired(f"counter {self.name!r}: no organization.",
                                 hint="Pass org= or run inside use_context(org_id=...).")
        return encode_part(value)

    def _base(self, org: str) -> str:
        return f"{self.prefix}{{{org}}}:counter:{encode_part(self.name)}:"

    def key(self, id: Any, *, org: Any = CONTEXT_ORG) -> str:
        """The Redis key of one counter."""
        return self._base(self._org(org)) + encode_part(id)

    async def incr(self, id: Any, by: int = 1, *, org: Any = CONTEXT_ORG) -> int:
        """Add `by` and return the new value (one round trip)."""
        tenant = self._org(org)
        if self._incr is None:
            counts = self._local.setdefault(tenant, {})
            counts[encode_part(id)] = counts.get(encode_part(id), 0) + by
            return counts[encode_part(id)]
        base = self._base(tenant)
        value = await self._incr(keys=[base + encode_part(id), base + "~dirty"],
                                 args=[by, self.ttl_ms, encode_part(id)])
        return int(value)

    async def get_many(self, ids: Iterable[Any], *, org: Any = CONTEXT_ORG) -> dict[Any, int]:
        """Current values (0 for a counter never incremented or already drained)."""
        wanted = list(ids)
        tenant = self._org(org)
        if self.redis is None:
            counts = self._local.get(tenant, {})
            return {i: counts.get(encode_part(i), 0) for i in wanted}
        if not wanted:
            return {}
        base = self._base(tenant)
        values = await self.redis.mget([base + encode_part(i) for i in wanted])
        return {i: int(v) if v is not None else 0 for i, v in zip(wanted, values, strict=True)}

    async def set_many(self, values: Mapping[Any, int], *, org: Any = CONTEXT_ORG) -> None:
        """Set counters to these values (they are then drained like increments)."""
        tenant = self._org(org)
        if self.redis is None:
            self._local.setdefault(tenant, {}).update(
                {encode_part(i): v for i, v in values.items()})
            return
        base = self._base(tenant)
        async with self.redis.pipeline(transaction=True) as pipe:
            for id_, value in values.items():
                pipe.set(base + encode_part(id_), value, px=self.ttl_ms)
                pipe.sadd(base + "~dirty", encode_part(id_))
            pipe.pexpire(base + "~dirty", self.ttl_ms)
            await pipe.execute()

    async def drain(self, *, org: Any = CONTEXT_ORG, batch: int = 1000) -> dict[str, int]:
        """Read and reset every counter of the organization that has a count, atomically
        per batch: {encoded id: count}."""
        tenant = self._org(org)
        if self._drain is None:
            return self._local.pop(tenant, {})
        base = self._base(tenant)
        out: dict[str, int] = {}
        while True:
            reply = await self._drain(keys=[base + "~dirty"], args=[batch, base])
            pairs = [v.decode() if isinstance(v, bytes) else str(v) for v in reply]
            for i in range(0, len(pairs), 2):
                out[pairs[i]] = out.get(pairs[i], 0) + int(pairs[i + 1])
            if not pairs:
                return out
