"""Passwords set through the API follow the policy; lookalike emails are refused; changing
your password ends every session of yours."""

from __future__ import annotations

from tests.pgkeel_apps.conftest import PASSWORD, Api, make_org

GOOD = "a long passphrase nobody guesses"


async def test_weak_passwords_and_lookalike_emails_are_refused(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    for password, problem in (("short-one", "at least 15"),
                              ("1q2w3e4r5t6y7u8i9o0p", "commonly used"),
                              ("grace-hopper-is-great", "account's name")):
        response = await api.client.post("/v1/users", headers=admin, json={
            "email": "grace-hopper@x.example", "displayName": "G", "password": password})
        assert response.status_code == 422, password
        assert response.json()["details"]["rule"] == "password_policy"
        assert any(problem in p for p in response.json()["details"]["problems"]), password
    assert (await api.client.post("/v1/users", headers=admin, json={
        "email": "grace@x.example", "displayName": "G", "password": GOOD})).status_code == 201

    lookalike = await api.client.post("/v1/users", headers=admin, json={
        "email": "\u0430dmin0@x.example", "displayName": "Not the admin"})
    assert lookalike.status_code == 422
    assert lookalike.json()["details"]["rule"] == "mixed_script"
    renamed = await api.client.patch(f"/v1/users/{org['user0']}", headers=admin,
                                     json={"email": "\u0430dmin@x.example"})
    assert renamed.status_code == 422


async def test_changing_your_password_ends_your_sessions(api: Api):
    org = await make_org(api, admins=1, others=1)
    first = await api.as_(org["slug"], "user0")
    second = await api.as_(org["slug"], "user0")
    wrong = await api.client.post("/v1/auth/password", headers=first, json={
        "currentPassword": "not it", "newPassword": GOOD})
    assert wrong.status_code == 422
    assert wrong.json()["details"]["rule"] == "current_password"
    weak = await api.client.post("/v1/auth/password", headers=first, json={
        "currentPassword": PASSWORD, "newPassword": "password1"})
    assert weak.status_code == 422
    changed = await api.client.post("/v1/auth/password", headers=first, json={
        "currentPassword": PASSWORD, "newPassword": GOOD})
    assert changed.status_code == 204
    for token in (first, second):
        assert (await api.client.get("/v1/roles", headers=token)).status_code == 401
    login = await api.client.post("/v1/auth/login", json={
        "organization": org["slug"], "email": f"user0@{org['slug']}.example",
        "password": GOOD})
    assert login.status_code == 200
    events = await api.db.fetch_all(
        "SELECT actor_id, metadata FROM audit.audit_log WHERE organization_id = %s "
        "AND action = 'users.password_changed'", (str(org["id"]),))
    assert events == [{"actor_id": str(org["user0"]), "metadata": {"sessions_ended": 2}}]
