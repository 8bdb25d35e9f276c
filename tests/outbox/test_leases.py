"""Claims: a dead or hung relay's claims come back; two live relays never share an event."""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
import pytest

from pgkeel import outbox
from pgkeel.db import Database
from pgkeel.outbox import InProcessSink, OutboxEvent, Relay, queries


async def _add(db: Database, n: int, keys: int = 0) -> None:
    async with db.transaction() as tx:
        await outbox.add_many(tx, [
            OutboxEvent("x", "t", i, payload={"n": i},
                        partition_key=f"k{i % keys}" if keys else None, ordered=keys > 0)
            for i in range(n)])


def _claim_and_hang(url: str, lease_ms: int) -> psycopg.Connection:
    """What a relay does before it publishes: lock a batch under a lease. Returns the open
    connection, whose transaction stays idle as if the relay had hung."""
    conn = psycopg.connect(url)
    conn.execute(queries.CLAIM_SETTINGS, (str(lease_ms),))
    rows = conn.execute(queries.CLAIM, {"limit": 4, "shards": 1, "shard": 0}).fetchall()
    assert len(rows) == 4
    return conn


async def test_a_dead_relays_claims_come_back_with_its_connection(
        db: Database, pgkeel_database_url: str) -> None:
    await _add(db, 10, keys=2)
    dying = await asyncio.to_thread(_claim_and_hang, pgkeel_database_url, 60_000)
    survivor = InProcessSink()
    relay = Relay(db, survivor, blocked_delay=0.01, listen=False)
    try:
        # The 4 locked events are the heads of both keys: nothing else may go before them.
        assert await relay.drain() == 0
    finally:
        dying.close()  # the relay process dies: its connection closes, its locks go
    for _ in range(100):
        await relay.drain()
        if len(survivor.messages) == 10:
            break
        await asyncio.sleep(0.01)
    assert sorted(m.payload["n"] for m in survivor.messages) == list(range(10))
    for key in ("k0", "k1"):
        ns = [m.payload["n"] for m in survivor.messages if m.partition_key == key]
        assert ns == sorted(ns)


async def test_a_hung_relay_loses_its_claims_after_the_lease(
        db: Database, pgkeel_database_url: str) -> None:
    await _add(db, 4)
    hung = await asyncio.to_thread(_claim_and_hang, pgkeel_database_url, 300)
    try:
        sink = InProcessSink()
        relay = Relay(db, sink, listen=False)
        assert await relay.drain() == 0
        await asyncio.sleep(0.6)  # the server ends the idle transaction after the lease
        assert await relay.drain() == 4
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            hung.execute("SELECT 1")
    finally:
        hung.close()


async def test_two_relays_at_once_never_publish_an_event_twice(db: Database) -> None:
    await _add(db, 2_000, keys=50)
    seen: Counter[str] = Counter()

    class CountingSink(InProcessSink):
        async def publish(self, messages):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.002)  # let the other relay's claim interleave
            seen.update(str(m.id) for m in messages)
            return await super().publish(messages)

    sinks = [CountingSink(), CountingSink()]
    relays = [Relay(db, sink, batch_size=200, blocked_delay=0.01, listen=False)
              for sink in sinks]

    async def work(relay: Relay) -> None:
        for _ in range(500):
            await relay.drain()
            if sum(len(s.messages) for s in sinks) >= 2_000:
                return
            await asyncio.sleep(0.005)

    await asyncio.gather(*(work(r) for r in relays))
    assert len(seen) == 2_000
    assert max(seen.values()) == 1
    assert all(s.messages for s in sinks), "both relays did work"
