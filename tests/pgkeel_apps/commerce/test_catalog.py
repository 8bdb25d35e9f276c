"""The catalog over HTTP and in SQL: recursive category walks, the list grammar's filters,
ranked full-text and trigram search, exactly one primary image, the report's functions called
from SQL, who may manage the catalog, and the product detail's cache after commit."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from pgkeel.errors import Conflict, ValidationFailed

from ..conftest import Api
from .conftest import catalog_org
from .shop import key as idempotency_key


async def _in_org(api: Api, org: dict[str, Any], statement: Any, params: Any = None) -> Any:
    """Rows of `statement` run as the service's role in `org` (row-level security applies)."""
    async with api.app_db.transaction() as tx:
        await tx.execute("SELECT set_config('pgkeel.org_id', %s, true)", (str(org["id"]),))
        return await tx.fetch_all(statement, params)


# -- categories ----------------------------------------------------------------------------------

async def test_recursive_category_walks_over_http_and_in_sql(api: Api):
    org = await catalog_org(api)
    h = await api.as_(org["slug"], "user0")
    down = (await api.client.get(f"/v1/categories/{org['root']}/descendants", headers=h)).json()
    assert [(c["name"], c["depth"]) for c in down["items"]] == [("root", 0), ("child", 1),
                                                                ("leaf", 2)]
    up = (await api.client.get(f"/v1/categories/{org['leaf']}/ancestors", headers=h)).json()
    assert [c["name"] for c in up["items"]] == ["leaf", "child", "root"]
    tree = (await api.client.get("/v1/categories", headers=h)).json()["items"]
    assert tree[0]["name"] == "root" and tree[0]["children"][0]["children"][0]["name"] == "leaf"
    # category=<root> lists the products of every subcategory, too.
    listed = await api.client.get(f"/v1/products?category={org['root']}&sort=price", headers=h)
    assert [p["id"] for p in listed.json()["items"]] == [
        str(org["products"][1]), str(org["products"][0]), str(org["products"][2])]
    only_leaf = await api.client.get(f"/v1/products?category={org['child']}", headers=h)
    assert {p["id"] for p in only_leaf.json()["items"]} == {str(p) for p in org["products"][:2]}
    # Called straight from SQL, under row-level security: another organization sees nothing.
    rows = await _in_org(api, org, "SELECT name FROM product.category_descendants(%s)",
                         (org["child"],))
    assert [r["name"] for r in rows] == ["child", "leaf"]
    other = await catalog_org(api)
    assert await _in_org(api, other, "SELECT * FROM product.category_ancestors(%s)",
                         (org["leaf"],)) == []


async def test_a_category_cannot_move_under_its_own_descendant(api: Api):
    org = await catalog_org(api)
    admin = await api.as_(org["slug"], "admin0")
    moved = await api.client.patch(f"/v1/categories/{org['root']}",
                                   json={"parentId": str(org["leaf"])}, headers=admin)
    assert moved.status_code == 422, moved.text
    ok = await api.client.patch(f"/v1/categories/{org['leaf']}",
                                json={"parentId": str(org["root"])}, headers=admin)
    assert ok.status_code == 200 and ok.json()["parentId"] == str(org["root"])


# -- list grammar and search ---------------------------------------------------------------------

async def test_list_filters_price_range_tags_in_stock_and_sorts(api: Api):
    org = await catalog_org(api)
    h = await api.as_(org["slug"], "user0")
    p0, p1, p2 = (str(p) for p in org["products"])
    await api.db.execute("UPDATE product.products SET tags = '{sale,eco}' WHERE id = %s",
                         (org["products"][0],))
    await api.db.execute("UPDATE product.products SET tags = '{eco}' WHERE id = %s",
                         (org["products"][2],))

    async def ids(query: str) -> list[str]:
        response = await api.client.get(f"/v1/products?{query}", headers=h)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert await ids("price[gte]=4&price[lte]=100&sort=-price") == [p2, p0]
    assert await ids("tag=eco&sort=price") == [p0, p2]
    assert await ids("tagsAll=eco,sale") == [p0]
    assert await ids("inStock=true&sort=-stockQuantity") == [p2, p1]
    assert await ids(f"q={org['word']}&price[lt]=10") == [p1]
    bad = await api.client.get("/v1/products?price[like]=3", headers=h)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"
    assert (await api.client.get("/v1/products?colour=red", headers=h)).status_code == 400


