"""Sample data for `make demo`: schools, students, courses, enrollments, class sessions,
attendances and feedback, loaded with COPY and followed by a refresh of the metrics view.

The schools are identity's sample organizations `org-1` ... `org-N` (DEMO_SCHOOLS) and the
students are their sample users, so every student can log in like any user. Loading is
skipped when the first school already has courses. The rows are sample data, not changes
anyone made: the audit capture triggers are off inside the loading transaction.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, LiteralString

from psycopg import sql

from pgkeel.db import Database, Transaction
from pgkeel_apps.school.metrics import refresh_student_metrics
from pgkeel_apps.school.tables import SCHEMA

SUBJECTS = ("Algebra", "Biology", "Chemistry", "Drama", "English", "French", "Geography",
            "History", "Informatics", "Latin", "Music", "Physics", "Spanish", "Statistics")
COMMENTS = {
    "positive": ("Engaged and curious in class.", "Excellent homework this week.",
                 "Helps classmates and asks good questions."),
    "neutral": ("Participation is steady.", "Homework mostly complete.",
                "Quiet, keeps up with the material."),
    "negative": ("Often distracted in class.", "Missed several assignments.",
                 "Struggling with the last unit."),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "students": ("organization_id", "id", "student_number", "grade_level", "status",
                 "enrolled_on"),
    "courses": ("organization_id", "id", "code", "name", "teacher_id", "term_start",
                "term_end"),
    "enrollments": ("organization_id", "id", "student_id", "course_id", "status",
                    "enrolled_at"),
    "class_sessions": ("organization_id", "id", "course_id", "session_date", "period",
                       "topic"),
    "attendances": ("organization_id", "session_id", "student_id", "status", "recorded_by",
                    "created_at", "updated_at"),
    "parsed_student_feedback": ("organization_id", "student_id", "course_id", "source",
                                "raw_text", "score", "sentiment", "parsed_at"),
}
SCHOOLS: LiteralString = """
SELECT o.id, o.slug,
       (SELECT u.id FROM identity.users u WHERE u.organization_id = o.id
          AND u.email = 'admin@' || o.slug || '.example') AS admin_id,
       ARRAY(SELECT u.id FROM identity.users u
             WHERE u.organization_id = o.id AND u.deleted_at IS NULL
               AND u.email !~ '^(admin|viewer|nobody)@'
             ORDER BY u.created_at, u.id LIMIT %s) AS users
FROM identity.organizations o
WHERE o.slug = ANY(%s)
ORDER BY substring(o.slug FROM 5)::int
"""
LOADED: LiteralString = """
SELECT EXISTS (SELECT FROM school.courses c JOIN identity.organizations o
               ON o.id = c.organization_id WHERE o.slug = 'org-1')
