"""Sample stock for `make demo`: one inventory row for every sample product that has none,
its available quantity the catalog's stock, loaded with COPY."""

from __future__ import annotations

import random
from typing import LiteralString

from pgkeel.db import Database
from pgkeel_apps.sample import copy_rows

PRODUCTS_WITHOUT_STOCK: LiteralString = """
SELECT p.organization_id, p.id, p.sku, p.stock_quantity, p.low_stock_threshold
FROM product.products p
WHERE NOT EXISTS (SELECT FROM inventory.inventory i
                  WHERE i.organization_id = p.organization_id AND i.product_id = p.id)
"""
COLUMNS = ("organization_id", "product_id", "sku", "available_quantity", "reorder_point",
           "reorder_quantity")


async def load_sample_stock(db: Database, *, seed: int = 42) -> int:
    """Stock for every product without any (none when the product schema is absent);
    returns the number of rows loaded."""
    if not await db.fetch_val("SELECT to_regclass('product.products') IS NOT NULL"):
        return 0
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    products = await db.fetch_all(PRODUCTS_WITHOUT_STOCK, readonly=True)
    if not products:
        return 0
    await copy_rows(db, "inventory", "inventory", COLUMNS, (
        (p["organization_id"], p["id"], p["sku"], p["stock_quantity"], p["low_stock_threshold"],
         rng.choice((25, 50, 100))) for p in products))
    await db.execute("ANALYZE inventory.inventory")
    return len(products)