async def test_search_ranks_name_over_tags_over_description_and_matches_typos(api: Api):
    org = await catalog_org(api)
    admin = await api.as_(org["slug"], "admin0")
    word = "zylophone" + secrets.token_hex(2).translate(str.maketrans("0123456789", "ghijklmnop"))
    made = {}
    for key, body in (
            ("description", {"name": "Plain stand", "description": f"fits any {word}"}),
            ("name", {"name": f"Concert {word}", "description": "wooden"}),
            ("tags", {"name": "Mallet set", "tags": [word]})):
        response = await api.client.post("/v1/products", headers=admin, json={
            "sku": f"S-{secrets.token_hex(4)}", "price": "20.00", **body})
        assert response.status_code == 201, response.text
        made[response.json()["id"]] = key
    h = await api.as_(org["slug"], "user0")
    ranked = (await api.client.get(f"/v1/search/products?q={word}", headers=h)).json()["items"]
    assert [made[r["id"]] for r in ranked] == ["name", "tags", "description"]
    # A typo finds the name by trigram similarity, ranked below every full-text match.
    typo = word[:3] + word[4:]
    fuzzy = (await api.client.get(f"/v1/search/products?q={typo}", headers=h)).json()["items"]
    assert [made.get(r["id"]) for r in fuzzy][:1] == ["name"]
    assert fuzzy[0]["rank"] < 1 <= ranked[-1]["rank"]
    # The same function from SQL, with its filters.
    rows = await _in_org(api, org, "SELECT name FROM product.search_products(%s, NULL, 0, "
                                   "100, false, 2, 0)", (word,))
    assert [r["name"] for r in rows] == [f"Concert {word}", "Mallet set"]
    assert await _in_org(api, org, "SELECT * FROM product.search_products(%s, NULL, 25)",
                         (word,)) == []
    # The list grammar's q matches the weighted document and the name, through their indexes.
    listed = await api.client.get(f"/v1/products?q={word}&sort=name", headers=h)
    assert [made[p["id"]] for p in listed.json()["items"]] == ["name", "tags", "description"]


# -- images --------------------------------------------------------------------------------------

async def test_exactly_one_primary_image(api: Api):
    org = await catalog_org(api)
    admin = await api.as_(org["slug"], "admin0")
    product = org["products"][0]
    base = f"/v1/products/{product}/images"
    first = (await api.client.post(base, json={"url": "https://img.example/1.jpg"},
                                   headers=admin)).json()
    second = (await api.client.post(base, json={"url": "https://img.example/2.jpg",
                                                "sortOrder": 1}, headers=admin)).json()
    assert first["isPrimary"] and not second["isPrimary"], "the first image is primary"
    promoted = await api.client.patch(f"{base}/{second['id']}", json={"isPrimary": True},
                                      headers=admin)
    assert promoted.json()["isPrimary"]
    primaries = "SELECT id FROM product.product_images WHERE product_id = %s AND is_primary"
    assert [r["id"] for r in await api.db.fetch_all(primaries, (product,))] == [
        uuid.UUID(second["id"])]
    demoted = await api.client.patch(f"{base}/{second['id']}", json={"isPrimary": False},
                                     headers=admin)
    assert demoted.status_code == 422
    assert (await api.client.delete(f"{base}/{second['id']}", headers=admin)).status_code == 204
    assert [r["id"] for r in await api.db.fetch_all(primaries, (product,))] == [
        uuid.UUID(first["id"])], "the next image took over"
    # The database holds it, whatever the caller: a second primary ...
    with pytest.raises(Conflict) as exc:
        await api.db.execute(
            "INSERT INTO product.product_images (organization_id, product_id, url, is_primary) "
            "VALUES (%s, %s, 'https://img.example/3.jpg', true)", (org["id"], product))
    assert exc.value.constraint == "product_images_one_primary"
    # ... or none, when the product has images (checked at commit).
    with pytest.raises(ValidationFailed):
        await api.db.execute("UPDATE product.product_images SET is_primary = false "
                             "WHERE product_id = %s", (product,))


# -- the report's functions from SQL --------------------------------------------------------------

async def test_get_product_details_from_sql(api: Api):
    org = await catalog_org(api)
    product = org["products"][0]
    admin = await api.as_(org["slug"], "admin0")
    await api.client.post(f"/v1/products/{product}/images",
                          json={"url": "https://img.example/a.jpg"}, headers=admin)
    for who, rating in (("user0", 5), ("user1", 2)):
        review = await api.client.post(f"/v1/products/{product}/reviews",
                                       json={"rating": rating, "title": "ok"},
                                       headers=await api.as_(org["slug"], who))
        assert review.status_code == 201, review.text
        if rating == 5:
            approved = await api.client.patch(
                f"/v1/products/{product}/reviews/{review.json()['id']}",
                json={"isApproved": True, "isVerified": True}, headers=admin)
            assert approved.status_code == 200
    [row] = await _in_org(api, org, "SELECT product.get_product_details(%s) AS d", (product,))
    details = row["d"]
    assert [c["name"] for c in details["categoryPath"]] == ["root", "child", "leaf"]
    assert details["price"] == "12.50" and details["images"][0]["isPrimary"]
    assert details["averageRating"] == "5.00" and details["reviewCount"] == 1, "approved only"
    assert [r["rating"] for r in details["recentReviews"]] == [5]
    assert details["ratingDistribution"]["5"] == 1
    assert (await _in_org(api, org, "SELECT product.get_product_details(%s) AS d",
                          (uuid.uuid4(),)))[0]["d"] is None
    # Customers see approved reviews; the catalog's managers see pending ones too.
    url = f"/v1/products/{product}/reviews"
    mine = (await api.client.get(url, headers=await api.as_(org["slug"], "user1"))).json()
    assert [r["rating"] for r in mine["items"]] == [5]
    every = (await api.client.get(f"{url}?sort=-createdAt", headers=admin)).json()
    assert sorted(r["rating"] for r in every["items"]) == [2, 5]
    again = await api.client.post(url, json={"rating": 1},
                                  headers=await api.as_(org["slug"], "user1"))
    assert again.status_code == 409


