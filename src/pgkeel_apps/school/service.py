"""The school service's use cases: students, courses, enrollments, sessions, attendance and
feedback. Every write is audited by the capture triggers on the school tables (catching bulk
SQL too); cached reads are invalidated after commit; attendance is never cached."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString
from uuid import UUID

from pgkeel.cache import TTL, Cache, CacheKey
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound, RuleViolation
from pgkeel.repo import CursorCodec, ListQuery, Page, Registry, Repository
from pgkeel_apps.school.dashboards import Dashboards
from pgkeel_apps.school.settings import SchoolSettings
from pgkeel_apps.school.tables import (
    ATTENDANCES,
    CLASS_SESSIONS,
    COURSES,
    ENROLLMENTS,
    FEEDBACK,
    STUDENT_DIRECTORY,
    STUDENTS,
    TABLES,
)

STUDENT: LiteralString = """
SELECT s.id, s.organization_id, s.student_number, s.grade_level, s.status, s.enrolled_on,
       s.created_at, s.updated_at, u.display_name AS name, u.email
FROM school.students s
JOIN identity.users u ON u.organization_id = s.organization_id AND u.id = s.id
WHERE s.organization_id = %s AND s.id = %s
"""

ACTIVE_COURSES: LiteralString = """
SELECT id, code, name, teacher_id, term_start, term_end
FROM school.courses
WHERE organization_id = %s AND is_active
ORDER BY code, id
"""

# A class's whole roll in one statement: the session must exist in this organization, every
# student must hold an active enrollment in its course (else nothing is written: the caller
# gets a 422 naming them), and a record that is already what the request says is left alone,
# so a rerun writes (and audits) nothing.
TAKE_ATTENDANCE: LiteralString = """
WITH session AS (
    SELECT organization_id, id, course_id FROM school.class_sessions
    WHERE organization_id = %(org)s AND id = %(session)s
), roll AS (
    SELECT r.student_id, r.status, r.note,
           EXISTS (SELECT FROM school.enrollments e, session s
                   WHERE e.organization_id = s.organization_id AND e.course_id = s.course_id
                     AND e.student_id = r.student_id AND e.status = 'active') AS enrolled
    FROM unnest(%(students)s::uuid[], %(statuses)s::text[], %(notes)s::text[])
         AS r(student_id, status, note)
), written AS (
    INSERT INTO school.attendances AS a (organization_id, session_id, student_id, status,
                                         note, recorded_by)
    SELECT s.organization_id, s.id, r.student_id, r.status, r.note, %(actor)s
    FROM session s CROSS JOIN roll r
    WHERE NOT EXISTS (SELECT FROM roll WHERE NOT roll.enrolled)
    ON CONFLICT (organization_id, session_id, student_id) DO UPDATE
        SET status = EXCLUDED.status, note = EXCLUDED.note,
            recorded_by = EXCLUDED.recorded_by, updated_at = now()
        WHERE (a.status, a.note) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.note)
    RETURNING (a.xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM session) AS sessions,
       ARRAY(SELECT student_id FROM roll WHERE NOT enrolled ORDER BY student_id)
           AS not_enrolled,
       (SELECT count(*) FROM written WHERE inserted) AS inserted,
       (SELECT count(*) FROM written WHERE NOT inserted) AS updated
