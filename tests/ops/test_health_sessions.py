"""Session checks fire for real: a session idle in a transaction, a transaction held open, a
statement running long, a query blocked behind another session's lock."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from pgkeel import ops
from pgkeel.db import Database
from pgkeel.ops import State
from tests.ops.conftest import wait_until


async def _state_of(db: Database, pid: int) -> Any:
    return await db.fetch_val("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))


async def test_a_session_idle_in_a_transaction_warns_then_crits(db, aconn, settings_with):
    idle = await aconn()
    await idle.execute("BEGIN")
    await idle.execute("SELECT 1")
    pid = idle.info.backend_pid

    async def idle_in_tx() -> bool:
        return await _state_of(db, pid) == "idle in transaction"
    await wait_until(idle_in_tx, "the session to be idle in transaction")

    relaxed = (await ops.check_database(db, settings_with())).copy()
    check = {c.name: c for c in relaxed}["idle_in_transaction"]
    assert pid not in [s["pid"] for s in check.details["sessions"]]  # under 60 s

    warn = {c.name: c for c in await ops.check_database(
        db, settings_with(ops_idle_in_transaction_warn_s=0))}["idle_in_transaction"]
    assert warn.state is State.WARN
    assert pid in [s["pid"] for s in warn.details["sessions"]]

    report = await ops.check_health(db, settings_with(ops_idle_in_transaction_warn_s=0,
                                                      ops_idle_in_transaction_crit_s=0))
    assert report.by_name()["idle_in_transaction"].state is State.CRIT
    assert report.state is State.CRIT and report.exit_code == 2

    await idle.execute("ROLLBACK")
    after = {c.name: c for c in await ops.check_database(
        db, settings_with(ops_idle_in_transaction_warn_s=0))}["idle_in_transaction"]
    assert pid not in [s["pid"] for s in after.details["sessions"]]


async def test_a_transaction_held_open_is_a_long_transaction(db, aconn, settings_with):
    held = await aconn()
    await held.execute("BEGIN")
    await held.execute("SELECT txid_current()")
    checks = {c.name: c for c in await ops.check_database(
        db, settings_with(ops_long_transaction_warn_s=0))}
    assert checks["long_transactions"].state is State.WARN
    assert held.info.backend_pid in [s["pid"] for s in checks["long_transactions"].details[
        "sessions"]]
    await held.execute("COMMIT")


async def test_a_long_running_statement_warns(db, aconn, settings_with):
    sleeper = await aconn()
    pid = sleeper.info.backend_pid
    task = asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)"))

    async def active() -> bool:
        return await _state_of(db, pid) == "active"
    await wait_until(active, "pg_sleep to run")
    try:
        checks = {c.name: c for c in await ops.check_database(
            db, settings_with(ops_long_query_warn_s=0))}
        long_running = checks["long_running_queries"]
        assert long_running.state is State.WARN
        [session] = [s for s in long_running.details["sessions"] if s["pid"] == pid]
        assert "pg_sleep" in session["query"]
    finally:
        sleeper.cancel()
        try:
            await task
        except psycopg.errors.QueryCanceled:
            pass


async def test_a_query_blocked_by_a_lock_warns_and_names_its_blocker(db, aconn, settings_with,
                                                                    pgkeel_schema):
    holder, waiter = await aconn(), await aconn()
    table = f'"{pgkeel_schema}".locked'
    await holder.execute(f"CREATE TABLE {table} (id int)")
    await holder.execute("BEGIN")
    await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    blocked = asyncio.create_task(waiter.execute(f"SELECT * FROM {table}"))

    async def waiting() -> bool:
        return bool(await db.fetch_val(
            "SELECT cardinality(pg_blocking_pids(%s)) > 0", (waiter.info.backend_pid,)))
    await wait_until(waiting, "the SELECT to wait for the lock")
    try:
        default = {c.name: c for c in await ops.check_database(db, settings_with())}
        [entry] = [s for s in default["blocked_queries"].details["sessions"]
                   if s["pid"] == waiter.info.backend_pid]
        assert entry["blocked_by"] == [holder.info.backend_pid]

        report = await ops.check_health(db, settings_with(ops_blocked_query_warn_s=0))
        assert report.by_name()["blocked_queries"].state is State.WARN
        assert report.exit_code == 1
    finally:
        await holder.execute("ROLLBACK")
        await blocked
