"""/v1/audit-logs (the list grammar over audit.audit_log), its summary, a user's activity,
and login events, written durably before the token is returned."""

from __future__ import annotations

import pytest

from tests.pgkeel_apps.conftest import Api, make_org

pytestmark = pytest.mark.smoke


async def _history(api: Api):
    """An organization whose admin logged in, renamed a user twice and changed its status."""
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    url = f"/v1/users/{org['user0']}"
    for name in ("First", "Second"):
        assert (await api.client.patch(url, headers=admin, json={"displayName": name})
                ).status_code == 200
    await api.client.patch(f"{url}/status", headers=admin, json={"status": "suspended"})
    # The admin's login committed before the token came back; the log holds exactly these
    # four events (3 changes + users.login).
    return org, admin


async def test_audit_log_lists_with_the_grammar(api: Api):
    org, admin = await _history(api)
    page = (await api.client.get("/v1/audit-logs?action=users.update&sort=createdAt",
                                 headers=admin)).json()
    assert set(page) == {"items", "page", "pageSize", "total", "totalPages", "totalIsEstimate"}
    assert [e["newValues"]["display_name"] for e in page["items"]] == ["First", "Second"]
    assert all(e["actorId"] == str(org["admin0"]) for e in page["items"])
    assert page["items"][0]["changedFields"] == ["display_name"]

    by_entity = (await api.client.get(
        f"/v1/audit-logs?entityId={org['user0']}&entityType=User&createdFrom=2000-01-01",
        headers=admin)).json()
    assert {e["action"] for e in by_entity["items"]} == {"users.update", "users.status_changed"}

    seen, cursor = [], None
    while True:
        url = "/v1/audit-logs?limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = (await api.client.get(url, headers=admin)).json()
        seen += [e["id"] for e in body["items"]]
        if not (cursor := body["nextCursor"]):
            break
    assert len(seen) == len(set(seen)) == 4

    bad = await api.client.get("/v1/audit-logs?acton=users.update", headers=admin)
    assert bad.status_code == 400
    assert bad.json()["hint"] == "Did you mean 'action'?"


async def test_audit_log_is_per_organization_and_needs_audit_read(api: Api):
    await _history(api)
    other = await make_org(api)
    other_admin = await api.as_(other["slug"], "admin0")
    items = (await api.client.get("/v1/audit-logs", headers=other_admin)).json()["items"]
    # only its own admin's login, none of the first organization's events
    assert [(e["action"], e["organizationId"]) for e in items] == [("users.login",
                                                                    str(other["id"]))]
    viewer = await api.as_("org-1", "viewer")
    assert (await api.client.get("/v1/audit-logs", headers=viewer)).status_code == 403


async def test_summary_and_user_activity(api: Api):
    org, admin = await _history(api)
    summary = (await api.client.get("/v1/audit-logs/summary?days=7", headers=admin)).json()
    assert summary["total"] == 4
    assert summary["byAction"] == [{"action": "users.update", "count": 2},
                                   {"action": "users.login", "count": 1},
                                   {"action": "users.status_changed", "count": 1}]
    activity = (await api.client.get(f"/v1/users/{org['admin0']}/activity?days=30",
                                     headers=admin)).json()
    assert activity["total"] == 4, "the login names its actor too"
    assert {a["action"]: a["count"] for a in activity["actions"]} == {
        "users.update": 2, "users.status_changed": 1, "users.login": 1}
    for bad in ("days=0", "days=abc", "days=366", "day=3"):
        response = await api.client.get(f"/v1/audit-logs/summary?{bad}", headers=admin)
        assert response.status_code == 400, bad
    other = await make_org(api)
    assert (await api.client.get(f"/v1/users/{other['user0']}/activity",
                                 headers=admin)).status_code == 404


async def test_login_is_committed_before_the_token_is_returned(api: Api):
    """A login is a security event: written in its own transaction, not queued in memory
    where a killed process would lose it."""
    org = await make_org(api)
    queued = api.app.state.audit_appender.stats().queued
    await api.token(org["slug"], "admin0")
    assert api.app.state.audit_appender.stats().queued == queued
    events = await api.db.fetch_all(
        "SELECT action, entity_id, organization_id FROM audit.audit_log "
        "WHERE organization_id = %s AND action = 'users.login'", (str(org["id"]),))
    assert events == [{"action": "users.login", "entity_id": str(org["admin0"]),
                       "organization_id": str(org["id"])}]
