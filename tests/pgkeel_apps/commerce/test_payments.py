"""Payments: authorize -> capture -> refund over HTTP with the deterministic provider (which
can decline or time out), and the state machine and refund limit refused by the database
itself, called from SQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pgkeel.db import use_context
from pgkeel.errors import ValidationFailed
from pgkeel_apps.commerce.orders import cleanup_expired_orders
from tests.pgkeel_apps.commerce.shop import Shop, key, open_shop, product
from tests.pgkeel_apps.conftest import Api


async def _order(api: Api, shop: Shop, item: uuid.UUID) -> str:
    response = await api.client.post("/v1/orders", headers={**shop.customer(0), **key()},
                                     json={"items": [{"productId": str(item), "quantity": 2}]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _pay(api: Api, shop: Shop, order: str, token: str) -> dict:
    response = await api.client.post("/v1/payments", headers={**shop.customer(0), **key()},
                                     json={"orderId": order, "paymentToken": token})
    assert response.status_code == 201, response.text
    return response.json()


async def test_authorize_capture_refund_decline_and_time_out(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, price="12.50", units=20)
    order = await _order(api, shop, item)

    declined = await _pay(api, shop, order, "tok_decline")
    assert (declined["status"], declined["failureCode"]) == ("failed", "card_declined")
    paid = await _pay(api, shop, order, "tok_visa")
    assert (paid["status"], paid["amount"]) == ("authorized", "25.00")
    got = (await api.client.get(f"/v1/orders/{order}", headers=shop.customer(0))).json()
    assert got["status"] == "confirmed"
    assert got["history"][-1]["reason"] == "payment authorized"

    url = f"/v1/payments/{paid['id']}"
    assert (await api.client.post(f"{url}/capture", headers=shop.customer(0), json={})
            ).status_code == 403
    for early in (await api.client.post(f"{url}/refunds", headers={**shop.admin, **key()},
                                        json={"amount": "1.00"}),
                  await api.client.post(f"{url}/disputes", headers=shop.admin,
                                        json={"amount": "1.00", "reason": "fraudulent"}),
                  await api.client.post(f"{url}/settle", headers=shop.admin)):
        assert (early.status_code, early.json()["details"]["rule"]) == (
            422, "payment_status_transition"), "nothing was captured yet"
    captured = await api.client.post(f"{url}/capture", headers=shop.admin, json={})
    assert captured.json()["status"] == "captured", captured.text
    again = await api.client.post(f"{url}/capture", headers=shop.admin, json={})
    assert (again.status_code, again.json()["details"]["rule"]) == (
        422, "payment_status_transition")

    def refund(amount: str) -> dict:
        return {"amount": amount, "reason": "requested_by_customer"}
    first = await api.client.post(f"{url}/refunds", headers={**shop.admin, **key()},
                                  json=refund("10.00"))
    assert first.status_code == 201, first.text
    too_much = await api.client.post(f"{url}/refunds", headers={**shop.admin, **key()},
                                     json=refund("15.01"))
    assert (too_much.status_code, too_much.json()["details"]["rule"]) == (
        422, "refund_exceeds_captured")
    rest = await api.client.post(f"{url}/refunds", headers={**shop.admin, **key()},
                                 json=refund("15.00"))
    assert rest.status_code == 201
    payment = (await api.client.get(url, headers=shop.customer(0))).json()
    assert (payment["status"], payment["refundedAmount"]) == ("refunded", "25.00")
    assert [t["kind"] for t in payment["transactions"]] == [
        "authorize", "capture", "refund", "refund"]
    assert len(payment["refunds"]) == 2
    assert [p["id"] for p in (await api.client.get(
        "/v1/payments?status=failed", headers=shop.customer(0))).json()["items"]] == [
            declined["id"]]

    slow = await _pay(api, shop, await _order(api, shop, item), "tok_timeout")
    assert slow["status"] == "pending"
    await api.db.execute("UPDATE payment.payments SET expires_at = now() - interval '1 second' "
                         "WHERE organization_id = %s AND id = %s", (shop.id, slow["id"]))
    assert await api.db.fetch_val("SELECT payment.cleanup_expired_payments()") >= 1
    expired = (await api.client.get(f"/v1/payments/{slow['id']}", headers=shop.admin)).json()
    assert expired["status"] == "expired"
    assert [t["kind"] for t in expired["transactions"]] == ["timeout", "expire"]
    unknown = await api.client.post("/v1/payments", headers={**shop.customer(0), **key()},
                                    json={"orderId": order, "paymentToken": "tok_nobody"})
    assert unknown.status_code == 422

    # An order past its 30 minutes can no longer be paid for, expired or not yet.
    late = await _order(api, shop, item)
    await api.db.execute("UPDATE orders.orders SET expires_at = now() - interval '1 second' "
                         "WHERE organization_id = %s AND id = %s", (shop.id, late))
    for _ in range(2):
        refused = await api.client.post("/v1/payments", headers={**shop.customer(0), **key()},
                                        json={"orderId": late, "paymentToken": "tok_visa"})
        assert (refused.status_code, refused.json()["details"]["rule"]) == (
            422, "order_timeout"), refused.text
        await cleanup_expired_orders(api.db)
    assert await api.db.fetch_val("SELECT count(*) FROM payment.payments WHERE "
                                  "organization_id = %s AND order_id = %s", (shop.id, late)) == 0


async def test_the_database_refuses_invalid_transitions_and_over_refunds(api: Api):
    shop = await open_shop(api, customers=1)
    org, customer = shop.id, shop.customers[0]
    db = api.app_db

    async def refused(statement: str, *params: object) -> str:
        with pytest.raises(ValidationFailed) as caught:
            await db.execute(statement, params)
        return str(caught.value.details["constraint"])

    with use_context(org_id=org):
        assert await refused(
            "INSERT INTO payment.payment_methods (organization_id, user_id, provider, token) "
            "VALUES (%s, %s, 'test', '4242 4242 4242 4242')", org, customer
        ) == "payment_methods_token_not_pan", "a card number is never stored, only tokens"
        payment = await db.fetch_val(
            "INSERT INTO payment.payments (organization_id, order_id, user_id, amount, provider)"
            " VALUES (%s, %s, %s, 40.00, 'test') RETURNING id", (org, uuid.uuid4(), customer))
        where = "WHERE organization_id = %s AND id = %s"
        assert await refused(f"UPDATE payment.payments SET status = 'captured' {where}",
                             org, payment) == "payment_status_transition"
        assert await refused("INSERT INTO payment.refunds (organization_id, payment_id, amount, "
                             "reason) VALUES (%s, %s, 1, 'other')",
                             org, payment) == "payment_status_transition"
        assert await db.fetch_val(
            "SELECT payment.process_payment_authorization(%s, %s, 'approved', 'auth_1')",
            (org, payment)) == "authorized"
        assert await refused(f"UPDATE payment.payments SET status = 'settled' {where}",
                             org, payment) == "payment_status_transition"
        assert await refused("INSERT INTO payment.payment_disputes (organization_id, "
                             "payment_id, amount, reason) VALUES (%s, %s, 1, 'fraudulent')",
                             org, payment) == "payment_status_transition"
        assert await refused(
            f"UPDATE payment.payments SET status = 'captured', captured_amount = 40.01 {where}",
            org, payment) == "payment_capture_within_authorized"
        await db.execute(
            f"UPDATE payment.payments SET status = 'captured', captured_amount = 30 {where}",
            (org, payment))
        refund = ("INSERT INTO payment.refunds (organization_id, payment_id, amount, reason) "
                  "VALUES (%s, %s, %s, 'other')")
        await db.execute(refund, (org, payment, 20))
        assert await refused(refund, org, payment, 10.01) == "refund_exceeds_captured"
        assert await refused(f"UPDATE payment.payments SET refunded_amount = 31 {where}",
                             org, payment) == "refund_exceeds_captured"
        dispute = ("INSERT INTO payment.payment_disputes (organization_id, payment_id, amount, "
                   "reason) VALUES (%s, %s, %s, 'fraudulent') RETURNING id")
        assert await refused(dispute, org, payment, 10.01) == "dispute_exceeds_captured"
        opened = await db.fetch_val(dispute, (org, payment, 10))
        assert await db.fetch_val("SELECT payment.resolve_payment_dispute(%s, %s, false)",
                                  (org, opened)) == "charged_back"
        assert await refused(f"UPDATE payment.payments SET status = 'pending' {where}",
                             org, payment) == "payment_status_transition"
        kinds = await db.fetch_all(
            "SELECT kind FROM payment.payment_transactions WHERE organization_id = %s "
            "AND payment_id = %s ORDER BY id", (org, payment))
        assert [k["kind"] for k in kinds] == ["authorize", "capture", "refund", "dispute",
                                              "dispute_lost"]
    assert await api.db.fetch_val("SELECT payment.refresh_payment_analytics()") >= 1


async def test_settle_and_dispute_over_http(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, price="20.00", units=5)
    paid = await _pay(api, shop, await _order(api, shop, item), "tok_mastercard")
    url = f"/v1/payments/{paid['id']}"
    partial = await api.client.post(f"{url}/capture", headers=shop.admin,
                                    json={"amount": "30.00"})
    assert (partial.json()["status"], partial.json()["capturedAmount"]) == ("captured", "30.00")
    settled = await api.client.post(f"{url}/settle", headers=shop.admin)
    assert settled.json()["status"] == "settled", settled.text
    too_much = await api.client.post(f"{url}/disputes", headers=shop.admin,
                                     json={"amount": "30.01", "reason": "fraudulent"})
    assert (too_much.status_code, too_much.json()["details"]["rule"]) == (
        422, "dispute_exceeds_captured")
    dispute = await api.client.post(f"{url}/disputes", headers=shop.admin,
                                    json={"amount": "30.00", "reason": "product_not_received"})
    assert (dispute.status_code, dispute.json()["status"]) == (201, "open"), dispute.text
    again = await api.client.post(f"{url}/disputes", headers=shop.admin,
                                  json={"amount": "1.00", "reason": "fraudulent"})
    assert (again.status_code, again.json()["details"]["rule"]) == (
        422, "payment_status_transition")
    payment = (await api.client.get(url, headers=shop.customer(0))).json()
    assert payment["status"] == "disputed"
    assert [t["kind"] for t in payment["transactions"]] == [
        "authorize", "capture", "settle", "dispute"]
    assert len(payment["disputes"]) == 1
    events = await api.db.fetch_all(
        "SELECT event_type FROM outbox.events WHERE aggregate_id = %s ORDER BY id",
        (paid["orderId"],))
    assert [e["event_type"] for e in events] == [
        "order.placed", "payment.authorized", "payment.captured", "payment.settled",
        "payment.disputed"]


async def test_concurrent_refunds_never_exceed_the_captured_amount(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, price="12.50", units=5)
    paid = await _pay(api, shop, await _order(api, shop, item), "tok_visa")
    url = f"/v1/payments/{paid['id']}"
    assert (await api.client.post(f"{url}/capture", headers=shop.admin, json={})
            ).status_code == 200
    answers = await asyncio.gather(*(
        api.client.post(f"{url}/refunds", headers={**shop.admin, **key()},
                        json={"amount": "10.00"}) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [201, 201] + [422] * 8
    assert {a.json()["details"]["rule"] for a in answers if a.status_code == 422} == {
        "refund_exceeds_captured"}
    payment = (await api.client.get(url, headers=shop.admin)).json()
    assert (payment["status"], payment["refundedAmount"]) == ("partially_refunded", "20.00")
    assert len(payment["refunds"]) == 2


async def test_cancelling_a_paid_order_voids_its_authorization(api: Api):
    shop = await open_shop(api, customers=1)
    item = await product(api, shop, price="12.50", units=5)
    order = await _order(api, shop, item)
    paid = await _pay(api, shop, order, "tok_visa")
    cancelled = await api.client.post(f"/v1/orders/{order}/cancel", headers=shop.customer(0),
                                      json={"reason": "found it cheaper"})
    assert cancelled.json()["status"] == "cancelled", cancelled.text
    payment = (await api.client.get(f"/v1/payments/{paid['id']}",
                                    headers=shop.customer(0))).json()
    assert payment["status"] == "voided"
    assert [t["kind"] for t in payment["transactions"]] == ["authorize", "void"]
    # A captured payment is not touched by a cancellation: money goes back by refund.
    second = await _order(api, shop, item)
    captured = await _pay(api, shop, second, "tok_visa")
    assert (await api.client.post(f"/v1/payments/{captured['id']}/capture", headers=shop.admin,
                                  json={})).status_code == 200
    assert (await api.client.post(f"/v1/orders/{second}/cancel", headers=shop.customer(0),
                                  json={})).status_code == 200
    assert (await api.client.get(f"/v1/payments/{captured['id']}", headers=shop.admin)
            ).json()["status"] == "captured"
