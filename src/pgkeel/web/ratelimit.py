"""Redis rate limits: a sliding-window limiter, failure lockouts with backoff, and a FastAPI
dependency that answers 429 with `Retry-After`.

    limiter = SlidingWindowLimiter(redis, name="login-ip", limit=20, window_s=60)
    @app.post("/login", dependencies=[Depends(rate_limit(limiter))])

Each check is one atomic Lua script (keys declared, so it runs on Redis Cluster and on the
embedded Valkey) that reads Redis's own clock, so application servers with skewed clocks share
one window. Keys are `<prefix>rl:<name>:{<organization>:<digest>}`: the identifier (an IP, an
email) is hashed, never stored, and tenant-aware callers get a per-organization key space.

When Redis cannot be reached (or the client is None, as with `REDIS_URL=memory://`) a limiter
either lets the request through (`OnUnavailable.OPEN`, logged) or refuses it with 503
(`OnUnavailable.CLOSED`). Choose per limiter: failing open keeps logins available during a
Redis outage, failing closed keeps the limit absolute.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pgkeel.errors import RateLimited, RateLimiterUnavailable
from pgkeel.redis_client import redis_unavailable
from pgkeel.web.contract import declares_errors

__all__ = ["Decision", "Lockout", "LockoutResult", "OnUnavailable", "SlidingWindowLimiter",
           "client_ip", "rate_limit"]

log = logging.getLogger("pgkeel.web.ratelimit")

# KEYS[1]: the window (a sorted set of hit ids scored by time in ms).
# ARGV: window_ms, limit, a unique id for this hit. Returns {allowed, count, retry_after_ms}.
# A refused hit is not recorded, so a flood does not push the window forward.
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, n + 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, n, math.max(1, tonumber(oldest[2]) + window - now)}
"""

# KEYS: failures counter, lock, level. ARGV: threshold, window_ms, base_ms, max_ms, level_ms.
# Returns {locked_now, failures, lock_ms, level}: the n-th lockout lasts base * 2^(n-1).
RECORD_FAILURE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n < tonumber(ARGV[1]) then return {0, n, 0, 0} end
redis.call('DEL', KEYS[1])
local level = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
local ms = math.min(tonumber(ARGV[3]) * 2 ^ (level - 1), tonumber(ARGV[4]))
ms = math.floor(ms)
redis.call('SET', KEYS[2], level, 'PX', ms)
return {1, n, ms, level}
"""


class OnUnavailable(StrEnum):
    """What a limiter does when Redis cannot be reached."""

    OPEN = "open"
    """Let the request through (and log a warning)."""
    CLOSED = "closed"
    """Refuse it with `RateLimiterUnavailable` (503)."""


@dataclass(frozen=True)
class Decision:
    """One limiter check: allowed or not, hits in the window, seconds until a slot frees."""

    allowed: bool
    count: int
    limit: int
    retry_after_s: float = 0.0
    degraded: bool = False
    """True when Redis was unreachable and the limiter failed open."""


def _digest(identifier: str) -> str:
    return hashlib.sha256(identifier.encode()).hexdigest()[:32]


def limiter_key(prefix: str, name: str, identifier: str, org: Any = None) -> str:
    """`<prefix>rl:<name>:{<org or ->:<digest>}`; the braces keep one subject's keys in one
    Redis Cluster slot."""
    return f"{prefix}rl:{name}:{{{'-' if org is None else org}:{_digest(identifier)}}}"


class _RedisScripts:
    """Shared plumbing: one client, a timeout, and the open/closed policy."""

    def __init__(self, redis: Redis | None, *, name: str, prefix: str,
                 on_unavailable: OnUnavailable, timeout_s: float) -> None:
        if not name or "{" in name or "}" in name:
            raise ValueError("a limiter name must be non-empty and brace-free")
        self.redis = redis
        self.name = name
        self.prefix = prefix
        self.on_unavailable = OnUnavailable(on_unavailable)
        self.timeout_s = timeout_s

    def key(self, identifier: str, *, org: Any = None, part: str = "w") -> str:
        return limiter_key(self.prefix, self.name, identifier, org) + ":" + part

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """The script's reply, or None when Redis is unavailable and the limiter fails open."""
        try:
            if self.redis is None:
                raise RedisError("no Redis client (REDIS_URL=memory://)")
            return await asyncio.wait_for(
                self.redis.eval(script, len(keys), *keys, *args),
                self.timeout_s)
        except Exception as exc:
            if not redis_unavailable(exc):
                raise
            if self.on_unavailable is OnUnavailable.CLOSED:
                raise RateLimiterUnavailable(
                    "The rate limiter is unavailable; try again shortly.",
                    details={"limiter": self.name}) from exc
            log.warning("rate limiter %s: Redis unavailable (%s); failing open", self.name,
                        type(exc).__name__)
            return None


