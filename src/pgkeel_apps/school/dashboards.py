"""The dashboards: a school overview, attendance per course per week, students at risk, a
student's profile, and the report's `findMany` -- all read from a replica (`useReplica`),
the per-student numbers from student_metrics (the materialized view, one school's rows, with
the time of its last refresh)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, LiteralString
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from pgkeel.db import Database, current_context
from pgkeel.errors import InvalidParameter, NotFound, UsageError
from pgkeel.repo import OPERATORS, Registry
from pgkeel_apps.school.settings import SchoolSettings

METRICS: Final = ("student_id", "student_number", "name", "grade_level", "status",
                  "attendance_rate_30d", "attendance_rate_term", "sessions_attended",
                  "sessions_missed", "last_attended_on", "avg_feedback_score",
                  "feedback_trend", "feedback_count", "active_enrollments")
"""The columns of student_metrics (and of student_metrics_live, its live equivalent)."""

FROM_VIEW: Final = sql.Identifier("school", "student_metrics")
LIVE: Final = sql.Identifier("school", "student_metrics_live")

OVERVIEW: LiteralString = """
SELECT count(*) AS students,
       count(*) FILTER (WHERE attendance_rate_30d < %(threshold)s OR feedback_trend < 0)
           AS at_risk,
       round(avg(attendance_rate_30d), 4) AS attendance_rate_30d,
       round(avg(attendance_rate_term), 4) AS attendance_rate_term,
       round(avg(avg_feedback_score), 2) AS avg_feedback_score,
       sum(active_enrollments) AS active_enrollments
FROM {metrics}
WHERE organization_id = %(org)s
"""
COURSE_COUNT: LiteralString = """
SELECT count(*) FILTER (WHERE is_active) AS active_courses, count(*) AS courses
FROM school.courses WHERE organization_id = %s
"""
REFRESHED: LiteralString = """
SELECT refreshed_at FROM school.metrics_refreshes WHERE view_name = 'student_metrics_mv'
"""
AT_RISK: LiteralString = """
SELECT {columns} FROM {metrics}
WHERE organization_id = %(org)s
  AND (attendance_rate_30d < %(threshold)s OR feedback_trend < 0)
ORDER BY attendance_rate_30d NULLS LAST, feedback_trend NULLS LAST, student_id
LIMIT %(limit)s
"""
PROFILE: LiteralString = (
    "SELECT {columns} FROM {metrics} WHERE organization_id = %s AND student_id = %s")
RECENT_ATTENDANCE: LiteralString = """
SELECT cs.session_date, cs.period, c.code AS course_code, c.name AS course_name, a.status,
       a.note
FROM school.attendances a
JOIN school.class_sessions cs ON cs.organization_id = a.organization_id AND cs.id = a.session_id
JOIN school.courses c ON c.organization_id = cs.organization_id AND c.id = cs.course_id
WHERE a.organization_id = %s AND a.student_id = %s
ORDER BY cs.session_date DESC, cs.period DESC, a.id
LIMIT %s
"""
FEEDBACK_TIMELINE: LiteralString = """
SELECT f.parsed_at, f.score, f.sentiment, f.source, f.raw_text, f.course_id
FROM school.parsed_student_feedback f
WHERE f.organization_id = %s AND f.student_id = %s
ORDER BY f.parsed_at DESC, f.id
LIMIT %s
"""
WEEKLY_ATTENDANCE: LiteralString = """
SELECT c.id AS course_id, c.code, c.name, date_trunc('week', cs.session_date)::date AS week,
       count(DISTINCT cs.id) AS sessions,
       count(a.id) FILTER (WHERE a.status IN ('present', 'late')) AS attended,
       count(a.id) FILTER (WHERE a.status = 'absent') AS missed,
       count(a.id) FILTER (WHERE a.status = 'excused') AS excused,
       round(count(a.id) FILTER (WHERE a.status IN ('present', 'late'))::numeric
             / nullif(count(a.id) FILTER (WHERE a.status <> 'excused'), 0), 4) AS rate
FROM school.class_sessions cs
JOIN school.courses c ON c.organization_id = cs.organization_id AND c.id = cs.course_id
LEFT JOIN school.attendances a ON a.organization_id = cs.organization_id AND a.session_id = cs.id
WHERE cs.organization_id = %(org)s
  AND cs.session_date > current_date - 7 * %(weeks)s
  AND (%(course)s::uuid IS NULL OR cs.course_id = %(course)s::uuid)
