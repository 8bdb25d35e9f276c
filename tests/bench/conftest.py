"""Fixtures of the benchmark's tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from pgkeel.embedded import EmbeddedServers
from pgkeel.testing.databases import database_url, drop_database


@pytest.fixture
def bench_env(pgkeel_servers: EmbeddedServers,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The servers' URLs in the environment, and a bench database of this test's own."""
    admin = pgkeel_servers.settings.database_url
    assert admin is not None and pgkeel_servers.settings.redis_url is not None
    monkeypatch.setenv("DATABASE_URL", admin)
    monkeypatch.setenv("REDIS_URL", pgkeel_servers.settings.redis_url)
    name = f"pgkeel_bench_t_{secrets.token_hex(3)}"
    yield name
    drop_database(admin, database_url(admin, name))
