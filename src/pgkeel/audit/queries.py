"""Reading the audit log: an entity's trail, filtered lists (offset pages or keyset), a user's
activity summary, and per-action daily counts.

Every query is scoped to one organization and served by one of the audit indexes
(`idx_audit_logs_org_created`, `_org_entity`, `_org_action`, `_actor_created`). Filters are
fixed SQL fragments joined with `psycopg.sql`; every value is a bound parameter. These are the
functions the HTTP endpoints (`/v1/audit-logs`, `/v1/audit-logs/summary`,
`/v1/users/{id}/activity`) wrap.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, LiteralString

import orjson
from psycopg import sql
from psycopg.rows import dict_row

from pgkeel.audit.events import AuditEvent
from pgkeel.db import Database
from pgkeel.errors import AuditCursorInvalid, UsageError

__all__ = [
    "MAX_PAGE_SIZE",
    "ActionCount",
    "ActivitySummary",
    "AuditFilter",
    "AuditKeysetPage",
    "AuditPage",
    "DailyCount",
    "daily_stats",
    "decode_cursor",
    "encode_cursor",
    "list_events",
    "list_events_keyset",
    "trail",
    "user_activity_summary",
]

MAX_PAGE_SIZE = 1000

_SELECT: LiteralString = (
    "SELECT id, organization_id, actor_id, action, entity_type, entity_id, old_values,"
    " new_values, changed_fields, metadata, request_id, txid, created_at"
    " FROM audit.audit_log WHERE ")
_ORG: LiteralString = "organization_id = %(org)s"
_FILTERS: dict[str, LiteralString] = {
    "action": "action = ANY(%(action)s::text[])",
    "actor_id": "actor_id = %(actor_id)s",
    "entity_type": "entity_type = %(entity_type)s",
    "entity_id": "entity_id = %(entity_id)s",
    "since": "created_at >= %(since)s",
    "until": "created_at < %(until)s",
}
_AFTER: LiteralString = "(created_at, id) < (%(after_at)s, %(after_id)s)"
_NEWEST_FIRST: LiteralString = " ORDER BY created_at DESC, id DESC"
_OLDEST_FIRST: LiteralString = " ORDER BY created_at, id"

ACTIVITY: LiteralString = (
    "SELECT action, entity_type, event_count, first_at, last_at"
    " FROM audit.get_user_activity_summary(%s::text, %s::int, %s::text)")

DAILY: LiteralString = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, action, count(*) AS events
FROM audit.audit_log
WHERE organization_id = %(org)s AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(action)s::text[] IS NULL OR action = ANY(%(action)s::text[]))
GROUP BY 1, 2
ORDER BY 1, 2"""


@dataclass(frozen=True)
class AuditFilter:
    """What a list is narrowed to. `since` is inclusive, `until` exclusive."""

    action: str | Sequence[str] | None = None
    actor_id: Any = None
    entity_type: str | None = None
    entity_id: Any = None
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, Any]:
        """The set filters as query parameters (ids as text)."""
        values: dict[str, Any] = {}
        if self.action is not None:
            values["action"] = [self.action] if isinstance(self.action, str) \
                else list(self.action)
        for name in ("actor_id", "entity_type", "entity_id"):
            value = getattr(self, name)
            if value is not None:
                values[name] = str(value)
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                if value.tzinfo is None:
                    raise UsageError(f"{name} must be timezone-aware.")
                values[name] = value
        return values


@dataclass(frozen=True)
class AuditPage:
    """An offset page: `{items, page, page_size, total, total_pages}` (total None when not
    counted)."""

    items: list[AuditEvent]
    page: int
    page_size: int
    total: int | None
    total_pages: int | None


@dataclass(frozen=True)
class AuditKeysetPage:
    """A keyset page, newest first: pass `next_cursor` back for the next one (None: done)."""

    items: list[AuditEvent]
    limit: int
    next_cursor: str | None


@dataclass(frozen=True)
class ActionCount:
    """How often one action on one entity type happened in the window."""

    action: str
    entity_type: str
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class ActivitySummary:
    """A user's activity over the last `days` days."""

    user_id: str
    days: int
    organization_id: str | None
    total: int
    first_at: datetime | None
    last_at: datetime | None
    actions: list[ActionCount] = field(default_factory=list)


@dataclass(frozen=True)
class DailyCount:
    """Events of one action on one UTC day."""

    day: date
    action: str
    count: int


