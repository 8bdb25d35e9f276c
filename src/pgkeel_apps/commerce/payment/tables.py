"""The payment schema as pgkeel declarations."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import Field, FieldType, Op, Table

SCHEMA: Final = "payment"

_ID = (Op.EQ, Op.IN)

PAYMENTS = Table(SCHEMA, "payments", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("order_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("user_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("payment_method_id", FieldType.UUID),
    Field("amount", FieldType.NUMERIC, filter=(Op.EQ, Op.GTE, Op.LTE), nullable=False),
    Field("currency", FieldType.TEXT, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("captured_amount", FieldType.NUMERIC, nullable=False),
    Field("refunded_amount", FieldType.NUMERIC, nullable=False),
    Field("provider", FieldType.TEXT, nullable=False),
    Field("provider_reference", FieldType.TEXT),
    Field("failure_code", FieldType.TEXT),
    Field("expires_at", FieldType.TIMESTAMPTZ, nullable=False),
    Field("authorized_at", FieldType.TIMESTAMPTZ),
    Field("captured_at", FieldType.TIMESTAMPTZ),
    Field("settled_at", FieldType.TIMESTAMPTZ),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LT), sort=True,
          nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("-created_at",))

METHODS = Table(SCHEMA, "payment_methods", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("user_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("method_type", FieldType.TEXT, nullable=False),
    Field("provider", FieldType.TEXT, nullable=False),
    Field("token", FieldType.TEXT, nullable=False, sensitive=True),
    Field("brand", FieldType.TEXT),
    Field("last4", FieldType.TEXT),
    Field("exp_month", FieldType.SMALLINT),
    Field("exp_year", FieldType.SMALLINT),
    Field("is_default", FieldType.BOOL, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("created_at",))

TRANSACTIONS = Table(SCHEMA, "payment_transactions", [
    Field("id", FieldType.BIGINT, sort=True, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("payment_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("kind", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("amount", FieldType.NUMERIC, nullable=False),
    Field("from_status", FieldType.TEXT),
    Field("to_status", FieldType.TEXT, nullable=False),
    Field("provider_reference", FieldType.TEXT),
    Field("error_code", FieldType.TEXT),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("id",))

REFUNDS = Table(SCHEMA, "refunds", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("payment_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("amount", FieldType.NUMERIC, nullable=False),
    Field("reason", FieldType.TEXT, nullable=False),
    Field("status", FieldType.TEXT, nullable=False),
    Field("provider_reference", FieldType.TEXT),
    Field("created_by", FieldType.UUID),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id")

DISPUTES = Table(SCHEMA, "payment_disputes", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("payment_id", FieldType.UUID, filter=(Op.EQ,), nullable=False),
    Field("amount", FieldType.NUMERIC, nullable=False),
    Field("reason", FieldType.TEXT, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ,), nullable=False),
    Field("evidence", FieldType.JSONB, nullable=False),
    Field("opened_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("resolved_at", FieldType.TIMESTAMPTZ),
], tenant="organization_id")

ANALYTICS = Table(SCHEMA, "payment_analytics", [
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("day", FieldType.DATE, filter=(Op.EQ, Op.GTE, Op.LT), nullable=False),
    Field("authorized_count", FieldType.INT, nullable=False),
    Field("authorized_amount", FieldType.NUMERIC, nullable=False),
    Field("captured_amount", FieldType.NUMERIC, nullable=False),
    Field("refunded_amount", FieldType.NUMERIC, nullable=False),
    Field("declined_count", FieldType.INT, nullable=False),
    Field("disputed_count", FieldType.INT, nullable=False),
], primary_key="day", tenant="organization_id")

TABLES = (PAYMENTS, METHODS, TRANSACTIONS, REFUNDS, DISPUTES, ANALYTICS)
