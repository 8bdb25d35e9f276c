"""`audit.audit_log` declared for `pgkeel.repo`, so an HTTP endpoint lists audit events with
the standard list grammar (filters, ranges, sort, count modes, signed keyset cursors)."""

from __future__ import annotations

from pgkeel.repo import CountMode, Field, FieldType, Op, Table

__all__ = ["AUDIT_LOG"]

AUDIT_LOG = Table("audit", "audit_log", [
    # The id a tenant sees: a UUIDv7. `id` and `txid` count for the whole platform, so they
    # are never selected for an organization's reader.
    Field("event_id", FieldType.UUID, filter=(Op.EQ,), nullable=False, writable=False,
          api_name="id"),
    Field("id", FieldType.BIGINT, nullable=False, writable=False, sensitive=True,
          api_name="auditId"),
    Field("organization_id", FieldType.TEXT, writable=False),
    Field("actor_id", FieldType.TEXT, filter=(Op.EQ, Op.IN)),
    Field("action", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.LIKE), nullable=False),
    Field("entity_type", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("entity_id", FieldType.TEXT, filter=(Op.EQ,)),
    Field("old_values", FieldType.JSONB),
    Field("new_values", FieldType.JSONB),
    Field("changed_fields", FieldType.TEXT_ARRAY),
    Field("metadata", FieldType.JSONB),
    Field("request_id", FieldType.TEXT, filter=(Op.EQ,)),
    Field("txid", FieldType.BIGINT, sensitive=True),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=(Op.GTE, Op.LTE, Op.GT, Op.LT),
          sort=True, nullable=False, writable=False),
], primary_key="event_id", tenant="organization_id",
    default_sort=("-created_at",), page_size=50, max_page_size=200,
    count=CountMode.ESTIMATED, count_threshold=10_000)
