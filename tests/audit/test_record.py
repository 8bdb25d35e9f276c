"""In-transaction audit rows: atomic with the change, context-attributed, diffed, redacted."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgkeel.audit import AuditLog, record
from pgkeel.db import Database, use_context
from pgkeel.errors import AuditEventInvalid

pytestmark = pytest.mark.smoke


async def _users_table(db: Database, schema: str) -> sql.Composed:
    table = sql.Identifier(schema, "users")
    await db.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, status text)").format(
        table))
    return table


async def _count(db: Database, org: str) -> int:
    return int(await db.fetch_val(
        "SELECT count(*) FROM audit.audit_log WHERE organization_id = %s", (org,)))


async def test_audit_row_commits_and_rolls_back_with_the_change(audit, pgkeel_db,
                                                                pgkeel_schema, org):
    users = await _users_table(pgkeel_db, pgkeel_schema)
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(users)
    update = sql.SQL("UPDATE {} SET status = %s WHERE id = %s").format(users)

    with use_context(org_id=org, actor_id="admin-1"):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(insert, (1, "active"))
            audit_id = await audit.record(tx, action="users.create", entity_type="User",
                                          entity_id=1, new={"status": "active"})
        assert await _count(pgkeel_db, org) == 1

        with pytest.raises(RuntimeError):
            async with pgkeel_db.transaction() as tx:
                await tx.execute(update, ("inactive", 1))
                await audit.record(tx, action="users.update", entity_type="User",
                                   entity_id=1, old={"status": "active"},
                                   new={"status": "inactive"})
                raise RuntimeError("the business rule failed")

    assert await pgkeel_db.fetch_val(sql.SQL("SELECT status FROM {}").format(users)) == "active"
    assert await _count(pgkeel_db, org) == 1            # the audit row rolled back too
    trail = await audit.trail(org, "User", 1)
    assert [event.event_id for event in trail] == [audit_id]
    assert (await audit.verify(org_id=org)).ok          # and it was chained at commit


async def test_a_failing_audit_write_fails_the_change(audit, pgkeel_db, pgkeel_schema, org):
    users = await _users_table(pgkeel_db, pgkeel_schema)
    with pytest.raises(AuditEventInvalid):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("INSERT INTO {} VALUES (1, 'x')").format(users))
            await audit.record(tx, action="", entity_type="User", org_id=org)
    assert await pgkeel_db.fetch_val(sql.SQL("SELECT count(*) FROM {}").format(users)) == 0


async def test_context_fills_org_actor_and_request_id(audit, pgkeel_db, org):
    with use_context(org_id=org, actor_id=42, request_id="req-abc"):
        async with pgkeel_db.transaction() as tx:
            first = await record(tx, action="users.login", entity_type="User", entity_id=42)
            second = await record(tx, action="users.impersonate", entity_type="User",
                                  entity_id=43, actor_id="support-7", request_id=None)
    rows = {r["event_id"]: r for r in await pgkeel_db.fetch_all(
        "SELECT event_id, organization_id, actor_id, request_id, txid FROM audit.audit_log"
        " WHERE event_id = ANY(%s)", ([first, second],))}
    assert rows[first]["organization_id"] == org
    assert rows[first]["actor_id"] == "42"
    assert rows[first]["request_id"] == "req-abc"
    assert rows[second]["actor_id"] == "support-7"
    assert rows[second]["request_id"] is None
    assert rows[first]["txid"] == rows[second]["txid"] is not None


async def test_changed_fields_redaction_and_json_values(audit, pgkeel_db, org):
    from datetime import UTC, datetime
    from decimal import Decimal

    old = {"email": "a@example.com", "status": "active", "password_hash": "h1",
           "balance": Decimal("10.50"), "tags": ["a"]}
    new = {**old, "status": "inactive", "password_hash": "h2",
           "seen_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}
    async with pgkeel_db.transaction() as tx:
        audit_id = await audit.record(tx, action="users.update", entity_type="User",
                                      entity_id="u-1", old=old, new=new, org_id=org,
                                      metadata={"reason": "support ticket 12"})
        old["status"] = "mutated after the call"   # must not change what was logged
    event = (await audit.trail(org, "User", "u-1"))[0]
    assert event.event_id == audit_id
    assert event.changed_fields == ["password_hash", "seen_at", "status"]
    assert event.old_values["password_hash"] == "[redacted]"
    assert event.new_values["password_hash"] == "[redacted]"
    assert event.old_values["status"] == "active"
    assert event.new_values["balance"] == "10.50"      # no float rounding
    assert event.new_values["seen_at"] == "2024-01-02T03:04:05+00:00"
    assert event.metadata == {"reason": "support ticket 12"}

    async with pgkeel_db.transaction() as tx:
        await audit.record(tx, action="users.create", entity_type="User", entity_id="u-2",
                           new={"b": 1, "a": 2}, org_id=org)
        await audit.record(tx, action="CUSTOMER_TAG_ASSIGNED", entity_type="Customer",
                           entity_id="c-9", new={"tagId": "t-1"}, org_id=org,
                           changed=["tagId"], metadata={"assignmentId": "as-1"})
    created = (await audit.trail(org, "User", "u-2"))[0]
    assert created.changed_fields == ["a", "b"]
    assert created.old_values is None


@pytest.mark.parametrize("fields", [
    {"action": "", "entity_type": "User"},
    {"action": "x" * 201, "entity_type": "User"},
    {"action": "users.update", "entity_type": " "},
    {"action": "users.update", "entity_type": "User", "entity_id": "a\x00b"},
    {"action": "users.update", "entity_type": "User", "new": {"name": "nul\x00"}},
])
async def test_invalid_events_are_refused_before_writing(audit, pgkeel_db, org, fields):
    async with pgkeel_db.transaction() as tx:
        with pytest.raises(AuditEventInvalid):
            await audit.record(tx, org_id=org, **fields)
    assert await _count(pgkeel_db, org) == 0


async def test_record_without_audit_log_object(pgkeel_db, audit_installed, org):
    async with pgkeel_db.transaction() as tx:
        await record(tx, action="a", entity_type="T", org_id=org, redact=())
    assert await _count(pgkeel_db, org) == 1
    assert isinstance(AuditLog(pgkeel_db).redact, frozenset)
