"""Reading the audit log: the trail, lists of events through the repository list grammar
(offset and signed keyset pages, filters), a user's activity summary (Python and the SQL
function), per-action daily statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgkeel.audit import ALL_ORGANIZATIONS, AUDIT_LOG
from pgkeel.db import use_context
from pgkeel.errors import InvalidParameter, TenantRequired, UsageError
from pgkeel.repo import Repository, parse_list_params

INSERT_AT = """
INSERT INTO audit.audit_log (organization_id, actor_id, action, entity_type, entity_id,
                             created_at)
VALUES (%s, %s, %s, %s, %s, %s)"""


async def _seed(db, org, rows):
    """rows: (actor, action, entity_type, entity_id, created_at)."""
    async with db.transaction() as tx:
        await tx.execute_many(INSERT_AT, [(org, *row) for row in rows])


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def test_trail_lists_one_entity_newest_first(audit, pgkeel_db, org):
    await _seed(pgkeel_db, org, [
        ("u1", "users.create", "User", "7", _days_ago(3)),
        ("u1", "users.update", "User", "7", _days_ago(2)),
        ("u2", "users.update", "User", "8", _days_ago(2)),
        ("u1", "users.status_changed", "User", "7", _days_ago(1)),
    ])
    trail = await audit.trail(org, "User", 7)
    assert [e.action for e in trail] == ["users.status_changed", "users.update",
                                         "users.create"]
    oldest = await audit.trail(org, "User", "7", newest_first=False, limit=1)
    assert [e.action for e in oldest] == ["users.create"]
    assert await audit.trail(f"{org}-other", "User", 7) == []


async def _list(db, org, *pairs):
    with use_context(org_id=org):
        return await Repository(db, AUDIT_LOG).list(parse_list_params(AUDIT_LOG, pairs))


async def test_list_filters_and_offset_pages(audit, pgkeel_db, org):
    rows = [(f"u{i % 3}", "users.update" if i % 2 else "users.create", "User", str(i),
             _days_ago(10 - i / 10)) for i in range(25)]
    await _seed(pgkeel_db, org, rows)

    def counted(*pairs):
        return _list(pgkeel_db, org, ("count", "exact"), *pairs)

    page1 = await counted(("page", "1"), ("pageSize", "10"))
    assert (page1.total, page1.total_pages, len(page1.items)) == (25, 3, 10)
    page3 = await counted(("page", "3"), ("pageSize", "10"))
    assert len(page3.items) == 5
    everything = [e["event_id"] for p in ("1", "2", "3")
                  for e in (await counted(("page", p), ("pageSize", "10"))).items]
    assert len(set(everything)) == 25
    created = [e["created_at"] for e in page1.items]
    assert created == sorted(created, reverse=True)

    updates = await counted(("action", "users.update"), ("pageSize", "100"))
    assert updates.total == 12 and {e["action"] for e in updates.items} == {"users.update"}
    both = await counted(("action[in]", "users.update,users.create"))
    assert both.total == 25
    by_actor = await counted(("actorId", "u1"), ("entityType", "User"))
    assert by_actor.total == sum(1 for r in rows if r[0] == "u1")
    one = await counted(("entityId", "13"))
    assert [e["entity_id"] for e in one.items] == ["13"]
    since, until = _days_ago(9.5), _days_ago(9.0)
    in_window = await counted(("createdAt[gte]", since.isoformat()),
                              ("createdAt[lt]", until.isoformat()))
    assert in_window.total == sum(1 for r in rows if since <= r[4] < until)
    uncounted = await _list(pgkeel_db, org, ("pageSize", "5"), ("count", "none"))
    assert uncounted.total is None and len(uncounted.items) == 5
    assert (await _list(pgkeel_db, f"{org}-other", ("count", "exact"))).total == 0


async def test_keyset_pages_walk_everything_once(audit, pgkeel_db, org):
    same_time = _days_ago(1)
    await _seed(pgkeel_db, org, [("u", "a", "T", str(i), same_time) for i in range(7)]
                + [("u", "b", "T", str(i), _days_ago(2)) for i in range(6)])
    seen, page = [], await _list(pgkeel_db, org, ("limit", "4"))
    while True:
        seen += [e["event_id"] for e in page.items]
        if page.next_cursor is None:
            break
        page = await _list(pgkeel_db, org, ("limit", "4"), ("cursor", page.next_cursor))
    assert len(seen) == len(set(seen)) == 13
    only_b = await _list(pgkeel_db, org, ("action", "b"), ("limit", "100"))
    assert len(only_b.items) == 6 and only_b.next_cursor is None

    with pytest.raises(InvalidParameter):
        await _list(pgkeel_db, org, ("limit", "4"), ("cursor", "not-a-cursor"))
    first = await _list(pgkeel_db, org, ("limit", "4"))
    with pytest.raises(InvalidParameter):        # signed and bound to the organization
        await _list(pgkeel_db, f"{org}-other", ("limit", "4"), ("cursor", first.next_cursor))


async def test_queries_need_an_organization_and_sane_sizes(audit):
    with pytest.raises(UsageError):
        await audit.trail(None, "User", 1)
    with pytest.raises(UsageError):
        await audit.trail("o", "User", 1, limit=5000)


async def test_user_activity_summary_counts(audit, pgkeel_db, org, sync_conn):
    user = f"user-{org}"
    await _seed(pgkeel_db, org, [
        (user, "users.update", "User", "1", _days_ago(1)),
        (user, "users.update", "User", "2", _days_ago(5)),
        (user, "users.update", "User", "3", _days_ago(29)),
        (user, "users.role_added", "User", "1", _days_ago(2)),
        (user, "CUSTOMER_TAG_ASSIGNED", "Customer", "c1", _days_ago(3)),
        (user, "users.update", "User", "4", _days_ago(45)),          # outside 30 days
        ("someone-else", "users.update", "User", "1", _days_ago(1)),
    ])
    await _seed(pgkeel_db, f"{org}-b", [(user, "users.update", "User", "9", _days_ago(1))])

    rows = sync_conn.execute(
        "SELECT action, entity_type, event_count FROM audit.get_user_activity_summary(%s, 30)",
        (user,)).fetchall()
    assert rows == [("users.update", "User", 4), ("CUSTOMER_TAG_ASSIGNED", "Customer", 1),
                    ("users.role_added", "User", 1)]
    week = sync_conn.execute(
        "SELECT sum(event_count) FROM audit.get_user_activity_summary(%s, 7)", (user,))
    assert week.fetchone() == (5,)

    summary = await audit.user_activity(user, days=30, org_id=org)
    assert summary.total == 5
    assert {(a.action, a.count) for a in summary.actions} == {
        ("users.update", 3), ("users.role_added", 1), ("CUSTOMER_TAG_ASSIGNED", 1)}
    assert summary.first_at is not None and summary.last_at is not None
    assert summary.first_at < summary.last_at
    nobody = await audit.user_activity("nobody", days=30, org_id=org)
    assert (nobody.total, nobody.actions, nobody.first_at) == (0, [], None)


async def test_user_activity_fails_closed_without_an_organization(audit, pgkeel_db, org):
    await _seed(pgkeel_db, org, [("someone", "users.update", "User", "7", _days_ago(1))])
    with pytest.raises(TenantRequired):
        await audit.user_activity("someone", days=30)
    with use_context(org_id=org):   # the context's organization is the default
        assert (await audit.user_activity("someone", days=30)).total == 1
    everywhere = await audit.user_activity("someone", days=30, org_id=ALL_ORGANIZATIONS)
    assert everywhere.total == 1 and everywhere.organization_id is None


async def test_integer_user_ids_use_the_bigint_overload(audit, pgkeel_db, org, sync_conn):
    user_id = 900_000 + int(org[-5:], 16)
    await _seed(pgkeel_db, org, [(str(user_id), "login", "User", "1", _days_ago(1))])
    row = sync_conn.execute(
        "SELECT event_count FROM audit.get_user_activity_summary(%s::bigint, 30)", (user_id,))
    assert row.fetchone() == (1,)


async def test_daily_stats_per_action(audit, pgkeel_db, org):
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    await _seed(pgkeel_db, org, [
        ("u", "users.update", "User", "1", today - timedelta(days=1)),
        ("u", "users.update", "User", "2", today - timedelta(days=1)),
        ("u", "users.create", "User", "3", today - timedelta(days=1)),
        ("u", "users.update", "User", "4", today - timedelta(days=3)),
        ("u", "users.update", "User", "5", today - timedelta(days=40)),
    ])
    stats = await audit.daily_stats(org, days=7)
    day = (today - timedelta(days=1)).date()
    assert [(s.day, s.action, s.count) for s in stats] == [
        ((today - timedelta(days=3)).date(), "users.update", 1),
        (day, "users.create", 1),
        (day, "users.update", 2),
    ]
    only = await audit.daily_stats(org, days=7, action="users.create")
    assert [(s.action, s.count) for s in only] == [("users.create", 1)]
    everything = await audit.daily_stats(org, since=today - timedelta(days=60),
                                         until=today + timedelta(days=1))
    assert sum(s.count for s in everything) == 5


def test_audit_errors_map_to_http_statuses():
    from pgkeel.errors import AuditEventInvalid, AuditQueueFull
    from pgkeel.web import status_for

    assert status_for(AuditEventInvalid()) == 422
    assert status_for(AuditQueueFull()) == 503
