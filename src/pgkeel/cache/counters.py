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

Redis outages lose no count. A failed increment (an error or a timeout) is kept in this
process instead, and `failure_threshold` consecutive failures open a circuit breaker (the
cache's `CircuitBreaker`): while it is open increments go straight to memory, costing no
round trip. Every `reset_timeout_s` one increment probes: it pushes the counts kept in memory
to Redis first, and only if that works does the breaker close. `get_many` adds the kept
counts to Redis's, `drain` hands them over with Redis's (so a flush job in this process
writes them even while Redis is down), and `flush_pending` (the lifespan's shutdown) pushes
them to Redis. What a process still holds when it dies is lost: `pending` says how much.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pgkeel.cache.breaker import BreakerState, CircuitBreaker
from pgkeel.cache.keys import CONTEXT_ORG, encode_part
from pgkeel.db.context import current_context
from pgkeel.errors import TenantRequired
from pgkeel.redis_client import redis_unavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Counters"]

log = logging.getLogger("pgkeel.cache")

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
                 ttl_s: float = 86_400, failure_threshold: int = 3,
                 reset_timeout_s: float = 2.0) -> None:
        self.redis = redis
        self.name = name
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.breaker = CircuitBreaker(failure_threshold=failure_threshold,
                                      reset_timeout_s=reset_timeout_s)
        self._local: dict[str, dict[str, int]] = {}
        """Counts not (yet) in Redis: all of them without Redis, else those of an outage."""
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

    @property
    def pending(self) -> int:
        """Counts held in this process, not in Redis (0 unless Redis is or was down)."""
        return sum(sum(ids.values()) for ids in self._local.values()) if self.redis else 0

    def _keep(self, tenant: str, id_: str, by: int) -> int:
        counts = self._local.setdefault(tenant, {})
        counts[id_] = counts.get(id_, 0) + by
        return counts[id_]

    async def incr(self, id: Any, by: int = 1, *, org: Any = CONTEXT_ORG) -> int:
        """Add `by` and return the new value (one round trip; while Redis is unavailable,
        none, and the value is this process's share)."""
        tenant, part = self._org(org), encode_part(id)
        if self._incr is None or not await self._redis_usable():
            return self._keep(tenant, part, by)
        base = self._base(tenant)
        try:
            value = await self._incr(keys=[base + part, base + "~dirty"],
                                     args=[by, self.ttl_ms, part])
        except Exception as exc:  # what is not an outage, _failed raises again
            self._failed(exc)
            return self._keep(tenant, part, by)
        self.breaker.record_success()
        return int(value)

    async def _redis_usable(self) -> bool:
        """Closed: yes. Open and due a probe: push the kept counts, closing on success.
        Otherwise (open, or another probe running): no."""
        state = self.breaker.state
        if state is BreakerState.CLOSED:
            if self._local:
                await self.flush_pending()
            return self.breaker.closed
        if state is BreakerState.HALF_OPEN or self.breaker.until_probe() > 0:
            return False
        self.breaker.begin_probe()
        if await self.flush_pending():
            self.breaker.close()
            log.info("counters %s: Redis is back; kept counts pushed", self.name)
            return True
        self.breaker.trip()
        return False

    def _failed(self, exc: Exception) -> None:
        """Count a failed call towards the breaker; an error that is not an outage
        (`redis_unavailable`) is raised again."""
        if not redis_unavailable(exc):
            raise exc
        if self.breaker.closed:
            self.breaker.record_failure()
            if not self.breaker.closed:
                log.warning("counters %s: Redis unavailable (%s); counting in this process",
                            self.name, type(exc).__name__)
        else:
            self.breaker.trip()

    async def flush_pending(self) -> bool:
        """Push the counts kept in this process to Redis; True when none are left."""
        if self._incr is None:
            return True
        for tenant in list(self._local):
            counts = self._local[tenant]
            base = self._base(tenant)
            for part in list(counts):
                by = counts[part]
                try:
                    await self._incr(keys=[base + part, base + "~dirty"],
                                     args=[by, self.ttl_ms, part])
                except Exception as exc:  # what is not an outage, _failed raises again
                    self._failed(exc)
                    return False
                counts[part] -= by   # increments kept meanwhile stay kept
                if counts[part] == 0:
                    del counts[part]
            if not counts:
                self._local.pop(tenant, None)
        return True

    async def get_many(self, ids: Iterable[Any], *, org: Any = CONTEXT_ORG) -> dict[Any, int]:
        """Current values (0 for a counter never incremented or already drained); while
        Redis is unavailable, this process's counts only."""
        wanted = list(ids)
        tenant = self._org(org)
        kept = self._local.get(tenant, {})
        out = {i: kept.get(encode_part(i), 0) for i in wanted}
        if self.redis is None or not wanted or not self.breaker.closed:
            return out
        base = self._base(tenant)
        try:
            values = await self.redis.mget([base + encode_part(i) for i in wanted])
        except Exception as exc:  # what is not an outage, _failed raises again
            self._failed(exc)
            return out
        return {i: out[i] + (int(v) if v is not None else 0)
                for i, v in zip(wanted, values, strict=True)}

    async def set_many(self, values: Mapping[Any, int], *, org: Any = CONTEXT_ORG) -> None:
        """Set counters to these values (they are then drained like increments). Needs
        Redis (it raises while Redis is unavailable)."""
        tenant = self._org(org)
        if self.redis is None:
            self._local.setdefault(tenant, {}).update(
                {encode_part(i): v for i, v in values.items()})
            return
        base = self._base(tenant)
        kept = self._local.get(tenant, {})
        async with self.redis.pipeline(transaction=True) as pipe:
            for id_, value in values.items():
                pipe.set(base + encode_part(id_), value, px=self.ttl_ms)
                pipe.sadd(base + "~dirty", encode_part(id_))
            pipe.pexpire(base + "~dirty", self.ttl_ms)
            await pipe.execute()
        for id_ in values:
            kept.pop(encode_part(id_), None)

    async def drain(self, *, org: Any = CONTEXT_ORG, batch: int = 1000) -> dict[str, int]:
        """Read and reset every counter of the organization that has a count, atomically
        per batch: {encoded id: count}. Counts kept in this process during a Redis outage
        are included (and reset); while Redis is unavailable, only those."""
        tenant = self._org(org)
        out = self._local.pop(tenant, {})
        if self._drain is None or not self.breaker.closed:
            return out
        base = self._base(tenant)
        while True:
            try:
                reply = await self._drain(keys=[base + "~dirty"], args=[batch, base])
            except Exception as exc:  # what is not an outage, _failed raises again
                self._failed(exc)
                return out
            pairs = [v.decode() if isinstance(v, bytes) else str(v) for v in reply]
            for i in range(0, len(pairs), 2):
                out[pairs[i]] = out.get(pairs[i], 0) + int(pairs[i + 1])
            if not pairs:
                return out
