"""Attacks the service already withstands, kept that way: cross-organization ids, mass
assignment, tampered tokens, account enumeration, SQL injection through every list parameter,
forged and replayed cursors, deeply nested JSON."""

from __future__ import annotations

import uuid

import pytest

from tests.pgkeel_apps.conftest import PASSWORD, Api, make_org


def _same(body: dict) -> dict:
    """An error body without its request id (which differs per request by design) and the id
    it echoes back (the caller's own input)."""
    details = {k: v for k, v in body["details"].items() if k not in ("request_id", "id")}
    return {**body, "details": details}


async def test_no_id_endpoint_reveals_another_organizations_rows(api: Api):
    a, b = await make_org(api), await make_org(api)
    mine, theirs = await api.as_(a["slug"], "admin0"), await api.as_(b["slug"], "admin0")
    tag = (await api.client.post("/api/admin/tags", headers=theirs,
                                 json={"name": "secret", "color": "#000000"})).json()["id"]
    user = str(b["user0"])
    probes = [("GET", "/v1/users/{u}", None), ("PATCH", "/v1/users/{u}", {"displayName": "x"}),
              ("PATCH", "/v1/users/{u}/status", {"status": "suspended"}),
              ("GET", "/v1/users/{u}/activity", None),
              ("POST", "/v1/users/{u}/roles", {"roleId": str(a["viewer_role"])}),
              ("DELETE", "/v1/users/{u}/roles/{r}", None),
              ("GET", "/api/admin/tags/{t}", None),
              ("PATCH", "/api/admin/tags/{t}", {"name": "mine"}),
              ("DELETE", "/api/admin/tags/{t}", None),
              ("GET", "/api/admin/customers/{u}/tags", None),
              ("POST", "/api/admin/customers/{u}/tags", {"tagId": tag}),
              ("DELETE", "/api/admin/customers/{u}/tags/{t}", None)]
    for method, template, body in probes:
        real = template.format(u=user, r=b["viewer_role"], t=tag)
        fake = template.format(u=uuid.uuid4(), r=uuid.uuid4(), t=uuid.uuid4())
        got = await api.client.request(method, real, headers=mine, json=body)
        twin = await api.client.request(method, fake, headers=mine, json=body)
        assert got.status_code == twin.status_code == 404, (method, real, got.text)
        assert _same(got.json()) == _same(twin.json()), (method, template)
    assert (await api.client.get(f"/api/admin/tags/{tag}", headers=theirs)).json()["name"] \
        == "secret"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/users", {"email": "m@x.example", "displayName": "M", "isAdmin": True}),
    ("POST", "/v1/users", {"email": "m@x.example", "displayName": "M",
                           "organizationId": str(uuid.uuid4())}),
    ("PATCH", "/v1/users/{me}", {"status": "active", "passwordHash": "x"}),
    ("PATCH", "/v1/users/{me}/status", {"status": "active", "isActive": True}),
    ("POST", "/v1/users/{me}/roles", {"roleId": str(uuid.uuid4()), "permissions": ["*"]}),
    ("POST", "/api/admin/tags", {"name": "t", "color": "#000000", "id": str(uuid.uuid4())}),
    ("POST", "/v1/auth/login", {"organization": "org-1", "email": "admin@org-1.example",
                                "password": PASSWORD, "userId": str(uuid.uuid4())}),
])
async def test_mass_assignment_is_a_422(api: Api, method, path, body):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    response = await api.client.request(method, path.format(me=org["admin0"]), headers=admin,
                                        json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


async def test_tampered_tokens_are_refused_alike(api: Api):
    token = await api.token("org-1")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    variants = [flipped, token[:-2], token + "x", token.upper(), "pgk_" + "A" * 43,
                token.replace("pgk_", ""), f"{token} {token}", "\u0000" + token]
    bodies = []
    for variant in variants:
        response = await api.client.get("/v1/roles",
                                        headers={"Authorization": f"Bearer {variant}"})
        assert response.status_code == 401, variant
        bodies.append(_same(response.json()))
    assert all(b == bodies[0] for b in bodies)


async def test_failed_logins_are_indistinguishable(api: Api):
    org = await make_org(api, admins=1, others=1)
    await api.db.execute("UPDATE identity.users SET status = 'suspended', is_active = false "
                         "WHERE id = %s", (org["user0"],))
    slug = org["slug"]
    attempts = [
        {"organization": slug, "email": f"admin0@{slug}.example", "password": "wrong"},
        {"organization": slug, "email": f"nobody@{slug}.example", "password": PASSWORD},
        {"organization": "no-such-org", "email": f"admin0@{slug}.example",
         "password": PASSWORD},
        {"organization": slug, "email": f"user0@{slug}.example", "password": PASSWORD},
    ]
    responses = [await api.client.post("/v1/auth/login", json=a) for a in attempts]
    assert {r.status_code for r in responses} == {401}
    assert len({str(_same(r.json())) for r in responses}) == 1
    assert len({tuple(sorted((k, v) for k, v in r.headers.items()
                             if k not in {"x-request-id", "content-length", "date"}))
                for r in responses}) == 1


PAYLOADS = [
    "' OR '1'='1", "' OR 1=1 --", "\" OR \"\"=\"", "1; DROP TABLE identity.users; --",
    "' UNION SELECT NULL, version() --", "admin'--", "') OR ('1'='1", "1' AND SLEEP(1)#",
    "'; SELECT pg_sleep(1); --", "%' AND 1=0 UNION SELECT * FROM pg_user --", "\\'; --",
    "' OR EXISTS(SELECT 1 FROM identity.sessions) --", "$$; DROP TABLE x; $$",
    "1) OR (1=1", "email,--", "-createdAt; DROP TABLE x", "id[in]=1,2)", "%00", "%%",
    "' || (SELECT current_user) || '", "1e999", "-1 OR 1=1", "null) OR true --",
    "{\"$gt\": \"\"}", "*/ OR /*", "'/**/OR/**/1=1", "CHR(39)||CHR(39)",
]


def _list_parameters(api: Api, path: str) -> list[str]:
    operation = api.app.openapi()["paths"][path]["get"]
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]


