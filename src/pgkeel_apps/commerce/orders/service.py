"""Orders: placing one (stock, order, items, history and its `order.placed` event in one
transaction), reading a customer's own, cancelling, notes -- audited, tenant-scoped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

from psycopg.types.json import Jsonb

from pgkeel import audit, outbox
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound, ReferenceNotFound
from pgkeel.repo import CursorCodec, Filter, ListQuery, Op, Page, Repository
from pgkeel.security import Principal
from pgkeel_apps.commerce.inventory.service import InventoryService
from pgkeel_apps.commerce.orders.tables import HISTORY, ITEMS, NOTES, ORDERS
from pgkeel_apps.commerce.rules import named_rules, violation

ORDERS_READ = "ORDERS_READ"
"""Holders see every customer's orders (and internal notes); others see only their own."""

PRODUCTS: LiteralString = """
SELECT id, name, sku, price FROM product.products
WHERE organization_id = %s AND id = ANY(%s) AND is_active
"""
INSERT_ORDER: LiteralString = """
INSERT INTO orders.orders (organization_id, user_id, subtotal, total_amount, item_count,
                           shipping_address)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING *
"""
INSERT_ITEMS: LiteralString = """
INSERT INTO orders.order_items (organization_id, order_id, product_id, product_name, sku,
                                quantity, unit_price, line_total, reservation_id)
SELECT %s, %s, * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::integer[],
                             %s::numeric[], %s::numeric[], %s::uuid[])
RETURNING *
"""
HISTORY_OF: LiteralString = """
SELECT * FROM orders.order_status_history WHERE organization_id = %s AND order_id = %s
ORDER BY id
"""
SET_REASON: LiteralString = "SELECT set_config('orders.status_reason', %s, true)"
CANCEL: LiteralString = """
UPDATE orders.orders SET status = 'cancelled', cancel_reason = %s
WHERE organization_id = %s AND id = %s RETURNING *
"""
LOCK_ORDER: LiteralString = """
SELECT * FROM orders.orders WHERE organization_id = %s AND id = %s FOR UPDATE
"""
CLEANUP_ORDERS: LiteralString = "SELECT orders.cleanup_expired_orders(%s)"

ENTITY = "Order"


@dataclass(frozen=True, slots=True)
class Line:
    """One product of an order request."""

    product_id: UUID
    quantity: int


def merged(lines: Sequence[Line]) -> list[Line]:
    """One line per product (quantities added up), in product id order: every order locks
    its inventory rows in the same order, so two orders never deadlock."""
    totals: dict[UUID, int] = {}
    for line in lines:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return [Line(p, q) for p, q in sorted(totals.items(), key=lambda kv: str(kv[0]))]


def placed_event(order: Mapping[str, Any],
                 items: Sequence[Mapping[str, Any]]) -> outbox.OutboxEvent:
    """`order.placed`, keyed by the order (its later events follow it in order)."""
    return outbox.OutboxEvent("order.placed", "order", order["id"], payload={
        "orderId": str(order["id"]), "orderNumber": order["order_number"],
        "userId": str(order["user_id"]), "status": order["status"],
        "totalAmount": str(order["total_amount"]), "currency": order["currency"],
        "items": [{"productId": str(i["product_id"]), "quantity": i["quantity"],
                   "unitPrice": str(i["unit_price"])} for i in items]})


