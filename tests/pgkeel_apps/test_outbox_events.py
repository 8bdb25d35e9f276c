"""The reference service's outbox: user.created and customer_tag.* are written in the request's
transaction and published to Redis Streams by the relay the service runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from pgkeel.outbox import OutboxMessage, decode_entry
from tests.pgkeel_apps.conftest import Api, make_org


async def _published(redis: Redis, stream: str, aggregate_id: str, count: int
                     ) -> list[OutboxMessage]:
    """The stream's events about `aggregate_id`, once `count` of them have arrived."""
    for _ in range(200):
        messages = [decode_entry(fields) for _, fields in await redis.xrange(stream)]
        mine = [m for m in messages if m.aggregate_id == aggregate_id]
        if len(mine) >= count:
            return mine
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} events about {aggregate_id} never reached {stream}")


@pytest.fixture
def stream(pgkeel_settings: Any) -> str:
    return f"{pgkeel_settings.cache_prefix}outbox"


@pytest.mark.smoke
async def test_creating_a_user_publishes_user_created_once(api: Api, pgkeel_redis: Redis,
                                                           stream: str) -> None:
    org = await make_org(api)
    headers = {**await api.as_(org["slug"], "admin0"), "Idempotency-Key": str(uuid.uuid4())}
    body = {"email": f"ob-{uuid.uuid4().hex[:8]}@example.com", "displayName": "Outbox"}
    first = await api.client.post("/v1/users", json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = await api.client.post("/v1/users", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    user = first.json()
    [event] = await _published(pgkeel_redis, stream, user["id"], 1)
    assert (event.event_type, event.aggregate_type, event.org_id) == (
        "user.created", "user", str(org["id"]))
    assert event.payload["email"] == body["email"]
    await asyncio.sleep(0.2)
    assert len(await _published(pgkeel_redis, stream, user["id"], 1)) == 1, "no second event"


async def test_a_failed_create_publishes_nothing(api: Api) -> None:
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    ok = await api.client.post("/v1/users", json={"email": email, "displayName": "A"},
                               headers=admin)
    assert ok.status_code == 201
    clash = await api.client.post("/v1/users", json={"email": email, "displayName": "B"},
                                  headers=admin)
    assert clash.status_code == 409
    assert await api.db.fetch_val(
        "SELECT count(*) FROM outbox.events WHERE event_type = 'user.created'"
        " AND payload->>'email' = %s", (email,)) == 1


async def test_tag_assignment_and_removal_publish_in_order(api: Api, pgkeel_redis: Redis,
                                                           stream: str) -> None:
    org = await make_org(api)
    admin = await api.as_(org["slug"], "admin0")
    tag = (await api.client.post("/api/admin/tags", headers=admin, json={
        "name": f"ob-{uuid.uuid4().hex[:6]}", "color": "#00AAFF"})).json()
    customer = str(org["user0"])
    url = f"/api/admin/customers/{customer}/tags"
    assert (await api.client.post(url, headers=admin, json={"tagId": tag["id"]})
            ).status_code == 201
    assert (await api.client.delete(f"{url}/{tag['id']}", headers=admin)).status_code == 204
    events = await _published(pgkeel_redis, stream, customer, 2)
    assert [e.event_type for e in events] == ["customer_tag.assigned", "customer_tag.removed"]
    assert all(e.payload["tagId"] == tag["id"] for e in events)
    assert events[0].partition_key == f"customer:{customer}"
