"""`/v1/orders`: place (Idempotency-Key required), read, list and cancel the caller's orders,
with their status history and notes."""

from __future__ import annotations

from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.db import Transaction
from pgkeel.repo import ListQuery
from pgkeel.security import Principal
from pgkeel.web import (
    ApiModel,
    IdempotencyKey,
    IdempotencyKeyRequired,
    IdempotentRoute,
    Name,
    OrjsonResponse,
    Text,
    list_query,
)
from pgkeel_apps.commerce.orders.service import Line, OrderService
from pgkeel_apps.commerce.orders.tables import HISTORY, ITEMS, NOTES, ORDERS
from pgkeel_apps.commerce.rules import violation, with_related
from pgkeel_apps.permissions import Authenticated

router = APIRouter(tags=["orders"], route_class=IdempotentRoute)

MAX_LINE_QUANTITY = 999
"""The body's bounds only (as the cart's): how many units and products an order may hold is
the database's rule (`order_max_items`: 422 naming it), not a 422 `validation_failed`."""
MAX_LINES = 200


class OrderLine(ApiModel):
    productId: UUID
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)


class Address(ApiModel):
    name: Name = Field(min_length=1, max_length=200)
    line1: Name = Field(min_length=1, max_length=200)
    line2: Name | None = Field(None, max_length=200)
    city: Name = Field(min_length=1, max_length=100)
    postalCode: Name = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", max_length=2, examples=["GB"])


class PlaceOrder(ApiModel):
    items: list[OrderLine] | None = Field(None, min_length=1, max_length=MAX_LINES)
    """The products to order; omitted: the caller's cart (cleared once the order is placed)."""
    shippingAddress: Address | None = None


class CancelOrder(ApiModel):
    reason: Text | None = Field(None, max_length=500)


class NoteCreate(ApiModel):
    body: Text = Field(min_length=1, max_length=2000)
    internal: bool = False
    """Staff only (ORDERS_READ): hidden from the customer."""


class Carts(Protocol):
    """What placing an order from a cart needs of the cart service."""

    async def get(self, org_id: UUID, user_id: UUID) -> Any: ...

    async def clear(self, org_id: UUID, user_id: UUID, *,
                    lock_token: str | None = None) -> bool: ...

    async def acquire_lock(self, org_id: UUID, user_id: UUID) -> str: ...

    async def release_lock(self, org_id: UUID, user_id: UUID, token: str) -> bool: ...


async def order_service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


Service = Annotated[OrderService, Depends(order_service)]


def order_json(row: dict[str, Any]) -> dict[str, Any]:
    return with_related(ORDERS, row, {"items": ITEMS, "history": HISTORY, "notes": NOTES})


@router.post("/v1/orders", status_code=201, summary=(
    "Place an order (Idempotency-Key required): stock reserved, order, items, status history "
    "and the order.placed event in one transaction; 422 names a broken rule"))
async def place_order(body: PlaceOrder, request: Request, caller: Authenticated,
                      service: Service, idem: IdempotencyKeyRequired) -> Response:
    address = body.shippingAddress.model_dump() if body.shippingAddress else None
    if body.items is not None:
        lines = [Line(i.productId, i.quantity) for i in body.items]
        order = await service.place(idem.tx, caller.user_id, lines, shipping_address=address)
    else:
        order = await _place_from_cart(request, caller, service, idem.tx, address)
    return OrjsonResponse(order_json(order), status_code=201,
                          headers={"Location": f"/v1/orders/{order['id']}"})


async def _place_from_cart(request: Request, caller: Principal, service: OrderService,
                           tx: Transaction, address: dict[str, Any] | None) -> dict[str, Any]:
    """The cart's lines as an order. The cart's checkout lock keeps it still meanwhile; once
    the order has committed the cart is cleared with the lock's token and the lock released
    (on failure it is released at once; if COMMIT itself fails, its 30 s TTL ends it)."""
    org, user = caller.org_id, caller.user_id
    carts: Carts | None = getattr(request.app.state, "cart", None)
    if carts is None:
        raise violation("cart_empty")
    token = await carts.acquire_lock(org, user)
    try:
        cart = await carts.get(org, user)
        lines = [Line(UUID(str(i.product_id)), i.quantity) for i in cart.items]
        if not lines:
            raise violation("cart_empty")
        order = await service.place(tx, user, lines, shipping_address=address)
    except BaseException:
        await carts.release_lock(org, user, token)
        raise

    async def clear() -> None:
        await carts.clear(org, user, lock_token=token)
        await carts.release_lock(org, user, token)
    tx.on_commit(clear)
    return order


@router.get("/v1/orders", summary="The caller's orders (everyone's with ORDERS_READ)")
async def list_orders(caller: Authenticated, service: Service,
                      query: Annotated[ListQuery, Depends(list_query(ORDERS))]) -> Response:
    page = await service.list(caller, query)
    return OrjsonResponse(page.envelope([ORDERS.to_api(r) for r in page.items]))


@router.get("/v1/orders/{order_id}", summary="An order with its items, history and notes")
async def get_order(order_id: UUID, caller: Authenticated, service: Service) -> Response:
    return OrjsonResponse(order_json(await service.get(caller, order_id)))


@router.post("/v1/orders/{order_id}/cancel",
             summary="Cancel a pending or confirmed order (its stock is released)")
async def cancel_order(order_id: UUID, body: CancelOrder, caller: Authenticated,
                       service: Service, idem: IdempotencyKey) -> Response:
    await service.cancel(caller, order_id, body.reason, tx=idem.tx)
    return OrjsonResponse(order_json(await service.get(caller, order_id, tx=idem.tx)))


@router.post("/v1/orders/{order_id}/notes", status_code=201, summary="Add a note to an order")
async def add_note(order_id: UUID, body: NoteCreate, caller: Authenticated,
                   service: Service, idem: IdempotencyKey) -> Response:
    note = await service.add_note(caller, order_id, body.body, body.internal, tx=idem.tx)
    return OrjsonResponse(NOTES.to_api(note), status_code=201)