class OrderService:
    """The organization's orders. Customers reach only their own."""

    def __init__(self, db: Database, inventory: InventoryService, *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.inventory = inventory
        self.orders: Repository[dict[str, Any]] = Repository(db, ORDERS, name="order",
                                                             cursor_codec=cursor_codec)
        self.items: Repository[dict[str, Any]] = Repository(db, ITEMS, name="order item")
        self.history: Repository[dict[str, Any]] = Repository(db, HISTORY,
                                                              name="order status")
        self.notes: Repository[dict[str, Any]] = Repository(db, NOTES, name="order note")

    # -- placing -----------------------------------------------------------------------------

    async def place(self, tx: Transaction, user_id: UUID, lines: Sequence[Line], *,
                    shipping_address: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
        """Place an order in `tx`: the business rules are checked by the database as the
        order row is inserted (422 naming the rule), then each product's stock is reserved
        for the order (422 `insufficient_stock`), the items are written, and the status
        history (by trigger), the audit row and the `order.placed` outbox event go into the
        same transaction. Nothing is written unless all of it is."""
        org = current_context().org_id
        wanted = merged(lines)
        if not wanted:
            raise violation("order_min_amount")
        products = {row["id"]: row for row in await tx.fetch_all(
            PRODUCTS, (org, [line.product_id for line in wanted]))}
        missing = [str(line.product_id) for line in wanted if line.product_id not in products]
        if missing:
            raise ReferenceNotFound("No active product with that id.",
                                    details={"resource": "product", "fields": ["productId"],
                                             "id": missing[0]},
                                    hint="Order products of the catalog that are active.")
        totals = [products[line.product_id]["price"] * line.quantity for line in wanted]
        subtotal = sum(totals, Decimal(0))
        units = sum(line.quantity for line in wanted)
        with named_rules():
            order = await tx.fetch_one(INSERT_ORDER, (
                org, user_id, subtotal, subtotal, units,
                None if shipping_address is None else _jsonb(shipping_address)))
            assert order is not None
        reservations = await self.inventory.reserve_many(
            tx, [(line.product_id, line.quantity) for line in wanted], user_id, order["id"])
        items = await tx.fetch_all(INSERT_ITEMS, (
            org, order["id"], [line.product_id for line in wanted],
            [products[line.product_id]["name"] for line in wanted],
            [products[line.product_id]["sku"] for line in wanted],
            [line.quantity for line in wanted],
            [products[line.product_id]["price"] for line in wanted], totals, reservations))
        await audit.record(tx, action="ORDER_PLACED", entity_type=ENTITY, entity_id=order["id"],
                           new={"status": order["status"],
                                "totalAmount": str(order["total_amount"]),
                                "itemCount": order["item_count"]})
        await outbox.add(tx, placed_event(order, items))
        history = await tx.fetch_all(HISTORY_OF, (org, order["id"]))
        return {**order, "items": items, "history": history, "notes": []}

    # -- reading -----------------------------------------------------------------------------

    async def get(self, principal: Principal, order_id: UUID, *,
                  tx: Transaction | None = None) -> dict[str, Any]:
        """An order with its items, status history and notes. A customer's own only (404
        for anyone else's, as for one that does not exist) unless they hold ORDERS_READ;
        internal notes only for ORDERS_READ."""
        order = await self.orders.find(order_id, tx=tx)
        if order is None or not _visible(principal, order):
            raise NotFound("No order with that id.", details={"resource": "order",
                                                              "id": str(order_id)})
        by_order = ListQuery(filters=[Filter(ITEMS.field("order_id"), Op.EQ, order_id)],
                             page_size=100)
        items = await self.items.list(by_order, tx=tx)
        history = await self.history.list(ListQuery(
            filters=[Filter(HISTORY.field("order_id"), Op.EQ, order_id)], page_size=100), tx=tx)
        notes = await self.notes.list(ListQuery(
            filters=[Filter(NOTES.field("order_id"), Op.EQ, order_id)], page_size=100), tx=tx)
        staff = principal.has(ORDERS_READ)
        shown = [n for n in notes.items if staff or not n["is_internal"]]
        return {**order, "items": items.items, "history": history.items,
                "notes": sorted(shown, key=lambda n: n["created_at"])}

    async def list(self, principal: Principal, query: ListQuery) -> Page[dict[str, Any]]:
        """The caller's own orders (every customer's with ORDERS_READ)."""
        if not principal.has(ORDERS_READ):
            query.filters.append(Filter(ORDERS.field("user_id"), Op.EQ, principal.user_id))
        return await self.orders.list(query)

    # -- changing ----------------------------------------------------------------------------

    async def cancel(self, principal: Principal, order_id: UUID, reason: str | None, *,
                     tx: Transaction) -> dict[str, Any]:
        """Cancel a pending or confirmed order: its stock is released by the database's
        status trigger, the history records the reason; audited (ORDER_CANCELLED) with an
        `order.cancelled` event. 422 `order_status_transition` from any other status."""
        async def work(tx: Transaction) -> dict[str, Any]:
            org = current_context().org_id
            old = await tx.fetch_one(LOCK_ORDER, (org, order_id))
            if old is None or not _visible(principal, old):
                raise NotFound("No order with that id.", details={"resource": "order",
                                                                  "id": str(order_id)})
            if old["status"] not in ("pending", "confirmed"):
                raise violation("order_status_transition", status=old["status"])
            await tx.execute(SET_REASON, (reason or "cancelled by customer",))
            with named_rules():
                row = await tx.fetch_one(CANCEL, (reason, org, order_id))
            assert row is not None
            await audit.record(tx, action="ORDER_CANCELLED", entity_type=ENTITY,
                               entity_id=order_id, old={"status": old["status"]},
                               new={"status": row["status"]}, metadata={"reason": reason})
            await outbox.add(tx, outbox.OutboxEvent("order.cancelled", "order", order_id,
                                                    payload={"orderId": str(order_id),
                                                             "reason": reason}))
            return row
        return await work(tx)

    async def add_note(self, principal: Principal, order_id: UUID, body: str,
                       internal: bool, *, tx: Transaction) -> dict[str, Any]:
        """A note on an order (internal notes: ORDERS_READ holders only); audited."""
        async def work(tx: Transaction) -> dict[str, Any]:
            order = await self.orders.find(order_id, tx=tx)
            if order is None or not _visible(principal, order):
                raise NotFound("No order with that id.", details={"resource": "order",
                                                                  "id": str(order_id)})
            note = await self.notes.create({
                "order_id": order_id, "author_id": principal.user_id, "body": body,
                "is_internal": internal and principal.has(ORDERS_READ)}, tx=tx)
            await audit.record(tx, action="ORDER_NOTE_ADDED", entity_type=ENTITY,
                               entity_id=order_id, new={"noteId": str(note["id"]),
                                                        "internal": note["is_internal"]})
            return note
        return await work(tx)


def _visible(principal: Principal, order: Mapping[str, Any]) -> bool:
    return principal.has(ORDERS_READ) or str(order["user_id"]) == str(principal.user_id)


def _jsonb(value: Mapping[str, Any]) -> Jsonb:
    return Jsonb(dict(value))


async def cleanup_expired_orders(db: Database, limit: int = 10_000) -> int:
    """Expire pending orders past their 30 minutes (`orders.cleanup_expired_orders()`), which
    releases their stock; as the schema owner, across organizations. Returns how many."""
    expired: int = await db.fetch_val(CLEANUP_ORDERS, (limit,))
    return expired
