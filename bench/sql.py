"""The SQL the raw contenders send, written out by hand -- the same statements pgkeel compiles
for the same request, so every contender asks PostgreSQL the same question (same plan).
`check_same_sql` compares them with pgkeel's compiled text at start-up."""

from __future__ import annotations

import re
from typing import LiteralString

__all__ = [
    "AUDIT_INSERT",
    "COLUMNS",
    "COUNT_EXACT",
    "COUNT_LIMITED",
    "COUNT_PLANNED",
    "GET_USER",
    "LIST_KEYSET",
    "LIST_OFFSET",
    "USER_INSERT",
    "dollar",
    "normalized",
]

COLUMNS: LiteralString = ("t.id, t.organization_id, t.email, t.display_name, t.status, "
                          "t.is_active, t.deleted_at, t.created_at, t.updated_at, t.version, "
                          "t.last_login_at, t.email_verified_at")
_LIVE: LiteralString = "t.organization_id = %s AND t.deleted_at IS NULL"
_ACTIVE: LiteralString = _LIVE + " AND t.is_active = %s"

GET_USER: LiteralString = (
    "SELECT " + COLUMNS + " FROM identity.users AS t WHERE " + _LIVE + " AND t.id = %s")
LIST_OFFSET: LiteralString = (
    "SELECT " + COLUMNS + " FROM identity.users AS t WHERE " + _ACTIVE
    + " ORDER BY t.created_at DESC, t.id DESC LIMIT %s OFFSET %s")
LIST_KEYSET: LiteralString = (
    "SELECT " + COLUMNS + " FROM identity.users AS t WHERE " + _ACTIVE
    + " AND (t.created_at, t.id) < (%s, %s) ORDER BY t.created_at DESC, t.id DESC LIMIT %s")
COUNT_EXACT: LiteralString = "SELECT count(*) FROM identity.users AS t WHERE " + _ACTIVE
COUNT_PLANNED: LiteralString = (
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM identity.users AS t WHERE " + _ACTIVE)
COUNT_LIMITED: LiteralString = (
    "SELECT count(*) FROM (SELECT 1 FROM identity.users AS t WHERE " + _ACTIVE
    + " LIMIT %s) AS s")

USER_INSERT: LiteralString = (
    "INSERT INTO identity.users (display_name, email, is_active, organization_id, status) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id, organization_id, email, display_name, status, "
    "is_active, deleted_at, created_at, updated_at, version, last_login_at, email_verified_at")
AUDIT_INSERT: LiteralString = (
    "INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id, "
    "old_values, new_values, changed_fields, metadata, request_id) "
    "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::text[], %s::jsonb, %s) "
    "RETURNING event_id")


def dollar(query: str) -> str:
    """psycopg's `%s` placeholders as asyncpg's `$1, $2, ...`."""
    parts = query.split("%s")
    return "".join(p + (f"${i}" if i < len(parts) else "")
                   for i, p in enumerate(parts, start=1))


def normalized(query: str | bytes) -> str:
    """Quotes dropped and spaces collapsed, to compare hand-written SQL with pgkeel's."""
    text = query.decode() if isinstance(query, bytes) else query
    return re.sub(r"\s+", " ", text.replace('"', "")).strip()
