"""Writing a batch of prepared audit events in one transaction: one INSERT per organization,
each row an element of the arrays."""

from __future__ import annotations

from typing import Any, LiteralString

import orjson

from pgkeel.audit.events import PreparedEvent
from pgkeel.db import Database
from pgkeel.errors import DatabaseError, PgkeelError

__all__ = ["insert_batch", "refused"]

# One INSERT per organization in the batch, each row an element of the arrays. Not COPY:
# PostgreSQL refuses COPY FROM into a table under row-level security. The organization is set
# before each INSERT, so the tenant policy admits exactly that organization's rows.
SET_ORG: LiteralString = "SELECT set_config('pgkeel.org_id', %s, true)"
INSERT_EVENTS: LiteralString = """
INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                             old_values, new_values, changed_fields, metadata, request_id,
                             txid, created_at)
SELECT e.org, e.actor, e.action, e.entity_type, e.entity_id, e.old, e.new,
       CASE WHEN e.changed IS NOT NULL
            THEN ARRAY(SELECT jsonb_array_elements_text(e.changed)) END,
       e.meta, e.request, NULL, e.created
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::jsonb[],
            %s::jsonb[], %s::jsonb[], %s::jsonb[], %s::text[], %s::timestamptz[])
     AS e(org, actor, action, entity_type, entity_id, old, new, changed, meta, request,
          created)
"""

_REFUSED_CLASSES = ("22", "23")
"""SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation)."""


async def insert_batch(db: Database, batch: list[PreparedEvent]) -> None:
    """Insert `batch` in one transaction (raises on failure: the caller retries or splits)."""
    # Grouping by organization lets the commit-time chaining lock each one only once.
    groups: dict[str | None, list[PreparedEvent]] = {}
    for event in sorted(batch, key=lambda e: e.organization_id or ""):
        groups.setdefault(event.organization_id, []).append(event)
    async with db.transaction() as tx:
        for org, events in groups.items():
            await tx.execute(SET_ORG, (org or "",))
            await tx.execute(INSERT_EVENTS, _columns(events))


def _columns(events: list[PreparedEvent]) -> tuple[list[Any], ...]:
    """The events as one array per column (the INSERT's parameters)."""
    return ([e.organization_id for e in events], [e.actor_id for e in events],
            [e.action for e in events], [e.entity_type for e in events],
            [e.entity_id for e in events], [e.old_json for e in events],
            [e.new_json for e in events],
            [None if e.changed is None else orjson.dumps(e.changed).decode() for e in events],
            [e.metadata_json for e in events], [e.request_id for e in events],
            [e.created_at for e in events])


def refused(exc: PgkeelError) -> bool:
    """Whether the database refused the data itself (retrying the same batch cannot help)."""
    return isinstance(exc, DatabaseError) and (exc.sqlstate or "").startswith(_REFUSED_CLASSES)
