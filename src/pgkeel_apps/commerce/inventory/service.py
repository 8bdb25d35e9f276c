"""Stock: reservations (`reserve_inventory()`), administrators' adjustments, movements and
alerts -- tenant-scoped, audited. The rules live in the database (see the migrations)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, LiteralString
from uuid import UUID

from pgkeel import audit
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound
from pgkeel.repo import CursorCodec, ListQuery, Page, Repository
from pgkeel_apps.commerce.inventory.tables import ALERTS, INVENTORY, MOVEMENTS
from pgkeel_apps.commerce.rules import named_rules

BY_PRODUCT: LiteralString = """
SELECT * FROM inventory.inventory WHERE organization_id = %s AND product_id = %s
"""
RESERVE: LiteralString = "SELECT inventory.reserve_inventory(%s, %s, %s, %s, %s)"
RESERVE_MANY: LiteralString = """
SELECT inventory.reserve_inventory(%s, line.product_id, %s, line.quantity, %s)
FROM unnest(%s::uuid[], %s::integer[]) WITH ORDINALITY AS line (product_id, quantity, n)
ORDER BY line.n
"""
ADJUST: LiteralString = "SELECT * FROM inventory.adjust_inventory(%s, %s, %s, %s, %s)"
CLEANUP_RESERVATIONS: LiteralString = "SELECT inventory.cleanup_expired_reservations(%s)"
REFRESH_ANALYTICS: LiteralString = "SELECT inventory.refresh_inventory_analytics()"
SYNC_CATALOG_STOCK: LiteralString = "SELECT inventory.sync_catalog_stock()"

ENTITY = "Inventory"
_NO_STOCK = {"product_id": None, "available_quantity": 0, "reserved_quantity": 0,
             "total_quantity": 0}


def _stock(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("product_id", "available_quantity", "reserved_quantity",
                                "total_quantity")}


class InventoryService:
    """The organization's stock, its movements and its alerts."""

    def __init__(self, db: Database, *, cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.items: Repository[dict[str, Any]] = Repository(db, INVENTORY, name="inventory",
                                                            cursor_codec=cursor_codec)
        self.movements: Repository[dict[str, Any]] = Repository(
            db, MOVEMENTS, name="inventory movement", cursor_codec=cursor_codec)
        self.alerts: Repository[dict[str, Any]] = Repository(
            db, ALERTS, name="inventory alert", cursor_codec=cursor_codec)

    async def list(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.items.list(query)

    async def list_movements(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.movements.list(query)

    async def list_alerts(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.alerts.list(query)

    async def get(self, product_id: UUID, *, tx: Transaction | None = None) -> dict[str, Any]:
        """A product's stock (404 when it has none in this organization)."""
        params = (current_context().org_id, product_id)
        row = (await tx.fetch_one(BY_PRODUCT, params) if tx
               else await self.db.fetch_one(BY_PRODUCT, params))
        if row is None:
            raise NotFound("No inventory for that product.",
                           details={"resource": "inventory", "id": str(product_id)})
        return row

    async def reserve(self, tx: Transaction, product_id: UUID, user_id: UUID, quantity: int,
                      *, order_id: UUID | None = None) -> UUID:
        """Reserve `quantity` units atomically (422 `insufficient_stock` when there are not
        enough): a 5-minute hold, or, with `order_id`, stock committed to that order."""
        with named_rules():
            reservation: UUID = await tx.fetch_val(RESERVE, (
                current_context().org_id, product_id, user_id, quantity, order_id))
        return reservation

    async def reserve_many(self, tx: Transaction, lines: Sequence[tuple[UUID, int]],
                           user_id: UUID, order_id: UUID) -> builtins.list[UUID]:
        """`reserve` for every (product, quantity) of an order, in the given order, in one
        statement (one round trip); the first product short of stock raises."""
        with named_rules():
            rows = await tx.fetch_all(RESERVE_MANY, (
                current_context().org_id, user_id, order_id, [p for p, _ in lines],
                [q for _, q in lines]))
        return [row["reserve_inventory"] for row in rows]

    async def adjust(self, product_id: UUID, change: int, reason: str,
                     kind: str = "adjust") -> dict[str, Any]:
        """Add (restock) or remove (write-off) available units; audited
        (INVENTORY_ADJUSTED), one movement row by the database's trigger. A catalog product
        without stock yet gets its inventory row here; 404 for an unknown product, 422
        `inventory_available_nonnegative` when it would go below zero."""
        async def work(tx: Transaction) -> dict[str, Any]:
            org = current_context().org_id
            old = await tx.fetch_one(BY_PRODUCT, (org, product_id)) or _NO_STOCK
            with named_rules():
                row = await tx.fetch_one(ADJUST, (org, product_id, change, reason, kind))
            if row is None:
                raise NotFound("No product with that id.",
                               details={"resource": "product", "id": str(product_id)})
            await audit.record(tx, action="INVENTORY_ADJUSTED", entity_type=ENTITY,
                               entity_id=row["id"], old=_stock(old), new=_stock(row),
                               metadata={"change": change, "reason": reason, "type": kind})
            return row
        return await self.db.run_in_tx(work)


async def cleanup_expired_reservations(db: Database, limit: int = 10_000) -> int:
    """Release every hold past its 5 minutes (`inventory.cleanup_expired_reservations()`);
    run as the schema owner, it works across organizations. Returns how many."""
    released: int = await db.fetch_val(CLEANUP_RESERVATIONS, (limit,))
    return released


async def refresh_inventory_analytics(db: Database) -> int:
    """Roll today's movements up into `inventory_analytics`; returns the rows written."""
    rows: int = await db.fetch_val(REFRESH_ANALYTICS)
    return rows
