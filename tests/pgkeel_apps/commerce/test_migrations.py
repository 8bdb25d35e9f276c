"""Every commerce migration set (product, inventory, orders, payment) applies on top of
identity's in the service's order, undoes to nothing with its U files in the reverse order,
and applies again: on a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.migrate import Migrator
from pgkeel.testing.databases import create_database, drop_database
from pgkeel_apps import identity
from pgkeel_apps.commerce import inventory, orders, payment, product

SETS = (product, inventory, orders, payment)
"""In the service's start-up order (orders reserve stock with inventory's functions)."""

OBJECTS = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'i')
          AND c.relname NOT LIKE 'pgkeel_schema_history%%') AS relations,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %(schema)s) AS functions
"""

SCRIPTS = {
    "product": ["V1__products_and_categories.sql", "V2__product_reviews.sql",
                "V3__product_images.sql", "V4__product_functions.sql"],
    "inventory": ["V1__inventory_schema.sql", "V2__inventory_functions.sql",
                  "V3__row_level_security.sql", "V4__stock_for_new_products.sql",
                  "V5__catalog_stock_sync.sql"],
    "orders": ["V1__orders_schema.sql", "V2__orders_rules.sql", "V3__row_level_security.sql"],
    "payment": ["V1__payment_schema.sql", "V2__payment_functions.sql",
                "V3__row_level_security.sql", "V4__dispute_checks_status_first.sql",
                "V5__void_on_cancel.sql"],
}
NAMED = {
    "product": {"get_product_details", "search_products", "category_ancestors",
                "category_descendants"},
    "inventory": {"reserve_inventory", "cleanup_expired_reservations"},
    "orders": {"validate_order_business_rules", "cleanup_expired_orders"},
    "payment": {"process_payment_authorization", "cleanup_expired_payments"},
}
"""The report's functions, each in its service's schema."""


@pytest.fixture
async def fresh(pgkeel_settings: Settings) -> AsyncIterator[tuple[Database, Settings]]:
    admin = pgkeel_settings.database_url
    assert admin is not None
    url = create_database(admin, "pgkeel_commerce")
    settings = pgkeel_settings.model_copy(update={"database_url": url,
                                                  "database_replica_urls": ()})
    try:
        async with Database.from_settings(settings, min_size=1) as db:
            yield db, settings
    finally:
        drop_database(admin, url)


async def test_every_commerce_set_undoes_and_reapplies(fresh: tuple[Database, Settings]):
    db, settings = fresh
    await Migrator.from_settings(db, settings, directory=identity.MIGRATIONS,
                                 schema=identity.SCHEMA).up()
    migrators = {app.SCHEMA: Migrator.from_settings(db, settings, directory=app.MIGRATIONS,
                                                    schema=app.SCHEMA) for app in SETS}
    for schema, migrator in migrators.items():
        applied = await migrator.up()
        assert [a.script for a in applied.applied] == SCRIPTS[schema]
        names = {r["proname"] for r in await db.fetch_all(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s", (schema,))}
        assert NAMED[schema] <= names, schema
    assert await db.fetch_one(OBJECTS, {"schema": "product"}) == {"relations": 28,
                                                                  "functions": 8}

    for schema, migrator in reversed(migrators.items()):
        undone = await migrator.down(target="0")
        assert [a.script for a in undone.applied] == [
            "U" + s[1:] for s in reversed(SCRIPTS[schema])], schema
        assert await db.fetch_one(OBJECTS, {"schema": schema}) == {
            "relations": 0, "functions": 0}, f"{schema}: only the history is left"

    for schema, migrator in migrators.items():
        again = await migrator.up()
        assert len(again.applied) == len(SCRIPTS[schema]), schema
