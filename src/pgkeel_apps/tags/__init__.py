"""The customer-tags service: tags, their assignment to customers, and its cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.tags.routes import router
from pgkeel_apps.tags.service import TagService
from pgkeel_apps.tags.tables import SCHEMA, TABLES

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    """The tag service, with its cache."""
    ctx.app.state.tags = TagService(ctx.db, ctx.cache, cursor_codec=ctx.cursor_codec)
    yield


APP = ReferenceApp(name="tags", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, start=start)

__all__ = ["APP", "MIGRATIONS", "SCHEMA", "TABLES", "TagService", "router"]
