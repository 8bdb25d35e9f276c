"""A relay process SIGKILLed at random moments while it relays 100,000 events: every event
reaches the Redis stream, an inbox consumer sees each exactly once, per-key order holds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import redis

from pgkeel import outbox
from pgkeel.db import Database, Transaction
from pgkeel.outbox import Inbox

EVENTS = 100_000
KEYS = 1_000
KILLS = 5

# Keys k0..k999 interleaved, so each key's events are spread over the whole backlog. A key's
# order is its events' `seq` order.
BULK_INSERT = """
INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type, payload,
                                  partition_key)
SELECT gen_random_uuid(), 'thing', n::text, 'thing.happened', jsonb_build_object('n', n),
       'k' || (n %% %s)
FROM generate_series(0, %s - 1) AS n
ORDER BY n"""


class RelayProcess:
    """`python -m pgkeel outbox relay` with its output in a file."""

    def __init__(self, env: dict[str, str]) -> None:
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pgkeel", "outbox", "relay"], env=env,
            stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def relay_env(pgkeel_database_url: str, pgkeel_redis_url: str, stream: str
              ) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": pgkeel_database_url, "REDIS_URL": pgkeel_redis_url,
           "OUTBOX_STREAM": stream, "OUTBOX_BATCH_SIZE": "5000", "OUTBOX_LISTEN": "false",
           "OUTBOX_POLL_INTERVAL_S": "0.1", "APP_ENV": "test"}


def _wait_for_progress(client: redis.Redis, stream: str, since: int, proc: RelayProcess,
                       timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.xlen(stream) <= since:
        assert proc.process.poll() is None, proc.output()
        assert time.monotonic() < deadline, "the relay published nothing"
        time.sleep(0.005)


@pytest.mark.timeout(300)  # 100,000 events through five SIGKILLs: 60-105 s on a busy machine
async def test_relay_killed_at_random_delivers_everything_once_in_order(
        db: Database, pgkeel_redis_url: str, stream: str, relay_env: dict[str, str]) -> None:
    await db.execute(BULK_INSERT, (KEYS, EVENTS))
    seq_of = dict(await db.fetch_all("SELECT id::text, seq FROM outbox.outbox_events",
                                     row_factory=lambda _: tuple))
    expected = set(seq_of)
    assert len(expected) == EVENTS
    client = redis.Redis.from_url(pgkeel_redis_url)
    rng = random.Random()
    kills = 0
    try:
        while kills < KILLS:
            proc = RelayProcess(relay_env)
            try:
                # A random moment mid-relay, chosen by progress rather than by time (a fast
                # host drains the whole backlog in about a second): once a random part of a
                # fair share of what is left has reached the stream.
                left = EVENTS - (await outbox.stats(db)).published
                target = client.xlen(stream) + rng.randint(1, max(1, left // (KILLS - kills + 1)))
                _wait_for_progress(client, stream, target - 1, proc)
                assert (await outbox.stats(db)).published < EVENTS, "killed mid-relay"
                proc.process.send_signal(signal.SIGKILL)
                proc.process.wait(timeout=10)
                kills += 1
            finally:
                proc.close()
        proc = RelayProcess(relay_env)
        try:
            deadline = time.monotonic() + 120
            while (await outbox.stats(db)).published < EVENTS:
                assert proc.process.poll() is None, proc.output()
                assert time.monotonic() < deadline, "the relay did not finish"
                time.sleep(0.1)
            proc.process.send_signal(signal.SIGTERM)
            assert proc.process.wait(timeout=30) == 0, proc.output()
        finally:
            proc.close()

        entries = _read_stream(client, stream)
    finally:
        client.close()

    delivered = [event_id for event_id, _ in entries]
    assert set(delivered) == expected, "every event reached the stream"
    assert len(delivered) >= EVENTS

    # A deduplicating consumer reads the stream in order: each event is handled exactly once,
    # and the events it handles keep each key's order.
    inbox = Inbox(db, "reliability-test")
    handled: list[uuid.UUID] = []

    async def handler(tx: Transaction, fresh: list[uuid.UUID]) -> None:
        handled.extend(fresh)

    first_seen: set[str] = set()
    last_seq: dict[str, int] = {}
    for start in range(0, len(entries), 10_000):
        chunk = entries[start:start + 10_000]
        await inbox.handle_many([uuid.UUID(event_id) for event_id, _ in chunk], handler)
        for event_id, key in chunk:
            if event_id in first_seen:
                continue
            first_seen.add(event_id)
            seq = seq_of[event_id]
            assert seq > last_seq.get(key, -1), f"key {key}: {event_id} overtook an earlier event"
            last_seq[key] = seq
    assert len(handled) == EVENTS and len(set(handled)) == EVENTS
    assert await db.fetch_val(
        "SELECT count(*) FROM outbox.inbox WHERE consumer = 'reliability-test'") == EVENTS


def _read_stream(client: redis.Redis, stream: str) -> list[tuple[str, str]]:
    """(event id, partition key) of every stream entry, in stream order."""
    entries: list[tuple[str, str]] = []
    start = "-"
    while True:
        page = client.xrange(stream, min=start, count=20_000)
        if not page:
            return entries
        for _, fields in page:
            entries.append((fields[b"id"].decode(), fields[b"key"].decode()))
        last = page[-1][0].decode()
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"