def encode_cursor(event: AuditEvent) -> str:
    """An opaque cursor pointing just after `event` in newest-first order."""
    raw = orjson.dumps([event.created_at.isoformat(), event.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (created_at, id) a cursor points after; AuditCursorInvalid if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, event_id = orjson.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(event_id, int):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise AuditCursorInvalid(details={"cursor": cursor[:100]},
                                 hint="Pass back the next_cursor of a previous page.") from None
    return at, event_id


def _org(org_id: Any) -> str:
    if org_id is None or str(org_id) == "":
        raise UsageError("An organization id is required to read the audit log.",
                         hint="Pass org_id=..., or run inside use_context(org_id=...).")
    return str(org_id)


def _where(filters: AuditFilter, params: dict[str, Any]) -> sql.Composed:
    parts = [sql.SQL(_ORG)] + [sql.SQL(_FILTERS[name]) for name in _FILTERS
                               if name in params]
    return sql.SQL(" AND ").join(parts)


def _check_size(value: int, name: str) -> None:
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise UsageError(f"{name} must be between 1 and {MAX_PAGE_SIZE}, not {value}.")


async def list_events(db: Database, org_id: Any, filters: AuditFilter | None = None, *,
                      page: int = 1, page_size: int = 50, count: bool = True,
                      replica: bool = False) -> AuditPage:
    """One page of events, newest first. `count=False` skips the COUNT(*)."""
    filters = filters or AuditFilter()
    _check_size(page_size, "page_size")
    if page < 1:
        raise UsageError(f"page must be at least 1, not {page}.")
    params = filters.params()
    where = _where(filters, params)
    params.update(org=_org(org_id), limit=page_size, offset=(page - 1) * page_size)
    query = sql.Composed([sql.SQL(_SELECT), where, sql.SQL(_NEWEST_FIRST),
                          sql.SQL(" LIMIT %(limit)s OFFSET %(offset)s")])
    async with db.transaction(readonly=True, replica=replica) as tx:
        rows = await tx.fetch_all(query, params, row_factory=dict_row)
        total = None
        if count:
            counted = sql.Composed([sql.SQL("SELECT count(*) FROM audit.audit_log WHERE "),
                                    where])
            total = int(await tx.fetch_val(counted, params))
    pages = None if total is None else (total + page_size - 1) // page_size
    return AuditPage([AuditEvent.from_row(r) for r in rows], page, page_size, total, pages)


async def list_events_keyset(db: Database, org_id: Any, filters: AuditFilter | None = None,
                             *, cursor: str | None = None, limit: int = 50,
                             replica: bool = False) -> AuditKeysetPage:
    """Events newest first after `cursor`: constant cost however deep the page."""
    filters = filters or AuditFilter()
    _check_size(limit, "limit")
    params = filters.params()
    parts: list[sql.Composable] = [_where(filters, params)]
    if cursor is not None:
        params["after_at"], params["after_id"] = decode_cursor(cursor)
        parts.append(sql.SQL(_AFTER))
    params.update(org=_org(org_id), limit=limit + 1)
    query = sql.Composed([sql.SQL(_SELECT), sql.SQL(" AND ").join(parts),
                          sql.SQL(_NEWEST_FIRST), sql.SQL(" LIMIT %(limit)s")])
    rows = await db.fetch_all(query, params, replica=replica, row_factory=dict_row)
    items = [AuditEvent.from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return AuditKeysetPage(items, limit, encode_cursor(items[-1]) if more and items else None)


async def trail(db: Database, org_id: Any, entity_type: str, entity_id: Any, *,
                limit: int = 100, newest_first: bool = True,
                replica: bool = False) -> list[AuditEvent]:
    """The history of one entity (`idx_audit_logs_org_entity`)."""
    _check_size(limit, "limit")
    params = {"org": _org(org_id), "entity_type": entity_type, "entity_id": str(entity_id),
              "limit": limit}
    query = sql.Composed([
        sql.SQL(_SELECT), sql.SQL(" AND ").join([sql.SQL(_ORG),
                                                sql.SQL(_FILTERS["entity_type"]),
                                                sql.SQL(_FILTERS["entity_id"])]),
        sql.SQL(_NEWEST_FIRST if newest_first else _OLDEST_FIRST), sql.SQL(" LIMIT %(limit)s")])
    rows = await db.fetch_all(query, params, replica=replica, row_factory=dict_row)
    return [AuditEvent.from_row(r) for r in rows]


async def user_activity_summary(db: Database, user_id: Any, *, days: int = 30,
                                org_id: Any = None, replica: bool = False) -> ActivitySummary:
    """What `user_id` did in the last `days` days, per action and entity type, most frequent
    first (the SQL function `audit.get_user_activity_summary`)."""
    if days < 1:
        raise UsageError(f"days must be at least 1, not {days}.")
    org = None if org_id is None else str(org_id)
    rows = await db.fetch_all(ACTIVITY, (str(user_id), days, org), replica=replica,
                              row_factory=dict_row)
    actions = [ActionCount(r["action"], r["entity_type"], int(r["event_count"]),
                           r["first_at"], r["last_at"]) for r in rows]
    return ActivitySummary(
        user_id=str(user_id), days=days, organization_id=org,
        total=sum(a.count for a in actions),
        first_at=min((a.first_at for a in actions), default=None),
        last_at=max((a.last_at for a in actions), default=None),
        actions=actions)


async def daily_stats(db: Database, org_id: Any, *, days: int = 30,
                      since: datetime | None = None, until: datetime | None = None,
                      action: str | Sequence[str] | None = None,
                      replica: bool = False) -> list[DailyCount]:
    """Events per UTC day and action, oldest day first. The window is [since, until), by
    default the last `days` whole UTC days, today included."""
    if days < 1:
        raise UsageError(f"days must be at least 1, not {days}.")
    today = datetime.now(UTC).date()
    end = until or datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    start = since or datetime.combine(today - timedelta(days=days - 1), datetime.min.time(),
                                      UTC)
    if start.tzinfo is None or end.tzinfo is None:
        raise UsageError("since and until must be timezone-aware.")
    actions = None if action is None else ([action] if isinstance(action, str)
                                           else list(action))
    params = {"org": _org(org_id), "since": start, "until": end, "action": actions}
    rows = await db.fetch_all(DAILY, params, replica=replica, row_factory=dict_row)
    return [DailyCount(r["day"], r["action"], int(r["events"])) for r in rows]
