"""The long-running relay: woken by local commits and by NOTIFY, stopped cleanly."""

from __future__ import annotations

import asyncio
import uuid

from pgkeel import outbox
from pgkeel.db import Database
from pgkeel.outbox import InProcessSink, OutboxEvent, Relay

SLOW_POLL = 60.0  # far longer than the test waits: only a wake-up explains a publish


async def _until(condition: object, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def test_a_commit_in_this_process_wakes_the_relay(db: Database) -> None:
    sink = InProcessSink()
    relay = Relay(db, sink, poll_interval=SLOW_POLL, listen=False)
    async with outbox.run_relay(relay):
        await asyncio.sleep(0.2)  # the relay has looked once and is waiting
        async with db.transaction() as tx:
            await outbox.add(tx, OutboxEvent("x", "t", 1))
        await _until(lambda: len(sink.messages) == 1)
    assert sink.closed


async def test_notify_wakes_a_listening_relay(db: Database) -> None:
    sink = InProcessSink()
    relay = Relay(db, sink, poll_interval=SLOW_POLL, listen=True)
    async with outbox.run_relay(relay):
        await asyncio.sleep(0.5)  # listening by now
        # Written without outbox.add (as another process would): no in-process hint.
        await db.execute("INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id,"
                         " event_type) VALUES (%s, 't', '1', 'x')", (uuid.uuid4(),))
        await outbox.notify(db)
        await _until(lambda: len(sink.messages) == 1)


async def test_run_stops_when_asked_and_survives_a_failing_sink(db: Database) -> None:
    async with db.transaction() as tx:
        await outbox.add(tx, OutboxEvent("x", "t", 1))
    sink = InProcessSink(fail_batches=2)
    relay = Relay(db, sink, poll_interval=0.05, backoff=outbox.Backoff(0.01, 0.01),
                  listen=False)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await _until(lambda: len(sink.messages) == 1)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert sink.calls == 3
