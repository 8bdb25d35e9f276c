"""The Redis cart on a real Redis: atomic adds under concurrency, the checkout lock and its
TTL, each script's input checks (refused before any write), cleanup_expired_carts, keys that
share one Cluster slot, and customers who reach only their own cart."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from pgkeel.errors import Conflict, InvalidParameter, NotFound, RuleViolation
from pgkeel.ops import JobContext
from pgkeel_apps.commerce.cart import JOBS, CartKeys, CartService, CartSettings
from pgkeel_apps.commerce.cart import scripts as cart_scripts

from ..conftest import Api
from .conftest import catalog_org

DAY_MS = 86_400_000


def carts_of(api: Api, **settings: Any) -> CartService:
    """A cart service on the running service's Redis and prefix, with `settings`."""
    running: CartService = api.app.state.cart
    return CartService(running.redis, api.app_db, prefix=running.prefix,
                       settings=CartSettings(**settings))


def redis_of(api: Api) -> Redis:
    client = api.app.state.cart.redis
    assert client is not None
    return client


async def test_200_concurrent_adds_give_the_exact_quantity_and_total(api: Api):
    org = await catalog_org(api)
    carts: CartService = api.app.state.cart  # the service's own settings
    user, (p0, p1, _) = org["user0"], org["products"]
    adds = [carts.add(org["id"], user, p0, 1) for _ in range(150)]
    adds += [carts.add(org["id"], user, p1, 2) for _ in range(50)]
    await asyncio.gather(*adds)
    cart = await carts.get(org["id"], user)
    assert cart.quantity_of(p0) == 150
    assert cart.quantity_of(p1) == 100
    assert cart.item_count == 250
    assert cart.subtotal == Decimal("12.50") * 150 + Decimal("3.99") * 100  # exact cents
    keys = carts.keys(org["id"], user)
    metrics = await redis_of(api).hgetall(keys.metrics)
    assert int(metrics[b"adds"]) == 200 and int(metrics[b"itemsAdded"]) == 250
    day = 86_400
    assert 29 * day < await redis_of(api).ttl(keys.cart) <= 30 * day
    assert 89 * day < await redis_of(api).ttl(keys.metrics) <= 90 * day


async def test_the_checkout_lock_freezes_the_cart_for_its_ttl_and_only_its_holder_writes(
        api: Api):
    org = await catalog_org(api)
    carts: CartService = api.app.state.cart
    user, p0 = org["user0"], org["products"][0]
    keys = carts.keys(org["id"], user)
    await carts.add(org["id"], user, p0, 1)
    contenders = await asyncio.gather(*[carts.acquire_lock(org["id"], user) for _ in range(50)],
                                      return_exceptions=True)
    tokens = [t for t in contenders if isinstance(t, str)]
    assert len(tokens) == 1, "exactly one checkout takes the lock"
    assert all(isinstance(e, Conflict) for e in contenders if not isinstance(e, str))
    token = tokens[0]
    ttl_ms = await redis_of(api).pttl(keys.lock)
    assert 0 < ttl_ms <= 30_000, "the lock always expires, within 30 s"
    # Concurrent writers without the token are all refused while it is held.
    refused = await asyncio.gather(*[carts.add(org["id"], user, p0, 1) for _ in range(20)],
                                   return_exceptions=True)
    assert all(isinstance(e, Conflict) and e.details["rule"] == "cart_locked" for e in refused)
    with pytest.raises(Conflict):
        await carts.clear(org["id"], user)
    assert (await carts.get(org["id"], user)).quantity_of(p0) == 1
    assert 0 < await redis_of(api).pttl(keys.lock) <= ttl_ms, "refused calls never extend it"
    # The holder may change the cart, then releases; a stale token releases nothing.
    assert (await carts.add(org["id"], user, p0, 2, lock_token=token)).quantity_of(p0) == 3
    assert not await carts.release_lock(org["id"], user, "not-the-token")
    assert await carts.release_lock(org["id"], user, token)
    assert (await carts.add(org["id"], user, p0, 1)).quantity_of(p0) == 4
    async with carts.locked(org["id"], user) as held:
        assert await carts.clear(org["id"], user, lock_token=held)
    assert await redis_of(api).exists(keys.lock) == 0
    # A checkout that dies never releases its lock: the TTL frees the cart (shortened here).
    await carts.acquire_lock(org["id"], user)
    with pytest.raises(Conflict):
        await carts.add(org["id"], user, p0, 1)
    await redis_of(api).pexpire(keys.lock, 1)
    while await redis_of(api).exists(keys.lock):
        await asyncio.sleep(0.005)
    assert (await carts.add(org["id"], user, p0, 1)).quantity_of(p0) == 1


