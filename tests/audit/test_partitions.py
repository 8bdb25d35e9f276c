"""Monthly partitions created ahead of time (and late), and retention that drops whole
partitions while the chain stays verifiable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pgkeel.audit import parse_age
from pgkeel.errors import UsageError

INSERT_AT = """
INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                             created_at)
VALUES (%s, 'u', 'a', 'T', %s, %s)"""


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def _home(sync_conn, org):
    """Where each of the org's audit rows and chain rows physically lives."""
    rows = sync_conn.execute(
        "SELECT a.entity_id, a.tableoid::regclass::text, c.tableoid::regclass::text"
        " FROM audit.audit_log a JOIN audit.chain c ON c.audit_id = a.id"
        " AND c.created_at = a.created_at WHERE a.organization_id = %s", (org,)).fetchall()
    return {entity: (log, chain) for entity, log, chain in rows}


async def test_partitions_are_created_ahead_once(audit, org, sync_conn):
    start = _at(2031, 1, 15)
    created = await audit.create_partitions(months_ahead=2, from_time=start)
    assert created == ["audit_log_p2031_01", "chain_p2031_01", "audit_log_p2031_02",
                       "chain_p2031_02", "audit_log_p2031_03", "chain_p2031_03"]
    assert await audit.create_partitions(months_ahead=2, from_time=start) == []
    found = {p.name: p for p in await audit.list_partitions()}
    february = found["audit_log_p2031_02"]
    assert (february.lower_bound, february.upper_bound) == (
        datetime(2031, 2, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))
    assert found["audit_log_default"].upper_bound is None
    current = datetime.now(UTC).strftime("audit_log_p%Y_%m")
    assert current in found                          # install() created this month on

    sync_conn.execute(INSERT_AT, (org, "feb", _at(2031, 2, 28)))
    assert _home(sync_conn, org)["feb"] == ("audit.audit_log_p2031_02", "audit.chain_p2031_02")


async def test_a_late_partition_takes_over_rows_from_the_default(audit, org, sync_conn):
    sync_conn.execute(INSERT_AT, (org, "early", _at(2035, 6, 1)))
    sync_conn.execute(INSERT_AT, (org, "late", _at(2035, 6, 30)))
    assert _home(sync_conn, org)["late"] == ("audit.audit_log_default", "audit.chain_default")
    assert await audit.create_partitions(months_ahead=0, from_time=_at(2035, 6, 10)) == [
        "audit_log_p2035_06", "chain_p2035_06"]
    assert set(_home(sync_conn, org).values()) == {("audit.audit_log_p2035_06",
                                                    "audit.chain_p2035_06")}
    assert (await audit.verify(org_id=org)).ok


async def test_prune_drops_whole_partitions_and_the_chain_still_verifies(
        audit, pgkeel_db, pgkeel_database_url, org, sync_conn):
    await audit.create_partitions(months_ahead=3, from_time=_at(2001, 1, 1))
    # One transaction per row, so chain positions follow this order. The last January row
    # commits after the March rows: pruning January must not make the chain look broken.
    for entity, at in [("jan1", _at(2001, 1, 5)), ("jan2", _at(2001, 1, 6)),
                       ("feb1", _at(2001, 2, 5)), ("feb2", _at(2001, 2, 6)),
                       ("mar1", _at(2001, 3, 5)), ("mar2", _at(2001, 3, 6)),
                       ("jan-late", _at(2001, 1, 31)), ("apr1", _at(2001, 4, 2))]:
        sync_conn.execute(INSERT_AT, (org, entity, at))
    assert (await audit.verify(org_id=org)).rows == 8

    plan = await audit.prune(cutoff=_at(2001, 3, 1), dry_run=True)
    assert plan.partitions == ["audit_log_p2001_01", "audit_log_p2001_02", "chain_p2001_01",
                               "chain_p2001_02"]
    report = await audit.prune(cutoff=datetime(2001, 3, 1, tzinfo=UTC))
    assert report.partitions == ["audit_log_p2001_01", "chain_p2001_01", "audit_log_p2001_02",
                                 "chain_p2001_02"]
    assert sync_conn.execute("SELECT to_regclass('audit.audit_log_p2001_01')").fetchone() == (
        None,)
    assert set(_home(sync_conn, org)) == {"mar1", "mar2", "apr1"}
    anchor = sync_conn.execute("SELECT seq, gaps FROM audit.chain_anchors"
                               " WHERE organization_id = %s", (org,)).fetchone()
    assert anchor == (4, [7])
    verified = await audit.verify(org_id=org)
    assert verified.ok, verified.findings
    assert verified.rows == 3

    # Pruning does not hide a deletion among the rows that remain.
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit.audit_log WHERE organization_id = %s"
                     " AND entity_id = 'mar2'", (org,))
    assert [f.kind for f in (await audit.verify(org_id=org)).findings] == ["deleted"]

    # Detaching keeps the month as a plain table; the chain continues after it.
    detached = await audit.prune(cutoff=_at(2001, 4, 1) - timedelta(hours=12), detach=True)
    assert detached.partitions == ["audit_log_p2001_03", "chain_p2001_03"]
    assert sync_conn.execute("SELECT relispartition FROM pg_class"
                             " WHERE oid = 'audit.audit_log_p2001_03'::regclass").fetchone() == (
        False,)
    sync_conn.execute(INSERT_AT, (org, "apr2", _at(2001, 4, 3)))
    final = await audit.verify(org_id=org)
    assert final.ok, final.findings
    assert final.rows == 2
    logged = sync_conn.execute("SELECT partitions, detached FROM audit.prune_log"
                               " ORDER BY id DESC LIMIT 1").fetchone()
    assert logged == (["audit_log_p2001_03", "chain_p2001_03"], True)
    sync_conn.execute("DROP TABLE audit.audit_log_p2001_03, audit.chain_p2001_03")


