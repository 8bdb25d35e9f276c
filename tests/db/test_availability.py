"""Outages: an unreachable server fails fast, and the same Database recovers after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgkeel.db import Database
from pgkeel.embedded import EmbeddedPostgres
from pgkeel.embedded._process import free_port
from pgkeel.errors import DatabaseUnavailable


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL of this module's own, so stopping it disturbs no other test."""
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg-restart")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_unreachable_server_is_unavailable_within_the_connect_timeout():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    db = Database(url, connect_timeout_s=1.0, pool_timeout_s=30.0, min_size=1)
    await db.open(wait=False)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as info:
            await db.fetch_val("SELECT 1")
        # Not the 30 s pool timeout: the outage is recognised after the connect timeout.
        assert time.monotonic() - started < 15
        assert info.value.code == "database_unavailable"
        with pytest.raises(DatabaseUnavailable):
            await db.ping()
    finally:
        await db.close()


async def test_open_fails_fast_when_the_server_is_down():
    db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout_s=1.0)
    with pytest.raises(DatabaseUnavailable):
        await db.open()
    await db.close()


async def _until_it_answers(db: Database, within_s: float) -> int:
    deadline = time.monotonic() + within_s
    failures = 0
    while True:
        try:
            return int(await db.fetch_val("SELECT 7"))
        except DatabaseUnavailable:
            failures += 1
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_same_database_object_recovers_after_server_restart(own_server: EmbeddedPostgres):
    db = Database(own_server.url(), min_size=2, max_size=4, connect_timeout_s=1.0,
                  pool_timeout_s=5.0, reconnect_timeout_s=2.0)
    async with db:
        assert await db.fetch_val("SELECT 7") == 7
        await asyncio.to_thread(own_server.stop)
        with pytest.raises(DatabaseUnavailable):
            await db.fetch_val("SELECT 7")
        with pytest.raises(DatabaseUnavailable):  # still down: fast, clear, repeatable
            await db.fetch_val("SELECT 7")
        await asyncio.to_thread(own_server.start)
        assert await _until_it_answers(db, within_s=30) == 7
        # and stays healthy: every pooled connection works
        assert await asyncio.gather(*[db.fetch_val("SELECT 7") for _ in range(8)]) == [7] * 8
