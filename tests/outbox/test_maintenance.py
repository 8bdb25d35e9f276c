"""Pruning published events, stats, and the inbox."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from pgkeel import outbox
from pgkeel.db import Database, Transaction
from pgkeel.outbox import Inbox, InProcessSink, OutboxEvent, Relay


async def test_prune_deletes_only_old_published_rows(db: Database) -> None:
    async with db.transaction() as tx:
        await outbox.add_many(tx, [OutboxEvent("x", "t", i) for i in range(25)])
    await Relay(db, InProcessSink(), batch_size=20, listen=False).drain()
    async with db.transaction() as tx:
        await outbox.add_many(tx, [OutboxEvent("x", "t", i) for i in range(5)])
    await db.execute("UPDATE outbox.outbox_published SET published_at = now() - interval '2 days'"
                     " WHERE aggregate_id::int < 20")
    assert await outbox.prune(db, timedelta(days=1), batch_size=3) == 20
    stats = await outbox.stats(db)
    assert (stats.published, stats.pending) == (5, 5)
    assert stats.oldest_pending_age_s >= 0


@pytest.mark.smoke
async def test_inbox_runs_each_event_once(db: Database) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS public.inbox_effects (event_id uuid)")
    await db.execute("TRUNCATE public.inbox_effects")
    inbox = Inbox(db, "mailer")
    event = uuid.uuid4()

    async def handler(tx: Transaction) -> str:
        await tx.execute("INSERT INTO public.inbox_effects VALUES (%s)", (event,))
        return "sent"

    results = await asyncio.gather(*(inbox.handle(event, handler) for _ in range(5)))
    assert sorted(results, key=lambda r: r[0]) == [(False, None)] * 4 + [(True, "sent")]
    assert await inbox.seen(event)
    assert not await Inbox(db, "other").seen(event)
    assert await db.fetch_val("SELECT count(*) FROM public.inbox_effects") == 1


async def test_a_failed_handler_records_nothing(db: Database) -> None:
    inbox = Inbox(db, "c")
    event = uuid.uuid4()

    async def boom(tx: Transaction) -> None:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await inbox.handle(event, boom)
    assert not await inbox.seen(event)
    assert (await inbox.handle(event, _noop))[0] is True


async def test_handle_many_passes_only_new_ids_and_prune(db: Database) -> None:
    inbox = Inbox(db, "batch")
    ids = [uuid.uuid4() for _ in range(10)]
    got: list[list[uuid.UUID]] = []

    async def handler(tx: Transaction, fresh: list[uuid.UUID]) -> None:
        got.append(fresh)

    assert sorted(await inbox.handle_many(ids[:6], handler)) == sorted(ids[:6])
    assert sorted(await inbox.handle_many(ids, handler)) == sorted(ids[6:])
    assert await inbox.handle_many(ids, handler) == []
    assert len(got) == 2
    await db.execute("UPDATE outbox.inbox SET processed_at = now() - interval '3 days'"
                     " WHERE event_id = ANY(%s)", (ids[:4],))
    assert await inbox.prune(timedelta(days=1), batch_size=3) == 4


async def _noop(tx: Transaction) -> Any:
    return None


async def test_metrics_count_published_retried_dead_and_the_backlog(db: Database) -> None:
    from pgkeel.observe.metrics import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {name: value(name, sink="memory") for name in (
        "pgkeel_outbox_published_total", "pgkeel_outbox_retried_total",
        "pgkeel_outbox_dead_lettered_total")}
    async with db.transaction() as tx:
        await outbox.add_many(tx, [OutboxEvent("x", "t", i, max_attempts=1 if i == 0 else 5)
                                   for i in range(4)])
    relay = Relay(db, InProcessSink(refuse=lambda m: m.aggregate_id in ("0", "1")),
                  backoff=outbox.Backoff(3600, 3600), listen=False)
    await relay.refresh_metrics()
    assert value("pgkeel_outbox_pending") == 4
    assert await relay.drain() == 2
    after = {name: value(name, sink="memory") - count for name, count in before.items()}
    assert after == {"pgkeel_outbox_published_total": 2, "pgkeel_outbox_retried_total": 1,
                     "pgkeel_outbox_dead_lettered_total": 1}
    await relay.refresh_metrics()
    assert value("pgkeel_outbox_pending") == 1  # the one backing off; the dead one is out
    assert value("pgkeel_outbox_oldest_pending_age_seconds") >= 0
