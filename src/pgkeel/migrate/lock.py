"""The migration lock: a session-level advisory lock, polled, on the runner's own connection.

Never `pg_advisory_lock` (it blocks, and a blocked waiter inside a statement makes CREATE INDEX
CONCURRENTLY wait for it: the deadlock Flyway and golang-migrate hit) and never a
transaction-scoped lock (its open transaction stalls CONCURRENTLY the same way). Polling
`pg_try_advisory_lock` with backoff keeps every waiter idle between short statements, and a
deadline turns a stuck holder into an error that names it. The lock belongs to the same
connection that runs the migrations, so if that connection dies, lock and work end together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from pgkeel.errors import MigrationLockTimeout
from pgkeel.migrate import _queries as q

__all__ = ["LockHolder", "MigrationLock", "lock_key", "server_lock_key"]


def lock_key(database: str, schema: str) -> int:
    """The advisory lock key (a signed 64-bit int) of one migration set."""
    digest = hashlib.sha256(f"pgkeel.migrate:{database}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def server_lock_key(conn: AsyncConnection[Any], schema: str) -> int:
    """`lock_key` of the database the server says `conn` is in: behind a pooler alias the
    client's database name differs, and every runner must agree on one key."""
    cursor = await conn.execute(q.CURRENT_DATABASE)
    row = await cursor.fetchone()
    assert row is not None
    return lock_key(str(row[0]), schema)


@dataclass(frozen=True)
class LockHolder:
    """The session holding a migration lock, from pg_locks and pg_stat_activity."""

    pid: int
    application_name: str
    user: str | None
    client_addr: str | None
    connected_since: datetime | None
    state: str | None
    query: str | None

    def describe(self) -> str:
        who = self.application_name or "no application_name"
        where = f" from {self.client_addr}" if self.client_addr else ""
        since = (f", connected since {self.connected_since:%Y-%m-%d %H:%M:%S %Z}"
                 if self.connected_since else "")
        doing = f", {self.state}" if self.state else ""
        return f"pid {self.pid} ({who}, user {self.user}{where}{since}{doing})"


class MigrationLock:
    """Acquire / release the advisory lock `key` on `conn` (an autocommit connection)."""

    def __init__(self, conn: AsyncConnection[Any], key: int, *, schema: str,
                 wait_s: float) -> None:
        self.conn = conn
        self.key = key
        self.schema = schema
        self.wait_s = wait_s
        self.held = False

    async def acquire(self) -> float:
        """Poll until the lock is ours; return the seconds waited. Raises
        MigrationLockTimeout naming the holder after `wait_s`."""
        started = time.monotonic()
        deadline = started + self.wait_s
        delay = 0.05
        while True:
            cursor = await self.conn.execute(q.TRY_LOCK, (self.key,))
            row = await cursor.fetchone()
            if row and row[0]:
                self.held = True
                return time.monotonic() - started
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise await self._timeout()
            await asyncio.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))  # noqa: S311
            delay = min(delay * 2, 1.0)

    async def release(self) -> None:
        """Unlock; if the connection is broken, closing it releases the lock anyway."""
        if self.held and not self.conn.closed:
            self.held = False
            with contextlib.suppress(psycopg.Error):
                await self.conn.execute(q.UNLOCK, (self.key,))

    async def holder(self) -> LockHolder | None:
        return await find_holder(self.conn, self.key)

    async def _timeout(self) -> MigrationLockTimeout:
        holder = await self.holder()
        who = holder.describe() if holder else "a session that has since gone"
        return MigrationLockTimeout(
            f"Another migration runner held the lock on schema {self.schema!r} for more than "
            f"{self.wait_s:g} s: {who}.",
            details={"schema": self.schema, "wait_s": self.wait_s,
                     "holder": None if holder is None else vars(holder)},
            hint=("Let it finish, or raise MIGRATE_WAIT_S. If that process is gone, "
                  f"SELECT pg_terminate_backend({holder.pid}) releases the lock."
                  if holder else "Run the command again."))


async def find_holder(conn: AsyncConnection[Any], key: int) -> LockHolder | None:
    """Who holds advisory lock `key` in this database, if anyone."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    cursor = await conn.execute(q.LOCK_HOLDER, (unsigned >> 32, unsigned & 0xFFFF_FFFF))
    row = await cursor.fetchone()
    if row is None:
        return None
    return LockHolder(pid=row[0], application_name=row[1] or "", user=row[2],
                      client_addr=row[3], connected_since=row[4], state=row[5], query=row[6])
