"""Placing orders over HTTP: one transaction, replayable, never oversold, the report's rules
as 422s that name them (and write nothing), customers kept to their own orders."""

from __future__ import annotations

import asyncio
from typing import Any

from pgkeel.db import use_context
from pgkeel_apps.commerce.orders import Line, cleanup_expired_orders
from tests.pgkeel_apps.commerce.shop import Shop, key, open_shop, product, stock
from tests.pgkeel_apps.conftest import Api

COUNTS = """
SELECT (SELECT count(*) FROM orders.orders WHERE organization_id = %(org)s) AS orders,
       (SELECT count(*) FROM orders.order_items WHERE organization_id = %(org)s) AS items,
       (SELECT count(*) FROM orders.order_status_history WHERE organization_id = %(org)s)
           AS history,
       (SELECT count(*) FROM inventory.inventory_reservations WHERE organization_id = %(org)s)
           AS reservations,
       (SELECT count(*) FROM outbox.events
        WHERE org_id = %(org)s::text AND event_type = 'order.placed') AS events,
       (SELECT sum(available_quantity) FROM inventory.inventory
        WHERE organization_id = %(org)s) AS available
"""


async def counts(api: Api, shop: Shop) -> dict[str, Any]:
    row = await api.db.fetch_one(COUNTS, {"org": shop.id})
    assert row is not None
    return row


async def place(api: Api, headers: dict[str, str], *lines: tuple[Any, int]) -> Any:
    return await api.client.post("/v1/orders", headers={**headers, **key()}, json={
        "items": [{"productId": str(p), "quantity": q} for p, q in lines]})


async def test_place_replay_read_annotate_and_cancel(api: Api):
    shop = await open_shop(api, customers=2)
    item = await product(api, shop, price="12.50", units=10)
    headers = {**shop.customer(0), **key()}
    body = {"items": [{"productId": str(item), "quantity": 2}],
            "shippingAddress": {"name": "Ada", "line1": "1 Loop Rd", "city": "London",
                                "postalCode": "N1", "country": "GB"}}
    first = await api.client.post("/v1/orders", headers=headers, json=body)
    assert first.status_code == 201, first.text
    order = first.json()
    assert (order["status"], order["totalAmount"], order["itemCount"]) == ("pending", "25.00", 2)
    assert order["items"][0]["unitPrice"] == "12.50"
    assert [h["toStatus"] for h in order["history"]] == ["pending"]
    assert first.headers["location"] == f"/v1/orders/{order['id']}"

    replay = await api.client.post("/v1/orders", headers=headers, json=body)
    assert replay.status_code == 201 and replay.json() == order
    assert replay.headers["idempotent-replayed"] == "true"
    stolen = await api.client.post("/v1/orders", headers={**shop.customer(1),
                                                          "Idempotency-Key": headers[
                                                              "Idempotency-Key"]}, json=body)
    assert (stolen.status_code, stolen.json()["code"]) == (422, "idempotency_key_reused"), (
        "another customer's replay never gets the first customer's order")
    assert await counts(api, shop) == {"orders": 1, "items": 1, "history": 1,
                                       "reservations": 1, "events": 1, "available": 8}
    event = await api.db.fetch_one(
        "SELECT payload FROM outbox.events WHERE event_type = 'order.placed' "
        "AND aggregate_id = %s", (order["id"],))
    assert event is not None and event["payload"]["totalAmount"] == "25.00"

    url = f"/v1/orders/{order['id']}"
    other = shop.customer(1)
    assert (await api.client.get(url, headers=other)).status_code == 404
    assert (await api.client.get("/v1/orders", headers=other)).json()["items"] == []
    mine = (await api.client.get("/v1/orders?status=pending", headers=shop.customer(0))).json()
    assert [o["id"] for o in mine["items"]] == [order["id"]]
    assert (await api.client.get(url, headers=shop.admin)).status_code == 200

    note = await api.client.post(f"{url}/notes", headers=shop.customer(0),
                                 json={"body": "Leave it at the door"})
    assert note.status_code == 201, note.text
    staff = await api.client.post(f"{url}/notes", headers=shop.admin,
                                  json={"body": "Called the customer", "internal": True})
    assert staff.status_code == 201 and staff.json()["isInternal"] is True
    assert len((await api.client.get(url, headers=shop.customer(0))).json()["notes"]) == 1
    assert len((await api.client.get(url, headers=shop.admin)).json()["notes"]) == 2
    assert (await api.client.post(f"{url}/notes", headers=other, json={"body": "x"})
            ).status_code == 404

    cancelled = await api.client.post(f"{url}/cancel", headers=shop.customer(0),
                                      json={"reason": "changed my mind"})
    assert cancelled.status_code == 200, cancelled.text
    assert [(h["toStatus"], h["reason"]) for h in cancelled.json()["history"]] == [
        ("pending", None), ("cancelled", "changed my mind")]
    assert await stock(api, shop, item) == {"available_quantity": 10, "reserved_quantity": 0,
                                            "total_quantity": 10}
    again = await api.client.post(f"{url}/cancel", headers=shop.customer(0), json={})
    assert again.status_code == 422
    assert again.json()["details"]["rule"] == "order_status_transition"
    await api.app.state.audit_appender.flush()
    actions = await api.db.fetch_all(
        "SELECT action FROM audit.audit_log WHERE organization_id = %s AND entity_id = %s "
        "ORDER BY id", (str(shop.id), order["id"]))
    assert [a["action"] for a in actions] == ["ORDER_PLACED", "ORDER_NOTE_ADDED",
                                              "ORDER_NOTE_ADDED", "ORDER_CANCELLED"]


