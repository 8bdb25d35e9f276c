"""The orders schema as pgkeel declarations."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import Field, FieldType, Op, Table

SCHEMA: Final = "orders"

_ID = (Op.EQ, Op.IN)
_MONEY = (Op.EQ, Op.LT, Op.LTE, Op.GT, Op.GTE)
_WHEN = (Op.GTE, Op.LT)

ORDERS = Table(SCHEMA, "orders", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("order_number", FieldType.BIGINT, filter=(Op.EQ,), nullable=False, writable=False),
    Field("user_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("currency", FieldType.TEXT, nullable=False),
    Field("subtotal", FieldType.NUMERIC, nullable=False),
    Field("tax_amount", FieldType.NUMERIC, nullable=False),
    Field("shipping_amount", FieldType.NUMERIC, nullable=False),
    Field("discount_amount", FieldType.NUMERIC, nullable=False),
    Field("total_amount", FieldType.NUMERIC, filter=_MONEY, nullable=False),
    Field("item_count", FieldType.INT, nullable=False),
    Field("shipping_address", FieldType.JSONB),
    Field("expires_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("cancel_reason", FieldType.TEXT),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=_WHEN, sort=True, nullable=False,
          writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("-created_at",), page_size=20, max_page_size=100)

ITEMS = Table(SCHEMA, "order_items", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("order_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("product_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("product_name", FieldType.TEXT, nullable=False),
    Field("sku", FieldType.TEXT),
    Field("quantity", FieldType.INT, nullable=False),
    Field("unit_price", FieldType.NUMERIC, nullable=False),
    Field("tax_amount", FieldType.NUMERIC, nullable=False),
    Field("discount_amount", FieldType.NUMERIC, nullable=False),
    Field("line_total", FieldType.NUMERIC, nullable=False),
    Field("reservation_id", FieldType.UUID),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("created_at",))

HISTORY = Table(SCHEMA, "order_status_history", [
    Field("id", FieldType.BIGINT, sort=True, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("order_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("from_status", FieldType.TEXT),
    Field("to_status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("reason", FieldType.TEXT),
    Field("changed_by", FieldType.UUID),
    Field("changed_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("id",))

NOTES = Table(SCHEMA, "order_notes", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("order_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("author_id", FieldType.UUID, nullable=False),
    Field("body", FieldType.TEXT, nullable=False),
    Field("is_internal", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id")

FULFILLMENT = Table(SCHEMA, "order_fulfillment", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("order_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("carrier", FieldType.TEXT),
    Field("tracking_number", FieldType.TEXT),
    Field("shipping_address", FieldType.JSONB),
    Field("shipped_at", FieldType.TIMESTAMPTZ),
    Field("delivered_at", FieldType.TIMESTAMPTZ),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("created_at",))

TABLES = (ORDERS, ITEMS, HISTORY, NOTES, FULFILLMENT)