async def test_writers_never_reuse_a_pruned_position(audit, org, sync_conn):
    await audit.create_partitions(months_ahead=2, from_time=_at(2002, 1, 1))
    sync_conn.execute(INSERT_AT, (org, "mar", _at(2002, 3, 5)))        # position 1
    sync_conn.execute(INSERT_AT, (org, "jan-late", _at(2002, 1, 31)))  # position 2: the top
    await audit.prune(cutoff=_at(2002, 2, 1) - timedelta(hours=12))
    sync_conn.execute(INSERT_AT, (org, "mar-2", _at(2002, 3, 6)))
    positions = sync_conn.execute(
        "SELECT a.entity_id, c.seq FROM audit.chain c JOIN audit.audit_log a"
        " ON a.id = c.audit_id AND a.created_at = c.created_at"
        " WHERE c.organization_id = %s ORDER BY c.seq", (org,)).fetchall()
    assert positions == [("mar", 1), ("mar-2", 3)]
    report = await audit.verify(org_id=org)
    assert report.ok, report.findings
    await audit.prune(cutoff=_at(2002, 4, 1) - timedelta(hours=12))
    sync_conn.execute(INSERT_AT, (org, "later", datetime.now(UTC)))
    assert (await audit.verify(org_id=org)).ok


def test_prune_cli_dry_run(pgkeel_database_url, audit_installed):
    result = subprocess.run(
        [sys.executable, "-m", "pgkeel", "audit", "prune", "--older-than", "36500d",
         "--dry-run", "--json"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": pgkeel_database_url})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["partitions"] == []
    refused = subprocess.run(
        [sys.executable, "-m", "pgkeel", "audit", "prune", "--older-than", "soon"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": pgkeel_database_url})
    assert refused.returncode == 1 and "Invalid age" in refused.stderr


def test_partitions_cli_lists_and_creates(pgkeel_database_url, audit_installed):
    result = subprocess.run(
        [sys.executable, "-m", "pgkeel", "audit", "partitions", "--ahead", "4", "--json"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": pgkeel_database_url})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {p["name"] for p in data["partitions"]}
    ahead = (datetime.now(UTC).replace(day=1) + timedelta(days=4 * 31)).strftime("%Y_%m")
    assert f"audit_log_p{ahead}" in names and f"chain_p{ahead}" in names


@pytest.mark.parametrize(("text", "expected"), [
    ("365d", timedelta(days=365)), ("12w", timedelta(weeks=12)), ("48h", timedelta(hours=48)),
    ("1y", timedelta(days=365)), (" 30 d ", timedelta(days=30))])
def test_parse_age(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "10", "5m", "-1d", "1.5d"])
def test_parse_age_rejects(text):
    with pytest.raises(UsageError):
        parse_age(text)
