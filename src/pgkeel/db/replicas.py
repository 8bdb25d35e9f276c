"""Read routing across replica pools: skip a replica that fails or lags, else use the primary."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pgkeel.db import _queries

__all__ = ["Replica", "ReplicaSet"]


@dataclass
class Replica:
    """One replica pool and what we last learned about it."""

    name: str
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    down_until: float = 0.0
    lag_s: float = 0.0
    lag_checked_at: float = 0.0
    last_error: str | None = None

    def healthy(self, now: float, max_lag_s: float) -> bool:
        return now >= self.down_until and self.lag_s <= max_lag_s

    def describe(self) -> dict[str, Any]:
        now = time.monotonic()
        return {"name": self.name, "down": now < self.down_until, "lag_s": self.lag_s,
                "last_error": self.last_error}


class ReplicaSet:
    """Picks a healthy replica round-robin; a failing one is skipped for `cooldown_s`."""

    def __init__(self, replicas: list[Replica], *, max_lag_s: float, acquire_timeout_s: float,
                 cooldown_s: float = 5.0, lag_check_interval_s: float = 1.0) -> None:
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self.acquire_timeout_s = acquire_timeout_s
        self.cooldown_s = cooldown_s
        self.lag_check_interval_s = lag_check_interval_s
        self._turn = itertools.count()

    def __bool__(self) -> bool:
        return bool(self.replicas)

    async def acquire(self) -> tuple[Replica, AsyncConnection[Any]] | None:
        """A connection to a healthy replica, or None when none is usable right now."""
        if not self.replicas:
            return None
        start = next(self._turn)
        count = len(self.replicas)
        for offset in range(count):
            replica = self.replicas[(start + offset) % count]
            if time.monotonic() < replica.down_until:
                continue
            try:
                conn = await replica.pool.getconn(timeout=self.acquire_timeout_s)
            except (PoolTimeout, psycopg.Error) as exc:
                self.mark_down(replica, exc)
                continue
            if not await self._fresh_enough(replica, conn):
                await replica.pool.putconn(conn)
                continue
            return replica, conn
        return None

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        replica.down_until = time.monotonic() + self.cooldown_s
        replica.last_error = type(exc).__name__

    async def _fresh_enough(self, replica: Replica, conn: AsyncConnection[Any]) -> bool:
        """Re-measure lag at most once per interval; a lagging replica is skipped."""
        now = time.monotonic()
        if now - replica.lag_checked_at >= self.lag_check_interval_s:
            try:
                cursor = await conn.execute(_queries.REPLICA_LAG)
                row = await cursor.fetchone()
            except psycopg.Error as exc:
                self.mark_down(replica, exc)
                return False
            replica.lag_s = float(row[0]) if row else 0.0
            replica.lag_checked_at = now
        return replica.lag_s <= self.max_lag_s

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.pool.close()
