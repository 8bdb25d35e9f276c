"""The Redis Streams sink on a real Redis: fields, ordering, trimming, a Redis that is down."""

from __future__ import annotations

import asyncio

import pytest
from redis._parsers import _AsyncRESP2Parser
from redis.asyncio import Redis

from pgkeel import outbox
from pgkeel.db import Database, use_context
from pgkeel.embedded._process import free_port
from pgkeel.outbox import Backoff, OutboxEvent, RedisStreamSink, Relay, decode_entry


@pytest.mark.smoke
async def test_events_reach_the_stream_with_their_id(db: Database, pgkeel_redis: Redis,
                                                     stream: str) -> None:
    with use_context(org_id="org-7"):
        async with db.transaction() as tx:
            ids = await outbox.add_many(tx, [
                OutboxEvent("user.created", "user", i, payload={"n": i},
                            headers={"trace": "t1"}) for i in range(5)])
    sink = RedisStreamSink(pgkeel_redis, stream=stream)
    # One worker, one batch: the stream holds the events in the order they were added.
    assert await Relay(db, sink, listen=False, workers=1).drain() == 5
    entries = await pgkeel_redis.xrange(stream)
    messages = [decode_entry(fields) for _, fields in entries]
    assert [m.id for m in messages] == ids
    first = messages[0]
    assert (first.event_type, first.aggregate_type, first.aggregate_id, first.org_id,
            first.partition_key, dict(first.payload), dict(first.headers)) == (
        "user.created", "user", "0", "org-7", "user:0", {"n": 0}, {"trace": "t1"})
    assert first.created_at is not None


async def test_stream_name_template_and_trim(db: Database, pgkeel_redis: Redis,
                                             stream: str) -> None:
    async with db.transaction() as tx:
        await outbox.add_many(tx, [OutboxEvent("a.x", "alpha", i) for i in range(300)]
                              + [OutboxEvent("b.x", "beta", 1)])
    sink = RedisStreamSink(pgkeel_redis, stream=stream + ":{aggregate_type}", maxlen=100)
    try:
        assert await Relay(db, sink, batch_size=50, listen=False).drain() == 301
        # Approximate trimming keeps at least maxlen entries and drops whole nodes.
        assert 100 <= await pgkeel_redis.xlen(stream + ":alpha") < 300
        assert await pgkeel_redis.xlen(stream + ":beta") == 1
    finally:
        await pgkeel_redis.delete(stream + ":alpha", stream + ":beta")


@pytest.mark.parametrize("reader", ["hiredis", "python"])
async def test_wrong_type_key_fails_only_its_events(db: Database, pgkeel_redis: Redis,
                                                    stream: str, reader: str) -> None:
    """Every reply is matched to its command, with redis-py's hiredis reader (read directly)
    and with its pure-Python parser alike."""
    client = pgkeel_redis
    if reader == "python":
        pool = pgkeel_redis.connection_pool
        client = Redis(connection_pool=type(pool)(
            connection_class=pool.connection_class,
            **{**pool.connection_kwargs, "parser_class": _AsyncRESP2Parser}))
    await pgkeel_redis.set(stream + ":bad", "not a stream")
    async with db.transaction() as tx:
        await outbox.add_many(tx, [OutboxEvent("x", "good", i) for i in range(3)]
                              + [OutboxEvent("x", "bad", 1)]
                              + [OutboxEvent("x", "good", i) for i in range(3, 5)])
    sink = RedisStreamSink(client, stream=stream + ":{aggregate_type}")
    try:
        relay = Relay(db, sink, backoff=Backoff(3600, 3600), listen=False)
        assert await relay.drain() == 5
        assert await pgkeel_redis.xlen(stream + ":good") == 5
        row = await db.fetch_one("SELECT status, attempts, last_error FROM outbox.outbox_events"
                                 " WHERE aggregate_type = 'bad'")
        assert row is not None and row["status"] == "pending" and row["attempts"] == 1
        assert "WRONGTYPE" in row["last_error"]
        assert await client.ping()  # the connection is still in step with its replies
    finally:
        await pgkeel_redis.delete(stream + ":bad", stream + ":good")
        if client is not pgkeel_redis:
            await client.aclose()
            await client.connection_pool.disconnect()


async def test_redis_down_backs_off_then_dead_letter_then_replay(
        db: Database, pgkeel_redis: Redis, stream: str) -> None:
    async with db.transaction() as tx:
        ids = await outbox.add_many(tx, [OutboxEvent("x", "t", i, max_attempts=2)
                                         for i in range(3)])
    down = RedisStreamSink.from_url(f"redis://127.0.0.1:{free_port()}/0", stream=stream,
                                    timeout_s=0.2)
    relay = Relay(db, down, backoff=Backoff(0.01, 0.01), listen=False)
    try:
        for _ in range(20):
            await relay.step()
            await asyncio.sleep(0.02)
            if len(await outbox.dead_events(db)) == 3:
                break
    finally:
        await down.close()
    dead = await outbox.dead_events(db)
    assert sorted(d.id for d in dead) == sorted(ids)
    assert all("Connection" in (d.last_error or "") for d in dead)
    assert await pgkeel_redis.xlen(stream) == 0

    await outbox.replay(db, all_dead=True)
    up = RedisStreamSink(pgkeel_redis, stream=stream)
    # One worker: events without a partition key keep their order only within one batch.
    assert await Relay(db, up, listen=False, workers=1).drain() == 3
    assert [decode_entry(f).id for _, f in await pgkeel_redis.xrange(stream)] == ids


async def test_a_push_message_among_the_replies_is_not_taken_for_one(
        db: Database, pgkeel_redis_url: str, stream: str) -> None:
    """On RESP3, a connection that tracks keys gets an invalidation push when a batch writes
    to a stream it read: the push goes to the parser's handler, every reply to its command."""
    client = Redis.from_url(pgkeel_redis_url, protocol=3, max_connections=1)
    try:
        assert await client.execute_command("CLIENT", "TRACKING", "ON")
        await client.xadd(stream, {"seed": "1"})
        await client.xlen(stream)  # tracked: the next write to the stream invalidates it
        async with db.transaction() as tx:
            await outbox.add_many(tx, [OutboxEvent("x", "t", i) for i in range(5)])
        # One worker: the client has one connection, the one that tracks the stream.
        relay = Relay(db, RedisStreamSink(client, stream=stream), listen=False, workers=1)
        assert await relay.drain() == 5
        assert await client.xlen(stream) == 6
        assert await client.ping()  # the connection is still in step with its replies
    finally:
        await client.delete(stream)
        await client.aclose()
