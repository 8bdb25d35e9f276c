"""`http_place_order`: POST /v1/orders on the reference service (a real uvicorn process, as in
the other HTTP scenarios) at the profile's concurrency, on its own demo data set (sample
organization, users, catalog, stock and orders, loaded by the service itself as `make demo`
does), in a throw-away database on the same server.

Each request is a new order of 1-3 in-stock products with its own Idempotency-Key, placed by a
sample customer (at most 5 orders each: the pending-orders rule). Afterwards the run is
checked, not only timed: no product's stock went below zero or lost a unit (initial available
= available now + units the run's orders reserved), and every order the run created has
exactly one `order.placed` outbox event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, LiteralString

import aiohttp

from bench.config import Profile
from bench.dataset import drop_redis_prefix
from bench.http_load import Server
from bench.timing import Sample
from pgkeel.db import Database
from pgkeel.security import issue_token
from pgkeel.testing.databases import create_database, drop_database

__all__ = ["PLACE_ORDER_SCENARIOS", "run_place_order"]

PLACE_ORDER_SCENARIOS = {
    "http_place_order": "POST /v1/orders (Idempotency-Key, 1-3 products) under concurrent "
                        "load on the demo data; checked afterwards: nothing oversold, one "
                        "order.placed event per order.",
}
ORDERS_PER_CUSTOMER = 5
PRODUCTS: LiteralString = """
SELECT p.id, i.available_quantity FROM product.products p
JOIN inventory.inventory i ON i.organization_id = p.organization_id AND i.product_id = p.id
JOIN identity.organizations o ON o.id = p.organization_id
WHERE o.slug = 'org-1' AND p.is_active AND p.price BETWEEN 10 AND 2000
  AND i.available_quantity >= 20
ORDER BY p.id LIMIT 2000
"""
CUSTOMERS: LiteralString = """
SELECT u.id, u.organization_id FROM identity.users u
JOIN identity.organizations o ON o.id = u.organization_id
WHERE o.slug = 'org-1' AND u.status = 'active' AND u.is_active AND u.deleted_at IS NULL
  AND NOT EXISTS (SELECT FROM orders.orders p WHERE p.organization_id = u.organization_id
                  AND p.user_id = u.id AND p.status = 'pending')
ORDER BY u.id
"""
SESSION: LiteralString = """
INSERT INTO identity.sessions (token_hash, organization_id, user_id, expires_at)
VALUES (%s, %s, %s, now() + interval '1 hour')
"""
STOCK_NOW: LiteralString = """
SELECT product_id, available_quantity FROM inventory.inventory WHERE product_id = ANY(%s)
"""
RESERVED_BY_RUN: LiteralString = """
SELECT i.product_id, sum(i.quantity)::integer AS units
FROM orders.order_items i JOIN orders.orders o
  ON o.organization_id = i.organization_id AND o.id = i.order_id
WHERE o.created_at >= %s GROUP BY i.product_id
"""
EVENTS_OF_RUN: LiteralString = """
SELECT count(*) AS orders, count(*) FILTER (WHERE e.n = 1) AS with_one_event
FROM orders.orders o
LEFT JOIN (SELECT aggregate_id, count(*) AS n FROM outbox.events
           WHERE event_type = 'order.placed' GROUP BY aggregate_id) e
  ON e.aggregate_id = o.id::text
