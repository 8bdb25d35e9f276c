"""Event ids: each audit row has a UUIDv7 that tells an organization nothing about others, and
upgrading a log written before event ids existed keeps every hash chain verifiable."""

from __future__ import annotations

import uuid

from pgkeel.audit import AUDIT_LOG, AuditLog
from pgkeel.audit.schema import migrator
from pgkeel.db import Database, use_context


async def _write(db: Database, org: str, count: int) -> None:
    log = AuditLog(db)
    with use_context(org_id=org, actor_id="u-1"):
        for i in range(count):
            async with db.transaction() as tx:
                await log.record(tx, action="users.update", entity_type="User",
                                 entity_id=str(i), new={"n": i})


async def _write_before_event_ids(db: Database, org: str, count: int) -> None:
    """Rows as the log before event ids wrote them (no event_id column yet)."""
    for i in range(count):
        with use_context(org_id=org):
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO audit.audit_log (organization_id, action, entity_type,"
                    " entity_id) VALUES (%s, 'users.update', 'User', %s)", (org, str(i)))


async def test_upgrading_keeps_old_chains_verifiable_and_gives_every_row_an_id(scratch_database):
    async with Database(scratch_database, min_size=1) as db:
        await migrator(db).up(target="6")
        await _write_before_event_ids(db, "org-a", 5)
        await _write_before_event_ids(db, "org-b", 3)
        await migrator(db).up()                          # event ids, then the backfill
        await _write(db, "org-a", 4)

        rows = await db.fetch_all(
            "SELECT a.organization_id, a.event_id, c.format FROM audit.audit_log AS a"
            " JOIN audit.chain AS c ON c.audit_id = a.id AND c.created_at = a.created_at"
            " ORDER BY a.id")
        assert all(row["event_id"] is not None for row in rows)
        assert [row["format"] for row in rows] == [1] * 8 + [2] * 4
        assert len({row["event_id"] for row in rows}) == 12
        assert all(row["event_id"].version == 7 for row in rows)
        report = await AuditLog(db).verify()
        assert report.ok, report.findings
        assert report.rows == 12
        assert await db.fetch_val(
            "SELECT convalidated FROM pg_constraint"
            " WHERE conname = 'audit_log_event_id_not_null'")


async def test_the_event_id_is_hashed_from_format_2(audit: AuditLog, pgkeel_db: Database,
                                                     sync_conn, org: str):
    await _write(pgkeel_db, org, 2)
    assert (await audit.verify(org_id=org)).ok
    sync_conn.execute("SET session_replication_role = replica")   # as a superuser would
    sync_conn.execute(
        "UPDATE audit.audit_log SET event_id = audit.uuid_v7() WHERE organization_id = %s"
        " AND entity_id = '1'", (org,))
    sync_conn.execute("SET session_replication_role = origin")
    report = await audit.verify(org_id=org)
    assert [finding.kind for finding in report.findings] == ["edited"]


async def test_event_ids_are_time_ordered_uuid_v7(pgkeel_db: Database, audit: AuditLog):
    first, second = await pgkeel_db.fetch_val(
        "SELECT ARRAY[audit.uuid_v7('2024-01-01T00:00:00Z'),"
        " audit.uuid_v7('2024-01-01T00:00:01Z')]")
    assert first.version == second.version == 7
    assert first < second
    assert int(first.hex[:12], 16) == 1_704_067_200_000           # Unix milliseconds


def test_an_organization_list_shows_neither_row_numbers_nor_transaction_ids():
    listed = {field.api_name for field in AUDIT_LOG.fields if not field.sensitive}
    assert "id" in listed and AUDIT_LOG.field("event_id").api_name == "id"
    assert "txid" not in listed and "auditId" not in listed


async def test_a_platform_row_gets_its_event_id_from_the_writer(audit: AuditLog,
                                                                pgkeel_db: Database):
    """A row without organization (no tenant may read it, so row-level security would refuse
    to return it) gets a UUIDv7 made by the writer, and chains like any other."""
    probe = uuid.uuid4().hex
    async with pgkeel_db.transaction() as tx:
        made = await audit.record(tx, action="users.login_failed", entity_type="User",
                                  org_id=None, metadata={"probe": probe})
    assert made.version == 7
    stored = await pgkeel_db.fetch_all(
        "SELECT event_id FROM audit.audit_log WHERE organization_id = audit.platform_org()"
        " AND metadata->>'probe' = %s", (probe,))
    assert stored == [{"event_id": made}]
