"""The relay: order by priority and due time, per-key order, retries, dead letters, replay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pgkeel import outbox
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import UsageError
from pgkeel.outbox import Backoff, InProcessSink, OutboxEvent, OutboxMessage, Relay

FAST = Backoff(base_s=0.001, cap_s=0.001)


def _event(n: int, key: str | None = None, **kwargs: object) -> OutboxEvent:
    return OutboxEvent("thing.happened", "thing", n, payload={"n": n},  # type: ignore[arg-type]
                       partition_key=key, ordered=key is not None, **kwargs)


async def _add(db: Database, events: list[OutboxEvent]) -> list[uuid.UUID]:
    async with db.transaction() as tx:
        return await outbox.add_many(tx, events)


def _ns(sink: InProcessSink) -> list[int]:
    return [int(m.payload["n"]) for m in sink.messages]


@pytest.mark.smoke
async def test_drain_publishes_everything_once_and_marks_it(db: Database) -> None:
    ids = await _add(db, [_event(i, key=f"k{i % 3}") for i in range(30)])
    sink = InProcessSink()
    assert await Relay(db, sink, batch_size=7, listen=False).drain() == 30
    assert sorted(sink.ids) == sorted(map(str, ids))
    assert await db.fetch_val(
        "SELECT count(*) FROM outbox.outbox_published"
        " WHERE published_at IS NOT NULL AND attempts = 1") == 30
    assert await db.fetch_val("SELECT count(*) FROM outbox.outbox_events") == 0
    assert await Relay(db, sink, listen=False).drain() == 0


async def test_priority_then_due_time(db: Database) -> None:
    now = datetime.now(UTC)
    await _add(db, [
        _event(1, available_at=now - timedelta(seconds=10)),
        _event(2, priority=5),
        _event(3, available_at=now - timedelta(seconds=20)),
        _event(4, priority=10),
        _event(5, available_at=now + timedelta(hours=1)),
    ])
    sink = InProcessSink()
    # One worker: priority orders a worker's claims; two workers publish side by side.
    assert await Relay(db, sink, batch_size=1, listen=False, workers=1).drain() == 4
    assert _ns(sink) == [4, 2, 3, 1]


async def test_per_key_order_holds_across_batches_and_failures(db: Database) -> None:
    # Keys a and b interleaved; every third delivery attempt of key a fails once.
    await _add(db, [_event(i, key="ab"[i % 2]) for i in range(40)])
    refused: set[str] = set()

    def refuse(message: OutboxMessage) -> bool:
        n = int(message.payload["n"])
        if message.partition_key == "a" and n % 3 == 0 and str(message.id) not in refused:
            refused.add(str(message.id))
            return True
        return False

    sink = InProcessSink(refuse=refuse)
    relay = Relay(db, sink, batch_size=8, backoff=FAST, blocked_delay=0.001, listen=False)
    published = 0
    for _ in range(200):
        published += await relay.drain()
        if published == 40:
            break
    assert published == 40
    for key in "ab":
        ns = [int(m.payload["n"]) for m in sink.messages if m.partition_key == key]
        assert ns == sorted(ns) and len(ns) == 20
    assert refused


async def test_a_key_waits_for_its_head_other_keys_go_on(db: Database) -> None:
    await _add(db, [_event(0, key="slow"), _event(1, key="slow"), _event(2, key="fast"),
                    _event(3, key="fast")])
    sink = InProcessSink(refuse=lambda m: m.payload["n"] == 0)
    relay = Relay(db, sink, backoff=Backoff(base_s=3600, cap_s=3600), listen=False)
    assert await relay.drain() == 2
    assert _ns(sink) == [2, 3]
    row = await db.fetch_one(
        "SELECT attempts, status, next_attempt_at > now() AS later FROM outbox.outbox_events"
        " WHERE payload->>'n' = '1'")
    assert row == {"attempts": 0, "status": "pending", "later": True}


async def test_broker_down_then_dead_letter_then_replay_delivers(db: Database) -> None:
    ids = await _add(db, [_event(0, key="k", max_attempts=3), _event(1, key="k"),
                          _event(2, max_attempts=100)])
    down = InProcessSink(fail_batches=1_000)
    relay = Relay(db, down, backoff=FAST, blocked_delay=0.001, listen=False)
    for _ in range(50):
        await relay.step()
        await asyncio.sleep(0.005)
        if await outbox.dead_events(db):
            break
    assert down.messages == []
    dead = await outbox.dead_events(db)
    assert [d.id for d in dead] == [ids[0]]
    assert dead[0].attempts == 3 and "ConnectionError" in (dead[0].last_error or "")
    stats = await outbox.stats(db)
    assert (stats.dead, stats.parked) == (1, 1)
    assert stats.pending == 2  # the follower (parked) and the keyless event (backing off)

    up = InProcessSink()
    relay = Relay(db, up, backoff=FAST, listen=False)
    assert await outbox.replay(db, [ids[0]]) == [ids[0]]
    published = 0
    for _ in range(50):
        published += await relay.drain()
        if published == 3:
            break
    assert sorted(up.ids) == sorted(map(str, ids))
    assert [m.payload["n"] for m in up.messages if m.partition_key == "k"] == [0, 1]
    assert (await outbox.stats(db)).dead == 0


async def test_replay_all_and_unknown_ids(db: Database) -> None:
    from pgkeel.errors import OutboxEventNotFound

    await _add(db, [_event(i, max_attempts=1) for i in range(3)])
    await Relay(db, InProcessSink(refuse=lambda m: True), listen=False).drain()
    assert len(await outbox.dead_events(db)) == 3
    with pytest.raises(OutboxEventNotFound):
        await outbox.replay(db, [uuid.uuid4()])
    assert len(await outbox.replay(db, all_dead=True)) == 3
    sink = InProcessSink()
    assert await Relay(db, sink, listen=False).drain() == 3


async def test_a_batch_of_only_blocked_events_does_not_end_the_drain(db: Database) -> None:
    ids = await _add(db, [_event(0, key="a"), _event(1, key="a"), _event(2, key="a"),
                          _event(3)])
    await db.execute("UPDATE outbox.outbox_events SET status = 'dead' WHERE id = %s",
                     (ids[0],))
    sink = InProcessSink()
    assert await Relay(db, sink, batch_size=2, listen=False).drain() == 1
    assert _ns(sink) == [3]
    assert (await outbox.stats(db)).parked == 2


async def test_a_gap_inside_a_keys_candidates_holds_the_rest_back(db: Database) -> None:
    # Priority lets the key's 1st and 3rd events into one batch without the 2nd: the 3rd must
    # wait for the 2nd, however the claim ranks them.
    await _add(db, [_event(1, key="k", priority=5), _event(2, key="k"),
                    _event(3, key="k", priority=5)])
    sink = InProcessSink()
    relay = Relay(db, sink, batch_size=2, blocked_delay=0.0, listen=False)
    await relay.drain()
    assert _ns(sink) == [1, 2, 3]


async def test_workers_keep_each_keys_order_and_publish_everything_once(db: Database) -> None:
    """Several batches in flight at once, keyed events and events without a key: no key is
    published out of order, and a drain ends with everything sent once."""
    ids = await _add(db, [_event(i, key=f"k{i % 7}") for i in range(140)]
                     + [_event(1000 + i) for i in range(20)])
    sink = InProcessSink()
    relay = Relay(db, sink, batch_size=6, listen=False, workers=4, blocked_delay=0.01)
    assert await relay.drain() == 160
    assert sorted(sink.ids) == sorted(map(str, ids))
    for key in range(7):
        sent = [n for n in _ns(sink) if n < 1000 and n % 7 == key]
        assert sent == sorted(sent), f"key k{key} out of order"


async def test_workers_split_the_keys_so_none_waits_behind_another(db: Database) -> None:
    """A deep backlog of interleaved keys: each worker claims its own share of the keys, so
    no event is pushed back behind a head another worker holds (a push-back here would wait
    out the minute-long delay and miss the deadline)."""
    ids = await _add(db, [_event(i, key=f"d{i % 40}") for i in range(800)])
    sink = InProcessSink()
    relay = Relay(db, sink, batch_size=50, listen=False, workers=3, blocked_delay=60.0)
    assert await asyncio.wait_for(relay.drain(), timeout=30) == 800
    assert sorted(sink.ids) == sorted(map(str, ids))
    for key in range(40):
        sent = [n for n in _ns(sink) if n % 40 == key]
        assert sent == sorted(sent) and len(sent) == 20, f"key d{key}"
    assert await db.fetch_val("SELECT count(*) FROM outbox.outbox_events"
                              " WHERE next_attempt_at > now()") == 0


async def test_run_with_workers_stops_cleanly(db: Database) -> None:
    await _add(db, [_event(i, key=f"r{i % 3}") for i in range(30)])
    sink = InProcessSink()
    relay = Relay(db, sink, batch_size=4, listen=False, workers=3, blocked_delay=0.01,
                  poll_interval=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    for _ in range(500):
        if len(sink.messages) >= 30:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert len(sink.messages) == 30 and len(set(sink.ids)) == 30


async def test_without_retention_published_events_are_deleted_failed_ones_kept(
        db: Database) -> None:
    """keep_published=False: an acknowledged event's row goes at once; a refused one stays
    to be retried, and the key's later events wait behind it as usual."""
    await _add(db, [_event(1, key="a"), _event(2, key="a"), _event(3, key="b"), _event(4)])
    sink = InProcessSink(refuse=lambda m: m.payload["n"] == 1)
    relay = Relay(db, sink, listen=False, keep_published=False, backoff=Backoff(3600, 3600))
    assert await relay.drain() == 2
    assert sorted(_ns(sink)) == [3, 4]
    rows = await db.fetch_all("SELECT payload->>'n' AS n, status, attempts"
                              " FROM outbox.outbox_events ORDER BY seq")
    assert [(r["n"], r["status"], r["attempts"]) for r in rows] == [
        ("1", "pending", 1), ("2", "pending", 0)]
    assert (await outbox.stats(db)).published == 0


