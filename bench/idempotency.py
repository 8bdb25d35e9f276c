"""`idempotent_create_user`: what an Idempotency-Key costs a request, in-process.

The reference service (`pgkeel_apps.main:create_app`, its real lifespan) on the bench data
set, driven through httpx's ASGI transport one request at a time: `POST /v1/users` as
org-1's admin, with a fresh `Idempotency-Key` per request (pgkeel: the key is claimed, and
the answer stored in the transaction that creates the user) against the same request
without the header (pgkeel_no_key). Same route, same body shape, same auth; no password, so
no password hashing. The created users and their keys are removed afterwards (audit rows
are append-only and stay).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import httpx

from bench.timing import Contender, Scenario
from pgkeel.config import load_settings
from pgkeel.db import Database

__all__ = ["IDEMPOTENCY_SCENARIOS", "idempotency_scenario"]

IDEMPOTENCY_SCENARIOS = {
    "idempotent_create_user": "POST /v1/users in-process (ASGI), one at a time: with a fresh "
                              "Idempotency-Key vs the same request without one.",
}


@asynccontextmanager
async def idempotency_scenario(url: str, redis_url: str) -> AsyncIterator[Scenario]:
    """The scenario, with the service running for as long as the context is open."""
    from pgkeel_apps.main import create_app

    settings = load_settings().model_copy(update={"database_url": url, "redis_url": redis_url,
                                                  "db_pool_max_size": 10})
    nonce = secrets.token_hex(3)
    app = create_app(settings)
    # As the HTTP runs do: the bench data set is already loaded, never seed sample data.
    seed = os.environ.get("DEMO_SEED")
    os.environ["DEMO_SEED"] = "false"
    try:
        async with _serving(app) as client:
            yield await _scenario(client, nonce)
    finally:
        if seed is None:
            os.environ.pop("DEMO_SEED", None)
        else:
            os.environ["DEMO_SEED"] = seed
        await _cleanup(url, nonce)


@asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


async def _scenario(client: httpx.AsyncClient, nonce: str) -> Scenario:
    """Log in as org-1's admin; the two ways of creating a user."""
    login = await client.post("/v1/auth/login", json={
        "organization": "org-1", "email": "admin@org-1.example", "password": "pgkeel-demo"})
    if login.status_code != 200:
        raise RuntimeError(f"login failed: {login.status_code} {login.text}")
    auth = {"Authorization": f"Bearer {login.json()['token']}"}

    async def create(who: str, i: int, headers: dict[str, str]) -> object:
        response = await client.post("/v1/users", headers=headers, json={
            "email": f"bench-idem-{who}-{nonce}-{i}@bench.example", "displayName": "Bench User"})
        if response.status_code != 201 or "idempotent-replayed" in response.headers:
            raise RuntimeError(f"POST /v1/users: {response.status_code} {response.text[:300]}")
        return response

    async def keyed(i: int) -> object:
        return await create("key", i, {**auth, "Idempotency-Key": f"bench-{nonce}-{i}"})

    async def plain(i: int) -> object:
        return await create("plain", i, auth)

    return Scenario("idempotent_create_user", IDEMPOTENCY_SCENARIOS["idempotent_create_user"],
                    [Contender("pgkeel", keyed), Contender("pgkeel_no_key", plain)])


_DELETE_EVENTS: LiteralString = """
WITH users AS (SELECT id::text AS id FROM identity.users WHERE email LIKE %(emails)s),
queued AS (DELETE FROM outbox.outbox_events
           WHERE aggregate_type = 'user' AND aggregate_id IN (SELECT id FROM users))
DELETE FROM outbox.outbox_published
WHERE aggregate_type = 'user' AND aggregate_id IN (SELECT id FROM users)"""


async def _cleanup(url: str, nonce: str) -> None:
    """Remove this run's users, their keys, and the outbox events their creation wrote."""
    emails = f"bench-idem-%-{nonce}-%"
    async with Database(url, min_size=1, max_size=1) as db:
        await db.execute("DELETE FROM idempotency.idempotency_keys WHERE key LIKE %s",
                         (f"bench-{nonce}-%",))
        if await db.fetch_val("SELECT to_regclass('outbox.outbox_published') IS NOT NULL"):
            await db.execute(_DELETE_EVENTS, {"emails": emails})
        await db.execute("DELETE FROM identity.users WHERE email LIKE %s", (emails,))

