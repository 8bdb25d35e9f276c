"""Cache fills never read a lagging replica: after a write commits and invalidates, a miss
that reads a replica still behind that write would cache the old row for the whole TTL. On a
real streaming standby with replay paused, the fill reads the primary."""

from __future__ import annotations

import secrets
import uuid

import psycopg
import pytest
from psycopg import sql

from pgkeel.cache import Cache, CacheOptions, MemoryBackend
from pgkeel.cache.keys import key
from pgkeel.db import Database, Transaction
from pgkeel.testing import StreamingReplica

pytestmark = pytest.mark.timeout(300)


async def test_a_fill_after_an_invalidation_reads_the_primary_not_a_lagging_replica(
        pgkeel_streaming_replica: StreamingReplica):
    pair = pgkeel_streaming_replica
    table = sql.Identifier(f"replica_fill_{secrets.token_hex(4)}")   # the primary may be shared
    select = sql.SQL("SELECT label FROM {} WHERE id = 1").format(table)
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, label text)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 'old')").format(table))
    try:
        pair.wait_caught_up()
        org = uuid.uuid4()
        k = key("items", 1, org=org)
        async with Database(pair.primary_url, replica_urls=[pair.standby_url], min_size=1,
                            replica_max_lag_s=3600) as db, \
                Cache(MemoryBackend(), CacheOptions(prefix="t:")) as cache:

            async def load() -> str:
                # The loader asks for a replica, as list endpoints do; a fill must not.
                return str(await db.fetch_val(select, replica=True))

            assert await cache.get_or_set(k, load) == "old"
            pair.pause_replay()
            try:
                async def write(tx: Transaction) -> None:
                    await tx.execute(sql.SQL("UPDATE {} SET label = 'new' WHERE id = 1")
                                     .format(table))
                    cache.invalidate_on_commit(tx, k)
                await db.run_in_tx(write)
                # The replica really is behind: a plain replica read still sees the old row.
                assert await db.fetch_val(select, replica=True) == "old"
                assert await cache.get_or_set(k, load) == "new"
                assert await cache.get(k) == "new"
            finally:
                pair.resume_replay()
    finally:
        with psycopg.connect(pair.primary_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
