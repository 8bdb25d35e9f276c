"""The hash chain covers every column it claims to: the canonical form is pinned to fixed bytes
(in Python and in SQL), and changing any hashed column of a stored row is reported."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from pgkeel.audit import AuditLog
from pgkeel.audit.verify import canonical
from pgkeel.db import Database, use_context

ROW = {
    "id": 7, "organization_id": "org-1", "actor_id": "alice", "action": "users.update",
    "entity_type": "User", "entity_id": "42", "old_text": '{"a": 1}', "new_text": '{"a": 2}',
    "changed_text": '["a"]', "metadata_text": '{"ip": "10.0.0.1"}', "request_id": "req-1",
    "txid": 1234, "created_at": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
}
SEQ = 3
# '<byte length>:<value>' per field, '-' for NULL, in this order: id, organization, actor,
# action, entity type, entity id, old, new, changed fields, metadata, request id, txid,
# created_at (UTC, microseconds), chain position.
EXPECTED = (b'1:7' b'5:org-1' b'5:alice' b'12:users.update' b'4:User' b'2:42'
            b'8:{"a": 1}' b'8:{"a": 2}' b'5:["a"]' b'18:{"ip": "10.0.0.1"}' b'5:req-1'
            b'4:1234' b'26:2024-05-06T07:08:09.123456' b'1:3')


def test_canonical_form_in_python_is_pinned():
    assert canonical(ROW, SEQ) == EXPECTED
    assert canonical({**ROW, "actor_id": None}, SEQ) == EXPECTED.replace(b"5:alice", b"-")


def test_format_2_appends_the_event_id():
    """Rows chained since event ids exist hash their event id as one more field; rows chained
    before (format 1) hash exactly what they always did."""
    event_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    row = {**ROW, "event_id": event_id}
    assert canonical(row, SEQ, 1) == EXPECTED
    assert canonical(row, SEQ, 2) == EXPECTED + b"36:" + event_id.encode()


async def test_canonical_form_in_sql_is_pinned(pgkeel_db: Database, audit: AuditLog):
    text = await pgkeel_db.fetch_val(
        "SELECT audit.canonical_text(%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::text[],"
        " %s::jsonb, %s, %s, %s, %s)",
        (ROW["id"], ROW["organization_id"], ROW["actor_id"], ROW["action"], ROW["entity_type"],
         ROW["entity_id"], ROW["old_text"], ROW["new_text"], ["a"], ROW["metadata_text"],
         ROW["request_id"], ROW["txid"], ROW["created_at"], SEQ))
    assert text.encode() == EXPECTED


# Each hashed column that a tamper could change, with a new value for it.
TAMPERS = {
    "actor_id": "'mallory'",
    "organization_id": "organization_id || '-x'",
    "action": "'users.delete'",
    "entity_type": "'Role'",
    "entity_id": "'43'",
    "old_values": "'{\"a\": 0}'::jsonb",
    "new_values": "'{\"a\": 3}'::jsonb",
    "changed_fields": "ARRAY['b']",
    "metadata": "'{\"ip\": \"10.0.0.2\"}'::jsonb",
    "request_id": "'req-2'",
    "txid": "txid + 1",
    "created_at": "created_at - interval '1 microsecond'",
    "event_id": "audit.uuid_v7()",
}


@pytest.mark.parametrize("column", sorted(TAMPERS))
async def test_changing_any_hashed_column_is_reported(audit: AuditLog, pgkeel_db: Database,
                                                      pgkeel_database_url: str, org: str,
                                                      column: str):
    with use_context(actor_id="alice", request_id="req-1"):
        async with pgkeel_db.transaction() as tx:
            event_id = await audit.record(tx, action="users.update", entity_type="User",
                                          entity_id="42", org_id=org, old={"a": 1},
                                          new={"a": 2}, metadata={"ip": "10.0.0.1"},
                                          changed=["a"])
    assert (await audit.verify(org_id=org)).ok
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        audit_id, *stored = conn.execute(
            "SELECT id, actor_id, request_id, txid IS NOT NULL FROM audit.audit_log"
            " WHERE event_id = %s", (event_id,)).fetchone()
        assert stored == ["alice", "req-1", True], "every hashed column holds a value"
        conn.execute("SET session_replication_role = replica")   # as a superuser would
        conn.execute(f"UPDATE audit.audit_log SET {column} = {TAMPERS[column]} "
                     "WHERE id = %s", (audit_id,))
    report = await audit.verify(org_id=org)
    assert not report.ok, f"a change to {column} went unnoticed"
    assert audit_id in {f.audit_id for f in report.findings}
