"""`pgkeel maintain`: the job registry, schedules shared through `ops.job_runs`, the library's
jobs on real tables, one leader among loops, and writers never stuck behind maintenance."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from pgkeel import ops
from pgkeel.errors import UsageError
from pgkeel.ops import JobContext, JobRegistry, Maintainer, Skipped


async def _noop(ctx: JobContext) -> None:
    """Do nothing."""


def test_registry_names_order_and_errors():
    registry = JobRegistry()
    registry.add("app.first", _noop, every=timedelta(minutes=5))

    @registry.job("app.second", every=timedelta(0), description="every tick")
    async def second(ctx: JobContext) -> int:
        return 1

    assert registry.names() == ["app.first", "app.second"] and len(registry) == 2
    assert registry.get("app.first").description == "Do nothing."
    assert registry.get("app.second").description == "every tick"
    with pytest.raises(UsageError, match="already registered"):
        registry.add("app.first", _noop, every=timedelta(1))
    for bad in ("App.x", "x y", "", "app..x"):
        with pytest.raises(UsageError, match="Invalid job name"):
            registry.add(bad, _noop, every=timedelta(1))
    with pytest.raises(UsageError, match="every"):
        registry.add("app.negative", _noop, every=timedelta(seconds=-1))
    with pytest.raises(UsageError, match="No maintenance job") as info:
        registry.get("app.missing")
    assert info.value.details["known"] == ["app.first", "app.second"]
    merged = JobRegistry().include(registry, JobRegistry())
    assert merged.names() == registry.names()
    with pytest.raises(UsageError):
        merged.include(registry)


def test_library_jobs_are_registered(pgkeel_settings):
    names = ops.library_jobs(pgkeel_settings).names()
    assert names == ["pgkeel.analyze", "pgkeel.vacuum", "pgkeel.reindex_invalid",
                     "pgkeel.outbox_prune", "pgkeel.idempotency_reap",
                     "pgkeel.audit_partitions", "pgkeel.audit_retention"]


async def test_due_jobs_run_once_then_wait_for_their_interval(db, pgkeel_settings,
                                                              pgkeel_schema):
    calls: list[str] = []
    registry = JobRegistry()

    async def hourly(ctx: JobContext) -> dict[str, int]:
        calls.append("hourly")
        return {"rows": 3}

    async def skips(ctx: JobContext) -> Skipped:
        return Skipped("nothing to do here")

    async def fails(ctx: JobContext) -> None:
        async with ctx.transaction() as tx:
            await tx.execute("SELECT 1 / 0")

    prefix = pgkeel_schema
    registry.add(f"{prefix}.hourly", hourly, every=timedelta(hours=1))
    registry.add(f"{prefix}.skips", skips, every=timedelta(hours=1))
    registry.add(f"{prefix}.fails", fails, every=timedelta(hours=1))

    first = {r.name: r for r in await ops.run_jobs(db, registry, pgkeel_settings)}
    assert first[f"{prefix}.hourly"].status == "ok"
    assert first[f"{prefix}.hourly"].result == {"rows": 3}
    assert first[f"{prefix}.skips"].status == "skipped"
    assert first[f"{prefix}.skips"].result == {"reason": "nothing to do here"}
    assert first[f"{prefix}.fails"].status == "failed"
    assert "division by zero" in (first[f"{prefix}.fails"].error or "")

    again = {r.name: r for r in await ops.run_jobs(db, registry, pgkeel_settings)}
    assert {r.status for r in again.values()} == {"not_due"} and calls == ["hourly"]
    assert all(r.next_due_at is not None for r in again.values())

    forced = await ops.run_jobs(db, registry, pgkeel_settings, names=[f"{prefix}.hourly"],
                                force=True)
    assert [r.status for r in forced] == ["ok"] and calls == ["hourly", "hourly"]

    states = {s["name"]: s for s in await ops.job_states(db, registry)}
    assert states[f"{prefix}.hourly"]["runs"] == 2
    assert states[f"{prefix}.hourly"]["last_result"] == {"rows": 3}
    assert states[f"{prefix}.fails"]["failures"] == 1
    assert states[f"{prefix}.fails"]["last_status"] == "failed"
    assert states[f"{prefix}.skips"]["every_s"] == 3600


async def test_analyze_vacuum_and_invalid_index_jobs_on_real_tables(
        db, sync_conn, pgkeel_settings, pgkeel_schema):
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".churn (id int PRIMARY KEY, v int)')
    sync_conn.execute(f'INSERT INTO "{s}".churn SELECT g, g FROM generate_series(1, 2000) g')
    sync_conn.execute(f'DELETE FROM "{s}".churn WHERE id <= 1000')
    sync_conn.execute(f'INSERT INTO "{s}".churn VALUES (1, 1)')
    with pytest.raises(Exception, match="could not create unique index"):
        sync_conn.execute(f'INSERT INTO "{s}".churn VALUES (5000, 1)')
        sync_conn.execute(f'CREATE UNIQUE INDEX CONCURRENTLY churn_v ON "{s}".churn (v)')
    sync_conn.execute("SELECT pg_stat_force_next_flush()")

    need_vacuum = await db.fetch_all("SELECT * FROM ops.vacuum_all_tables(50, 0.2, %s)", (s,))
    assert [r["table_name"] for r in need_vacuum] == ["churn"]
    assert need_vacuum[0]["sql"] == f'VACUUM (ANALYZE, TRUNCATE false) {s}.churn'
    need_analyze = await db.fetch_all("SELECT * FROM ops.analyze_all_tables(50, 0.1, %s)", (s,))
    assert [r["table_name"] for r in need_analyze] == ["churn"]

    runs = {r.name: r for r in await ops.run_jobs(
        db, ops.library_jobs(pgkeel_settings), pgkeel_settings,
        names=["pgkeel.vacuum", "pgkeel.analyze", "pgkeel.reindex_invalid"], force=True)}
    assert f"{s}.churn" in runs["pgkeel.vacuum"].result["done"]
    # The duplicate value is still there: the rebuilt unique index fails again, and says so.
    assert runs["pgkeel.reindex_invalid"].status == "failed"
    assert "could not create unique index" in (runs["pgkeel.reindex_invalid"].error or "")
    sync_conn.execute("SELECT pg_stat_force_next_flush()")
    assert await db.fetch_all("SELECT * FROM ops.vacuum_all_tables(50, 0.2, %s)", (s,)) == []
    row = sync_conn.execute(
        "SELECT n_dead_tup, last_vacuum IS NOT NULL FROM pg_stat_user_tables"
        " WHERE schemaname = %s AND relname = 'churn'", (s,)).fetchone()
    assert row == (0, True)

    sync_conn.execute(f'DELETE FROM "{s}".churn WHERE id = 5000')
    fixed = await ops.run_jobs(db, ops.library_jobs(pgkeel_settings), pgkeel_settings,
                               names=["pgkeel.reindex_invalid"], force=True)
    assert fixed[0].status == "ok", fixed[0].error
    assert f"{s}.churn_v" in fixed[0].result["done"]
    assert sync_conn.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
        (f'"{s}".churn_v',)).fetchone() == (True,)


async def test_refresh_view_job(db, sync_conn, pgkeel_settings, pgkeel_schema):
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".sales (amount int)')
    sync_conn.execute(f'CREATE MATERIALIZED VIEW "{s}".totals AS'
                      f' SELECT 1 AS id, coalesce(sum(amount), 0) AS total FROM "{s}".sales')
    sync_conn.execute(f'CREATE UNIQUE INDEX ON "{s}".totals (id)')
    sync_conn.execute(f'INSERT INTO "{s}".sales VALUES (5), (7)')
    registry = JobRegistry()
    registry.add(f"{s}.totals", ops.refresh_view(f"{s}.totals"), every=timedelta(minutes=5))
    assert registry.get(f"{s}.totals").description == f"Refresh materialized view {s}.totals."
    [run] = await ops.run_jobs(db, registry, pgkeel_settings)
    assert run.status == "ok", run.error
    assert sync_conn.execute(f'SELECT total FROM "{s}".totals').fetchone() == (12,)
    with pytest.raises(UsageError):
        ops.refresh_view("no_schema")


async def test_two_loops_elect_one_leader_and_run_each_job_once(db, pgkeel_settings,
                                                                pgkeel_schema):
    s = pgkeel_schema
    ran: list[str] = []
    registry = JobRegistry()

    async def every_tick(ctx: JobContext) -> None:
        ran.append("tick")

    async def hourly(ctx: JobContext) -> None:
        ran.append("hourly")

    registry.add(f"{s}.every_tick", every_tick, every=timedelta(0))
    registry.add(f"{s}.hourly", hourly, every=timedelta(hours=1))
    a = Maintainer(db, registry, pgkeel_settings, lock_name=f"test.{s}", owner="a")
    b = Maintainer(db, registry, pgkeel_settings, lock_name=f"test.{s}", owner="b")
    try:
        ticks = [await asyncio.gather(a.tick(), b.tick()) for _ in range(4)]
        assert [a.is_leader, b.is_leader].count(True) == 1
        leader, follower = (a, b) if a.is_leader else (b, a)
        led = 0 if leader is a else 1
        assert all(pair[1 - led] == [] for pair in ticks)  # the follower ran nothing
        assert ran.count("hourly") == 1 and ran.count("tick") == 4

        await leader.close()  # it stops: the other takes over at its next tick
        runs = {r.name: r.status for r in await follower.tick()}
        assert follower.is_leader
        assert runs == {f"{s}.every_tick": "ok", f"{s}.hourly": "not_due"}
        assert ran.count("hourly") == 1 and ran.count("tick") == 5
        assert await leader.tick() == [] and not leader.is_leader
    finally:
        await a.close()
        await b.close()


async def test_run_maintenance_in_a_lifespan_ticks_until_closed(db, pgkeel_settings,
                                                                 pgkeel_schema):
    seen = asyncio.Event()
    registry = JobRegistry()

    async def mark(ctx: JobContext) -> None:
        seen.set()

    registry.add(f"{pgkeel_schema}.mark", mark, every=timedelta(hours=1))
    async with ops.run_maintenance(db, registry, pgkeel_settings,
                                   lock_name=f"test.{pgkeel_schema}") as maintainer:
        await asyncio.wait_for(seen.wait(), 30)
        assert maintainer.is_leader
    assert not maintainer.is_leader


async def test_maintenance_never_holds_writers_past_its_lock_timeout(
        db, aconn, settings_with, pgkeel_schema):
    """A session holds a lock maintenance needs; writers keep writing, each with a 5 s
    lock_timeout, while maintenance queues for its lock: it must give up after its own
    lock_timeout (0.2 s), and no writer may time out."""
    s = pgkeel_schema
    settings = settings_with(maintain_lock_timeout_s=0.2)
    holder = await aconn()
    await holder.execute(f'CREATE TABLE "{s}".busy (id bigserial PRIMARY KEY, v int)')
    await holder.execute(f'INSERT INTO "{s}".busy (v) SELECT g FROM generate_series(1, 1000) g')
    await holder.execute(f'DELETE FROM "{s}".busy WHERE id <= 600')
    await holder.execute("SELECT pg_stat_force_next_flush()")
    await holder.execute("BEGIN")
    await holder.execute(f'LOCK TABLE "{s}".busy IN SHARE UPDATE EXCLUSIVE MODE')

    registry = ops.library_jobs(settings)

    async def exclusive(ctx: JobContext) -> None:
        """Needs ACCESS EXCLUSIVE: writers would queue behind it while it waits."""
        async with ctx.transaction() as tx:
            await tx.execute(f'LOCK TABLE "{s}".busy IN ACCESS EXCLUSIVE MODE')

    registry.add(f"{s}.exclusive", exclusive, every=timedelta(hours=1))
    stop = asyncio.Event()
    written: list[int] = []

    async def writer() -> None:
        while not stop.is_set():
            async with db.transaction(lock_timeout=5) as tx:
                await tx.execute(f'INSERT INTO "{s}".busy (v) VALUES (1)')
            written.append(1)
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        runs = {r.name: r for r in await asyncio.wait_for(ops.run_jobs(
            db, registry, settings, names=["pgkeel.vacuum", f"{s}.exclusive"], force=True), 60)}
        before = len(written)
        while len(written) < before + 5:  # writes go on after maintenance gave up
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task  # raises if a writer waited past its own lock_timeout
        await holder.execute("ROLLBACK")
    assert runs[f"{s}.exclusive"].status == "lock_timeout"
    assert f"{s}.busy" in runs["pgkeel.vacuum"].result["lock_timeout"]
    assert written
