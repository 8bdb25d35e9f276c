"""Redis is killed (SIGKILL) under load, a cached user is changed while it is down, and
Redis comes back -- with its old data, as a persisting Redis does after a crash.

No request fails at any point, and no read serves the stale cached user: the invalidation
that could not be delivered during the outage is delivered before the cache reads from Redis
again.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
from redis.asyncio import Redis

from tests.conftest import LiveServer
from tests.faults.conftest import FaultStack, check_ledger_against_database, login, record_recovery
from tests.faults.load import Load

_BREAKER = re.compile(r"^pgkeel_cache_breaker_state(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


async def breaker_state(client: httpx.AsyncClient) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200
    states = [float(v) for v in _BREAKER.findall(response.text)]
    assert states, "the breaker gauge is exported"
    return max(states)


async def cached_keys(stack: FaultStack, user_id: str) -> list[bytes]:
    redis = Redis.from_url(stack.valkey.url)
    try:
        return [key async for key in redis.scan_iter(match=f"*{user_id}*")]
    finally:
        await redis.aclose()


async def test_redis_killed_and_restarted_under_load(fault_stack: FaultStack,
                                                     service: LiveServer):
    token = await asyncio.to_thread(login, service.base_url)
    auth = {"Authorization": f"Bearer {token}"}
    async with (Load(service.base_url, token, clients=16, tag="redis") as load,
                httpx.AsyncClient(base_url=service.base_url, headers=auth,
                                  timeout=15) as client):
        await load.wait_for(30)
        # A user read twice: cached in Redis (and written to its append-only file).
        created = (await client.post("/v1/users", json={
            "email": "redis-stale@faults.example", "displayName": "before"})).json()
        path = f"/v1/users/{created['id']}"
        for _ in range(2):
            assert (await client.get(path)).json()["displayName"] == "before"
        assert await cached_keys(fault_stack, created["id"]), "the user is cached in Redis"

        killed = time.monotonic()
        await asyncio.to_thread(fault_stack.valkey.kill)
        await load.wait_for(30, since=killed)
        changed = await client.patch(path, json={"displayName": "after",
                                                 "version": created["version"]})
        assert changed.status_code == 200, changed.text
        assert (await client.get(path)).json()["displayName"] == "after"

        await asyncio.to_thread(fault_stack.valkey.start)
        back = time.monotonic()
        reads = []
        deadline = back + 30
        while await breaker_state(client) != 0:
            reads.append((await client.get(path)).json()["displayName"])
            assert time.monotonic() < deadline, "the cache never went back to Redis"
            await asyncio.sleep(0.05)
        recovered = time.monotonic()
        for _ in range(5):
            reads.append((await client.get(path)).json()["displayName"])
        await load.wait_for(30, since=recovered)
        await load.stop()
        await load.settle()

    assert set(reads) == {"after"}, "a stale read after Redis came back"
    failed = [c for c in load.calls if c.status is None or c.status >= 400]
    assert not failed, [(c.status, c.error, c.body) for c in failed][:5]
    check_ledger_against_database(fault_stack, load.creates.values())
    record_recovery("redis killed (SIGKILL), restarted", back - killed, recovered - back,
                    len(load.calls), load.statuses())
