"""Everything a running service needs, opened together and closed together.

    async with open_services() as services:      # settings from the environment
        await services.db.fetch_val("SELECT 1")

Unset DATABASE_URL / REDIS_URL start (or reuse) the embedded servers; the ones this process
started are stopped again on exit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from pgkeel.cache import Cache
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import PgkeelError, UsageError
from pgkeel.redis_client import connect_redis, is_memory_url

__all__ = ["Services", "open_migration_database", "open_services"]

log = logging.getLogger("pgkeel")


@dataclass
class Services:
    """The open database, the Redis client (None for `memory://`) and the final settings;
    inside `pgkeel_lifespan`, also the open cache."""

    settings: Settings
    db: Database
    redis: Redis | None
    servers: EmbeddedServers
    cache: Cache | None = None
    """Set by `pgkeel_lifespan` (`open_services` alone opens no cache)."""


@asynccontextmanager
async def open_services(settings: Settings | None = None) -> AsyncIterator[Services]:
    servers = await asyncio.to_thread(EmbeddedServers.for_settings, settings or load_settings())
    try:
        resolved = servers.settings
        assert resolved.redis_url is not None
        db = Database.from_settings(resolved)
        try:
            await db.open()
        except BaseException as exc:
            await db.close()
            if isinstance(exc, PgkeelError):  # the cause and what to do, in one line
                log.error("cannot start: %s%s", exc.message,
                          f" (hint: {exc.hint})" if exc.hint else "")
            raise
        url = resolved.redis_url
        redis = None if is_memory_url(url) else connect_redis(url, timeout_s=0.5, retries=1)
        try:
            yield Services(settings=resolved, db=db, redis=redis, servers=servers)
        finally:
            if redis is not None:
                await redis.aclose()
            await db.close()
    finally:
        await asyncio.to_thread(servers.stop_started)


@asynccontextmanager
async def open_migration_database(settings: Settings) -> AsyncIterator[Database]:
    """A small `Database` for migrations, connected as MIGRATION_DATABASE_URL's role (the
    schema owner), else DATABASE_URL's. `settings` must have its URLs resolved (as
    `Services.settings` has)."""
    url = settings.migration_url
    if url is None:
        raise UsageError("DATABASE_URL is not set.",
                         hint="Use EmbeddedServers.for_settings() to fill it in.")
    owner = settings.model_copy(update={"database_url": url, "database_replica_urls": ()})
    async with Database.from_settings(owner, min_size=1, max_size=2,
                                      application_name="pgkeel migrate") as db:
        yield db
