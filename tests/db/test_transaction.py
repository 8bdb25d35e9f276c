"""Transactions: commit/rollback, on_commit hooks, request context, read-only, aborted blocks."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import tuple_row

from pgkeel.db import Database, Isolation, use_context
from pgkeel.errors import DatabaseError, UsageError

pytestmark = pytest.mark.smoke




def _count(conn: psycopg.Connection, table: sql.Composed) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    assert row is not None
    return int(row[0])


async def test_commit_persists_and_exception_rolls_back(pgkeel_db: Database, items, sync_conn):
    async with pgkeel_db.transaction() as tx:
        await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('kept')").format(items))
    with pytest.raises(RuntimeError):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('lost')").format(items))
            raise RuntimeError("boom")
    labels = [r[0] for r in sync_conn.execute(sql.SQL("SELECT label FROM {}").format(items))]
    assert labels == ["kept"]


async def test_on_commit_runs_after_commit_and_sees_committed_data(pgkeel_db, items, sync_conn):
    seen: list[int] = []

    async def after() -> None:
        seen.append(_count(sync_conn, items))  # another connection: only committed rows

    async with pgkeel_db.transaction() as tx:
        await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('a')").format(items))
        tx.on_commit(after)
        tx.on_commit(lambda: seen.append(-1))
        assert seen == []
    assert seen == [1, -1]


async def test_on_commit_never_runs_after_rollback(pgkeel_db, items):
    seen: list[str] = []
    with pytest.raises(ValueError, match="nope"):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('a')").format(items))
            tx.on_commit(lambda: seen.append("ran"))
            raise ValueError("nope")
    assert seen == []


async def test_failing_on_commit_callback_does_not_undo_or_block_the_others(
        pgkeel_db, items, sync_conn, caplog):
    seen: list[str] = []

    def broken() -> None:
        raise RuntimeError("callback failed")

    async with pgkeel_db.transaction() as tx:
        await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('a')").format(items))
        tx.on_commit(broken)
        tx.on_commit(lambda: seen.append("second"))
    assert seen == ["second"]
    assert _count(sync_conn, items) == 1
    assert "on_commit callback" in caplog.text


async def test_on_commit_outside_a_live_transaction_is_a_usage_error(pgkeel_db):
    async with pgkeel_db.transaction() as tx:
        pass
    with pytest.raises(UsageError):
        tx.on_commit(lambda: None)


async def test_context_reaches_the_transaction_and_never_leaks_to_the_next(
        pgkeel_settings):
    query = ("SELECT current_setting('pgkeel.org_id', true), "
             "current_setting('pgkeel.actor_id', true), "
             "current_setting('pgkeel.request_id', true)")
    # One connection, so the second transaction reuses the first one's session.
    async with Database.from_settings(pgkeel_settings, min_size=1, max_size=1) as db:
        with use_context(org_id=42, actor_id="u-7", request_id="req-1"):
            assert await db.fetch_one(query, row_factory=tuple_row) == ("42", "u-7", "req-1")
            with use_context(actor_id="u-8"):  # inherits org and request
                assert await db.fetch_one(query, row_factory=tuple_row) == ("42", "u-8", "req-1")
        assert await db.fetch_one(query, row_factory=tuple_row) == ("", "", "")


async def test_readonly_transaction_refuses_writes(pgkeel_db, items):
    with pytest.raises(DatabaseError) as info:
        async with pgkeel_db.transaction(readonly=True) as tx:
            await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('a')").format(items))
    assert info.value.sqlstate == "25006"


async def test_isolation_level_is_applied(pgkeel_db):
    for level in Isolation:
        async with pgkeel_db.transaction(isolation=level) as tx:
            assert await tx.fetch_val("SHOW transaction_isolation") == level.value


async def test_swallowed_error_inside_block_rolls_back_and_raises(pgkeel_db, items, sync_conn):
    with pytest.raises(DatabaseError, match="aborted by an earlier error"):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("INSERT INTO {} (label) VALUES ('a')").format(items))
            try:
                await tx.execute("SELECT 1/0")
            except DatabaseError:
                pass
    assert _count(sync_conn, items) == 0


async def test_pool_connection_is_clean_after_a_failed_transaction(pgkeel_settings):
    async with Database.from_settings(pgkeel_settings, min_size=1, max_size=1) as db:
        with pytest.raises(DatabaseError):
            await db.execute("SELECT 1/0")
        assert await db.fetch_val("SELECT 41 + 1") == 42

