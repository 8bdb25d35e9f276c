"""The product migration set, V1..V4, applies on top of identity's, undoes to nothing with its
U files, and applies again: on a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.migrate import Migrator
from pgkeel.testing.databases import create_database, drop_database
from pgkeel_apps import identity
from pgkeel_apps.commerce import product

OBJECTS = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'product' AND c.relkind IN ('r', 'i')) AS relations,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'product') AS functions
"""


@pytest.fixture
async def fresh(pgkeel_settings: Settings) -> AsyncIterator[tuple[Database, Settings]]:
    admin = pgkeel_settings.database_url
    assert admin is not None
    url = create_database(admin, "pgkeel_product")
    settings = pgkeel_settings.model_copy(update={"database_url": url,
                                                  "database_replica_urls": ()})
    try:
        async with Database.from_settings(settings, min_size=1) as db:
            yield db, settings
    finally:
        drop_database(admin, url)


async def test_product_migrations_undo_and_reapply(fresh: tuple[Database, Settings]):
    db, settings = fresh
    await Migrator.from_settings(db, settings, directory=identity.MIGRATIONS,
                                 schema=identity.SCHEMA).up()
    migrator = Migrator.from_settings(db, settings, directory=product.MIGRATIONS,
                                      schema=product.SCHEMA)
    applied = await migrator.up()
    assert [a.script for a in applied.applied] == [
        "V1__products_and_categories.sql", "V2__product_reviews.sql",
        "V3__product_images.sql", "V4__product_functions.sql"]
    assert await db.fetch_one(OBJECTS) == {"relations": 30, "functions": 8}
    undone = await migrator.down(target="0")
    assert [a.script for a in undone.applied] == [
        "U4__product_functions.sql", "U3__product_images.sql", "U2__product_reviews.sql",
        "U1__products_and_categories.sql"]
    leftover = await db.fetch_one(OBJECTS)
    assert leftover is not None and leftover["functions"] == 0
    assert await db.fetch_val(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'product' "
        "AND tablename <> 'pgkeel_schema_history'") == 0, "only the history is left"
    again = await migrator.up()
    assert len(again.applied) == 4
