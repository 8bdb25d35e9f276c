"""`Pools`: the connection pools under a `Database` and how a connection is taken from them.

The primary pool and the replica pools share one set of connection options. Taking a primary
connection fails fast with `DatabaseUnavailable` when the pool cannot connect, instead of
waiting out the whole pool timeout; a pooled connection starts with the session defaults
(the statement timeout) and goes back to them after a transaction changed a session setting;
a lost connection makes the pool test its idle ones, so that after a server restart requests
do not each find a dead one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pgkeel.db import _queries
from pgkeel.db.connect_errors import connect_failure
from pgkeel.db.replicas import Replica, ReplicaSet
from pgkeel.errors import DatabaseUnavailable, PoolExhausted

__all__ = ["Pool", "Pools"]

Pool = AsyncConnectionPool[AsyncConnection[Any]]


class Pools:
    """The primary pool, the replica set, and the direct connections beside them."""

    def __init__(self, url: str, *, redacted_url: str | None,
                 replica_urls: tuple[str, ...] | list[str], name: str, min_size: int,
                 max_size: int, pool_timeout_s: float,
                 connect_timeout_s: float, reconnect_timeout_s: float,
                 replica_max_lag_s: float, statement_timeout_ms: int,
                 transaction_pooler: bool, connect_kwargs: dict[str, Any]) -> None:
        self.redacted_url = redacted_url
        self.connect_timeout_s = connect_timeout_s
        self.pool_timeout_s = pool_timeout_s
        self.statement_timeout_ms = statement_timeout_ms
        self.transaction_pooler = transaction_pooler
        self._direct = (url, connect_kwargs)

        def make_pool(conninfo: str, pool_name: str) -> Pool:
            return AsyncConnectionPool(
                conninfo, min_size=min(min_size, max_size), max_size=max_size,
                kwargs=connect_kwargs, open=False, timeout=pool_timeout_s, name=pool_name,
                reconnect_timeout=reconnect_timeout_s,
                configure=None if transaction_pooler else self._configure)

        self.primary = make_pool(url, name)
        self.replicas = ReplicaSet(
            [Replica(f"replica{i}", make_pool(u, f"replica{i}"))
             for i, u in enumerate(replica_urls, start=1)],
            max_lag_s=replica_max_lag_s, acquire_timeout_s=connect_timeout_s)
        self._checks: set[asyncio.Task[None]] = set()
        self._last_check = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Open every pool without waiting for its connections (they connect in the
        background; replicas never block start-up)."""
        await self.primary.open(wait=False)
        for replica in self.replicas.replicas:
            await replica.pool.open(wait=False)

    async def close(self) -> None:
        for task in list(self._checks):
            task.cancel()
        await self.replicas.close()
        await self.primary.close()

    def stats(self) -> dict[str, dict[str, int]]:
        """psycopg_pool's counters per pool (primary first)."""
        stats = {self.primary.name: dict(self.primary.get_stats())}
        for replica in self.replicas.replicas:
            stats[replica.name] = dict(replica.pool.get_stats())
        return stats

    # -- direct connections ----------------------------------------------------------------

    async def why_unavailable(self) -> DatabaseUnavailable | None:
        """One direct connection attempt, to name the cause the pool only logs (refused,
        unknown host, authentication, missing database, timeout); None if it connects."""
        conninfo, kwargs = self._direct
        try:
            conn = await AsyncConnection.connect(conninfo, **kwargs)
        except (psycopg.OperationalError, OSError) as exc:
            return connect_failure(exc, conninfo, self.redacted_url,
                                   timeout_s=kwargs["connect_timeout"])
        await conn.close()
        return None

    async def connect_direct(self, application_name: str | None) -> AsyncConnection[Any]:
        """A new autocommit connection to the primary, outside the pool, with no prepared
        statements (its owner closes it)."""
        conninfo, kwargs = self._direct
        kwargs = {**kwargs, "prepare_threshold": None}
        if application_name:
            kwargs["application_name"] = application_name
        try:
            return await AsyncConnection.connect(conninfo, **kwargs)
        except psycopg.OperationalError as exc:
            raise connect_failure(exc, conninfo, self.redacted_url,
                                  timeout_s=kwargs["connect_timeout"]) from exc

    # -- pooled connections ----------------------------------------------------------------

    @asynccontextmanager
    async def connection(self, *, replica: bool) -> AsyncIterator[tuple[Pool, Any]]:
        """A connection and the pool it came from: a healthy replica's when `replica` and
        there is one, else the primary's."""
        if replica and self.replicas:
            picked = await self.replicas.acquire()
            if picked is not None:
                chosen, conn = picked
                try:
                    yield chosen.pool, conn
                finally:
                    await chosen.pool.putconn(conn)
                return
        conn = await self.take_primary()
        try:
            yield self.primary, conn
        finally:
            await self.primary.putconn(conn)

    async def take_primary(self) -> AsyncConnection[Any]:
        """A primary connection (give it back with `primary.putconn`). If none comes within
        the connect timeout while the pool is failing to connect, the server is down: raise
        DatabaseUnavailable now rather than after the full pool timeout."""
        pool = self.primary
        errors_before = _connection_errors(pool)
        first_wait = min(self.connect_timeout_s, self.pool_timeout_s)
        try:
            return await pool.getconn(timeout=first_wait)
        except PoolTimeout:
            stats = pool.get_stats()
            if (stats.get("connections_errors", 0) > errors_before
                    or stats.get("pool_size", 0) == 0):
                raise DatabaseUnavailable(
                    "The database is unavailable.",
                    details={"database": self.redacted_url},
                    hint="Retry in a few seconds.") from None
        try:
            return await pool.getconn(timeout=self.pool_timeout_s - first_wait)
        except PoolTimeout:
            raise PoolExhausted(
                details={"pool": pool.name, "timeout_s": self.pool_timeout_s},
                hint="Retry in a few seconds, or raise DB_POOL_MAX_SIZE.") from None

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        """A new pooled connection's defaults: the statement timeout, set for the session
        once so that transactions keeping it need not send it."""
        await conn.execute(_queries.CONFIGURE_SESSION, (str(self.statement_timeout_ms),))

    async def reset_session(self, conn: AsyncConnection[Any]) -> None:
        """Back to the connection's defaults after a transaction ran SET or RESET, which may
        have changed a session setting; a connection that cannot be reset is discarded."""
        if conn.closed:
            return
        try:
            await conn.execute(_queries.RESET_SESSION)
            if not self.transaction_pooler:
                await self._configure(conn)
        except psycopg.Error:
            await conn.close()

    def connection_lost(self, pool: Pool) -> None:
        """A connection of `pool` died. A replica is skipped for a while; and the pool tests
        its idle connections (at most once a second)."""
        for replica in self.replicas.replicas:
            if replica.pool is pool:
                self.replicas.mark_down(replica, DatabaseUnavailable())
        now = time.monotonic()
        if now - self._last_check < 1.0:
            return
        self._last_check = now
        task = asyncio.get_running_loop().create_task(pool.check())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)


def _connection_errors(pool: Pool) -> int:
    """The pool's count of failed connection attempts, as `get_stats()` reports it. Read from
    psycopg_pool's own counter where it has one: `get_stats()` copies every counter and
    measure into a new dict, a few microseconds on every checkout for the one number."""
    counters = getattr(pool, "_stats", None)
    if isinstance(counters, dict):
        return int(counters.get("connections_errors", 0))
    return int(pool.get_stats().get("connections_errors", 0))
