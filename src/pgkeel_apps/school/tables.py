"""The school schema as pgkeel declarations: what requests may filter, sort and search."""

from __future__ import annotations

from typing import Final

from pgkeel.repo import Field, FieldType, Op, Table

SCHEMA: Final = "school"

STUDENT_STATUSES: Final = ("active", "enrolled", "graduated", "withdrawn")
ENROLLMENT_STATUSES: Final = ("active", "dropped", "completed")
ATTENDANCE_STATUSES: Final = ("present", "late", "absent", "excused")

_ID = (Op.EQ, Op.IN)
_RANGE = (Op.EQ, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN)

_STUDENT_FIELDS = (
    Field("id", FieldType.UUID, filter=_ID, nullable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("student_number", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.LIKE, Op.ILIKE),
          sort=True, nullable=False),
    Field("grade_level", FieldType.SMALLINT, filter=(*_RANGE, Op.IN, Op.NE), sort=True,
          nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.NE, Op.IN, Op.NOT_IN), nullable=False),
    Field("enrolled_on", FieldType.DATE, filter=_RANGE, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=_RANGE, nullable=False,
          writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
)

STUDENTS = Table(SCHEMA, "students", _STUDENT_FIELDS, tenant="organization_id",
                 updated_at="updated_at", default_sort=("student_number",), page_size=20,
                 max_page_size=100)

STUDENT_DIRECTORY = Table(SCHEMA, "student_directory", [
    *_STUDENT_FIELDS,
    Field("name", FieldType.TEXT, filter=(Op.ILIKE,), nullable=False, writable=False),
], tenant="organization_id", default_sort=("student_number",), page_size=20,
    max_page_size=100)
"""What the student list reads: the students with their names (the view joins each to its
identity user; read-only)."""

COURSES = Table(SCHEMA, "courses", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("code", FieldType.TEXT, filter=(Op.EQ, Op.IN, Op.LIKE, Op.ILIKE), sort=True,
          nullable=False),
    Field("name", FieldType.TEXT, filter=(Op.EQ, Op.ILIKE), nullable=False),
    Field("teacher_id", FieldType.UUID, filter=(Op.EQ, Op.IS)),
    Field("term_start", FieldType.DATE, filter=_RANGE, nullable=False),
    Field("term_end", FieldType.DATE, filter=_RANGE, nullable=False),
    Field("is_active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", updated_at="updated_at", default_sort=("code",), page_size=20,
    max_page_size=100)

ENROLLMENTS = Table(SCHEMA, "enrollments", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("student_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("course_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.NE, Op.IN), nullable=False),
    Field("enrolled_at", FieldType.TIMESTAMPTZ, filter=_RANGE, sort=True, nullable=False,
          writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", updated_at="updated_at", default_sort=("-enrolled_at",),
    page_size=20, max_page_size=100)

CLASS_SESSIONS = Table(SCHEMA, "class_sessions", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("course_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("session_date", FieldType.DATE, filter=_RANGE, sort=True, nullable=False),
    Field("period", FieldType.SMALLINT, filter=(Op.EQ,), nullable=False),
    Field("topic", FieldType.TEXT, filter=(Op.ILIKE,)),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("-session_date",), page_size=20,
    max_page_size=100)

ATTENDANCES = Table(SCHEMA, "attendances", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("session_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("student_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("status", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("note", FieldType.TEXT),
    Field("recorded_by", FieldType.UUID),
    Field("created_at", FieldType.TIMESTAMPTZ, filter=_RANGE, sort=True, nullable=False,
          writable=False),
    Field("updated_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", updated_at="updated_at", default_sort=("-created_at",),
    page_size=50, max_page_size=200)

FEEDBACK = Table(SCHEMA, "parsed_student_feedback", [
    Field("id", FieldType.UUID, filter=_ID, nullable=False, writable=False),
    Field("organization_id", FieldType.UUID, nullable=False, writable=False),
    Field("student_id", FieldType.UUID, filter=_ID, nullable=False),
    Field("course_id", FieldType.UUID, filter=(Op.EQ, Op.IS)),
    Field("source", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("raw_text", FieldType.TEXT, nullable=False),
    Field("score", FieldType.NUMERIC, filter=_RANGE, nullable=False),
    Field("sentiment", FieldType.TEXT, filter=(Op.EQ, Op.IN), nullable=False),
    Field("parsed_at", FieldType.TIMESTAMPTZ, filter=_RANGE, sort=True, nullable=False),
    Field("created_at", FieldType.TIMESTAMPTZ, nullable=False, writable=False),
], tenant="organization_id", default_sort=("-parsed_at",), page_size=20, max_page_size=100)

TABLES = (STUDENTS, COURSES, ENROLLMENTS, CLASS_SESSIONS, ATTENDANCES, FEEDBACK)
