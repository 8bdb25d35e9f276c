"""Connectivity, Redis, the outbox backlog and the audit queue; an unreachable server and a
database without the ops schema."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from pgkeel import audit, ops, outbox
from pgkeel.db import Database
from pgkeel.embedded._process import free_port
from pgkeel.errors import EmbeddedServerError, OpsNotInstalled
from pgkeel.ops import State
from pgkeel.redis_client import connect_redis


async def test_all_ok_with_default_thresholds_lists_every_check(db, pgkeel_redis, settings_with):
    report = await ops.check_health(db, settings_with(), redis=pgkeel_redis)
    names = [c.name for c in report.checks]
    assert names[0] == "connectivity"
    for name in ("connections", "long_running_queries", "idle_in_transaction",
                 "long_transactions", "blocked_queries", "xid_wraparound", "sequences",
                 "invalid_indexes", "invalid_constraints", "cache_hit_ratio", "redis",
                 "redis_memory", "redis_evictions", "audit_queue"):
        assert name in names
    connectivity = report.by_name()["connectivity"]
    assert connectivity.state is State.OK and connectivity.value is not None
    assert report.as_dict()["checks"][0]["state"] == "OK"


async def test_slow_connectivity_warns(db, settings_with):
    report = await ops.check_health(db, settings_with(ops_latency_warn_ms=0))
    assert report.by_name()["connectivity"].state is State.WARN


async def test_an_unreachable_database_is_critical_and_skips_the_database_checks(
        settings_with):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    settings = settings_with(database_url=url, db_connect_timeout_s=1.0)
    down = Database.from_settings(settings, min_size=0, max_size=1, pool_timeout_s=1.0)
    await down.open(wait=False)
    try:
        report = await ops.check_health(down, settings)
    finally:
        await down.close()
    checks = report.by_name()
    assert checks["connectivity"].state is State.CRIT
    assert checks["database"].state is State.SKIP
    assert "connections" not in checks
    assert report.exit_code == 2


async def test_a_database_without_the_ops_schema_is_unknown(scratch_url, settings_with):
    settings = settings_with(database_url=scratch_url)
    async with Database.from_settings(settings, min_size=1, max_size=1) as bare:
        with pytest.raises(OpsNotInstalled):
            await ops.check_database(bare, settings)
        report = await ops.check_health(bare, settings)
    checks = report.by_name()
    assert checks["database"].state is State.UNKNOWN
    assert "pgkeel ops install" in checks["database"].message
    assert checks["outbox"].state is State.SKIP  # not installed there either
    assert report.exit_code == 3


async def test_redis_latency_and_an_unreachable_redis(pgkeel_redis, settings_with, db):
    slow = await ops.check_health(db, settings_with(ops_redis_latency_warn_ms=0),
                                  redis=pgkeel_redis)
    assert slow.by_name()["redis"].state is State.WARN
    closed = connect_redis(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    try:
        report = await ops.check_health(db, settings_with(), redis=closed)
    finally:
        await closed.aclose()
    assert report.by_name()["redis"].state is State.CRIT
    assert report.exit_code == 2


async def test_redis_memory_and_evictions_on_a_server_of_the_tests_own(db, settings_with,
                                                                      tmp_path):
    from pgkeel.embedded import EmbeddedValkey

    valkey = EmbeddedValkey(tmp_path / "valkey")
    try:
        valkey.start()
    except EmbeddedServerError as exc:
        pytest.skip(f"no embedded Valkey here: {exc}")
    client = Redis.from_url(valkey.url())
    try:
        await client.config_set("maxmemory", "4mb")
        await client.config_set("maxmemory-policy", "allkeys-lru")
        for i in range(200):
            await client.set(f"k{i}", b"x" * 100_000)
        report = await ops.check_health(db, settings_with(), redis=client)
        checks = report.by_name()
        assert checks["redis_evictions"].state is State.WARN
        assert checks["redis_evictions"].value > 0
        assert checks["redis_memory"].state in {State.WARN, State.CRIT}
        assert checks["redis_memory"].details["maxmemory"] == 4 * 1024 * 1024
    finally:
        await client.aclose()
        valkey.stop()


async def test_outbox_backlog_and_lag(db, sync_conn, settings_with):
    await outbox.install(db)
    sync_conn.execute("TRUNCATE outbox.outbox_events, outbox.outbox_published")
    quiet = (await ops.check_health(db, settings_with())).by_name()
    assert quiet["outbox_pending"].state is State.OK and quiet["outbox_pending"].value == 0
    sync_conn.execute(
        "INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type,"
        " created_at) VALUES (%s, 'user', '1', 'user.created', now() - interval '2 minutes')",
        (uuid.uuid4(),))
    checks = (await ops.check_health(db, settings_with(ops_outbox_pending_warn=1))).by_name()
    assert checks["outbox_pending"].state is State.WARN
    assert checks["outbox_pending"].value == 1
    assert checks["outbox_lag"].state is State.WARN  # over the default 60 s
    assert checks["outbox_lag"].value >= 120
    sync_conn.execute("TRUNCATE outbox.outbox_events, outbox.outbox_published")


async def test_audit_queue_of_an_appender_in_this_process(db, settings_with):
    appender = audit.AuditAppender(db, max_queue=4, batch_size=1)
    skipped = (await ops.check_health(db, settings_with())).by_name()["audit_queue"]
    assert skipped.state is State.SKIP
    fresh = (await ops.check_health(db, settings_with(), appender=appender)).by_name()
    assert fresh["audit_queue"].state is State.OK and fresh["audit_queue"].value == 0
