"""The Redis cart: one hash per user, changed only by the atomic Lua scripts.

Keys, all under the cache prefix and the organization's hash tag (every key of one
organization lives in one Redis Cluster slot, so every script touches a single slot):

    <prefix>{<org>}:cart:<userId>                  HASH  the cart (30 days after its last change)
    <prefix>{<org>}:cart:lock:<userId>             STRING a checkout's lock token (30 s)
    <prefix>{<org>}:cart:metrics:<userId>:<date>   HASH  the day's counters (90 days)
    <prefix>{<org>}:cart:index                     ZSET  userId -> last change (ms), for cleanup
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, LiteralString
from uuid import UUID

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from pgkeel.db import Database, use_context
from pgkeel.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidParameter,
    NotFound,
    RuleViolation,
    UsageError,
)
from pgkeel_apps.commerce.cart import scripts
from pgkeel_apps.commerce.cart.model import Cart, cents
from pgkeel_apps.commerce.cart.settings import CartSettings

PRODUCT: LiteralString = """
SELECT name, price FROM product.products WHERE organization_id = %s AND id = %s AND is_active
"""
"""The catalog's name and price of an active product (read as its organization)."""

CLEANUP_BATCH = 200
"""Carts one cleanup_expired_carts call checks."""


@dataclass(frozen=True, slots=True)
class CartKeys:
    """The Redis keys of one user's cart."""

    cart: str
    lock: str
    metrics: str
    index: str

    @classmethod
    def of(cls, prefix: str, org_id: object, user_id: object,
           day: dt.date | None = None) -> CartKeys:
        base = f"{prefix}{{{org_id}}}:cart:"
        day = day or dt.datetime.now(dt.UTC).date()
        return cls(cart=f"{base}{user_id}", lock=f"{base}lock:{user_id}",
                   metrics=f"{base}metrics:{user_id}:{day.isoformat()}", index=f"{base}index")

    @property
    def script_keys(self) -> list[str]:
        return [self.cart, self.lock, self.metrics, self.index]


def _error(exc: ResponseError) -> Exception:
    """The pgkeel error for a script's refusal (`CODE message`)."""
    code, _, message = str(exc).partition(" ")
    message = message.split(" script:", 1)[0].strip()
    if code == "CART_LOCKED":
        return Conflict("The cart is locked by a checkout in progress.",
                        details={"rule": "cart_locked"},
                        hint="Try again when the order is placed (the lock expires after "
                             "30 seconds at most).")
    if code == "CART_QUANTITY_LIMIT":
        return RuleViolation(f"The cart allows {message}.",
                             details={"rule": "cart_max_quantity"})
    if code == "CART_TOO_MANY_ITEMS":
        return RuleViolation(f"The cart allows {message}.", details={"rule": "cart_max_items"})
    if code == "CART_ITEM_NOT_FOUND":
        return NotFound("That product is not in the cart.", details={"resource": "cart item"})
    if code.startswith("CART_INVALID_"):
        field = code.removeprefix("CART_INVALID_").lower()
        return InvalidParameter(f"Invalid {field}: {message}.", details={"field": field})
    return DatabaseUnavailable("The cart store refused the request.",
                               details={"store": "redis"})


