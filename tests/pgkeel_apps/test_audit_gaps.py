"""What the audit log must hold: permission denials, every tag change, and a request id the
server made (the client's own kept apart)."""

from __future__ import annotations

from tests.pgkeel_apps.conftest import Api, make_org


async def _events(api: Api, org, *actions: str) -> list[dict]:
    await api.app.state.audit_appender.flush()
    return await api.db.fetch_all(
        "SELECT action, actor_id, entity_id, metadata, request_id, old_values, new_values "
        "FROM audit.audit_log WHERE organization_id = %s AND action = ANY(%s) ORDER BY id",
        (str(org["id"]), list(actions)))


async def test_permission_denials_are_audited(api: Api):
    org = await make_org(api, admins=1, others=1)
    await api.db.execute("INSERT INTO identity.user_roles (organization_id, user_id, role_id) "
                         "VALUES (%s, %s, %s)", (org["id"], org["user0"], org["viewer_role"]))
    viewer = await api.as_(org["slug"], "user0")
    admin = await api.as_(org["slug"], "admin0")
    assert (await api.client.post("/v1/users", headers=viewer, json={
        "email": "x@x.example", "displayName": "X"})).status_code == 403
    assert (await api.client.post(f"/v1/users/{org['admin0']}/roles", headers=admin,
                                  json={"roleId": str(org["super_role"])})).status_code == 403
    events = await _events(api, org, "access.denied")
    assert [(e["actor_id"], e["entity_id"]) for e in events] == [
        (str(org["user0"]), "POST /v1/users"),
        (str(org["admin0"]), f"POST /v1/users/{org['admin0']}/roles")]
    assert events[0]["metadata"]["missing"] == ["USERS_WRITE"]
    assert events[1]["metadata"]["rule"] == "role_level"


async def test_every_tag_change_is_audited(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    tag = (await api.client.post("/api/admin/tags", headers=admin,
                                 json={"name": "vip", "color": "#112233"})).json()
    url = f"/api/admin/tags/{tag['id']}"
    assert (await api.client.delete(url, headers=admin)).status_code == 204
    assert (await api.client.patch(url, headers=admin, json={"name": "gold"})).status_code == 200
    assert (await api.client.patch(url, headers=admin, json={"isActive": True})
            ).status_code == 200
    assert (await api.client.patch(url, headers=admin, json={"color": "#445566"})
            ).status_code == 200
    events = await _events(api, org, "TAG_CREATED", "TAG_RETIRED", "TAG_RENAMED",
                           "TAG_REACTIVATED", "TAG_UPDATED")
    assert [e["action"] for e in events] == ["TAG_CREATED", "TAG_RETIRED", "TAG_RENAMED",
                                             "TAG_REACTIVATED", "TAG_UPDATED"]
    assert all(e["entity_id"] == tag["id"] and e["actor_id"] == str(org["admin0"])
               for e in events)
    renamed = events[2]
    assert (renamed["old_values"]["name"], renamed["new_values"]["name"]) == ("vip", "gold")
    assert renamed["new_values"]["is_active"] is False, "a retired tag's rename is recorded"


async def test_audit_rows_carry_the_servers_request_id_and_the_clients_apart(api: Api):
    org = await make_org(api, admins=1, others=1)
    admin = await api.as_(org["slug"], "admin0")
    response = await api.client.patch(
        f"/v1/users/{org['user0']}", headers={**admin, "X-Request-ID": "forged-id"},
        json={"displayName": "Renamed"})
    assert response.status_code == 200
    [event] = await _events(api, org, "users.update")
    assert event["request_id"] == response.headers["x-request-id"] != "forged-id"
    assert event["metadata"]["client_request_id"] == "forged-id"
    login = await api.client.post("/v1/auth/login", headers={"X-Request-ID": "client-login"},
                                  json={"organization": org["slug"], "password": "pgkeel-demo",
                                        "email": f"admin0@{org['slug']}.example"})
    logins = await _events(api, org, "users.login")
    assert logins[-1]["request_id"] == login.headers["x-request-id"]
    assert logins[-1]["metadata"]["client_request_id"] == "client-login"
    assert logins[-1]["actor_id"] == str(org["admin0"]), "a login names its actor"
