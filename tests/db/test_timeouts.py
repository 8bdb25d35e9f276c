"""Timeouts are enforced by the server, and a cancelled task cancels its query there too."""

from __future__ import annotations

import asyncio
import secrets

import psycopg
import pytest

from pgkeel.db import Database
from pgkeel.errors import QueryTimeout


def _active(conn: psycopg.Connection, marker: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s"
        " AND pid <> pg_backend_pid()", (f"%{marker}%",)).fetchone()
    assert row is not None
    return int(row[0])


async def _eventually_idle(conn: psycopg.Connection, marker: str) -> None:
    for _ in range(100):
        if _active(conn, marker) == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"query {marker} still running on the server")


async def test_statement_timeout_cancels_pg_sleep_on_the_server(pgkeel_db: Database, sync_conn):
    marker = f"timeout_{secrets.token_hex(4)}"
    with pytest.raises(QueryTimeout):
        async with pgkeel_db.transaction(timeout=0.2) as tx:
            await tx.execute(f"SELECT pg_sleep(30) /* {marker} */")  # type: ignore[arg-type]
    await _eventually_idle(sync_conn, marker)


async def test_default_statement_timeout_comes_from_settings(pgkeel_settings):
    async with Database.from_settings(pgkeel_settings, statement_timeout_ms=1234) as db:
        assert await db.fetch_val("SHOW statement_timeout") == "1234ms"
        async with db.transaction(timeout=2.5, lock_timeout=0.5) as tx:
            assert await tx.fetch_val("SHOW statement_timeout") == "2500ms"
            assert await tx.fetch_val("SHOW lock_timeout") == "500ms"


async def test_cancelling_the_task_cancels_the_query_on_the_server(pgkeel_db, sync_conn):
    marker = f"cancel_{secrets.token_hex(4)}"

    async def long_query() -> None:
        async with pgkeel_db.transaction() as tx:
            await tx.execute(f"SELECT pg_sleep(60) /* {marker} */")  # type: ignore[arg-type]

    task = asyncio.create_task(long_query())
    for _ in range(100):
        if _active(sync_conn, marker):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the query never started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _eventually_idle(sync_conn, marker)
    assert await pgkeel_db.fetch_val("SELECT 2") == 2, "the pool is healthy afterwards"
