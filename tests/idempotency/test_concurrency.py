"""Fifty concurrent requests with one key: one execution, one row, everyone else gets the
stored replay or a 409."""

from __future__ import annotations

import asyncio

import pytest

from tests.idempotency.conftest import Client, new_key


@pytest.mark.smoke
@pytest.mark.parametrize("delay_s", [0.0, 0.2])
async def test_fifty_concurrent_requests_with_one_key_run_once(
        client: Client, org: str, delay_s: float):
    key = new_key()
    body = {"name": "once", "delay_s": delay_s}
    answers = await asyncio.gather(*(client.post("/items", org, key, body)
                                     for _ in range(50)))
    firsts = [a for a in answers
              if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    replays = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    busy = [a for a in answers if a.status_code == 409]
    assert len(firsts) == 1, [a.status_code for a in answers]
    assert len(firsts) + len(replays) + len(busy) == 50
    for replay in replays:
        assert replay.status_code == 201
        assert replay.content == firsts[0].content
    for answer in busy:
        assert answer.json()["code"] == "idempotency_key_in_flight"
        assert answer.headers["retry-after"] == "1"
    assert client.executions == 1
    assert await client.items(org) == ["once"]
    assert len(await client.keys(org)) == 1
    final = await client.post("/items", org, key, body)
    assert final.headers["idempotent-replayed"] == "true"
    assert final.content == firsts[0].content


async def test_concurrent_requests_with_distinct_keys_all_run(client: Client, org: str):
    answers = await asyncio.gather(*(client.post("/items", org, new_key(), {"name": f"n{i}"})
                                     for i in range(20)))
    assert [a.status_code for a in answers] == [201] * 20
    assert sorted(await client.items(org)) == sorted(f"n{i}" for i in range(20))
    assert len(await client.keys(org)) == 20
