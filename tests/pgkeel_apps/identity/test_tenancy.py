"""Organization A's token can neither read, change nor learn of organization B's rows, on
every endpoint; and arbitrary query strings never produce a 5xx or leak SQL."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pgkeel_apps.conftest import Api, make_org


async def test_every_endpoint_hides_other_organizations(api: Api):
    a = await make_org(api)
    b = await make_org(api)
    token_a = await api.as_(a["slug"], "admin0")
    victim, victim_role = b["user0"], b["viewer_role"]
    missing = uuid.uuid4()
    # A missing resource in the URL is a 404; one named in the body, a 409.
    probes = [
        ("GET", f"/v1/users/{victim}", None, 404, "not_found"),
        ("PATCH", f"/v1/users/{victim}", {"displayName": "pwned"}, 404, "not_found"),
        ("PATCH", f"/v1/users/{victim}/status", {"status": "suspended"}, 404, "not_found"),
        ("POST", f"/v1/users/{victim}/roles", {"roleId": str(victim_role)}, 404, "not_found"),
        ("DELETE", f"/v1/users/{victim}/roles/{victim_role}", None, 404, "not_found"),
        ("POST", f"/v1/users/{a['user0']}/roles", {"roleId": str(victim_role)}, 409,
         "reference_not_found"),
    ]
    for method, url, body, status, code in probes:
        response = await api.client.request(method, url, headers=token_a, json=body)
        assert response.status_code == status, (method, url, response.text)
        # indistinguishable from a row that does not exist at all
        twin_body = body and {k: str(missing) if v == str(victim_role) else v
                              for k, v in body.items()}
        twin = await api.client.request(method, url.replace(str(victim), str(missing))
                                        .replace(str(victim_role), str(missing)),
                                        headers=token_a, json=twin_body)
        assert twin.status_code == status
        assert response.json()["code"] == twin.json()["code"] == code
        assert response.json()["message"] == twin.json()["message"]

    listed = (await api.client.get("/v1/users?pageSize=100", headers=token_a)).json()
    assert str(victim) not in {u["id"] for u in listed["items"]}
    by_foreign_role = (await api.client.get(f"/v1/users?roleId={b['admin_role']}",
                                            headers=token_a)).json()
    assert by_foreign_role["items"] == []
    assert str(victim_role) not in str(
        (await api.client.get("/v1/roles", headers=token_a)).json())

    unchanged = await api.db.fetch_one(
        "SELECT display_name, status FROM identity.users WHERE id = %s", (victim,))
    assert unchanged == {"display_name": "user 0", "status": "active"}


async def test_cached_reads_never_cross_organizations(api: Api):
    """The owning organization fills the cache first; another organization asking for the
    same ids must still get 404, never the cached value."""
    a = await make_org(api)
    b = await make_org(api)
    token_a = await api.as_(a["slug"], "admin0")
    token_b = await api.as_(b["slug"], "admin0")
    victim = a["user0"]
    urls = [f"/v1/users/{victim}", f"/api/admin/customers/{victim}/tags"]
    hits = api.app.state.cache.stats().totals["hits"]
    for url in urls:
        for _ in range(2):   # a fill, then a hit
            assert (await api.client.get(url, headers=token_a)).status_code == 200, url
    assert api.app.state.cache.stats().totals["hits"] >= hits + len(urls)
    for url in urls:
        response = await api.client.get(url, headers=token_b)
        assert response.status_code == 404, (url, response.text)
        assert str(victim) not in response.text or response.json()["code"] == "not_found"


async def test_a_cursor_cannot_cross_organizations(api: Api):
    token_1 = await api.as_("org-1")
    token_2 = await api.as_("org-2")
    first = (await api.client.get("/v1/users?limit=5", headers=token_1)).json()
    replay = await api.client.get(f"/v1/users?limit=5&cursor={first['nextCursor']}",
                                  headers=token_2)
    assert replay.status_code == 400
    assert replay.json()["details"]["parameter"] == "cursor"


KEYS = st.sampled_from(["page", "pageSize", "cursor", "limit", "sort", "sortField",
                        "sortDirection", "q", "count", "email", "email[ilike]", "status[in]",
                        "isActive", "createdFrom", "createdTo", "roleId", "id[in]",
                        "displayName", "updatedFrom", "x", "sort[eq]", "'; DROP TABLE x; --"])
VALUES = st.one_of(st.text(max_size=40), st.integers().map(str),
                   st.sampled_from(["asc", "desc", "-createdAt,email", "true", "null",
                                    "2024-01-01", "1e309", "%", "\\", "' OR 1=1 --",
                                    str(uuid.uuid4()), "a,b,c", "exact", "planned"]))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(KEYS | st.text(max_size=10), VALUES), max_size=5))
@pytest.mark.usefixtures("api")
def test_fuzzed_query_strings_never_fail_the_server(pairs, fuzz_client):
    response = fuzz_client(pairs)
    assert response.status_code in (200, 400), response.text
    text = response.text
    for leak in ("SELECT", "Traceback", "psycopg", "syntax error"):
        assert leak not in text
    if response.status_code == 400:
        assert set(response.json()) == {"code", "message", "details", "hint"}


@pytest.fixture
def fuzz_client(api: Api):
    """A synchronous call into the async app, so hypothesis can drive it."""
    import asyncio

    import httpx

    loop = asyncio.get_event_loop()
    token = loop.run_until_complete(api.token("org-1"))

    def call(pairs):
        async def go():
            return await api.client.get("/v1/users", params=httpx.QueryParams(pairs),
                                        headers={"Authorization": f"Bearer {token}"})
        return loop.run_until_complete(go())
    return call