WHERE o.created_at >= %s
"""


SIZES = {"full": (5_000, 10_000, 1_000), "quick": (1_000, 500, 100)}
"""(DEMO_USERS, DEMO_PRODUCTS, DEMO_ORDERS) per profile; smaller profiles: (200, 100, 10)."""


def _server(url: str, redis_url: str, profile: Profile, prefix: str) -> Server:
    users, products, orders = SIZES.get(profile.name, (200, 100, 10))
    return Server("pgkeel", "pgkeel_apps.main:create_app", factory=True, env={
        "DATABASE_URL": url, "REDIS_URL": redis_url, "CACHE_PREFIX": prefix,
        "DB_POOL_MAX_SIZE": "10", "APP_ENV": "development", "DEMO_SEED": "true",
        "DEMO_ORGS": "1", "DEMO_USERS": str(users), "DEMO_PRODUCTS": str(products),
        "DEMO_CATALOG_ORGS": "1", "DEMO_ORDERS": str(orders)})


async def _customers(db: Database) -> list[str]:
    """Bearer tokens of the sample customers, their sessions written directly (no login
    traffic in the measurement)."""
    rows = await db.fetch_all(CUSTOMERS)
    issued = [(issue_token(), row) for row in rows]
    async with db.transaction() as tx:
        await tx.execute_many(SESSION, [(digest, row["organization_id"], row["id"])
                                        for (_, digest), row in issued])
    return [token for (token, _), _ in issued]


async def _load(base: str, tokens: list[str], products: list[str], profile: Profile,
                seconds: float) -> tuple[list[int], dict[int, int], float]:
    """(latencies of 201s in ns, statuses counted, wall seconds) of `concurrency` clients
    placing orders for `seconds` or until the customers run out of pending-order room."""
    turns = iter([t for t in tokens for _ in range(ORDERS_PER_CUSTOMER)])
    rng = random.Random(7)
    latencies: list[int] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            token = next(turns, None)
            if token is None:
                return
            body = {"items": [{"productId": p, "quantity": 1}
                              for p in rng.sample(products, k=rng.randint(1, 3))]}
            headers = {"Authorization": f"Bearer {token}",
                       "Idempotency-Key": str(uuid.uuid4())}
            began = time.perf_counter_ns()
            async with session.post(f"{base}/v1/orders", json=body,
                                    headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status == 201:
                    latencies.append(time.perf_counter_ns() - began)

    connector = aiohttp.TCPConnector(limit=profile.http_concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(profile.http_concurrency)))
        return latencies, statuses, time.monotonic() - began


async def _check(db: Database, started: dt.datetime, initial: dict[Any, int]) -> dict[str, int]:
    """Raise unless nothing was oversold and every order of the run has one event."""
    now = {r["product_id"]: r["available_quantity"]
           for r in await db.fetch_all(STOCK_NOW, (list(initial),))}
    reserved = {r["product_id"]: r["units"]
                for r in await db.fetch_all(RESERVED_BY_RUN, (started,))}
    for product, before in initial.items():
        if now[product] < 0 or now[product] + reserved.get(product, 0) != before:
            raise RuntimeError(f"stock of {product} does not add up: {before} before, "
                               f"{now[product]} now, {reserved.get(product, 0)} ordered")
    events = await db.fetch_one(EVENTS_OF_RUN, (started,))
    assert events is not None
    if events["orders"] != events["with_one_event"]:
        raise RuntimeError(f"orders without exactly one order.placed event: {events}")
    return {"orders": int(events["orders"]), "units": sum(reserved.values())}


async def run_place_order(admin_url: str, redis_url: str, profile: Profile,
                          only: set[str] | None, log: Callable[[str], None] = print
                          ) -> list[Sample]:
    """The place-order scenario in a database of its own (dropped after)."""
    if only is not None and not only & set(PLACE_ORDER_SCENARIOS):
        return []
    url = create_database(admin_url, prefix="pgkeel_bench_orders")
    prefix = f"pgkeel_bench_orders_{uuid.uuid4().hex[:8]}:"
    server = _server(url, redis_url, profile, prefix)
    try:
        server.start()
        await server.wait_ready(timeout_s=300)
        async with Database(url, min_size=1, max_size=2) as db:
            products = await db.fetch_all(PRODUCTS)
            initial = {r["id"]: r["available_quantity"] for r in products}
            tokens = await _customers(db)
            started = await db.fetch_val("SELECT now()")
            latencies, statuses, wall = await _load(
                server.base, tokens, [str(p) for p in initial], profile,
                profile.http_seconds * profile.http_rounds)
            checked = await _check(db, started, initial)
        if statuses.get(201, 0) != checked["orders"] or set(statuses) - {201, 422}:
            raise RuntimeError(f"unexpected answers: {statuses}, {checked['orders']} orders")
        sample = Sample("http_place_order", "pgkeel", durations_ns=latencies, wall_s=wall,
                        ops_override=len(latencies), peak_rss_mb=server.peak_rss_mb())
        ordered = sorted(latencies)
        p95 = ordered[int(0.95 * (len(ordered) - 1))] / 1e6 if ordered else 0.0
        log(f"  http_place_order: {len(latencies) / wall:.0f} orders/s, p95 {p95:.1f} ms at "
            f"{profile.http_concurrency} clients; {checked['orders']} orders, "
            f"{checked['units']} units, none oversold, one order.placed event each; "
            f"answers {statuses}")
        return [sample]
    finally:
        server.stop()
        drop_database(admin_url, url)
        await drop_redis_prefix(redis_url, prefix)