"""

SESSION_ATTENDANCE: LiteralString = """
SELECT a.student_id, a.status, a.note, a.recorded_by, a.updated_at
FROM school.attendances a
WHERE a.organization_id = %s AND a.session_id = %s
ORDER BY a.student_id
"""

COURSES_TAG = "school-courses"


class SchoolService:
    """One school (the caller's organization): its people, classes and numbers."""

    def __init__(self, db: Database, cache: Cache, *, cursor_codec: CursorCodec | None = None,
                 settings: SchoolSettings | None = None) -> None:
        self.db = db
        self.cache = cache
        self.settings = settings or SchoolSettings()

        def repo(table: Any, name: str) -> Repository[dict[str, Any]]:
            return Repository(db, table, name=name, cursor_codec=cursor_codec)
        self.students = repo(STUDENTS, "student")
        self.directory = repo(STUDENT_DIRECTORY, "student")
        self.courses = repo(COURSES, "course")
        self.enrollments = repo(ENROLLMENTS, "enrollment")
        self.sessions = repo(CLASS_SESSIONS, "class session")
        self.attendances = repo(ATTENDANCES, "attendance")
        self.feedback = repo(FEEDBACK, "feedback")
        self.registry = Registry(db, TABLES, cursor_codec=cursor_codec)
        self.dashboards = Dashboards(db, self.registry, self.settings)

    # -- students --------------------------------------------------------------------------

    def student_key(self, student_id: UUID) -> CacheKey:
        return self.cache.key("student", student_id)

    async def list_students(self, query: ListQuery) -> Page[dict[str, Any]]:
        """Students with their names (the `student_directory` view)."""
        return await self.directory.list(query, replica=True)

    async def get_student(self, student_id: UUID) -> dict[str, Any]:
        """A student with name and email, cached 5 minutes, invalidated by every change."""
        async def load() -> dict[str, Any]:
            # A cache fill reads the primary: a lagging replica's row would be cached.
            row = await self.db.fetch_one(STUDENT, (_org(), student_id), readonly=True)
            if row is None:
                raise NotFound("No student with that id.",
                               details={"resource": "student", "id": str(student_id)})
            return {**STUDENTS.to_api(row), "name": row["name"], "email": row["email"]}
        result: dict[str, Any] = await self.cache.get_or_set(
            self.student_key(student_id), load, ttl=TTL.MEDIUM)
        return result

    async def create_student(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A student is a user of this organization (a 404 for any other id)."""
        async def work(tx: Transaction) -> dict[str, Any]:
            row = await self.students.create(values, tx=tx)
            self.cache.invalidate_on_commit(tx, self.student_key(row["id"]))
            return row
        return await self.db.run_in_tx(work)

    async def update_student(self, student_id: UUID,
                             changes: Mapping[str, Any]) -> dict[str, Any]:
        async def work(tx: Transaction) -> dict[str, Any]:
            row = await self.students.update(student_id, changes, tx=tx)
            self.cache.invalidate_on_commit(tx, self.student_key(student_id))
            return row
        return await self.db.run_in_tx(work)

    async def delete_student(self, student_id: UUID) -> None:
        """Remove a student and their enrollments, attendance and feedback (the user stays)."""
        async def work(tx: Transaction) -> None:
            await self.students.delete(student_id, tx=tx)
            self.cache.invalidate_on_commit(tx, self.student_key(student_id))
        await self.db.run_in_tx(work)

    # -- courses ---------------------------------------------------------------------------

    async def list_courses(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.courses.list(query, replica=True)

    async def active_courses(self) -> list[dict[str, Any]]:
        """The school's active courses, cached 5 minutes, invalidated by any course change."""
        async def load() -> list[dict[str, Any]]:
            rows = await self.db.fetch_all(ACTIVE_COURSES, (_org(),), readonly=True)
            return [COURSES.to_api(r) for r in rows]
        result: list[dict[str, Any]] = await self.cache.get_or_set(
            self.cache.key("courses", "active", "list"), load, ttl=TTL.MEDIUM,
            tags=[COURSES_TAG])
        return result

    async def get_course(self, course_id: UUID) -> dict[str, Any]:
        return await self.courses.get(course_id)

    async def create_course(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return await self._course_write(lambda tx: self.courses.create(values, tx=tx))

    async def update_course(self, course_id: UUID,
                            changes: Mapping[str, Any]) -> dict[str, Any]:
        return await self._course_write(
            lambda tx: self.courses.update(course_id, changes, tx=tx))

    async def delete_course(self, course_id: UUID) -> None:
        async def delete(tx: Transaction) -> dict[str, Any]:
            await self.courses.delete(course_id, tx=tx)
            return {}
        await self._course_write(delete)

    async def _course_write(self, change: Any) -> dict[str, Any]:
        async def work(tx: Transaction) -> dict[str, Any]:
            row: dict[str, Any] = await change(tx)
            self.cache.invalidate_on_commit(tx, COURSES_TAG)
            return row
        return await self.db.run_in_tx(work)

    # -- enrollments -----------------------------------------------------------------------

    async def list_enrollments(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.enrollments.list(query, replica=True)

    async def enroll(self, student_id: UUID, course_id: UUID) -> dict[str, Any]:
        """409 (enrollments_student_course_key) when already enrolled."""
        return await self.enrollments.create({"student_id": student_id,
                                              "course_id": course_id})

    async def set_enrollment_status(self, enrollment_id: UUID, status: str) -> dict[str, Any]:
        return await self.enrollments.update(enrollment_id, {"status": status})

    async def delete_enrollment(self, enrollment_id: UUID) -> None:
        await self.enrollments.delete(enrollment_id)

    # -- class sessions and attendance -----------------------------------------------------

    async def list_sessions(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.sessions.list(query, replica=True)

    async def create_session(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return await self.sessions.create(values)

    async def take_attendance(self, session_id: UUID,
                              records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        """Record a class's roll (`[{student_id, status, note}]`) in one statement; a rerun
        of the same roll changes nothing. 404 for an unknown session, 422 (rule
        `student_enrolled`) naming every student without an active enrollment."""
        params = {"org": _org(), "session": session_id,
                  "students": [r["student_id"] for r in records],
                  "statuses": [r["status"] for r in records],
                  "notes": [r.get("note") for r in records],
                  "actor": current_context().actor_id}
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(TAKE_ATTENDANCE, params)
            assert row is not None
            # The statement is a SELECT around an INSERT: say it wrote, so that this
            # request's later replica reads go to the primary and see it.
            tx.wrote = tx.wrote or bool(row["inserted"] or row["updated"])
        if not row["sessions"]:
            raise NotFound("No class session with that id.",
                           details={"resource": "class session", "id": str(session_id)})
        if row["not_enrolled"]:
            raise RuleViolation(
                "Attendance can only be taken for students enrolled in the course.",
                details={"rule": "student_enrolled",
                         "studentIds": [str(s) for s in row["not_enrolled"]]},
                hint="Enroll them first, or leave them out of the roll.")
        return {"recorded": len(records), "inserted": int(row["inserted"]),
                "updated": int(row["updated"])}

    async def session_attendance(self, session_id: UUID) -> list[dict[str, Any]]:
        """A session's attendance, from the primary and never cached: it changes by the
        minute while a roll is being taken."""
        await self.sessions.get(session_id)
        rows = await self.db.fetch_all(SESSION_ATTENDANCE, (_org(), session_id),
                                       readonly=True)
        return [ATTENDANCES.to_api(r) for r in rows]

    # -- feedback --------------------------------------------------------------------------

    async def ingest_feedback(self, items: Sequence[Mapping[str, Any]]
                              ) -> list[dict[str, Any]]:
        """Store parsed feedback items in one transaction (a multi-row INSERT)."""
        created = await self.feedback.create_many(items)
        assert isinstance(created, list)
        return created

    async def list_feedback(self, query: ListQuery) -> Page[dict[str, Any]]:
        return await self.feedback.list(query, replica=True)


def _org() -> Any:
    """The caller's organization (every route runs inside `requires`, which sets it)."""
    org = current_context().org_id
    assert org is not None, "school reads run inside an authenticated request"
    return org
