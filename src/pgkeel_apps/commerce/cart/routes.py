"""`/v1/cart`: the caller's own cart (any user of the organization; no other cart is
reachable, the key is the caller's user id). Each change is written to the audit log through
the appender (the cart lives in Redis: there is no transaction to record it in)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from pgkeel.audit import AppenderDep
from pgkeel.web import ApiModel, DirectRoute, OrjsonResponse, error_responses
from pgkeel_apps.commerce.cart.service import CartService
from pgkeel_apps.permissions import Authenticated

router = APIRouter(tags=["cart"], route_class=DirectRoute)

MAX_QUANTITY = 999
"""The body's bound; the cart's own limits (CART_MAX_QUANTITY, CART_MAX_ITEMS) are checked by
the scripts: 422 with `details.rule`."""
CHANGES = error_responses(404, 409, 422, 503)
"""A change: 404 (no such product / not in the cart), 409 (a checkout holds the cart), 422
(a cart limit), 503 (Redis unavailable)."""


class CartAdd(ApiModel):
    productId: UUID
    quantity: int = Field(1, ge=1, le=MAX_QUANTITY)


class CartQuantity(ApiModel):
    quantity: int = Field(ge=0, le=MAX_QUANTITY, description="0 removes the product.")


async def cart_service(request: Request) -> CartService:
    service: CartService = request.app.state.cart
    return service


Carts = Annotated[CartService, Depends(cart_service)]


@router.get("/v1/cart", summary="Your cart, with its totals", responses=error_responses(503))
async def get_cart(me: Authenticated, carts: Carts) -> Response:
    return OrjsonResponse((await carts.get(me.org_id, me.user_id)).to_api())


@router.post("/v1/cart/items", summary="Add a product to your cart (atomic; at its current "
                                       "price)", responses=CHANGES)
async def add_item(body: CartAdd, me: Authenticated, carts: Carts,
                   appender: AppenderDep) -> Response:
    cart = await carts.add(me.org_id, me.user_id, body.productId, body.quantity)
    await appender.append(action="CART_ITEM_ADDED", entity_type="Cart", entity_id=me.user_id,
                          metadata={"productId": str(body.productId),
                                    "quantity": body.quantity})
    return OrjsonResponse(cart.to_api())


@router.patch("/v1/cart/items/{product_id}", summary="Set a product's quantity (0 removes it)",
               responses=CHANGES)
async def update_item(product_id: UUID, body: CartQuantity, me: Authenticated,
                      carts: Carts, appender: AppenderDep) -> Response:
    cart = await carts.update(me.org_id, me.user_id, product_id, body.quantity)
    await appender.append(action="CART_ITEM_UPDATED", entity_type="Cart", entity_id=me.user_id,
                          metadata={"productId": str(product_id), "quantity": body.quantity})
    return OrjsonResponse(cart.to_api())


@router.delete("/v1/cart/items/{product_id}", summary="Remove a product from your cart",
                responses=CHANGES)
async def remove_item(product_id: UUID, me: Authenticated, carts: Carts,
                      appender: AppenderDep) -> Response:
    cart = await carts.remove(me.org_id, me.user_id, product_id)
    await appender.append(action="CART_ITEM_REMOVED", entity_type="Cart", entity_id=me.user_id,
                          metadata={"productId": str(product_id)})
    return OrjsonResponse(cart.to_api())


@router.delete("/v1/cart", status_code=204, summary="Empty your cart",
                responses=error_responses(409, 503))
async def clear_cart(me: Authenticated, carts: Carts, appender: AppenderDep) -> Response:
    if await carts.clear(me.org_id, me.user_id):
        await appender.append(action="CART_CLEARED", entity_type="Cart", entity_id=me.user_id)
    return Response(status_code=204)