@pytest.mark.parametrize("path", ["/v1/users", "/api/admin/tags", "/v1/audit-logs"])
async def test_sql_injection_through_every_list_parameter(api: Api, path):
    admin = await api.as_("org-1")
    before = await api.db.fetch_val("SELECT count(*) FROM identity.users")
    parameters = _list_parameters(api, path)
    assert len(parameters) >= 8, parameters
    for name in parameters:
        for payload in PAYLOADS:
            response = await api.client.get(path, params={name: payload}, headers=admin)
            assert response.status_code in (200, 400), (name, payload, response.text)
            text = response.text.replace(payload, "")  # a 400 may echo the value it refused
            for leak in ("syntax error", "psycopg", "Traceback", "sqlstate", "relation "):
                assert leak not in text, (name, payload)
            if response.status_code == 200:
                body = response.json()
                assert all(item.get("organizationId", None) in (None, body["items"][0].get(
                    "organizationId")) for item in body["items"])
    assert await api.db.fetch_val("SELECT count(*) FROM identity.users") == before


async def test_forged_and_replayed_cursors_are_400(api: Api):
    admin = await api.as_("org-1")
    first = (await api.client.get("/v1/users?limit=2&sort=email", headers=admin)).json()
    cursor = first["nextCursor"]
    body, signature = cursor.split(".")
    forged = [body + "." + signature[::-1], body[:-2] + "AA." + signature, "x" + cursor,
              cursor + ".", "e30." + signature, "", "....", "%00"]
    for bad in forged:
        response = await api.client.get(f"/v1/users?limit=2&sort=email&cursor={bad}",
                                        headers=admin)
        assert response.status_code == 400, bad
        assert response.json()["details"]["parameter"] == "cursor"
    again = await api.client.get(f"/v1/users?limit=2&sort=email&cursor={cursor}",
                                 headers=admin)
    assert again.status_code == 200, "the same query may page with its own cursor again"
    for other in ("sort=-email", "sort=email&status=active", "sort=email&q=a"):
        replay = await api.client.get(f"/v1/users?limit=2&{other}&cursor={cursor}",
                                      headers=admin)
        assert replay.status_code == 400, other


@pytest.mark.parametrize("depth", [100, 5_000])
async def test_deeply_nested_json_is_refused_cleanly(api: Api, depth):
    admin = await api.as_("org-1")
    nested = "[" * depth + "]" * depth
    for path in ("/v1/users", "/v1/auth/login", "/api/admin/tags"):
        body = '{"email": "n@x.example", "displayName": ' + nested + "}"
        response = await api.client.post(path, content=body, headers={
            **admin, "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (path, depth, response.status_code)
        assert response.json()["code"] in ("validation_failed", "payload_too_large",
                                           "bad_request")
