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

import orjson

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


_ID = OutboxMessage.__dict__["id"]
_PAYLOAD = OutboxMessage.__dict__["payload"]


class ClaimedMessage(OutboxMessage):
    """An `OutboxMessage` as the relay claims it: the id and payload arrive as text, and are
    turned into a `UUID` and a decoded value only when read (the Redis sink writes the text
    as it is). It also carries what the relay needs to order and mark it.

    A sink sees an ordinary `OutboxMessage`; the relay builds these with `claimed`.
    """

    __slots__ = ("id_text", "max_attempts", "payload_json", "rank")
    id_text: str
    payload_json: str
    rank: int
    """The event's position among its key's events in the batch (1 for unordered events)."""
    max_attempts: int

    @property
    def id(self) -> uuid.UUID:
        try:
            return _ID.__get__(self, OutboxMessage)  # type: ignore[no-any-return]
        except AttributeError:
            value = uuid.UUID(self.id_text)
            _ID.__set__(self, value)
            return value

    @id.setter
    def id(self, value: uuid.UUID) -> None:  # the dataclass's __init__ (dataclasses.replace)
        _ID.__set__(self, value)

    @property
    def payload(self) -> Mapping[str, Any]:
        try:
            return _PAYLOAD.__get__(self, OutboxMessage)  # type: ignore[no-any-return]
        except AttributeError:
            value = orjson.loads(self.payload_json)
            _PAYLOAD.__set__(self, value)
            return value  # type: ignore[no-any-return]

    @payload.setter
    def payload(self, value: Mapping[str, Any]) -> None:
        _PAYLOAD.__set__(self, value)


_SET_ID_TEXT, _SET_PAYLOAD_JSON, _SET_RANK, _SET_MAX_ATTEMPTS = (
    getattr(ClaimedMessage, name).__set__
    for name in ("id_text", "payload_json", "rank", "max_attempts"))
(_SET_EVENT_TYPE, _SET_AGGREGATE_TYPE, _SET_AGGREGATE_ID, _SET_HEADERS, _SET_PARTITION_KEY,
 _SET_ORG_ID, _SET_CREATED_AT, _SET_ATTEMPTS) = (
    OutboxMessage.__dict__[name].__set__
    for name in ("event_type", "aggregate_type", "aggregate_id", "headers", "partition_key",
                 "org_id", "created_at", "attempts"))


def claimed(id_text: str, payload_json: str, *, rank: int, max_attempts: int,
            event_type: str, aggregate_type: str, aggregate_id: str,
            headers: Mapping[str, str], partition_key: str | None, org_id: str | None,
            created_at: datetime | None, attempts: int) -> ClaimedMessage:
    """A `ClaimedMessage`, its fields set directly (this runs per claimed event)."""
    message = object.__new__(ClaimedMessage)
    _SET_ID_TEXT(message, id_text)
    _SET_PAYLOAD_JSON(message, payload_json)
    _SET_RANK(message, rank)
    _SET_MAX_ATTEMPTS(message, max_attempts)
    _SET_EVENT_TYPE(message, event_type)
    _SET_AGGREGATE_TYPE(message, aggregate_type)
    _SET_AGGREGATE_ID(message, aggregate_id)
    _SET_HEADERS(message, headers)
    _SET_PARTITION_KEY(message, partition_key)
    _SET_ORG_ID(message, org_id)
    _SET_CREATED_AT(message, created_at)
    _SET_ATTEMPTS(message, attempts)
    return message


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
