"""Trigger audit on every school table: the service's writes and raw SQL alike, the report's
table_name / operation / changed_at query through school.audit_log (one organization's rows
only), and get_user_activity_summary for a school user."""

from __future__ import annotations

import psycopg

from pgkeel.security.roles import role_url
from tests.pgkeel_apps.conftest import Api

from .conftest import make_school, take_roll

SCHOOL_TABLES = {"school.students", "school.courses", "school.enrollments",
                 "school.class_sessions", "school.attendances",
                 "school.parsed_student_feedback"}
REPORT_QUERY = """
SELECT table_name, operation, changed_at, record_id, changed_fields, changed_by
FROM school.audit_log
WHERE table_name = 'students' AND operation = 'UPDATE'
ORDER BY changed_at DESC
"""


async def test_every_school_table_is_audited(api: Api):
    tracked = await api.db.fetch_all(
        "SELECT relid::text AS name, org_column FROM audit.tracked_tables "
        "WHERE relid::text LIKE 'school.%'")
    assert {r["name"] for r in tracked} == SCHOOL_TABLES
    assert {r["org_column"] for r in tracked} == {"organization_id"}
    school = await make_school(api, students=2)
    await take_roll(api, school, school["session"], ["present", "absent"])
    await api.client.post("/v1/school/feedback", headers=school["headers"], json={
        "items": [{"studentId": school["students"][0], "rawText": "Fine", "score": 3}]})
    written = await api.db.fetch_all(
        "SELECT DISTINCT entity_type FROM audit.audit_log WHERE organization_id = %s "
        "AND metadata->>'source' = 'trigger'", (str(school["id"]),))
    assert {r["entity_type"] for r in written} == SCHOOL_TABLES


async def test_the_reports_audit_query_and_the_activity_summary(api: Api, role_names,
                                                                pgkeel_database_url):
    mine, theirs = await make_school(api, students=1), await make_school(api, students=1)
    for school in (mine, theirs):
        changed = await api.client.patch(f"/v1/school/students/{school['students'][0]}",
                                         headers=school["headers"], json={"gradeLevel": 12})
        assert changed.status_code == 200, changed.text
    # A change made outside the service (raw SQL, as the schema owner) is captured too.
    async with api.db.transaction() as tx:
        await tx.execute("UPDATE school.students SET status = 'graduated' "
                         "WHERE organization_id = %s", (mine["id"],))
    with psycopg.connect(role_url(pgkeel_database_url, role_names.app, None)) as app:
        app.execute("SELECT set_config('pgkeel.org_id', %s, true)", (str(mine["id"]),))
        rows = app.execute(REPORT_QUERY).fetchall()
        assert [(r[0], r[1]) for r in rows] == [("students", "UPDATE")] * 2
        assert rows[0][4] == ["status"] and rows[1][4] == ["grade_level"]
        assert rows[1][5] == str(mine["admin0"])      # the actor of the request
        assert rows[0][2] >= rows[1][2]
        summary = app.execute("SELECT action, entity_type, event_count FROM "
                              "audit.get_user_activity_summary(%s::uuid, 30)",
                              (mine["admin0"],)).fetchall()
    assert ("UPDATE", "school.students", 1) in summary
    assert ("INSERT", "school.enrollments", 1) in summary
    assert ("INSERT", "school.courses", 1) in summary
    activity = await api.client.get(f"/v1/users/{mine['admin0']}/activity?days=30",
                                    headers=mine["headers"])
    assert activity.status_code == 200, activity.text
    assert "school.class_sessions" in activity.text
