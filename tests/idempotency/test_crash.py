"""A server killed with SIGKILL in the middle of an idempotent request: nothing it did is
committed, and once its lease has run out the retry on a new server runs the request."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from psycopg import sql

from tests.conftest import LiveServer
from tests.idempotency.conftest import new_key

APP = "tests.idempotency.app_for_crash:app"


def serve(env: dict[str, str]) -> LiveServer:
    server = LiveServer(env, app=APP, ready_path="/plain")
    server.wait_ready()
    return server


@pytest.mark.timeout(180)
async def test_a_request_killed_mid_flight_runs_again_after_its_lease(
        pgkeel_database_url: str, pgkeel_schema: str, sync_conn, org: str):
    env = {"DATABASE_URL": pgkeel_database_url, "REDIS_URL": "memory://",
           "ITEMS_SCHEMA": pgkeel_schema, "IDEMPOTENCY_LOCK_LEASE_S": "2"}
    key = new_key()
    headers = {"X-Org": org, "Idempotency-Key": key}
    body = {"name": "n", "delay_s": 120}  # writes, then hangs (first attempt only)

    def key_state() -> list[tuple[str, int]]:
        return sync_conn.execute(
            "SELECT state, attempts FROM idempotency.idempotency_keys "
            "WHERE organization_id = %s", (org,)).fetchall()

    def items() -> list[tuple[str]]:
        return sync_conn.execute(sql.SQL("SELECT name FROM {} WHERE org = %s").format(
            sql.Identifier(pgkeel_schema, "items")), (org,)).fetchall()

    first = serve(env)
    try:
        async with httpx.AsyncClient(base_url=first.base_url, timeout=120) as http:
            hanging = asyncio.create_task(http.post("/items", json=body, headers=headers))
            while not key_state():
                await asyncio.sleep(0.05)
            first.stop(kill=True)
            with pytest.raises(httpx.HTTPError):
                await hanging
    finally:
        if first.process.poll() is None:
            first.stop(kill=True)
    assert key_state() == [("in_flight", 1)]
    assert items() == [], "nothing the killed request did was committed"

    second = serve(env)
    try:
        async with httpx.AsyncClient(base_url=second.base_url, timeout=60) as http:
            deadline = time.monotonic() + 60
            while True:
                retry = await http.post("/items", json=body, headers=headers)
                if retry.status_code != 409:
                    break
                assert retry.json()["code"] == "idempotency_key_in_flight"
                assert time.monotonic() < deadline, "the lease never ran out"
                await asyncio.sleep(0.2)
            assert retry.status_code == 201, retry.text
            assert retry.json()["attempts"] == 2
            replay = await http.post("/items", json=body, headers=headers)
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.content == retry.content
    finally:
        second.stop()
    assert items() == [("n",)]
    assert key_state() == [("completed", 2)]
