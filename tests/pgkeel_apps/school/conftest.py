"""A school of the test's own on the running reference service: an organization with an
admin, students enrolled in one course, and a class session."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.pgkeel_apps.conftest import Api, make_org

ROLL = "PUT", "/v1/school/sessions/{}/attendance"


async def make_school(api: Api, *, students: int = 4) -> dict[str, Any]:
    """An organization (make_org) whose `students` plain users are students of one course
    with one session today; returns make_org's dict plus headers, ids and the course."""
    org = await make_org(api, others=students)
    headers = await api.as_(org["slug"], "admin0")
    today = dt.date.today()
    course = await api.client.post("/v1/school/courses", headers=headers, json={
        "code": "MATH-1", "name": "Mathematics", "termStart": str(today - dt.timedelta(60)),
        "termEnd": str(today + dt.timedelta(30))})
    assert course.status_code == 201, course.text
    course_id = course.json()["id"]
    ids = []
    for i in range(students):
        user = org[f"user{i}"]
        made = await api.client.post("/v1/school/students", headers=headers, json={
            "userId": str(user), "studentNumber": f"N-{i:03d}", "gradeLevel": 7 + i % 4})
        assert made.status_code == 201, made.text
        enrolled = await api.client.post("/v1/school/enrollments", headers=headers, json={
            "studentId": str(user), "courseId": course_id})
        assert enrolled.status_code == 201, enrolled.text
        ids.append(str(user))
    session = await api.client.post("/v1/school/sessions", headers=headers, json={
        "courseId": course_id, "sessionDate": str(today), "topic": "Fractions"})
    assert session.status_code == 201, session.text
    return {**org, "headers": headers, "course": course_id, "students": ids,
            "session": session.json()["id"]}


async def add_session(api: Api, school: dict[str, Any], day: dt.date) -> str:
    made = await api.client.post("/v1/school/sessions", headers=school["headers"], json={
        "courseId": school["course"], "sessionDate": str(day), "period": 2})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def take_roll(api: Api, school: dict[str, Any], session: str,
                    statuses: list[str]) -> Any:
    return await api.client.put(f"/v1/school/sessions/{session}/attendance",
                                headers=school["headers"], json={"records": [
                                    {"studentId": s, "status": st}
                                    for s, st in zip(school["students"], statuses,
                                                     strict=True)]})


def new_id() -> str:
    return str(uuid.uuid4())
