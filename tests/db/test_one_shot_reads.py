"""One-shot reads (`Database.fetch_*(readonly=True)`, repository reads): the whole read-only
transaction is one pipeline with no BEGIN/COMMIT -- the pipeline's implicit transaction. These
pin down that it behaves exactly like BEGIN READ ONLY ... COMMIT did."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgkeel.db import Database, Isolation, use_context
from pgkeel.errors import DatabaseError, QueryTimeout

pytestmark = pytest.mark.smoke




async def test_one_shot_read_refuses_writes_and_leaves_the_connection_clean(
        pgkeel_settings, items, sync_conn):
    async with Database.from_settings(pgkeel_settings, min_size=1, max_size=1) as db:
        insert = sql.SQL("INSERT INTO {} (label) VALUES (%s) RETURNING id").format(items)
        with pytest.raises(DatabaseError) as info:
            await db.fetch_all(insert, ("no",), readonly=True)
        assert info.value.sqlstate == "25006"
        # The one pooled connection is idle and writable again.
        assert await db.fetch_val("SHOW transaction_read_only") == "off"
        await db.execute(insert, ("yes",))
    labels = [r[0] for r in sync_conn.execute(sql.SQL("SELECT label FROM {}").format(items))]
    assert labels == ["yes"]


async def test_one_shot_read_is_one_transaction_with_the_context(pgkeel_settings):
    async with Database.from_settings(pgkeel_settings, min_size=1, max_size=1) as db:
        with use_context(org_id=42, actor_id=7, request_id="req-9"):
            [[settings], [xact]] = await db.read_batch([
                ("SELECT current_setting('pgkeel.org_id') AS org,"
                 " current_setting('pgkeel.request_id') AS request,"
                 " current_setting('transaction_read_only') AS ro,"
                 " pg_current_xact_id_if_assigned(),"
                 " now() AS started", (), None),
                ("SELECT now() AS started", (), None),
            ], readonly=True)
        assert settings[:3] == ("42", "req-9", "on")
        assert settings[4] == xact[0]          # both statements in one transaction
        # Nothing leaks into the session of the one pooled connection: read it raw, before
        # any pgkeel transaction sets its own context over whatever was left behind.
        async with db.transaction() as tx:
            cursor = await tx.connection.execute(
                "SELECT current_setting('pgkeel.org_id', true),"
                " current_setting('pgkeel.request_id', true),"
                " current_setting('transaction_read_only')")
            org, request, readonly = await cursor.fetchone()
    assert (org or "", request or "", readonly) == ("", "", "off")


async def test_one_shot_read_has_the_statement_timeout(pgkeel_settings):
    async with Database.from_settings(pgkeel_settings, min_size=1,
                                      statement_timeout_ms=100) as db:
        with pytest.raises(QueryTimeout):
            await db.fetch_val("SELECT pg_sleep(%s)", (2,), readonly=True)
        assert await db.fetch_val("SELECT 1", readonly=True) == 1


async def test_an_explicit_isolation_level_still_begins_the_transaction(pgkeel_db):
    async with pgkeel_db.transaction(isolation=Isolation.REPEATABLE_READ, readonly=True) as tx:
        [[row]] = await tx.fetch_batch([("SHOW transaction_isolation", None, None)],
                                       commit=True)
    assert row == ("repeatable read",)