def test_zero_retention_setting_means_nothing_published_is_kept(db: Database) -> None:
    settings = Settings(outbox_retention_s=0)
    assert not Relay.from_settings(db, InProcessSink(), settings).keep_published
    assert Relay.from_settings(db, InProcessSink(), Settings()).keep_published


def test_workers_must_be_positive(db: Database) -> None:
    with pytest.raises(UsageError, match="workers"):
        Relay(db, InProcessSink(), workers=0)


async def test_a_sink_sees_decoded_messages(db: Database) -> None:
    """Claimed events carry their id and payload as text; a sink reads a UUID and a decoded
    payload, and may copy a message with `dataclasses.replace`."""
    import dataclasses

    [event_id] = await _add(db, [OutboxEvent("thing.happened", "thing", 7,
                                             payload={"n": 7, "tags": ["a", "é"]},
                                             headers={"trace": "t1"})])
    sink = InProcessSink()
    assert await Relay(db, sink, listen=False).drain() == 1
    [message] = sink.messages
    assert isinstance(message, OutboxMessage)
    assert message.id == event_id and isinstance(message.id, uuid.UUID)
    assert message.payload == {"n": 7, "tags": ["a", "é"]}
    assert dict(message.headers) == {"trace": "t1"}
    assert (message.event_type, message.aggregate_type, message.aggregate_id,
            message.partition_key, message.attempts) == (
        "thing.happened", "thing", "7", "thing:7", 1)
    assert message.created_at is not None and message.created_at.tzinfo is not None
    copy = dataclasses.replace(message, attempts=9)
    assert (copy.id, copy.payload, copy.attempts) == (event_id, message.payload, 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.payload = {}  # type: ignore[misc]
