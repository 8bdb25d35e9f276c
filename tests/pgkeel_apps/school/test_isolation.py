"""Cross-tenant probes on every school endpoint, enumerated from the router (a new endpoint is
probed, or fails here until it is described): another school's ids answer exactly as random
ids do (404 with the same body, or the same refusal), writes through them change nothing, and
no list or dashboard ever shows another school's rows."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from tests.pgkeel_apps.conftest import Api

from .conftest import make_school, take_roll

PREFIX = "/v1/school"
TODAY = str(dt.date.today())

# A valid body for each route that takes one, so a probe gets past validation to the
# lookup. `{other}` marks where the probed id goes (an id of the other school, or a random
# one); `{student}` and `{course}` are the caller's own.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/students/{student_id}"): {"gradeLevel": 9},
    ("PATCH", "/courses/{course_id}"): {"name": "Renamed"},
    ("PATCH", "/enrollments/{enrollment_id}"): {"status": "dropped"},
    ("PUT", "/sessions/{session_id}/attendance"): {
        "records": [{"studentId": "{student}", "status": "present"}]},
    ("POST", "/students"): {"userId": "{other}", "studentNumber": "X-1", "gradeLevel": 7},
    ("POST", "/courses"): {"code": "X-1", "name": "Probe", "teacherId": "{other}",
                           "termStart": TODAY, "termEnd": TODAY},
    ("POST", "/enrollments"): {"studentId": "{other}", "courseId": "{course}"},
    ("POST", "/sessions"): {"courseId": "{other}", "sessionDate": TODAY, "period": 7},
    ("POST", "/feedback"): {"items": [{"studentId": "{other}", "rawText": "probe",
                                       "score": 3}]},
}
# Which of the other school's ids goes into `{other}` of a body.
BODY_PROBES = {("POST", "/students"): "user_id", ("POST", "/courses"): "user_id",
               ("POST", "/enrollments"): "student_id", ("POST", "/sessions"): "course_id",
               ("POST", "/feedback"): "student_id"}
# Routes that take no id at all.
NO_IDS = {("POST", "/metrics/refresh")}
# The roll is probed twice: their session in the path, and their student in our roll.
ROLL = ("PUT", "/sessions/{session_id}/attendance")
ROLL_BODY = {"records": [{"studentId": "{other}", "status": "present"}]}


def _routes(api: Api) -> list[tuple[str, str]]:
    """(METHOD, path under /v1/school) of every school operation in the OpenAPI document."""
    return [(method.upper(), path.removeprefix(PREFIX))
            for path, operations in api.app.openapi()["paths"].items()
            if path.startswith(PREFIX + "/") for method in operations]


def _fill(value: Any, **ids: str) -> Any:
    text = json.dumps(value)
    for name, id_ in ids.items():
        text = text.replace("{" + name + "}", id_)
    return json.loads(text)


def _normal(response: Any, *ids: str) -> tuple[int, str]:
    """Status and body with the probed id and request ids masked."""
    text = response.text
    for id_ in ids:
        text = text.replace(id_, "<id>")
    return response.status_code, re.sub(r'"(requestId|request_id)":"[^"]*"', "", text)


async def _school_with_everything(api: Api) -> dict[str, Any]:
    school = await make_school(api, students=2)
    roll = await take_roll(api, school, school["session"], ["present", "absent"])
    assert roll.status_code == 200, roll.text
    fed = await api.client.post(f"{PREFIX}/feedback", headers=school["headers"], json={
        "items": [{"studentId": school["students"][0], "rawText": "Fine work", "score": 4}]})
    assert fed.status_code == 201, fed.text
    enrollments = await api.client.get(f"{PREFIX}/enrollments", headers=school["headers"])
    school["enrollment"] = enrollments.json()["items"][0]["id"]
    school["feedback"] = fed.json()["items"][0]["id"]
    refreshed = await api.client.post(f"{PREFIX}/metrics/refresh", headers=school["headers"])
    assert refreshed.status_code == 200, refreshed.text
    return school


def _probes(api: Api, mine: dict[str, Any], their: dict[str, str]
            ) -> list[tuple[str, str, Any, str]]:
    """(method, url, body, probed id) for every school route that takes an id; deletes
    last (a wrong one would remove what the other probes look up)."""
    own = {"student": mine["students"][0], "course": mine["course"]}
    probes = []
    for method, path in sorted(_routes(api), key=lambda r: r[0] == "DELETE"):
        params = re.findall(r"{(\w+)}", path)
        if params == ["table"] or (method, path) in NO_IDS or (
                not params and method == "GET"):
            continue            # find/{table} and the lists: the test below
        body = BODIES.get((method, path))
        assert body is not None or method in ("GET", "DELETE"), \
            f"describe a valid body for {method} {path} in BODIES"
        if params:
            assert len(params) == 1 and params[0] in their, \
                f"{method} {path}: say which of the other school's ids fits {params}"
            url = PREFIX + path.replace(f"{{{params[0]}}}", "{other}")
            probes.append((method, url, _fill(body, **own), their[params[0]]))
        else:
            assert (method, path) in BODY_PROBES, \
                f"{method} {path}: say which id of the other school it may name"
            probes.append((method, PREFIX + path, _fill(body, **own),
                           their[BODY_PROBES[method, path]]))
        if (method, path) == ROLL:
            url = PREFIX + path.replace("{session_id}", mine["session"])
            probes.append((method, url, ROLL_BODY, their["student_id"]))
    return probes


async def test_another_schools_ids_answer_as_random_ids_on_every_endpoint(api: Api):
    mine, theirs = await make_school(api, students=2), await _school_with_everything(api)
    their = {"student_id": theirs["students"][0], "course_id": theirs["course"],
             "enrollment_id": theirs["enrollment"], "session_id": theirs["session"],
             "user_id": str(theirs["admin0"])}
    before = await _their_view(api, theirs)
    probes = _probes(api, mine, their)
    for method, url, body, probe in probes:
        answers = []
        for id_ in (probe, str(uuid.uuid4())):
            response = await api.client.request(
                method, url.replace("{other}", id_), headers=mine["headers"],
                json=None if body is None else _fill(body, other=id_))
            answers.append(_normal(response, id_))
        assert answers[0] == answers[1], (method, url, answers)
        assert answers[0][0] in (404, 409, 422), (method, url, answers[0])
    assert len(probes) >= 15, probes
    assert await _their_view(api, theirs) == before     # nothing of theirs changed


async def test_no_list_or_dashboard_shows_another_schools_rows(api: Api):
    mine, theirs = await _school_with_everything(api), await _school_with_everything(api)
    their_ids = {str(i) for i in (*theirs["students"], theirs["course"], theirs["session"],
                                  theirs["enrollment"], theirs["feedback"], theirs["id"])}
    find = api.app.openapi()["paths"][f"{PREFIX}/find/{{table}}"]["get"]
    tables = next(p for p in find["parameters"] if p["name"] == "table")["schema"]["enum"]
    paths = [path for method, path in _routes(api)
             if method == "GET" and "{" not in path] + [f"/find/{t}" for t in tables]
    assert len(paths) >= 14, paths
    paths += [f"/students?id={theirs['students'][0]}",
              f"/enrollments?studentId={theirs['students'][0]}",
              f"/sessions?courseId={theirs['course']}",
              f"/feedback?studentId={theirs['students'][0]}"]
    for path in paths:
        response = await api.client.get(PREFIX + path, headers=mine["headers"])
        assert response.status_code == 200, (path, response.text)
        leaked = {i for i in their_ids if i in response.text}
        assert not leaked, (path, leaked)
    # The probes are sharp: the same lists show the caller's own rows.
    own = await api.client.get(f"{PREFIX}/students", headers=mine["headers"])
    assert set(mine["students"]) <= {r["id"] for r in own.json()["items"]}


async def test_the_student_list_carries_names_in_the_list_grammar(api: Api):
    school = await make_school(api, students=3)
    listed = await api.client.get(f"{PREFIX}/students", headers=school["headers"],
                                  params={"sort": "-studentNumber", "limit": "2"})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(r["studentNumber"], r["name"]) for r in items] == [("N-002", "user 2"),
                                                                ("N-001", "user 1")]
    named = await api.client.get(f"{PREFIX}/students", headers=school["headers"],
                                 params={"name[ilike]": "USER 0"})
    assert [r["id"] for r in named.json()["items"]] == [school["students"][0]]


async def _their_view(api: Api, school: dict[str, Any]) -> list[str]:
    """What the other school sees of its own objects (through its own token)."""
    seen = []
    for path in (f"/students/{school['students'][0]}", f"/courses/{school['course']}",
                 f"/enrollments?courseId={school['course']}",
                 f"/sessions/{school['session']}/attendance", "/feedback"):
        response = await api.client.get(PREFIX + path, headers=school["headers"])
        assert response.status_code == 200, (path, response.text)
        seen.append(response.text)
    return seen
