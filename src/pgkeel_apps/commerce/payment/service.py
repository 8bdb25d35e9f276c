"""Payments: authorize (through the provider) -> capture -> settle, refunds and disputes. The
state machine and the refund limit are the database's (see the migrations); this module
talks to the provider and records what it answered -- audited, with outbox events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

from pgkeel import audit, outbox
from pgkeel.db import Database, Transaction, current_context
from pgkeel.errors import NotFound, ReferenceNotFound
from pgkeel.repo import CursorCodec, Filter, ListQuery, Op, Page, Repository
from pgkeel.security import Principal
from pgkeel_apps.commerce.payment.provider import PaymentProvider
from pgkeel_apps.commerce.payment.tables import DISPUTES, PAYMENTS, REFUNDS, TRANSACTIONS
from pgkeel_apps.commerce.rules import named_rules, violation

PAYMENTS_WRITE = "PAYMENTS_WRITE"
"""Holders capture, settle, refund and record disputes, and see every payment."""

LOCK_ORDER: LiteralString = """
SELECT *, expires_at <= now() AS timed_out FROM orders.orders
WHERE organization_id = %s AND id = %s FOR UPDATE
"""
CONFIRM_ORDER: LiteralString = """
SELECT set_config('orders.status_reason', 'payment authorized', true);
"""
CONFIRM_ORDER_UPDATE: LiteralString = """
UPDATE orders.orders SET status = 'confirmed' WHERE organization_id = %s AND id = %s
"""
SAVE_METHOD: LiteralString = """
INSERT INTO payment.payment_methods (organization_id, user_id, provider, token, brand, last4,
                                     exp_month, exp_year)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (organization_id, provider, token) DO UPDATE SET brand = excluded.brand
RETURNING id
"""
INSERT_PAYMENT: LiteralString = """
INSERT INTO payment.payments (organization_id, order_id, user_id, payment_method_id, amount,
                              currency, provider)
VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
"""
AUTHORIZE: LiteralString = "SELECT payment.process_payment_authorization(%s, %s, %s, %s, %s)"
LOCK_PAYMENT: LiteralString = """
SELECT * FROM payment.payments WHERE organization_id = %s AND id = %s FOR UPDATE
"""
CAPTURE: LiteralString = """
UPDATE payment.payments SET status = 'captured', captured_amount = %s
WHERE organization_id = %s AND id = %s RETURNING *
"""
SETTLE: LiteralString = """
UPDATE payment.payments SET status = 'settled' WHERE organization_id = %s AND id = %s
RETURNING *
"""
REFUND: LiteralString = """
INSERT INTO payment.refunds (organization_id, payment_id, amount, reason, provider_reference,
                             created_by)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING *
