"""Connecting to Redis (or Valkey) from `REDIS_URL`; `memory://` means no server at all.

A Redis Cluster is named by `redis+cluster://host:port` (`rediss+cluster://` for TLS), or by a
list of seeds, `redis://host1:port1,host2:port2,...`: any node will do, the client discovers
the rest and follows slot moves and failovers.

`connect_redis` is the one way pgkeel opens a client; each use says what it needs. The
service's client (`open_services`) retries a dropped connection once; the cache's has shorter
timeouts and no retries (its circuit breaker decides what to do about failures, not a retry
loop inside a request); `pgkeel cache stats` waits longer for a slow server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError

from pgkeel.errors import UsageError

__all__ = ["ClusterSeeds", "cluster_seeds", "connect_redis", "initialized", "is_memory_url",
           "ping_redis", "redis_unavailable"]

_UNAVAILABLE = (RedisError, OSError, TimeoutError)
"""What a call that could not reach Redis raises, mostly (`redis_unavailable` says exactly)."""


def redis_unavailable(exc: BaseException) -> bool:
    """Whether a Redis call failed for want of Redis: one of `_UNAVAILABLE`, or an error raised
    inside the Redis client itself. redis-py can fail with its own internal errors (before 8.2,
    an AttributeError on a connection another task tore down during the command's health
    check, as a cluster failover does); those are an outage like any other, not a bug to pass
    on."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    module = frame.tb_frame.f_globals.get("__name__", "") if frame is not None else ""
    return isinstance(module, str) and module.startswith("redis.")

_CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
"""Cluster URL scheme -> TLS."""


@dataclass(frozen=True)
class ClusterSeeds:
    """What a cluster URL says: the seed nodes, credentials and TLS."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False


def is_memory_url(url: str) -> bool:
    """True for `memory://`: an in-process stand-in, no Redis server."""
    return url.startswith("memory://")


class _Cluster(RedisCluster):
    """A RedisCluster that learns the cluster's layout before its first command: redis-py
    resolves a command's route before initializing, and a burst of first commands on a new
    client fails (ConnectionError) on the routes it has not learnt yet."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


def cluster_seeds(url: str) -> ClusterSeeds | None:
    """The seeds of a Redis Cluster URL (see the module docstring); None for a single server."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, _, hosts = netloc.rpartition("@")
    listed = [h for h in hosts.split(",") if h]
    if scheme not in _CLUSTER_SCHEMES and len(listed) < 2:
        return None
    if scheme not in (*_CLUSTER_SCHEMES, "redis", "rediss") or not listed:
        raise UsageError(f"Not a Redis Cluster URL: {scheme}://...",
                         hint="Use redis+cluster://host:port or redis://host1:port1,host2:port2.")
    database = rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else ""
    if database not in ("", "0"):
        raise UsageError("A Redis Cluster has only database 0.",
                         hint="Drop the /<db> from REDIS_URL.")
    nodes = []
    for host in listed:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "6379")
        if not port.isdigit():
            raise UsageError(f"Bad port in the Redis Cluster seed {host!r}.",
                             hint="List seeds as host:port,host:port.")
        nodes.append((name, int(port)))
    username, _, password = userinfo.partition(":")
    return ClusterSeeds(tuple(nodes), unquote(username) or None, unquote(password) or None,
                        ssl=_CLUSTER_SCHEMES.get(scheme, scheme == "rediss"))


def connect_redis(url: str, *, timeout_s: float = 0.5, retries: int = 0,
                  max_connections: int = 100, **connection_kwargs: Any) -> Redis:
    """An asyncio client with socket timeouts of `timeout_s` (a slow Redis must not stall
    requests) that retries a failed command `retries` times (with jittered backoff).

    Its pool blocks when all `max_connections` are busy instead of failing at once; the
    caller's own time limit bounds that wait like any other part of the call. The client owns
    the pool: `aclose()` closes both."""
    if is_memory_url(url):
        raise UsageError("memory:// has no Redis server to connect to.",
                         hint="Check is_memory_url(url) first, or set REDIS_URL=redis://...")
    backoff = ExponentialWithJitterBackoff(base=0.01, cap=0.1) if retries else NoBackoff()
    seeds = cluster_seeds(url)
    if seeds is not None:
        cluster = _Cluster(
            startup_nodes=[ClusterNode(host, port) for host, port in seeds.nodes],
            username=seeds.username, password=seeds.password, ssl=seeds.ssl,
            max_connections=max_connections, socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s, retry=Retry(backoff, retries),
            **connection_kwargs)
        # The cluster client answers the same commands (scripts, pipelines, pub/sub) that
        # pgkeel sends; keys that must share a node share a `{org}` hash tag.
        return cast(Redis, cluster)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=None, socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s, retry=Retry(backoff, retries),
        health_check_interval=30, **connection_kwargs)
    return Redis.from_pool(pool)


async def initialized(client: Redis) -> Redis:
    """`client`, once it knows the cluster's slots (a no-op for a single server): needed
    before pub/sub, which routes by slot without learning the layout first."""
    if isinstance(client, RedisCluster):
        await client.initialize()
    return client


async def ping_redis(client: Redis) -> float:
    """Round-trip latency in milliseconds; raises `redis.exceptions.RedisError` when down."""
    started = time.perf_counter()
    if not await client.ping():
        raise RedisError("PING did not answer PONG")
    return (time.perf_counter() - started) * 1000
