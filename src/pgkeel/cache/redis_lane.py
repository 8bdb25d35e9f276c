"""The hit's `MGET` on a few connections of the cache's own, without redis-py's command layers.

A cache hit is one `MGET`. Through `Redis.mget` it also pays redis-py's per-command machinery:
the pool's lock and its observability hooks, a dirty-connection check on every checkout, a
retry wrapper, a task (`asyncio.wait_for`) to write the command and a timer to read the reply --
together about twice the CPU of the round trip itself. The cache already bounds every call
with its own time limit and counts failures in its breaker, so the lane sends the command,
pre-packed, straight to the connection's stream and lets the connection's parser (hiredis when
installed) read the reply.

The connections are made by the client's pool (`make_connection`: same address, credentials,
database, TLS and timeouts) but never returned to it, so only the lane ever uses them and a
parked connection always has a clean stream: any error, timeout or cancellation while a command
is in flight disconnects it. A connection that is new, disconnected or idle longer than the
pool's `health_check_interval` goes through redis-py's own `send_packed_command` and
`read_response` (connect, handshake, health check) instead. When all `size` connections are
busy, `mget` returns None and the caller uses the client as before.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

__all__ = ["MgetLane", "supported"]


def supported(client: Redis) -> bool:
    """Whether the lane can stand in for `client.mget`: one server, RESP2, bytes replies,
    UTF-8 keys, a pool that makes its connections (anything else uses the client)."""
    if isinstance(client, RedisCluster) or getattr(client, "single_connection_client", True):
        return False
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if not isinstance(kwargs, dict) or not callable(getattr(pool, "make_connection", None)):
        return False
    return (not kwargs.get("decode_responses", False)
            and kwargs.get("protocol") in (None, 2, "2")
            and kwargs.get("encoding", "utf-8").lower().replace("-", "") == "utf8")


class MgetLane:
    """Up to `size` connections of the cache's own for the hit's `MGET`."""

    def __init__(self, client: Redis, size: int) -> None:
        usable = supported(client)
        pool: Any = client.connection_pool if usable else None
        self._pool = pool
        self.size = size if usable else 0
        interval = pool.connection_kwargs.get("health_check_interval") or 0 if usable else 0
        self._fresh_s = float(interval) if interval > 0 else math.inf
        self._idle: list[tuple[Any, float]] = []
        self._made: list[Any] = []

    async def mget(self, command: bytes) -> list[Any] | None:
        """The `MGET` reply, or None when every lane connection is busy."""
        if self._idle:
            conn, used = self._idle.pop()
        elif len(self._made) < self.size:
            conn, used = self._pool.make_connection(), -math.inf
            self._made.append(conn)
        else:
            return None
        try:
            reader = conn._reader
            if reader is not None and not reader.at_eof() \
                    and time.monotonic() - used < self._fresh_s:
                conn._writer.write(command)
                reply = await conn._parser.read_response()
            else:  # new, dropped or idle for long: redis-py connects and checks it
                await conn.send_packed_command(command)
                reply = await conn.read_response()
        except BaseException:
            # The reply may still come: this connection's stream is unusable until redis-py
            # connects it again (its next use takes the slow branch).
            self._idle.append((conn, -math.inf))
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
            raise
        self._idle.append((conn, time.monotonic()))
        if isinstance(reply, ResponseError):
            raise reply
        if not isinstance(reply, list):
            raise ResponseError(f"MGET answered {type(reply).__name__}")
        return reply

    async def reset(self) -> None:
        """Drop the idle connections (they may have died with the server); in-flight ones
        drop themselves if they fail."""
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            self._idle.append((conn, -math.inf))
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    async def aclose(self) -> None:
        """Disconnect every lane connection; a later `mget` reconnects."""
        for conn in self._made:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
        self._idle = [(conn, -math.inf) for conn, _ in self._idle]
