"""The report's five indexes exist by name, and each dashboard query's plan uses an index
led by the organization (EXPLAIN on the sample data, sequential scans off the table)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from psycopg import sql

from pgkeel_apps.school import dashboards, service
from tests.pgkeel_apps.conftest import Api

REPORT_INDEXES = {
    "idx_attendances_created_at": ("attendances", "organization_id, created_at"),
    "idx_class_sessions_session_date": ("class_sessions", "organization_id, session_date"),
    "idx_parsed_feedback_student_id": ("parsed_student_feedback",
                                       "organization_id, student_id"),
    "idx_attendance_student_session": ("attendances",
                                       "organization_id, student_id, session_id"),
    "idx_feedback_student_date": ("parsed_student_feedback",
                                  "organization_id, student_id, parsed_at DESC"),
}


async def test_the_reports_five_indexes_exist_by_name(api: Api):
    rows = await api.db.fetch_all(
        "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'school' "
        "AND indexname = ANY(%s)", (list(REPORT_INDEXES),))
    found = {r["indexname"]: (r["tablename"], r["indexdef"]) for r in rows}
    assert set(found) == set(REPORT_INDEXES)
    for name, (table, columns) in REPORT_INDEXES.items():
        assert found[name][0] == table
        assert found[name][1].endswith(f"({columns})"), found[name]


async def _plan(api: Api, statement: Any, params: Any) -> str:
    """The plan as the app role would get it for one school, with sequential scans
    discouraged (the test data are small enough for a planner to prefer them)."""
    async with api.db.transaction() as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        rows = await tx.fetch_all(sql.SQL("EXPLAIN ") + (
            statement if isinstance(statement, sql.Composable) else sql.SQL(statement)),
            params)
    return "\n".join(r["QUERY PLAN"] for r in rows)


async def _sample(api: Api) -> dict[str, Any]:
    row = await api.db.fetch_one(
        "SELECT s.organization_id AS org, s.id AS student, e.course_id AS course "
        "FROM school.students s JOIN school.enrollments e "
        "ON e.organization_id = s.organization_id AND e.student_id = s.id LIMIT 1")
    assert row is not None, "the sample data are loaded"
    return row


@pytest.mark.parametrize(("name", "index"), [
    ("profile", "student_metrics_mv_"),
    ("at_risk", "student_metrics_mv_"),
    ("recent_attendance", "idx_attendance_student_session"),
    # On the test's few rows the planner may take the (organization, student) prefix index
    # and sort the two or three rows itself; either index is led by the organization.
    ("feedback_timeline", ("idx_feedback_student_date", "idx_parsed_feedback_student_id")),
    ("weekly_attendance", "idx_class_sessions"),
    ("active_courses", "courses_code_key"),
    ("session_attendance", "attendances_session_student_key"),
])
async def test_each_dashboard_query_uses_an_organization_led_index(api: Api, name, index):
    sample = await _sample(api)
    org, student, course = sample["org"], sample["student"], sample["course"]
    metrics = sql.Identifier("school", "student_metrics_mv")
    columns = sql.SQL(", ").join(map(sql.Identifier, dashboards.METRICS))
    statements: dict[str, tuple[Any, Any]] = {
        "profile": (sql.SQL(dashboards.PROFILE).format(columns=columns, metrics=metrics),
                    (org, student)),
        "at_risk": (sql.SQL(dashboards.AT_RISK).format(columns=columns, metrics=metrics),
                    {"org": org, "threshold": 0.8, "limit": 50}),
        "recent_attendance": (dashboards.RECENT_ATTENDANCE, (org, student, 20)),
        "feedback_timeline": (dashboards.FEEDBACK_TIMELINE, (org, student, 20)),
        "weekly_attendance": (dashboards.WEEKLY_ATTENDANCE,
                              {"org": org, "weeks": 8, "course": course}),
        "active_courses": (service.ACTIVE_COURSES, (org,)),
        "session_attendance": (service.SESSION_ATTENDANCE, (org, uuid.uuid4())),
    }
    statement, params = statements[name]
    plan = await _plan(api, statement, params)
    assert any(name in plan for name in ((index,) if isinstance(index, str) else index)), plan
    assert "Seq Scan" not in plan, plan
    assert re.search(r"Cond: \(+organization_id = ", plan), plan
