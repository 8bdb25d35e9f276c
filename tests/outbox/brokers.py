"""What the broker sink tests share: events to publish, a port nothing listens on, and a check
that a broker answers (the tests skip, saying why, where it does not)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import uuid
from typing import Any

import pytest

from pgkeel.embedded._process import free_port
from pgkeel.outbox.sink import OutboxMessage

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def message(i: int, *, key: str | None = None, event_type: str = "user.created",
            event_id: uuid.UUID | None = None) -> OutboxMessage:
    return OutboxMessage(
        id=event_id or uuid.uuid4(), event_type=event_type, aggregate_type="user",
        aggregate_id=f"u-{i}", payload={"i": i, "name": f"user {i}"},
        headers={"traceparent": f"00-{i:032x}-{i:016x}-01"}, partition_key=key,
        org_id="org-1", created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), attempts=0)


def closed_port_url(scheme: str, credentials: str = "") -> str:
    """A URL on a 127.0.0.1 port with no listener (connections are refused)."""
    return f"{scheme}://{credentials}127.0.0.1:{free_port()}"


def require_broker(host_port: str, name: str) -> None:
    """Skip the test, with the reason, when nothing accepts connections at `host_port`."""
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return
    except OSError as exc:
        pytest.skip(f"{name} does not answer on {host_port} ({exc}); start it to run this test")


def host_port(url: str) -> str:
    rest = url.split("://", 1)[1].rsplit("@", 1)[-1]
    return rest.split("/", 1)[0]


async def eventually(check: object, timeout_s: float = 10.0) -> None:
    """Wait until the async callable `check` returns True."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        if await check():  # type: ignore[operator]
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def order_events(count: int, keys: int) -> list[Any]:
    """`count` events over `keys` orders: order i's events carry n = 0, 1, 2, ... in order."""
    from pgkeel.outbox import OutboxEvent

    return [OutboxEvent("order.updated", "order", f"o{i % keys}", payload={"n": i // keys})
            for i in range(count)]


async def add_in_transactions(db: Any, events: list[Any]) -> list[uuid.UUID]:
    """Half the events with add_many in one transaction, the rest one by one in another, and
    one more in a transaction that rolls back (it must never reach a broker)."""
    from pgkeel.outbox import OutboxEvent, add, add_many

    half = len(events) // 2
    async with db.transaction() as tx:
        ids = await add_many(tx, events[:half])
    async with db.transaction() as tx:
        ids += [await add(tx, event) for event in events[half:]]
    with contextlib.suppress(RuntimeError):
        async with db.transaction() as tx:
            await add(tx, OutboxEvent("order.updated", "order", "rolled-back"))
            raise RuntimeError("roll back")
    return ids


def assert_key_order(received: list[tuple[str, int]]) -> None:
    """(aggregate id, n) in delivery order: each aggregate's n must be 0, 1, 2, ..."""
    by_key: dict[str, list[int]] = {}
    for key, n in received:
        by_key.setdefault(key, []).append(n)
    for key, ns in by_key.items():
        assert ns == list(range(len(ns))), f"{key} delivered out of order: {ns}"
