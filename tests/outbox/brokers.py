"""What the broker sink tests share: events to publish, a port nothing listens on, and a check
that a broker answers (the tests skip, saying why, where it does not)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid

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
