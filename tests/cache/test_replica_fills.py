"""Cache fills never read a lagging replica: after a write commits and invalidates, a miss
that reads a replica still behind that write would cache the old row for the whole TTL. On a
real streaming standby with replay paused, the fill reads the primary."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from pgkeel.cache import Cache, CacheOptions, MemoryBackend
from pgkeel.cache.keys import key
from pgkeel.db import Database, Transaction
from pgkeel.testing import StreamingReplica

pytestmark = pytest.mark.timeout(300)


async def test_a_fill_after_an_invalidation_reads_the_primary_not_a_lagging_replica(
        pgkeel_streaming_replica: StreamingReplica):
    pair = pgkeel_streaming_replica
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, label text)")
        conn.execute("INSERT INTO items VALUES (1, 'old') "
                     "ON CONFLICT (id) DO UPDATE SET label = 'old'")
    pair.wait_caught_up()
    org = uuid.uuid4()
    k = key("items", 1, org=org)
    async with Database(pair.primary_url, replica_urls=[pair.standby_url], min_size=1,
                        replica_max_lag_s=3600) as db, \
            Cache(MemoryBackend(), CacheOptions(prefix="t:")) as cache:

        async def load() -> str:
            # The loader asks for a replica, as list endpoints do; a fill must not get one.
            return str(await db.fetch_val("SELECT label FROM items WHERE id = 1",
                                          replica=True))

        assert await cache.get_or_set(k, load) == "old"
        pair.pause_replay()
        try:
            async def write(tx: Transaction) -> None:
                await tx.execute("UPDATE items SET label = 'new' WHERE id = 1")
                cache.invalidate_on_commit(tx, k)
            await db.run_in_tx(write)
            # The replica really is behind: a plain replica read still sees the old row.
            assert await db.fetch_val("SELECT label FROM items WHERE id = 1",
                                      replica=True) == "old"
            assert await cache.get_or_set(k, load) == "new"
            assert await cache.get(k) == "new"
        finally:
            pair.resume_replay()
