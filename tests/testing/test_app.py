"""App-level fixtures: `app_fixture` builds the app from the session's settings, applies its
migrations and runs its lifespan; `pgkeel_client` talks to it. And declared tables in a
test's own schema (`Table.in_schema`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from pgkeel.config import Settings
from pgkeel.db import Database, use_context
from pgkeel.migrate import Migrator
from pgkeel.repo import Field, FieldType, Repository, Table
from pgkeel.testing import app_fixture
from pgkeel.web import DbDep, install_error_handlers, pgkeel_lifespan

pytestmark = pytest.mark.smoke

MIGRATIONS = Path(__file__).parent / "notes_migrations"

NOTES = Table("tnotes", "notes", [
    Field("id", FieldType.BIGINT, nullable=False, writable=False),
    Field("org_id", FieldType.INT, nullable=False),
    Field("title", FieldType.TEXT, nullable=False),
], tenant="org_id")

STARTED: list[Settings] = []


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=pgkeel_lifespan(settings))
    install_error_handlers(app)
    STARTED.append(settings)

    @app.post("/notes/{org}", status_code=201)
    async def add(org: int, title: str, db: DbDep) -> dict[str, object]:
        with use_context(org_id=org):
            return await Repository(db, NOTES).create({"title": title})

    @app.get("/notes/{org}")
    async def titles(org: int, db: DbDep) -> list[str]:
        with use_context(org_id=org):
            return [r["title"] for r in (await Repository(db, NOTES).list()).items]

    return app


pgkeel_app = app_fixture(create_app, migrations={"tnotes": MIGRATIONS})


async def test_the_app_runs_on_the_sessions_database_with_its_migrations(
        pgkeel_client, pgkeel_settings):
    assert STARTED[-1] is pgkeel_settings
    created = await pgkeel_client.post("/notes/501", params={"title": "first"})
    assert created.status_code == 201, created.text
    assert (await pgkeel_client.get("/notes/501")).json() == ["first"]
    assert (await pgkeel_client.get("/notes/502")).json() == []


async def test_each_test_gets_the_app_again_on_the_same_database(pgkeel_client):
    await pgkeel_client.post("/notes/503", params={"title": "second"})
    assert (await pgkeel_client.get("/notes/503")).json() == ["second"]


async def test_declared_tables_in_a_tests_own_schema(pgkeel_db: Database, pgkeel_schema,
                                                     pgkeel_settings):
    await Migrator.from_settings(pgkeel_db, pgkeel_settings, directory=MIGRATIONS,
                                 schema=pgkeel_schema).up()
    mine = NOTES.in_schema(pgkeel_schema)
    assert (mine.qualified, NOTES.qualified) == (f"{pgkeel_schema}.notes", "tnotes.notes")
    with use_context(org_id=7):
        await Repository(pgkeel_db, mine).create({"title": "isolated"})
        assert [r["title"] for r in (await Repository(pgkeel_db, mine).list()).items] == [
            "isolated"]
