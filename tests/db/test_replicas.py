"""Replica routing: reads marked as such go to a replica, fall back when it is down, and a
scope that has written reads its own writes from the primary."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from pgkeel.db import Database, use_context
from pgkeel.embedded._process import free_port
from pgkeel.testing import create_database, drop_database

WHICH = "SELECT current_database()"


@pytest.fixture
def replica_url(admin_url: str) -> Iterator[str]:
    """A second database standing in for a replica (a real streaming replica comes later)."""
    url = create_database(admin_url, prefix="pgkeel_replica")
    try:
        yield url
    finally:
        drop_database(admin_url, url)


def _name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


async def test_reads_marked_replica_go_to_the_replica(pgkeel_database_url, replica_url):
    async with Database(pgkeel_database_url, replica_urls=[replica_url], min_size=1) as db:
        assert await db.fetch_val(WHICH, replica=True) == _name(replica_url)
        assert await db.fetch_val(WHICH) == _name(pgkeel_database_url)
        async with db.transaction(replica=True) as tx:
            assert tx.readonly
            assert tx.pool_name == "replica1"


async def test_a_scope_that_wrote_reads_its_writes_from_the_primary(
        pgkeel_database_url, replica_url, pgkeel_schema):
    table = f'"{pgkeel_schema}".probe'
    async with Database(pgkeel_database_url, replica_urls=[replica_url], min_size=1) as db:
        await db.execute(f"CREATE TABLE {table} (x int)")  # type: ignore[arg-type]
        with use_context(request_id="r1"):
            assert await db.fetch_val(WHICH, replica=True) == _name(replica_url)
            assert await db.fetch_val("SELECT 1") == 1  # a read on the primary: no write
            assert await db.fetch_val(WHICH, replica=True) == _name(replica_url)
            await db.execute(f"INSERT INTO {table} VALUES (1)")  # type: ignore[arg-type]
            assert await db.fetch_val(WHICH, replica=True) == _name(pgkeel_database_url)
        with use_context(request_id="r2"):  # a new scope starts fresh
            assert await db.fetch_val(WHICH, replica=True) == _name(replica_url)


async def test_reads_fall_back_to_the_primary_when_the_replica_is_unreachable(
        pgkeel_database_url):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    async with Database(pgkeel_database_url, replica_urls=[dead], min_size=1,
                        connect_timeout_s=0.5) as db:
        assert await db.fetch_val(WHICH, replica=True) == _name(pgkeel_database_url)
        status = db.replica_status()
        assert status[0]["down"] is True
        # while marked down it is skipped without waiting
        assert await db.fetch_val(WHICH, replica=True) == _name(pgkeel_database_url)


async def test_a_replica_that_dies_mid_life_is_skipped(pgkeel_database_url, admin_url):
    replica = create_database(admin_url, prefix="pgkeel_replica")
    try:
        async with Database(pgkeel_database_url, replica_urls=[replica], min_size=1,
                            connect_timeout_s=0.5) as db:
            assert await db.fetch_val(WHICH, replica=True) == _name(replica)
            drop_database(admin_url, replica)  # terminates its connections too
            assert await db.fetch_val(WHICH, replica=True) == _name(pgkeel_database_url)
            assert db.replica_status()[0]["down"] is True
    finally:
        drop_database(admin_url, replica)
