"""Running files: `transaction=off` resume, CREATE INDEX CONCURRENTLY next to a conflicting
lock and a waiting second runner (no deadlock), lock-timeout retries."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from pgkeel.db import Database
from pgkeel.errors import MigrationDrift, MigrationFailed
from pgkeel.migrate import Migrator

from .conftest import Files, fetch, history, make_migrator


async def wait_for(conn: psycopg.AsyncConnection[object], query: str,
                   params: tuple[object, ...] = (), *, timeout_s: float = 30.0) -> None:
    """Poll until `query` returns a row (an event, not a timing assumption)."""
    async with asyncio.timeout(timeout_s):
        while not await fetch(conn, query, params):
            await asyncio.sleep(0.02)


CIC_WAITING = ("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%'"
               " AND wait_event_type = 'Lock' AND datname = current_database()")


def setup_files(files: Files) -> None:
    files.write("V1__tables.sql", """
        CREATE TABLE t (a int, b int);
        INSERT INTO t SELECT g, g FROM generate_series(1, 100) g;
        CREATE TABLE log (step text);
        """)
    files.write("V2__indexes.sql", """
        -- pgkeel: transaction=off
        INSERT INTO log VALUES ('before');
        CREATE INDEX CONCURRENTLY t_a ON t (a);
        INSERT INTO log VALUES ('between');
        CREATE INDEX CONCURRENTLY t_b ON t (b);
        """)


async def valid_indexes(conn: psycopg.AsyncConnection[object], schema: str) -> list[object]:
    rows = await fetch(conn, "SELECT c.relname, i.indisvalid FROM pg_index i "
                             "JOIN pg_class c ON c.oid = i.indexrelid "
                             "WHERE c.relnamespace = %s::regnamespace AND c.relname LIKE 't\\_%%'"
                             " ORDER BY 1", (schema,))
    return rows


async def test_cic_blocked_by_another_session_fails_cleanly_then_resumes(
        pgkeel_db: Database, files: Files, pgkeel_schema: str, aconn, pgkeel_database_url):
    setup_files(files)
    migrator = make_migrator(pgkeel_db, files, pgkeel_schema, lock_timeout_ms=300,
                             lock_retries=1)
    await migrator.up(target="1")
    blocker = await psycopg.AsyncConnection.connect(pgkeel_database_url, autocommit=True)
    try:
        # An open transaction that wrote to t: CIC creates its (invalid) index, then waits
        # for this transaction, and its lock_timeout fires there.
        await blocker.execute("BEGIN")
        await blocker.execute(f'INSERT INTO "{pgkeel_schema}".t VALUES (0, 0)')
        with pytest.raises(MigrationFailed) as info:
            await migrator.up()
        error = info.value
        assert error.message.startswith("V2__indexes.sql:3: canceling statement due to lock "
                                        "timeout")
        assert error.details["sqlstate"] == "55P03" and error.details["attempts"] == 2
        assert error.details["statements_kept"] == 1
        assert "resumes at statement 2" in (error.hint or "")
        status = {e.script: e for e in (await migrator.status()).entries}
        assert (status["V2__indexes.sql"].state, status["V2__indexes.sql"].statements_applied) \
            == ("failed", 1)
        # CIC left an INVALID index; the resume drops it before building it again.
        assert await valid_indexes(aconn, pgkeel_schema) == [("t_a", False)]
    finally:
        await blocker.execute("COMMIT")
        await blocker.close()
    report = await migrator.up()
    [applied] = report.applied
    assert (applied.script, applied.resumed_from) == ("V2__indexes.sql", 1)
    assert await fetch(aconn, f'SELECT step FROM "{pgkeel_schema}".log') == [
        ("before",), ("between",)]
    assert await valid_indexes(aconn, pgkeel_schema) == [("t_a", True), ("t_b", True)]
    assert await migrator.validate() == []
    rows = await history(aconn, pgkeel_schema)
    assert [(r[0], r[3], r[4]) for r in rows] == [("1", True, 3), ("2", False, 1),
                                                 ("2", True, 4)]


async def test_cic_waiting_on_a_lock_while_a_second_runner_waits_for_ours_no_deadlock(
        pgkeel_db: Database, files: Files, pgkeel_schema: str, aconn, pgkeel_database_url):
    """The Flyway#1654 / golang-migrate#960 situation: runner A's CIC waits for another
    session; runner B waits for A's migration lock. B only polls, so CIC never waits on B."""
    setup_files(files)
    first = make_migrator(pgkeel_db, files, pgkeel_schema, lock_timeout_ms=60_000)
    second = make_migrator(pgkeel_db, files, pgkeel_schema, wait_s=60)
    await first.up(target="1")
    blocker = await psycopg.AsyncConnection.connect(pgkeel_database_url, autocommit=True)
    await blocker.execute("BEGIN")
    await blocker.execute(f'INSERT INTO "{pgkeel_schema}".t VALUES (0, 0)')
    a = asyncio.create_task(first.up())
    try:
        await wait_for(aconn, CIC_WAITING)
        b = asyncio.create_task(second.up())
        await wait_for(aconn, "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE "
                              "'pgkeel migrate %%' HAVING count(*) >= 2")
    finally:
        await blocker.execute("COMMIT")
        await blocker.close()
    first_report, second_report = await asyncio.gather(a, b)
    assert [x.script for x in first_report.applied] == ["V2__indexes.sql"]
    assert second_report.applied == []
    assert await valid_indexes(aconn, pgkeel_schema) == [("t_a", True), ("t_b", True)]


