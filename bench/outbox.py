"""The outbox scenarios, in a throw-away database on the same server (the data set is untouched).

- `outbox_add`: one transaction that stores one event, `outbox.add(tx, event)` (pgkeel) vs the
  same row INSERTed with the outbox's own statement through `tx.execute` (raw_psycopg), both
  inside `db.transaction()`: the difference is what `add` itself costs (validation, JSON,
  the time-ordered id, the commit hook).
- `outbox_relay`: N `user.created` events (one aggregate each, so one partition key each)
  pre-inserted, then one relay drains them -- claims, publishes to Redis Streams, moves them
  to the published archive -- timed from the first claim to the last mark (pgkeel; three
  drains, reported as all their events over all their time). The peer is
  procrastinate's worker draining N no-op jobs (deferred beforehand with
  `batch_defer_async`) with `run_worker_async(wait=False)`: each job fetched, run, and marked
  succeeded (procrastinate).
"""

from __future__ import annotations

import gc
import secrets
import time
from collections.abc import Callable

import orjson

from bench.config import Profile
from bench.timing import Contender, Sample, Scenario, run_scenario
from pgkeel import outbox
from pgkeel.db import Database
from pgkeel.outbox.events import INSERT_ONE, uuid7
from pgkeel.testing.databases import create_database, drop_database

__all__ = ["OUTBOX_SCENARIOS", "run_outbox"]

OUTBOX_SCENARIOS = {
    "outbox_add": "One transaction storing one event: outbox.add vs the same INSERT through "
                  "tx.execute, both in db.transaction().",
    "outbox_relay": "Drain pre-inserted events: pgkeel's relay to Redis Streams (claim, XADD, "
                    "mark) vs procrastinate's worker running as many no-op jobs.",
}
POOL_SIZE = 10
INSERT_CHUNK = 5_000
PROCRASTINATE_CONCURRENCY = 10


def _event(i: int) -> outbox.OutboxEvent:
    return outbox.OutboxEvent(event_type="user.created", aggregate_type="user",
                              aggregate_id=f"bench-{i}",
                              payload={"id": i, "email": f"user{i}@bench.example",
                                       "displayName": "Bench User"})


def outbox_add(db: Database) -> Scenario:
    async def raw(i: int) -> object:
        payload = orjson.dumps({"id": i, "email": f"user{i}@bench.example",
                                "displayName": "Bench User"}).decode()
        async with db.transaction() as tx:
            await tx.execute(INSERT_ONE, (uuid7(), "user", f"bench-{i}", "user.created",
                                          payload, "{}", f"user:bench-{i}", 0,
                                          outbox.DEFAULT_MAX_ATTEMPTS, None))
        return None

    async def keel(i: int) -> object:
        async with db.transaction() as tx:
            return await outbox.add(tx, _event(i))

    return Scenario("outbox_add", OUTBOX_SCENARIOS["outbox_add"],
                    [Contender("raw_psycopg", raw), Contender("pgkeel", keel)])


async def insert_events(db: Database, count: int) -> None:
    for start in range(0, count, INSERT_CHUNK):
        async with db.transaction(timeout=0) as tx:
            await outbox.add_many(tx, [_event(i) for i in range(start,
                                                               min(count, start + INSERT_CHUNK))])


async def relay_drain(db: Database, redis_url: str, count: int, *,
                      workers: int = outbox.Relay.DEFAULT_WORKERS,
                      keep_published: bool = True) -> Sample:
    """Pre-insert `count` events (untimed), then time one relay (with `workers` batches in
    flight, the relay's default unless given; `keep_published=False` is
    `OUTBOX_RETENTION_S=0`) draining them."""
    await db.execute("TRUNCATE outbox.outbox_events")
    await insert_events(db, count)
    # Statistics, as autovacuum would have gathered in a deployment (untimed; procrastinate's
    # tables get the same).
    await db.execute("ANALYZE outbox.outbox_events")
    stream = f"pgkeel-bench:outbox:{secrets.token_hex(4)}"
    sink = outbox.RedisStreamSink.from_url(redis_url, stream=stream, maxlen=None)
    relay = outbox.Relay(db, sink, listen=False, workers=workers, keep_published=keep_published)
    try:
        began = time.perf_counter_ns()
        published = await relay.drain()
        elapsed = time.perf_counter_ns() - began
        length = await sink.redis.xlen(stream)
    finally:
        await sink.redis.delete(stream)
        await sink.close()
    if published != count or length != count:
        raise RuntimeError(f"the relay published {published} events ({length} in the stream)"
                           f" of {count}")
    return _one_run("outbox_relay", "pgkeel", elapsed, count)


