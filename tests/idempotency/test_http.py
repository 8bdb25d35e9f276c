"""Idempotency-Key over HTTP against the real database: run once, store, replay, refuse."""

from __future__ import annotations

import asyncio

import pytest

from tests.idempotency.conftest import Client, new_key

KEYS_OF = "SELECT state, response_status FROM idempotency.idempotency_keys " \
          "WHERE organization_id = %s"


@pytest.mark.smoke
async def test_first_request_runs_and_a_retry_replays_it(client: Client, org: str):
    key = new_key()
    first = await client.post("/items", org, key, {"name": "one"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/items", org, key, {"name": "one"})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert "set-cookie" not in again.headers, "cookies are never stored"
    assert client.executions == 1
    assert await client.items(org) == ["one"]
    [row] = await client.keys(org)
    assert row["state"] == "completed" and row["response_status"] == 201
    assert row["route"] == "POST /items"


async def test_body_fingerprint_is_canonical(client: Client, org: str):
    key = new_key()
    first = await client.http.post("/items", content=b'{"name": "x", "delay_s": 0}',
                                   headers={"X-Org": org, "Idempotency-Key": key,
                                            "Content-Type": "application/json"})
    again = await client.http.post("/items", content=b'{ "delay_s":0,\n "name":"x" }',
                                   headers={"X-Org": org, "Idempotency-Key": key,
                                            "Content-Type": "application/json"})
    assert first.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert client.executions == 1


@pytest.mark.smoke
async def test_same_key_other_body_is_422(client: Client, org: str):
    key = new_key()
    assert (await client.post("/items", org, key, {"name": "one"})).status_code == 201
    other = await client.post("/items", org, key, {"name": "two"})
    assert other.status_code == 422
    body = other.json()
    assert set(body) == {"code", "message", "details", "hint"}
    assert body["code"] == "idempotency_key_reused"
    assert await client.items(org) == ["one"]


async def test_same_key_other_path_parameter_is_422(client: Client, org: str):
    key = new_key()
    assert (await client.post("/groups/a/items", org, key, {"name": "n"})).status_code == 201
    other = await client.post("/groups/b/items", org, key, {"name": "n"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    [row] = await client.keys(org)
    assert row["route"] == "POST /groups/{group}/items"


async def test_keys_are_scoped_per_route(client: Client, org: str):
    key = new_key()
    assert (await client.post("/items", org, key, {"name": "a"})).status_code == 201
    required = await client.post("/required", org, key, {"name": "a"})
    assert required.status_code == 201
    assert "idempotent-replayed" not in required.headers
    assert await client.items(org) == ["a", "a"]


@pytest.mark.smoke
async def test_missing_key_on_a_required_route_is_400(client: Client, org: str):
    missing = await client.post("/required", org, None, {"name": "x"})
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_missing"
    assert missing.json()["hint"]
    assert client.executions == 0
    optional = await client.post("/items", org, None, {"name": "x"})
    assert optional.status_code == 201, "the key is optional there"
    assert await client.keys(org) == []


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\x7fkey", "line\x0bfeed"])
async def test_malformed_key_is_400(client: Client, org: str, key: str):
    response = await client.http.post(
        "/items", json={"name": "x"},
        headers=[("X-Org", org), ("Idempotency-Key", key)])
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert client.executions == 0


async def test_key_sent_twice_is_400(client: Client, org: str):
    response = await client.http.post(
        "/items", json={"name": "x"},
        headers=[("X-Org", org), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert response.status_code == 400
    assert response.json()["details"]["reason"] == "repeated"


@pytest.mark.smoke
async def test_a_4xx_answer_is_stored_and_replayed_and_its_writes_rolled_back(
        client: Client, org: str):
    key = new_key()
    first = await client.post("/items", org, key, {"name": "forbidden", "fail": "rule"})
    assert first.status_code == 422
    assert first.json()["code"] == "rule_violation"
    again = await client.post("/items", org, key, {"name": "forbidden", "fail": "rule"})
    assert again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert client.executions == 1
    assert await client.items(org) == [], "the route's write was rolled back"
    assert [(r["state"], r["response_status"]) for r in await client.keys(org)] == [
        ("completed", 422)]


async def test_a_key_of_another_tenant_does_not_collide(client: Client, org: str):
    key = new_key()
    other_org = org + "-other"
    mine = await client.post("/items", org, key, {"name": "mine"})
    theirs = await client.post("/items", other_org, key, {"name": "theirs"})
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["name"] == "theirs"
    assert await client.items(org) == ["mine"]
    assert await client.items(other_org) == ["theirs"]


async def test_in_flight_key_is_409_with_retry_after(client: Client, org: str):
    key = new_key()
    slow = asyncio.create_task(client.post("/items", org, key, {"name": "s", "delay_s": 1.0}))
    while not await client.keys(org):
        await asyncio.sleep(0.01)
    busy = await client.post("/items", org, key, {"name": "s", "delay_s": 1.0})
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_key_in_flight"
    assert busy.headers["retry-after"] == "1"
    assert (await slow).status_code == 201
    replay = await client.post("/items", org, key, {"name": "s", "delay_s": 1.0})
    assert replay.headers["idempotent-replayed"] == "true"
    assert client.executions == 1


@pytest.mark.parametrize("fail", ["transient", "bug", "stream"])
async def test_failures_a_retry_can_fix_release_the_key(client: Client, org: str, fail: str):
    key = new_key()
    first = await client.post("/items", org, key, {"name": "n", "fail": fail})
    assert first.status_code in {409, 500}
    assert await client.keys(org) == [], "no key left behind"
    assert await client.items(org) == [], "the write was rolled back"
    retried = await client.post("/items", org, key, {"name": "n"})
    assert retried.status_code == 201
    assert await client.items(org) == ["n"]


async def test_a_rolled_back_write_leaves_no_completed_key(client: Client, org: str):
    """The request outlives its lease and another takes the key over: its COMMIT of the
    response fails, so its write is rolled back with it."""
    key = new_key()
    lost = await client.post("/items", org, key, {"name": "n", "fail": "steal"})
    assert lost.status_code == 409
    assert lost.json()["details"]["reason"] == "lease_expired"
    assert await client.items(org) == []
    assert [r["state"] for r in await client.keys(org)] == ["in_flight"]


async def test_a_crashed_requests_lease_expires_and_the_key_can_be_retried(
        client: Client, org: str):
    from pgkeel.idempotency import IdempotencyStore, fingerprint

    key = new_key()
    body = b'{"name":"n"}'
    store = IdempotencyStore(client.db, lease_s=3600)
    # A request claimed the key, then its process died before COMMIT.
    claim = await store.claim(org, "POST /items", key,
                              fingerprint("POST", "POST /items", body, path_params={},
                                          caller="tester"))
    busy = await client.http.post("/items", content=body, headers={
        "X-Org": org, "Idempotency-Key": key, "Content-Type": "application/json"})
    assert busy.status_code == 409
    await client.db.execute("UPDATE idempotency.idempotency_keys SET locked_until = now() "
                            "WHERE organization_id = %s", (org,))
    retried = await client.http.post("/items", content=body, headers={
        "X-Org": org, "Idempotency-Key": key, "Content-Type": "application/json"})
    assert retried.status_code == 201, retried.text
    assert retried.json()["attempts"] == 2
    assert await client.items(org) == ["n"]
    # The dead request's token no longer completes anything.
    from pgkeel.idempotency import StoredResponse
    assert not isinstance(claim, StoredResponse)
    assert await store.save(claim, StoredResponse(500, [], b"late")) is False
    replay = await client.post("/items", org, key, {"name": "n"})
    assert replay.json() == retried.json()


async def test_an_expired_key_starts_a_new_request(client: Client, org: str):
    key = new_key()
    assert (await client.post("/items", org, key, {"name": "old"})).status_code == 201
    await client.db.execute("UPDATE idempotency.idempotency_keys SET expires_at = now() "
                            "WHERE organization_id = %s", (org,))
    fresh = await client.post("/items", org, key, {"name": "new"})
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    assert await client.items(org) == ["old", "new"]


async def test_usage_errors(client: Client, org: str):
    wrong = await client.post("/wrong-route-class", org, new_key(), {})
    assert wrong.status_code == 500
    untenanted = await client.http.post("/untenanted", headers={"Idempotency-Key": "k"})
    assert untenanted.status_code == 500
    assert (await client.http.post("/untenanted")).status_code == 200, "no key: no tenant"
    assert (await client.http.get("/plain")).json() == {"plain": True}


async def test_openapi_documents_the_header_and_errors(client: Client):
    spec = (await client.http.get("/openapi.json")).json()
    operation = spec["paths"]["/required"]["post"]
    [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header" and header["required"] is True
    assert {"400", "409", "422"} <= set(operation["responses"])
    optional = spec["paths"]["/items"]["post"]
    assert [p["required"] for p in optional["parameters"]
            if p["name"] == "Idempotency-Key"] == [False]
    assert "parameters" not in spec["paths"]["/plain"]["get"]
