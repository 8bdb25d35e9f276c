"""What one app of the reference service declares, so that `main` can migrate, seed, check and
serve every app the same way: adding an app is one entry in `main.APPS`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from pgkeel.cache import Cache
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.ops import JobRegistry
from pgkeel.repo import CursorCodec
from pgkeel.runtime import Services

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pgkeel.repo import Table


@dataclass(frozen=True, slots=True)
class AppContext:
    """What an app's `start` hook is given: the shared services of the running service."""

    app: FastAPI
    services: Services
    cache: Cache
    cursor_codec: CursorCodec

    @property
    def db(self) -> Database:
        """The service's database (the app role: row-level security applies)."""
        return self.services.db

    @property
    def settings(self) -> Settings:
        return self.services.settings


Prepare = Callable[[Database, Settings], Awaitable[None]]
"""Called after the migrations, connected as the schema owner: load the app's sample data (when
DEMO_* settings ask for it), or refuse to start on unsafe data in production."""

Start = Callable[[AppContext], AbstractAsyncContextManager[None]]
"""Wires the app's services into `ctx.app.state` for the service's lifetime (and runs any
background task the app needs), then cleans up."""


@asynccontextmanager
async def _nothing_to_start(ctx: AppContext) -> AsyncIterator[None]:
    yield


async def _nothing_to_prepare(owner: Database, settings: Settings) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ReferenceApp:
    """One app: its schema and migration set, its declared tables (checked against the
    catalog at start-up), its routes, and its hooks."""

    name: str
    schema: str
    migrations: Path
    tables: Sequence[Table]
    router: APIRouter
    prepare: Prepare = _nothing_to_prepare
    start: Start = _nothing_to_start
    jobs: JobRegistry | None = None
    """The app's maintenance jobs (`pgkeel.ops.JobRegistry`): `pgkeel maintain` runs them,
    and so does the service when MAINTAIN_IN_SERVICE is set."""
