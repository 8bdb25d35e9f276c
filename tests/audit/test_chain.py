"""Tamper evidence: the per-organization chain holds under 8 concurrent writers, and
verify (Python API and CLI) reports an UPDATE, a DELETE and an INSERT made directly in SQL,
and a chain recomputed after a checkpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import psycopg
import pytest

from pgkeel.audit import AuditLog, Checkpoint
from pgkeel.config import Settings
from pgkeel.db import Database, Isolation, Transaction, use_context
from pgkeel.errors import AuditCheckpointInvalid, PermissionDenied
from pgkeel.observe.metrics import REGISTRY

WRITERS = 8
TRANSACTIONS_EACH = 25


def pgkeel_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgkeel", "audit", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url})


async def _write_concurrently(settings: Settings, orgs: list[str],
                              isolation: Isolation | None = None) -> None:
    """8 connections, each committing transactions with audit rows for every org."""
    async with Database.from_settings(settings, min_size=WRITERS,
                                      max_size=WRITERS) as db:
        audit = AuditLog(db)

        async def one(tx: Transaction, writer: int, n: int) -> None:
            for org in orgs:
                await audit.record(tx, action="orders.update", entity_type="Order",
                                   entity_id=f"{writer}-{n}", org_id=org,
                                   new={"writer": writer, "n": n})
            await tx.execute("SELECT pg_sleep(0.001)")   # widen the race window

        # Under REPEATABLE READ, writers of one organization conflict (40001) and are
        # retried, which makes each transaction dearer: fewer of them prove the same.
        count = TRANSACTIONS_EACH if isolation is None else TRANSACTIONS_EACH // 2

        async def writer(number: int) -> None:
            with use_context(actor_id=f"writer-{number}"):
                for n in range(count):
                    await db.run_in_tx(lambda tx, n=n: one(tx, number, n),
                                       isolation=isolation, retries=50)

        await asyncio.gather(*(writer(i) for i in range(WRITERS)))


def _serialization_retries() -> float:
    return REGISTRY.get_sample_value("pgkeel_tx_retries_total",
                                     {"reason": "serialization_failure"}) or 0.0


def _chain(sync_conn, org):
    return sync_conn.execute(
        "SELECT seq, prev_hash, hash, audit_id FROM audit.chain WHERE organization_id = %s"
        " ORDER BY seq", (org,)).fetchall()


@pytest.mark.parametrize("isolation", [None, Isolation.REPEATABLE_READ])
async def test_concurrent_writers_cannot_fork_the_chain(audit, pgkeel_settings, org,
                                                        sync_conn, isolation):
    orgs = [org, f"{org}-b"]
    retries_before = _serialization_retries()
    await _write_concurrently(pgkeel_settings, orgs, isolation)
    retried = _serialization_retries() - retries_before
    # READ COMMITTED writers queue on the lock and never conflict; REPEATABLE READ writers
    # whose snapshot missed a newer position are refused (40001) and retried, not forked.
    assert retried == 0 if isolation is None else retried > 0
    total = WRITERS * (TRANSACTIONS_EACH if isolation is None else TRANSACTIONS_EACH // 2)
    for name in orgs:
        chain = _chain(sync_conn, name)
        assert [row[0] for row in chain] == list(range(1, total + 1))   # no gap, no fork
        assert all(chain[i][1] == chain[i - 1][2] for i in range(1, total))
        assert len({row[3] for row in chain}) == total
        report = await audit.verify(org_id=name)
        assert report.ok, report.findings
        assert report.rows == total
    # Positions follow commit order: a later position never belongs to a transaction that
    # committed earlier. Both orgs were written in the same transactions, so their
    # positions must order those transactions identically.
    order = [sync_conn.execute(
        "SELECT a.txid FROM audit.chain AS c JOIN audit.audit_log AS a"
        " ON a.id = c.audit_id AND a.created_at = c.created_at"
        " WHERE c.organization_id = %s ORDER BY c.seq", (name,)).fetchall() for name in orgs]
    assert order[0] == order[1]


async def test_verify_detects_update_delete_and_insert_made_in_sql(
        audit, pgkeel_db, pgkeel_settings, pgkeel_database_url, org, sync_conn):
    await _write_concurrently(pgkeel_settings, [org])          # 8 connections at once
    assert (await audit.verify(org_id=org)).ok
    assert pgkeel_cli(pgkeel_database_url, "verify", "--org", org).returncode == 0
    ids = [r[0] for r in sync_conn.execute(
        "SELECT id FROM audit.audit_log WHERE organization_id = %s ORDER BY id", (org,))]
    assert len(ids) == WRITERS * TRANSACTIONS_EACH

    # The table refuses changes outright...
    with pytest.raises(PermissionDenied):
        async with pgkeel_db.transaction() as tx:
            await tx.execute("UPDATE audit.audit_log SET action = 'x' WHERE id = %s", (ids[0],))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sync_conn.execute("DELETE FROM audit.audit_log WHERE id = %s", (ids[0],))

    # ...so tamper as a superuser would, with triggers off, one change at a time.
    def tamper(statement: str, params: tuple[object, ...]) -> None:
        with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute(statement, params)

    tamper("UPDATE audit.audit_log SET new_values = '{\"n\": 999}' WHERE id = %s", (ids[30],))
    report = await audit.verify(org_id=org)
    assert [(f.kind, f.audit_id) for f in report.findings] == [("edited", ids[30])]

    tamper("DELETE FROM audit.audit_log WHERE id = %s", (ids[60],))
    report = await audit.verify(org_id=org)
    assert sorted((f.kind, f.audit_id) for f in report.findings) == [("deleted", ids[60]),
                                                                    ("edited", ids[30])]

    tamper("INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type,"
           " entity_id, created_at) VALUES (%s, 'admin', 'users.delete', 'User', '3',"
           " now() - interval '1 hour')", (org,))
    report = await audit.verify(org_id=org)
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == ["deleted", "edited", "inserted"]
    inserted = next(f for f in report.findings if f.kind == "inserted")
    assert inserted.audit_id is not None and inserted.audit_id > ids[-1]

    result = pgkeel_cli(pgkeel_database_url, "verify", "--org", org)
    assert result.returncode == 1
    assert "edited" in result.stderr and "deleted" in result.stderr
    assert "inserted" in result.stderr
    result = pgkeel_cli(pgkeel_database_url, "verify", "--org", org, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["counts"] == {"edited": 1, "deleted": 1, "inserted": 1}
    assert {f["audit_id"] for f in data["findings"]} == {ids[30], ids[60], inserted.audit_id}


async def test_deleting_chain_rows_too_is_still_detected(audit, pgkeel_db,
                                                         pgkeel_database_url, org):
    for n in range(6):
        async with pgkeel_db.transaction() as tx:
            await audit.record(tx, action="a", entity_type="T", entity_id=n, org_id=org)
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        gone = [r[0] for r in conn.execute(
            "SELECT audit_id FROM audit.chain WHERE organization_id = %s AND seq IN (2, 4)",
            (org,))]
        conn.execute("DELETE FROM audit.audit_log WHERE id = ANY(%s)", (gone,))
        conn.execute("DELETE FROM audit.chain WHERE audit_id = ANY(%s)", (gone,))
    report = await audit.verify(org_id=org)
    assert [(f.kind, f.seq) for f in report.findings] == [("deleted", 2), ("deleted", 4)]


async def test_checkpoint_catches_a_recomputed_chain(audit, pgkeel_db, pgkeel_database_url,
                                                     org, tmp_path):
    for n in range(5):
        async with pgkeel_db.transaction() as tx:
            await audit.record(tx, action="a", entity_type="T", entity_id=n, org_id=org)
    path = tmp_path / "heads.json"
    result = subprocess.run([sys.executable, "-m", "pgkeel", "audit", "checkpoint", "-o",
                             str(path)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DATABASE_URL": pgkeel_database_url,
                                 "AUDIT_CHECKPOINT_KEY": "k1"})
    assert result.returncode == 0, result.stderr
    checkpoint = Checkpoint.load(path, b"k1")
    assert checkpoint.heads[org].seq == 5

    # Rewrite row 2 and recompute every hash after it, as an insider who knows the scheme.
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("""
            UPDATE audit.audit_log SET action = 'rewritten'
            WHERE id = (SELECT audit_id FROM audit.chain WHERE organization_id = %s AND seq = 2)
        """, (org,))
        conn.execute("""
            DO $$
            DECLARE r record; prev bytea; org text := %s;
            BEGIN
                SELECT hash INTO prev FROM audit.chain WHERE organization_id = org AND seq = 1;
                FOR r IN SELECT c.seq, a.* FROM audit.chain c JOIN audit.audit_log a
                         ON a.id = c.audit_id AND a.created_at = c.created_at
                         WHERE c.organization_id = org AND c.seq >= 2 ORDER BY c.seq LOOP
                    UPDATE audit.chain SET prev_hash = prev,
                        hash = sha256(prev || convert_to(audit.canonical_text(r.id,
                            r.organization_id, r.actor_id, r.action, r.entity_type,
                            r.entity_id, r.old_values, r.new_values, r.changed_fields,
                            r.metadata, r.request_id, r.txid, r.created_at, r.seq)
                            || audit.canonical_field(r.event_id::text), 'UTF8'))
                    WHERE organization_id = org AND seq = r.seq RETURNING hash INTO prev;
                END LOOP;
            END $$""".replace("%s", "'" + org + "'"))
    assert (await audit.verify(org_id=org)).ok        # the chain alone is consistent again
    report = await audit.verify(org_id=org, checkpoint=checkpoint)
    assert [f.kind for f in report.findings] == ["checkpoint"]
    result = subprocess.run([sys.executable, "-m", "pgkeel", "audit", "verify", "--org", org,
                             "--checkpoint", str(path)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "DATABASE_URL": pgkeel_database_url,
                                              "AUDIT_CHECKPOINT_KEY": "k1"})
    assert result.returncode == 1
    assert "checkpoint" in result.stderr

    with pytest.raises(AuditCheckpointInvalid):
        Checkpoint.load(path, b"another key")
    edited = json.loads(path.read_text())
    edited["heads"][org]["seq"] = 4
    with pytest.raises(AuditCheckpointInvalid):
        Checkpoint.from_json(json.dumps(edited), b"k1")
    with pytest.raises(AuditCheckpointInvalid):
        Checkpoint.from_json(b"{}")


async def test_truncated_tail_is_caught_by_the_links_and_the_checkpoint(
        audit, pgkeel_db, pgkeel_database_url, org):
    for n in range(4):
        async with pgkeel_db.transaction() as tx:
            await audit.record(tx, action="a", entity_type="T", entity_id=n, org_id=org)
    checkpoint = await audit.checkpoint()
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit.audit_log WHERE id IN (SELECT audit_id FROM audit.chain"
                     " WHERE organization_id = %s AND seq >= 3)", (org,))
        conn.execute("DELETE FROM audit.chain WHERE organization_id = %s AND seq >= 3", (org,))
    # Each transaction's claim on audit.chain_links says where the chain must reach, so the
    # database alone sees the tail gone; the checkpoint independently agrees.
    alone = await audit.verify(org_id=org)
    assert [(f.kind, f.seq, f.seq_to) for f in alone.findings] == [("deleted", 3, 4)]
    both = await audit.verify(org_id=org, checkpoint=checkpoint)
    assert [(f.kind, f.seq, f.seq_to) for f in both.findings] == [("deleted", 3, 4),
                                                                 ("deleted", 3, 4)]