async def test_each_business_rule_is_a_422_naming_it_and_nothing_is_written(api: Api):
    shop = await open_shop(api, customers=1)
    cheap = await product(api, shop, price="1.00", units=1000)
    mid = await product(api, shop, price="12.50", units=1000)
    big = await product(api, shop, price="6000.00", units=10)
    scarce = await product(api, shop, price="20.00", units=1)
    customer = shop.customer(0)
    cases = [("order_min_amount", [(cheap, 5)]),
             ("order_max_amount", [(big, 2)]),
             ("order_max_items", [(cheap, 50), (mid, 1)]),
             ("order_max_items", [(cheap, 51)]),
             ("insufficient_stock", [(mid, 1), (scarce, 2)])]
    for rule, lines in cases:
        before = await counts(api, shop)
        response = await place(api, customer, *lines)
        assert response.status_code == 422, (rule, response.text)
        assert response.json()["code"] == "rule_violation"
        assert response.json()["details"]["rule"] == rule
        assert await counts(api, shop) == before, rule
    for _ in range(5):
        assert (await place(api, customer, (mid, 1))).status_code == 201
    before = await counts(api, shop)
    response = await place(api, customer, (mid, 1))
    assert response.status_code == 422
    assert response.json()["details"]["rule"] == "order_max_pending"
    assert await counts(api, shop) == before
    rules = await api.db.fetch_all(
        "SELECT rule FROM orders.validate_order_business_rules(%s, %s, 10000.01, 51)",
        (shop.id, shop.customers[0]))
    assert [r["rule"] for r in rules] == ["order_max_amount", "order_max_items",
                                          "order_max_pending"]


async def test_an_order_from_the_cart_empties_it_only_once_committed(api: Api):
    shop = await open_shop(api, customers=1)
    item, scarce = await product(api, shop, price="11.00"), await product(api, shop, units=1)
    customer = shop.customer(0)
    for product_id, quantity in ((item, 2), (scarce, 2)):
        added = await api.client.post("/v1/cart/items", headers=customer,
                                      json={"productId": str(product_id), "quantity": quantity})
        assert added.status_code == 200, added.text
    refused = await api.client.post("/v1/orders", headers={**customer, **key()}, json={})
    assert refused.json()["details"]["rule"] == "insufficient_stock"
    assert len((await api.client.get("/v1/cart", headers=customer)).json()["items"]) == 2
    assert (await api.client.delete(f"/v1/cart/items/{scarce}", headers=customer)
            ).status_code == 200, "the failed order released the cart's lock"
    placed = await api.client.post("/v1/orders", headers={**customer, **key()}, json={})
    assert placed.status_code == 201, placed.text
    assert [(i["productId"], i["quantity"]) for i in placed.json()["items"]] == [(str(item), 2)]
    assert (await api.client.get("/v1/cart", headers=customer)).json()["items"] == []
    again = await api.client.post("/v1/cart/items", headers=customer,
                                  json={"productId": str(item), "quantity": 1})
    assert again.status_code == 200, "the cart's lock was released after the order"
    empty = await api.client.post("/v1/orders", headers={**customer, **key()}, json={})
    assert empty.status_code == 201
    assert (await api.client.post("/v1/orders", headers={**customer, **key()}, json={})
            ).json()["details"]["rule"] == "cart_empty"


async def test_fifty_customers_racing_for_the_last_unit_make_one_order(api: Api):
    shop = await open_shop(api, customers=50)
    last = await product(api, shop, price="20.00", units=1)
    responses = await asyncio.gather(*(place(api, shop.customer(i), (last, 1))
                                       for i in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 49
    assert {r.json()["details"]["rule"] for r in responses if r.status_code == 422} == {
        "insufficient_stock"}
    assert await stock(api, shop, last) == {"available_quantity": 0, "reserved_quantity": 1,
                                            "total_quantity": 1}
    assert (await counts(api, shop))["orders"] == 1


async def test_expired_orders_give_their_stock_back(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, price="15.00", units=5)
    order = (await place(api, shop.customer(0), (item, 3))).json()
    assert await cleanup_expired_orders(api.db) >= 0
    assert (await stock(api, shop, item))["reserved_quantity"] == 3
    await api.db.execute("UPDATE orders.orders SET expires_at = now() - interval '1 second' "
                         "WHERE organization_id = %s AND id = %s", (shop.id, order["id"]))
    assert await api.db.fetch_val("SELECT orders.cleanup_expired_orders()") >= 1
    got = (await api.client.get(f"/v1/orders/{order['id']}", headers=shop.customer(0))).json()
    assert got["status"] == "expired"
    assert got["history"][-1]["reason"] == "not paid within 30 minutes"
    assert await stock(api, shop, item) == {"available_quantity": 5, "reserved_quantity": 0,
                                            "total_quantity": 5}


async def test_the_order_placed_event_exists_only_after_commit(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, price="30.00", units=5)
    service = api.app.state.orders
    seen = "SELECT count(*) FROM outbox.events WHERE aggregate_id = %s"
    with use_context(org_id=shop.id, actor_id=shop.customers[0]):
        async with api.app_db.transaction() as tx:
            order = await service.place(tx, shop.customers[0], [Line(item, 1)])
            assert await api.db.fetch_val(seen, (str(order["id"]),)) == 0
        assert await api.db.fetch_val(seen, (str(order["id"]),)) == 1

        class Abandon(Exception):
            pass
        try:
            async with api.app_db.transaction() as tx:
                doomed = await service.place(tx, shop.customers[0], [Line(item, 1)])
                raise Abandon
        except Abandon:
            pass
    assert await api.db.fetch_val(seen, (str(doomed["id"]),)) == 0
    assert (await stock(api, shop, item))["available_quantity"] == 4