async def test_limits_are_rules_and_unknown_products_are_404(api: Api):
    org = await catalog_org(api)
    carts = carts_of(api, cart_max_quantity=5, cart_max_items=2)
    user, (p0, p1, p2) = org["user0"], org["products"]
    await carts.add(org["id"], user, p0, 5)
    with pytest.raises(RuleViolation) as exc:
        await carts.add(org["id"], user, p0, 1)
    assert exc.value.details["rule"] == "cart_max_quantity"
    with pytest.raises(RuleViolation):
        await carts.update(org["id"], user, p0, 6)
    await carts.add(org["id"], user, p1, 1)
    with pytest.raises(RuleViolation) as exc:
        await carts.add(org["id"], user, p2, 1)
    assert exc.value.details["rule"] == "cart_max_items"
    with pytest.raises(NotFound):
        await carts.add(org["id"], user, uuid.uuid4(), 1)
    with pytest.raises(NotFound):
        await carts.remove(org["id"], user, p2)
    cart = await carts.update(org["id"], user, p0, 0)   # 0 removes
    assert [i.product_id for i in cart.items] == [str(p1)]
    assert cart.subtotal == Decimal("3.99")


# -- each script's input checks, straight against Redis ------------------------------------------

def _args(**overrides: Any) -> dict[str, Any]:
    good = {"user": "u-1", "product": "p-1", "quantity": 1, "price": 1250, "name": "Thing",
            "token": "", "max_quantity": 99, "max_items": 50, "ttl": 2_592_000,
            "metrics_ttl": 7_776_000}
    return {**good, **overrides}


def _add(a: dict[str, Any]) -> list[Any]:
    return [a["user"], a["product"], a["quantity"], a["price"], a["name"], a["token"],
            a["max_quantity"], a["max_items"], a["ttl"], a["metrics_ttl"]]


ADD_REFUSALS = [
    ({"quantity": 0}, "CART_INVALID_QUANTITY"),
    ({"quantity": 1.5}, "CART_INVALID_QUANTITY"),
    ({"quantity": "two"}, "CART_INVALID_QUANTITY"),
    ({"quantity": 100}, "CART_QUANTITY_LIMIT"),
    ({"price": 0}, "CART_INVALID_UNIT_PRICE_CENTS"),
    ({"price": "12.50"}, "CART_INVALID_UNIT_PRICE_CENTS"),
    ({"product": ""}, "CART_INVALID_PRODUCT_ID"),
    ({"product": "a:b"}, "CART_INVALID_PRODUCT_ID"),
    ({"product": "x" * 65}, "CART_INVALID_PRODUCT_ID"),
    ({"user": "u 1"}, "CART_INVALID_USER_ID"),
    ({"name": ""}, "CART_INVALID_NAME"),
    ({"max_items": 0}, "CART_INVALID_MAX_ITEMS"),
    ({"ttl": -1}, "CART_INVALID_CART_TTL_S"),
]


async def _refusal(script: Any, keys: list[str], args: list[Any]) -> str:
    with pytest.raises(ResponseError) as exc:
        await script(keys=keys, args=args)
    return str(exc.value).split(" ", 1)[0]


