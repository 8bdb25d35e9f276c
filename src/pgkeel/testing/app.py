"""App-level test fixtures: your FastAPI app, built from the session's settings, its migrations
applied, its lifespan running, and an HTTP client on it.

    # tests/conftest.py
    from pgkeel import audit
    from pgkeel.testing import app_fixture
    from notes.main import create_app          # create_app(settings) -> FastAPI

    pgkeel_app = app_fixture(create_app, migrations={"notes": "migrations"},
                             installs=(audit.install,))

    # tests/test_notes.py
    async def test_list(pgkeel_client):        # an httpx.AsyncClient on the running app
        assert (await pgkeel_client.get("/health")).status_code == 200
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.migrate import Migrator

__all__ = ["app_fixture", "apply_migrations"]

Install = Callable[[Database], Awaitable[Any]]
"""A library schema's installer, such as `pgkeel.audit.install`."""

_APPLIED: set[tuple[str | None, str, str]] = set()
"""(database, schema, directory) sets already migrated by this process."""


async def apply_migrations(settings: Settings, migrations: Mapping[str, str | Path],
                           installs: Iterable[Install] = ()) -> None:
    """Run `installs` and apply each `schema -> directory` migration set to `settings`'
    database (once per process and directory as given: a later call only applies what is
    new)."""
    pending = [(schema, Path(directory)) for schema, directory in migrations.items()
               if (settings.database_url, schema, str(directory)) not in _APPLIED]
    installs = [i for i in installs if (settings.database_url, "install", _name(i))
                not in _APPLIED]
    if not pending and not installs:
        return
    async with Database.from_settings(settings, min_size=1, max_size=2,
                                      application_name="pgkeel testing") as db:
        for install in installs:
            await install(db)
            _APPLIED.add((settings.database_url, "install", _name(install)))
        for schema, directory in pending:
            await Migrator.from_settings(db, settings, directory=directory, schema=schema).up()
            _APPLIED.add((settings.database_url, schema, str(directory)))


def _name(install: Install) -> str:
    return f"{install.__module__}.{getattr(install, '__qualname__', repr(install))}"


def app_fixture(factory: Callable[[Settings], FastAPI], *,
                migrations: Mapping[str, str | Path] | None = None,
                installs: Iterable[Install] = (), name: str = "pgkeel_app") -> Any:
    """A pytest fixture (assign it to `pgkeel_app` in a conftest.py) giving each test
    `factory(pgkeel_settings)` with `installs` run, the `migrations` (schema -> directory)
    applied and its lifespan running. `pgkeel_client` is an HTTP client on it. The session's
    database is the test run's own; tests isolate from each other by organization (a new
    one per test) or by cleaning up what they wrote."""
    import pytest_asyncio

    sets = {schema: Path(directory).resolve()
            for schema, directory in (migrations or {}).items()}
    installers = tuple(installs)

    @pytest_asyncio.fixture(name=name)
    async def fixture(pgkeel_settings: Settings) -> AsyncIterator[FastAPI]:
        await apply_migrations(pgkeel_settings, sets, installers)
        app = factory(pgkeel_settings)
        async with app.router.lifespan_context(app):
            yield app

    return fixture
