"""Sample orders for `make demo`: DEMO_ORDERS orders in each organization that has stock and no
orders yet, by its sample users, loaded with COPY and then taken through the same rules,
reservations and status changes as real ones (history, movements and payments included)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any, LiteralString

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pgkeel.db import Database, Transaction

ORGS: LiteralString = """
SELECT DISTINCT i.organization_id FROM inventory.inventory i
WHERE NOT EXISTS (SELECT FROM orders.orders o WHERE o.organization_id = i.organization_id)
"""
CUSTOMERS: LiteralString = """
SELECT id FROM identity.users
WHERE organization_id = %s AND deleted_at IS NULL AND is_active ORDER BY id LIMIT 1000
"""
PRODUCTS: LiteralString = """
SELECT p.id, p.name, p.sku, p.price, i.available_quantity FROM product.products p
JOIN inventory.inventory i ON i.organization_id = p.organization_id AND i.product_id = p.id
WHERE p.organization_id = %s AND p.is_active AND i.available_quantity >= 50
ORDER BY p.id LIMIT 2000
"""
COPY_ORDERS: LiteralString = (
    "COPY orders.orders (organization_id, id, user_id, subtotal, total_amount, item_count, "
    "created_at) FROM STDIN")
COPY_ITEMS: LiteralString = (
    "COPY orders.order_items (organization_id, order_id, product_id, product_name, sku, "
    "quantity, unit_price, line_total, created_at) FROM STDIN")
RESERVE: LiteralString = """
SELECT count(inventory.reserve_inventory(i.organization_id, i.product_id, o.user_id,
                                         i.quantity, i.order_id))
FROM orders.order_items i
JOIN orders.orders o ON o.organization_id = i.organization_id AND o.id = i.order_id
WHERE i.organization_id = %s
"""
REASON: LiteralString = "SELECT set_config('orders.status_reason', 'sample data', true)"
MOVE: LiteralString = """
UPDATE orders.orders SET status = %s WHERE organization_id = %s AND id = ANY(%s)
"""
PAY: LiteralString = """
INSERT INTO payment.payments (organization_id, order_id, user_id, amount, provider,
                              provider_reference, created_at)
SELECT organization_id, id, user_id, total_amount, 'test', 'sample_' || order_number, created_at
FROM orders.orders WHERE organization_id = %s AND id = ANY(%s)
"""
PAYMENT_STEP: LiteralString = """
UPDATE payment.payments
SET status = %s, captured_amount = CASE WHEN %s = 'authorized' THEN 0 ELSE amount END
WHERE organization_id = %s AND order_id = ANY(%s)
"""

HOLDS_PER_USER = 5
"""The database's `reservation_limit`: active holds per customer and product."""
# (status an order ends in, share of the sample)
MIX = (("delivered", 70), ("shipped", 10), ("confirmed", 8), ("cancelled", 7), ("pending", 5))
PATHS = {"pending": (), "confirmed": ("confirmed",), "shipped": ("confirmed", "shipped"),
         "delivered": ("confirmed", "shipped", "delivered"), "cancelled": ("cancelled",)}


class OrdersDemoSettings(BaseSettings):
    """How many sample orders `make demo` loads (with DEMO_SEED): DEMO_ORDERS."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    demo_orders: int = Field(200, ge=0, le=1_000_000)
    """Sample orders per organization with stock (in every status; a few still pending)."""


def _orders(org: uuid.UUID, count: int, customers: list[uuid.UUID],
            products: list[dict[str, Any]], rng: random.Random
            ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, list[uuid.UUID]]]:
    now = dt.datetime.now(dt.UTC)
    orders, items = [], []
    outcome: dict[str, list[uuid.UUID]] = {status: [] for status, _ in MIX}
    statuses = rng.choices([s for s, _ in MIX], [w for _, w in MIX], k=count)
    pending_users = iter(customers)
    # Every sample order is reserved at once, under the real rules: never more than a
    # product's stock, and at most HOLDS_PER_USER holds per customer and product. An order
    # that would break either is left out (small data sets have few customers and products).
    left = {p["id"]: p["available_quantity"] for p in products}
    holds: dict[tuple[uuid.UUID, Any], int] = {}
    for status in statuses:
        lines = rng.sample(products, k=min(len(products), rng.randint(1, 4)))
        quantities = [rng.randint(1, 3) for _ in lines]
        totals = [p["price"] * q for p, q in zip(lines, quantities, strict=True)]
        subtotal = sum(totals, Decimal(0))
        if not Decimal(10) <= subtotal <= Decimal(10_000):
            continue
        if status == "pending":  # recent, and at most one per customer
            user = next(pending_users, None)
            if user is None:
                continue
            created = now
        else:
            user = rng.choice(customers)
            created = now - dt.timedelta(seconds=rng.randrange(3600, 90 * 86400))
        if any(left[p["id"]] < q or holds.get((user, p["id"]), 0) >= HOLDS_PER_USER
               for p, q in zip(lines, quantities, strict=True)):
            continue
        for p, q in zip(lines, quantities, strict=True):
            left[p["id"]] -= q
            holds[user, p["id"]] = holds.get((user, p["id"]), 0) + 1
        order = uuid.UUID(int=rng.getrandbits(128), version=4)
        orders.append((org, order, user, subtotal, subtotal, sum(quantities), created))
        items += [(org, order, p["id"], p["name"], p["sku"], q, p["price"], t, created)
                  for p, q, t in zip(lines, quantities, totals, strict=True)]
        outcome[status].append(order)
    return orders, items, outcome


async def _copy(tx: Transaction, statement: LiteralString, rows: list[tuple[Any, ...]]) -> None:
    async with tx.connection.cursor().copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


async def load_sample_orders(db: Database, *, per_org: int = 1_000, seed: int = 42) -> int:
    """DEMO_ORDERS orders in each organization with stock and no orders; returns how many."""
    if per_org == 0 or not await db.fetch_val("SELECT to_regclass('product.products') "
                                              "IS NOT NULL"):
        return 0
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    loaded = 0
    for org_row in await db.fetch_all(ORGS, readonly=True):
        org = org_row["organization_id"]
        customers = [r["id"] for r in await db.fetch_all(CUSTOMERS, (org,), readonly=True)]
        products = await db.fetch_all(PRODUCTS, (org,), readonly=True)
        if not customers or not products:
            continue
        orders, items, outcome = _orders(org, per_org, customers, products, rng)
        async with db.transaction() as tx:
            await tx.begin()
            await _copy(tx, COPY_ORDERS, orders)
            await _copy(tx, COPY_ITEMS, items)
            await tx.execute(RESERVE, (org,))
            await tx.execute(REASON)
            for step in ("confirmed", "shipped", "delivered", "cancelled"):
                moving = [o for status, path in PATHS.items() if step in path
                          for o in outcome[status]]
                await tx.execute(MOVE, (step, org, moving))
            paid = [o for s in ("confirmed", "shipped", "delivered") for o in outcome[s]]
            await tx.execute(PAY, (org, paid))
            for step in ("authorized", "captured", "settled"):
                await tx.execute(PAYMENT_STEP, (step, step, org, paid))
        loaded += len(orders)
    await db.execute("ANALYZE orders.orders, orders.order_items, inventory.inventory_reservations")
    return loaded