class CartService:
    """Carts by organization and user. Every change is one atomic script that checks its
    input and the checkout lock, and recomputes the totals itself."""

    def __init__(self, redis: Redis | None, db: Database, *, prefix: str = "pgkeel:",
                 settings: CartSettings | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.settings = settings or CartSettings()
        self.db = db
        self._scripts: dict[str, AsyncScript] = {}

    def keys(self, org_id: UUID, user_id: UUID) -> CartKeys:
        return CartKeys.of(self.prefix, org_id, user_id)

    def _client(self) -> Redis:
        if self.redis is None:
            raise DatabaseUnavailable("The cart needs Redis, and REDIS_URL is memory://.",
                                      details={"store": "redis"},
                                      hint="Set REDIS_URL to a Redis or Valkey server.")
        return self.redis

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._client()
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = client.register_script(scripts.source(name))
        try:
            return await script(keys=list(keys), args=list(args))
        except ResponseError as exc:
            raise _error(exc) from None
        except RedisError as exc:
            raise DatabaseUnavailable("The cart store (Redis) is unavailable.",
                                      details={"store": "redis"}) from exc

    async def get(self, org_id: UUID, user_id: UUID) -> Cart:
        """The user's cart (empty when there is none)."""
        try:
            flat = await self._client().hgetall(self.keys(org_id, user_id).cart)
        except RedisError as exc:
            raise DatabaseUnavailable("The cart store (Redis) is unavailable.",
                                      details={"store": "redis"}) from exc
        return Cart.from_hash(str(user_id), flat)

    async def add(self, org_id: UUID, user_id: UUID, product_id: UUID, quantity: int = 1, *,
                  lock_token: str | None = None) -> Cart:
        """Add `quantity` units of an active product of the organization, at its current
        price (404 for an unknown or inactive product; 422 past the cart's limits)."""
        with use_context(org_id=org_id):
            product = await self.db.fetch_one(PRODUCT, (org_id, product_id), readonly=True)
        if product is None:
            raise NotFound("No product with that id.", details={"resource": "product",
                                                                "id": str(product_id)})
        s = self.settings
        flat = await self._run("add_item_to_cart", self.keys(org_id, user_id).script_keys, [
            str(user_id), str(product_id), quantity, cents(product["price"]), product["name"],
            lock_token or "", s.cart_max_quantity, s.cart_max_items, s.cart_ttl_s,
            s.cart_metrics_ttl_s])
        return Cart.from_hash(str(user_id), flat)

    async def update(self, org_id: UUID, user_id: UUID, product_id: UUID, quantity: int, *,
                     lock_token: str | None = None) -> Cart:
        """Set the quantity of a product in the cart (0 removes it; 404 when absent)."""
        s = self.settings
        flat = await self._run("update_item_quantity", self.keys(org_id, user_id).script_keys, [
            str(user_id), str(product_id), quantity, lock_token or "", s.cart_max_quantity,
            s.cart_ttl_s, s.cart_metrics_ttl_s])
        return Cart.from_hash(str(user_id), flat)

    async def remove(self, org_id: UUID, user_id: UUID, product_id: UUID, *,
                     lock_token: str | None = None) -> Cart:
        """Take a product out of the cart (404 when absent)."""
        s = self.settings
        flat = await self._run("remove_item_from_cart", self.keys(org_id, user_id).script_keys,
                               [str(user_id), str(product_id), lock_token or "", s.cart_ttl_s,
                                s.cart_metrics_ttl_s])
        return Cart.from_hash(str(user_id), flat)

    async def clear(self, org_id: UUID, user_id: UUID, *, lock_token: str | None = None) -> bool:
        """Empty the cart; True when there was one. While a checkout holds the lock, only a
        call with its token may clear it."""
        existed = await self._run("clear_cart", self.keys(org_id, user_id).script_keys,
                                  [str(user_id), lock_token or "",
                                   self.settings.cart_metrics_ttl_s])
        return bool(existed)

    # -- the checkout lock ---------------------------------------------------------------------

    async def acquire_lock(self, org_id: UUID, user_id: UUID) -> str:
        """Take `cart:lock:{userId}` for CART_LOCK_TTL_S (30 s) and return its token; 409
        when another checkout holds it. Changes without the token are refused meanwhile."""
        token = secrets.token_hex(16)
        try:
            taken = await self._client().set(self.keys(org_id, user_id).lock, token, nx=True,
                                             ex=self.settings.cart_lock_ttl_s)
        except RedisError as exc:
            raise DatabaseUnavailable("The cart store (Redis) is unavailable.",
                                      details={"store": "redis"}) from exc
        if not taken:
            raise Conflict("The cart is locked by a checkout in progress.",
                           details={"rule": "cart_locked"},
                           hint="Try again when the order is placed (the lock expires after "
                                "30 seconds at most).")
        return token

    async def release_lock(self, org_id: UUID, user_id: UUID, token: str) -> bool:
        """Release the lock if it still holds `token` (an expired lock that another checkout
        took is left alone); True when released."""
        keys = self.keys(org_id, user_id)
        return bool(await self._run("release_cart_lock", [keys.lock], [token]))

    @asynccontextmanager
    async def locked(self, org_id: UUID, user_id: UUID) -> AsyncIterator[str]:
        """`async with carts.locked(org, user) as token:` -- the cart is frozen for everyone
        but the holder of `token` (pass it as `lock_token=`) until the block ends or 30 s
        pass."""
        token = await self.acquire_lock(org_id, user_id)
        try:
            yield token
        finally:
            await self.release_lock(org_id, user_id, token)

    # -- maintenance ---------------------------------------------------------------------------

    async def cleanup_expired(self, org_id: UUID, *, now: dt.datetime | None = None,
                              max_age: dt.timedelta | None = None) -> int:
        """Delete the organization's carts unchanged for `max_age` (CART_TTL_S) and forget
        the ones Redis already expired; returns how many carts were deleted."""
        client = self._client()
        age_ms = int((max_age or dt.timedelta(seconds=self.settings.cart_ttl_s))
                     .total_seconds() * 1000)
        if age_ms < 0:
            raise UsageError("max_age cannot be negative.")
        now_ms = "" if now is None else str(int(now.timestamp() * 1000))
        index = CartKeys.of(self.prefix, org_id, "~").index
        deleted, seen = 0, set[str]()
        cutoff = int((now or dt.datetime.now(dt.UTC)).timestamp() * 1000) - age_ms
        while True:
            try:
                raw = await client.zrangebyscore(index, "-inf", cutoff, start=0,
                                                 num=CLEANUP_BATCH)
            except RedisError as exc:
                raise DatabaseUnavailable("The cart store (Redis) is unavailable.",
                                          details={"store": "redis"}) from exc
            users = [u.decode() if isinstance(u, bytes) else str(u) for u in raw]
            users = [u for u in users if u not in seen]
            if not users:
                return deleted
            seen.update(users)
            keys = [index, *(CartKeys.of(self.prefix, org_id, u).cart for u in users)]
            result = await self._run("cleanup_expired_carts", keys, [now_ms, age_ms, *users])
            deleted += int(result[0])
