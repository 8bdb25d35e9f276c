"""Reading the audit log beyond lists: an entity's trail, a user's activity summary, and
per-action daily counts.

Lists of events -- filters, ranges, sort, count modes, signed keyset cursors -- are
`Repository(db, AUDIT_LOG).list(query)`, the same list grammar as every other table (the
`/v1/audit-logs` endpoint is exactly that); `trail` is a list of that kind with the entity's
filters filled in. The summaries are aggregates the list grammar cannot express. Every query is
scoped to one organization and served by one of the audit indexes (`idx_audit_logs_org_entity`,
`_org_action`, `_actor_created`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, LiteralString

from psycopg.rows import dict_row

from pgkeel.audit.events import AuditEvent
from pgkeel.audit.table import AUDIT_LOG
from pgkeel.db import Database, current_context, use_context
from pgkeel.errors import TenantRequired, UsageError
from pgkeel.repo import CountMode, Filter, ListQuery, Op, Repository, SortKey

__all__ = [
    "ALL_ORGANIZATIONS",
    "ActionCount",
    "ActivitySummary",
    "DailyCount",
    "daily_stats",
    "trail",
    "user_activity_summary",
]

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


def _org(org_id: Any) -> str:
    if org_id is None or str(org_id) == "":
        raise UsageError("An organization id is required to read the audit log.",
                         hint="Pass org_id=..., or run inside use_context(org_id=...).")
    return str(org_id)


async def trail(db: Database, org_id: Any, entity_type: str, entity_id: Any, *,
                limit: int = 100, newest_first: bool = True,
                replica: bool = False) -> list[AuditEvent]:
    """The history of one entity (`idx_audit_logs_org_entity`): a repository list of
    `AUDIT_LOG` filtered to the entity, at most `limit` events."""
    if not 1 <= limit <= AUDIT_LOG.max_page_size:
        raise UsageError(f"limit must be between 1 and {AUDIT_LOG.max_page_size}, not {limit}.")
    query = ListQuery(
        filters=[Filter(AUDIT_LOG.field("entity_type"), Op.EQ, entity_type),
                 Filter(AUDIT_LOG.field("entity_id"), Op.EQ, str(entity_id))],
        sort=[SortKey(AUDIT_LOG.field("created_at"), descending=newest_first)],
        page_size=limit, count=CountMode.NONE)
    events: Repository[AuditEvent] = Repository(db, AUDIT_LOG, row_type=AuditEvent,
                                                name="audit event")
    with use_context(org_id=_org(org_id)):
        page = await events.list(query, replica=replica)
    return page.items


class _AllOrganizations:
    def __repr__(self) -> str:
        return "ALL_ORGANIZATIONS"


ALL_ORGANIZATIONS: Any = _AllOrganizations()
"""`org_id=ALL_ORGANIZATIONS`: the explicit opt-in to read across organizations (only a
role that bypasses row-level security sees more than the context's organization)."""


async def user_activity_summary(db: Database, user_id: Any, *, days: int = 30,
                                org_id: Any = None, replica: bool = False) -> ActivitySummary:
    """What `user_id` did in the last `days` days, per action and entity type, most frequent
    first (the SQL function `audit.get_user_activity_summary`). Within `org_id`, by default
    the context's organization; with neither, `TenantRequired` (never every organization,
    unless asked for with `org_id=ALL_ORGANIZATIONS`)."""
    if days < 1:
        raise UsageError(f"days must be at least 1, not {days}.")
    if org_id is ALL_ORGANIZATIONS:
        org = None
    else:
        if org_id is None:
            org_id = current_context().org_id
        if org_id is None or str(org_id) == "":
            raise TenantRequired(
                "Reading a user's audit activity needs an organization.",
                hint="Pass org_id=..., run inside use_context(org_id=...), or pass "
                     "org_id=ALL_ORGANIZATIONS to read every organization on purpose.")
        org = str(org_id)
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
