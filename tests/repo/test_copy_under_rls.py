"""`create_many(copy=True)` on a table where row-level security applies: PostgreSQL refuses
COPY FROM there, so the rows go through a staging table and the policy checks each one."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgkeel.db import Database, use_context
from pgkeel.repo import Field, FieldType, Repository, Table
from pgkeel.security import role_url
from pgkeel.security.rls import rls_sql

ORG_A = "00000000-0000-0000-0000-00000000000a"
ORG_B = "00000000-0000-0000-0000-00000000000b"


@pytest.fixture
def notes(sync_conn: psycopg.Connection[Any], pgkeel_schema: str, rls_role: str) -> Table:
    table = Table(pgkeel_schema, "notes", [
        Field("id", FieldType.BIGINT, nullable=False, writable=False),
        Field("org_id", FieldType.UUID, nullable=False),
        Field("body", FieldType.TEXT, nullable=False),
        Field("length", FieldType.INT, writable=False),
    ], tenant="org_id")
    sync_conn.execute(sql.SQL(
        "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " org_id uuid NOT NULL, body text NOT NULL,"
        " length int GENERATED ALWAYS AS (length(body)) STORED)").format(table.ident))
    sync_conn.execute(rls_sql(table))
    sync_conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(
        table.ident, sql.Identifier(rls_role)))
    return table


async def test_copy_goes_through_staging_and_the_policy(notes: Table, rls_role: str,
                                                        pgkeel_database_url: str,
                                                        sync_conn: psycopg.Connection[Any]):
    async with Database(role_url(pgkeel_database_url, rls_role, None), min_size=1) as db:
        repo = Repository(db, notes)
        with use_context(org_id=ORG_A):
            assert await repo.create_many([{"body": f"note {i}"} for i in range(300)],
                                          copy=True) == 300
            async with db.transaction() as tx:              # twice in one transaction
                for _ in range(2):
                    await repo.create_many([{"body": "again"}], copy=True, tx=tx)
            assert await repo.count() == 302
        with use_context(org_id=ORG_B):
            assert await repo.count() == 0
    rows = sync_conn.execute(sql.SQL("SELECT org_id::text, count(*), min(length) FROM {}"
                                     " GROUP BY 1").format(notes.ident)).fetchall()
    assert rows == [(ORG_A, 302, 5)]                        # generated columns computed


async def test_copy_without_row_level_security_stays_a_plain_copy(people):
    """The owner (here a superuser) is not subject to RLS: COPY straight into the table."""
    from tests.repo.conftest import ORG_A as PEOPLE_ORG

    with use_context(org_id=PEOPLE_ORG):
        assert await people.create_many([{"name": "c1"}, {"name": "c2"}], copy=True) == 2
