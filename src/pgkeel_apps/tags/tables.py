"""The tags schema as pgkeel declarations."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import Field, FieldType, Op, Search, Table

SCHEMA: Final = "tags"

TAGS = Table(SCHEMA, "customer_tags", [
    Field("id", FieldType.UUID, filter=(Op.EQ, Op.IN), nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), sort=True, search=Search.ILIKE,
          nullable=False),
    Field("color", FieldType.TEXT, filter=(Op.EQ,), nullable=False),
    Field("description", FieldType.TEXT),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", updated_at="updated_at", default_sort=("name",), page_size=50,
    max_page_size=100)

ASSIGNMENTS = Table(SCHEMA, "customer_tag_assignments", [
    Field("id", FieldType.UUID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("customer_id", FieldType.UUID, nullable=False),
    Field("tag_id", FieldType.UUID, nullable=False),
    Field("assigned_by", FieldType.UUID, nullable=False),
    Field("assigned_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("assigned_at",))

TABLES = (TAGS, ASSIGNMENTS)
