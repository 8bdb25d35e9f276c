"""200 concurrent slow requests on a pool of 10, and statements that run past their timeout.

Every request updates one user whose row another session holds locked, so each one that gets
a connection keeps it while it waits. The ten that hold connections answer 504 when their
statement times out; the rest queue for a connection and answer 503 (`pool_exhausted`, with
Retry-After) when the pool timeout ends. Nothing else: no 500, no hang, no partial write. Once
the lock goes the pool serves again at once, and no connection is left inside a transaction.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg

from tests.conftest import LiveServer
from tests.faults.conftest import POOL_SIZE, FaultStack, login, record_recovery
from tests.faults.load import REQUEST_TIMEOUT_S

REQUESTS = 200
IDLE_IN_TRANSACTION = (
    "SELECT pid, state_change FROM pg_stat_activity WHERE datname = 'pgkeel'"
    " AND state LIKE 'idle in transaction%%'")


async def _left_in_transaction(stack: FaultStack) -> list[tuple[object, ...]]:
    """Sessions idle inside one unchanged transaction for two seconds. One look is not enough:
    the service's own background writers (the audit appender, the outbox relay) run
    transactions of several statements, idle in transaction for a moment between them; a
    connection handed back to the pool mid-transaction stays so, its state unchanged."""
    first = set(stack.query(IDLE_IN_TRANSACTION))
    await asyncio.sleep(2)
    return sorted(first & set(stack.query(IDLE_IN_TRANSACTION)), key=str)


async def test_two_hundred_slow_requests_on_a_pool_of_ten(fault_stack: FaultStack,
                                                          service: LiveServer):
    token = await asyncio.to_thread(login, service.base_url)
    auth = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=REQUESTS + 10)
    async with httpx.AsyncClient(base_url=service.base_url, headers=auth, limits=limits,
                                 timeout=REQUEST_TIMEOUT_S) as client:
        created = (await client.post("/v1/users", json={
            "email": "pool-locked@faults.example", "displayName": "locked"})).json()
        path = f"/v1/users/{created['id']}"

        async def update(i: int) -> tuple[int | None, str | None, str | None]:
            try:
                response = await client.patch(path, json={"displayName": f"p{i}",
                                                          "version": created["version"]})
            except httpx.HTTPError as exc:
                return None, type(exc).__name__, None
            return (response.status_code, response.json().get("code"),
                    response.headers.get("retry-after"))

        with psycopg.connect(fault_stack.admin_url) as locker:
            locker.execute("SELECT FROM identity.users WHERE id = %s FOR UPDATE",
                           (created["id"],))
            started = time.monotonic()
            answers = await asyncio.gather(*(update(i) for i in range(REQUESTS)))
            ended = time.monotonic()
            locker.rollback()
        released = time.monotonic()
        after = await asyncio.gather(*(client.get(path) for _ in range(2 * POOL_SIZE)))
        recovered = time.monotonic()
        final = await client.patch(path, json={"displayName": "free",
                                               "version": created["version"]})

    counts: dict[str, int] = {}
    for status, code, _ in answers:
        counts[f"{status} {code}"] = counts.get(f"{status} {code}", 0) + 1
    assert set(counts) <= {"503 pool_exhausted", "504 query_timeout"}, counts
    assert counts.get("503 pool_exhausted", 0) > 0, counts
    assert counts.get("504 query_timeout", 0) >= POOL_SIZE // 2, counts
    assert all(retry_after for status, _, retry_after in answers if status == 503)
    assert [r.status_code for r in after] == [200] * len(after)
    assert {r.json()["displayName"] for r in after} == {"locked"}, "no partial write"
    assert final.status_code == 200 and final.json()["version"] == created["version"] + 1
    stuck = await _left_in_transaction(fault_stack)
    assert stuck == [], "a connection went back to the pool inside a transaction"
    record_recovery(f"pool exhaustion ({REQUESTS} on {POOL_SIZE})", ended - started,
                    recovered - released, REQUESTS + len(after) + 1,
                    {k.split()[0]: v for k, v in counts.items()} | {"200": len(after) + 1})