"""
STUDENTS_PER_COURSE = 4


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


async def _copy(tx: Transaction, table: str, rows: Iterable[Sequence[Any]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table])))
    async with tx.connection.cursor().copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


def _weekdays(today: dt.date, count: int, days: int = 63) -> list[dt.date]:
    """`count` school days spread over the last `days` days, oldest first."""
    days_back = [d for d in range(days) if (today - dt.timedelta(days=d)).weekday() < 5]
    step = max(1, len(days_back) // max(count, 1))
    return sorted(today - dt.timedelta(days=d) for d in days_back[::step][:count])


class _School:
    """One school's generated rows."""

    def __init__(self, org: uuid.UUID, admin: uuid.UUID | None, users: list[uuid.UUID], *,
                 n: int, courses: int, rng: random.Random, today: dt.date) -> None:
        self.org, self.admin, self.rng, self.today = org, admin, rng, today
        now = dt.datetime.combine(today, dt.time(8), dt.UTC)
        self.students = [(org, user, f"S{n:03d}-{i:05d}", rng.randint(7, 12),
                          rng.choices(("active", "enrolled"), (85, 15))[0],
                          today - dt.timedelta(days=rng.randrange(60, 900)))
                         for i, user in enumerate(users)]
        # Each student's own attendance habit: most attend nearly always, some do not.
        self.habit = {s[1]: rng.choice((0.97, 0.95, 0.92, 0.9, 0.85, 0.7, 0.55))
                      for s in self.students}
        start, end = today - dt.timedelta(days=70), today + dt.timedelta(days=30)
        self.courses = [(org, _uuid(rng), f"C{k:03d}", f"{SUBJECTS[k % len(SUBJECTS)]} "
                         f"{k // len(SUBJECTS) + 1}", admin, start, end) for k in range(courses)]
        self.enrollments = []
        self.roll: dict[uuid.UUID, list[uuid.UUID]] = {c[1]: [] for c in self.courses}
        for student in self.students:
            for course in rng.sample(self.courses, min(STUDENTS_PER_COURSE, len(self.courses))):
                self.enrollments.append((org, _uuid(rng), student[1], course[1], "active",
                                         now - dt.timedelta(days=70)))
                self.roll[course[1]].append(student[1])

    def sessions(self, per_course: int) -> list[tuple[Any, ...]]:
        rows = []
        for course in self.courses:
            for day in _weekdays(self.today, per_course):
                rows.append((self.org, _uuid(self.rng), course[1], day, 1,
                             f"{course[3]}: {day.isoformat()}"))
        return rows

    def attendances(self, sessions: list[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
        rng = self.rng
        for _, session, course, day, _period, _topic in sessions:
            at = dt.datetime.combine(day, dt.time(9), dt.UTC)
            for student in self.roll[course]:
                habit = self.habit[student]
                roll = rng.random()
                status = ("present" if roll < habit - 0.05 else "late" if roll < habit
                          else "excused" if roll < habit + 0.02 else "absent")
                yield self.org, session, student, status, self.admin, at, at

    def feedback(self) -> Iterable[tuple[Any, ...]]:
        rng = self.rng
        for student in self.students:
            # A falling trend for some: scores that drop over the last two months.
            drift = rng.choice((0.0, 0.0, 0.0, 0.5, -1.0))
            for _ in range(rng.randint(1, 5)):
                age = rng.randrange(0, 60)
                base = 2.5 + 2 * self.habit[student[1]] - (drift * (60 - age) / 60)
                score = round(min(5.0, max(1.0, rng.gauss(base, 0.4))), 2)
                sentiment = ("positive" if score >= 3.8 else "negative" if score < 2.6
                             else "neutral")
                when = dt.datetime.combine(self.today - dt.timedelta(days=age), dt.time(15),
                                           dt.UTC)
                yield (self.org, student[1], rng.choice(self.courses)[1], "survey",
                       rng.choice(COMMENTS[sentiment]), score, sentiment, when)


async def load_sample_data(db: Database, *, schools: int = 20, students: int = 20_000,
                           courses: int = 500, attendances: int = 200_000,
                           seed: int = 4) -> bool:
    """Load the school sample data into identity's sample organizations; False (and nothing
    written) when it is already there or there are no sample organizations."""
    if await db.fetch_val(LOADED, readonly=True):
        return False
    rows = await db.fetch_all(SCHOOLS, (max(1, students // schools),
                                        [f"org-{n}" for n in range(1, schools + 1)]),
                              readonly=True)
    if not rows:
        return False
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    today = dt.datetime.now(dt.UTC).date()
    per_school = max(1, courses // len(rows))
    built = [_School(r["id"], r["admin_id"], list(r["users"]), n=int(r["slug"][4:]),
                     courses=per_school, rng=rng, today=today) for r in rows]
    enrolled = sum(len(s.enrollments) for s in built)
    per_course = max(1, min(40, round(attendances / enrolled))) if enrolled else 0
    async with db.transaction(timeout=0) as tx:
        for table in COLUMNS:
            await tx.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(
                sql.Identifier(SCHEMA, table)))
        for school in built:
            sessions = school.sessions(per_course) if attendances else []
            await _copy(tx, "students", school.students)
            await _copy(tx, "courses", school.courses)
            await _copy(tx, "enrollments", school.enrollments)
            await _copy(tx, "class_sessions", sessions)
            await _copy(tx, "attendances", school.attendances(sessions))
            await _copy(tx, "parsed_student_feedback", school.feedback())
        for table in COLUMNS:
            await tx.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(
                sql.Identifier(SCHEMA, table)))
    await db.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(
        sql.Identifier(SCHEMA, table) for table in COLUMNS)))
    await refresh_student_metrics(db)
    return True
