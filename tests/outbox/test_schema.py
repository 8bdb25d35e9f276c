"""The outbox schema's upgrade: published events kept in the queue table by an older pgkeel
move to the archive, and every event stays visible through `outbox.events`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio

from pgkeel import outbox
from pgkeel.db import Database
from pgkeel.migrate import Migrator
from pgkeel.outbox import InProcessSink, OutboxEvent, Relay

OLD_ROWS = """
INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type, status,
                                  attempts, published_at, last_error)
SELECT gen_random_uuid(), 'thing', n::text, 'thing.done',
       CASE WHEN n <= 3 THEN 'published' WHEN n = 4 THEN 'dead' ELSE 'pending' END,
       CASE WHEN n <= 4 THEN 2 ELSE 0 END,
       CASE WHEN n <= 3 THEN now() - n * interval '1 day' END,
       CASE WHEN n = 1 THEN 'refused once' END
FROM generate_series(1, 6) AS n"""


@pytest_asyncio.fixture
async def fresh(scratch_database: str) -> AsyncIterator[Database]:
    """A database of its own: the upgrade runs on a schema at its first version."""
    async with Database(scratch_database, min_size=1, max_size=2) as db:
        yield db


async def test_upgrade_moves_published_rows_and_keeps_every_event_visible(
        fresh: Database) -> None:
    await Migrator(fresh, outbox.MIGRATIONS, schema=outbox.SCHEMA).up(target="1")
    await fresh.execute(OLD_ROWS)
    await outbox.install(fresh)

    queued = await fresh.fetch_all("SELECT aggregate_id, status FROM outbox.outbox_events"
                                   " ORDER BY seq")
    assert [(r["aggregate_id"], r["status"]) for r in queued] == [
        ("4", "dead"), ("5", "pending"), ("6", "pending")]
    archived = await fresh.fetch_all(
        "SELECT aggregate_id, attempts, last_error, published_at < now() AS past"
        " FROM outbox.outbox_published ORDER BY seq")
    assert [tuple(r.values()) for r in archived] == [
        ("1", 2, "refused once", True), ("2", 2, None, True), ("3", 2, None, True)]
    assert await fresh.fetch_val(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'outbox_events_published'") == 0
    every = await fresh.fetch_all("SELECT aggregate_id, status FROM outbox.events"
                                  " ORDER BY seq")
    assert [(r["aggregate_id"], r["status"]) for r in every] == [
        ("1", "published"), ("2", "published"), ("3", "published"), ("4", "dead"),
        ("5", "pending"), ("6", "pending")]
    stats = await outbox.stats(fresh)
    assert (stats.published, stats.pending, stats.dead) == (3, 2, 1)
    # Pruning reads the archive: the events published 2 and 3 days ago go.
    assert await outbox.prune(fresh, timedelta(hours=36), batch_size=1) == 2
    assert (await outbox.stats(fresh)).published == 1


async def test_a_published_event_moves_whole(fresh: Database) -> None:
    await outbox.install(fresh)
    async with fresh.transaction() as tx:
        [event_id] = await outbox.add_many(tx, [OutboxEvent(
            "thing.done", "thing", "7", payload={"n": 7}, headers={"h": "v"},
            partition_key="k", priority=3, max_attempts=4)])
    before = await fresh.fetch_one("SELECT * FROM outbox.outbox_events")
    assert before is not None
    assert await Relay(fresh, InProcessSink(), listen=False).drain() == 1
    after = await fresh.fetch_one("SELECT * FROM outbox.outbox_published")
    assert after is not None and after["id"] == event_id
    unchanged = set(before) - {"status", "attempts", "next_attempt_at", "published_at"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert after["attempts"] == 1 and after["published_at"] >= before["created_at"]
    assert await fresh.fetch_val("SELECT count(*) FROM outbox.outbox_events") == 0
