"""`/v1/payments`: authorize (the caller's own order), capture, settle, refund and dispute."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.repo import ListQuery
from pgkeel.web import (
    ApiModel,
    IdempotencyKey,
    IdempotencyKeyRequired,
    IdempotentRoute,
    OrjsonResponse,
    list_query,
)
from pgkeel_apps.commerce.payment.service import PaymentService
from pgkeel_apps.commerce.payment.tables import DISPUTES, PAYMENTS, REFUNDS, TRANSACTIONS
from pgkeel_apps.commerce.rules import with_related
from pgkeel_apps.permissions import Authenticated, PaymentsWriter

router = APIRouter(tags=["payments"], route_class=IdempotentRoute)

Money = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2, examples=["19.99"])]


class Authorize(ApiModel):
    orderId: UUID
    paymentToken: str = Field(pattern=r"^tok_[A-Za-z0-9_]{1,100}$", max_length=104,
                              examples=["tok_visa"])
    """The provider's token for the card (never a card number)."""


class Capture(ApiModel):
    amount: Money | None = None
    """Less than the authorized amount; omitted: all of it."""


class RefundCreate(ApiModel):
    amount: Money
    reason: Literal["requested_by_customer", "duplicate", "fraudulent", "order_cancelled",
                    "other"] = "requested_by_customer"


class DisputeCreate(ApiModel):
    amount: Money
    reason: Literal["fraudulent", "product_not_received", "not_as_described", "duplicate",
                    "other"]


async def payment_service(request: Request) -> PaymentService:
    service: PaymentService = request.app.state.payments
    return service


Service = Annotated[PaymentService, Depends(payment_service)]


def payment_json(row: dict[str, Any]) -> dict[str, Any]:
    return with_related(PAYMENTS, row, {"transactions": TRANSACTIONS, "refunds": REFUNDS,
                                        "disputes": DISPUTES})


@router.post("/v1/payments", status_code=201, summary=(
    "Authorize a payment for the caller's pending order (Idempotency-Key required); the body's "
    "status says what the provider answered: authorized, failed (declined) or pending"))
async def authorize(body: Authorize, caller: Authenticated, service: Service,
                    idem: IdempotencyKeyRequired) -> Response:
    assert idem.key is not None
    row = await service.authorize(idem.tx, caller, body.orderId, body.paymentToken,
                                  key=idem.key)
    return OrjsonResponse(payment_json(row), status_code=201,
                          headers={"Location": f"/v1/payments/{row['id']}"})


@router.get("/v1/payments", summary="The caller's payments (all with PAYMENTS_WRITE)")
async def list_payments(caller: Authenticated, service: Service,
                        query: Annotated[ListQuery, Depends(list_query(PAYMENTS))]
                        ) -> Response:
    page = await service.list(caller, query)
    return OrjsonResponse(page.envelope([PAYMENTS.to_api(r) for r in page.items]))


@router.get("/v1/payments/{payment_id}",
            summary="A payment with its transactions, refunds and disputes")
async def get_payment(payment_id: UUID, caller: Authenticated, service: Service) -> Response:
    return OrjsonResponse(payment_json(await service.get(caller, payment_id)))


@router.post("/v1/payments/{payment_id}/capture", summary="Capture an authorized payment")
async def capture(payment_id: UUID, body: Capture, _: PaymentsWriter, service: Service,
                  idem: IdempotencyKey) -> Response:
    return OrjsonResponse(PAYMENTS.to_api(await service.capture(idem.tx, payment_id,
                                                                body.amount)))


@router.post("/v1/payments/{payment_id}/settle", summary="Mark a captured payment settled")
async def settle(payment_id: UUID, _: PaymentsWriter, service: Service,
                 idem: IdempotencyKey) -> Response:
    return OrjsonResponse(PAYMENTS.to_api(await service.settle(idem.tx, payment_id)))


@router.post("/v1/payments/{payment_id}/refunds", status_code=201, summary=(
    "Refund part or all of a captured payment (Idempotency-Key required; 422 beyond what "
    "was captured)"))
async def refund(payment_id: UUID, body: RefundCreate, _: PaymentsWriter, service: Service,
                 idem: IdempotencyKeyRequired) -> Response:
    assert idem.key is not None
    row = await service.refund(idem.tx, payment_id, body.amount, body.reason, key=idem.key)
    return OrjsonResponse(REFUNDS.to_api(row), status_code=201)


@router.post("/v1/payments/{payment_id}/disputes", status_code=201,
             summary="Record a dispute (chargeback) against a captured payment")
async def dispute(payment_id: UUID, body: DisputeCreate, _: PaymentsWriter, service: Service,
                  idem: IdempotencyKey) -> Response:
    row = await service.dispute(idem.tx, payment_id, body.amount, body.reason)
    return OrjsonResponse(DISPUTES.to_api(row), status_code=201)
