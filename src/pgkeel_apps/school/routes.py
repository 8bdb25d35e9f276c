"""`/v1/school/...`: students, courses, enrollments, sessions and attendance, feedback, the
dashboards, `find` (the report's findMany) and the metrics refresh."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, model_validator

from pgkeel.errors import InvalidParameter
from pgkeel.repo import ListQuery
from pgkeel.security import Principal
from pgkeel.web import ApiModel, DirectRoute, Name, OrjsonResponse, Text, list_query, requires
from pgkeel_apps.permissions import AUDIT_READ, USERS_WRITE, Reader, Writer
from pgkeel_apps.school.metrics import last_refresh, refresh_student_metrics
from pgkeel_apps.school.params import Param, query_params
from pgkeel_apps.school.service import SchoolService
from pgkeel_apps.school.tables import (
    CLASS_SESSIONS,
    COURSES,
    ENROLLMENTS,
    FEEDBACK,
    STUDENT_DIRECTORY,
    STUDENTS,
)

router = APIRouter(prefix="/v1/school", tags=["school"], route_class=DirectRoute)

CODE = r"^[A-Za-z0-9-]{1,32}$"
StudentStatus = Literal["active", "enrolled", "graduated", "withdrawn"]
MAX_ROLL = 500

Admin = Annotated[Principal, Depends(requires(USERS_WRITE, AUDIT_READ))]
"""An administrator: may write and read the audit log (the demo's ADMIN role)."""


class StudentCreate(ApiModel):
    userId: UUID = Field(description="The identity user who is the student.")
    studentNumber: str = Field(pattern=CODE, max_length=32)
    gradeLevel: int = Field(ge=1, le=13)
    status: StudentStatus = "active"
    enrolledOn: dt.date | None = None


class StudentUpdate(ApiModel):
    studentNumber: str | None = Field(None, pattern=CODE, max_length=32)
    gradeLevel: int | None = Field(None, ge=1, le=13)
    status: StudentStatus | None = None


class CourseCreate(ApiModel):
    code: str = Field(pattern=CODE, max_length=32)
    name: Name = Field(min_length=1, max_length=200)
    teacherId: UUID | None = None
    termStart: dt.date
    termEnd: dt.date
    isActive: bool = True

    @model_validator(mode="after")
    def _term(self) -> CourseCreate:
        if self.termEnd < self.termStart:
            raise ValueError("termEnd is before termStart")
        return self


class CourseUpdate(ApiModel):
    name: Name | None = Field(None, min_length=1, max_length=200)
    teacherId: UUID | None = None
    termStart: dt.date | None = None
    termEnd: dt.date | None = None
    isActive: bool | None = None


class EnrollmentCreate(ApiModel):
    studentId: UUID
    courseId: UUID


class EnrollmentUpdate(ApiModel):
    status: Literal["active", "dropped", "completed"]


class SessionCreate(ApiModel):
    courseId: UUID
    sessionDate: dt.date
    period: int = Field(1, ge=1, le=12)
    topic: Name | None = Field(None, max_length=200)


class AttendanceRecord(ApiModel):
    studentId: UUID
    status: Literal["present", "late", "absent", "excused"]
    note: Text | None = Field(None, max_length=500)


class AttendanceRoll(ApiModel):
    records: list[AttendanceRecord] = Field(min_length=1, max_length=MAX_ROLL)

    @model_validator(mode="after")
    def _unique(self) -> AttendanceRoll:
        ids = [r.studentId for r in self.records]
        if len(set(ids)) != len(ids):
            raise ValueError("each student appears once in a roll")
        return self


class FeedbackItem(ApiModel):
    studentId: UUID
    courseId: UUID | None = None
    source: Literal["survey", "teacher_note", "import"] = "survey"
    rawText: Text = Field(min_length=1, max_length=4000)
    score: Decimal = Field(ge=1, le=5, max_digits=3, decimal_places=2)
    sentiment: Literal["positive", "neutral", "negative"] | None = Field(
        None, description="Derived from the score when absent.")
    parsedAt: dt.datetime | None = None


class FeedbackBatch(ApiModel):
    items: list[FeedbackItem] = Field(min_length=1, max_length=MAX_ROLL)


async def school(request: Request) -> SchoolService:
    service: SchoolService = request.app.state.school
    return service


Service = Annotated[SchoolService, Depends(school)]

LIVE = Param("live", "bool", False, description="Compute from the base tables instead of "
             "the materialized view (slower; what the view saves).")
DashboardParams = Annotated[dict[str, Any], Depends(query_params(LIVE))]
AtRiskParams = Annotated[dict[str, Any], Depends(query_params(
    Param("limit", "int", 50, 1, 500, description="At most this many students."), LIVE))]
WeeklyParams = Annotated[dict[str, Any], Depends(query_params(
    Param("weeks", "int", 8, 1, 52, description="How many weeks back."),
    Param("courseId", "uuid", description="Only this course.")))]
FindParams = Annotated[dict[str, Any], Depends(query_params(
    Param("conditions", "json", [], description='[{"column": ..., "operator": ..., '
          '"value": ...}], operators =, !=, <, <=, >, >=, IN, NOT IN, LIKE, ILIKE, '
          'IS NULL, IS NOT NULL, BETWEEN.'),
    Param("orderBy", "name", None, description="The column to order by."),
    Param("orderDirection", "choice", "asc", choices=("asc", "desc", "ASC", "DESC")),
    Param("limit", "int", None, 1, 100, description="Rows to return (default 20)."),
    Param("useReplica", "bool", True, description="Read from a replica when healthy.")))]


def _changes(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {column: value for column, value in pairs if value is not None}


# -- students -----------------------------------------------------------------------------

@router.get("/students", summary="List students, with their names (list grammar)")
async def list_students(
        _: Reader, service: Service,
        query: Annotated[ListQuery, Depends(list_query(STUDENT_DIRECTORY))]) -> Response:
    page = await service.list_students(query)
    return OrjsonResponse(page.envelope([STUDENT_DIRECTORY.to_api(r) for r in page.items]))


@router.post("/students", status_code=201, summary="Make a user of this school a student")
async def create_student(body: StudentCreate, _: Writer, service: Service) -> Response:
    row = await service.create_student(_changes((
        ("id", body.userId), ("student_number", body.studentNumber),
        ("grade_level", body.gradeLevel), ("status", body.status),
        ("enrolled_on", body.enrolledOn))))
    return OrjsonResponse(STUDENTS.to_api(row), status_code=201,
                          headers={"Location": f"/v1/school/students/{row['id']}"})


@router.get("/students/{student_id}", summary="One student, with name (cached 5 min)")
async def get_student(student_id: UUID, _: Reader, service: Service) -> Response:
    return OrjsonResponse(await service.get_student(student_id))


@router.patch("/students/{student_id}", summary="Change a student")
async def update_student(student_id: UUID, body: StudentUpdate, _: Writer,
                         service: Service) -> Response:
    row = await service.update_student(student_id, _changes((
        ("student_number", body.studentNumber), ("grade_level", body.gradeLevel),
        ("status", body.status))))
    return OrjsonResponse(STUDENTS.to_api(row))


@router.delete("/students/{student_id}", status_code=204,
               summary="Remove a student (enrollments, attendance and feedback too)")
async def delete_student(student_id: UUID, _: Writer, service: Service) -> Response:
    await service.delete_student(student_id)
    return Response(status_code=204)


@router.get("/students/{student_id}/profile",
            summary="A student's metrics, recent attendance and feedback timeline")
async def student_profile(student_id: UUID, _: Reader, service: Service,
                          params: DashboardParams) -> Response:
    return OrjsonResponse(await service.dashboards.profile(student_id, live=params["live"]))


# -- courses ------------------------------------------------------------------------------

@router.get("/courses", summary="List courses (list grammar)")
async def list_courses(_: Reader, service: Service,
                       query: Annotated[ListQuery, Depends(list_query(COURSES))]) -> Response:
    page = await service.list_courses(query)
    return OrjsonResponse(page.envelope([COURSES.to_api(r) for r in page.items]))


@router.get("/active-courses", summary="The active courses (cached 5 min)")
async def active_courses(_: Reader, service: Service) -> Response:
    return OrjsonResponse({"items": await service.active_courses()})


@router.post("/courses", status_code=201, summary="Create a course")
async def create_course(body: CourseCreate, _: Writer, service: Service) -> Response:
    row = await service.create_course({
        "code": body.code, "name": body.name, "teacher_id": body.teacherId,
        "term_start": body.termStart, "term_end": body.termEnd, "is_active": body.isActive})
    return OrjsonResponse(COURSES.to_api(row), status_code=201,
                          headers={"Location": f"/v1/school/courses/{row['id']}"})


@router.get("/courses/{course_id}", summary="One course")
async def get_course(course_id: UUID, _: Reader, service: Service) -> Response:
    return OrjsonResponse(COURSES.to_api(await service.get_course(course_id)))


@router.patch("/courses/{course_id}", summary="Change a course")
async def update_course(course_id: UUID, body: CourseUpdate, _: Writer,
                        service: Service) -> Response:
    row = await service.update_course(course_id, _changes((
        ("name", body.name), ("teacher_id", body.teacherId), ("term_start", body.termStart),
        ("term_end", body.termEnd), ("is_active", body.isActive))))
    return OrjsonResponse(COURSES.to_api(row))


@router.delete("/courses/{course_id}", status_code=204,
               summary="Delete a course (its sessions and enrollments too)")
async def delete_course(course_id: UUID, _: Writer, service: Service) -> Response:
    await service.delete_course(course_id)
    return Response(status_code=204)


# -- enrollments --------------------------------------------------------------------------

@router.get("/enrollments", summary="List enrollments (list grammar)")
async def list_enrollments(
        _: Reader, service: Service,
        query: Annotated[ListQuery, Depends(list_query(ENROLLMENTS))]) -> Response:
    page = await service.list_enrollments(query)
    return OrjsonResponse(page.envelope([ENROLLMENTS.to_api(r) for r in page.items]))


@router.post("/enrollments", status_code=201, summary="Enroll a student in a course")
async def enroll(body: EnrollmentCreate, _: Writer, service: Service) -> Response:
    row = await service.enroll(body.studentId, body.courseId)
    return OrjsonResponse(ENROLLMENTS.to_api(row), status_code=201)


@router.patch("/enrollments/{enrollment_id}", summary="Change an enrollment's status")
async def update_enrollment(enrollment_id: UUID, body: EnrollmentUpdate, _: Writer,
                            service: Service) -> Response:
    row = await service.set_enrollment_status(enrollment_id, body.status)
    return OrjsonResponse(ENROLLMENTS.to_api(row))


@router.delete("/enrollments/{enrollment_id}", status_code=204, summary="Delete an enrollment")
async def delete_enrollment(enrollment_id: UUID, _: Writer, service: Service) -> Response:
    await service.delete_enrollment(enrollment_id)
    return Response(status_code=204)


# -- sessions and attendance --------------------------------------------------------------

@router.get("/sessions", summary="List class sessions (list grammar)")
async def list_sessions(
        _: Reader, service: Service,
        query: Annotated[ListQuery, Depends(list_query(CLASS_SESSIONS))]) -> Response:
    page = await service.list_sessions(query)
    return OrjsonResponse(page.envelope([CLASS_SESSIONS.to_api(r) for r in page.items]))


@router.post("/sessions", status_code=201, summary="Schedule a class session")
async def create_session(body: SessionCreate, _: Writer, service: Service) -> Response:
    row = await service.create_session({"course_id": body.courseId,
                                        "session_date": body.sessionDate,
                                        "period": body.period, "topic": body.topic})
    return OrjsonResponse(CLASS_SESSIONS.to_api(row), status_code=201)


@router.get("/sessions/{session_id}/attendance",
            summary="A session's attendance (never cached)")
async def session_attendance(session_id: UUID, _: Reader, service: Service) -> Response:
    return OrjsonResponse({"items": await service.session_attendance(session_id)})


@router.put("/sessions/{session_id}/attendance",
            summary="Take a class's whole roll: one statement; a rerun changes nothing")
async def take_attendance(session_id: UUID, body: AttendanceRoll, _: Writer,
                          service: Service) -> Response:
    result = await service.take_attendance(session_id, [
        {"student_id": r.studentId, "status": r.status, "note": r.note} for r in body.records])
    return OrjsonResponse(result)


# -- feedback -----------------------------------------------------------------------------

@router.post("/feedback", status_code=201, summary="Ingest parsed student feedback")
async def ingest_feedback(body: FeedbackBatch, _: Writer, service: Service) -> Response:
    now = dt.datetime.now(dt.UTC)
    rows = await service.ingest_feedback([{
        "student_id": item.studentId, "course_id": item.courseId, "source": item.source,
        "raw_text": item.rawText, "score": item.score,
        "sentiment": item.sentiment or _sentiment(item.score),
        "parsed_at": item.parsedAt or now} for item in body.items])
    return OrjsonResponse({"items": [FEEDBACK.to_api(r) for r in rows]}, status_code=201)


@router.get("/feedback", summary="List feedback (list grammar)")
async def list_feedback(_: Reader, service: Service,
                        query: Annotated[ListQuery, Depends(list_query(FEEDBACK))]) -> Response:
    page = await service.list_feedback(query)
    return OrjsonResponse(page.envelope([FEEDBACK.to_api(r) for r in page.items]))


def _sentiment(score: Decimal) -> str:
    return "positive" if score >= Decimal("3.8") else (
        "negative" if score < Decimal("2.6") else "neutral")


# -- dashboards ---------------------------------------------------------------------------

@router.get("/dashboard/overview", summary="The school at a glance (from the metrics view)")
async def overview(_: Reader, service: Service, params: DashboardParams) -> Response:
    return OrjsonResponse(await service.dashboards.overview(live=params["live"]))


@router.get("/dashboard/at-risk",
            summary="Students under the attendance threshold or with falling feedback")
async def at_risk(_: Reader, service: Service, params: AtRiskParams) -> Response:
    return OrjsonResponse(await service.dashboards.at_risk(limit=params["limit"],
                                                           live=params["live"]))


@router.get("/dashboard/attendance", summary="Attendance per course per week (live)")
async def weekly_attendance(_: Reader, service: Service, params: WeeklyParams) -> Response:
    return OrjsonResponse(await service.dashboards.weekly_attendance(
        weeks=params["weeks"], course_id=params["courseId"]))


FindTable = Literal["students", "courses", "enrollments", "class_sessions", "attendances",
                    "parsed_student_feedback"]


@router.get("/find/{table}", summary="The report's findMany: conditions, order, limit")
async def find(table: FindTable, _: Reader, service: Service, params: FindParams) -> Response:
    conditions, order_by = params["conditions"], params["orderBy"]
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        raise InvalidParameter("conditions must be a JSON list of objects.",
                               details={"parameter": "conditions"},
                               hint='e.g. [{"column": "grade_level", "operator": ">=", '
                                    '"value": 7}]')
    rows = await service.dashboards.find_many(
        table, conditions, order_by=order_by, order_direction=params["orderDirection"],
        limit=params["limit"], use_replica=params["useReplica"])
    return OrjsonResponse({"items": rows})


# -- metrics ------------------------------------------------------------------------------

@router.get("/metrics/refresh", summary="When student_metrics_mv was last refreshed")
async def metrics_refreshed(_: Reader, service: Service) -> Response:
    done = await last_refresh(service.db)
    return OrjsonResponse(done.to_api() if done else {"refreshedAt": None})


@router.post("/metrics/refresh", summary="Refresh student_metrics_mv now (administrators)")
async def refresh_metrics(_: Admin, service: Service) -> Response:
    return OrjsonResponse((await refresh_student_metrics(service.db)).to_api())
