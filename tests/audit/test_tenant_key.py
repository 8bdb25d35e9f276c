"""The audit log's primary key is led by the organization, (organization_id, id, created_at):
platform events are stored with the nil-UUID sentinel, read back as None, hashed as before --
so upgrading a log that already holds platform rows keeps every chain verifiable -- and row-
level security still shows an organization only its own rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgkeel.audit import PLATFORM_ORG, AuditAppender, AuditEvent, AuditLog
from pgkeel.audit.schema import migrator
from pgkeel.db import Database
from pgkeel.errors import AuditEventInvalid

PRIMARY_KEY = """
SELECT array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index AS i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = 'audit.audit_log'::regclass AND i.indisprimary"""

# Partitions whose index is not attached to the parent's primary key (there should be none).
UNKEYED_PARTITIONS = """
SELECT count(*) FROM pg_inherits AS p
WHERE p.inhparent = 'audit.audit_log'::regclass
  AND NOT EXISTS (SELECT FROM pg_index AS x JOIN pg_inherits AS ix ON ix.inhrelid = x.indexrelid
                  WHERE x.indrelid = p.inhrelid
                    AND ix.inhparent = 'audit.audit_log_pkey'::regclass)"""


async def _write(db: Database, org: str | None, count: int) -> None:
    log = AuditLog(db)
    for i in range(count):
        async with db.transaction() as tx:
            await log.record(tx, action="users.login_failed", entity_type="User",
                             entity_id=str(i), org_id=org, new={"n": i})


async def _stored_orgs(db: Database) -> list[Any]:
    rows = await db.fetch_all("SELECT organization_id FROM audit.audit_log ORDER BY id")
    return [row["organization_id"] for row in rows]


async def test_upgrading_over_platform_rows_keeps_every_chain_verifiable(scratch_database):
    async with Database(scratch_database, min_size=1) as db:
        await migrator(db).up(target="8")
        await _write(db, "org-a", 3)
        await _write(db, None, 2)
        # A platform row from a month without a partition: it waits in the default partition.
        await db.execute("INSERT INTO audit.audit_log (action, entity_type, created_at)"
                         " VALUES ('jobs.ran', 'Job', '2020-01-15T00:00:00Z')")
        assert (await AuditLog(db).verify()).ok

        await migrator(db).up()
        assert await db.fetch_val(PRIMARY_KEY) == ["organization_id", "id", "created_at"]
        assert await db.fetch_val(UNKEYED_PARTITIONS) == 0
        assert await _stored_orgs(db) == ["org-a"] * 3 + [PLATFORM_ORG] * 3
        await _write(db, None, 1)                 # the chain goes on from the same head
        await _write(db, "org-a", 1)
        report = await AuditLog(db).verify()
        assert report.ok, report.findings
        assert (report.organizations, report.rows) == (2, 8)
        assert (await AuditLog(db).verify(org_id="")).rows == 4

        await migrator(db).down()                 # the undo: NULL again, the old key
        assert await db.fetch_val(PRIMARY_KEY) == ["id", "created_at"]
        assert await _stored_orgs(db) == ["org-a"] * 3 + [None] * 3 + [None, "org-a"]
        assert (await AuditLog(db).verify()).ok
        await migrator(db).up()
        assert (await AuditLog(db).verify()).ok


async def test_platform_events_are_stored_with_the_sentinel_and_read_back_as_none(
        audit: AuditLog, pgkeel_db: Database):
    probe = secrets.token_hex(6)
    async with pgkeel_db.transaction() as tx:
        made = await audit.record(tx, action="users.login_failed", entity_type="User",
                                  org_id=None, metadata={"probe": probe})
    async with AuditAppender(pgkeel_db, flush_interval_s=0.01) as appender:   # a batch
        await appender.append(action="jobs.ran", entity_type="Job", org_id=None,
                              metadata={"probe": probe})
    rows = await pgkeel_db.fetch_all(
        "SELECT * FROM audit.audit_log WHERE metadata->>'probe' = %s ORDER BY id", (probe,))
    assert [row["organization_id"] for row in rows] == [PLATFORM_ORG, PLATFORM_ORG]
    events = [AuditEvent.from_row(row) for row in rows]
    assert [event.organization_id for event in events] == [None, None]
    assert events[0].event_id == made
    assert AuditEvent(**rows[1]).organization_id is None        # as Repository builds it
    assert (await audit.verify(org_id="")).ok
    with pytest.raises(AuditEventInvalid):
        async with pgkeel_db.transaction() as tx:
            await audit.record(tx, action="x", entity_type="Y", org_id=PLATFORM_ORG)


@pytest.fixture
def tenant_conn(audit_installed, pgkeel_database_url: str
                ) -> Iterator[psycopg.Connection[Any]]:
    """A connection as a fresh role granted what an application role is granted on the log
    (SELECT, INSERT), subject to row-level security."""
    role = f"pgkt_tenant_{secrets.token_hex(4)}"
    ident = sql.Identifier(role)
    with psycopg.connect(pgkeel_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOBYPASSRLS").format(ident))
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(ident))
        admin.execute(sql.SQL("GRANT SELECT, INSERT ON audit.audit_log TO {}").format(ident))
        with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(ident))
            yield conn
        admin.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        admin.execute(sql.SQL("DROP ROLE {}").format(ident))


def _seen(conn: psycopg.Connection[Any], org: str, probe: str) -> list[tuple[Any, ...]]:
    with conn.transaction():
        conn.execute("SELECT set_config('pgkeel.org_id', %s, true)", (org,))
        return conn.execute(
            "SELECT organization_id, action FROM audit.audit_log"
            " WHERE metadata->>'probe' = %s ORDER BY id", (probe,)).fetchall()


def _insert(conn: psycopg.Connection[Any], org: str, row_org: str | None, probe: str) -> None:
    with conn.transaction():
        conn.execute("SELECT set_config('pgkeel.org_id', %s, true)", (org,))
        conn.execute("INSERT INTO audit.audit_log (organization_id, action, entity_type,"
                     " metadata) VALUES (%s, 'x.done', 'Thing', jsonb_build_object("
                     "'probe', %s::text))", (row_org, probe))


async def test_an_organization_sees_only_its_own_rows(audit: AuditLog, pgkeel_db: Database,
                                                      tenant_conn, org: str):
    probe = secrets.token_hex(6)
    other = f"{org}-other"
    _insert(tenant_conn, org, org, probe)
    _insert(tenant_conn, org, None, probe)              # a platform event, written by a tenant
    _insert(tenant_conn, other, other, probe)
    with pytest.raises(errors.InsufficientPrivilege):   # another organization's row
        _insert(tenant_conn, org, other, probe)
    assert _seen(tenant_conn, org, probe) == [(org, "x.done")]
    assert _seen(tenant_conn, other, probe) == [(other, "x.done")]
    assert _seen(tenant_conn, "", probe) == []
    assert _seen(tenant_conn, PLATFORM_ORG, probe) == []
    stored = await pgkeel_db.fetch_all(
        "SELECT organization_id FROM audit.audit_log WHERE metadata->>'probe' = %s"
        " ORDER BY id", (probe,))
    assert [row["organization_id"] for row in stored] == [org, PLATFORM_ORG, other]
    assert (await audit.verify(org_id=org)).ok
