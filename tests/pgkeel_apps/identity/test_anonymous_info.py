"""What a caller learns without asking: 409 bodies name no database objects, a deleted user's
email is re-created like any new one, /v1/roles speaks camelCase."""

from __future__ import annotations

from tests.pgkeel_apps.conftest import Api, make_org


async def test_a_409_names_no_constraint_or_table(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    body = {"email": f"user0@{org['slug']}.example", "displayName": "Twin"}
    response = await api.client.post("/v1/users", headers=admin, json=body)
    assert response.status_code == 409
    details = response.json()["details"]
    assert "email" in details["fields"]
    assert not {"constraint", "table", "sqlstate", "schema"} & set(details)
    assert "idx_" not in response.text and "identity" not in response.text


async def test_a_deleted_users_email_is_created_again_like_any_new_one(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    await api.db.execute("UPDATE identity.users SET deleted_at = now() WHERE id = %s",
                         (org["user1"],))
    again = await api.client.post("/v1/users", headers=admin, json={
        "email": f"user1@{org['slug']}.example", "displayName": "New user1"})
    fresh = await api.client.post("/v1/users", headers=admin, json={
        "email": f"never-seen@{org['slug']}.example", "displayName": "Fresh"})
    assert again.status_code == fresh.status_code == 201
    assert set(again.json()) == set(fresh.json())
    twice = await api.client.post("/v1/users", headers=admin, json={
        "email": f"user1@{org['slug']}.example", "displayName": "Third"})
    assert twice.status_code == 409, "live users stay unique"


async def test_roles_are_camel_case(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    roles = (await api.client.get("/v1/roles", headers=admin)).json()["items"]
    assert roles
    for role in roles:
        assert "isSystem" in role and "organizationId" in role and "createdAt" in role
        assert not [key for key in role if "_" in key]
