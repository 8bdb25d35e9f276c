"""Trigger capture: audit every INSERT / UPDATE / DELETE / TRUNCATE on a table, from any
client -- bulk SQL and raw `psql` sessions included.

`enable` installs triggers (the SQL function `audit.enable`) that write old and new rows as
JSONB, the changed columns, and the organization / actor / request id of the transaction
context (`pgkeel.*` settings; the database user goes into metadata.db_user). Ordinary tables
get statement-level triggers with transition tables: one INSERT ... SELECT per statement, so
a 10,000-row UPDATE costs one extra statement, not 10,000 trigger calls. Partitioned tables
and partitions get row-level triggers, which also see DML aimed at a single partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, LiteralString

import psycopg
from psycopg.rows import dict_row

from pgkeel.audit.record import not_installed
from pgkeel.db import Database
from pgkeel.errors import DatabaseError, PgkeelError, UsageError

__all__ = ["CaptureMode", "TrackedTable", "disable", "enable", "tracked_tables"]

CaptureMode = Literal["statement", "row"]

ENABLE: LiteralString = "SELECT audit.enable(%s::text::regclass, %s, %s::text[], %s::text[], %s)"
DISABLE: LiteralString = "SELECT audit.disable(%s::text::regclass)"
# SQLSTATEs audit.enable raises itself: bad mode, not a table, no primary key, no such column.
_OWN_ERRORS = frozenset({"22023", "42809", "55000", "42703"})
TRACKED: LiteralString = """
SELECT t.relid::text AS table_name, t.mode, t.pk_columns, t.excluded, t.ignored, t.org_column,
       t.enabled_by, t.enabled_at
FROM audit.tracked_tables AS t
JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
ORDER BY 1"""


@dataclass(frozen=True)
class TrackedTable:
    """A table with capture triggers, and the options they were installed with."""

    table: str
    mode: CaptureMode
    pk_columns: list[str]
    excluded: list[str]
    ignored: list[str]
    org_column: str | None
    enabled_by: str
    enabled_at: datetime


async def enable(db: Database, table: str, *, mode: CaptureMode = "statement",
                 exclude: Sequence[str] = (), ignore: Sequence[str] = (),
                 org_column: str | None = None) -> CaptureMode:
    """Install (or re-install with these options) the capture triggers on `table`.

    - `exclude`: columns never stored (password hashes); a change is still listed in
      changed_fields.
    - `ignore`: columns whose change alone is not audited (updated_at); their values are kept.
    - `org_column`: the row's own organization column, used before `pgkeel.org_id`.

    `table` is a table name as PostgreSQL parses it (`"MixedCase"`, `schema.table`). Returns
    the mode used: partitioned tables always get "row". Raises if the table has no primary
    key (it identifies audited rows; composite keys are stored as a JSON array).
    """
    try:
        async with db.transaction() as tx:
            used = await tx.fetch_val(ENABLE, (table, mode, list(exclude), list(ignore),
                                               org_column))
    except DatabaseError as exc:
        raise _explained(exc, table) from exc
    return "row" if used == "row" else "statement"


async def disable(db: Database, table: str) -> bool:
    """Remove the capture triggers from `table`; False if it was not tracked. Its audit rows
    stay."""
    try:
        async with db.transaction() as tx:
            return bool(await tx.fetch_val(DISABLE, (table,)))
    except DatabaseError as exc:
        raise _explained(exc, table) from exc


def _explained(exc: DatabaseError, table: str) -> PgkeelError:
    """The audit functions' own messages (never data) as a UsageError; a missing table or
    a missing audit schema said plainly."""
    if exc.sqlstate == "42P01":
        return UsageError(f"Table {table!r} does not exist.")
    missing = not_installed(exc)
    if missing is not None:
        return missing
    cause = exc.__cause__
    if exc.sqlstate in _OWN_ERRORS and isinstance(cause, psycopg.Error):
        return UsageError(cause.diag.message_primary or exc.message,
                          hint=cause.diag.message_hint)
    return exc


async def tracked_tables(db: Database) -> list[TrackedTable]:
    """Every table with capture triggers."""
    rows = await db.fetch_all(TRACKED, row_factory=dict_row)
    return [TrackedTable(table=r["table_name"], mode=r["mode"], pk_columns=r["pk_columns"],
                         excluded=r["excluded"], ignored=r["ignored"],
                         org_column=r["org_column"], enabled_by=r["enabled_by"],
                         enabled_at=r["enabled_at"]) for r in rows]