async def test_each_script_refuses_bad_input_before_writing(api: Api, pgkeel_redis_prefix: str):
    redis = redis_of(api)
    keys = CartKeys.of(pgkeel_redis_prefix + "scripts:", uuid.uuid4(), "u-1")
    add = redis.register_script(cart_scripts.source("add_item_to_cart"))
    update = redis.register_script(cart_scripts.source("update_item_quantity"))
    remove = redis.register_script(cart_scripts.source("remove_item_from_cart"))
    clear = redis.register_script(cart_scripts.source("clear_cart"))
    cleanup = redis.register_script(cart_scripts.source("cleanup_expired_carts"))
    for overrides, code in ADD_REFUSALS:
        assert await _refusal(add, keys.script_keys, _add(_args(**overrides))) == code, overrides
    assert await redis.exists(keys.cart, keys.metrics, keys.index) == 0, "nothing written"

    await add(keys=keys.script_keys, args=_add(_args()))
    before = await redis.hgetall(keys.cart)
    k = keys.script_keys
    for args, code in (
            (["u-1", "p-1", -1, "", 99, 2_592_000, 7_776_000], "CART_INVALID_QUANTITY"),
            (["u-1", "p-1", 100, "", 99, 2_592_000, 7_776_000], "CART_QUANTITY_LIMIT"),
            (["u-1", "p-9", 2, "", 99, 2_592_000, 7_776_000], "CART_ITEM_NOT_FOUND"),
            (["u-1", "p/1", 2, "", 99, 2_592_000, 7_776_000], "CART_INVALID_PRODUCT_ID"),
            (["u-1", "p-1", 2, "", 0, 2_592_000, 7_776_000], "CART_INVALID_MAX_QUANTITY")):
        assert await _refusal(update, k, args) == code, args
    for args, code in ((["u-1", "p-9", "", 2_592_000, 7_776_000], "CART_ITEM_NOT_FOUND"),
                       (["u-1", "", "", 2_592_000, 7_776_000], "CART_INVALID_PRODUCT_ID"),
                       (["u-1", "p-1", "", 0, 7_776_000], "CART_INVALID_CART_TTL_S")):
        assert await _refusal(remove, k, args) == code, args
    assert await _refusal(clear, k, ["", "", 7_776_000]) == "CART_INVALID_USER_ID"
    assert await _refusal(clear, k, ["u-1", "", "soon"]) == "CART_INVALID_METRICS_TTL_S"
    for args, code in ((["", 1000], "CART_INVALID_ARGUMENTS"),
                       (["", -5, "u-1"], "CART_INVALID_MAX_AGE_MS"),
                       (["yesterday", 5, "u-1"], "CART_INVALID_NOW_MS"),
                       (["", 5, "u 1"], "CART_INVALID_USER_ID")):
        assert await _refusal(cleanup, [keys.index, keys.cart], args) == code, args
    # The lock: every changing script refuses a caller without its token.
    await redis.set(keys.lock, "checkout-1", px=30_000)
    assert await _refusal(add, k, _add(_args())) == "CART_LOCKED"
    assert await _refusal(update, k, ["u-1", "p-1", 2, "", 99, 2_592_000,
                                      7_776_000]) == "CART_LOCKED"
    assert await _refusal(remove, k, ["u-1", "p-1", "wrong", 2_592_000,
                                      7_776_000]) == "CART_LOCKED"
    assert await _refusal(clear, k, ["u-1", "", 7_776_000]) == "CART_LOCKED"
    assert await redis.hgetall(keys.cart) == before, "no refused call changed the cart"
    assert 0 < await redis.ttl(keys.cart) <= 2_592_000
    assert 0 < await redis.ttl(keys.metrics) <= 7_776_000
    await redis.delete(keys.cart, keys.lock, keys.metrics, keys.index)


async def test_service_errors_for_script_refusals(api: Api):
    org = await catalog_org(api)
    carts: CartService = api.app.state.cart
    with pytest.raises(InvalidParameter) as exc:
        await carts.add(org["id"], org["user0"], org["products"][0], 0)
    assert exc.value.details["field"] == "quantity"


# -- cleanup -------------------------------------------------------------------------------------

async def test_cleanup_expired_carts_deletes_stale_carts_and_forgets_expired_ones(api: Api):
    org = await catalog_org(api)
    carts: CartService = api.app.state.cart
    redis = redis_of(api)
    stale, fresh, gone = org["user0"], org["user1"], uuid.uuid4()
    p0 = org["products"][0]
    for user in (stale, fresh):
        await carts.add(org["id"], user, p0, 1)
    now = dt.datetime.now(dt.UTC)
    old_ms = int(now.timestamp() * 1000) - 40 * DAY_MS
    index = carts.keys(org["id"], stale).index
    # A cart last changed 40 days ago (as if Redis had kept it), and an index entry whose cart
    # Redis already expired.
    await redis.hset(carts.keys(org["id"], stale).cart, "updatedAt", old_ms)
    await redis.zadd(index, {str(stale): old_ms, str(gone): old_ms})
    assert await carts.cleanup_expired(org["id"]) == 1
    assert (await carts.get(org["id"], stale)).items == ()
    assert (await carts.get(org["id"], fresh)).quantity_of(p0) == 1
    assert {m.decode() for m in await redis.zrange(index, 0, -1)} == {str(fresh)}
    # Thirty-one days on, the fresh cart is stale too.
    later = now + dt.timedelta(days=31)
    assert await carts.cleanup_expired(org["id"], now=later) == 1
    assert await redis.exists(index, carts.keys(org["id"], fresh).cart) == 0


