"""/v1/users: authentication, permissions, the list grammar over HTTP, writes and their rules."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.pgkeel_apps.conftest import PASSWORD, Api, make_org

pytestmark = pytest.mark.smoke


async def test_login_and_token_checks(api: Api):
    bad = await api.client.post("/v1/auth/login", json={
        "organization": "org-1", "email": "admin@org-1.example", "password": "wrong-password"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "unauthorized"
    unknown = await api.client.post("/v1/auth/login", json={
        "organization": "org-999", "email": "admin@org-1.example", "password": PASSWORD})
    assert unknown.status_code == 401
    assert unknown.json()["message"] == bad.json()["message"], "no account enumeration"
    assert (await api.client.get("/v1/users")).status_code == 401
    assert (await api.client.get("/v1/users", headers={"Authorization": "Bearer nope"})
            ).status_code == 401
    assert (await api.client.get("/v1/users", headers={"Authorization": "Basic x"})
            ).status_code == 401


async def test_permissions(api: Api):
    nobody = await api.as_("org-1", "nobody")
    viewer = await api.as_("org-1", "viewer")
    denied = await api.client.get("/v1/users", headers=nobody)
    assert denied.status_code == 403
    assert denied.json()["details"]["missing"] == ["USERS_READ"]
    assert (await api.client.get("/v1/users", headers=viewer)).status_code == 200
    create = await api.client.post("/v1/users", headers=viewer,
                                   json={"email": "v@x.example", "displayName": "V"})
    assert create.status_code == 403


async def test_list_envelope_and_query_forms(api: Api):
    admin = await api.as_("org-1")
    page = (await api.client.get("/v1/users?page=1&pageSize=20", headers=admin)).json()
    assert set(page) == {"items", "page", "pageSize", "total", "totalPages", "totalIsEstimate"}
    # The seed gives org-1 20 users; tests elsewhere in the session may add some.
    total = page["total"]
    assert total >= 20 and page["totalPages"] == -(-total // 20)
    assert len(page["items"]) == 20
    item = page["items"][0]
    assert {"id", "email", "displayName", "status", "isActive", "createdAt"} <= set(item)
    assert "passwordHash" not in item and "password_hash" not in item

    found = (await api.client.get("/v1/users?q=admin&isActive=true&page=1&pageSize=10",
                                  headers=admin)).json()
    assert [u["email"] for u in found["items"]] == ["admin@org-1.example"]

    by_email = (await api.client.get(
        "/v1/users?sortField=email&sortDirection=asc&page=1&pageSize=25", headers=admin)).json()
    emails = [u["email"] for u in by_email["items"]]
    assert emails == sorted(emails)

    dated = (await api.client.get(
        "/v1/users?createdFrom=2000-01-01&createdTo=2999-12-31&page=1&pageSize=15",
        headers=admin)).json()
    assert dated["total"] == total and len(dated["items"]) == 15

    roles = (await api.client.get("/v1/roles", headers=admin)).json()["items"]
    admin_role = next(r["id"] for r in roles if r["name"] == "ADMIN")
    by_role = (await api.client.get(f"/v1/users?roleId={admin_role}&page=1&pageSize=20",
                                    headers=admin)).json()
    assert "admin@org-1.example" in [u["email"] for u in by_role["items"]]

    seen, cursor = [], None
    while True:
        url = "/v1/users?limit=7&sort=-createdAt" + (f"&cursor={cursor}" if cursor else "")
        body = (await api.client.get(url, headers=admin)).json()
        assert set(body) == {"items", "limit", "nextCursor", "prevCursor"}
        seen += [u["id"] for u in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == total


@pytest.mark.parametrize(("query", "parameter", "hint"), [
    ("pagesize=10", "pagesize", "Did you mean 'pageSize'?"),
    ("sortField=emial", "sortField", "Did you mean 'email'?"),
    ("pageSize=1000", "pageSize", "Use at most 100."),
    ("isActive=perhaps", "isActive", None),
    ("status[like]=a", "status[like]", "Allowed: eq, ne, in."),
    ("passwordHash=x", "passwordHash", None),
    ("roleId=not-a-uuid", "roleId", None),
])
async def test_grammar_errors_are_400_with_hints(api: Api, query, parameter, hint):
    response = await api.client.get(f"/v1/users?{query}", headers=await api.as_("org-1"))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_parameter"
    assert body["details"]["parameter"] == parameter
    if hint:
        assert body["hint"] == hint


async def test_create_update_and_conflicts(api: Api):
    admin = await api.as_("org-1")
    created = await api.client.post("/v1/users", headers=admin, json={
        "email": "New.Person@Org-1.example", "displayName": "New Person",
        "password": "long-enough-password"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "new.person@org-1.example"
    assert user["version"] == 1
    duplicate = await api.client.post("/v1/users", headers=admin, json={
        "email": "new.person@org-1.example", "displayName": "Again"})
    assert duplicate.status_code == 409
    assert duplicate.json()["details"]["fields"] == ["organization_id", "email"]
    invalid = await api.client.post("/v1/users", headers=admin, json={
        "email": "not-an-email", "displayName": ""})
    assert invalid.status_code == 422
    assert {p["field"] for p in invalid.json()["details"]["problems"]} == {"email",
                                                                          "displayName"}

    patched = await api.client.patch(f"/v1/users/{user['id']}", headers=admin,
                                     json={"displayName": "Renamed", "version": 1})
    assert patched.status_code == 200
    assert (patched.json()["displayName"], patched.json()["version"]) == ("Renamed", 2)
    stale = await api.client.patch(f"/v1/users/{user['id']}", headers=admin,
                                   json={"displayName": "Lost update", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"
    by_header = await api.client.patch(f"/v1/users/{user['id']}",
                                       headers={**admin, "If-Match": '"2"'},
                                       json={"displayName": "Via If-Match"})
    assert by_header.json()["version"] == 3

    trail = await api.db.fetch_all(
        "SELECT action, old_values, new_values, changed_fields FROM audit.audit_log "
        "WHERE entity_id = %s ORDER BY id", (user["id"],))
    assert [t["action"] for t in trail] == ["users.create", "users.update", "users.update"]
    assert trail[1]["old_values"]["display_name"] == "New Person"
    assert trail[1]["new_values"]["display_name"] == "Renamed"
    assert trail[1]["changed_fields"] == ["display_name"]


async def test_role_assignment_is_idempotent_and_audited_once(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    user, role = org["user0"], org["viewer_role"]
    first = await api.client.post(f"/v1/users/{user}/roles", headers=admin,
                                  json={"roleId": str(role)})
    again = await api.client.post(f"/v1/users/{user}/roles", headers=admin,
                                  json={"roleId": str(role)})
    assert (first.status_code, first.json()["changed"]) == (201, True)
    assert (again.status_code, again.json()["changed"]) == (200, False)
    detail = (await api.client.get(f"/v1/users/{user}", headers=admin)).json()
    assert [r["name"] for r in detail["roles"]] == ["VIEWER"]
    for _ in range(2):
        removed = await api.client.delete(f"/v1/users/{user}/roles/{role}", headers=admin)
        assert removed.status_code == 204
    actions = await api.db.fetch_all(
        "SELECT action FROM audit.audit_log WHERE entity_id = %s ORDER BY id", (str(user),))
    assert [a["action"] for a in actions] == ["users.role_added", "users.role_removed"]


async def test_admin_protection(api: Api):
    org = await make_org(api, admins=1)
    admin = await api.as_(org["slug"], "admin0")
    me = org["admin0"]
    own = await api.client.patch(f"/v1/users/{me}/status", headers=admin,
                                 json={"status": "suspended"})
    assert own.status_code == 422
    assert own.json()["details"]["rule"] == "not_self"
    last_role = await api.client.delete(f"/v1/users/{me}/roles/{org['admin_role']}",
                                        headers=admin)
    assert last_role.status_code == 422
    assert last_role.json()["details"]["rule"] == "last_active_admin"
    plain = await api.client.patch(f"/v1/users/{org['user0']}/status", headers=admin,
                                   json={"status": "suspended"})
    assert plain.status_code == 200
    assert (plain.json()["status"], plain.json()["isActive"]) == ("suspended", False)


async def test_the_last_active_admin_is_kept_one_request_at_a_time(api: Api):
    """Sequentially: once the other admin is suspended, the one left can neither be demoted
    nor suspended -- not by themself (the suspended admin no longer counts), and not by a
    user below them (who may write users, but not act on an admin)."""
    org = await make_org(api, admins=2, others=1)
    manager_role = uuid.uuid4()
    async with api.db.transaction() as tx:
        await tx.execute("INSERT INTO identity.roles (id, organization_id, name, permissions) "
                         "VALUES (%s, %s, 'MANAGER', '{USERS_READ,USERS_WRITE}')",
                         (manager_role, org["id"]))
        await tx.execute("INSERT INTO identity.user_roles (organization_id, user_id, role_id) "
                         "VALUES (%s, %s, %s)", (org["id"], org["user0"], manager_role))
    admin0 = await api.as_(org["slug"], "admin0")
    manager = await api.as_(org["slug"], "user0")
    last, admin_role = org["admin0"], org["admin_role"]
    first = await api.client.patch(f"/v1/users/{org['admin1']}/status", headers=admin0,
                                   json={"status": "suspended"})
    assert first.status_code == 200          # two active admins: one may go
    own_role = await api.client.delete(f"/v1/users/{last}/roles/{admin_role}", headers=admin0)
    assert own_role.status_code == 422, own_role.text
    assert own_role.json()["details"]["rule"] == "last_active_admin"
    for response in (
            await api.client.patch(f"/v1/users/{last}/status", headers=manager,
                                   json={"status": "suspended"}),
            await api.client.delete(f"/v1/users/{last}/roles/{admin_role}", headers=manager)):
        assert response.status_code == 403, response.text
        assert response.json()["details"]["rule"] == "role_level"
    active = await api.db.fetch_val(
        "SELECT count(*) FROM identity.users u JOIN identity.user_roles r ON r.user_id = u.id "
        "WHERE u.organization_id = %s AND u.is_active AND r.role_id = %s",
        (org["id"], admin_role))
    assert active == 1


async def test_two_admins_deactivating_each_other_leaves_one(api: Api):
    org = await make_org(api, admins=2)
    a = await api.as_(org["slug"], "admin0")
    b = await api.as_(org["slug"], "admin1")
    results = await asyncio.gather(
        api.client.patch(f"/v1/users/{org['admin1']}/status", headers=a,
                         json={"status": "suspended"}),
        api.client.patch(f"/v1/users/{org['admin0']}/status", headers=b,
                         json={"status": "suspended"}))
    codes = sorted(r.status_code for r in results)
    assert codes in ([200, 422], [200, 401]), codes  # 401: the loser was already suspended
    active = await api.db.fetch_val(
        "SELECT count(*) FROM identity.users WHERE organization_id = %s AND is_active "
        "AND email LIKE 'admin%%'", (org["id"],))
    assert active == 1


async def test_get_user_is_cached_and_every_write_invalidates_it(api: Api):
    org = await make_org(api, admins=1, others=1)
    admin = await api.as_(org["slug"], "admin0")
    url = f"/v1/users/{org['user0']}"
    stats = api.app.state.cache.stats
    first = (await api.client.get(url, headers=admin)).json()
    hits = stats().totals["hits"]
    assert (await api.client.get(url, headers=admin)).json() == first
    assert stats().totals["hits"] == hits + 1

    await api.client.patch(url, headers=admin, json={"displayName": "Changed"})
    assert (await api.client.get(url, headers=admin)).json()["displayName"] == "Changed"
    await api.client.patch(f"{url}/status", headers=admin, json={"status": "invited"})
    assert (await api.client.get(url, headers=admin)).json()["status"] == "invited"
    await api.client.post(f"{url}/roles", headers=admin,
                          json={"roleId": str(org["viewer_role"])})
    assert [r["name"] for r in (await api.client.get(url, headers=admin)).json()["roles"]] \
        == ["VIEWER"]
    await api.client.delete(f"{url}/roles/{org['viewer_role']}", headers=admin)
    assert (await api.client.get(url, headers=admin)).json()["roles"] == []


async def test_user_cache_off_reads_the_database_every_time(api: Api):
    """USER_CACHE=false (the benchmark's uncached runs): GET /v1/users/{id} answers from the
    database, so a change made behind the service's back shows at once; with the cache on,
    the cached answer stays until a write through the service drops it."""
    org = await make_org(api)
    headers = await api.as_(org["slug"], "admin0")
    path = f"/v1/users/{org['user0']}"
    identity = api.app.state.identity
    assert identity.cache_users  # the default
    first = (await api.client.get(path, headers=headers)).json()
    await api.db.execute("UPDATE identity.users SET display_name = 'Behind' "
                         "WHERE organization_id = %s AND id = %s", (org["id"], org["user0"]))
    assert (await api.client.get(path, headers=headers)).json() == first
    identity.cache_users = False
    try:
        fresh = (await api.client.get(path, headers=headers)).json()
    finally:
        identity.cache_users = True
    assert fresh["displayName"] == "Behind"
    assert (fresh["id"], fresh["roles"]) == (first["id"], first["roles"])
