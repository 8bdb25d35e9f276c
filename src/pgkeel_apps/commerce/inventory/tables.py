"""The inventory schema as pgkeel declarations."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import Field, FieldType, Op, Table

SCHEMA: Final = "inventory"

_ID = (Op.EQ, Op.IN)
_NUMBER = (Op.EQ, Op.LT, Op.LTE, Op.GT, Op.GTE)

INVENTORY = Table(SCHEMA, "inventory", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("product_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("sku", FieldType.TEXT, filter=(Op.EQ,)),
    Field("category_id", FieldType.UUID, filter=_ID),
    Field("supplier_id", FieldType.UUID, filter=_ID),
    Field("available_quantity", FieldType.INT, filter=_NUMBER, sort=True, nullable=False),
    Field("reserved_quantity", FieldType.INT, filter=_NUMBER, nullable=False),
    Field("total_quantity", FieldType.INT, filter=_NUMBER, writable=False),
    Field("reorder_point", FieldType.INT, nullable=False),
    Field("reorder_quantity", FieldType.INT, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("product_id",), page_size=50, max_page_size=200)

RESERVATIONS = Table(SCHEMA, "inventory_reservations", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("inventory_id", FieldType.UUID, nullable=False),
    Field("product_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("user_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("order_id", FieldType.UUID, filter=_ID),
    Field("quantity", FieldType.INT, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("expires_at", FieldType.TIMESTAMPTZ, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("closed_at", FieldType.TIMESTAMPTZ),
], tenant="organization_id")

MOVEMENTS = Table(SCHEMA, "inventory_movements", [
    Field("id", FieldType.BIGINT, filter=(Op.EQ,), sort=True, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("inventory_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("product_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("movement_type", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("available_change", FieldType.INT, nullable=False),
    Field("reserved_change", FieldType.INT, nullable=False),
    Field("available_after", FieldType.INT, nullable=False),
    Field("reserved_after", FieldType.INT, nullable=False),
    Field("reference_type", FieldType.TEXT, filter=(Op.EQ,)),
    Field("reference_id", FieldType.UUID, filter=(Op.EQ,)),
    Field("reason", FieldType.TEXT),
    Field("actor_id", FieldType.UUID, filter=(Op.EQ,)),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LT), sort=True,
          nullable=False, writable=False),
], tenant="organization_id", default_sort=("-id",), page_size=50, max_page_size=200)

ALERTS = Table(SCHEMA, "inventory_alerts", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("inventory_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("product_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("alert_type", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("available_quantity", FieldType.INT, nullable=False),
    Field("threshold", FieldType.INT, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LT), sort=True,
          nullable=False, writable=False),
    Field("resolved_at", FieldType.TIMESTAMPTZ),
], tenant="organization_id", default_sort=("-created_at",), page_size=50, max_page_size=200)

SUPPLIERS = Table(SCHEMA, "inventory_suppliers", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), sort=True, nullable=False),
    Field("contact_email", FieldType.TEXT),
    Field("lead_time_days", FieldType.INT, nullable=False),
    Field("on_time_rate", FieldType.NUMERIC),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("name",))

CATEGORIES = Table(SCHEMA, "inventory_categories", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), sort=True, nullable=False),
    Field("description", FieldType.TEXT),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("name",))

ANALYTICS = Table(SCHEMA, "inventory_analytics", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("inventory_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("day", FieldType.DATE, filter=(Op.EQ, Op.GTE, Op.LT), nullable=False),
    Field("product_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("reserved_units", FieldType.INT, nullable=False),
    Field("released_units", FieldType.INT, nullable=False),
    Field("fulfilled_units", FieldType.INT, nullable=False),
    Field("adjusted_units", FieldType.INT, nullable=False),
    Field("movements", FieldType.INT, nullable=False),
    Field("closing_available", FieldType.INT, nullable=False),
], primary_key=("inventory_id", "day"), tenant="organization_id")

TABLES = (INVENTORY, RESERVATIONS, MOVEMENTS, ALERTS, SUPPLIERS, CATEGORIES, ANALYTICS)
