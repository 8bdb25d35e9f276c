"""SIGTERM to the service under load: a graceful shutdown.

A request still running when the signal arrives (an update waiting on a row lock) finishes
with its answer; new connections are refused; no request gets a 500 or hangs. Every create
that committed has its audit record and its outbox event, and every one of those events is
relayed (by the instance that carries on). Creates that were cut off are retried, with their
keys, on the other instance: each ends with exactly one user.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import psycopg
from redis.asyncio import Redis

from pgkeel.outbox.redis_stream import decode_entry
from tests.conftest import LiveServer
from tests.faults.conftest import (
    SERVICE_ENV,
    FaultStack,
    check_ledger_against_database,
    login,
    record_recovery,
)
from tests.faults.load import REQUEST_TIMEOUT_S, Load


async def wait_for(check, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def refused(base_url: str) -> bool:
    """A new connection is turned away (connection refused or reset, or a clean 503)."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
            return (await client.get("/health")).status_code == 503
    except httpx.TransportError:
        return True


async def relayed_ids(stack: FaultStack) -> set[str]:
    redis = Redis.from_url(stack.valkey.url)
    try:
        entries = await redis.xrange(SERVICE_ENV["OUTBOX_STREAM"])
    finally:
        await redis.aclose()
    return {str(decode_entry(fields).id) for _, fields in entries}


async def test_sigterm_under_load(fault_stack: FaultStack, service: LiveServer):
    leaving = await asyncio.to_thread(fault_stack.service)
    token = await asyncio.to_thread(login, leaving.base_url)
    auth = {"Authorization": f"Bearer {token}"}
    async with (Load(leaving.base_url, token, clients=16, tag="sigterm") as load,
                httpx.AsyncClient(base_url=leaving.base_url, headers=auth,
                                  timeout=REQUEST_TIMEOUT_S) as client):
        created = (await client.post("/v1/users", json={
            "email": "sigterm-slow@faults.example", "displayName": "slow"})).json()
        await load.wait_for(30)
        with psycopg.connect(fault_stack.admin_url) as locker:
            locker.execute("SELECT FROM identity.users WHERE id = %s FOR UPDATE",
                           (created["id"],))
            slow = asyncio.create_task(client.patch(
                f"/v1/users/{created['id']}", json={"displayName": "finished", "version": 1}))

            async def waiting() -> bool:
                rows = await asyncio.to_thread(
                    fault_stack.query, "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = 'pgkeel'")
                return rows == [(1,)]

            await wait_for(waiting, "the update to wait on the lock")
            termed = time.monotonic()
            leaving.process.send_signal(signal.SIGTERM)
            await wait_for(lambda: refused(leaving.base_url), "new connections to be refused")
            locker.rollback()
        finished = await slow
        await asyncio.to_thread(leaving.process.wait, 30)
        exited = time.monotonic()
        await load.stop()
        await load.switch(service.base_url)
        await load.settle()
        settled = time.monotonic()

    output = leaving.stop()
    assert finished.status_code == 200, finished.text
    assert finished.json()["displayName"] == "finished", "the in-flight request finished"
    # uvicorn re-raises the signal once it has shut down: killed by SIGTERM, after a clean exit.
    assert leaving.process.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert "Application shutdown complete." in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    assert not load.server_errors(), [(c.status, c.body) for c in load.server_errors()][:5]
    assert not load.hangs()
    check_ledger_against_database(fault_stack, load.creates.values())

    user_ids = [next(iter(c.user_ids)) for c in load.creates.values()]
    events = {}

    async def all_published() -> bool:
        rows = await asyncio.to_thread(
            fault_stack.query, "SELECT id::text, status FROM outbox.events "
            "WHERE event_type = 'user.created' AND aggregate_id = ANY(%s)", (user_ids,))
        events.update(rows)
        return len(rows) == len(user_ids) and {s for _, s in rows} == {"published"}

    await wait_for(all_published, "every outbox event to be relayed")
    assert set(events) <= await relayed_ids(fault_stack), "published but not in the stream"
    record_recovery("SIGTERM under load (drain, hand over)", exited - termed,
                    settled - exited, len(load.calls), load.statuses())
