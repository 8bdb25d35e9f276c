"""The customer-tags report's eleven test cases as HTTP tests, plus its cache and audit
guarantees, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.pgkeel_apps.conftest import Api, make_org

pytestmark = pytest.mark.smoke


async def _setup(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    tag = (await api.client.post("/api/admin/tags", headers=admin, json={
        "name": f"vip-{uuid.uuid4().hex[:6]}", "color": "#FFAA00",
        "description": "Very important"})).json()
    return org, admin, tag


async def _viewer(api: Api, org) -> dict[str, str]:
    """A user of `org` holding only USERS_READ."""
    await api.client.post(f"/v1/users/{org['user1']}/roles",
                          headers=await api.as_(org["slug"], "admin0"),
                          json={"roleId": str(org["viewer_role"])})
    return await api.as_(org["slug"], "user1")


# -- GET /api/admin/customers/[id]/tags (4) ---------------------------------------------------

async def test_get_returns_401_if_not_authenticated(api: Api):
    response = await api.client.get(f"/api/admin/customers/{uuid.uuid4()}/tags")
    assert response.status_code == 401


async def test_get_returns_403_if_user_lacks_permission(api: Api):
    org, _, _ = await _setup(api)
    nobody = await api.as_(org["slug"], "user0")
    response = await api.client.get(f"/api/admin/customers/{org['user1']}/tags", headers=nobody)
    assert response.status_code == 403


async def test_get_returns_404_if_customer_not_found(api: Api):
    _, admin, _ = await _setup(api)
    response = await api.client.get(f"/api/admin/customers/{uuid.uuid4()}/tags", headers=admin)
    assert response.status_code == 404


async def test_get_returns_customer_tags(api: Api):
    org, admin, tag = await _setup(api)
    customer = org["user0"]
    assert (await api.client.post(f"/api/admin/customers/{customer}/tags", headers=admin,
                                  json={"tagId": tag["id"]})).status_code == 201
    response = await api.client.get(f"/api/admin/customers/{customer}/tags",
                                    headers=await _viewer(api, org))
    assert response.status_code == 200
    [item] = response.json()
    assert (item["id"], item["name"], item["color"], item["isActive"]) == (
        tag["id"], tag["name"], "#FFAA00", True)


# -- POST /api/admin/customers/[id]/tags (6) --------------------------------------------------

async def test_post_returns_401_if_not_authenticated(api: Api):
    response = await api.client.post(f"/api/admin/customers/{uuid.uuid4()}/tags",
                                     json={"tagId": str(uuid.uuid4())})
    assert response.status_code == 401


async def test_post_returns_403_if_user_lacks_permission(api: Api):
    org, _, tag = await _setup(api)
    response = await api.client.post(f"/api/admin/customers/{org['user0']}/tags",
                                     headers=await _viewer(api, org), json={"tagId": tag["id"]})
    assert response.status_code == 403


async def test_post_returns_404_if_customer_not_found(api: Api):
    _, admin, tag = await _setup(api)
    response = await api.client.post(f"/api/admin/customers/{uuid.uuid4()}/tags",
                                     headers=admin, json={"tagId": tag["id"]})
    assert response.status_code == 404


async def test_post_returns_404_if_tag_not_found(api: Api):
    org, admin, _ = await _setup(api)
    response = await api.client.post(f"/api/admin/customers/{org['user0']}/tags",
                                     headers=admin, json={"tagId": str(uuid.uuid4())})
    assert response.status_code == 404


async def test_post_returns_409_if_tag_already_assigned(api: Api):
    org, admin, tag = await _setup(api)
    url = f"/api/admin/customers/{org['user0']}/tags"
    assert (await api.client.post(url, headers=admin, json={"tagId": tag["id"]})
            ).status_code == 201
    again = await api.client.post(url, headers=admin, json={"tagId": tag["id"]})
    assert again.status_code == 409
    assert again.json()["details"]["constraint"] == "customerId_tagId"


async def test_post_successfully_assigns_tag(api: Api):
    org, admin, tag = await _setup(api)
    response = await api.client.post(f"/api/admin/customers/{org['user0']}/tags",
                                     headers=admin, json={"tagId": tag["id"]})
    assert response.status_code == 201
    body = response.json()
    assert (body["customerId"], body["tagId"], body["assignedBy"]) == (
        str(org["user0"]), tag["id"], str(org["admin0"]))
    assert body["tag"]["name"] == tag["name"]


# -- Property 8: tag uniqueness per customer (1) -----------------------------------------------

async def test_concurrent_duplicate_assignments_yield_exactly_one(api: Api):
    org, admin, tag = await _setup(api)
    url = f"/api/admin/customers/{org['user0']}/tags"
    results = await asyncio.gather(*[api.client.post(url, headers=admin,
                                                     json={"tagId": tag["id"]})
                                     for _ in range(10)])
    assert sorted(r.status_code for r in results) == [201] + [409] * 9
    count = await api.db.fetch_val(
        "SELECT count(*) FROM tags.customer_tag_assignments WHERE customer_id = %s",
        (org["user0"],))
    assert count == 1


# -- cache, audit, tenancy ----------------------------------------------------------------------

async def test_list_is_cached_and_invalidated_after_each_commit(api: Api):
    org, admin, tag = await _setup(api)
    customer = org["user0"]
    url = f"/api/admin/customers/{customer}/tags"
    assert (await api.client.get(url, headers=admin)).json() == []
    cache = api.app.state.cache
    with_org = {"org": org["id"]}
    store = cache.redis_key(cache.key("customer", customer, "tags", **with_org))
    assert f"customer:{customer}:tags" in store
    hits_before = cache.stats().totals["hits"]
    assert (await api.client.get(url, headers=admin)).json() == []
    assert cache.stats().totals["hits"] == hits_before + 1, "the second read is a cache hit"

    await api.client.post(url, headers=admin, json={"tagId": tag["id"]})
    assert [t["id"] for t in (await api.client.get(url, headers=admin)).json()] == [tag["id"]]
    renamed = await api.client.patch(f"/api/admin/tags/{tag['id']}", headers=admin,
                                     json={"name": "renamed", "color": "#000000"})
    assert renamed.status_code == 200
    [item] = (await api.client.get(url, headers=admin)).json()
    assert (item["name"], item["color"]) == ("renamed", "#000000"), "no stale tag data"
    removed = await api.client.delete(f"{url}/{tag['id']}", headers=admin)
    assert removed.status_code == 204
    assert (await api.client.get(url, headers=admin)).json() == []
    assert (await api.client.delete(f"{url}/{tag['id']}", headers=admin)).status_code == 404


async def test_audit_events_carry_the_reports_fields(api: Api):
    org, admin, tag = await _setup(api)
    url = f"/api/admin/customers/{org['user0']}/tags"
    assignment = (await api.client.post(url, headers=admin, json={"tagId": tag["id"]})).json()
    await api.client.delete(f"{url}/{tag['id']}", headers=admin)
    events = await api.db.fetch_all(
        "SELECT action, actor_id, metadata FROM audit.audit_log WHERE organization_id = %s "
        "AND action LIKE 'CUSTOMER_TAG_%%' ORDER BY id", (str(org["id"]),))
    assert [e["action"] for e in events] == ["CUSTOMER_TAG_ASSIGNED", "CUSTOMER_TAG_REMOVED"]
    assigned = events[0]["metadata"]
    assert assigned["adminId"] == str(org["admin0"]) == events[0]["actor_id"]
    assert (assigned["customerId"], assigned["tagId"], assigned["tagName"],
            assigned["assignmentId"]) == (str(org["user0"]), tag["id"], tag["name"],
                                          assignment["id"])
    assert assigned["timestamp"]


async def test_other_organizations_customers_and_tags_are_404(api: Api):
    a_org, a_admin, a_tag = await _setup(api)
    b_org, _, b_tag = await _setup(api)
    probes = [
        ("GET", f"/api/admin/customers/{b_org['user0']}/tags", None),
        ("POST", f"/api/admin/customers/{b_org['user0']}/tags", {"tagId": a_tag["id"]}),
        ("POST", f"/api/admin/customers/{a_org['user0']}/tags", {"tagId": b_tag["id"]}),
        ("DELETE", f"/api/admin/customers/{b_org['user0']}/tags/{b_tag['id']}", None),
        ("GET", f"/api/admin/tags/{b_tag['id']}", None),
        ("PATCH", f"/api/admin/tags/{b_tag['id']}", {"name": "x"}),
        ("DELETE", f"/api/admin/tags/{b_tag['id']}", None),
    ]
    for method, url, body in probes:
        response = await api.client.request(method, url, headers=a_admin, json=body)
        assert response.status_code == 404, (method, url, response.text)
    listed = (await api.client.get("/api/admin/tags", headers=a_admin)).json()
    assert b_tag["id"] not in {t["id"] for t in listed["items"]}


async def test_tag_crud_and_validation(api: Api):
    _, admin, tag = await _setup(api)
    bad = await api.client.post("/api/admin/tags", headers=admin,
                                json={"name": "x", "color": "red"})
    assert bad.status_code == 422
    dup = await api.client.post("/api/admin/tags", headers=admin,
                                json={"name": tag["name"], "color": "#123456"})
    assert dup.status_code == 409
    assert (await api.client.delete(f"/api/admin/tags/{tag['id']}", headers=admin)
            ).status_code == 204
    assert (await api.client.get(f"/api/admin/tags/{tag['id']}", headers=admin)
            ).json()["isActive"] is False
    active = (await api.client.get("/api/admin/tags?isActive=true", headers=admin)).json()
    assert tag["id"] not in {t["id"] for t in active["items"]}