async def procrastinate_drain(url: str, count: int) -> Sample:
    """Defer `count` no-op jobs (untimed), then time procrastinate's worker running them all."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=url, min_size=1, max_size=POOL_SIZE))

    @app.task(name="bench_noop")
    async def noop() -> None:
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        for start in range(0, count, INSERT_CHUNK):
            await noop.batch_defer_async(*({} for _ in range(start,
                                                             min(count, start + INSERT_CHUNK))))
        # As the relay's table is after its insert (untimed): statistics, as autovacuum would
        # have gathered in a deployment.
        await app.connector.execute_query_async("ANALYZE")
        began = time.perf_counter_ns()
        await app.run_worker_async(wait=False, concurrency=PROCRASTINATE_CONCURRENCY,
                                   listen_notify=False, install_signal_handlers=False,
                                   delete_jobs="never")
        elapsed = time.perf_counter_ns() - began
        queues = await app.job_manager.list_queues_async()
    done = sum(int(queue["succeeded"]) for queue in queues)
    if done != count:
        raise RuntimeError(f"procrastinate ran {done} of {count} jobs")
    return _one_run("outbox_relay", "procrastinate", elapsed, count)


RELAY_DRAINS = 3
"""Drains of the relay with its defaults that make its reported rate (all events over all
their time), each of N fresh events in the same database: a drain takes a few seconds, so
one is at the mercy of a few seconds of the machine. procrastinate's takes minutes: one."""

RELAY_VARIANTS = ((1, True), (4, True), (1, False), (2, False), (4, False))
"""(workers, keep_published) of the relay drains logged besides the contender (defaults)."""


async def _relay_scenario(db: Database, redis_url: str, peer_url: str, count: int,
                          log: Callable[[str], None]) -> list[Sample]:
    """The relay with its defaults against procrastinate; then, logged only, the relay with
    more workers and with no retention (deleting acknowledged events)."""
    ours = Sample("outbox_relay", "pgkeel", ops_override=RELAY_DRAINS * count)
    for drain in range(RELAY_DRAINS):
        one = await relay_drain(db, redis_url, count)
        ours.add(one.durations_ns[0])
        log(f"  outbox_relay: pgkeel drain {drain + 1}: {count / one.wall_s:,.0f}/s")
    theirs = await procrastinate_drain(peer_url, count)
    log(f"  outbox_relay: {count:,} events a drain; pgkeel "
        f"{RELAY_DRAINS * count / ours.wall_s:,.0f}/s, procrastinate "
        f"{count / theirs.wall_s:,.0f}/s")
    for workers, keep in RELAY_VARIANTS:
        variant = await relay_drain(db, redis_url, count, workers=workers, keep_published=keep)
        log(f"  outbox_relay variant: workers={workers} keep_published={keep}: "
            f"{count / variant.wall_s:,.0f}/s")
    return [ours, theirs]


def _one_run(scenario: str, contender: str, elapsed_ns: int, count: int) -> Sample:
    """A whole drain as one timed operation; ops/s counts the events it moved."""
    sample = Sample(scenario, contender, ops_override=count)
    sample.add(elapsed_ns)
    return sample


async def run_outbox(admin_url: str, redis_url: str, profile: Profile,
                     only: set[str] | None, log: Callable[[str], None] = print) -> list[Sample]:
    """Every outbox scenario `only` selects, in databases of their own (dropped after)."""
    wanted = [name for name in OUTBOX_SCENARIOS if only is None or name in only]
    if not wanted:
        return []
    samples: list[Sample] = []
    url = create_database(admin_url, prefix="pgkeel_bench_outbox")
    peer_url = create_database(admin_url, prefix="pgkeel_bench_procrastinate")
    try:
        async with Database(url, min_size=2, max_size=POOL_SIZE) as db:
            await outbox.install(db)
            if "outbox_add" in wanted:
                samples += await run_scenario(outbox_add(db), rounds=profile.rounds,
                                              block_s=profile.block_s, min_ops=profile.min_ops,
                                              max_ops=profile.max_ops, log=log)
            if "outbox_relay" in wanted:
                # As `pgkeel outbox relay` does at start-up, for both contenders alike: the
                # objects that exist now are left out of the collector's generations.
                gc.freeze()
                try:
                    samples += await _relay_scenario(db, redis_url, peer_url,
                                                     profile.outbox_events, log)
                finally:
                    gc.unfreeze()
    finally:
        drop_database(admin_url, url)
        drop_database(admin_url, peer_url)
    return samples