GROUP BY c.id, c.code, c.name, week
ORDER BY c.code, week
"""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def metrics_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """A metrics row, API-shaped (numbers as JSON numbers)."""
    out: dict[str, Any] = {}
    for name in METRICS:
        value = row[name]
        if name in ("attendance_rate_30d", "attendance_rate_term", "avg_feedback_score",
                    "feedback_trend") and value is not None:
            value = float(value)
        out[_camel(name)] = value
    return out


class Dashboards:
    """Read-only views of one school, on a replica when one is healthy."""

    def __init__(self, db: Database, registry: Registry, settings: SchoolSettings) -> None:
        self.db = db
        self.registry = registry
        self.threshold = settings.school_at_risk_attendance

    def _metrics(self, live: bool) -> sql.Identifier:
        return LIVE if live else FROM_VIEW

    async def overview(self, *, live: bool = False) -> dict[str, Any]:
        org = _org()
        overview, courses, refreshed = await self.db.read_batch([
            (sql.SQL(OVERVIEW).format(metrics=self._metrics(live)),
             {"org": org, "threshold": self.threshold}, dict_row),
            (COURSE_COUNT, (org,), dict_row), (REFRESHED, None, dict_row)], replica=True)
        return {**{_camel(k): _number(v) for k, v in overview[0].items()},
                "activeCourses": courses[0]["active_courses"], "courses": courses[0]["courses"],
                "atRiskBelow": self.threshold, **_as_of(refreshed, live)}

    async def at_risk(self, *, limit: int = 50, live: bool = False) -> dict[str, Any]:
        """Students under the 30-day attendance threshold or with falling feedback, lowest
        attendance first."""
        statement = sql.SQL(AT_RISK).format(columns=_columns(), metrics=self._metrics(live))
        rows, refreshed = await self.db.read_batch([
            (statement, {"org": _org(), "threshold": self.threshold, "limit": limit},
             dict_row),
            (REFRESHED, None, dict_row)], replica=True)
        return {"items": [metrics_out(r) for r in rows],
                "atRiskBelow": self.threshold, **_as_of(refreshed, live)}

    async def profile(self, student_id: UUID, *, recent: int = 20,
                      live: bool = False) -> dict[str, Any]:
        """A student's metrics, recent attendance and feedback timeline: one round trip."""
        org = _org()
        metrics, attendance, feedback, refreshed = await self.db.read_batch([
            (sql.SQL(PROFILE).format(columns=_columns(), metrics=self._metrics(live)),
             (org, student_id), dict_row),
            (RECENT_ATTENDANCE, (org, student_id, recent), dict_row),
            (FEEDBACK_TIMELINE, (org, student_id, recent), dict_row),
            (REFRESHED, None, dict_row)], replica=True)
        if not metrics:
            raise NotFound("No student with that id (or not in the metrics yet).",
                           details={"resource": "student", "id": str(student_id)},
                           hint="A new student appears after the next metrics refresh.")
        return {"metrics": metrics_out(metrics[0]),
                "recentAttendance": [{_camel(k): v for k, v in r.items()} for r in attendance],
                "feedbackTimeline": [{_camel(k): _number(v) for k, v in r.items()}
                                     for r in feedback],
                **_as_of(refreshed, live)}

    async def weekly_attendance(self, *, weeks: int = 8,
                                course_id: UUID | None = None) -> dict[str, Any]:
        """Attendance per course per week, computed live from the base tables."""
        rows = await self.db.fetch_all(WEEKLY_ATTENDANCE, {"org": _org(), "weeks": weeks,
                                                           "course": course_id},
                                       replica=True)
        return {"weeks": weeks, "items": [
            {"courseId": r["course_id"], "code": r["code"], "name": r["name"],
             "week": r["week"], "sessions": r["sessions"], "attended": r["attended"],
             "missed": r["missed"], "excused": r["excused"], "rate": _number(r["rate"])}
            for r in rows]}

    async def find_many(self, table: str, conditions: Sequence[Mapping[str, Any]], *,
                        order_by: str | None, order_direction: str, limit: int | None,
                        use_replica: bool) -> list[dict[str, Any]]:
        """The report's `findMany(table, conditions, {orderBy, orderDirection, limit,
        useReplica})`: tables, columns and operators from the allowlists only, values bound;
        anything else is a 400 naming what is allowed."""
        tables = self.registry.tables
        spec = tables.get(table)
        if spec is None:
            raise InvalidParameter(f"Unknown table {table!r}.",
                                   details={"parameter": "table", "allowed": sorted(tables)})
        columns = sorted(f.name for f in spec.selectable)
        items: list[tuple[str, str, Any] | tuple[str, str]] = []
        for condition in conditions:
            column, operator = str(condition.get("column")), str(condition.get("operator"))
            if column not in columns:
                raise InvalidParameter(f"Unknown column {column!r} of {table}.",
                                       details={"parameter": "conditions", "column": column,
                                                "allowed": columns})
            if str(operator).upper() not in OPERATORS:
                raise InvalidParameter(f"Operator {operator!r} is not allowed.",
                                       details={"parameter": "conditions",
                                                "operator": operator,
                                                "allowed": sorted(OPERATORS)})
            items.append((column, operator, condition.get("value")) if "value" in condition
                         else (column, operator))
        if order_by is not None and order_by not in columns:
            raise InvalidParameter(f"Unknown column {order_by!r} of {table}.",
                                   details={"parameter": "orderBy", "allowed": columns})
        try:
            rows = await self.registry.find_many(
                table, items, order_by=order_by, order_direction=order_direction, limit=limit,
                use_replica=use_replica)
        except UsageError as exc:  # a bad value or limit: the caller's input
            raise InvalidParameter(exc.message, details={"parameter": "conditions"},
                                   hint=exc.hint) from exc
        return [spec.to_api(r) for r in rows]


def _columns() -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, METRICS))


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _as_of(refreshed: list[Any], live: bool) -> dict[str, Any]:
    """When the numbers were computed: the last refresh of the view, or now (live)."""
    if live:
        return {"source": "live", "metricsRefreshedAt": None}
    return {"source": "student_metrics_mv",
            "metricsRefreshedAt": refreshed[0]["refreshed_at"] if refreshed else None}


def _org() -> Any:
    org = current_context().org_id
    assert org is not None, "school reads run inside an authenticated request"
    return org