"""
DISPUTE: LiteralString = """
INSERT INTO payment.payment_disputes (organization_id, payment_id, amount, reason)
VALUES (%s, %s, %s, %s) RETURNING *
"""
CLEANUP_PAYMENTS: LiteralString = "SELECT payment.cleanup_expired_payments(%s)"
REFRESH_ANALYTICS: LiteralString = "SELECT payment.refresh_payment_analytics()"

ENTITY = "Payment"
REFUNDABLE = frozenset({"captured", "settled", "partially_refunded"})
"""The statuses a refund or a dispute may start from (the database's state machine)."""


class PaymentService:
    """The organization's payments, through one provider."""

    def __init__(self, db: Database, provider: PaymentProvider, *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.provider = provider
        self.payments: Repository[dict[str, Any]] = Repository(db, PAYMENTS, name="payment",
                                                               cursor_codec=cursor_codec)
        self.transactions: Repository[dict[str, Any]] = Repository(
            db, TRANSACTIONS, name="payment transaction")
        self.refunds: Repository[dict[str, Any]] = Repository(db, REFUNDS, name="refund")
        self.disputes: Repository[dict[str, Any]] = Repository(db, DISPUTES, name="dispute")

    async def authorize(self, tx: Transaction, principal: Principal, order_id: UUID,
                        token: str, *, key: str) -> dict[str, Any]:
        """Pay for one of the caller's pending orders with a provider token. The provider's
        answer is recorded by `process_payment_authorization()`: approved (the order is
        confirmed), declined (status failed, `failureCode`), or timed out (still pending;
        `cleanup_expired_payments()` expires it). `key` is passed on to the provider."""
        org = current_context().org_id
        order = await tx.fetch_one(LOCK_ORDER, (org, order_id))
        if order is None or str(order["user_id"]) != str(principal.user_id):
            raise ReferenceNotFound("No order of yours with that id.",
                                    details={"resource": "order", "fields": ["orderId"]},
                                    hint="Pay for one of your own pending orders.")
        if order["status"] == "expired" or (order["status"] == "pending"
                                            and order["timed_out"]):
            # Past its 30 minutes (expired by cleanup_expired_orders(), or about to be).
            raise violation("order_timeout")
        if order["status"] != "pending":
            raise violation("order_status_transition", status=order["status"])
        card = self.provider.card(token)
        if card is None:
            raise violation("payment_method_token")
        with named_rules():
            method = await tx.fetch_val(SAVE_METHOD, (
                org, principal.user_id, self.provider.name, token, card.brand, card.last4,
                card.exp_month, card.exp_year))
            payment_id = await tx.fetch_val(INSERT_PAYMENT, (
                org, order_id, principal.user_id, method, order["total_amount"],
                order["currency"], self.provider.name))
        result = await self.provider.authorize(token, order["total_amount"], order["currency"],
                                               idempotency_key=f"{org}:{key}")
        status = await tx.fetch_val(AUTHORIZE, (org, payment_id, result.outcome,
                                                result.reference, result.failure_code))
        if status == "authorized":
            await tx.execute(CONFIRM_ORDER)
            await tx.execute(CONFIRM_ORDER_UPDATE, (org, order_id))
        action = {"authorized": "PAYMENT_AUTHORIZED", "failed": "PAYMENT_DECLINED"}.get(
            status, "PAYMENT_TIMED_OUT")
        await audit.record(tx, action=action, entity_type=ENTITY, entity_id=payment_id,
                           new={"status": status, "orderId": str(order_id),
                                "amount": str(order["total_amount"])},
                           metadata={"failureCode": result.failure_code})
        await outbox.add(tx, outbox.OutboxEvent(
            f"payment.{status}", "order", order_id, payload={
                "paymentId": str(payment_id), "orderId": str(order_id), "status": status,
                "amount": str(order["total_amount"])}))
        return await self.payments.get(payment_id, tx=tx)

    async def capture(self, tx: Transaction, payment_id: UUID,
                      amount: Decimal | None) -> dict[str, Any]:
        """Capture an authorized payment (all of it unless `amount` says less)."""
        org = current_context().org_id
        payment = await self._locked(tx, payment_id)
        amount = payment["amount"] if amount is None else amount
        if payment["status"] != "authorized":  # no provider call for a refused change
            raise violation("payment_status_transition", status=payment["status"])
        result = await self.provider.capture(payment["provider_reference"] or "", amount,
                                             idempotency_key=f"{org}:capture:{payment_id}")
        with named_rules():
            row = await tx.fetch_one(CAPTURE, (amount, org, payment_id))
        assert row is not None
        await self._record(tx, "PAYMENT_CAPTURED", payment, row, "payment.captured",
                           reference=result.reference)
        return row

    async def settle(self, tx: Transaction, payment_id: UUID) -> dict[str, Any]:
        """Mark a captured payment settled (the provider paid it out)."""
        payment = await self._locked(tx, payment_id)
        with named_rules():
            row = await tx.fetch_one(SETTLE, (current_context().org_id, payment_id))
        assert row is not None
        await self._record(tx, "PAYMENT_SETTLED", payment, row, "payment.settled")
        return row

    async def refund(self, tx: Transaction, payment_id: UUID, amount: Decimal, reason: str,
                     *, key: str) -> dict[str, Any]:
        """Refund part or all of a captured payment. The database refuses a refund of an
        uncaptured payment and one beyond what is left (422 naming the rule)."""
        org = current_context().org_id
        payment = await self._locked(tx, payment_id)
        if payment["status"] not in REFUNDABLE:  # the database's own order of checks
            raise violation("payment_status_transition", status=payment["status"])
        if amount > payment["captured_amount"] - payment["refunded_amount"]:
            raise violation("refund_exceeds_captured")
        result = await self.provider.refund(payment["provider_reference"] or "", amount,
                                            idempotency_key=f"{org}:{key}")
        with named_rules():
            refund = await tx.fetch_one(REFUND, (org, payment_id, amount, reason,
                                                 result.reference,
                                                 current_context().actor_id))
        assert refund is not None
        row = await self.payments.get(payment_id, tx=tx)
        await self._record(tx, "PAYMENT_REFUNDED", payment, row, "payment.refunded",
                           refund=refund)
        return refund

    async def dispute(self, tx: Transaction, payment_id: UUID, amount: Decimal,
                      reason: str) -> dict[str, Any]:
        """Record a dispute (chargeback) the provider reported for a captured payment."""
        payment = await self._locked(tx, payment_id)
        if payment["status"] not in REFUNDABLE:
            raise violation("payment_status_transition", status=payment["status"])
        with named_rules():
            dispute = await tx.fetch_one(DISPUTE, (current_context().org_id, payment_id,
                                                   amount, reason))
        assert dispute is not None
        row = await self.payments.get(payment_id, tx=tx)
        await self._record(tx, "PAYMENT_DISPUTED", payment, row, "payment.disputed",
                           refund=dispute)
        return dispute

    async def get(self, principal: Principal, payment_id: UUID) -> dict[str, Any]:
        """A payment with its transactions, refunds and disputes (the payer's own, or any
        with PAYMENTS_WRITE)."""
        payment = await self.payments.find(payment_id)
        if payment is None or not (principal.has(PAYMENTS_WRITE)
                                   or str(payment["user_id"]) == str(principal.user_id)):
            raise NotFound("No payment with that id.", details={"resource": "payment",
                                                                "id": str(payment_id)})
        related = {}
        for name, repo, table in (("transactions", self.transactions, TRANSACTIONS),
                                  ("refunds", self.refunds, REFUNDS),
                                  ("disputes", self.disputes, DISPUTES)):
            page = await repo.list(ListQuery(filters=[
                Filter(table.field("payment_id"), Op.EQ, payment_id)], page_size=100))
            related[name] = page.items
        return {**payment, **related}

    async def list(self, principal: Principal, query: ListQuery) -> Page[dict[str, Any]]:
        """The caller's payments (every payment with PAYMENTS_WRITE)."""
        if not principal.has(PAYMENTS_WRITE):
            query.filters.append(Filter(PAYMENTS.field("user_id"), Op.EQ, principal.user_id))
        return await self.payments.list(query)

    async def _locked(self, tx: Transaction, payment_id: UUID) -> dict[str, Any]:
        row = await tx.fetch_one(LOCK_PAYMENT, (current_context().org_id, payment_id))
        if row is None:
            raise NotFound("No payment with that id.", details={"resource": "payment",
                                                                "id": str(payment_id)})
        return row

    async def _record(self, tx: Transaction, action: str, old: dict[str, Any],
                      new: dict[str, Any], event: str, *, reference: str | None = None,
                      refund: dict[str, Any] | None = None) -> None:
        fields = ("status", "captured_amount", "refunded_amount")
        await audit.record(tx, action=action, entity_type=ENTITY, entity_id=new["id"],
                           old={k: str(old[k]) for k in fields},
                           new={k: str(new[k]) for k in fields},
                           metadata={"providerReference": reference,
                                     "relatedId": str(refund["id"]) if refund else None})
        await outbox.add(tx, outbox.OutboxEvent(event, "order", new["order_id"], payload={
            "paymentId": str(new["id"]), "orderId": str(new["order_id"]),
            "status": new["status"], "capturedAmount": str(new["captured_amount"]),
            "refundedAmount": str(new["refunded_amount"])}))


async def cleanup_expired_payments(db: Database, limit: int = 10_000) -> int:
    """Expire pending payments past 15 minutes and authorizations past their 7-day hold
    (`payment.cleanup_expired_payments()`); across organizations as the schema owner."""
    expired: int = await db.fetch_val(CLEANUP_PAYMENTS, (limit,))
    return expired
