"""Each condition made for real, seen by `pgkeel health --json`: the check's WARN or CRIT,
an exit code that is the worst state's, and the same state as the library reports."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgkeel import ops
from pgkeel.cli.app import app
from pgkeel.db import Database

CODES = {"OK": 0, "SKIP": 0, "WARN": 1, "CRIT": 2, "UNKNOWN": 3}


@pytest.fixture
def health(monkeypatch, pgkeel_database_url, pgkeel_redis_url, pgkeel_settings):
    monkeypatch.setenv("DATABASE_URL", pgkeel_database_url)
    monkeypatch.setenv("REDIS_URL", pgkeel_redis_url)
    assert CliRunner().invoke(app, ["ops", "install"]).exit_code == 0

    def run(check: str, expected: str, **env: str) -> dict[str, Any]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(app, ["health", "--json"])
        body = json.loads(result.output)
        found = {c["name"]: c for c in body["checks"]}[check]
        assert found["state"] == expected, found
        assert result.exit_code == body["exit_code"] == max(
            CODES[c["state"]] for c in body["checks"])
        assert result.exit_code >= CODES[expected]

        async def library() -> str:
            settings = pgkeel_settings.model_copy(update={
                name.lower(): float(value) for name, value in env.items()})
            async with Database.from_settings(settings, min_size=1, max_size=2) as db:
                return (await ops.check_health(db, settings)).by_name()[check].state.value

        assert asyncio.run(library()) == expected
        for name in env:
            monkeypatch.delenv(name)
        return found
    return run


def test_a_transaction_held_open_and_idle_in_it(health, pgkeel_database_url):
    with psycopg.connect(pgkeel_database_url) as holder:
        holder.execute("SELECT 1")  # BEGIN ... SELECT: open, and idle in the transaction
        found = health("idle_in_transaction", "WARN", OPS_IDLE_IN_TRANSACTION_WARN_S="0")
        assert found["details"]["sessions"]
        health("long_transactions", "CRIT", OPS_LONG_TRANSACTION_WARN_S="0",
               OPS_LONG_TRANSACTION_CRIT_S="0")
        holder.rollback()


def test_a_lock_wait(health, pgkeel_database_url, pgkeel_schema):
    s = pgkeel_schema
    with psycopg.connect(pgkeel_database_url) as holder, \
            psycopg.connect(pgkeel_database_url, autocommit=True) as waiter:
        holder.execute(f'CREATE TABLE "{s}".locked (id int)')
        holder.commit()
        holder.execute(f'LOCK TABLE "{s}".locked IN ACCESS EXCLUSIVE MODE')
        blocked = threading.Thread(
            target=lambda: waiter.execute(f'SELECT count(*) FROM "{s}".locked'))
        blocked.start()
        with psycopg.connect(pgkeel_database_url, autocommit=True) as probe:
            while not probe.execute("SELECT count(*) FROM pg_stat_activity"
                                    " WHERE wait_event_type = 'Lock'"
                                    " AND datname = current_database()").fetchone()[0]:
                time.sleep(0.02)
        found = health("blocked_queries", "WARN", OPS_BLOCKED_QUERY_WARN_S="0")
        assert found["details"]["sessions"][0]["blocked_by"] == [holder.info.backend_pid]
        holder.rollback()
        blocked.join()


def test_an_invalid_index_and_a_sequence_near_its_maximum(health, sync_conn, pgkeel_schema):
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".dup (id serial, v int)')
    sync_conn.execute(f'INSERT INTO "{s}".dup (v) VALUES (1), (1)')
    with pytest.raises(psycopg.errors.UniqueViolation):
        sync_conn.execute(f'CREATE UNIQUE INDEX CONCURRENTLY dup_v ON "{s}".dup (v)')
    found = health("invalid_indexes", "WARN")
    assert f"{s}.dup_v" in [i["index"] for i in found["details"]["indexes"]]
    sync_conn.execute(f'DROP INDEX "{s}".dup_v')
    sync_conn.execute("SELECT setval(%s, 2140000000)", (f"{s}.dup_id_seq",))
    health("sequences", "CRIT")
    sync_conn.execute(f'DROP TABLE "{s}".dup')
