"""The pool check (a service's own pool, in-process) and the replication check, from the
primary and from a standby whose replay is paused: each fires for real, with the same answer
in the library, in `pgkeel health --json` and in its exit code."""

from __future__ import annotations

import asyncio
import json

import psycopg
from typer.testing import CliRunner

from pgkeel import ops
from pgkeel.cli.app import app
from pgkeel.db import Database
from pgkeel.ops import State


async def test_a_pool_in_full_use_warns_and_a_starved_one_is_critical(pgkeel_settings,
                                                                      settings_with):
    settings = settings_with()
    async with Database.from_settings(pgkeel_settings, min_size=1, max_size=2) as db:
        assert ops.check_pool(db, settings).state is State.OK
        async with db.transaction() as one, db.transaction() as two:
            await one.fetch_val("SELECT 1")
            await two.fetch_val("SELECT 1")
            busy = ops.check_pool(db, settings)
            assert (busy.state, busy.value) == (State.WARN, 100.0), busy.message
            waiter = asyncio.create_task(db.fetch_val("SELECT 1"))
            while db.pool_stats()["primary"].get("requests_waiting", 0) == 0:
                await asyncio.sleep(0.01)
            starved = ops.check_pool(db, settings)
            assert starved.state is State.CRIT, starved.message
            assert "1 requests waiting" in starved.message
        assert await waiter == 1
        report = await ops.check_health(db, settings)
        assert report.by_name()["pool"].state is State.OK
        skipped = await ops.check_health(db, settings, pool=False)
        assert skipped.by_name()["pool"].state is State.SKIP


async def _health(url: str, redis_url: str, **env: str) -> tuple[int, dict[str, dict]]:
    """`pgkeel health --json` (in a thread: the command runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, ["health", "--json"], env={
        "DATABASE_URL": url, "REDIS_URL": redis_url, **env})
    return result.exit_code, {c["name"]: c for c in json.loads(result.output)["checks"]}


async def test_replication_from_the_primary_and_from_a_lagging_standby(
        pgkeel_streaming_replica, pgkeel_redis_url, pgkeel_settings):
    pair = pgkeel_streaming_replica
    primary_settings = pgkeel_settings.model_copy(update={
        "database_url": pair.primary_url, "database_replica_urls": ()})
    async with Database.from_settings(primary_settings, min_size=1, max_size=2) as db:
        await ops.install(db)
        replication = {c.name: c for c in await ops.check_database(db, primary_settings)}
        check = replication["replication"]
        assert check.state is State.OK and check.details["role"] == "primary"
        # The test server may have other standbys (other sessions' own): ours is among them.
        assert "streaming" in [s["state"] for s in check.details["standbys"]]
    pair.wait_caught_up()

    code, checks = await _health(pair.standby_url, pgkeel_redis_url)
    assert checks["replication"]["state"] == "OK", checks["replication"]
    assert checks["replication"]["details"]["role"] == "standby"
    # Zero on an idle primary; on a busy shared one, the moment since the last replayed
    # commit (the standby has replayed everything it had received).
    assert checks["replication"]["value"] < 60

    pair.pause_replay()
    try:
        with psycopg.connect(pair.primary_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS lag_probe (id int)")
            conn.execute("INSERT INTO lag_probe VALUES (1)")
        with psycopg.connect(pair.standby_url, autocommit=True) as standby:
            while standby.execute("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
                                  ).fetchone() == (True,):
                await asyncio.sleep(0.05)
        code, checks = await _health(pair.standby_url, pgkeel_redis_url,
                               OPS_REPLICATION_LAG_WARN_S="0.001")
        lagging = checks["replication"]
        assert (lagging["state"], code) == ("WARN", 1), lagging
        assert lagging["value"] > 0 and lagging["details"]["replay_paused"] is True
        code, checks = await _health(pair.standby_url, pgkeel_redis_url,
                               OPS_REPLICATION_LAG_WARN_S="0", OPS_REPLICATION_LAG_CRIT_S="0.001")
        assert (checks["replication"]["state"], code) == ("CRIT", 2)
    finally:
        pair.resume_replay()
        pair.wait_caught_up()
    # Caught up: OK again (polled: on a busy test server the standby may be mid-replay of
    # someone else's commit at any one moment).
    for _ in range(100):
        code, checks = await _health(pair.standby_url, pgkeel_redis_url,
                                     OPS_REPLICATION_LAG_WARN_S="0.001")
        if checks["replication"]["state"] == "OK":
            break
        await asyncio.sleep(0.2)
    assert checks["replication"]["state"] == "OK", checks["replication"]
