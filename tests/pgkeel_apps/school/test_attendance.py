"""Taking a class's roll: one statement for the whole class, idempotent when rerun, refused
for students not enrolled, and never cached."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from pgkeel.db import Database, use_context
from pgkeel_apps.school import SchoolService
from tests.pgkeel_apps.conftest import Api

from .conftest import make_school, take_roll

COUNT = "SELECT count(*) FROM school.attendances WHERE organization_id = %s AND session_id = %s"


async def test_a_40_student_roll_is_one_statement_and_a_rerun_changes_nothing(api: Api,
                                                                           role_settings):
    school = await make_school(api, students=40)
    statuses = ["present"] * 30 + ["late"] * 4 + ["absent"] * 5 + ["excused"]
    records = [{"student_id": uuid.UUID(s), "status": st}
               for s, st in zip(school["students"], statuses, strict=True)]
    # A Database of the test's own (as the app role): its statement count is this test's.
    async with Database.from_settings(role_settings, min_size=1) as db:
        service = SchoolService(db, api.app.state.cache)
        with use_context(org_id=school["id"], actor_id=school["admin0"]):
            await _roll_twice(db, service, school, records)
    assert await api.db.fetch_val(COUNT, (school["id"], school["session"])) == 40
    audited = await api.db.fetch_val(
        "SELECT count(*) FROM audit.audit_log WHERE entity_type = 'school.attendances' "
        "AND organization_id = %s", (str(school["id"]),))
    assert audited == 40   # the rerun wrote (and audited) nothing
    # One change: one row updated, one more audit event, the rest untouched.
    statuses[0] = "absent"
    response = await take_roll(api, school, school["session"], statuses)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 40, "inserted": 0, "updated": 1}


async def _roll_twice(db: Database, service: SchoolService, school: dict[str, Any],
                      records: list[dict[str, Any]]) -> None:
    # What one statement in a transaction of its own costs, as this Database counts it.
    before = db.query_metrics()["total"]
    async with db.transaction() as tx:
        await tx.fetch_one("SELECT 1")
    one_statement = db.query_metrics()["total"] - before
    before = db.query_metrics()["total"]
    first = await service.take_attendance(uuid.UUID(school["session"]), records)
    assert db.query_metrics()["total"] - before == one_statement
    assert first == {"recorded": 40, "inserted": 40, "updated": 0}
    again = await service.take_attendance(uuid.UUID(school["session"]), records)
    assert again == {"recorded": 40, "inserted": 0, "updated": 0}


async def test_students_not_enrolled_are_refused_and_nothing_is_written(api: Api):
    school = await make_school(api, students=3)
    stranger = secrets.token_hex(2)
    outsider = str(uuid.uuid4())
    response = await api.client.put(
        f"/v1/school/sessions/{school['session']}/attendance", headers=school["headers"],
        json={"records": [{"studentId": school["students"][0], "status": "present"},
                          {"studentId": outsider, "status": "absent", "note": stranger}]})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["details"]["rule"] == "student_enrolled"
    assert body["details"]["studentIds"] == [outsider]
    assert await api.db.fetch_val(COUNT, (school["id"], school["session"])) == 0


async def test_another_schools_session_is_not_found(api: Api):
    mine, theirs = await make_school(api, students=1), await make_school(api, students=1)
    response = await api.client.put(
        f"/v1/school/sessions/{theirs['session']}/attendance", headers=mine["headers"],
        json={"records": [{"studentId": theirs["students"][0], "status": "present"}]})
    assert response.status_code == 404
    assert await api.db.fetch_val(COUNT, (theirs["id"], theirs["session"])) == 0


async def test_a_roll_naming_a_student_twice_is_refused(api: Api):
    school = await make_school(api, students=1)
    student = school["students"][0]
    response = await api.client.put(
        f"/v1/school/sessions/{school['session']}/attendance", headers=school["headers"],
        json={"records": [{"studentId": student, "status": "present"},
                          {"studentId": student, "status": "absent"}]})
    assert response.status_code == 422


async def test_attendance_is_read_fresh_every_time(api: Api):
    school = await make_school(api, students=2)
    url = f"/v1/school/sessions/{school['session']}/attendance"
    assert (await api.client.get(url, headers=school["headers"])).json()["items"] == []
    await take_roll(api, school, school["session"], ["present", "absent"])
    items = (await api.client.get(url, headers=school["headers"])).json()["items"]
    assert sorted(i["status"] for i in items) == ["absent", "present"]


async def test_active_courses_are_cached_and_invalidated_by_a_change(api: Api):
    school = await make_school(api, students=1)
    url = "/v1/school/active-courses"
    first = await api.client.get(url, headers=school["headers"])
    assert [c["code"] for c in first.json()["items"]] == ["MATH-1"]
    await api.db.execute("UPDATE school.courses SET name = 'Behind the cache' "
                         "WHERE organization_id = %s", (school["id"],))
    cached = await api.client.get(url, headers=school["headers"])
    assert cached.json()["items"][0]["name"] == "Mathematics"    # served from the cache
    changed = await api.client.patch(f"/v1/school/courses/{school['course']}",
                                     headers=school["headers"], json={"isActive": False})
    assert changed.status_code == 200, changed.text
    assert (await api.client.get(url, headers=school["headers"])).json()["items"] == []
