"""The cart service: one Redis hash per user, changed only by atomic Lua scripts.

Public API:
    CartService          get / add / update / remove / clear by organization + user, the
                         checkout lock (`locked`, `acquire_lock`, `release_lock`) and
                         `cleanup_expired` (cleanup_expired_carts)
    Cart, CartItem       a cart read back (exact money: integer cents, Decimal dollars)
    CartKeys             the Redis keys of one cart
    CartSettings         CART_* TTLs and limits
    router               `/v1/cart` (the caller's own cart)
    start_carts          wires `app.state.cart` for the service's lifetime
    JOBS                 `commerce.cleanup_expired_carts` for `pgkeel maintain`
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pgkeel_apps.app import AppContext
from pgkeel_apps.commerce.cart.jobs import JOBS
from pgkeel_apps.commerce.cart.model import Cart, CartItem
from pgkeel_apps.commerce.cart.routes import router
from pgkeel_apps.commerce.cart.service import CartKeys, CartService
from pgkeel_apps.commerce.cart.settings import CartSettings


@asynccontextmanager
async def start_carts(ctx: AppContext) -> AsyncIterator[None]:
    """`app.state.cart`: the cart service on the service's Redis, under the cache prefix."""
    ctx.app.state.cart = CartService(ctx.services.redis, ctx.db,
                                     prefix=ctx.settings.cache_prefix)
    yield


__all__ = ["JOBS", "Cart", "CartItem", "CartKeys", "CartService", "CartSettings", "router",
           "start_carts"]
