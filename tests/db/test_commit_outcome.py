"""A connection killed during COMMIT raises CommitOutcomeUnknown and is never retried."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import sql

from pgkeel.db import Database, RetryPolicy, Transaction
from pgkeel.errors import CommitOutcomeUnknown


@pytest.fixture
def slow_commit_table(sync_conn: psycopg.Connection, pgkeel_schema: str) -> sql.Identifier:
    """Inserts into this table make COMMIT itself slow (a deferred constraint trigger sleeps),
    which gives another session a window to kill the backend mid-COMMIT."""
    schema = sql.Identifier(pgkeel_schema)
    sync_conn.execute(sql.SQL("""
        CREATE TABLE {s}.slow (id int);
        CREATE FUNCTION {s}.sleep_at_commit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_sleep(10); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER sleep_at_commit AFTER INSERT ON {s}.slow
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.sleep_at_commit();
    """).format(s=schema))
    return sql.Identifier(pgkeel_schema, "slow")


async def _kill_when_committing(admin: psycopg.AsyncConnection, pid: int) -> None:
    for _ in range(200):
        row = await (await admin.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
            (pid,))).fetchone()
        if row and row[0].strip().upper() == "COMMIT":
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the transaction never reached COMMIT")


async def test_connection_killed_during_commit_is_outcome_unknown_and_not_retried(
        pgkeel_db: Database, pgkeel_database_url: str, slow_commit_table, sync_conn):
    calls = 0
    killer: list[asyncio.Task[None]] = []

    async def fn(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        pid = await tx.fetch_val("SELECT pg_backend_pid()")
        await tx.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(slow_commit_table))
        admin = await psycopg.AsyncConnection.connect(pgkeel_database_url, autocommit=True)
        killer.append(asyncio.create_task(_kill_when_committing(admin, pid)))
        killer[0].add_done_callback(lambda _: asyncio.ensure_future(admin.close()))

    with pytest.raises(CommitOutcomeUnknown) as info:
        await pgkeel_db.run_in_tx(fn, retries=5, policy=RetryPolicy(5, 0.001, 0.01))
    await killer[0]
    assert calls == 1, "an unknown commit outcome is never retried"
    assert info.value.code == "commit_outcome_unknown"
    # The database object is still usable afterwards.
    assert await pgkeel_db.fetch_val("SELECT 1") == 1


async def test_only_if_unknown_callbacks_run_when_the_commit_outcome_is_unknown(
        pgkeel_db: Database, pgkeel_database_url: str, slow_commit_table):
    ran: list[str] = []
    admin = await psycopg.AsyncConnection.connect(pgkeel_database_url, autocommit=True)
    try:
        with pytest.raises(CommitOutcomeUnknown):
            async with pgkeel_db.transaction() as tx:
                pid = await tx.fetch_val("SELECT pg_backend_pid()")
                await tx.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(slow_commit_table))
                tx.on_commit(lambda: ran.append("invalidate"), if_unknown=True)
                tx.on_commit(lambda: ran.append("send email"))
                killer = asyncio.create_task(_kill_when_committing(admin, pid))
        await killer
    finally:
        await admin.close()
    assert ran == ["invalidate"], "safe-to-repeat work runs; the rest does not"
