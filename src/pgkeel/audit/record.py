"""`record(tx, ...)`: write an audit row inside the caller's transaction.

The row commits or rolls back with the change it describes -- the default way in for
business actions. Organization, actor and request id come from the transaction's context
(`use_context(...)`, or `RequestIdMiddleware` for the request id) unless given explicitly.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any, LiteralString
from uuid import UUID

from pgkeel.audit.events import DEFAULT_REDACTED, FROM_CONTEXT, prepare
from pgkeel.db.transaction import Transaction
from pgkeel.errors import AuditNotInstalled, DatabaseError

__all__ = ["INSERT_EVENT", "INSERT_PLATFORM_EVENT", "not_installed", "record", "uuid_v7"]

INSERT_EVENT: LiteralString = """
INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                             old_values, new_values, changed_fields, metadata, request_id)
VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::text[], %s::jsonb, %s)
RETURNING event_id"""

# A platform row (no organization) is one no tenant may read, so row-level security refuses
# to RETURN it: its event id is made here instead (a UUIDv7, as the column's default makes),
# and the statement is otherwise the same, in the same single round trip.
INSERT_PLATFORM_EVENT: LiteralString = """
INSERT INTO audit.audit_log (event_id, organization_id, actor_id, action, entity_type,
                             entity_id, old_values, new_values, changed_fields, metadata,
                             request_id)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::text[], %s::jsonb, %s)"""

_MISSING = frozenset({"3F000", "42883"})  # undefined schema / function


def uuid_v7() -> UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, then random bits."""
    value = (time.time_ns() // 1_000_000 & (2**48 - 1)) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant 10
    return UUID(int=value)


def not_installed(exc: DatabaseError, *, table_missing: bool = False) -> AuditNotInstalled | None:
    """An `AuditNotInstalled` when `exc` means the audit schema is missing (with
    `table_missing`, an undefined table counts too), else None."""
    if exc.sqlstate not in _MISSING and not (table_missing and exc.sqlstate == "42P01"):
        return None
    return AuditNotInstalled(
        "The audit schema is not installed in this database.",
        hint="Run `pgkeel audit install` (or `await AuditLog(db).install()`).")


async def record(
    tx: Transaction,
    *,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    old: Any = None,
    new: Any = None,
    metadata: Any = None,
    org_id: Any = FROM_CONTEXT,
    actor_id: Any = FROM_CONTEXT,
    request_id: Any = FROM_CONTEXT,
    changed: Iterable[str] | None = None,
    redact: Iterable[str] = DEFAULT_REDACTED,
) -> UUID:
    """Insert one audit row in `tx`; returns its event id (a UUIDv7).

    `old` / `new` are JSON-able values (usually dicts of the entity's fields before and
    after); `changed_fields` is computed from them unless `changed` is given. Keys listed
    in `redact` are stored as "[redacted]". Passing `org_id=None` (etc.) stores NULL instead
    of the context's value.
    """
    event = prepare(action=action, entity_type=entity_type, entity_id=entity_id, old=old,
                    new=new, metadata=metadata, org_id=org_id, actor_id=actor_id,
                    request_id=request_id, changed=changed, redact=redact,
                    context=tx.context)
    try:
        if event.organization_id is None:
            made = uuid_v7()
            await tx.execute(INSERT_PLATFORM_EVENT, (made, *event.insert_params()))
            return made
        event_id: UUID = await tx.fetch_val(INSERT_EVENT, event.insert_params())
        return event_id
    except DatabaseError as exc:
        missing = not_installed(exc, table_missing=True)
        if missing is not None:
            raise missing from exc
        raise
