"""Ops fixtures: the session's database with the ops schema installed, settings with chosen
thresholds, and helper connections a test uses to make a check fire for real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from pgkeel import ops
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.testing.databases import create_database, drop_database


@pytest_asyncio.fixture
async def db(pgkeel_db: Database) -> AsyncIterator[Database]:
    """`pgkeel_db` with the ops schema installed."""
    await ops.install(pgkeel_db)
    yield pgkeel_db


@pytest.fixture
def settings_with(pgkeel_settings: Settings) -> Callable[..., Settings]:
    """`settings_with(ops_idle_in_transaction_warn_s=0, ...)`: the session's settings with
    some thresholds changed."""
    def make(**changes: Any) -> Settings:
        return pgkeel_settings.model_copy(update=changes)
    return make


@pytest_asyncio.fixture
async def aconn(pgkeel_database_url: str) -> AsyncIterator[Callable[[], Any]]:
    """Opens extra autocommit connections on the session's database; all closed at the end."""
    opened: list[psycopg.AsyncConnection[Any]] = []

    async def connect() -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(pgkeel_database_url, autocommit=True)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await conn.close()


@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    """A database of this test's own, empty (no ops or outbox schema), dropped afterwards."""
    url = create_database(admin_url, prefix="pgkeel_ops")
    try:
        yield url
    finally:
        drop_database(admin_url, url)


async def wait_until(probe: Callable[[], Any], what: str, timeout_s: float = 30.0) -> None:
    """Poll `probe` (async, truthy when done) until it holds; fail after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await probe():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
