"""A catalog of the test's own: an organization whose admin0 holds CATALOG_WRITE, a small
category tree and a few products."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal
from typing import Any

from ..conftest import Api, make_org


async def catalog_org(api: Api) -> dict[str, Any]:
    """make_org (admin0 with CATALOG_WRITE, user0/user1 customers), categories
    root > child > leaf, and products p0..p2 (p0, p1 in leaf; p2 in root)."""
    org = await make_org(api, admins=1, others=2)
    word = secrets.token_hex(3)
    root, child, leaf = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    products = [uuid.uuid4() for _ in range(3)]
    async with api.db.transaction() as tx:
        await tx.execute("UPDATE identity.roles SET permissions = permissions || "
                         "'{CATALOG_WRITE}' WHERE organization_id = %s AND name = 'ADMIN'",
                         (org["id"],))
        for cid, parent, name in ((root, None, "root"), (child, root, "child"),
                                  (leaf, child, "leaf")):
            await tx.execute(
                "INSERT INTO product.categories (organization_id, id, parent_id, name, slug) "
                "VALUES (%s, %s, %s, %s, %s)", (org["id"], cid, parent, name, f"{name}-{word}"))
        for i, (pid, cat, price) in enumerate(zip(products, (leaf, leaf, root),
                                                  ("12.50", "3.99", "100.00"), strict=True)):
            await tx.execute(
                "INSERT INTO product.products (organization_id, id, sku, name, category_id, "
                "price, stock_quantity) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (org["id"], pid, f"T-{word}-{i}", f"Product {i} {word}", cat, Decimal(price),
                 10 * i))
    return {**org, "word": word, "root": root, "child": child, "leaf": leaf,
            "products": products}