async def test_failure_mid_file_resumes_after_the_last_successful_statement(
        migrator: Migrator, files: Files, aconn, pgkeel_schema):
    files.write("V1__steps.sql", """
        -- pgkeel: transaction=off
        CREATE TABLE steps (n int);
        INSERT INTO steps VALUES (1);
        INSERT INTO steps VALUES (2);
        INSERT INTO steps VALUES (1 / 0);
        INSERT INTO steps VALUES (4);
        """)
    with pytest.raises(MigrationFailed, match=r"V1__steps\.sql:5: division by zero"):
        await migrator.up()
    assert await fetch(aconn, f'SELECT n FROM "{pgkeel_schema}".steps') == [(1,), (2,)]
    # Editing a statement that already ran is refused: resuming would skip the new text.
    files.write("V1__steps.sql", "-- pgkeel: transaction=off\nCREATE TABLE steps (n bigint);"
                                 "\nINSERT INTO steps VALUES (1);\nINSERT INTO steps VALUES (2);"
                                 "\nINSERT INTO steps VALUES (3);\nINSERT INTO steps VALUES (4);")
    with pytest.raises(MigrationDrift, match="first 3 statements have changed"):
        await migrator.up()
    # Fixing only the statement that failed resumes right there.
    files.write("V1__steps.sql", "-- pgkeel: transaction=off\nCREATE TABLE steps (n int);"
                                 "\nINSERT INTO steps VALUES (1);\nINSERT INTO steps VALUES (2);"
                                 "\nINSERT INTO steps VALUES (3);\nINSERT INTO steps VALUES (4);")
    [applied] = (await migrator.up()).applied
    assert applied.resumed_from == 3
    assert await fetch(aconn, f'SELECT n FROM "{pgkeel_schema}".steps ORDER BY n') == [
        (1,), (2,), (3,), (4,)]


async def test_lock_timeout_is_retried_then_reported(pgkeel_db: Database, files: Files,
                                                     pgkeel_schema, pgkeel_database_url, aconn):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    files.write("V2__alter.sql", "INSERT INTO marks VALUES (1);\nALTER TABLE t ADD COLUMN n text;")
    migrator = make_migrator(pgkeel_db, files, pgkeel_schema, lock_timeout_ms=50,
                             lock_retries=2)
    await migrator.up(target="1")
    await aconn.execute(f'CREATE TABLE "{pgkeel_schema}".marks (n int)')
    async with await psycopg.AsyncConnection.connect(pgkeel_database_url) as blocker:
        await blocker.execute(f'LOCK TABLE "{pgkeel_schema}".t IN ACCESS SHARE MODE')
        with pytest.raises(MigrationFailed) as info:
            await migrator.up()
    assert info.value.details["attempts"] == 3
    assert info.value.message.startswith("V2__alter.sql:2: canceling statement due to lock")
    assert "lock_timeout" in (info.value.hint or "")
    assert await fetch(aconn, f'SELECT * FROM "{pgkeel_schema}".marks') == []
    await migrator.up()
    assert await fetch(aconn, f'SELECT * FROM "{pgkeel_schema}".marks') == [(1,)]


async def test_statements_that_need_autocommit_in_a_transactional_file(
        migrator: Migrator, files: Files):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);\nCREATE INDEX CONCURRENTLY i ON t (id);")
    with pytest.raises(MigrationFailed, match="cannot run inside a transaction block") as info:
        await migrator.up(lint=False)
    assert "transaction=off" in (info.value.hint or "")


async def test_transaction_off_file_runs_vacuum_and_notices_are_reported(
        migrator: Migrator, files: Files):
    files.write("V1__t.sql", """
        -- pgkeel: transaction=off
        CREATE TABLE IF NOT EXISTS t (id bigint);
        CREATE TABLE IF NOT EXISTS t (id bigint);
        VACUUM (ANALYZE) t;
        """)
    [applied] = (await migrator.up()).applied
    assert applied.statements == 3
    assert any("already exists, skipping" in n for n in applied.notices)


async def test_header_timeouts_apply_to_the_file(migrator: Migrator, files: Files):
    files.write("V1__slow.sql", "-- pgkeel: statement_timeout=100ms\nSELECT pg_sleep(5);")
    with pytest.raises(MigrationFailed, match="statement timeout"):
        await migrator.up()
