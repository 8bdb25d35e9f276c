"""Outbox fixtures: the session's database with the outbox installed and emptied per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from pgkeel import outbox
from pgkeel.db import Database


@pytest_asyncio.fixture
async def db(pgkeel_db: Database) -> AsyncIterator[Database]:
    """`pgkeel_db` with the outbox schema installed and its tables empty."""
    await outbox.install(pgkeel_db)
    await pgkeel_db.execute("TRUNCATE outbox.outbox_events, outbox.outbox_published, outbox.inbox")
    yield pgkeel_db


@pytest_asyncio.fixture
async def stream(pgkeel_redis: Redis, pgkeel_redis_prefix: str) -> AsyncIterator[str]:
    """A Redis stream name of this test's own (deleted afterwards)."""
    import secrets

    name = f"{pgkeel_redis_prefix}outbox:{secrets.token_hex(4)}"
    yield name
    await pgkeel_redis.delete(name)
