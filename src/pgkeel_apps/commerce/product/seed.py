"""Sample catalog for `make demo`: a category tree and DEMO_PRODUCTS products in each of the
first DEMO_CATALOG_ORGS sample organizations, loaded with COPY; skipped when org-1 already
has products."""

from __future__ import annotations

import json
import random
import uuid
from decimal import Decimal
from typing import Any, LiteralString

from pgkeel.db import Database
from pgkeel_apps.sample import copy_rows

ORGS: LiteralString = """
SELECT id FROM identity.organizations WHERE slug ~ '^org-[0-9]+$'
ORDER BY substring(slug FROM 5)::integer LIMIT %s
"""
HAS_PRODUCTS: LiteralString = (
    "SELECT EXISTS (SELECT 1 FROM product.products WHERE organization_id = %s)")
TREE = {
    "Electronics": ["Computers", "Phones", "Audio", "Cameras"],
    "Home": ["Kitchen", "Furniture", "Lighting"],
    "Outdoors": ["Camping", "Cycling", "Garden"],
    "Books": ["Fiction", "Science", "Cooking"],
}
SUB = {"Computers": ["Laptops", "Keyboards", "Monitors"], "Audio": ["Headphones", "Speakers"]}
ADJECTIVES = ["Compact", "Wireless", "Ergonomic", "Rugged", "Smart", "Classic", "Portable",
              "Premium", "Quiet", "Solar", "Vintage", "Modular"]
TAGS = ["new", "sale", "eco", "bestseller", "gift", "limited", "refurbished", "bundle"]
CATEGORY_COLUMNS = ("organization_id", "id", "parent_id", "name", "slug", "sort_order")
PRODUCT_COLUMNS = ("organization_id", "id", "sku", "name", "description", "category_id",
                   "price", "stock_quantity", "low_stock_threshold", "metadata", "tags")


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _categories(org: uuid.UUID, rng: random.Random) -> tuple[list[tuple[Any, ...]],
                                                              list[tuple[uuid.UUID, str]]]:
    """(category rows, leaf categories as (id, name))."""
    rows: list[tuple[Any, ...]] = []
    leaves: list[tuple[uuid.UUID, str]] = []

    def add(name: str, parent: uuid.UUID | None, order: int) -> uuid.UUID:
        cid = uuid.UUID(int=rng.getrandbits(128), version=4)
        rows.append((org, cid, parent, name, _slug(name), order))
        return cid

    for i, (top, children) in enumerate(TREE.items()):
        top_id = add(top, None, i)
        for j, child in enumerate(children):
            child_id = add(child, top_id, j)
            grandchildren = SUB.get(child, [])
            for k, leaf in enumerate(grandchildren):
                leaves.append((add(leaf, child_id, k), leaf))
            if not grandchildren:
                leaves.append((child_id, child))
    return rows, leaves


async def load_sample_catalog(db: Database, *, organizations: int = 3, products: int = 10_000,
                              seed: int = 2) -> int:
    """Load the catalog into the first `organizations` sample organizations that have none;
    returns how many organizations were loaded."""
    loaded = 0
    for (org,) in [tuple(r.values()) for r in await db.fetch_all(ORGS, (organizations,))]:
        if await db.fetch_val(HAS_PRODUCTS, (org,)):
            continue
        rng = random.Random(f"{seed}:{org}")  # noqa: S311 -- sample data, not secrets
        categories, leaves = _categories(org, rng)
        rows = []
        for n in range(products):
            leaf_id, leaf = rng.choice(leaves)
            name = f"{rng.choice(ADJECTIVES)} {leaf.rstrip('s')} {n + 1}"
            price = Decimal(rng.randrange(199, 99_999)) / 100
            rows.append((org, uuid.UUID(int=rng.getrandbits(128), version=4), f"SKU-{n + 1:06d}",
                         name, f"A {name.lower()} from the {leaf.lower()} range.", leaf_id,
                         price, rng.choice([0, 3, 8, 25, 60, 150]), 10,
                         json.dumps({"brand": rng.choice(["Acme", "Globex", "Initech"]),
                                     "weightGrams": rng.randrange(50, 5000)}),
                         sorted(rng.sample(TAGS, rng.randrange(0, 3)))))
        await copy_rows(db, "product", "categories", CATEGORY_COLUMNS, categories)
        await copy_rows(db, "product", "products", PRODUCT_COLUMNS, rows)
        loaded += 1
    if loaded:
        await db.execute("ANALYZE product.categories, product.products")
    return loaded