# -- permissions and cache -----------------------------------------------------------------------

async def test_customers_read_the_catalog_and_only_catalog_writers_manage_it(api: Api):
    org = await catalog_org(api)
    customer = await api.as_(org["slug"], "user0")
    product = org["products"][0]
    assert (await api.client.get("/v1/products", headers=customer)).status_code == 200
    assert (await api.client.get(f"/v1/products/{product}", headers=customer)).status_code == 200
    for method, url, body in (
            ("POST", "/v1/products", {"sku": "X-1", "name": "x", "price": "1.00"}),
            ("PATCH", f"/v1/products/{product}", {"price": "1.00"}),
            ("DELETE", f"/v1/products/{product}", None),
            ("POST", "/v1/categories", {"name": "x", "slug": "x"}),
            ("POST", f"/v1/products/{product}/images", {"url": "https://img.example/x.jpg"})):
        response = await api.client.request(method, url, json=body, headers=customer)
        assert response.status_code == 403, (method, url, response.text)
    assert (await api.client.get("/v1/products")).status_code == 401
    other = await catalog_org(api)   # another organization's product is not there
    assert (await api.client.get(f"/v1/products/{other['products'][0]}",
                                 headers=customer)).status_code == 404
    admin = await api.as_(org["slug"], "admin0")
    created = await api.client.post("/v1/products", headers=admin, json={
        "sku": "NEW-1", "name": "New thing", "price": "9.99", "tags": ["new"],
        "metadata": {"brand": "Acme"}, "categoryId": str(org["leaf"]), "stockQuantity": 4})
    assert created.status_code == 201, created.text
    # Its stock is orderable at once: the inventory record is created with the product.
    stocked = await api.db.fetch_one(
        "SELECT available_quantity, reserved_quantity FROM inventory.inventory"
        " WHERE organization_id = %s AND product_id = %s", (org["id"], created.json()["id"]))
    assert stocked == {"available_quantity": 4, "reserved_quantity": 0}
    ordered = await api.client.post("/v1/orders", headers={**customer, "Idempotency-Key": "k-1"},
                                    json={"items": [{"productId": created.json()["id"],
                                                     "quantity": 2}]})
    assert ordered.status_code == 201, ordered.text
    # Setting its stock in the catalog sets what orders reserve from (reserved units stay).
    url = f"/v1/products/{created.json()['id']}"
    for units, status in ((0, 422), (3, 201)):
        assert (await api.client.patch(url, headers=admin, json={"stockQuantity": units})
                ).status_code == 200
        again = await api.client.post(
            "/v1/orders", headers={**customer, **idempotency_key()},
            json={"items": [{"productId": created.json()["id"], "quantity": 2}]})
        assert again.status_code == status, again.text
        assert status == 201 or again.json()["details"]["rule"] == "insufficient_stock"
    assert await api.db.fetch_one(
        "SELECT available_quantity, reserved_quantity FROM inventory.inventory"
        " WHERE organization_id = %s AND product_id = %s", (org["id"], created.json()["id"])
    ) == {"available_quantity": 1, "reserved_quantity": 4}
    audited = await api.db.fetch_val(
        "SELECT count(*) FROM audit.audit_log WHERE entity_id = %s AND action = %s",
        (created.json()["id"], "PRODUCT_CREATED"))
    assert audited == 1


async def test_product_detail_is_cached_and_invalidated_after_commit(api: Api):
    org = await catalog_org(api)
    product = org["products"][0]
    customer, admin = await api.as_(org["slug"], "user0"), await api.as_(org["slug"], "admin0")
    url = f"/v1/products/{product}"
    assert (await api.client.get(url, headers=customer)).json()["price"] == "12.50"
    # A write behind the service's back is not seen: the detail is served from the cache.
    await api.db.execute("UPDATE product.products SET description = 'sneaky' WHERE id = %s",
                         (product,))
    assert (await api.client.get(url, headers=customer)).json()["description"] is None
    # A write through the service invalidates it once it commits ...
    changed = await api.client.patch(url, json={"price": "14.00"}, headers=admin)
    assert changed.status_code == 200
    fresh = (await api.client.get(url, headers=customer)).json()
    assert (fresh["price"], fresh["description"]) == ("14.00", "sneaky")
    # ... and one that rolls back (a stale version) leaves the cached detail as it was.
    stale = await api.client.patch(url, json={"price": "1.00", "version": 1}, headers=admin)
    assert stale.status_code == 409
    assert (await api.client.get(url, headers=customer)).json()["price"] == "14.00"
    # Renaming a category reaches every product detail that shows it.
    renamed = await api.client.patch(f"/v1/categories/{org['child']}",
                                     json={"name": "renamed"}, headers=admin)
    assert renamed.status_code == 200
    path = (await api.client.get(url, headers=customer)).json()["categoryPath"]
    assert [c["name"] for c in path] == ["root", "renamed", "leaf"]