class SlidingWindowLimiter(_RedisScripts):
    """At most `limit` hits per `window_s` seconds per identifier (a sliding log)."""

    def __init__(self, redis: Redis | None, *, name: str, limit: int, window_s: float,
                 prefix: str = "pgkeel:", on_unavailable: OnUnavailable = OnUnavailable.OPEN,
                 timeout_s: float = 0.25) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        super().__init__(redis, name=name, prefix=prefix, on_unavailable=on_unavailable,
                         timeout_s=timeout_s)
        self.limit = limit
        self.window_ms = int(window_s * 1000)

    async def hit(self, identifier: str, *, org: Any = None) -> Decision:
        """Count one hit; `allowed` is False once the window is full."""
        reply = await self._run(SLIDING_WINDOW, [self.key(identifier, org=org)],
                                [self.window_ms, self.limit, uuid.uuid4().hex])
        if reply is None:
            return Decision(True, 0, self.limit, degraded=True)
        allowed, count, retry_ms = (int(v) for v in reply)
        return Decision(bool(allowed), count, self.limit, retry_ms / 1000)

    async def check(self, identifier: str, *, org: Any = None) -> Decision:
        """`hit`, raising `RateLimited` (429 with Retry-After) when refused."""
        decision = await self.hit(identifier, org=org)
        if not decision.allowed:
            raise RateLimited("Too many requests; slow down.",
                              retry_after_s=decision.retry_after_s,
                              details={"limiter": self.name, "limit": self.limit,
                                       "windowSeconds": self.window_ms / 1000})
        return decision

    async def reset(self, identifier: str, *, org: Any = None) -> None:
        if self.redis is not None:
            await self.redis.delete(self.key(identifier, org=org))


@dataclass(frozen=True)
class LockoutResult:
    """After a failure: whether it locked the subject out now, and for how long."""

    locked: bool
    failures: int
    lock_s: float = 0.0
    level: int = 0


class Lockout(_RedisScripts):
    """`threshold` failures within `window_s` lock a subject out for `base_s`, doubling with
    each further lockout (up to `max_s`); lockout levels are forgotten after `reset_s`."""

    def __init__(self, redis: Redis | None, *, name: str, threshold: int = 5,
                 window_s: float = 900, base_s: float = 30, max_s: float = 3600,
                 reset_s: float = 86_400, prefix: str = "pgkeel:",
                 on_unavailable: OnUnavailable = OnUnavailable.OPEN,
                 timeout_s: float = 0.25) -> None:
        super().__init__(redis, name=name, prefix=prefix, on_unavailable=on_unavailable,
                         timeout_s=timeout_s)
        self.threshold = threshold
        self.args = [threshold, int(window_s * 1000), int(base_s * 1000), int(max_s * 1000),
                     int(reset_s * 1000)]

    def _keys(self, identifier: str, org: Any) -> list[str]:
        return [self.key(identifier, org=org, part=p) for p in ("fails", "lock", "level")]

    async def check(self, identifier: str, *, org: Any = None) -> None:
        """Raise `RateLimited` while the subject is locked out."""
        reply = await self._run("return redis.call('PTTL', KEYS[1])",
                                [self.key(identifier, org=org, part="lock")], [])
        if reply is None:
            return
        remaining_ms = int(reply)
        if remaining_ms > 0:
            raise RateLimited("Too many failed attempts; try again later.",
                              retry_after_s=remaining_ms / 1000,
                              details={"limiter": self.name})

    async def failure(self, identifier: str, *, org: Any = None) -> LockoutResult:
        """Count a failure; the result says whether it started a lockout."""
        reply = await self._run(RECORD_FAILURE, self._keys(identifier, org), self.args)
        if reply is None:
            return LockoutResult(False, 0)
        locked, failures, ms, level = (int(v) for v in reply)
        return LockoutResult(bool(locked), failures, ms / 1000, level)

    async def success(self, identifier: str, *, org: Any = None) -> None:
        """Forget the subject's failures and lockout level (after a successful login)."""
        await self._run("return redis.call('DEL', KEYS[1], KEYS[3])",
                        self._keys(identifier, org), [])


def client_ip(request: Request) -> str:
    """The peer address (put the service behind a proxy that sets it, e.g. uvicorn's
    `--proxy-headers` with `--forwarded-allow-ips`)."""
    return request.client.host if request.client else "unknown"


def rate_limit(limiter: SlidingWindowLimiter | Callable[[Request], SlidingWindowLimiter],
               key: Callable[[Request], str] = client_ip) -> Callable[[Request], Any]:
    """A FastAPI dependency: one hit per request under `key(request)`; 429 when refused.
    `limiter` may be a callable that finds it on the request (e.g. on `app.state`). Routes
    using it document 429 (and 503, for a limiter that fails closed) in OpenAPI."""

    @declares_errors(429, 503)
    async def dependency(request: Request) -> Decision:
        found = limiter(request) if callable(limiter) and not isinstance(
            limiter, SlidingWindowLimiter) else limiter
        assert isinstance(found, SlidingWindowLimiter)
        return await found.check(key(request))

    dependency.__name__ = "rate_limit"
    return dependency
