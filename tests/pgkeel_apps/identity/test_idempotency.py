"""POST /v1/users with Idempotency-Key: one user, one audit record, one outbox event, the same
answer to every retry -- in-process and against a real uvicorn with fifty concurrent requests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.pgkeel_apps.conftest import PASSWORD, TEST_ENV, Api, make_org


def new_user(tag: str = "") -> dict[str, Any]:
    name = f"idem-{uuid.uuid4().hex[:10]}{tag}"
    return {"email": f"{name}@example.com", "displayName": name}


async def users_with(api: Api, org: uuid.UUID, email: str) -> int:
    return int(await api.db.fetch_val(
        "SELECT count(*) FROM identity.users WHERE organization_id = %s AND email = %s",
        (org, email)))


async def create_events(api: Api, user_id: str) -> int:
    return int(await api.db.fetch_val(
        "SELECT count(*) FROM audit.audit_log WHERE action = 'users.create' "
        "AND entity_id = %s", (user_id,)))


async def post_twice(api: Api, org: dict[str, Any], body: dict[str, Any], status: int
                     ) -> tuple[httpx.Response, dict[str, str]]:
    """POST `body` with a new key, then again: the retry must replay the first answer."""
    headers = {**await api.as_(org["slug"], "admin0"), "Idempotency-Key": str(uuid.uuid4())}
    first = await api.client.post("/v1/users", json=body, headers=headers)
    assert first.status_code == status, first.text
    retry = await api.client.post("/v1/users", json=body, headers=headers)
    assert retry.status_code == status
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    return first, headers


@pytest.mark.smoke
async def test_a_retried_create_runs_once_and_replays(api: Api):
    org = await make_org(api)
    body = new_user()
    first, headers = await post_twice(api, org, body, 201)
    assert await users_with(api, org["id"], body["email"]) == 1
    assert await create_events(api, first.json()["id"]) == 1, "one audit record, same tx"
    assert await api.db.fetch_val(
        "SELECT count(*) FROM outbox.events WHERE event_type = 'user.created' "
        "AND aggregate_id = %s", (first.json()["id"],)) == 1, "one outbox event, same tx"
    other = await api.client.post("/v1/users", json=new_user(), headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


async def test_the_key_is_optional_and_checked(api: Api):
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    plain = await api.client.post("/v1/users", json=new_user(), headers=admin)
    assert plain.status_code == 201
    bad = await api.client.post("/v1/users", json=new_user(),
                                headers={**admin, "Idempotency-Key": "x" * 300})
    assert bad.status_code == 400
    assert bad.json()["code"] == "idempotency_key_invalid"
    spec = (await api.client.get("/openapi.json")).json()["paths"]["/v1/users"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] is False
               for p in spec["parameters"])
    assert {"400", "409", "422"} <= set(spec["responses"])


async def test_a_failed_create_is_rolled_back_stored_and_replayed(api: Api):
    org = await make_org(api)
    body = {**new_user(), "roleIds": [str(uuid.uuid4())]}  # no such role: 409 after the INSERT
    await post_twice(api, org, body, 409)
    assert await users_with(api, org["id"], body["email"]) == 0


async def test_keys_of_two_organizations_do_not_collide(api: Api):
    one, two = await make_org(api), await make_org(api)
    key = str(uuid.uuid4())
    body = new_user()
    for org in (one, two):
        headers = {**await api.as_(org["slug"], "admin0"), "Idempotency-Key": key}
        response = await api.client.post("/v1/users", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert "idempotent-replayed" not in response.headers
        assert response.json()["organizationId"] == str(org["id"])
        assert await users_with(api, org["id"], body["email"]) == 1


@pytest.mark.smoke
def test_fifty_concurrent_creates_with_one_key_over_uvicorn(
        live_server, pgkeel_database_url, pgkeel_redis_url):
    server = live_server({"DATABASE_URL": pgkeel_database_url, "REDIS_URL": pgkeel_redis_url,
                          **TEST_ENV})
    base = server.base_url
    token = httpx.post(f"{base}/v1/auth/login", json={
        "organization": "org-2", "email": "admin@org-2.example", "password": PASSWORD}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    body = new_user("-50")

    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/users", json=body, headers=headers)
                                          for _ in range(50)))

    answers = asyncio.run(fire())
    firsts = [a for a in answers
              if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    replays = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    busy = [a for a in answers if a.status_code == 409]
    assert len(firsts) == 1, sorted(a.status_code for a in answers)
    assert len(firsts) + len(replays) + len(busy) == 50
    assert all(r.content == firsts[0].content for r in replays)
    assert all(b.json()["code"] == "idempotency_key_in_flight" for b in busy)

    import psycopg

    with psycopg.connect(pgkeel_database_url) as conn:
        users = conn.execute("SELECT count(*) FROM identity.users WHERE email = %s",
                             (body["email"],)).fetchone()
        keys = conn.execute("SELECT count(*) FROM idempotency.idempotency_keys "
                            "WHERE key = %s", (headers["Idempotency-Key"],)).fetchone()
    assert users == (1,) and keys == (1,)
