"""Inventory in the database: reservations never oversell, holds are limited and expire, every
change leaves a movement, low stock raises an alert -- the report's functions called from SQL,
as the service's own (row-level security) role."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from pgkeel.config import Settings
from pgkeel.db import Database, use_context
from pgkeel.errors import ValidationFailed
from pgkeel_apps.commerce.inventory import cleanup_expired_reservations
from tests.pgkeel_apps.commerce.shop import open_shop, product, stock
from tests.pgkeel_apps.conftest import Api

RESERVE = "SELECT inventory.reserve_inventory(%s, %s, %s, %s)"


async def _reserve(db: Database, org: uuid.UUID, product_id: uuid.UUID,
                   user: uuid.UUID) -> bool:
    with use_context(org_id=org):
        try:
            await db.fetch_val(RESERVE, (org, product_id, user, 1))
        except ValidationFailed as exc:
            refused = exc.details["constraint"]
        else:
            return True
    assert refused == "insufficient_stock"
    return False


async def test_1000_concurrent_reservations_of_100_units_give_exactly_100(
        api: Api, role_settings: Settings):
    shop = await open_shop(api, customers=250)
    # 1,000 tasks queue for 16 connections: a slow shared server must not time the queue out.
    async with Database.from_settings(role_settings, min_size=16, max_size=16,
                                      pool_timeout_s=300) as db:
        for _run in range(3):
            item = await product(api, shop, units=100, catalog=False)
            attempts = [_reserve(db, shop.id, item, shop.customers[i % 250])
                        for i in range(1000)]
            results = await asyncio.gather(*attempts)
            assert results.count(True) == 100
            assert await stock(api, shop, item) == {
                "available_quantity": 0, "reserved_quantity": 100, "total_quantity": 100}
            lowest = await api.db.fetch_val(
                "SELECT min(available_after) FROM inventory.inventory_movements "
                "WHERE organization_id = %s AND product_id = %s", (shop.id, item))
            assert lowest == 0
            reservations = await api.db.fetch_val(
                "SELECT count(*) FROM inventory.inventory_reservations "
                "WHERE organization_id = %s AND product_id = %s", (shop.id, item))
            assert reservations == 100


async def test_holds_are_limited_expire_and_leave_movements_and_alerts(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, units=12, reorder_point=10, catalog=False)
    org, customer = shop.id, shop.customers[0]
    db = api.app_db
    with use_context(org_id=org):
        for _ in range(5):
            await db.fetch_val(RESERVE, (org, item, customer, 1))
        with pytest.raises(ValidationFailed) as refused:
            await db.fetch_val(RESERVE, (org, item, customer, 1))
        assert refused.value.details["constraint"] == "reservation_limit"
    assert await stock(api, shop, item) == {"available_quantity": 7, "reserved_quantity": 5,
                                            "total_quantity": 12}
    holds_for = await api.db.fetch_all(
        "SELECT DISTINCT expires_at - created_at AS ttl FROM inventory.inventory_reservations "
        "WHERE organization_id = %s", (org,))
    assert holds_for == [{"ttl": dt.timedelta(minutes=5)}]
    alerts = await api.db.fetch_all(
        "SELECT alert_type, status, available_quantity FROM inventory.inventory_alerts "
        "WHERE organization_id = %s", (org,))
    assert alerts == [{"alert_type": "low_stock", "status": "open", "available_quantity": 10}]

    # Nothing has expired yet: the cleanup releases nothing. Then the holds are 5 min old.
    await cleanup_expired_reservations(api.db)
    assert (await stock(api, shop, item))["reserved_quantity"] == 5
    await api.db.execute("UPDATE inventory.inventory_reservations "
                         "SET expires_at = now() - interval '1 second' "
                         "WHERE organization_id = %s", (org,))
    assert await api.db.fetch_val("SELECT inventory.cleanup_expired_reservations()") >= 5
    assert await stock(api, shop, item) == {"available_quantity": 12, "reserved_quantity": 0,
                                            "total_quantity": 12}
    statuses = await api.db.fetch_all(
        "SELECT DISTINCT status FROM inventory.inventory_reservations "
        "WHERE organization_id = %s", (org,))
    assert statuses == [{"status": "expired"}]
    movements = await api.db.fetch_all(
        "SELECT movement_type, available_change, reserved_change FROM "
        "inventory.inventory_movements WHERE organization_id = %s ORDER BY id", (org,))
    assert [m["movement_type"] for m in movements] == ["initial"] + ["reserve"] * 5 + ["expire"]
    assert movements[-1] == {"movement_type": "expire", "available_change": 5,
                             "reserved_change": -5}
    resolved = await api.db.fetch_val(
        "SELECT status FROM inventory.inventory_alerts WHERE organization_id = %s", (org,))
    assert resolved == "resolved"
    assert await api.db.fetch_val("SELECT inventory.refresh_inventory_analytics()") >= 1


async def test_stock_can_not_go_below_zero_even_by_hand(api: Api):
    shop = await open_shop(api, customers=0)
    item = await product(api, shop, units=3, catalog=False)
    with use_context(org_id=shop.id), pytest.raises(ValidationFailed) as refused:
        await api.app_db.execute(
            "UPDATE inventory.inventory SET available_quantity = available_quantity - 4 "
            "WHERE organization_id = %s AND product_id = %s", (shop.id, item))
    assert refused.value.details["constraint"] == "inventory_available_nonnegative"


async def test_a_catalog_product_without_stock_is_stocked_by_its_first_restock(api: Api):
    """Products added to the catalog after the sample data have no inventory row: the first
    adjustment creates it (through the same CHECK and movement trigger); an id that is no
    product of the organization stays a 404, and a first write-off below zero a 422."""
    shop = await open_shop(api, customers=0)
    new = uuid.uuid4()
    await api.db.execute("INSERT INTO product.products (organization_id, id, sku, name, price)"
                         " VALUES (%s, %s, %s, 'New product', 20)", (shop.id, new, f"N-{new}"))
    url = f"/v1/inventory/{new}/adjustments"
    refused = await api.client.post(url, headers=shop.admin,
                                    json={"change": -1, "reason": "write-off"})
    assert refused.status_code == 422, refused.text
    stocked = await api.client.post(url, headers=shop.admin,
                                    json={"change": 7, "reason": "first delivery",
                                          "type": "restock"})
    assert stocked.status_code == 200, stocked.text
    assert (await stock(api, shop, new))["available_quantity"] == 7
    movements = await api.db.fetch_all(
        "SELECT movement_type, available_change FROM inventory.inventory_movements"
        " WHERE organization_id = %s AND product_id = %s", (shop.id, new))
    assert [(m["movement_type"], m["available_change"]) for m in movements] == [("restock", 7)]
    unknown = await api.client.post(f"/v1/inventory/{uuid.uuid4()}/adjustments",
                                    headers=shop.admin, json={"change": 1, "reason": "x"})
    assert unknown.status_code == 404, unknown.text


async def test_the_catalog_shows_stock_that_orders_took_after_the_sync_job(api: Api):
    """Orders take stock from `inventory`; the job copies it into the catalog's
    stock_quantity (what the in-stock filter reads), for every organization at once."""
    from pgkeel.ops import JobContext
    from pgkeel_apps.commerce.inventory.jobs import JOBS

    shop = await open_shop(api, customers=0)
    item = await product(api, shop, units=9)
    await api.db.execute("UPDATE inventory.inventory SET available_quantity = 0"
                         " WHERE organization_id = %s AND product_id = %s", (shop.id, item))
    job = JOBS.get("commerce.sync_catalog_stock")
    result = await job.fn(JobContext(db=api.db, settings=api.app.state.pgkeel.settings,
                                     lock_timeout_s=5.0))
    assert result["products"] >= 1
    shown = await api.db.fetch_val("SELECT stock_quantity FROM product.products"
                                   " WHERE organization_id = %s AND id = %s", (shop.id, item))
    assert shown == 0
    assert await api.db.fetch_val(
        "SELECT count(*) FROM product.products p JOIN inventory.inventory i"
        " ON i.organization_id = p.organization_id AND i.product_id = p.id"
        " WHERE p.organization_id = %s AND p.stock_quantity <> i.available_quantity",
        (shop.id,)) == 0


async def test_administrators_read_stock_movements_and_alerts_over_http(api: Api):
    """The inventory routes with the list grammar, for INVENTORY_READ holders only; an
    adjustment is audited and leaves its movement; low stock opens an alert."""
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, units=30, reorder_point=10, catalog=False)
    other = await product(api, shop, units=500, catalog=False)
    cut = await api.client.post(f"/v1/inventory/{item}/adjustments", headers=shop.admin,
                                json={"change": -25, "reason": "damaged in storage"})
    assert cut.status_code == 200, cut.text
    assert (cut.json()["availableQuantity"], cut.json()["totalQuantity"]) == (5, 5)

    low = (await api.client.get("/v1/inventory?availableQuantity[lte]=10"
                                "&sort=availableQuantity", headers=shop.admin)).json()
    assert [r["productId"] for r in low["items"]] == [str(item)]
    one = await api.client.get(f"/v1/inventory/{other}", headers=shop.admin)
    assert one.status_code == 200 and one.json()["availableQuantity"] == 500
    moves = (await api.client.get("/v1/inventory/movements?movementType=adjust",
                                  headers=shop.admin)).json()
    assert [(m["productId"], m["availableChange"], m["availableAfter"], m["reason"])
            for m in moves["items"]] == [(str(item), -25, 5, "damaged in storage")]
    alerts = (await api.client.get("/v1/inventory/alerts?status=open",
                                   headers=shop.admin)).json()
    assert [(a["productId"], a["alertType"]) for a in alerts["items"]] == [
        (str(item), "low_stock")]

    customer = shop.customer(0)
    for url in ("/v1/inventory", "/v1/inventory/movements", "/v1/inventory/alerts",
                f"/v1/inventory/{item}"):
        assert (await api.client.get(url, headers=customer)).status_code == 403, url
    assert (await api.client.post(f"/v1/inventory/{item}/adjustments", headers=customer,
                                  json={"change": 1, "reason": "x"})).status_code == 403
    await api.app.state.audit_appender.flush()
    assert await api.db.fetch_val(
        "SELECT count(*) FROM audit.audit_log WHERE organization_id = %s "
        "AND action = 'INVENTORY_ADJUSTED'", (str(shop.id),)) == 1