def test_every_key_of_an_organization_shares_one_cluster_slot():
    org, users = uuid.uuid4(), [uuid.uuid4() for _ in range(20)]
    slots = {key_slot(k.encode()) for user in users
             for k in CartKeys.of("pgkeel:", org, user).script_keys}
    assert len(slots) == 1
    other = CartKeys.of("pgkeel:", uuid.uuid4(), users[0])
    assert other.cart != CartKeys.of("pgkeel:", org, users[0]).cart, "tenant-scoped keys"


# -- HTTP ----------------------------------------------------------------------------------------

async def test_customers_reach_only_their_own_cart(api: Api):
    org = await catalog_org(api)
    p0, p1 = org["products"][:2]
    alice, bob = await api.as_(org["slug"], "user0"), await api.as_(org["slug"], "user1")
    added = await api.client.post("/v1/cart/items", json={"productId": str(p0), "quantity": 2},
                                  headers=alice)
    assert added.status_code == 200, added.text
    assert added.json()["subtotal"] == "25.00" and added.json()["itemCount"] == 2
    assert (await api.client.get("/v1/cart", headers=bob)).json()["items"] == []
    assert (await api.client.delete("/v1/cart", headers=bob)).status_code == 204
    assert (await api.client.delete(f"/v1/cart/items/{p0}", headers=bob)).status_code == 404
    mine = (await api.client.get("/v1/cart", headers=alice)).json()
    assert [(i["productId"], i["quantity"]) for i in mine["items"]] == [(str(p0), 2)]
    await api.client.post("/v1/cart/items", json={"productId": str(p1)}, headers=alice)
    changed = await api.client.patch(f"/v1/cart/items/{p0}", json={"quantity": 3},
                                     headers=alice)
    assert changed.json()["subtotal"] == "41.49"   # 3 x 12.50 + 3.99
    removed = await api.client.delete(f"/v1/cart/items/{p1}", headers=alice)
    assert removed.json()["subtotal"] == "37.50"
    assert (await api.client.delete("/v1/cart", headers=alice)).status_code == 204
    assert (await api.client.get("/v1/cart", headers=alice)).json()["itemCount"] == 0
    await api.app.state.audit_appender.flush()
    audited = await api.db.fetch_all(
        "SELECT action, actor_id FROM audit.audit_log WHERE organization_id = %s "
        "AND entity_type = 'Cart' ORDER BY id", (str(org["id"]),))
    assert [e["action"] for e in audited] == [
        "CART_ITEM_ADDED", "CART_ITEM_ADDED", "CART_ITEM_UPDATED", "CART_ITEM_REMOVED",
        "CART_CLEARED"], "changes are audited; a refused change or an empty clear is not"
    assert {e["actor_id"] for e in audited} == {str(org["user0"])}
    assert (await api.client.get("/v1/cart")).status_code == 401
    other = await catalog_org(api)   # another organization's product is not found
    refused = await api.client.post("/v1/cart/items",
                                    json={"productId": str(other["products"][0])},
                                    headers=alice)
    assert refused.status_code == 404


async def test_the_maintenance_job_cleans_every_organization(api: Api):
    org = await catalog_org(api)
    carts: CartService = api.app.state.cart
    await carts.add(org["id"], org["user0"], org["products"][0], 1)
    keys = carts.keys(org["id"], org["user0"])
    old_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000) - 40 * DAY_MS
    await redis_of(api).hset(keys.cart, "updatedAt", old_ms)
    await redis_of(api).zadd(keys.index, {str(org["user0"]): old_ms})
    job = JOBS.get("commerce.cleanup_expired_carts")
    result = await job.fn(JobContext(db=api.db, settings=api.app.state.pgkeel.settings,
                                     lock_timeout_s=5.0))
    assert result["deleted"] >= 1
    assert await redis_of(api).exists(keys.cart) == 0
