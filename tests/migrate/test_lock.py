"""The migration lock: a clear message naming the holder, and two runner processes started
together applying every migration exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg
import pytest

from pgkeel.db import Database
from pgkeel.errors import MigrationLockTimeout
from pgkeel.migrate import lock_key

from .conftest import Files, history, make_migrator


def hold_lock(url: str, schema: str, application_name: str) -> psycopg.Connection[object]:
    conn = psycopg.connect(url, autocommit=True, application_name=application_name)
    key = lock_key(conn.info.dbname, schema)
    assert conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,)
    return conn


async def test_lock_timeout_names_the_holder(pgkeel_db: Database, files: Files,
                                             pgkeel_schema: str, pgkeel_database_url: str):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    holder = hold_lock(pgkeel_database_url, pgkeel_schema, "deploy-job-42")
    pid = holder.info.backend_pid
    try:
        status = await make_migrator(pgkeel_db, files, pgkeel_schema).status()
        assert status.locked_by is not None and status.locked_by.pid == pid
        with pytest.raises(MigrationLockTimeout) as info:
            await make_migrator(pgkeel_db, files, pgkeel_schema, wait_s=0.2).up()
    finally:
        holder.close()
    message = info.value.message
    assert f"pid {pid} (deploy-job-42, user postgres" in message
    assert "connected since 20" in message and pgkeel_schema in message
    assert f"pg_terminate_backend({pid})" in (info.value.hint or "")
    assert info.value.details["holder"]["application_name"] == "deploy-job-42"
    # released: the next run proceeds
    assert len((await make_migrator(pgkeel_db, files, pgkeel_schema).up()).applied) == 1


def test_lock_keys_differ_per_database_and_schema():
    keys = {lock_key(db, schema) for db in ("a", "b") for schema in ("public", "app")}
    assert len(keys) == 4
    assert all(-2**63 <= key < 2**63 for key in keys)


@pytest.mark.smoke
async def test_two_runner_processes_apply_each_migration_exactly_once(
        files: Files, pgkeel_schema: str, pgkeel_database_url: str, aconn):
    for n in range(1, 6):
        files.write(f"V{n}__step_{n}.sql", f"""
            CREATE TABLE IF NOT EXISTS applied (n int);
            INSERT INTO applied VALUES ({n});
            SELECT pg_sleep(0.05);
            """)
    files.write("R__view.sql", "CREATE OR REPLACE VIEW total AS SELECT count(*) FROM applied;")
    # Hold the lock so both processes are surely waiting when it is released: they then race
    # for it from the same starting line.
    holder = hold_lock(pgkeel_database_url, pgkeel_schema, "test-holder")
    env = {**os.environ, "DATABASE_URL": pgkeel_database_url, "MIGRATE_WAIT_S": "60"}
    command = [sys.executable, "-m", "pgkeel", "migrate", "up", "--dir", str(files.root),
               "--schema", pgkeel_schema, "--json"]
    runners = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while True:  # both runners have tried the lock at least once, and failed
            waiting = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                "'pgkeel migrate %%' AND query LIKE 'SELECT pg_try_advisory_lock%%'"
                " AND datname = current_database()").fetchone()
            if waiting == (2,) or time.monotonic() > deadline or any(
                    r.poll() is not None for r in runners):
                break
            time.sleep(0.05)
        assert waiting == (2,), "both runners should be polling for the lock"
    finally:
        holder.close()
    outputs = [r.communicate(timeout=120) for r in runners]
    for runner, (_, err) in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, err
    reports = [json.loads(out) for out, _ in outputs]
    assert sorted(len(r["applied"]) for r in reports) == [0, 6]
    assert all(r["lock_wait_ms"] > 0 for r in reports)
    cursor = await aconn.execute(f'SELECT n FROM "{pgkeel_schema}".applied ORDER BY n')
    assert await cursor.fetchall() == [(1,), (2,), (3,), (4,), (5,)]
    rows = await history(aconn, pgkeel_schema)
    assert [(r[0], r[1]) for r in rows] == [
        ("1", "SQL"), ("2", "SQL"), ("3", "SQL"), ("4", "SQL"), ("5", "SQL"),
        (None, "REPEATABLE")]


async def test_runners_behind_a_pooler_alias_share_the_servers_lock_key(
        files: Files, pgkeel_schema: str, pgkeel_database_url: str):
    """The client's database name is the alias; the key comes from current_database()."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from .alias_proxy import alias_proxy

    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    params = conninfo_to_dict(pgkeel_database_url)
    real = str(params["dbname"])
    async with alias_proxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)),
                           real) as port:
        url = make_conninfo(pgkeel_database_url, host="127.0.0.1", port=port,
                            dbname="app_alias", sslmode="disable", gssencmode="disable")
        async with Database(url) as aliased:
            conn = await aliased.connect_direct()
            try:
                assert conn.info.dbname == "app_alias"
            finally:
                await conn.close()
            holder = hold_lock(pgkeel_database_url, pgkeel_schema, "direct-runner")
            try:
                with pytest.raises(MigrationLockTimeout):
                    await make_migrator(aliased, files, pgkeel_schema, wait_s=0.3).up()
            finally:
                holder.close()
