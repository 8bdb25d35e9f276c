"""The report's findMany over HTTP: allowlisted tables, columns and operators, values bound,
one school's rows; anything else a 400 naming what is allowed."""

from __future__ import annotations

import json

import pytest

from tests.pgkeel_apps.conftest import Api

from .conftest import make_school


async def test_find_many_with_conditions_order_and_limit(api: Api):
    mine, theirs = await make_school(api, students=4), await make_school(api, students=2)
    conditions = [{"column": "grade_level", "operator": ">=", "value": 8},
                  {"column": "status", "operator": "IN", "value": ["active", "enrolled"]}]
    found = await api.client.get("/v1/school/find/students", headers=mine["headers"], params={
        "conditions": json.dumps(conditions), "orderBy": "student_number",
        "orderDirection": "desc", "limit": "2", "useReplica": "true"})
    assert found.status_code == 200, found.text
    assert [r["studentNumber"] for r in found.json()["items"]] == ["N-003", "N-002"]
    everyone = await api.client.get("/v1/school/find/students", headers=mine["headers"])
    assert {r["id"] for r in everyone.json()["items"]} == set(mine["students"])
    assert not set(theirs["students"]) & {r["id"] for r in everyone.json()["items"]}


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/v1/school/find/students",
     {"conditions": '[{"column": "password_hash", "operator": "=", "value": 1}]'}, "allowed"),
    ("/v1/school/find/students",
     {"conditions": '[{"column": "grade_level", "operator": "; DROP TABLE x", "value": 1}]'},
     "allowed"),
    ("/v1/school/find/students",
     {"conditions": '[{"column": "grade_level) OR (1=1", "operator": "=", "value": 1}]'},
     "allowed"),
    ("/v1/school/find/students", {"orderBy": "nonsense"}, "allowed"),
    ("/v1/school/find/students", {"conditions": "not json"}, "parameter"),
    ("/v1/school/find/students", {"conditions": '{"column": "x"}'}, "parameter"),
    ("/v1/school/find/students", {"limit": "1000"}, "parameter"),
    ("/v1/school/find/students", {"where": "1=1"}, "allowed"),
])
async def test_hostile_conditions_are_refused(api: Api, path, params, named):
    school = await make_school(api, students=1)
    refused = await api.client.get(path, headers=school["headers"], params=params)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["code"] == "invalid_parameter"
    assert named in body["details"]
    assert "SELECT" not in refused.text


async def test_an_unknown_table_is_not_routed(api: Api):
    school = await make_school(api, students=1)
    response = await api.client.get("/v1/school/find/pg_authid", headers=school["headers"])
    assert response.status_code == 422   # the table is a closed list in the OpenAPI document
