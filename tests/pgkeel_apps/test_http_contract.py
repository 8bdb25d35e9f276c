"""The reference service's HTTP contract: what OpenAPI documents, what inputs are refused, and
the limits and headers every client can rely on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pgkeel.repo.params import RESERVED, range_names
from pgkeel.web.contract import all_routes
from pgkeel.web.errors import MAX_PROBLEMS
from pgkeel_apps import identity
from pgkeel_apps.main import AUTH_MAX_BODY
from pgkeel_apps.tags.tables import TAGS
from tests.pgkeel_apps.conftest import PASSWORD, Api

WRITES = {"post", "put", "patch", "delete"}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def dependency_names(route: Any) -> set[str]:
    """The names of a route's dependencies, at any depth (not the endpoint's own)."""
    names: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        names.add(getattr(dependant.call, "__name__", ""))
        stack.extend(dependant.dependencies)
    return names


def expected_statuses(route: Any) -> set[int]:
    """What a route's own declaration implies it can answer, independently of how pgkeel
    documents it: auth, list grammar, ids in the path, writes, bodies, rate limits."""
    names = dependency_names(route)
    expected = {500}
    if any(name.startswith("requires_") for name in names):
        expected |= {401, 403}
    if any(name.startswith("list_") for name in names):
        expected.add(400)
    if route.dependant.path_params:
        expected |= {404, 422}
    if route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
        expected |= {409, 422}
    if route.dependant.body_params:
        expected |= {400, 413, 422}
    if any("rate" in name for name in names):
        expected.add(429)
    return expected


def test_openapi_documents_every_status_each_route_can_answer(api: Api):
    schema = api.app.openapi()
    operations = 0
    for route in all_routes(api.app.routes):
        if not hasattr(route, "dependant") or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            documented = {int(s) for s in operation["responses"] if int(s) >= 400}
            expected = expected_statuses(route)
            missing = expected - documented
            assert not missing, f"{method} {route.path_format} does not document {missing}"
            for status in expected:
                body = operation["responses"][str(status)]["content"]["application/json"]
                assert body["schema"] == ERROR_BODY, (method, route.path_format, status)
            if 401 in documented:
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
            operations += 1
    assert operations >= 20
    error_body = schema["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "message", "details", "hint"}
    assert "HTTPValidationError" not in str(schema)


def test_every_list_parameter_is_declared_with_its_type(api: Api):
    schema = api.app.openapi()
    for path, table in (("/v1/users", identity.USERS), ("/api/admin/tags", TAGS)):
        params = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        expected = {*RESERVED} - (set() if table.searchable else {"q"})
        for field in table.filterable.values():
            if "eq" in {op.value for op in field.filter}:
                expected.add(field.api_name)
            expected |= {f"{field.api_name}[{op.value}]" for op in field.filter}
        assert expected <= set(params), expected - set(params)
        assert params["sortField"]["enum"] == sorted(table.sortable)
        assert params["sortDirection"]["enum"] == ["asc", "desc"]
        assert params["count"]["enum"] == ["exact", "planned", "estimated", "none"]
        assert params["pageSize"]["maximum"] == table.max_page_size
        assert params["id"]["format"] == "uuid"
        assert "pattern" in params["id[in]"] and "pattern" in params["sort"]
    users = {p["name"]: p["schema"] for p in schema["paths"]["/v1/users"]["get"]["parameters"]}
    low, high = range_names(identity.USERS.field("created_at"))
    assert users[low]["format"] == users[high]["format"] == "date-time"
    assert users["isActive"] == {"type": "boolean"}
    assert users["roleId"]["format"] == "uuid"


async def test_a_request_using_the_declared_parameters_is_accepted(api: Api):
    admin = await api.as_("org-1")
    response = await api.client.get(
        "/v1/users", headers=admin, params={
            "page": 1, "pageSize": 5, "count": "exact", "sortField": "email",
            "sortDirection": "desc", "q": "a", "isActive": "true", "status[in]": "active,invited",
            "createdFrom": "2000-01-01T00:00:00Z", "email[ilike]": "*@org-1.example",
            "id[in]": f"{uuid.uuid4()},{uuid.uuid4()}"})
    assert response.status_code == 200, response.text


async def test_405_lists_every_method_of_the_path(api: Api):
    response = await api.client.put(f"/v1/users/{uuid.uuid4()}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"
    assert response.json()["code"] == "method_not_allowed"


async def test_401_challenges_and_login_is_not_cached(api: Api):
    anonymous = await api.client.get("/v1/users")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    bad = await api.client.post("/v1/auth/login", json={
        "organization": "org-1", "email": "admin@org-1.example", "password": "wrong"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    good = await api.client.post("/v1/auth/login", json={
        "organization": "org-1", "email": "admin@org-1.example", "password": PASSWORD})
    assert good.headers["cache-control"] == "no-store"


# -- inputs ----------------------------------------------------------------------------------

def problems(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    return [p["field"] for p in body["details"]["problems"]]


@pytest.mark.parametrize(("field", "value"), [
    ("displayName", "Mallory\x07"), ("displayName", "evil\u202eexe.txt"),
    ("displayName", "two\nlines"), ("email", "ctl\x01@example.com"),
    ("email", "not-an-email"), ("email", "someone@example.test"),
    ("displayName", "x" * 201), ("password", "p\x00ssword-long"),
])
async def test_user_inputs_are_refused_with_the_field_named(api: Api, field, value):
    admin = await api.as_("org-1")
    body = {"email": f"in-{uuid.uuid4().hex[:8]}@example.com", "displayName": "Ok Name",
            field: value}
    assert problems(await api.client.post("/v1/users", headers=admin, json=body)) == [field]


async def test_emails_are_normalised_by_email_validator(api: Api):
    admin = await api.as_("org-1")
    local = f"Mixed.Case.{uuid.uuid4().hex[:6]}"
    created = await api.client.post("/v1/users", headers=admin, json={
        "email": f"{local}@EXAMPLE.Com", "displayName": "Ann"})
    assert created.status_code == 201, created.text
    assert created.json()["email"] == f"{local.lower()}@example.com"
    assert created.headers["location"] == f"/v1/users/{created.json()['id']}"


async def test_tag_text_rules(api: Api):
    admin = await api.as_("org-1")
    ok = await api.client.post("/api/admin/tags", headers=admin, json={
        "name": f"t-{uuid.uuid4().hex[:6]}", "color": "#112233",
        "description": "Line one\nLine two\twith a tab"})
    assert ok.status_code == 201, ok.text
    assert problems(await api.client.post("/api/admin/tags", headers=admin, json={
        "name": "bad\x1bname", "color": "#112233"})) == ["name"]
    assert problems(await api.client.post("/api/admin/tags", headers=admin, json={
        "name": "fine", "color": "#112233", "description": "bell\x07"})) == ["description"]


async def test_versions_beyond_the_column_are_4xx_with_a_request_id(api: Api):
    admin = await api.as_("org-1")
    user = (await api.client.get("/v1/users?pageSize=1", headers=admin)).json()["items"][0]
    url = f"/v1/users/{user['id']}"
    huge = await api.client.patch(url, headers=admin, json={"displayName": "v", "version": 2**64})
    assert problems(huge) == ["version"]
    for header in ("99999999999999999999", '"18446744073709551616"', "1, 2", "*"):
        response = await api.client.patch(url, headers={**admin, "If-Match": header},
                                          json={"displayName": "v"})
        assert response.status_code == 400, (header, response.text)
        assert response.json()["details"]["parameter"] == "If-Match"
        assert response.headers["x-request-id"]
    stale = await api.client.patch(url, headers={**admin, "If-Match": '"999999999"'},
                                   json={"displayName": "v"})
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"


async def test_a_nul_in_a_list_parameter_is_a_400_naming_it(api: Api):
    admin = await api.as_("org-1")
    for query in ("email=a%00b", "q=a%00b", "status[in]=active,%00", "displayName[ilike]=%00"):
        response = await api.client.get(f"/v1/users?{query}", headers=admin)
        assert response.status_code == 400, (query, response.text)
        assert response.json()["details"]["parameter"] == query.split("=")[0]


# -- limits ----------------------------------------------------------------------------------

async def test_oversized_bodies_are_413_before_parsing(api: Api):
    login = await api.client.post("/v1/auth/login", content=b"{" + b" " * AUTH_MAX_BODY + b"}",
                                  headers={"Content-Type": "application/json"})
    assert login.status_code == 413
    assert login.json()["code"] == "payload_too_large"
    assert login.json()["details"]["maximum"] == AUTH_MAX_BODY
    assert login.headers["x-request-id"]
    admin = await api.as_("org-1")

    async def chunks():  # no Content-Length: the limit holds for a streamed body too
        for _ in range(2048):
            yield b"x" * 1024

    streamed = await api.client.post("/v1/users", headers=admin, content=chunks())
    assert streamed.status_code == 413


async def test_headers_are_capped(api: Api):
    response = await api.client.get("/v1/users",
                                    headers={"Authorization": "Bearer " + "a" * 1024 * 1024})
    assert response.status_code == 431
    assert response.json()["details"]["header"] == "authorization"


async def test_a_422_reports_a_bounded_number_of_problems(api: Api):
    admin = await api.as_("org-1")
    body: dict[str, Any] = {f"unknown{i}": i for i in range(500)}
    response = await api.client.post("/v1/users", headers=admin, json=body)
    assert response.status_code == 422
    details = response.json()["details"]
    assert len(details["problems"]) == MAX_PROBLEMS
    assert details["truncated"] is True and details["total"] > 500


def test_a_new_password_schema_says_what_the_service_accepts(monkeypatch):
    """minLength of a new password follows PASSWORD_MIN_CHARS, read when the document is
    built, so a schema-valid password is never refused for its length."""
    from pgkeel_apps.main import create_app

    for shortest in (15, 12):
        monkeypatch.setenv("PASSWORD_MIN_CHARS", str(shortest))
        schema = create_app().openapi()["components"]["schemas"]
        created = schema["UserCreate"]["properties"]["password"]
        changed = schema["PasswordChange"]["properties"]["newPassword"]
        assert [b["minLength"] for b in created["anyOf"] if b.get("type") == "string"] == [
            shortest]
        assert changed["minLength"] == shortest
        assert f"At least {shortest} characters" in changed["description"]
