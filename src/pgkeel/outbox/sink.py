"""What the relay hands to a broker, and the protocol every sink implements.

A sink publishes a batch and answers, per message, whether the broker acknowledged it. The
relay marks the acknowledged ones published and schedules a retry (or the dead letter) for the
rest, so a sink never needs to retry on its own and never raises for one bad message.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["OutboxMessage", "PublishResult", "Sink"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One claimed event, as a sink sees it.

    `id` is the event's stable identity: sinks pass it to the broker as the message id so that
    brokers which deduplicate (JetStream's `Nats-Msg-Id`) and consumers with an inbox can drop a
    redelivery.
    """

    id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    partition_key: str | None = None
    org_id: str | None = None
    created_at: datetime | None = None
    attempts: int = 0
    """Which attempt this publish is (1 the first time; more after failures or a relay that
    died before marking it)."""


PublishResult = BaseException | None
"""None when the broker acknowledged the message; otherwise the error it failed with."""


@runtime_checkable
class Sink(Protocol):
    """A destination for outbox events (Redis Streams, NATS JetStream, RabbitMQ, in-process)."""

    name: str

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        """Publish `messages`; return one result per message, in the same order.

        Raising instead (a connection that is down) fails the whole batch; the relay then
        retries every message in it with backoff.
        """
        ...

    async def close(self) -> None:
        """Release the sink's connections."""
        ...
